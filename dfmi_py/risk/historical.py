"""Historical-simulation initial margin: value-at-risk and expected shortfall over a margin period.

Method, for a position of ``quantity`` underlying units held at the current price ``P``:

1. **Scenarios (overlapping windows).** From a price history ``(t_i, P_i)`` (the oracle's rounds or
   a supplied series), every observation ``i`` gives one scenario: the first observation ``j`` with
   ``t_j >= t_i + h`` (``h`` the horizon in seconds) and the price ratio ``P_j / P_i``. Windows
   overlap (they start at every observation), which uses all the data but makes neighbouring
   scenarios dependent; a window that would run past the end of the history is dropped.
2. **Losses.** Each scenario moves today's price to ``S_i = P * P_j // P_i`` (integer, at least 1);
   the loss of the buyer is ``-variation_margin(quantity, P, S_i, scale)`` and the loss of the seller
   is ``+variation_margin(...)``: exactly the cash the engine would move (:mod:`dfmi_py.risk.forward`).
3. **Quantile: the k-th order statistic.** With the ``n`` losses sorted ascending
   ``L(1) <= ... <= L(n)`` and confidence ``c``, ``k = ceil(c * n)`` and ``VaR_c = L(k)``: the smallest
   loss that at least a fraction ``c`` of scenarios do not exceed (no interpolation).
4. **Expected shortfall** is the mean of the tail from that order statistic on,
   ``ES_c = ceil(sum(L(k..n)) / (n - k + 1))``, so ``ES_c >= VaR_c`` always.
5. **Scaling.** With :attr:`HorizonMethod.OVERLAPPING` the horizon is the margin period of risk
   itself. With :attr:`HorizonMethod.SQRT_TIME` the losses are taken over a shorter base horizon
   ``b`` and the risk measure is scaled by ``sqrt(mpor / b)`` (square-root-of-time: exact for
   independent, identically distributed moves, an approximation otherwise; it needs fewer data).
6. **Anti-procyclicality** (EMIR RTS 153/2013 art. 28's three options, any combination):
   a *stressed period* whose scenarios are added to the look-back's (option b); a *buffer*
   ``measure * (1 + buffer_bps / 10_000)`` (option a, 25% = 2 500 bps); a *floor*
   ``ceil(notional * floor_bps / 10_000)``.

The margin is ``IM = max(ceil(measure * buffer), floor, 0)`` in cash units, rounded up.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from itertools import pairwise

from dfmi_py.errors import InputError
from dfmi_py.risk.forward import position_value, variation_margin

__all__ = [
    "HistoricalIm",
    "HistoricalModel",
    "HorizonMethod",
    "Measure",
    "PricePoint",
    "Side",
    "confidence_index",
    "expected_shortfall",
    "historical_im",
    "horizon_ratios",
    "scenario_losses",
    "value_at_risk",
]

_BPS = 10_000


@dataclass(frozen=True)
class PricePoint:
    """One observation of a price history: a time (Unix seconds) and a price in the feed's decimals."""

    timestamp: int
    price: int


class Side(StrEnum):
    """Which party of a forward: the buyer loses when the price falls, the seller when it rises."""

    BUYER = "buyer"
    SELLER = "seller"


class Measure(StrEnum):
    """The risk measure the margin is set to."""

    VAR = "var"
    ES = "es"


class HorizonMethod(StrEnum):
    """How the margin period of risk enters the scenarios (see the module's docstring)."""

    OVERLAPPING = "overlapping"
    SQRT_TIME = "sqrt_time"


@dataclass(frozen=True)
class HistoricalModel:
    """The choices of a historical-simulation margin model.

    Attributes:
        confidence: One-tailed confidence level, ``0 < c < 1`` (e.g. ``0.99``).
        mpor_seconds: Margin period of risk in seconds.
        measure: VaR or expected shortfall.
        method: Overlapping windows over the full period or square-root-of-time scaling.
        base_seconds: The base horizon for :attr:`HorizonMethod.SQRT_TIME` (ignored otherwise).
        lookback_seconds: Only observations this recent (relative to the last one) are used;
            ``None`` uses the whole history.
        buffer_bps: Anti-procyclicality buffer added to the measure, in basis points.
        floor_bps: Floor as a percentage of the notional, in basis points.
    """

    confidence: float
    mpor_seconds: int
    measure: Measure = Measure.ES
    method: HorizonMethod = HorizonMethod.OVERLAPPING
    base_seconds: int = 0
    lookback_seconds: int | None = None
    buffer_bps: int = 0
    floor_bps: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.confidence < 1:
            raise InputError(f"confidence must be strictly between 0 and 1, got {self.confidence}")
        if self.mpor_seconds <= 0:
            raise InputError(f"the margin period of risk must be > 0 seconds, got {self.mpor_seconds}")
        if self.method is HorizonMethod.SQRT_TIME and not 0 < self.base_seconds <= self.mpor_seconds:
            raise InputError(
                f"square-root-of-time scaling needs 0 < base_seconds <= mpor_seconds, got {self.base_seconds}"
            )
        if self.buffer_bps < 0 or self.floor_bps < 0:
            raise InputError(f"buffer and floor must be >= 0 bps, got {self.buffer_bps} and {self.floor_bps}")
        if self.lookback_seconds is not None and self.lookback_seconds <= 0:
            raise InputError(f"the look-back must be > 0 seconds, got {self.lookback_seconds}")

    @property
    def horizon_seconds(self) -> int:
        """The horizon of the scenario windows: the margin period, or the base period when scaling."""
        return self.base_seconds if self.method is HorizonMethod.SQRT_TIME else self.mpor_seconds

    @property
    def scaling(self) -> float:
        """The factor applied to the measure: ``sqrt(mpor / base)`` when scaling, else 1."""
        if self.method is HorizonMethod.SQRT_TIME:
            return math.sqrt(self.mpor_seconds / self.base_seconds)
        return 1.0


@dataclass(frozen=True)
class HistoricalIm:
    """The margin a historical-simulation model requires of one side of one position.

    Attributes:
        var: Value-at-risk over the horizon, before scaling, in cash units.
        es: Expected shortfall over the horizon, before scaling, in cash units.
        measure: The chosen measure after scaling and buffer, rounded up.
        floor: The floor in cash units.
        im: The margin required: ``max(measure, floor, 0)``.
        scenarios: The number of scenarios (look-back plus stressed period).
    """

    var: int
    es: int
    measure: int
    floor: int
    im: int
    scenarios: int


def _check_history(prices: Sequence[PricePoint]) -> None:
    for a, b in pairwise(prices):
        if b.timestamp < a.timestamp:
            raise InputError(f"price history must be in time order, {b.timestamp} comes after {a.timestamp}")
    for p in prices:
        if p.price <= 0:
            raise InputError(f"prices must be > 0, got {p.price} at {p.timestamp}")


def horizon_ratios(prices: Sequence[PricePoint], horizon_seconds: int) -> list[tuple[int, int]]:
    """The price moves over every overlapping window of ``horizon_seconds``, as ``(P_i, P_j)`` pairs.

    For each observation ``i``, ``j`` is the first observation with ``t_j >= t_i + horizon``;
    observations without such a ``j`` give no window.

    Args:
        prices: The history, in time order, prices > 0.
        horizon_seconds: The window length (> 0).

    Returns:
        One ``(start price, end price)`` pair per window, in time order.

    Raises:
        InputError: If the history is out of order or has a price <= 0, or the horizon is <= 0.
    """
    if horizon_seconds <= 0:
        raise InputError(f"the horizon must be > 0 seconds, got {horizon_seconds}")
    _check_history(prices)
    times = [p.timestamp for p in prices]
    pairs = []
    for i, p in enumerate(prices):
        j = bisect_left(times, p.timestamp + horizon_seconds, lo=i + 1)
        if j < len(prices):
            pairs.append((p.price, prices[j].price))
    return pairs


def scenario_losses(quantity: int, price: int, scale: int, side: Side, ratios: Sequence[tuple[int, int]]) -> list[int]:
    """The side's loss in cash units under each scenario (negative: a gain).

    Today's price ``P`` moves to ``S = max(1, P * end // start)``; the loss is the variation margin
    the side would pay, computed as the engine computes it.

    Args:
        quantity: Underlying units, 18 decimals.
        price: Today's price, in the feed's decimals.
        scale: The engine's value scale (:func:`dfmi_py.risk.forward.value_scale`).
        side: Buyer or seller.
        ratios: ``(start, end)`` price pairs from :func:`horizon_ratios`.

    Returns:
        One loss per scenario.
    """
    sign = -1 if Side(side) is Side.BUYER else 1
    return [sign * variation_margin(quantity, price, max(1, price * end // start), scale) for start, end in ratios]


def confidence_index(confidence: float, n: int) -> int:
    """``k = ceil(c * n)`` (1-based), computed exactly from the confidence's decimal form."""
    if n <= 0:
        raise InputError("no scenarios: the history is shorter than the horizon")
    if not 0 < confidence < 1:
        raise InputError(f"confidence must be strictly between 0 and 1, got {confidence}")
    return max(1, math.ceil(Fraction(str(confidence)) * n))


def value_at_risk(losses: Sequence[int], confidence: float) -> int:
    """VaR as the k-th order statistic: ``L(k)`` with ``k = ceil(c * n)`` over losses sorted ascending.

    Example: losses 1..10 at 0.9 give ``k = 9`` and VaR 9; at 0.95, ``k = 10`` and VaR 10.
    """
    ordered = sorted(losses)
    return ordered[confidence_index(confidence, len(ordered)) - 1]


def expected_shortfall(losses: Sequence[int], confidence: float) -> int:
    """ES as the mean of ``L(k..n)`` (the VaR and every loss beyond it), rounded up.

    Example: losses 1..10 at 0.8 give ``k = 8`` and ES ``ceil((8 + 9 + 10) / 3) = 9``.
    """
    ordered = sorted(losses)
    tail = ordered[confidence_index(confidence, len(ordered)) - 1 :]
    return -(-sum(tail) // len(tail))


def _lookback(prices: Sequence[PricePoint], lookback_seconds: int | None) -> Sequence[PricePoint]:
    if lookback_seconds is None or not prices:
        return prices
    start = prices[-1].timestamp - lookback_seconds
    return [p for p in prices if p.timestamp >= start]


def historical_im(
    quantity: int,
    price: int,
    scale: int,
    side: Side,
    prices: Sequence[PricePoint],
    model: HistoricalModel,
    stressed: Sequence[PricePoint] = (),
) -> HistoricalIm:
    """Initial margin of one side of a forward by historical simulation (formula in the module docstring).

    Args:
        quantity: Underlying units, 18 decimals.
        price: Today's price, in the feed's decimals (> 0).
        scale: The engine's value scale.
        side: Buyer or seller.
        prices: The look-back history, in time order.
        model: The model's choices.
        stressed: A stressed period whose scenarios are added to the look-back's (anti-procyclicality).

    Returns:
        VaR, ES, the scaled and buffered measure, the floor and the margin, in cash units.

    Raises:
        InputError: If there is no scenario, or an input is out of range.
    """
    if price <= 0 or quantity < 0:
        raise InputError(f"price must be > 0 and quantity >= 0, got {price} and {quantity}")
    horizon = model.horizon_seconds
    ratios = horizon_ratios(_lookback(prices, model.lookback_seconds), horizon)
    if stressed:
        ratios += horizon_ratios(stressed, horizon)
    losses = scenario_losses(quantity, price, scale, side, ratios)
    var = value_at_risk(losses, model.confidence)
    es = expected_shortfall(losses, model.confidence)
    chosen = Fraction(var if model.measure is Measure.VAR else es)
    if model.method is HorizonMethod.SQRT_TIME:
        chosen *= Fraction(model.scaling)
    chosen *= Fraction(_BPS + model.buffer_bps, _BPS)
    measure = math.ceil(chosen)
    floor = -(-position_value(quantity, price, scale) * model.floor_bps // _BPS)
    return HistoricalIm(var=var, es=es, measure=measure, floor=floor, im=max(measure, floor, 0), scenarios=len(losses))
