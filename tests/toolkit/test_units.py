"""Amount conversions (pure)."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dfmi_py.errors import InputError
from dfmi_py.units import format_units, from_units, parse_duration, to_units


def test_to_units_scales_by_decimals():
    assert to_units("1250.50", 6) == 1_250_500_000
    assert to_units(3, 0) == 3
    assert to_units(Decimal("0.000001"), 6) == 1


@pytest.mark.parametrize("bad", ["abc", "-1", "NaN", "Infinity", "1e400x"])
def test_to_units_rejects_non_amounts(bad):
    with pytest.raises(InputError):
        to_units(bad, 6)


def test_to_units_rejects_more_decimals_than_the_token_has():
    with pytest.raises(InputError, match="more than 6 decimal places"):
        to_units("0.0000001", 6)


def test_format_units_shows_thousands_and_symbol():
    assert format_units(1_250_500_000, 6, "DSD") == "1,250.500000 DSD"


@given(st.integers(min_value=0, max_value=2**200), st.integers(min_value=0, max_value=18))
def test_units_round_trip(units, decimals):
    assert to_units(from_units(units, decimals), decimals) == units


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("3600", 3_600), ("90s", 90), ("15m", 900), ("15min", 900), ("12h", 43_200), ("+30d", 2_592_000),
     ("2w", 1_209_600), ("1d12h", 129_600), (" 1H30M ", 5_400)],
)  # fmt: skip
def test_parse_duration_reads_numbers_units_and_sums(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "0", "h", "12x", "1.5h", "-3h", "12h5", "d1"])
def test_parse_duration_refuses_what_is_not_a_positive_duration(bad):
    with pytest.raises(InputError):
        parse_duration(bad)
