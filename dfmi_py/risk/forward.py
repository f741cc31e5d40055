"""Forward valuation exactly as the derivative engine computes it (integer arithmetic).

The value of a position of ``quantity`` underlying units (18 decimals) at ``price`` (oracle
decimals) is ``quantity * price // scale`` cash units, with
``scale = 10 ** (18 + oracle decimals - cash decimals)``. Variation margin is the difference of two
values, so the margin paid over a trade's life telescopes to value(final) - value(contract price).
"""

from __future__ import annotations


def value_scale(oracle_decimals: int, cash_decimals: int) -> int:
    """The engine's ``valueScale()`` for these decimals."""
    exponent = 18 + oracle_decimals - cash_decimals
    if exponent < 0:
        raise ValueError(f"cash has more decimals ({cash_decimals}) than 18 + oracle decimals ({oracle_decimals})")
    return int(10**exponent)


def position_value(quantity: int, price: int, scale: int) -> int:
    """Value of the long position in cash units (prices are positive, so // is the contract's /)."""
    if quantity < 0 or price <= 0:
        raise ValueError(f"quantity must be >= 0 and price > 0, got {quantity} and {price}")
    return quantity * price // scale


def variation_margin(quantity: int, old_price: int, new_price: int, scale: int) -> int:
    """Cash the buyer receives (negative: pays) when the price moves from ``old_price`` to ``new_price``."""
    return position_value(quantity, new_price, scale) - position_value(quantity, old_price, scale)
