"""How values are shown to a person (pure functions): times, amounts, roles, enums, error arguments."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from eth_utils.crypto import keccak

from dfmi_py import display
from dfmi_py.api.derivatives import TradeState
from dfmi_py.api.netting import RoundState

#: 2026-11-30T06:55:41Z
T = 1_796_021_741


def test_times_are_iso_8601_in_utc_and_zero_is_never() -> None:
    assert display.iso(T) == "2026-11-30T06:55:41Z"
    assert display.iso(0) == "never"
    assert display.when(0, T) == "never"


def test_a_time_beyond_the_year_9999_is_shown_as_the_number_it_is() -> None:
    assert display.iso(display.LAST_ISO_SECOND) == "9999-12-31T23:59:59Z"
    assert display.iso(2**256 - 1) == f"{2**256 - 1:,}"
    assert display.when(2**64, T) == f"{2**64:,}"


def test_ages_and_durations_use_the_two_largest_units() -> None:
    assert display.duration(0) == "0 s"
    assert display.duration(59) == "59 s"
    assert display.duration(3 * 60 + 12) == "3 min 12 s"
    assert display.duration(86_400) == "1 d"
    assert display.duration(3 * 86_400 + 4 * 3_600 + 5 * 60) == "3 d 4 h"
    assert display.age(T - 192, T) == "3 min 12 s ago"
    assert display.age(T + 3_600, T) == "in 1 h"
    assert display.when(T, T + 192) == "2026-11-30T06:55:41Z (3 min 12 s ago)"


def test_amounts_have_separators_decimals_and_symbol() -> None:
    assert display.amount(1_250_500_000, 6, "DSD") == "1,250.500000 DSD"
    assert display.amount(-90 * 10**6, 6) == "-90.000000"
    assert display.number(1_234_567) == "1,234,567"


def test_roles_are_shown_by_name_and_unknown_hashes_as_hex() -> None:
    minter = keccak(text="MINTER_ROLE")
    assert display.role_name(minter) == "MINTER_ROLE"
    assert display.role_name("0x" + minter.hex()) == "MINTER_ROLE"
    assert display.role_name(bytes(32)) == "DEFAULT_ADMIN_ROLE"
    assert display.role_name("0x" + "ab" * 32) == "0x" + "ab" * 32


def test_enum_values_by_name_and_out_of_range_values_said_so() -> None:
    assert display.enum_name(TradeState.MARGIN_CALL) == "MARGIN_CALL"
    assert display.enum_name(3, RoundState) == "VERIFIED"
    assert display.enum_name(9, RoundState) == "RoundState(9)"
    assert display.enum_name(3) == "3"


@pytest.mark.parametrize(
    ("name", "abi_type", "value", "shown"),
    [
        # points in time: ISO 8601
        ("nowTime", "uint256", T, "2026-11-30T06:55:41Z"),
        ("updatedAt", "uint256", T, "2026-11-30T06:55:41Z"),
        ("roundUpdatedAt", "uint256", T, "2026-11-30T06:55:41Z"),
        ("cureDeadline", "uint256", T, "2026-11-30T06:55:41Z"),
        ("deadline", "uint256", T, "2026-11-30T06:55:41Z"),
        ("cutoff", "uint256", T, "2026-11-30T06:55:41Z"),
        ("maturity", "uint256", T, "2026-11-30T06:55:41Z"),
        ("blockTimestamp", "uint256", T, "2026-11-30T06:55:41Z"),
        ("deadline", "uint256", 0, "0"),
        ("deadline", "uint256", 2**256 - 1, f"{2**256 - 1:,}"),
        # lengths of time
        ("maxAge", "uint256", 3_600, "1 h"),
        ("curePeriod", "uint64", 3 * 86_400, "3 d"),
        ("replenishmentWindow", "uint256", 0, "0 s"),
        ("heartbeat", "uint32", 90, "1 min 30 s"),
        # identifiers and counters as they are
        ("tradeId", "uint256", 12_345, "12345"),
        ("nonce", "uint256", 1_000, "1000"),
        ("lastRound", "uint80", 18_446_744_073_709_551_617, "18446744073709551617"),
        # any other integer: units unknown, separators
        ("amount", "uint256", 1_234_567, "1,234,567"),
        ("answer", "int256", -1_500, "-1,500"),
        # the rest
        ("neededRole", "bytes32", "0x" + keccak(text="ISSUER_ROLE").hex(), "ISSUER_ROLE"),
        ("id", "bytes32", "0x" + "01" * 32, "0x" + "01" * 32),
        ("flagged", "bool", True, "true"),
        ("str", "string", "x", "'x'"),
        ("account", "address", "0x" + "11" * 20, "0x" + "11" * 20),
        ("indices", "uint256[]", (0, 1_000), "[0, 1000]"),
        ("instructionIds", "bytes32[]", (b"\x02" * 32,), "[0x" + "02" * 32 + "]"),
    ],
)
def test_an_error_argument_is_shown_by_the_rule_its_name_and_type_give(
    name: str, abi_type: str, value: object, shown: str
) -> None:
    assert display.abi_value(name, abi_type, value) == shown


def test_an_enum_argument_is_shown_by_name() -> None:
    assert display.abi_value("actual", "uint8", 1, RoundState) == "COLLECTING"
    assert display.abi_value("actual", "uint8", 7, RoundState) == "RoundState(7)"


def test_a_call_is_shown_with_its_arguments() -> None:
    assert display.call_text("E", {"a": "1", "b": "X"}) == "E(a=1, b=X)"
    assert display.call_text("E", {}) == "E()"


def test_last_word_of_camel_case_names() -> None:
    assert [display.last_word(n) for n in ("roundUpdatedAt", "nowTime", "maxAge", "roundID", "x")] == [
        "at",
        "time",
        "age",
        "id",
        "x",
    ]


def test_json_keeps_raw_integers_and_shows_enums_and_bytes_by_name_and_hex() -> None:
    @dataclass
    class Row:
        state: TradeState
        amount: int
        ref: bytes

    assert display.jsonable({"rows": [Row(TradeState.LIVE, 10**30, b"\x01")]}) == {
        "rows": [{"state": "LIVE", "amount": 10**30, "ref": "0x01"}]
    }
