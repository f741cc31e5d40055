"""Historical-simulation IM: hand-computed VaR / ES, the model's options, and its properties."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dfmi_py.errors import InputError
from dfmi_py.risk import (
    HistoricalModel,
    HorizonMethod,
    Measure,
    PricePoint,
    Side,
    expected_shortfall,
    historical_im,
    horizon_ratios,
    scenario_losses,
    value_at_risk,
    value_scale,
)

UNIT = 10**18
SCALE = value_scale(0, 0)  # prices and cash in whole units: one underlying unit at 100 is worth 100


def sawtooth() -> list[PricePoint]:
    """100, 99, 100, 98, 100, ..., 100, 90, 100 one second apart.

    One-second windows: ten falls 100 -> 100-k (a buyer at 100 loses exactly k = 1..10) and ten rises
    (100-k) -> 100 (the buyer gains): twenty scenarios, the buyer's losses sorted ascending are ten
    gains then 1, 2, ..., 10.
    """
    prices = []
    for k in range(1, 11):
        prices += [100, 100 - k]
    prices.append(100)
    return [PricePoint(t, p) for t, p in enumerate(prices)]


def test_valueAtRisk_isTheKthOrderStatistic():
    losses = list(range(1, 11))
    assert value_at_risk(losses, 0.9) == 9  # k = ceil(0.9 * 10) = 9
    assert value_at_risk(losses, 0.95) == 10  # k = ceil(9.5) = 10 (linear interpolation would give 9.5)
    assert value_at_risk(losses, 0.91) == 10
    assert value_at_risk(list(range(1, 101)), 0.99) == 99  # exact k = 99, no float round-up to 100


def test_expectedShortfall_isTheMeanOfTheTailFromVar():
    losses = list(range(1, 11))
    assert expected_shortfall(losses, 0.8) == 9  # (8 + 9 + 10) / 3
    assert expected_shortfall(losses, 0.85) == 10  # (9 + 10) / 2 = 9.5, rounded up
    assert expected_shortfall([5, -3, 0, 2], 0.5) == 3  # k = 2: tail 0, 2, 5 -> 7/3 rounded up


def test_historicalIm_handComputedSawtooth():
    prices = sawtooth()
    ratios = horizon_ratios(prices, 1)
    assert len(ratios) == 20
    buyer = sorted(scenario_losses(UNIT, 100, SCALE, Side.BUYER, ratios))
    assert buyer[10:] == list(range(1, 11))

    # n = 20; at 95%: k = 19, VaR = 9, ES = ceil((9 + 10) / 2) = 10.
    es_model = HistoricalModel(confidence=0.95, mpor_seconds=1)
    result = historical_im(UNIT, 100, SCALE, Side.BUYER, prices, es_model)
    assert (result.var, result.es, result.im, result.scenarios) == (9, 10, 10, 20)
    # At 97.5%: k = ceil(19.5) = 20, the worst loss.
    var_model = HistoricalModel(confidence=0.975, mpor_seconds=1, measure=Measure.VAR)
    assert historical_im(UNIT, 100, SCALE, Side.BUYER, prices, var_model).im == 10
    # Five units lose five times as much: VaR 45, ES (45 + 50) / 2 = 47.5 rounded up once, at the end.
    five = historical_im(5 * UNIT, 100, SCALE, Side.BUYER, prices, es_model)
    assert (five.var, five.es, five.im) == (45, 48, 48)


def test_historicalIm_sellerLosesOnRises():
    # The rises 100-k -> 100 move today's 100 to 100 * 100 // (100 - k): 101, 102, 103, 104, 105,
    # 106, 107, 108, 109, 111; the seller's losses are those minus 100, its gains the ten falls.
    model = HistoricalModel(confidence=0.95, mpor_seconds=1, measure=Measure.VAR)
    result = historical_im(UNIT, 100, SCALE, Side.SELLER, sawtooth(), model)
    assert (result.var, result.es) == (9, 10)  # k = 19: L(19) = 9, tail (9 + 11) / 2


def test_historicalIm_overlappingWindowsSpanTheMarginPeriod():
    # A straight fall 100, 99, ..., 90: every two-second window is a fall of 2 from a lower level.
    prices = [PricePoint(t, 100 - t) for t in range(11)]
    pairs = horizon_ratios(prices, 2)
    assert pairs == [(100 - t, 98 - t) for t in range(9)]
    model = HistoricalModel(confidence=0.5, mpor_seconds=2, measure=Measure.VAR)
    # Losses 100 - 100 * (98 - t) // (100 - t) for t = 0..8: 2, 3, 3, 3, 3, 3, 3, 3, 3 -> k = 5: 3.
    assert historical_im(UNIT, 100, SCALE, Side.BUYER, prices, model).var == 3


def test_historicalIm_windowsFollowTimestampsNotIndexes():
    # Irregular rounds: a 9-second window from t=0 ends at the first round at or after t=9 (t=12),
    # from t=4 at t=13; from t=12 and t=13 no round comes late enough, so they give no window.
    prices = [PricePoint(0, 100), PricePoint(4, 90), PricePoint(12, 80), PricePoint(13, 85)]
    assert horizon_ratios(prices, 9) == [(100, 80), (90, 85)]


def test_historicalIm_sqrtTimeScalingBufferAndFloor():
    prices = sawtooth()
    base = {"confidence": 0.9, "measure": Measure.VAR}  # k = 18: VaR = 8
    scaled = HistoricalModel(mpor_seconds=4, method=HorizonMethod.SQRT_TIME, base_seconds=1, **base)
    assert historical_im(UNIT, 100, SCALE, Side.BUYER, prices, scaled).im == 16  # 8 * sqrt(4 / 1)
    buffered = HistoricalModel(mpor_seconds=1, buffer_bps=2_500, **base)
    assert historical_im(UNIT, 100, SCALE, Side.BUYER, prices, buffered).im == 10  # 8 * 1.25
    floored = HistoricalModel(mpor_seconds=1, floor_bps=1_500, **base)
    result = historical_im(UNIT, 100, SCALE, Side.BUYER, prices, floored)
    assert (result.measure, result.floor, result.im) == (8, 15, 15)  # 15% of a notional of 100


def test_historicalIm_stressedPeriodEntersTheLookback():
    stressed = [PricePoint(0, 100), PricePoint(1, 50)]
    model = HistoricalModel(confidence=0.99, mpor_seconds=1, measure=Measure.VAR)
    calm = historical_im(UNIT, 100, SCALE, Side.BUYER, sawtooth(), model)
    stressed_result = historical_im(UNIT, 100, SCALE, Side.BUYER, sawtooth(), model, stressed)
    assert (calm.im, calm.scenarios) == (10, 20)
    assert (stressed_result.im, stressed_result.scenarios) == (50, 21)  # k = ceil(20.79) = 21: the halving


def test_historicalIm_lookbackKeepsOnlyRecentObservations():
    # The last 4 seconds of the sawtooth: 100, 91, 100, 90, 100. Losses of a buyer at 100: 9, 10 on
    # the falls, 100 - 10_000 // 91 = -9 and 100 - 10_000 // 90 = -11 on the rises.
    # At 75%, k = 3 of (-11, -9, 9, 10): VaR 9, ES (9 + 10) / 2 rounded up.
    model = HistoricalModel(confidence=0.75, mpor_seconds=1, lookback_seconds=4)
    result = historical_im(UNIT, 100, SCALE, Side.BUYER, sawtooth(), model)
    assert (result.scenarios, result.var, result.es) == (4, 9, 10)
    # At 50%, k = 2: VaR is a gain, so a VaR model asks no margin; ES = (-9 + 9 + 10) / 3 rounds up to 4.
    half = HistoricalModel(0.5, 1, measure=Measure.VAR, lookback_seconds=4)
    result = historical_im(UNIT, 100, SCALE, Side.BUYER, sawtooth(), half)
    assert (result.var, result.es, result.im) == (-9, 4, 0)


def test_historicalIm_rejectsBadInputs():
    with pytest.raises(InputError, match="confidence must be strictly between 0 and 1"):
        HistoricalModel(confidence=1.0, mpor_seconds=1)
    with pytest.raises(InputError, match="margin period of risk must be > 0"):
        HistoricalModel(confidence=0.99, mpor_seconds=0)
    with pytest.raises(InputError, match="square-root-of-time scaling needs"):
        HistoricalModel(confidence=0.99, mpor_seconds=2, method=HorizonMethod.SQRT_TIME, base_seconds=3)
    model = HistoricalModel(confidence=0.99, mpor_seconds=100)
    with pytest.raises(InputError, match="no scenarios: the history is shorter than the horizon"):
        historical_im(UNIT, 100, SCALE, Side.BUYER, sawtooth(), model)
    with pytest.raises(InputError, match="must be in time order"):
        horizon_ratios([PricePoint(5, 100), PricePoint(4, 100)], 1)


# ---------------------------------------------------------------- properties

prices_st = st.lists(st.integers(min_value=1_000, max_value=10_000), min_size=12, max_size=40).map(
    lambda ps: [PricePoint(t, p) for t, p in enumerate(ps)]
)
confidences = st.sampled_from([0.5, 0.8, 0.9, 0.95, 0.975, 0.99, 0.995])
sides = st.sampled_from([Side.BUYER, Side.SELLER])


@given(st.lists(st.integers(-(10**9), 10**9), min_size=1, max_size=60), confidences)
def test_property_expectedShortfallIsAtLeastVar(losses, confidence):
    assert expected_shortfall(losses, confidence) >= value_at_risk(losses, confidence)


@given(prices_st, confidences, confidences, sides, st.sampled_from(list(Measure)))
def test_property_imGrowsWithConfidence(prices, c1, c2, side, measure):
    low, high = sorted((c1, c2))
    im = [
        historical_im(UNIT, 5_000, SCALE, side, prices, HistoricalModel(c, mpor_seconds=2, measure=measure)).im
        for c in (low, high)
    ]
    assert im[0] <= im[1]


@given(prices_st, confidences, sides, st.integers(1, 5), st.integers(0, 5))
def test_property_imGrowsWithTheMarginPeriod_sqrtTime(prices, confidence, side, m1, extra):
    def im(mpor: int) -> int:
        model = HistoricalModel(confidence, mpor, method=HorizonMethod.SQRT_TIME, base_seconds=1)
        return historical_im(UNIT, 5_000, SCALE, side, prices, model).im

    assert im(m1) <= im(m1 + extra)


@given(st.lists(st.integers(0, 50), min_size=12, max_size=30), confidences, st.integers(1, 4), st.integers(0, 4))
def test_property_imGrowsWithTheMarginPeriod_overlappingOnAFall(drops, confidence, m1, extra):
    # With overlapping windows a longer period need not lose more on a mean-reverting path; on a path
    # that only falls, the buyer's loss over every window grows with the window.
    levels = [10_000]
    for d in drops:
        levels.append(levels[-1] - d)
    prices = [PricePoint(t, p) for t, p in enumerate(levels)]

    def im(mpor: int) -> int:
        return historical_im(UNIT, 5_000, SCALE, Side.BUYER, prices, HistoricalModel(confidence, mpor)).im

    assert im(m1) <= im(m1 + extra)


@given(prices_st, confidences, sides, st.integers(1, 10**6), st.integers(0, 10**6))
def test_property_imGrowsWithNotional(prices, confidence, side, q1, extra):
    # Scale 1 (cash with 18 more decimals than the feed): the engine's value is exactly linear.
    scale = value_scale(0, 18)
    model = HistoricalModel(confidence, mpor_seconds=3)
    im1 = historical_im(q1, 5_000, scale, side, prices, model).im
    im2 = historical_im(q1 + extra, 5_000, scale, side, prices, model).im
    assert im1 <= im2
