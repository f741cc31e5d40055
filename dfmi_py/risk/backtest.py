"""Backtesting initial margin against the variation margin actually settled.

For every trade, time from the trade's start to its end is cut into consecutive, non-overlapping
windows of one margin period of risk ``m`` seconds: window ``w`` is ``[start + w*m, start + (w+1)*m)``,
``w = 0 .. ceil((end - start) / m) - 1`` (the last one may be shorter and still counts). In each
window the buyer's loss is minus the sum of the VM paid to the buyer in the window, the seller's loss
is that sum. A side **breaches** in a window when its loss exceeds the IM it held (strictly).
Each (trade, side, window) is one observation; breaches are counted per trade, per member (over the
sides it holds) and per market. Windows do not overlap so that observations are not built from the
same flows twice (the Kupiec test assumes independent observations). The two sides of one window
are two observations although one side's loss is the other's gain (with IMs >= 0 at most one of
them breaches): the test then sees twice the windows, which is what a member-level count needs.
The IM held is the one given per trade and side (constant over the trade's life).

Kupiec's proportion-of-failures test (Kupiec 1995): with ``n`` observations, ``x`` breaches and the
model's breach probability ``p = 1 - c``::

    LR = -2 ln[(1 - p)^(n - x) p^x] + 2 ln[(1 - x/n)^(n - x) (x/n)^x]

(``0 ln 0 = 0``), chi-squared with one degree of freedom under the model, so the p-value is
``erfc(sqrt(LR / 2))``. A small p-value (e.g. < 0.05) rejects the model's coverage.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from dfmi_py.errors import InputError

__all__ = [
    "BacktestReport",
    "BreachCount",
    "KupiecResult",
    "TradeMargin",
    "VmFlow",
    "backtest",
    "kupiec",
]


@dataclass(frozen=True)
class VmFlow:
    """One variation-margin settlement of a trade: cash paid to the buyer (negative: buyer paid)."""

    trade_id: int
    timestamp: int
    to_buyer: int
    #: The trade's market: trade ids restart in each market, so a book of several markets needs it
    #: (``None``: the one trade of that id).
    market: str | None = None


@dataclass(frozen=True)
class TradeMargin:
    """A trade's parties, market, life and the IM each side held.

    Attributes:
        trade_id: The trade's id.
        market: The market (underlying) the trade is on.
        buyer: The buyer's address or name.
        seller: The seller's address or name.
        im_buyer: Initial margin the buyer held, cash units.
        im_seller: Initial margin the seller held, cash units.
        start: Start of the first window (Unix seconds), e.g. the trade's activation.
        end: End of the observed life (exclusive), e.g. maturity, close-out or now.
    """

    trade_id: int
    market: str
    buyer: str
    seller: str
    im_buyer: int
    im_seller: int
    start: int
    end: int


@dataclass(frozen=True)
class KupiecResult:
    """Kupiec's proportion-of-failures test.

    Attributes:
        observations: ``n``.
        breaches: ``x``.
        expected_rate: ``p = 1 - confidence``.
        statistic: The likelihood ratio ``LR``.
        p_value: ``erfc(sqrt(LR / 2))``.
    """

    observations: int
    breaches: int
    expected_rate: float
    statistic: float
    p_value: float

    def rejects(self, significance: float = 0.05) -> bool:
        """Whether the test rejects the model's coverage at this significance level."""
        return self.p_value < significance


@dataclass(frozen=True)
class BreachCount:
    """Observations and breaches of one group (a trade, a member or a market).

    Attributes:
        observations: Side-windows observed.
        breaches: Side-windows whose loss exceeded the IM held.
        worst_excess: The largest loss beyond the IM held (0 if never breached), cash units.
    """

    observations: int = 0
    breaches: int = 0
    worst_excess: int = 0

    def kupiec(self, confidence: float) -> KupiecResult | None:
        """Kupiec's test of this group at the model's confidence (``None`` without observations)."""
        return kupiec(self.observations, self.breaches, confidence) if self.observations else None

    def add(self, loss: int, im: int) -> BreachCount:
        """This count with one more observation."""
        excess = loss - im
        return BreachCount(self.observations + 1, self.breaches + (excess > 0), max(self.worst_excess, max(excess, 0)))


@dataclass(frozen=True)
class BacktestReport:
    """A backtest's counts, per trade, per member and per market, and Kupiec's test over all.

    Attributes:
        confidence: The model's confidence the test uses.
        total: All side-windows.
        by_trade: Per trade, keyed ``"MARKET #ID"`` (trade ids restart in each market).
        by_member: Per member (address or name).
        by_market: Per market.
        kupiec: The test over all side-windows at the model's confidence.
    """

    confidence: float
    total: BreachCount
    by_trade: dict[str, BreachCount] = field(default_factory=dict)
    by_member: dict[str, BreachCount] = field(default_factory=dict)
    by_market: dict[str, BreachCount] = field(default_factory=dict)
    kupiec: KupiecResult | None = None

    def records(self) -> list[dict[str, object]]:
        """One flat row per group with its Kupiec p-value (``pandas.DataFrame(report.records())`` ready)."""
        rows: list[dict[str, object]] = []
        groups: Iterable[tuple[str, dict[str, BreachCount]]] = (
            ("trade", self.by_trade),
            ("member", self.by_member),
            ("market", self.by_market),
        )
        for level, counts in groups:
            for key, c in counts.items():
                test = c.kupiec(self.confidence)
                rows.append(
                    {
                        "level": level,
                        "key": key,
                        "observations": c.observations,
                        "breaches": c.breaches,
                        "worst_excess": c.worst_excess,
                        "kupiec_p_value": None if test is None else test.p_value,
                    }
                )
        return rows


def kupiec(observations: int, breaches: int, confidence: float) -> KupiecResult:
    """Kupiec's proportion-of-failures statistic and p-value (formula in the module docstring).

    Args:
        observations: ``n`` (> 0).
        breaches: ``x`` with ``0 <= x <= n``.
        confidence: The model's confidence ``c``; the expected breach rate is ``1 - c``.

    Returns:
        The statistic and its p-value under chi-squared with one degree of freedom.

    Raises:
        InputError: If the counts or the confidence are out of range.
    """
    if observations <= 0 or not 0 <= breaches <= observations:
        raise InputError(f"need 0 <= breaches <= observations and observations > 0, got {breaches}/{observations}")
    if not 0 < confidence < 1:
        raise InputError(f"confidence must be strictly between 0 and 1, got {confidence}")
    n, x, p = observations, breaches, float(1 - Fraction(str(confidence)))

    def log_likelihood(rate: float) -> float:
        hits = x * math.log(rate) if x else 0.0
        misses = (n - x) * math.log1p(-rate) if n - x else 0.0
        return hits + misses

    statistic = max(0.0, -2.0 * (log_likelihood(p) - log_likelihood(x / n)))
    return KupiecResult(n, x, p, statistic, math.erfc(math.sqrt(statistic / 2.0)))


def backtest(
    trades: Sequence[TradeMargin], flows: Sequence[VmFlow], mpor_seconds: int, confidence: float
) -> BacktestReport:
    """Count margin-period windows and IM breaches per trade, member and market; Kupiec over all.

    Args:
        trades: The trades with their IM held and their observed life.
        flows: Settled VM flows of these trades (flows outside a trade's ``[start, end)`` are ignored).
        mpor_seconds: The window length, the model's margin period of risk (> 0).
        confidence: The model's confidence, for Kupiec's test.

    Returns:
        The counts and the test (``kupiec`` is ``None`` when there is no observation).

    Raises:
        InputError: If a flow names an unknown trade (or names no market where its trade id is in
            several), a trade is given twice or ends before it starts, or the window length is not
            positive.
    """
    if mpor_seconds <= 0:
        raise InputError(f"the margin period of risk must be > 0 seconds, got {mpor_seconds}")
    by_key: dict[tuple[str, int], TradeMargin] = {}
    by_id: dict[int, list[TradeMargin]] = {}
    for t in trades:
        if (t.market, t.trade_id) in by_key:
            raise InputError(f"trade {t.trade_id} of market {t.market} is given twice")
        if t.end < t.start:
            raise InputError(f"trade {t.trade_id} ends ({t.end}) before it starts ({t.start})")
        by_key[(t.market, t.trade_id)] = t
        by_id.setdefault(t.trade_id, []).append(t)
    sums = {key: [0] * -(-(t.end - t.start) // mpor_seconds) for key, t in by_key.items()}
    for f in flows:
        if f.market is not None:
            trade = by_key.get((f.market, f.trade_id))
        else:
            same_id = by_id.get(f.trade_id, [])
            if len(same_id) > 1:
                markets = ", ".join(t.market for t in same_id)
                raise InputError(f"VM flow of trade {f.trade_id} names no market, and {markets} each have one")
            trade = same_id[0] if same_id else None
        if trade is None:
            where = "" if f.market is None else f" of market {f.market}"
            raise InputError(f"VM flow of unknown trade {f.trade_id}{where}; pass the trade's margins too")
        if trade.start <= f.timestamp < trade.end:
            sums[(trade.market, trade.trade_id)][(f.timestamp - trade.start) // mpor_seconds] += f.to_buyer
    total = BreachCount()
    by_trade: dict[str, BreachCount] = {}
    by_member: dict[str, BreachCount] = {}
    by_market: dict[str, BreachCount] = {}
    for (market, trade_id), t in by_key.items():
        name = f"{market} #{trade_id}"
        by_trade.setdefault(name, BreachCount())
        by_member.setdefault(t.buyer, BreachCount())
        by_member.setdefault(t.seller, BreachCount())
        by_market.setdefault(market, BreachCount())
        for to_buyer in sums[(market, trade_id)]:
            for member, loss, im in ((t.buyer, -to_buyer, t.im_buyer), (t.seller, to_buyer, t.im_seller)):
                total = total.add(loss, im)
                by_trade[name] = by_trade[name].add(loss, im)
                by_member[member] = by_member[member].add(loss, im)
                by_market[market] = by_market[market].add(loss, im)
    return BacktestReport(confidence, total, by_trade, by_member, by_market, total.kupiec(confidence))
