"""Default-fund sizing: stress scenarios, uncovered losses, cover-1 / cover-2 and contributions."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dfmi_py.errors import InputError
from dfmi_py.risk import (
    Position,
    PricePoint,
    StressScenario,
    historical_scenarios,
    hypothetical_scenarios,
    proportional_split,
    size_fund,
    value_scale,
)

UNIT = 10**18
SCALE = value_scale(0, 0)
PRICES = {"EUR": 100, "OIL": 50}


def hand_book() -> list[Position]:
    """Trade 1: A buys 10 EUR from B (IM 100 each); trade 2: C buys 5 EUR from D (IM 20 each);
    trade 3: A sells 4 OIL to C (IM 30 each)."""
    return [
        Position("A", "EUR", 10 * UNIT, True, 100),
        Position("B", "EUR", 10 * UNIT, False, 100),
        Position("C", "EUR", 5 * UNIT, True, 20),
        Position("D", "EUR", 5 * UNIT, False, 20),
        Position("A", "OIL", 4 * UNIT, False, 30),
        Position("C", "OIL", 4 * UNIT, True, 30),
    ]


def test_sizeFund_coverTwoOnAHandMadeBook():
    """Scenarios: EUR -30% (70), EUR +30% (130), OIL +50% (75).

    Losses      EUR -30%   EUR +30%   OIL +50%   IM    worst   uncovered
    A             300       -300        100      130    300      170   (EUR -30%)
    B            -300        300          0      100    300      200   (EUR +30%)
    C             150       -150       -100       50    150      100   (EUR -30%)
    D            -150        150          0       20    150      130   (EUR +30%)

    cover-1 = 200 (B); cover-2 = 200 + 170 = 370 (B and A, each in its own worst scenario).
    Contributions of 370 pro rata to 170 : 200 : 100 : 130 (sum 600): floors 104, 123, 61, 80 (368)
    with remainders 500, 200, 400, 100 (of 600): the two units left go to A and C -> 105, 123, 62, 80.
    """
    scenarios = hypothetical_scenarios(PRICES, {"EUR": [-3_000, 3_000], "OIL": [5_000]})
    assert [s.name for s in scenarios] == ["EUR -3000bps", "EUR +3000bps", "OIL +5000bps"]
    sizing = size_fund(hand_book(), PRICES, SCALE, scenarios, fund_size=300)
    rows = {m.member: (m.im, m.worst_loss, m.uncovered, m.scenario, m.contribution) for m in sizing.members}
    assert rows == {
        "A": (130, 300, 170, "EUR -3000bps", 105),
        "B": (100, 300, 200, "EUR +3000bps", 123),
        "C": (50, 150, 100, "EUR -3000bps", 62),
        "D": (20, 150, 130, "EUR +3000bps", 80),
    }
    assert (sizing.cover1, sizing.cover2, sizing.target) == (200, 370, 370)
    assert (sizing.covers_1, sizing.covers_2) == (True, False)
    assert sum(m.contribution for m in sizing.members) == sizing.target


def test_sizeFund_floorSetsTheTargetWhenCoverTwoIsSmaller():
    scenarios = hypothetical_scenarios(PRICES, {"EUR": [-3_000, 3_000]})
    sizing = size_fund(hand_book(), PRICES, SCALE, scenarios, fund_size=1_000, floor=1_000)
    # Uncovered as in the hand-made book (A 170, B 200, C 100, D 130): cover-2 370 < floor 1 000.
    # 1 000 pro rata to 170 : 200 : 100 : 130: floors 283, 333, 166, 216 (998), remainders 200, 200,
    # 400, 400 (of 600): the two units left go to C and D.
    assert (sizing.cover2, sizing.target) == (370, 1_000)
    assert [m.contribution for m in sizing.members] == [283, 333, 167, 217]
    assert sizing.covers_2


def test_sizeFund_imCoveringEveryLossNeedsOnlyTheFloor():
    positions = [Position("A", "EUR", UNIT, True, 1_000), Position("B", "EUR", UNIT, False, 1_000)]
    scenarios = hypothetical_scenarios(PRICES, {"EUR": [-5_000, 5_000]})
    sizing = size_fund(positions, PRICES, SCALE, scenarios, floor=10)
    assert (sizing.cover1, sizing.cover2) == (0, 0)
    assert [m.contribution for m in sizing.members] == [5, 5]  # equal shares of the floor


def test_historicalScenarios_worstFallAndRiseOverTheMarginPeriod():
    history = [PricePoint(0, 100), PricePoint(1, 80), PricePoint(2, 120), PricePoint(3, 110)]
    fall, rise = historical_scenarios(PRICES, {"EUR": history}, mpor_seconds=1)
    # One-second moves: 100->80 (-20%), 80->120 (+50%), 120->110; today's 100 -> 80 and 150.
    # OIL has no history and keeps its price.
    assert fall == StressScenario("historical-fall", {"EUR": 80, "OIL": 50})
    assert rise == StressScenario("historical-rise", {"EUR": 150, "OIL": 50})
    sizing = size_fund(hand_book(), PRICES, SCALE, [fall, rise])
    # B (short 10 EUR, IM 100) loses 500 in the rise: 400 uncovered; D (short 5, IM 20) 250 - 20 = 230.
    assert sizing.cover1 == 400
    assert sizing.cover2 == 400 + 230


def test_sizeFund_rejectsMissingInputs():
    with pytest.raises(InputError, match="no stress scenario"):
        size_fund(hand_book(), PRICES, SCALE, [])
    with pytest.raises(InputError, match="no current price for market 'OIL'"):
        size_fund(hand_book(), {"EUR": 100}, SCALE, [StressScenario("x", {})])
    with pytest.raises(InputError, match="shock for unknown market 'GOLD'"):
        hypothetical_scenarios(PRICES, {"GOLD": [100]})
    with pytest.raises(InputError, match="a shock must be > -10000 bps"):
        hypothetical_scenarios(PRICES, {"EUR": [-10_000]})


def test_proportionalSplit_largestRemainder():
    assert proportional_split(10, [1, 1, 1]) == [4, 3, 3]  # remainders equal: the earlier member
    assert proportional_split(10, [0, 0, 0]) == [4, 3, 3]  # no exposure: equal shares
    assert proportional_split(100, [1, 3]) == [25, 75]
    assert proportional_split(7, [2, 0, 5]) == [2, 0, 5]


@given(st.integers(0, 10**24), st.lists(st.integers(0, 10**20), min_size=1, max_size=12))
def test_property_contributionsSumToTheTargetAndStayWithinAUnit(total, weights):
    shares = proportional_split(total, weights)
    assert sum(shares) == total
    whole = sum(weights) or len(weights)
    for share, w in zip(shares, weights if any(weights) else [1] * len(weights), strict=True):
        assert abs(share * whole - total * w) < whole  # |share - exact| < 1 cash unit
