"""The same trades, prices and default under a central counterparty, and under dFMI's own rules.

Two pure models (no chain access; the inputs are plain data) that the simulation report puts side
by side. Both read one :class:`ModelInputs`: the forwards (:class:`ForwardTrade`), each market's
price path (:class:`PricePath`, the oracle's rounds), the member that defaults and when
(:class:`DefaultEvent`) and the members' default-fund contributions. Money is integers in the cash
token's smallest unit and every value is the engine's: a position of ``q`` units (18 decimals) at
price ``P`` is worth ``q * P // scale`` (:mod:`dfmi_py.risk.forward`).

**Exposure** (both models, one definition). A member's *uncollected variation margin* at time
``t`` is the change in value of its positions since the prices whose margin has been paid, plus
any payment it is owed (minus any it owes) that is overdue. It is measured just before any
payment due at ``t`` (the convention of :mod:`dfmi_py.risk.regimes`): a collection counts only
once its cash has arrived strictly before ``t``. Its absolute value is the member's
uncollateralised exposure: what it stands to lose (when positive) or owes unsecured (when
negative) between margin collections. ``exposure_peak`` is the largest over the path up to and
including the time of default; ``exposure_at_default`` the value at that time.

**dFMI** (:func:`dfmi_model`) replays the engines and the fund as the contracts and the keeper run
them: at each round every open trade settles to market (so exposure resets every round), a payer
who cannot pay opens a margin call whose debt carries to the next rounds, and once the cure
period has passed the keeper declares the default: the defaulter's initial margin in that trade,
then its margin account in that engine, then the default fund (the defaulter's contribution, then
the survivors' pro rata, by the fund's share arithmetic), the rest staying the survivor's claim.
The replay mirrors DerivativeEngine.sol and DefaultFund.sol to the unit (integer arithmetic, their
rounding, their order) so its close-outs equal the chain's ``waterfalls()`` when the chain ran the
same inputs under the stated conditions (see :func:`dfmi_model`).

**CCP** (:func:`ccp_model`) novates every trade: each member holds its positions against the
CCP, netted per underlying. Variation margin is called every ``vm_interval`` and paid
``settlement_lag`` later; initial margin is the project's historical-simulation model
(:func:`dfmi_py.risk.historical.historical_im`) on each member's net position per underlying at the
CCP's margin period of risk ``vm_interval + settlement_lag + closeout``. When the defaulter misses
a payment the CCP declares its default and closes its positions out ``closeout`` later; the
loss is paid by the defaulter's IM, its fund contribution, the CCP's skin in the game, the
survivors' contributions pro rata and assessments up to a cap; what remains is uncovered.

Every assumption of the CCP model is a field of :class:`CcpAssumptions`;
:func:`assumptions_text` states them for the report.
"""

from __future__ import annotations

import statistics
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from dfmi_py.display import duration
from dfmi_py.errors import InputError
from dfmi_py.risk.forward import value_scale
from dfmi_py.risk.fund import proportional_split
from dfmi_py.risk.historical import HistoricalModel, HorizonMethod, Measure, PricePoint, Side, historical_im
from dfmi_py.units import format_units

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped]

__all__ = [
    "CcpAssumptions",
    "CloseOut",
    "Comparison",
    "DefaultEvent",
    "ExposurePoint",
    "ForwardTrade",
    "MemberOutcome",
    "ModelInputs",
    "ModelOutcome",
    "PricePath",
    "Tranche",
    "assumptions_text",
    "ccp_model",
    "compare",
    "dfmi_model",
]

_BPS = 10_000
#: Shares a first contribution mints per unit (``INITIAL_SHARES_PER_UNIT`` in DefaultFund.sol).
_INITIAL_SHARES_PER_UNIT = 10**6
_DAY = 86_400

CCP = "CCP"
DFMI = "dFMI"


# ====================================================================== inputs


@dataclass(frozen=True)
class ForwardTrade:
    """A forward as the engine holds it.

    Attributes:
        trade_id: The engine's id (ids are per market; settlement runs in id order).
        market: The market (underlying) it settles on, a key of :attr:`ModelInputs.paths`.
        buyer: The long party.
        seller: The short party.
        quantity: Underlying units, 18 decimals (> 0).
        contract_price: The agreed price, in the oracle's decimals (> 0).
        buyer_im: The buyer's initial margin posted in the trade, cash units.
        seller_im: The seller's initial margin posted in the trade, cash units.
        opened_at: When it was confirmed (Unix seconds); it settles at every round from then on.
        maturity: Its maturity (Unix seconds), ``None``: after the path.
    """

    trade_id: int
    market: str
    buyer: str
    seller: str
    quantity: int
    contract_price: int
    buyer_im: int
    seller_im: int
    opened_at: int = 0
    maturity: int | None = None

    def __post_init__(self) -> None:
        if self.quantity <= 0 or self.contract_price <= 0:
            raise InputError(
                f"trade {self.market}#{self.trade_id}: quantity and contract price must be > 0, got "
                f"{self.quantity} and {self.contract_price}"
            )
        if self.buyer_im < 0 or self.seller_im < 0:
            raise InputError(f"trade {self.market}#{self.trade_id}: initial margins must be >= 0")
        if self.buyer == self.seller:
            raise InputError(f"trade {self.market}#{self.trade_id}: buyer and seller are both {self.buyer}")


@dataclass(frozen=True)
class PricePath:
    """One market's oracle rounds: times (Unix seconds, ascending) and prices in ``decimals``.

    Attributes:
        decimals: The oracle's decimals.
        rounds: The final rounds in order, ``PricePoint(updatedAt, answer)``.
    """

    decimals: int
    rounds: tuple[PricePoint, ...]

    def __post_init__(self) -> None:
        if not self.rounds:
            raise InputError("a price path needs at least one round")
        for a, b in pairwise(self.rounds):
            if b.timestamp < a.timestamp:
                raise InputError(f"price rounds must be in time order: {b.timestamp} after {a.timestamp}")
        if any(p.price <= 0 for p in self.rounds):
            raise InputError("prices must be > 0")


@dataclass(frozen=True)
class DefaultEvent:
    """Who defaults and when.

    Attributes:
        member: The defaulter.
        at: The time of default: from then on its wallet pays nothing (beyond ``wallet``). Before
            it, it pays every call.
        wallet: Cash its wallet still holds for margin payments from ``at`` on (default none). A
            pull takes the whole shortfall or nothing, as the engine's ``transferFrom`` does.
    """

    member: str
    at: int
    wallet: int = 0

    def __post_init__(self) -> None:
        if self.wallet < 0:
            raise InputError(f"the defaulter's wallet must be >= 0, got {self.wallet}")


@dataclass(frozen=True)
class ModelInputs:
    """Everything both models read.

    Attributes:
        trades: The forwards (any order; ids unique per market).
        paths: Each market's price path.
        default: The defaulter and the time of default.
        contributions: Each member's default-fund contribution (cash units), in the order the
            members joined; members listed here without trades take part in the waterfalls.
        cash_decimals: The cash token's decimals.
        cure_period_seconds: The engines' cure period (dFMI).
        cure_periods: A market's own cure period where it differs from ``cure_period_seconds``.
        round_seconds: The oracle's round interval; ``None``: the median gap between rounds.
        keeper_steps: When the keeper acted (its heads' times), ascending; empty: at every
            round's time. At a step it acts on every market's latest round at or before it.
        im_history: A look-back history per market, before the path, for the IM model (the path
            up to the time of default is appended to it).
        ccp_contributions: The CCP's default fund per member; ``None``: the same as
            ``contributions``.
    """

    trades: tuple[ForwardTrade, ...]
    paths: Mapping[str, PricePath]
    default: DefaultEvent
    contributions: Mapping[str, int]
    cash_decimals: int = 6
    cure_period_seconds: int = 3_600
    cure_periods: Mapping[str, int] = field(default_factory=dict)
    round_seconds: int | None = None
    keeper_steps: tuple[int, ...] = ()
    im_history: Mapping[str, Sequence[PricePoint]] = field(default_factory=dict)
    ccp_contributions: Mapping[str, int] | None = None

    def __post_init__(self) -> None:
        seen: set[tuple[str, int]] = set()
        for t in self.trades:
            if t.market not in self.paths:
                raise InputError(f"trade {t.market}#{t.trade_id}: no price path for market {t.market!r}")
            if (t.market, t.trade_id) in seen:
                raise InputError(f"trade id {t.trade_id} appears twice in market {t.market!r}")
            seen.add((t.market, t.trade_id))
            if self.contributions and (t.buyer not in self.contributions or t.seller not in self.contributions):
                raise InputError(
                    f"trade {t.market}#{t.trade_id}: both parties need a fund contribution "
                    "(the engines trade only between members of their fund)"
                )
        for name, amounts in (("contributions", self.contributions), ("ccp_contributions", self.ccp_contributions)):
            if amounts is not None and any(a < 0 for a in amounts.values()):
                raise InputError(f"{name} must be >= 0")
        if self.cure_period_seconds < 0 or any(c < 0 for c in self.cure_periods.values()):
            raise InputError("cure periods must be >= 0 seconds")
        unknown = set(self.cure_periods) - set(self.paths)
        if unknown:
            raise InputError(f"cure_periods names markets without a price path: {sorted(unknown)}")
        if any(b < a for a, b in pairwise(self.keeper_steps)):
            raise InputError("keeper_steps must be in time order")
        if self.round_seconds is not None and self.round_seconds <= 0:
            raise InputError(f"round_seconds must be > 0, got {self.round_seconds}")
        for path in self.paths.values():
            value_scale(path.decimals, self.cash_decimals)  # raises on impossible decimals

    def cure_period(self, market: str) -> int:
        """``market``'s cure period."""
        return self.cure_periods.get(market, self.cure_period_seconds)

    def members(self) -> list[str]:
        """Every member: contributors in their order, then trade parties not among them."""
        out = list(self.contributions)
        for t in self.trades:
            for party in (t.buyer, t.seller):
                if party not in out:
                    out.append(party)
        if self.default.member not in out:
            out.append(self.default.member)
        return out


@dataclass(frozen=True)
class CcpAssumptions:
    """Every assumption of the CCP model, named, with its default.

    Attributes:
        vm_interval_seconds: Time between variation-margin calls (default daily). The first call
            is at the first round, then every interval; prices are the latest round at the call.
        vm_interval_rounds: Call every this many rounds instead (overrides the seconds).
        settlement_lag_seconds: From a call to its cash arriving (default one day: T+1).
        closeout_seconds: From the declaration of a default to the close-out of the defaulter's
            positions (hedging, auction): 3 days by default, so the margin period of risk is
            1 + 1 + 3 = 5 days, EMIR's minimum for OTC derivatives (RTS 153/2013 art. 26).
        im_confidence: The IM model's confidence (EMIR: 99.5% for OTC derivatives; 99% here, as
            the dFMI side, so that only the margin period differs).
        im_measure: VaR or expected shortfall.
        im_method: Square-root-of-time scaling from one round (works on a short history) or
            overlapping windows of the full margin period (needs a history longer than it).
        im_base_seconds: The base horizon for square-root-of-time scaling; ``None``: one round.
        im_buffer_bps: Anti-procyclicality buffer on the IM (EMIR option a: 2,500); 0 by default,
            as the dFMI side.
        skin_in_the_game_bps: The CCP's own capital at risk, as a share of its default fund
            (illustrative: EMIR sets it at 25% of the CCP's minimum capital, not modelled).
        assessments: Whether the rules let the CCP call survivors for more after the fund.
        assessment_cap_bps: Each survivor's assessment cap, as a share of its contribution.
        closeout_cost_bps: Cost of closing the defaulter's positions out (bid/ask, auction
            discount), on their value at the close-out; 0 by default.
    """

    vm_interval_seconds: int = _DAY
    vm_interval_rounds: int | None = None
    settlement_lag_seconds: int = _DAY
    closeout_seconds: int = 3 * _DAY
    im_confidence: float = 0.99
    im_measure: Measure = Measure.ES
    im_method: HorizonMethod = HorizonMethod.SQRT_TIME
    im_base_seconds: int | None = None
    im_buffer_bps: int = 0
    skin_in_the_game_bps: int = 500
    assessments: bool = True
    assessment_cap_bps: int = 10_000
    closeout_cost_bps: int = 0

    def __post_init__(self) -> None:
        if self.vm_interval_seconds <= 0:
            raise InputError(f"vm_interval_seconds must be > 0, got {self.vm_interval_seconds}")
        if self.vm_interval_rounds is not None and self.vm_interval_rounds <= 0:
            raise InputError(f"vm_interval_rounds must be > 0, got {self.vm_interval_rounds}")
        if self.settlement_lag_seconds < 0 or self.closeout_seconds < 0:
            raise InputError("the settlement lag and the close-out period must be >= 0 seconds")
        if self.im_base_seconds is not None and self.im_base_seconds <= 0:
            raise InputError(f"im_base_seconds must be > 0, got {self.im_base_seconds}")
        for name in ("im_buffer_bps", "skin_in_the_game_bps", "assessment_cap_bps", "closeout_cost_bps"):
            if getattr(self, name) < 0:
                raise InputError(f"{name} must be >= 0")

    def interval_seconds(self, round_seconds: int) -> int:
        """The call interval in seconds (``vm_interval_rounds`` rounds of ``round_seconds``)."""
        if self.vm_interval_rounds is not None:
            return self.vm_interval_rounds * round_seconds
        return self.vm_interval_seconds

    def mpor_seconds(self, round_seconds: int) -> int:
        """The CCP's margin period of risk: ``vm_interval + settlement_lag + closeout``."""
        return self.interval_seconds(round_seconds) + self.settlement_lag_seconds + self.closeout_seconds


# ====================================================================== outputs


@dataclass(frozen=True)
class Tranche:
    """One tranche of a waterfall: its name and what it paid."""

    name: str
    amount: int


@dataclass(frozen=True)
class ExposurePoint:
    """A member's uncollected variation margin at one time (positive: owed to it)."""

    model: str
    time: int
    member: str
    uncollected: int


@dataclass(frozen=True)
class MemberOutcome:
    """One member under one model (cash units).

    Attributes:
        member: The member.
        defaulter: Whether it is the defaulter.
        exposure_peak: Its largest uncollateralised exposure up to the time of default.
        exposure_at_default: Its uncollateralised exposure at the time of default.
        im_required: The IM it posts: dFMI, its trades' IMs; CCP, the model on its net positions.
        im_at_mpor: The IM model at this model's margin period (dFMI: every trade alone).
        fund_contribution: Its default-fund contribution.
        collateral_loss: Its IM and margin account spent on its default (the defaulter only).
        fund_loss: What its fund contribution lost.
        assessment: What the CCP called from it beyond the fund (CCP only).
        unpaid_claim: What the defaulter still owes it after the waterfall (dFMI only).
        loss: What it bears: ``collateral_loss + fund_loss + assessment + unpaid_claim``.
    """

    member: str
    defaulter: bool
    exposure_peak: int
    exposure_at_default: int
    im_required: int
    im_at_mpor: int
    fund_contribution: int
    collateral_loss: int
    fund_loss: int
    assessment: int
    unpaid_claim: int

    @property
    def loss(self) -> int:
        """What it bears in all."""
        return self.collateral_loss + self.fund_loss + self.assessment + self.unpaid_claim

    def record(self, model: str) -> dict[str, Any]:
        """One flat row."""
        return {
            "model": model,
            "member": self.member,
            "defaulter": self.defaulter,
            "exposure_peak": self.exposure_peak,
            "exposure_at_default": self.exposure_at_default,
            "im_required": self.im_required,
            "im_at_mpor": self.im_at_mpor,
            "fund_contribution": self.fund_contribution,
            "collateral_loss": self.collateral_loss,
            "fund_loss": self.fund_loss,
            "assessment": self.assessment,
            "unpaid_claim": self.unpaid_claim,
            "loss": self.loss,
        }


@dataclass(frozen=True)
class CloseOut:
    """One dFMI close-out (a ``DefaultDeclared``, or a maturity its payer could not pay), with its
    waterfall; the fields of :class:`dfmi_py.api.waterfall.Waterfall`.

    Attributes:
        member_losses: The drop of each member's fund balance in this claim (the defaulter's
            included), as :class:`dfmi_py.api.fund.FundBooks` computes it.
        fund_claim_pending: The fund could not be claimed (the defaulter is not a member).
    """

    market: str
    trade_id: int
    kind: str
    at: int
    defaulter: str
    survivor: str
    loss: int
    from_im: int
    from_margin: int
    from_defaulter_contribution: int
    from_survivors: int
    unpaid: int
    member_losses: Mapping[str, int] = field(default_factory=dict)
    fund_claim_pending: bool = False

    def record(self) -> dict[str, Any]:
        """One flat row."""
        return {
            "market": self.market,
            "trade_id": self.trade_id,
            "kind": self.kind,
            "at": self.at,
            "defaulter": self.defaulter,
            "survivor": self.survivor,
            "loss": self.loss,
            "initial_margin": self.from_im,
            "margin_account": self.from_margin,
            "defaulters_contribution": self.from_defaulter_contribution,
            "survivors_contributions": self.from_survivors,
            "unpaid_claim": self.unpaid,
        }


@dataclass(frozen=True)
class ModelOutcome:
    """What one model says the default cost.

    Attributes:
        model: ``"CCP"`` or ``"dFMI"``.
        defaulter: The defaulter.
        default_at: The time of default (the input).
        declared_at: When the default was declared (dFMI: the first close-out); ``None``: never
            within the model's horizon.
        closed_out_at: When the last of its positions was closed out.
        mpor_seconds: The model's margin period of risk (dFMI: one round plus the longest cure
            period).
        shortfall: What the defaulter owed at the close-out (before any collateral).
        tranches: The waterfall, in order; the amounts add up to ``shortfall``.
        members: Per member, in :meth:`ModelInputs.members` order.
        ccp_loss: The CCP's own capital lost (CCP only).
        residual: What no tranche covered (CCP: uncovered; dFMI: the survivors' unpaid claims).
        exposures: Every member's uncollected variation margin at every round.
        closeouts: dFMI only: every close-out, in the chain's order.
        notes: Plain-language caveats of this run (e.g. a close-out after the path's end).
    """

    model: str
    defaulter: str
    default_at: int
    declared_at: int | None
    closed_out_at: int | None
    mpor_seconds: int
    shortfall: int
    tranches: tuple[Tranche, ...]
    members: tuple[MemberOutcome, ...]
    ccp_loss: int
    residual: int
    exposures: tuple[ExposurePoint, ...]
    closeouts: tuple[CloseOut, ...] = ()
    notes: tuple[str, ...] = ()

    def member(self, name: str) -> MemberOutcome:
        """The outcome of member ``name``."""
        for m in self.members:
            if m.member == name:
                return m
        raise InputError(f"no member {name!r} in the {self.model} outcome")

    def tranche(self, name: str) -> int:
        """What tranche ``name`` paid."""
        for t in self.tranches:
            if t.name == name:
                return t.amount
        raise InputError(f"no tranche {name!r} in the {self.model} waterfall")

    def to_frame(self) -> pd.DataFrame:
        """One row per member (columns of :meth:`MemberOutcome.record`)."""
        import pandas as pd  # imported on use

        return pd.DataFrame([m.record(self.model) for m in self.members])

    def tranches_frame(self) -> pd.DataFrame:
        """One row per tranche: model, tranche, amount."""
        import pandas as pd

        return pd.DataFrame([{"model": self.model, "tranche": t.name, "amount": t.amount} for t in self.tranches])

    def exposures_frame(self) -> pd.DataFrame:
        """One row per (time, member): model, time, member, uncollected."""
        import pandas as pd

        return pd.DataFrame(
            [
                {"model": e.model, "time": e.time, "member": e.member, "uncollected": e.uncollected}
                for e in self.exposures
            ]
        )

    def closeouts_frame(self) -> pd.DataFrame:
        """One row per dFMI close-out (columns of :meth:`CloseOut.record`)."""
        import pandas as pd

        return pd.DataFrame([c.record() for c in self.closeouts])


@dataclass(frozen=True)
class Comparison:
    """Both models on the same inputs."""

    dfmi: ModelOutcome
    ccp: ModelOutcome
    assumptions: CcpAssumptions
    round_seconds: int

    def summary(self, cash_decimals: int, symbol: str = "") -> str:
        """The comparison in one sentence, amounts in whole cash units.

        Args:
            cash_decimals: The cash token's decimals.
            symbol: The cash token's symbol, shown after each amount.
        """

        def money(units: int) -> str:
            return format_units(units, cash_decimals, symbol)

        def peak(outcome: ModelOutcome) -> int:
            return max((m.exposure_peak for m in outcome.members), default=0)

        def others(outcome: ModelOutcome) -> int:
            return sum(m.loss for m in outcome.members if not m.defaulter)

        a = self.assumptions
        ccp = (
            f"a CCP calling margin every {duration(a.interval_seconds(self.round_seconds))} "
            f"{_paid(a.settlement_lag_seconds)}"
        )
        text = (
            f"When {self.dfmi.defaulter} defaulted, the largest uncollateralised exposure any member carried "
            f"was {money(peak(self.dfmi))} under dFMI, settled every round, against {money(peak(self.ccp))} under "
            f"{ccp}; the other members lost {money(others(self.dfmi))} under dFMI (fund shares and unpaid claims) "
            f"against {money(others(self.ccp))} under the CCP (fund shares and assessments)"
        )
        if self.ccp.ccp_loss:
            text += f", and the CCP {money(self.ccp.ccp_loss)} of its own capital"
        if self.ccp.residual:
            text += f", leaving {money(self.ccp.residual)} uncovered"
        return text + "."

    def to_frame(self) -> pd.DataFrame:
        """One row per member, each figure under both models side by side (``_dfmi``, ``_ccp``)."""
        import pandas as pd

        rows = []
        for d, c in zip(self.dfmi.members, self.ccp.members, strict=True):
            row: dict[str, Any] = {"member": d.member, "defaulter": d.defaulter}
            for name in ("exposure_peak", "exposure_at_default", "im_required", "fund_contribution", "loss"):
                row[f"{name}_dfmi"] = getattr(d, name)
                row[f"{name}_ccp"] = getattr(c, name)
            rows.append(row)
        return pd.DataFrame(rows)

    def tranches_frame(self) -> pd.DataFrame:
        """Both waterfalls, one row per tranche."""
        import pandas as pd

        return pd.concat([self.dfmi.tranches_frame(), self.ccp.tranches_frame()], ignore_index=True)


# ====================================================================== shared: prices and marks


class _Timeline:
    """The markets' rounds, the value scales, and each trade's mark at any time."""

    def __init__(self, inputs: ModelInputs) -> None:
        self.paths = inputs.paths
        self.times = {m: [p.timestamp for p in path.rounds] for m, path in inputs.paths.items()}
        self.scales = {m: value_scale(path.decimals, inputs.cash_decimals) for m, path in inputs.paths.items()}
        self._latest_cache: dict[int, dict[str, int | None]] = {}
        self._matures: dict[int, int | None] = {}
        rounds = sorted({t for times in self.times.values() for t in times})
        #: When the keeper acts and exposures are observed.
        self.observations = sorted(set(inputs.keeper_steps)) if inputs.keeper_steps else rounds
        if inputs.round_seconds is not None:
            self.round_seconds = inputs.round_seconds
        else:
            gaps = [b - a for a, b in pairwise(rounds) if b > a]
            if not gaps:
                raise InputError("one round only: give round_seconds, the oracle's round interval")
            self.round_seconds = int(statistics.median_low(gaps))

    def latest(self, market: str, t: int) -> int | None:
        """Index of ``market``'s latest round at or before ``t`` (``None``: none yet)."""
        i = bisect_right(self.times[market], t) - 1
        return i if i >= 0 else None

    def price(self, market: str, index: int) -> int:
        return self.paths[market].rounds[index].price

    def maturity_round(self, trade: ForwardTrade, after: int) -> int | None:
        """The round ``mature`` takes: the first after round ``after`` finalised at or after maturity."""
        if trade.maturity is None:
            return None
        i = max(bisect_left(self.times[trade.market], trade.maturity), after + 1)
        return i if i < len(self.times[trade.market]) else None

    def mark(self, trade: ForwardTrade, t: int) -> int:
        """The price ``trade`` is marked at, at ``t``: the contract price before it opens or before
        the market's first round, its maturity round's price once that round exists, else the
        latest round's."""
        if t < trade.opened_at:
            return trade.contract_price
        latest = self.latest_at(t)[trade.market]
        if latest is None:
            return trade.contract_price
        key = id(trade)  # the inputs' trades live as long as the model: ids are stable, and cheap to hash
        if key not in self._matures:
            self._matures[key] = self.maturity_round(trade, -1)
        matures = self._matures[key]
        if matures is not None and matures <= latest:
            latest = matures
        return self.paths[trade.market].rounds[latest].price

    def latest_at(self, t: int) -> dict[str, int | None]:
        """Every market's latest round index at ``t`` (cached: the models ask for the same times)."""
        found = self._latest_cache.get(t)
        if found is None:
            found = {m: self.latest(m, t) for m in self.paths}
            self._latest_cache[t] = found
        return found

    def value(self, trade: ForwardTrade, price: int) -> int:
        """The long position's value at ``price``, as the engine computes it."""
        return trade.quantity * price // self.scales[trade.market]

    def history(self, inputs: ModelInputs, market: str, until: int) -> list[PricePoint]:
        """The IM model's history of ``market``: the look-back, then the path up to ``until``."""
        path = [p for p in self.paths[market].rounds if p.timestamp <= until]
        return [*inputs.im_history.get(market, ()), *path]

    def spot(self, inputs: ModelInputs, market: str, t: int) -> int:
        """Today's price for the IM at ``t``: the latest round, else the look-back's last, else the first round."""
        latest = self.latest(market, t)
        if latest is not None:
            return self.price(market, latest)
        look_back = inputs.im_history.get(market, ())
        return look_back[-1].price if look_back else self.paths[market].rounds[0].price


def _im_model(assumptions: CcpAssumptions, mpor_seconds: int, round_seconds: int) -> HistoricalModel:
    base = assumptions.im_base_seconds or round_seconds
    method = assumptions.im_method
    if method is HorizonMethod.SQRT_TIME and base > mpor_seconds:
        base = mpor_seconds
    return HistoricalModel(
        confidence=assumptions.im_confidence,
        mpor_seconds=mpor_seconds,
        measure=assumptions.im_measure,
        method=method,
        base_seconds=base if method is HorizonMethod.SQRT_TIME else 0,
        buffer_bps=assumptions.im_buffer_bps,
    )


def _im(
    timeline: _Timeline, inputs: ModelInputs, market: str, quantity: int, side: Side, at: int, model: HistoricalModel
) -> int:
    if quantity == 0:
        return 0
    try:
        return historical_im(
            quantity,
            timeline.spot(inputs, market, at),
            timeline.scales[market],
            side,
            timeline.history(inputs, market, at),
            model,
        ).im
    except InputError as exc:
        raise InputError(
            f"market {market!r}: the IM model has no scenario at a {model.horizon_seconds} s horizon "
            f"({exc}); give a longer im_history"
        ) from exc


def _peaks(points: Iterable[ExposurePoint], until: int, at_default: Mapping[str, int]) -> dict[str, int]:
    """Each member's largest absolute uncollected margin before ``until`` and at it."""
    peaks = {m: abs(v) for m, v in at_default.items()}
    for p in points:
        if p.time < until:
            peaks[p.member] = max(peaks.get(p.member, 0), abs(p.uncollected))
    return peaks


# ====================================================================== the default fund (DefaultFund.sol)


def _mul_div(a: int, b: int, c: int, *, ceil: bool = False) -> int:
    """OpenZeppelin's ``Math.mulDiv`` (floor, or ceil), for non-negative integers."""
    q, r = divmod(a * b, c)
    return q + 1 if ceil and r else q


class _FundPool:
    """The fund's pool and shares with DefaultFund.sol's arithmetic (join, then ``claim``)."""

    def __init__(self, contributions: Mapping[str, int]) -> None:
        self.assets = 0
        self.supply = 0
        self.shares: dict[str, int] = {}
        self.joined: set[str] = set()
        for member, amount in contributions.items():
            self.joined.add(member)
            if amount == 0:
                self.shares.setdefault(member, 0)
                continue
            minted = (
                amount * _INITIAL_SHARES_PER_UNIT if self.supply == 0 else _mul_div(amount, self.supply, self.assets)
            )
            self.shares[member] = self.shares.get(member, 0) + minted
            self.assets += amount
            self.supply += minted

    def balance(self, member: str) -> int:
        held = self.shares.get(member, 0)
        return 0 if held == 0 else _mul_div(held, self.assets, self.supply)

    def balances(self) -> dict[str, int]:
        return {m: self.balance(m) for m in self.shares}

    def claim(self, defaulter: str, loss: int) -> tuple[int, int, dict[str, int]]:
        """``_absorb``: the defaulter's shares for its part, then the pool for the survivors'.

        Returns:
            What the defaulter's contribution paid, what the survivors' paid, and each member's
            balance drop (:class:`dfmi_py.api.fund.FundBooks`' convention).
        """
        before = self.balances()
        assets, supply = self.assets, self.supply
        held = self.shares.get(defaulter, 0)
        from_defaulter = 0
        if held > 0:
            balance = _mul_div(held, assets, supply)
            if loss >= balance:
                from_defaulter, burnt = balance, held
            else:
                from_defaulter, burnt = loss, _mul_div(loss, supply, assets, ceil=True)
            self.shares[defaulter] = held - burnt
            supply -= burnt
            assets -= from_defaulter
        from_survivors = 0
        rest = loss - from_defaulter
        if rest > 0 and assets > 0:
            from_survivors = min(rest, assets)
            assets -= from_survivors
            if assets == 0:
                # FundExhausted: every share of the epoch is void.
                supply = 0
                self.shares = dict.fromkeys(self.shares, 0)
        self.assets, self.supply = assets, supply
        after = self.balances()
        drops = {m: before.get(m, 0) - after[m] for m in after if before.get(m, 0) != after[m]}
        return from_defaulter, from_survivors, drops


# ====================================================================== dFMI: the engines and the keeper


class _State(Enum):
    LIVE = "live"
    MARGIN_CALL = "margin call"
    DEFAULTED = "defaulted"
    MATURED = "matured"


_OPEN = (_State.LIVE, _State.MARGIN_CALL)


@dataclass
class _Book:
    """One trade's engine state."""

    trade: ForwardTrade
    last_price: int
    last_round: int = -1
    state: _State = _State.LIVE
    buyer_im: int = 0
    seller_im: int = 0
    debt: int = 0
    debtor: Side | None = None
    cure_deadline: int = 0


class _Replay:
    """DerivativeEngine.sol per market, DefaultFund.sol, and the keeper's order of actions."""

    def __init__(self, inputs: ModelInputs, timeline: _Timeline) -> None:
        self.inputs = inputs
        self.timeline = timeline
        self.defaulter = inputs.default.member
        self.wallet = inputs.default.wallet
        self.fund = _FundPool(inputs.contributions) if inputs.contributions else None
        self.margin: dict[str, dict[str, int]] = {m: {} for m in inputs.paths}
        self.books: dict[str, list[_Book]] = {m: [] for m in inputs.paths}
        for t in sorted(inputs.trades, key=lambda t: (t.market, t.trade_id)):
            self.books[t.market].append(_Book(t, t.contract_price, buyer_im=t.buyer_im, seller_im=t.seller_im))
        self.closeouts: list[CloseOut] = []
        self.now = 0

    # ---------------------------------------------------------------- money

    def _collect(self, market: str, payer: str, amount: int) -> bool:
        """``_collect``: the margin account, then a pull of the whole shortfall from the wallet."""
        accounts = self.margin[market]
        available = accounts.get(payer, 0)
        if available >= amount:
            accounts[payer] = available - amount
            return True
        shortfall = amount - available
        if payer == self.defaulter and self.now >= self.inputs.default.at:
            if shortfall > self.wallet:
                return False
            self.wallet -= shortfall
        accounts[payer] = 0
        return True

    def _credit(self, market: str, member: str, amount: int) -> None:
        accounts = self.margin[market]
        accounts[member] = accounts.get(member, 0) + amount

    def _clear_debt(self, book: _Book) -> None:
        book.debt = 0
        book.debtor = None
        book.cure_deadline = 0
        if book.state is _State.MARGIN_CALL:
            book.state = _State.LIVE

    def _pay(self, market: str, book: _Book, owed_by_buyer: int) -> None:
        previous = book.debtor
        if owed_by_buyer == 0:
            if previous is not None:
                self._clear_debt(book)
            return
        side = Side.BUYER if owed_by_buyer > 0 else Side.SELLER
        amount = abs(owed_by_buyer)
        t = book.trade
        payer, receiver = (t.buyer, t.seller) if side is Side.BUYER else (t.seller, t.buyer)
        if self._collect(market, payer, amount):
            self._credit(market, receiver, amount)
            if previous is not None:
                self._clear_debt(book)
            return
        book.debt = amount
        if previous is not side or book.state is not _State.MARGIN_CALL:
            book.debtor = side
            book.cure_deadline = self.now + self.inputs.cure_period(market)
            book.state = _State.MARGIN_CALL

    def _owed_by_buyer(self, book: _Book, vm_to_buyer: int) -> int:
        owed = -vm_to_buyer
        if book.debtor is Side.BUYER:
            owed += book.debt
        elif book.debtor is Side.SELLER:
            owed -= book.debt
        return owed

    def _settle_to(self, market: str, book: _Book, index: int) -> None:
        price = self.timeline.price(market, index)
        vm = self.timeline.value(book.trade, price) - self.timeline.value(book.trade, book.last_price)
        book.last_price, book.last_round = price, index
        self._pay(market, book, self._owed_by_buyer(book, vm))

    def _pay_from_collateral(self, market: str, book: _Book, payer_is_buyer: bool, amount: int, kind: str) -> None:
        t = book.trade
        payer, receiver = (t.buyer, t.seller) if payer_is_buyer else (t.seller, t.buyer)
        payer_im = book.buyer_im if payer_is_buyer else book.seller_im
        from_im = min(amount, payer_im)
        if payer_is_buyer:
            book.buyer_im = payer_im - from_im
        else:
            book.seller_im = payer_im - from_im
        available = self.margin[market].get(payer, 0)
        remaining = amount - from_im
        from_margin = min(remaining, available)
        self.margin[market][payer] = available - from_margin
        self._credit(market, receiver, from_im + from_margin)
        unpaid = remaining - from_margin
        from_defaulter = from_survivors = 0
        drops: dict[str, int] = {}
        pending = False
        if unpaid > 0 and self.fund is not None:
            if payer in self.fund.joined:
                from_defaulter, from_survivors, drops = self.fund.claim(payer, unpaid)
                self._credit(market, receiver, from_defaulter + from_survivors)
                unpaid -= from_defaulter + from_survivors
            else:
                pending = True
        book.debt = unpaid
        book.debtor = (Side.BUYER if payer_is_buyer else Side.SELLER) if unpaid > 0 else None
        self.closeouts.append(
            CloseOut(
                market=market,
                trade_id=t.trade_id,
                kind=kind,
                at=self.now,
                defaulter=payer,
                survivor=receiver,
                loss=amount,
                from_im=from_im,
                from_margin=from_margin,
                from_defaulter_contribution=from_defaulter,
                from_survivors=from_survivors,
                unpaid=unpaid,
                member_losses=drops,
                fund_claim_pending=pending,
            )
        )

    def _release_initial_margins(self, market: str, book: _Book) -> None:
        self._credit(market, book.trade.buyer, book.buyer_im)
        self._credit(market, book.trade.seller, book.seller_im)
        book.buyer_im = book.seller_im = 0

    # ---------------------------------------------------------------- lifecycle

    def _declare_default(self, market: str, book: _Book, latest: int) -> None:
        t = book.trade
        latest_time = self.timeline.times[market][latest]
        if latest > book.last_round and (t.maturity is None or latest_time < t.maturity):
            self._settle_to(market, book, latest)
            if book.state is not _State.MARGIN_CALL or self.now <= book.cure_deadline:
                return
        buyer_owes = book.debtor is Side.BUYER
        debtor, creditor = (t.buyer, t.seller) if buyer_owes else (t.seller, t.buyer)
        if self._collect(market, debtor, book.debt):
            self._credit(market, creditor, book.debt)
            self._clear_debt(book)
            return
        book.state = _State.DEFAULTED
        self._pay_from_collateral(market, book, buyer_owes, book.debt, "default")
        self._release_initial_margins(market, book)

    def _mature(self, market: str, book: _Book, index: int) -> None:
        price = self.timeline.price(market, index)
        vm = self.timeline.value(book.trade, price) - self.timeline.value(book.trade, book.last_price)
        owed = self._owed_by_buyer(book, vm)
        book.last_price, book.last_round = price, index
        book.state = _State.MATURED
        book.debt, book.debtor = 0, None
        if owed != 0:
            t = book.trade
            buyer_pays = owed > 0
            payer, receiver = (t.buyer, t.seller) if buyer_pays else (t.seller, t.buyer)
            if self._collect(market, payer, abs(owed)):
                self._credit(market, receiver, abs(owed))
            else:
                self._pay_from_collateral(market, book, buyer_pays, abs(owed), "maturity")
        self._release_initial_margins(market, book)

    def step(self, now: int) -> None:
        """The keeper's step at ``now``: per market by name, settlement batches, maturities, defaults."""
        self.now = now
        for market in sorted(self.books):
            latest = self.timeline.latest(market, now)
            if latest is None:
                continue
            latest_time = self.timeline.times[market][latest]
            books = [b for b in self.books[market] if b.state in _OPEN and b.trade.opened_at <= now]
            maturing: list[tuple[_Book, int]] = []
            for b in books:
                maturity = b.trade.maturity
                if maturity is None or latest_time < maturity or latest <= b.last_round:
                    continue
                index = self.timeline.maturity_round(b.trade, b.last_round)
                if index is not None:
                    maturing.append((b, index))
            matured = {id(b) for b, _ in maturing}
            defaults = [
                b for b in books if b.state is _State.MARGIN_CALL and id(b) not in matured and now > b.cure_deadline
            ]
            defaulting = {id(b) for b in defaults}
            due = [
                b
                for b in books
                if b.last_round < latest
                and (b.trade.maturity is None or latest_time < b.trade.maturity)
                and id(b) not in defaulting
            ]
            for b in due:
                self._settle_to(market, b, latest)
            for b, index in maturing:
                self._mature(market, b, index)
            for b in defaults:
                self._declare_default(market, b, latest)

    # ---------------------------------------------------------------- exposure

    def uncollected(self, at: int) -> dict[str, int]:
        """Every member's uncollected variation margin at ``at``, before the step at ``at``."""
        out: dict[str, int] = {}
        latest = self.timeline.latest_at(at)
        for market, books in self.books.items():
            newest = latest[market]
            for b in books:
                if b.state not in _OPEN or at < b.trade.opened_at:
                    continue
                t = b.trade
                to_buyer = 0
                # Settled to the latest round already: only a debt it carries is uncollected (an open
                # trade never settled to a round at or after its maturity: it would have matured).
                if b.last_round != newest:
                    to_buyer = self.timeline.value(t, self.timeline.mark(t, at)) - self.timeline.value(t, b.last_price)
                if b.debtor is Side.BUYER:
                    to_buyer -= b.debt
                elif b.debtor is Side.SELLER:
                    to_buyer += b.debt
                out[t.buyer] = out.get(t.buyer, 0) + to_buyer
                out[t.seller] = out.get(t.seller, 0) - to_buyer
        return out

    def open_debt(self) -> int:
        """What trades still in a margin call owe at the end."""
        return sum(b.debt for books in self.books.values() for b in books if b.state is _State.MARGIN_CALL)


def dfmi_model(inputs: ModelInputs, assumptions: CcpAssumptions | None = None) -> ModelOutcome:
    """The default under dFMI's rules, replaying the engines, the fund and the keeper.

    Conditions under which the close-outs equal the chain's (``dfmi_py.api.waterfall.waterfalls``
    and the fund's books), as checked against the contracts and the keeper on Anvil:
    ``keeper_steps`` are the heads the keeper acted on, once per round after every market's round
    is final; ``default.at`` falls after the last step at which the defaulter still paid and at
    or before the first at which it did not; members never withdraw their engine margin accounts;
    every member but the defaulter pays every call; the fund had no draw before (shares are
    ``contribution * 10**6``); a cure period that is not a multiple of the round interval (the
    chain's deadline starts at the settling transaction's block, a second or two after the head);
    and the keeper's ``declareDefault`` has gas for the fund claim (see docs/ccp-model.md).

    Args:
        inputs: The trades, prices, default and contributions.
        assumptions: Only the IM model's settings are read (for ``im_at_mpor``); default
            :class:`CcpAssumptions`.

    Returns:
        The dFMI outcome: tranches ``initial margin``, ``margin account``, ``defaulter's
        contribution``, ``survivors' contributions``, ``unpaid claim``.
    """
    assumptions = assumptions or CcpAssumptions()
    timeline = _Timeline(inputs)
    replay = _Replay(inputs, timeline)
    default_at = inputs.default.at
    members = inputs.members()
    points: list[ExposurePoint] = []
    at_default: dict[str, int] | None = None
    for now in timeline.observations:
        if at_default is None and now >= default_at:
            at_default = replay.uncollected(default_at)
        uncollected = replay.uncollected(now)
        points.extend(ExposurePoint(DFMI, now, m, uncollected.get(m, 0)) for m in members)
        replay.step(now)
    if at_default is None:
        at_default = replay.uncollected(default_at)

    closeouts = tuple(replay.closeouts)
    peaks = _peaks(points, default_at, at_default)
    # Each market's margin period: one round, then its cure period.
    mpors = {m: timeline.round_seconds + inputs.cure_period(m) for m in inputs.paths}
    models = {m: _im_model(assumptions, mpor, timeline.round_seconds) for m, mpor in mpors.items()}
    im_at_mpor = dict.fromkeys(members, 0)
    posted = dict.fromkeys(members, 0)
    known: dict[tuple[str, int, Side], int] = {}

    def im_of(market: str, quantity: int, side: Side) -> int:
        key = (market, quantity, side)
        if key not in known:
            known[key] = _im(timeline, inputs, market, quantity, side, default_at, models[market])
        return known[key]

    for t in inputs.trades:
        posted[t.buyer] += t.buyer_im
        posted[t.seller] += t.seller_im
        if t.opened_at <= default_at and (t.maturity is None or t.maturity > default_at):
            im_at_mpor[t.buyer] += im_of(t.market, t.quantity, Side.BUYER)
            im_at_mpor[t.seller] += im_of(t.market, t.quantity, Side.SELLER)

    collateral = dict.fromkeys(members, 0)
    fund_loss = dict.fromkeys(members, 0)
    unpaid = dict.fromkeys(members, 0)
    for c in closeouts:
        collateral[c.defaulter] += c.from_im + c.from_margin
        unpaid[c.survivor] += c.unpaid
        for member, drop in c.member_losses.items():
            fund_loss[member] += drop
    outcomes = tuple(
        MemberOutcome(
            member=m,
            defaulter=m == inputs.default.member,
            exposure_peak=peaks.get(m, 0),
            exposure_at_default=abs(at_default.get(m, 0)),
            im_required=posted[m],
            im_at_mpor=im_at_mpor[m],
            fund_contribution=inputs.contributions.get(m, 0),
            collateral_loss=collateral[m],
            fund_loss=fund_loss[m],
            assessment=0,
            unpaid_claim=unpaid[m],
        )
        for m in members
    )
    tranches = (
        Tranche("initial margin", sum(c.from_im for c in closeouts)),
        Tranche("margin account", sum(c.from_margin for c in closeouts)),
        Tranche("defaulter's contribution", sum(c.from_defaulter_contribution for c in closeouts)),
        Tranche("survivors' contributions", sum(c.from_survivors for c in closeouts)),
        Tranche("unpaid claim", sum(c.unpaid for c in closeouts)),
    )
    notes = []
    pending = replay.open_debt()
    if pending:
        notes.append(f"{pending} still owed under margin calls whose cure period ends after the path")
    if any(c.fund_claim_pending for c in closeouts):
        notes.append("a fund claim could not be made: the defaulter is not a member of the fund")
    return ModelOutcome(
        model=DFMI,
        defaulter=inputs.default.member,
        default_at=default_at,
        declared_at=closeouts[0].at if closeouts else None,
        closed_out_at=closeouts[-1].at if closeouts else None,
        mpor_seconds=max(mpors.values()),
        shortfall=sum(c.loss for c in closeouts),
        tranches=tranches,
        members=outcomes,
        ccp_loss=0,
        residual=sum(c.unpaid for c in closeouts),
        exposures=tuple(points),
        closeouts=closeouts,
        notes=tuple(notes),
    )


# ====================================================================== CCP


class _Ccp:
    """The novated book: each member's value against the CCP at any time, and the call schedule."""

    def __init__(self, inputs: ModelInputs, timeline: _Timeline, assumptions: CcpAssumptions) -> None:
        self.inputs = inputs
        self.timeline = timeline
        self.assumptions = assumptions
        self.by_member: dict[str, list[tuple[ForwardTrade, int]]] = {}
        for t in inputs.trades:
            self.by_member.setdefault(t.buyer, []).append((t, 1))
            self.by_member.setdefault(t.seller, []).append((t, -1))
        self._contract_values = [(t, timeline.value(t, t.contract_price)) for t in inputs.trades]
        self._values: dict[int, dict[str, int]] = {}
        self.calls = self._schedule()
        self._arrivals = [c + assumptions.settlement_lag_seconds for c in self.calls]

    def value(self, member: str, at: int | None) -> int:
        """The member's positions' value against the CCP at ``at`` relative to their contract
        prices (``None``: before any call, 0)."""
        if at is None:
            return 0
        return self.values(at).get(member, 0)

    def values(self, at: int) -> dict[str, int]:
        """Every member's value at ``at`` (one pass over the trades, cached per time)."""
        found = self._values.get(at)
        if found is None:
            found = {}
            for t, at_contract in self._contract_values:
                to_buyer = self.timeline.value(t, self.timeline.mark(t, at)) - at_contract
                found[t.buyer] = found.get(t.buyer, 0) + to_buyer
                found[t.seller] = found.get(t.seller, 0) - to_buyer
            self._values[at] = found
        return found

    def _schedule(self) -> list[int]:
        """Call times: every interval from the first round, and one more beyond the path's end."""
        obs = self.timeline.observations
        if self.assumptions.vm_interval_rounds is not None:
            step = self.assumptions.vm_interval_rounds
            calls = obs[::step]
            return [*calls, calls[-1] + step * self.timeline.round_seconds]
        every = self.assumptions.vm_interval_seconds
        calls = list(range(obs[0], obs[-1] + 1, every))
        return [*calls, calls[-1] + every]

    def paid_before(self, t: int) -> int | None:
        """The latest call whose cash arrived strictly before ``t``."""
        i = bisect_left(self._arrivals, t) - 1
        return self.calls[i] if i >= 0 else None

    def net_quantities(self, member: str, at: int) -> dict[str, int]:
        """Its net quantity per market (long positive) of the trades open at ``at``."""
        out: dict[str, int] = {}
        for t, sign in self.by_member.get(member, ()):
            if t.opened_at <= at and (t.maturity is None or t.maturity > at):
                out[t.market] = out.get(t.market, 0) + sign * t.quantity
        return out


def ccp_model(inputs: ModelInputs, assumptions: CcpAssumptions | None = None) -> ModelOutcome:
    """The same trades, prices and default under a central counterparty.

    The defaulter's default is declared when a call it owes falls due at or after the time of
    default (calls it is owed are paid to it until then); its positions are closed out
    ``closeout_seconds`` later at the latest prices (the last round's if that is after the path,
    with a note). Its shortfall is what it owes from the last call it settled to the close-out,
    net across its positions, plus the close-out cost; the waterfall pays it in EMIR's order.

    Args:
        inputs: The trades, prices, default and contributions (``ccp_contributions`` if given).
        assumptions: The CCP's rules and the IM model (default :class:`CcpAssumptions`).

    Returns:
        The CCP outcome: tranches ``initial margin``, ``defaulter's contribution``, ``CCP skin in
        the game``, ``survivors' contributions``, ``assessments``, ``uncovered residual``.
    """
    assumptions = assumptions or CcpAssumptions()
    timeline = _Timeline(inputs)
    ccp = _Ccp(inputs, timeline, assumptions)
    defaulter, default_at = inputs.default.member, inputs.default.at
    lag = assumptions.settlement_lag_seconds
    members = inputs.members()
    contributions = dict(inputs.contributions if inputs.ccp_contributions is None else inputs.ccp_contributions)
    notes: list[str] = []

    # The defaulter's calls in order: settled while due before the default or owed to it.
    settled: int | None = None
    declared: int | None = None
    for call in ccp.calls:
        owes = ccp.value(defaulter, settled) - ccp.value(defaulter, call)
        if call + lag >= default_at and owes > 0:
            declared = call + lag
            break
        settled = call
    closed = None if declared is None else declared + assumptions.closeout_seconds
    if closed is not None and closed > timeline.observations[-1]:
        notes.append("the CCP closes the defaulter out after the price path ends: at its last prices")

    # Exposures: collections as scheduled, the defaulter's frozen at its last settled call.
    def uncollected(member: str, t: int) -> int:
        ref = ccp.paid_before(t)
        if member == defaulter and t > default_at:
            if closed is not None and t >= closed:
                return 0
            # Only the calls it settled count: the later ones it did not pay.
            ref = None if ref is None or settled is None else min(ref, settled)
        return ccp.value(member, t) - ccp.value(member, ref)

    points = [ExposurePoint(CCP, t, m, uncollected(m, t)) for t in timeline.observations for m in members]
    at_default = {m: uncollected(m, default_at) for m in members}
    peaks = _peaks(points, default_at, at_default)

    # Initial margin on net positions per underlying at the CCP's margin period.
    mpor = assumptions.mpor_seconds(timeline.round_seconds)
    model = _im_model(assumptions, mpor, timeline.round_seconds)
    im = dict.fromkeys(members, 0)
    for m in members:
        for market, net in ccp.net_quantities(m, default_at).items():
            side = Side.BUYER if net > 0 else Side.SELLER
            im[m] += _im(timeline, inputs, market, abs(net), side, default_at, model)

    shortfall = 0
    if closed is not None:
        owed = ccp.value(defaulter, settled) - ccp.value(defaulter, closed)
        cost = 0
        if assumptions.closeout_cost_bps:
            for market, net in ccp.net_quantities(defaulter, closed).items():
                latest = timeline.latest(market, closed)
                price = timeline.price(market, latest if latest is not None else 0)
                notional = abs(net) * price // timeline.scales[market]
                cost += -(-notional * assumptions.closeout_cost_bps // _BPS)
        shortfall = max(0, owed + cost)

    # The waterfall, EMIR art. 45 order.
    rest = shortfall
    from_im = min(rest, im.get(defaulter, 0))
    rest -= from_im
    from_contribution = min(rest, contributions.get(defaulter, 0))
    rest -= from_contribution
    skin = sum(contributions.values()) * assumptions.skin_in_the_game_bps // _BPS
    from_skin = min(rest, skin)
    rest -= from_skin
    survivors = [m for m in members if m != defaulter and contributions.get(m, 0) > 0]
    pool = sum(contributions[m] for m in survivors)
    from_survivors = min(rest, pool)
    rest -= from_survivors
    fund_shares: dict[str, int] = {}
    if survivors:
        split = proportional_split(from_survivors, [contributions[m] for m in survivors])
        fund_shares = dict(zip(survivors, split, strict=True))
    caps = [contributions[m] * assumptions.assessment_cap_bps // _BPS for m in survivors]
    if not _assessments_allowed(assumptions):
        caps = [0] * len(survivors)
    from_assessments = min(rest, sum(caps))
    rest -= from_assessments
    assessed: dict[str, int] = {}
    if from_assessments:
        assessed = dict(zip(survivors, proportional_split(from_assessments, caps), strict=True))

    outcomes = tuple(
        MemberOutcome(
            member=m,
            defaulter=m == defaulter,
            exposure_peak=peaks.get(m, 0),
            exposure_at_default=abs(at_default[m]),
            im_required=im[m],
            im_at_mpor=im[m],
            fund_contribution=contributions.get(m, 0),
            collateral_loss=from_im if m == defaulter else 0,
            fund_loss=from_contribution if m == defaulter else fund_shares.get(m, 0),
            assessment=assessed.get(m, 0),
            unpaid_claim=0,
        )
        for m in members
    )
    tranches = (
        Tranche("initial margin", from_im),
        Tranche("defaulter's contribution", from_contribution),
        Tranche("CCP skin in the game", from_skin),
        Tranche("survivors' contributions", from_survivors),
        Tranche("assessments", from_assessments),
        Tranche("uncovered residual", rest),
    )
    return ModelOutcome(
        model=CCP,
        defaulter=defaulter,
        default_at=default_at,
        declared_at=declared,
        closed_out_at=closed,
        mpor_seconds=mpor,
        shortfall=shortfall,
        tranches=tranches,
        members=outcomes,
        ccp_loss=from_skin,
        residual=rest,
        exposures=tuple(points),
        notes=tuple(notes),
    )


def _assessments_allowed(assumptions: CcpAssumptions) -> bool:
    """Whether the CCP's rules allow assessments, with a positive cap."""
    return assumptions.assessments and assumptions.assessment_cap_bps > 0


def compare(inputs: ModelInputs, assumptions: CcpAssumptions | None = None) -> Comparison:
    """Both models on ``inputs`` (see :func:`dfmi_model` and :func:`ccp_model`)."""
    assumptions = assumptions or CcpAssumptions()
    dfmi, ccp = dfmi_model(inputs, assumptions), ccp_model(inputs, assumptions)
    return Comparison(dfmi, ccp, assumptions, _Timeline(inputs).round_seconds)


def _paid(lag_seconds: int) -> str:
    return f"paid {duration(lag_seconds)} later" if lag_seconds else "paid at once"


def assumptions_text(assumptions: CcpAssumptions | None = None, round_seconds: int | None = None) -> str:
    """The CCP model's assumptions in plain language, one per line, for the report.

    Args:
        assumptions: The assumptions (default :class:`CcpAssumptions`).
        round_seconds: The oracle's round interval, to state intervals given in rounds.
    """
    a = assumptions or CcpAssumptions()
    if a.vm_interval_rounds is not None:
        interval = f"every {a.vm_interval_rounds} oracle rounds"
        if round_seconds:
            interval += f" ({duration(a.interval_seconds(round_seconds))})"
    else:
        interval = f"every {duration(a.vm_interval_seconds)}"
    if round_seconds:
        mpor = duration(a.mpor_seconds(round_seconds))
    elif a.vm_interval_rounds is None:
        mpor = duration(a.vm_interval_seconds + a.settlement_lag_seconds + a.closeout_seconds)
    else:
        mpor = "the call interval + lag + close-out"
    measure = "expected shortfall" if a.im_measure is Measure.ES else "value-at-risk"
    method = (
        "scaled by the square root of time from one round"
        if a.im_method is HorizonMethod.SQRT_TIME
        else "over overlapping windows of the full period"
    )
    lines = [
        "The CCP novates every trade and nets each member's positions per underlying.",
        f"Variation margin is called {interval} and {_paid(a.settlement_lag_seconds)}.",
        f"A missed payment is a default; the positions are closed out {duration(a.closeout_seconds)} after it"
        + (
            f", at a cost of {a.closeout_cost_bps} bps of their value."
            if a.closeout_cost_bps
            else ", at no extra cost."
        ),
        f"Initial margin: historical {measure} at {a.im_confidence:.1%} over a margin period of {mpor}, {method}"
        + (f", plus a {a.im_buffer_bps} bps buffer." if a.im_buffer_bps else "."),
        "Waterfall: the defaulter's IM, its fund contribution, the CCP's own capital "
        f"({a.skin_in_the_game_bps / 100:g}% of the fund), the survivors' contributions pro rata, then "
        + (
            f"assessments up to {a.assessment_cap_bps / 100:g}% of each contribution."
            if _assessments_allowed(a)
            else "nothing more (no assessments)."
        ),
        "What remains is uncovered: the CCP cannot pay its members in full.",
    ]
    return "\n".join(lines)
