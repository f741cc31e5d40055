"""Who paid for each default: a close-out's waterfall, from the engine's and the fund's events.

A default's loss is paid, in order, by the defaulter's initial margin in the trade, its margin
account in the engine, its own contribution to the default fund, and the surviving members'
contributions pro rata; what is left is the survivor's claim on the defaulter. The engine's
``DefaultDeclared`` event carries the first two tranches and the fund's total; the fund's
``DefaultClaimed`` event, in the same transaction, splits the fund's part; the fund's books
(:class:`~dfmi_py.api.fund.FundBooks`) give what each member lost. :func:`match_draws` joins
the two, pure; :func:`waterfalls` reads them from the chain, and the books
(:mod:`dfmi_py.books.views`) from their ledger.
"""

from __future__ import annotations

from collections.abc import Iterable
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


@dataclass(frozen=True)
class Declared:
    """One ``DefaultDeclared`` event of an engine, as :func:`match_draws` takes it.

    Attributes:
        engine: The engine's address (checksummed): a draw of the fund names the engine it paid.
        tx_hashes: The transaction that declared the default, then those that retried its claim
            on the fund (``FundClaimPaid``), in chain order: the fund's draw for it is in one of
            them.
        from_fund: What the fund paid for it, in total (``paidFromFund`` plus retried claims).
        unpaid: What stays the survivor's claim after the last of them.
    """

    engine: str
    trade_id: int
    block: int
    tx_hashes: tuple[str, ...]
    defaulter: str
    survivor: str
    loss: int
    from_im: int
    from_margin: int
    from_fund: int
    unpaid: int
    market: str = ""


def match_draws(defaults: Iterable[Declared], draws: Iterable[Draw]) -> list[Waterfall]:
    """Each default's waterfall: the engine's tranches and the fund's draw that paid the rest.

    Pure: the defaults come from the engines' ``DefaultDeclared`` (and ``FundClaimPaid``)
    events, the draws from the fund's books (:meth:`dfmi_py.api.fund.FundBooks.claim`, which
    fills in each member's loss). A draw belongs to the default whose engine, defaulter and
    survivor it names, in one of the default's transactions (the close-out's own, or a retry's);
    each draw pays one default.
    """
    pool: dict[tuple[str, str, str, str], list[Draw]] = {}
    for draw in draws:
        pool.setdefault((draw.tx_hash, draw.engine, draw.defaulter, draw.survivor), []).append(draw)
    result = []
    for declared in defaults:
        found: list[Draw] = []
        for tx_hash in declared.tx_hashes if declared.from_fund > 0 else ():
            matching = pool.get((tx_hash, declared.engine, declared.defaulter, declared.survivor))
            if matching:
                found.append(matching.pop(0))
        losses: dict[str, int] = {}
        for draw in found:
            for member, loss in draw.losses.items():
                losses[member] = losses.get(member, 0) + loss
        result.append(
            Waterfall(
                trade_id=declared.trade_id,
                block=declared.block,
                tx_hash=declared.tx_hashes[0],
                defaulter=declared.defaulter,
                survivor=declared.survivor,
                loss=declared.loss,
                from_im=declared.from_im,
                from_margin=declared.from_margin,
                from_defaulter_contribution=sum(d.from_defaulter for d in found),
                from_survivors=sum(d.from_survivors for d in found),
                unpaid=declared.unpaid,
                member_losses=losses,
                market=declared.market,
            )
        )
    return result


def waterfalls(derivatives: Derivatives, fund: DefaultFund | None, from_block: int = 0) -> list[Waterfall]:
    """Every default close-out of ``derivatives`` since ``from_block``, with its waterfall.

    ``fund`` is the engine's default fund (``None`` when it has none: the fund's tranches are
    then zero). The fund's books are replayed from ``from_block``, so pass its deployment block
    (or 0) for exact per-member losses.
    """
    draws = [d for d in fund.draws(from_block) if d.engine == derivatives.address] if fund is not None else []
    declared = []
    for log in derivatives.contract.events.DefaultDeclared().get_logs(from_block=from_block):
        args = log["args"]
        declared.append(
            Declared(
                engine=derivatives.address,
                trade_id=int(args["tradeId"]),
                block=int(log["blockNumber"]),
                tx_hashes=("0x" + bytes(log["transactionHash"]).hex(),),
                defaulter=str(args["defaulter"]),
                survivor=str(args["survivor"]),
                loss=int(args["loss"]),
                from_im=int(args["paidFromIm"]),
                from_margin=int(args["paidFromMargin"]),
                # The engine claims from the fund whatever IM and margin account left unpaid.
                from_fund=int(args["loss"]) - int(args["paidFromIm"]) - int(args["paidFromMargin"]),
                unpaid=int(args["unpaidClaim"]),
            )
        )
    return match_draws(declared, draws)
