"""How the toolkit shows values to a person: the same everywhere (pure functions).

Times are ISO 8601 in UTC (``2026-11-30T06:55:41Z``) with, where it helps, an age
(``3 min 12 s ago``); token amounts are whole units with thousands separators and the symbol
(``1,250.500000 DSD``); enum values are their names; role hashes are the roles' names. Machine
output (``--json``) keeps integers and raw values: see :func:`jsonable`.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from eth_utils.crypto import keccak

from dfmi_py.units import format_units, from_units

#: Every role the contracts define, by the hash they store (``DEFAULT_ADMIN_ROLE`` is zero).
ROLE_NAMES: dict[bytes, str] = {bytes(32): "DEFAULT_ADMIN_ROLE"} | {
    keccak(text=name): name
    for name in (
        "COMPLIANCE_ROLE",
        "REGULATOR_ROLE",
        "MASTER_MINTER_ROLE",
        "MINTER_ROLE",
        "BURNER_ROLE",
        "PAUSER_ROLE",
        "ISSUER_ROLE",
    )
}


#: The last second ISO 8601 can show (9999-12-31T23:59:59Z); a later "time" is shown as a number
#: (a contract's "no deadline" is often ``type(uint256).max``).
LAST_ISO_SECOND = 253_402_300_799


def iso(timestamp: int) -> str:
    """Unix seconds as ISO 8601 in UTC; ``"never"`` for 0 (the contracts' "not set"); beyond the
    year 9999, the integer itself."""
    if timestamp <= 0:
        return "never"
    if timestamp > LAST_ISO_SECOND:
        return number(timestamp)
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def duration(seconds: int) -> str:
    """``3 d 4 h``, ``2 h 5 min``, ``7 min 3 s``, ``12 s``: the two largest units."""
    seconds = abs(int(seconds))
    parts: list[str] = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60), ("s", 1)):
        if seconds >= size or (unit == "s" and not parts):
            parts.append(f"{seconds // size} {unit}")
            seconds %= size
        if len(parts) == 2:
            break
    return " ".join(parts)


def age(timestamp: int, now: int) -> str:
    """How long ago (or in how long) ``timestamp`` is from ``now``."""
    if timestamp <= 0:
        return "never"
    delta = now - timestamp
    return f"{duration(delta)} ago" if delta >= 0 else f"in {duration(delta)}"


def when(timestamp: int, now: int) -> str:
    """``2026-11-30T06:55:41Z (3 min ago)``."""
    if timestamp <= 0:
        return "never"
    if timestamp > LAST_ISO_SECOND:
        return iso(timestamp)
    return f"{iso(timestamp)} ({age(timestamp, now)})"


def amount(units: int, decimals: int, symbol: str = "") -> str:
    """Token units as whole units with thousands separators: ``1,250.500000 DSD``."""
    return format_units(units, decimals, symbol)


def number(value: int) -> str:
    """An integer with thousands separators (gas, counts, raw units)."""
    return f"{value:,}"


def decimal(units: int, decimals: int) -> str:
    """A fixed-point value (a quantity, a price) with thousands separators and no trailing zeros:
    ``1,250.5``, ``5``."""
    text = f"{from_units(units, decimals):,.{decimals}f}"  # format() does not round a Decimal
    return text.rstrip("0").rstrip(".") if "." in text else text


def role_name(role: bytes | str) -> str:
    """The name of a role hash (bytes or ``0x…`` hex); the hex itself when it is no known role."""
    raw = bytes.fromhex(role[2:] if role.startswith("0x") else role) if isinstance(role, str) else bytes(role)
    return ROLE_NAMES.get(raw, "0x" + raw.hex())


def enum_name(value: enum.Enum | int, kind: type[enum.Enum] | None = None) -> str:
    """The name of an enum value (``kind`` converts a raw integer first)."""
    if isinstance(value, enum.Enum):
        return value.name
    if kind is not None:
        try:
            return kind(value).name
        except ValueError:
            return f"{kind.__name__}({value})"
    return str(value)


def jsonable(value: Any) -> Any:
    """``value`` as JSON-ready data for ``--json``: dataclasses and mappings to objects, enums to
    their names, bytes to ``0x`` hex, integers kept exact (never floats)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, Iterable):
        return [jsonable(v) for v in value]
    return str(value)


# ---------------------------------------------------------------------- values of unknown unit

#: Last words of an argument's name that make an integer a point in time, shown ISO 8601:
#: ``nowTime``, ``updatedAt``, ``roundUpdatedAt``, ``deadline``, ``cureDeadline``, ``cutoff``,
#: ``maturity``, ``timestamp``, ``blockTimestamp``.
TIME_WORDS = frozenset({"at", "time", "timestamp", "deadline", "cutoff", "maturity"})
#: Last words that make an integer a length of time in seconds, shown as a duration:
#: ``curePeriod``, ``jumpWindow``, ``replenishmentWindow``, ``maxAge``, ``maxPriceAge``, ``heartbeat``.
DURATION_WORDS = frozenset({"period", "window", "age", "heartbeat"})
#: Last words that make an integer an identifier or a counter, shown without separators:
#: ``tradeId``, ``roundId``, ``nonce``, ``lastRound``, ``index``, ``indices``.
IDENTIFIER_WORDS = frozenset({"id", "ids", "nonce", "round", "index", "indices"})

_WORDS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")


def last_word(name: str) -> str:
    """The last word of a camelCase name, lower case: ``roundUpdatedAt`` -> ``at``."""
    words = _WORDS.findall(name)
    return words[-1].lower() if words else name.lower()


def abi_value(name: str, abi_type: str, value: Any, kind: type[enum.Enum] | None = None) -> str:
    """One ABI value whose unit the reader does not know (a custom error's argument), for a person.

    The rule, from the ABI alone: an enum (``kind``, the Python mirror of its Solidity enum) by
    name; a ``bytes32`` whose name ends in ``Role`` by the role's name; an integer whose name ends
    in a word of :data:`TIME_WORDS` as ISO 8601, of :data:`DURATION_WORDS` as a duration, of
    :data:`IDENTIFIER_WORDS` as it is, and any other integer (an amount, a price: units unknown
    here) with thousands separators; a bool as ``true``/``false``; addresses and bytes as hex;
    arrays element by element.
    """
    if abi_type.endswith("]"):
        element = abi_type[: abi_type.rindex("[")]
        return "[" + ", ".join(abi_value(name, element, v, kind) for v in value) + "]"
    if kind is not None and isinstance(value, int):
        return enum_name(value, kind)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes | bytearray):
        value = "0x" + bytes(value).hex()
    word = last_word(name)
    if abi_type == "bytes32" and word == "role" and isinstance(value, str):
        return role_name(value)
    if isinstance(value, int) and abi_type.startswith(("uint", "int")):
        if word in TIME_WORDS and value > 0:
            return iso(value)
        if word in DURATION_WORDS:
            return duration(value)
        if word in IDENTIFIER_WORDS:
            return str(value)
        return number(value)
    if abi_type == "string":
        return repr(value)
    return str(value)


def call_text(name: str, shown: Mapping[str, str]) -> str:
    """``Name(a=1, b=2)``: an error (or call) with its arguments already shown."""
    return f"{name}(" + ", ".join(f"{k}={v}" for k, v in shown.items()) + ")"
