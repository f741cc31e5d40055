"""The paper's claim in numbers: settling every round shrinks the exposure initial margin must cover.

For the same trades and price history, each :class:`SettlementRegime` settles variation margin
every ``settle_every_seconds`` at the price of that moment, and the cash arrives ``lag_seconds``
later. Its margin period of risk is ``settle_every + lag + closeout`` seconds: the longest time
between the last price whose margin was collected and the close-out of a defaulter's position.
Under dFMI the period is one oracle round plus a cure period (hours); under a clearing house with
daily margining and a settlement lag it is days.

Two figures per regime:

* **Initial margin**: the historical-simulation IM (:func:`dfmi_py.risk.historical.historical_im`)
  of each side of each trade at the regime's margin period, summed over the book.
* **Current exposure**: at every observation ``t`` of the history, a trade's uncollateralised
  mark-to-market is ``|value(P_t) - value(P_c)|`` where ``P_c`` is the price of the latest
  settlement whose cash arrived strictly before ``t`` (settlement times are
  ``start + k * settle_every``, cash at ``+ lag``; before the first arrival ``P_c`` is the first
  price): the exposure just before a payment due at ``t`` is made, the most it reaches. The book's exposure is
  the sum over trades; the table gives its peak and its mean over the observations.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from dfmi_py.errors import InputError
from dfmi_py.risk.forward import position_value
from dfmi_py.risk.historical import HistoricalModel, PricePoint, Side, historical_im

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped]

__all__ = ["BookTrade", "RegimeFigures", "SettlementRegime", "compare_regimes", "regime_figures"]


@dataclass(frozen=True)
class SettlementRegime:
    """How often margin is settled and how long the cash takes to arrive.

    Attributes:
        name: A label for the table, e.g. ``"dFMI, every round"`` or ``"CCP, daily T+1"``.
        settle_every_seconds: Time between settlements (> 0).
        lag_seconds: Time from a settlement's price to its cash arriving (>= 0).
        closeout_seconds: Time to close out a defaulter after the last collected margin (>= 0).
    """

    name: str
    settle_every_seconds: int
    lag_seconds: int = 0
    closeout_seconds: int = 0

    def __post_init__(self) -> None:
        if self.settle_every_seconds <= 0 or self.lag_seconds < 0 or self.closeout_seconds < 0:
            raise InputError(
                f"regime {self.name!r}: need settle_every > 0, lag >= 0 and closeout >= 0 seconds, got "
                f"{self.settle_every_seconds}, {self.lag_seconds}, {self.closeout_seconds}"
            )

    @property
    def mpor_seconds(self) -> int:
        """The margin period of risk: ``settle_every + lag + closeout``."""
        return self.settle_every_seconds + self.lag_seconds + self.closeout_seconds


@dataclass(frozen=True)
class BookTrade:
    """A forward in the book: its quantity (18 decimals); both sides are margined."""

    trade_id: int
    quantity: int


@dataclass(frozen=True)
class RegimeFigures:
    """One regime's figures for the book, cash units.

    Attributes:
        regime: The regime.
        im: Sum over trades and sides of the historical-simulation IM.
        peak_exposure: Largest uncollateralised mark-to-market of the book.
        mean_exposure: Its mean over the observations (rounded down).
    """

    regime: SettlementRegime
    im: int
    peak_exposure: int
    mean_exposure: int

    def record(self) -> dict[str, Any]:
        """One flat row for the table."""
        return {
            "regime": self.regime.name,
            "settle_every_s": self.regime.settle_every_seconds,
            "lag_s": self.regime.lag_seconds,
            "closeout_s": self.regime.closeout_seconds,
            "mpor_s": self.regime.mpor_seconds,
            "im": self.im,
            "peak_exposure": self.peak_exposure,
            "mean_exposure": self.mean_exposure,
        }


def _exposures(prices: Sequence[PricePoint], quantity: int, scale: int, regime: SettlementRegime) -> list[int]:
    """Uncollateralised mark-to-market of one trade at every observation (see the module docstring)."""
    times = [p.timestamp for p in prices]
    start = times[0]
    out = []
    for p in prices:
        # Measured just before any payment due at t: the latest settlement s = start + k * every
        # whose cash arrived strictly before t, s + lag < t.
        elapsed = p.timestamp - start - regime.lag_seconds
        if elapsed <= 0:
            collected = prices[0].price
        else:
            settled_at = start + ((elapsed - 1) // regime.settle_every_seconds) * regime.settle_every_seconds
            collected = prices[bisect_right(times, settled_at) - 1].price
        out.append(abs(position_value(quantity, p.price, scale) - position_value(quantity, collected, scale)))
    return out


def regime_figures(
    trades: Sequence[BookTrade],
    prices: Sequence[PricePoint],
    price: int,
    scale: int,
    model: HistoricalModel,
    regime: SettlementRegime,
) -> RegimeFigures:
    """IM and current exposure of the book under one regime.

    Args:
        trades: The book.
        prices: The price history (time order), used both for the IM's scenarios and for the exposure.
        price: Today's price, the IM's starting point.
        scale: The engine's value scale.
        model: The IM model; its margin period is replaced by the regime's.
        regime: The settlement regime.

    Returns:
        The regime's figures.

    Raises:
        InputError: If the history is empty or too short for the regime's margin period.
    """
    if not prices:
        raise InputError("no price history")
    at_mpor = replace(model, mpor_seconds=regime.mpor_seconds)
    im = 0
    book = [0] * len(prices)
    for t in trades:
        for side in (Side.BUYER, Side.SELLER):
            im += historical_im(t.quantity, price, scale, side, prices, at_mpor).im
        for i, e in enumerate(_exposures(prices, t.quantity, scale, regime)):
            book[i] += e
    return RegimeFigures(regime, im, max(book), sum(book) // len(book))


def compare_regimes(
    trades: Sequence[BookTrade],
    prices: Sequence[PricePoint],
    price: int,
    scale: int,
    model: HistoricalModel,
    regimes: Sequence[SettlementRegime],
) -> pd.DataFrame:
    """The table: one row per regime (IM, peak and mean exposure), as in :meth:`RegimeFigures.record`.

    Args:
        trades: The book.
        prices: The price history.
        price: Today's price.
        scale: The engine's value scale.
        model: The IM model (its margin period is set per regime).
        regimes: The regimes to compare, e.g. every round against daily with a lag.

    Returns:
        A DataFrame with columns regime, settle_every_s, lag_s, closeout_s, mpor_s, im,
        peak_exposure, mean_exposure.
    """
    import pandas as pd  # imported on use: the rest of the risk package does not need it

    rows = [regime_figures(trades, prices, price, scale, model, r).record() for r in regimes]
    return pd.DataFrame(rows)
