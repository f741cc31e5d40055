"""The standardised initial-margin schedule (BCBS-IOSCO, *Margin requirements for non-centrally
cleared derivatives*, March 2015, Appendix A).

The simple model: initial margin is a fixed percentage of the trade's notional, by asset class
and, for credit and interest-rate trades, by the remaining maturity (duration bucket)::

    IM = ceil(notional * rate_bps / 10_000)

| asset class    | 0-2 years | 2-5 years | 5+ years |
|----------------|-----------|-----------|----------|
| credit         | 2%        | 5%        | 10%      |
| interest rate  | 1%        | 2%        | 4%       |
| commodity      | 15%       | 15%       | 15%      |
| equity         | 15%       | 15%       | 15%      |
| foreign exchange | 6%      | 6%        | 6%       |
| other          | 15%       | 15%       | 15%      |

Buckets are half-open on the right: a maturity of exactly 2 years is in "2-5 years", exactly
5 years in "5+ years". The net-to-gross adjustment of the schedule
(``0.4 * gross + 0.6 * NGR * gross`` over a netting set) is left out: each trade is margined on
its own gross amount, which is the schedule's most conservative reading. Amounts round up to a
whole cash unit so that the margin held never falls below the schedule.
"""

from __future__ import annotations

from enum import StrEnum

from dfmi_py.errors import InputError

__all__ = ["AssetClass", "schedule_im", "schedule_rate_bps"]

_BPS = 10_000


class AssetClass(StrEnum):
    """The asset classes of the BCBS-IOSCO standardised schedule."""

    CREDIT = "credit"
    COMMODITY = "commodity"
    EQUITY = "equity"
    FX = "fx"
    INTEREST_RATE = "interest_rate"
    OTHER = "other"


# Rates in basis points for the buckets 0-2 years, 2-5 years, 5+ years.
_RATES_BPS: dict[AssetClass, tuple[int, int, int]] = {
    AssetClass.CREDIT: (200, 500, 1_000),
    AssetClass.COMMODITY: (1_500, 1_500, 1_500),
    AssetClass.EQUITY: (1_500, 1_500, 1_500),
    AssetClass.FX: (600, 600, 600),
    AssetClass.INTEREST_RATE: (100, 200, 400),
    AssetClass.OTHER: (1_500, 1_500, 1_500),
}


def schedule_rate_bps(asset_class: AssetClass, maturity_years: float = 0.0) -> int:
    """The schedule's percentage of notional, in basis points.

    Args:
        asset_class: The trade's asset class.
        maturity_years: Remaining maturity in years (only credit and interest rate depend on it).

    Returns:
        The rate in basis points (``600`` is 6%).

    Raises:
        InputError: If the maturity is negative.
    """
    if maturity_years < 0:
        raise InputError(f"maturity must be >= 0 years, got {maturity_years}")
    bucket = 0 if maturity_years < 2 else 1 if maturity_years < 5 else 2
    return _RATES_BPS[AssetClass(asset_class)][bucket]


def schedule_im(notional: int, asset_class: AssetClass, maturity_years: float = 0.0) -> int:
    """Initial margin of one trade under the standardised schedule, ``ceil(notional * rate / 10_000)``.

    Args:
        notional: The trade's notional in cash units (e.g. ``position_value(quantity, price, scale)``).
        asset_class: The trade's asset class.
        maturity_years: Remaining maturity in years.

    Returns:
        The initial margin in cash units, rounded up.

    Raises:
        InputError: If the notional or the maturity is negative.
    """
    if notional < 0:
        raise InputError(f"notional must be >= 0 cash units, got {notional}")
    rate = schedule_rate_bps(asset_class, maturity_years)
    return -(-notional * rate // _BPS)
