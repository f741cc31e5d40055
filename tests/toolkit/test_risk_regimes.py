"""The paper's claim in numbers: settlement every round against daily margining with a lag."""

import pytest

from dfmi_py.errors import InputError
from dfmi_py.risk import BookTrade, HistoricalModel, PricePoint, SettlementRegime, compare_regimes, value_scale

UNIT = 10**18
SCALE = value_scale(0, 0)
EVERY_ROUND = SettlementRegime("dFMI, every round", settle_every_seconds=1)
LAGGED = SettlementRegime("CCP, every 4 rounds, paid 2 later", settle_every_seconds=4, lag_seconds=2)


def falling() -> list[PricePoint]:
    """100, 99, ..., 80, one round a second."""
    return [PricePoint(t, 100 - t) for t in range(21)]


def test_compareRegimes_lagBuildsExposureAndImOnAFall():
    """A book of one forward on 10 units along a steady fall of 1 a round.

    Every round: before each payment the buyer owes one round's move, 10; at t=0 nothing: peak 10,
    mean 200 / 21 = 9 (rounded down).
    Every 4 rounds paid 2 later: the move since the last settlement paid, per unit, at t = 0..20:
    0 1 2 3 4 5 6 3 4 5 6 3 4 5 6 3 4 5 6 3 4 (peak 6 = 4 + 2; sum 82): peak 60, mean 820 / 21 = 39.
    IM (99% ES, 20 or 15 windows so the worst one): over 1 second the worst move is 81 -> 80, today's
    100 -> 100 * 80 // 81 = 98, a loss of 20; over 6 seconds it is 86 -> 80, 100 -> 93, a loss of 70.
    The seller only gains on this path: no margin.
    """
    model = HistoricalModel(confidence=0.99, mpor_seconds=1)
    table = compare_regimes([BookTrade(1, 10 * UNIT)], falling(), 100, SCALE, model, [EVERY_ROUND, LAGGED])
    assert list(table.columns) == [
        "regime",
        "settle_every_s",
        "lag_s",
        "closeout_s",
        "mpor_s",
        "im",
        "peak_exposure",
        "mean_exposure",
    ]
    rows = table.set_index("regime")[["mpor_s", "im", "peak_exposure", "mean_exposure"]].to_dict("index")
    assert rows == {
        "dFMI, every round": {"mpor_s": 1, "im": 20, "peak_exposure": 10, "mean_exposure": 9},
        "CCP, every 4 rounds, paid 2 later": {"mpor_s": 6, "im": 70, "peak_exposure": 60, "mean_exposure": 39},
    }


def test_compareRegimes_bookSumsItsTrades():
    model = HistoricalModel(confidence=0.99, mpor_seconds=1)
    one = compare_regimes([BookTrade(1, 10 * UNIT)], falling(), 100, SCALE, model, [LAGGED])
    two = compare_regimes([BookTrade(1, 10 * UNIT), BookTrade(2, 10 * UNIT)], falling(), 100, SCALE, model, [LAGGED])
    for column in ("im", "peak_exposure", "mean_exposure"):
        assert two[column].iloc[0] == 2 * one[column].iloc[0]


def test_settlementRegime_closeoutLengthensTheMarginPeriod():
    assert SettlementRegime("x", 3_600, lag_seconds=86_400, closeout_seconds=7_200).mpor_seconds == 97_200
    with pytest.raises(InputError, match="need settle_every > 0"):
        SettlementRegime("bad", 0)
