"""Conversions between human amounts ("12.50") and integer token units (pure functions)."""

from __future__ import annotations

from decimal import Context, Decimal, InvalidOperation

from dfmi_py.errors import InputError

#: Enough digits for any uint256 (78 digits) with 18 decimals, so no conversion rounds.
_EXACT = Context(prec=100)


def to_units(amount: str | int | Decimal, decimals: int) -> int:
    """Convert a human amount to integer units of a token with ``decimals`` decimals.

    Raises:
        InputError: when the amount is not a number, is negative, or has more decimals than the
            token can represent.
    """
    _require_decimals(decimals)
    if isinstance(amount, bool) or not isinstance(amount, (str, int, Decimal)):
        kind = "a float is inexact: give the amount as text" if isinstance(amount, float) else "give text or an int"
        raise InputError(f"an amount must be a decimal text such as '12.50', got {amount!r} ({kind})")
    try:
        value = _EXACT.create_decimal(amount.strip() if isinstance(amount, str) else amount)
    except InvalidOperation:
        raise InputError(f"{amount!r} is not a number (e.g. 12.50)") from None
    if not value.is_finite() or value < 0:
        raise InputError(f"amount must be a non-negative number, got {amount!r}")
    scaled = value.scaleb(decimals, context=_EXACT)
    if scaled != scaled.to_integral_value():
        raise InputError(f"{amount} has more than {decimals} decimal places")
    return int(scaled)


def _require_decimals(decimals: object) -> None:
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 77:
        raise InputError(f"decimals must be a whole number from 0 to 77, got {decimals!r}")


def _require_int(units: object) -> int:
    if isinstance(units, bool) or not isinstance(units, int):
        raise InputError(f"units must be a whole number of the token's smallest unit (int), got {units!r}")
    return units


def from_units(units: int, decimals: int) -> Decimal:
    """Convert integer units to a :class:`~decimal.Decimal` amount.

    Raises:
        InputError: ``units`` is not an int or ``decimals`` not from 0 to 77.
    """
    _require_decimals(decimals)
    return Decimal(_require_int(units)).scaleb(-decimals, context=_EXACT)


def format_units(units: int, decimals: int, symbol: str = "") -> str:
    """Format integer units as ``"1,234.50 DSD"``."""
    text = f"{from_units(units, decimals):,.{decimals}f}"  # format() does not round a Decimal
    return f"{text} {symbol}".rstrip()


#: Seconds per unit of a typed duration.
_DURATION_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3_600, "d": 86_400, "w": 604_800}


def parse_duration(text: str) -> int:
    """Seconds in a typed duration: ``3600``, ``90s``, ``15m``, ``12h``, ``30d``, ``2w`` or a sum
    such as ``1d12h`` (a leading ``+`` is allowed).

    Raises:
        InputError: when the text is not such a duration or is not positive.
    """
    if not isinstance(text, str):
        raise InputError(f"a duration must be text such as 3600, 90s, 15m, 12h or 30d, got {text!r}")
    body = text.strip().removeprefix("+").lower()
    if body.isdigit():
        seconds = int(body)
    else:
        seconds, number = 0, ""
        rest = body
        while rest:
            if rest[0].isdigit():
                number += rest[0]
                rest = rest[1:]
                continue
            unit = next((u for u in sorted(_DURATION_UNITS, key=len, reverse=True) if rest.startswith(u)), None)
            if unit is None or not number:
                raise InputError(f"{text!r} is not a duration (e.g. 3600, 90s, 15m, 12h, 30d, 1d12h)")
            seconds += int(number) * _DURATION_UNITS[unit]
            number, rest = "", rest[len(unit) :]
        if number or not body:
            raise InputError(f"{text!r} is not a duration (e.g. 3600, 90s, 15m, 12h, 30d, 1d12h)")
    if seconds <= 0:
        raise InputError(f"a duration must be positive, got {text!r}")
    return seconds
