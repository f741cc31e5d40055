"""Who paid for each default: a close-out's waterfall, from the engine's and the fund's events.

A default's loss is paid, in order, by the defaulter's initial margin in the trade, its margin
account in the engine, its own contribution to the default fund, and the surviving members'
contributions pro rata; what is left is the survivor's claim on the defaulter. The engine's
``DefaultDeclared`` event carries the first two tranches and the fund's total; the fund's
``DefaultClaimed`` event, in the same transaction, splits the fund's part; the fund's books
(:class:`~dfmi_py.api.fund.FundBooks`) give what each member lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dfmi_py.api.derivatives import Derivatives
from dfmi_py.api.fund import DefaultFund, Draw


@dataclass(frozen=True)
class Waterfall:
    """How one default's loss was paid.

    Attributes:
        loss: What the defaulter owed the survivor at the close-out.
        from_im: Paid from the defaulter's initial margin in the trade.
        from_margin: Paid from the defaulter's margin account in the engine.
        from_defaulter_contribution: Paid from the defaulter's own contribution to the fund.
        from_survivors: Paid from the other members' contributions, pro rata.
        unpaid: Left as the survivor's claim on the defaulter.
        member_losses: What each member's fund balance lost in this default (the defaulter's
            included), within one unit of rounding per member.
        market: The market (underlying) whose engine closed the trade out, when known (its
            trade ids are its engine's).
    """

    trade_id: int
    block: int
    tx_hash: str
    defaulter: str
    survivor: str
    loss: int
    from_im: int
    from_margin: int
    from_defaulter_contribution: int
    from_survivors: int
    unpaid: int
    member_losses: dict[str, int] = field(default_factory=dict)
    market: str = ""

    @property
    def from_fund(self) -> int:
        """What the default fund paid."""
        return self.from_defaulter_contribution + self.from_survivors

    def tranches(self) -> dict[str, int]:
        """Each tranche's payment, in the order they are used; they add up to :attr:`loss`."""
        return {
            "initial margin": self.from_im,
            "margin account": self.from_margin,
            "defaulter's contribution": self.from_defaulter_contribution,
            "survivors' contributions": self.from_survivors,
            "unpaid claim": self.unpaid,
        }

    def record(self) -> dict[str, Any]:
        """One flat row (``pandas.DataFrame([w.record() for w in waterfalls])`` ready)."""
        row: dict[str, Any] = {
            "market": self.market,
            "trade_id": self.trade_id,
            "block": self.block,
            "tx_hash": self.tx_hash,
            "defaulter": self.defaulter,
            "survivor": self.survivor,
            "loss": self.loss,
        }
        row.update({name.replace("'", "").replace(" ", "_"): amount for name, amount in self.tranches().items()})
        return row


def waterfalls(derivatives: Derivatives, fund: DefaultFund | None, from_block: int = 0) -> list[Waterfall]:
    """Every default close-out of ``derivatives`` since ``from_block``, with its waterfall.

    ``fund`` is the engine's default fund (``None`` when it has none: the fund's tranches are
    then zero). The fund's books are replayed from ``from_block``, so pass its deployment block
    (or 0) for exact per-member losses.
    """
    draws: dict[tuple[str, str, str], list[Draw]] = {}
    if fund is not None:
        for draw in fund.draws(from_block):
            if draw.engine == derivatives.address:
                draws.setdefault((draw.tx_hash, draw.defaulter, draw.survivor), []).append(draw)
    result = []
    for log in derivatives.contract.events.DefaultDeclared().get_logs(from_block=from_block):
        args = log["args"]
        tx_hash = "0x" + bytes(log["transactionHash"]).hex()
        defaulter, survivor = str(args["defaulter"]), str(args["survivor"])
        matching = draws.get((tx_hash, defaulter, survivor), [])
        # The engine claims from the fund whatever IM and margin account left unpaid.
        claimed = int(args["loss"]) - int(args["paidFromIm"]) - int(args["paidFromMargin"])
        match = matching.pop(0) if claimed > 0 and matching else None
        result.append(
            Waterfall(
                trade_id=int(args["tradeId"]),
                block=int(log["blockNumber"]),
                tx_hash=tx_hash,
                defaulter=defaulter,
                survivor=survivor,
                loss=int(args["loss"]),
                from_im=int(args["paidFromIm"]),
                from_margin=int(args["paidFromMargin"]),
                from_defaulter_contribution=match.from_defaulter if match else 0,
                from_survivors=match.from_survivors if match else 0,
                unpaid=int(args["unpaidClaim"]),
                member_losses=dict(match.losses) if match else {},
            )
        )
    return result
