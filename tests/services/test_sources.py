"""Source quote validation: every refusal with its reason, the fallback order, exact conversion."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dfmi_py.errors import ConfigError
from dfmi_py.services.sources import (
    INT128_MAX,
    AcceptedQuote,
    Quote,
    QuoteProblem,
    Refusal,
    SourcePolicy,
    select_price,
    to_answer,
    validate_quote,
)
from tests.helpers import PURE_EXAMPLES

NOW = 1_800_000_000
POLICY = SourcePolicy(decimals=8, max_age=60, max_jump_bps=1_000, jump_reference_max_age=300)
PREVIOUS = AcceptedQuote("csv", Decimal("100"), 100 * 10**8, NOW - 30)


def refusal(value: object, timestamp: int | None = NOW, previous: AcceptedQuote | None = None) -> QuoteProblem:
    result = validate_quote(Quote("s", value, timestamp), NOW, previous, POLICY)
    assert isinstance(result, Refusal), result
    assert result.source == "s"
    return result.problem


def accepted(value: object, timestamp: int = NOW, previous: AcceptedQuote | None = None) -> AcceptedQuote:
    result = validate_quote(Quote("s", value, timestamp), NOW, previous, POLICY)
    assert isinstance(result, AcceptedQuote), result
    return result


@pytest.mark.parametrize("value", [None, "", "   "])
def test_validate_refusesMissingValue(value: object) -> None:
    assert refusal(value) is QuoteProblem.MISSING


def test_validate_refusesMissingTimestamp() -> None:
    assert refusal("101.5", timestamp=None) is QuoteProblem.MISSING


@pytest.mark.parametrize(
    "value", ["abc", "1.2.3", "NaN", "Infinity", "-inf", True, [1], {"p": 1}, b"100", "1e99999", float("nan")]
)
def test_validate_refusesNonNumeric(value: object) -> None:
    assert refusal(value) is QuoteProblem.NOT_NUMERIC


@pytest.mark.parametrize("value", ["0", "-1", -5, Decimal("-0.00000001"), "0.000000004", "1e-99999"])
def test_validate_refusesNonPositive(value: object) -> None:
    """Including a positive price that rounds to 0 at the feed's 8 decimals."""
    assert refusal(value) is QuoteProblem.NOT_POSITIVE


@pytest.mark.parametrize("value", ["1e40", str(INT128_MAX), "1e9999"])
def test_validate_refusesWhatAnInt128AnswerCannotHold(value: object) -> None:
    assert refusal(value) is QuoteProblem.TOO_LARGE


def test_validate_refusesAQuoteOlderThanTheMaxAge_acceptsOneAtIt() -> None:
    assert refusal("100", timestamp=NOW - 61) is QuoteProblem.STALE
    assert accepted("100", timestamp=NOW - 60).timestamp == NOW - 60


def test_validate_refusesAQuoteFromTheFutureBeyondTheSkew() -> None:
    assert refusal("100", timestamp=NOW + 6) is QuoteProblem.FROM_FUTURE
    assert accepted("100", timestamp=NOW + 5).answer == 100 * 10**8


def test_validate_refusesAJumpBeyondTheLimit_acceptsOneAtIt() -> None:
    assert refusal("110.00000001", previous=PREVIOUS) is QuoteProblem.JUMP
    assert refusal("89.99999999", previous=PREVIOUS) is QuoteProblem.JUMP
    assert accepted("110", previous=PREVIOUS).answer == 110 * 10**8
    assert accepted("90", previous=PREVIOUS).answer == 90 * 10**8


def test_validate_aJumpThatPersistsBeyondTheReferenceAgeIsAccepted() -> None:
    """A real move larger than the limit does not stop the feed for good."""
    old = AcceptedQuote("csv", Decimal("100"), 100 * 10**8, NOW - 301)
    assert accepted("150", previous=old).answer == 150 * 10**8
    recent = AcceptedQuote("csv", Decimal("100"), 100 * 10**8, NOW - 300)
    assert refusal("150", previous=recent) is QuoteProblem.JUMP


def test_validate_refusalSaysWhatWasWrong() -> None:
    result = validate_quote(Quote("http", "150", NOW), NOW, PREVIOUS, POLICY)
    assert isinstance(result, Refusal)
    assert result.detail == "price 150 moved 5000.00 bps from 100, max 1000"


@pytest.mark.parametrize(
    ("value", "answer"),
    [
        ("101.5", 10_150_000_000),
        (" 101.5 ", 10_150_000_000),
        (101, 10_100_000_000),
        (Decimal("0.00000001"), 1),
        (0.1, 10_000_000),  # a float by its shortest repr, not its binary expansion
        ("1.000000005", 100_000_000),  # half to even: down to ...0
        ("1.000000015", 100_000_002),  # half to even: up to ...2
        ("1.0000000150000000000000000000001", 100_000_002),
        ("12345678901234567890.12345678", 1_234_567_890_123_456_789_012_345_678),
    ],
)
def test_validate_convertsToTheFeedDecimalsExactly(value: object, answer: int) -> None:
    assert accepted(value).answer == answer


def test_select_fallsBackToTheNextSourceInOrder_keepingEveryRefusal() -> None:
    quotes = [Quote("csv", None, NOW), Quote("http", "abc", NOW), Quote("sim", "101", NOW), Quote("x", "102", NOW)]
    selection = select_price(quotes, NOW, None, POLICY)
    assert selection.accepted == AcceptedQuote("sim", Decimal(101), 101 * 10**8, NOW)
    assert [(r.source, r.problem) for r in selection.refusals] == [
        ("csv", QuoteProblem.MISSING),
        ("http", QuoteProblem.NOT_NUMERIC),
    ]


def test_select_prefersTheFirstSourceWhenItIsValid() -> None:
    selection = select_price([Quote("a", "100", NOW), Quote("b", "105", NOW)], NOW, None, POLICY)
    assert selection.accepted is not None
    assert selection.accepted.source == "a"
    assert selection.refusals == ()


def test_select_noneWhenEverySourceIsRefused() -> None:
    quotes = [Quote("a", "0", NOW), Quote("b", "100", NOW - 3_600)]
    selection = select_price(quotes, NOW, None, POLICY)
    assert selection.accepted is None
    assert [r.problem for r in selection.refusals] == [QuoteProblem.NOT_POSITIVE, QuoteProblem.STALE]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"decimals": -1},
        {"decimals": 37},
        {"max_age": 0},
        {"max_jump_bps": 0},
        {"jump_reference_max_age": -1},
        {"max_future_skew": -1},
    ],
)
def test_policy_refusesInvalidSettings(kwargs: dict[str, int]) -> None:
    base = {"decimals": 8, "max_age": 60, "max_jump_bps": 100, "jump_reference_max_age": 60}
    with pytest.raises(ConfigError):
        SourcePolicy(**(base | kwargs))


@settings(max_examples=PURE_EXAMPLES)
@given(
    units=st.integers(min_value=1, max_value=10**30),
    decimals=st.integers(min_value=0, max_value=18),
    extra=st.integers(min_value=0, max_value=10),
)
def test_fuzz_toAnswer_roundTripsEveryRepresentablePrice(units: int, decimals: int, extra: int) -> None:
    """A price with at most the feed's decimals converts to exactly its units, however written."""
    digits = str(units).rjust(decimals + 1, "0")
    text = f"{digits[:-decimals]}.{digits[-decimals:]}" + "0" * extra if decimals else digits
    assert to_answer(Decimal(text), decimals) == units


@settings(max_examples=PURE_EXAMPLES)
@given(
    previous=st.integers(min_value=1, max_value=10**12),
    price=st.integers(min_value=1, max_value=10**12),
    jump_bps=st.integers(min_value=1, max_value=20_000),
)
def test_fuzz_jump_refusedExactlyWhenBeyondTheLimit(previous: int, price: int, jump_bps: int) -> None:
    policy = SourcePolicy(decimals=0, max_age=60, max_jump_bps=jump_bps, jump_reference_max_age=60)
    reference = AcceptedQuote("a", Decimal(previous), previous, NOW)
    result = validate_quote(Quote("a", price, NOW), NOW, reference, policy)
    beyond = abs(price - previous) * 10_000 > previous * jump_bps
    assert isinstance(result, Refusal) == beyond
    if beyond:
        assert isinstance(result, Refusal)
        assert result.problem is QuoteProblem.JUMP
