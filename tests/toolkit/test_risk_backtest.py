"""Backtesting IM against settled VM: windows, breaches per trade / member / market, Kupiec's test."""

import math

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dfmi_py.errors import InputError
from dfmi_py.risk import BreachCount, TradeMargin, VmFlow, backtest, kupiec


def book() -> tuple[list[TradeMargin], list[VmFlow]]:
    """Two trades over 100 seconds, 10-second windows (ten windows each, twenty side-windows each).

    Trade 1 (EUR, A buys from B, IM 50 each):
    - window 0: the buyer pays 60 in one flow: loss 60 > 50, a buyer breach (excess 10);
    - window 3: the buyer receives 30 and 25: the seller's loss 55 > 50, a seller breach (excess 5);
    - window 5: the buyer pays exactly 50: no breach (a breach is a loss strictly above the IM);
    - the buyer pays 40 at t=79 and 40 at t=80: windows 7 and 8, no breach (the flows do not add up);
    - a flow at t=100 is outside the trade's [start, end) and ignored.
    Trade 2 (OIL, C buys from A, IM 20 each): window 9 the buyer pays 21: one breach for C.
    So 3 breaches in 40 observations: A 1 of 20, B 1 of 10, C 1 of 10.
    """
    trades = [
        TradeMargin(1, "EUR", "A", "B", im_buyer=50, im_seller=50, start=0, end=100),
        TradeMargin(2, "OIL", "C", "A", im_buyer=20, im_seller=20, start=0, end=100),
    ]
    flows = [
        VmFlow(1, 3, -60),
        VmFlow(1, 31, 30),
        VmFlow(1, 39, 25),
        VmFlow(1, 55, -50),
        VmFlow(1, 79, -40),
        VmFlow(1, 80, -40),
        VmFlow(1, 100, -1_000),
        VmFlow(2, 95, -21),
    ]
    return trades, flows


def test_backtest_countsWindowsAndBreachesPerTradeMemberAndMarket():
    trades, flows = book()
    report = backtest(trades, flows, mpor_seconds=10, confidence=0.99)
    assert report.total == BreachCount(observations=40, breaches=3, worst_excess=10)
    assert report.by_trade == {"EUR #1": BreachCount(20, 2, 10), "OIL #2": BreachCount(20, 1, 1)}
    assert report.by_member == {"A": BreachCount(20, 1, 10), "B": BreachCount(10, 1, 5), "C": BreachCount(10, 1, 1)}
    assert report.by_market == {"EUR": BreachCount(20, 2, 10), "OIL": BreachCount(20, 1, 1)}
    assert report.kupiec is not None
    assert (report.kupiec.observations, report.kupiec.breaches) == (40, 3)


def test_backtest_keepsTradesOfTheSameIdInTwoMarketsApart():
    # Trade ids restart in each market: EUR #1 and OIL #1 are two trades. The buyer's loss of 30 in
    # OIL #1 breaches its IM of 20; the same loss in EUR #1 stays within 50.
    trades = [
        TradeMargin(1, "EUR", "A", "B", im_buyer=50, im_seller=50, start=0, end=10),
        TradeMargin(1, "OIL", "A", "B", im_buyer=20, im_seller=20, start=0, end=10),
    ]
    flows = [VmFlow(1, 5, -30, "EUR"), VmFlow(1, 5, -30, "OIL")]
    report = backtest(trades, flows, mpor_seconds=10, confidence=0.99)
    assert report.by_trade == {"EUR #1": BreachCount(2, 0, 0), "OIL #1": BreachCount(2, 1, 10)}
    assert report.by_market == {"EUR": BreachCount(2, 0, 0), "OIL": BreachCount(2, 1, 10)}
    with pytest.raises(InputError, match="VM flow of trade 1 names no market, and EUR, OIL each have one"):
        backtest(trades, [VmFlow(1, 5, -30)], 10, 0.99)
    with pytest.raises(InputError, match="trade 1 of market EUR is given twice"):
        backtest([trades[0], trades[0]], [], 10, 0.99)


def test_backtest_lastPartialWindowCounts():
    # 25 seconds in 10-second windows: [0,10), [10,20), [20,25); the loss at t=24 is a breach.
    trade = TradeMargin(7, "EUR", "A", "B", im_buyer=5, im_seller=5, start=0, end=25)
    report = backtest([trade], [VmFlow(7, 24, 6)], mpor_seconds=10, confidence=0.99)
    assert report.total == BreachCount(6, 1, 1)


def test_backtest_recordsAreATable():
    trades, flows = book()
    table = pd.DataFrame(backtest(trades, flows, 10, 0.99).records())
    assert list(table.columns) == ["level", "key", "observations", "breaches", "worst_excess", "kupiec_p_value"]
    assert table.groupby("level")["breaches"].sum().to_dict() == {"market": 3, "member": 3, "trade": 3}
    # Member B: 1 breach in 10 at 99% -> the same test as kupiec(10, 1, 0.99).
    b = table[(table.level == "member") & (table.key == "B")].iloc[0]
    assert b.kupiec_p_value == kupiec(10, 1, 0.99).p_value


def test_backtest_rejectsAFlowOfAnUnknownTrade():
    trades, _ = book()
    with pytest.raises(InputError, match="VM flow of unknown trade 9"):
        backtest(trades, [VmFlow(9, 1, 1)], 10, 0.99)
    with pytest.raises(InputError, match="margin period of risk must be > 0"):
        backtest(trades, [], 0, 0.99)


def test_kupiec_workedExample():
    """n = 250 observations, x = 5 breaches, c = 99% (p = 0.01, observed rate 0.02).

    ln L0 = 245 ln 0.99 + 5 ln 0.01 = 245(-0.0100503) + 5(-4.6051702) = -2.4623323 - 23.0258509 = -25.4881832
    ln L1 = 245 ln 0.98 + 5 ln 0.02 = 245(-0.0202027) + 5(-3.9120230) = -4.9496633 - 19.5601150 = -24.5097783
    LR = -2 (ln L0 - ln L1) = -2 (-0.9784049) = 1.9568098
    p-value = erfc(sqrt(1.9568098 / 2)) = erfc(0.9891436) = 0.16185  (> 0.05: the model is not rejected)
    """
    result = kupiec(250, 5, 0.99)
    assert result.statistic == pytest.approx(1.9568098, abs=1e-6)
    assert result.p_value == pytest.approx(0.16185, abs=1e-5)
    assert result.expected_rate == 0.01
    assert not result.rejects(0.05)


def test_kupiec_noBreachOrTooManyRejects():
    """No breach in 250 at 99%: LR = -2 * 250 ln 0.99 = 5.025168, p = erfc(sqrt(2.512584)) = 0.024982.

    Ten breaches in 250 at 99% (rate 0.04): LR = -2[240 ln 0.99 + 10 ln 0.01 - 240 ln 0.96 - 10 ln 0.04]
    = -2[-2.412081 - 46.051702 + 9.797279 + 32.188758] = 12.955491, p = 0.000319.
    """
    none = kupiec(250, 0, 0.99)
    assert none.statistic == pytest.approx(5.025168, abs=1e-6)
    assert none.p_value == pytest.approx(0.024982, abs=1e-6)
    assert none.rejects(0.05)
    many = kupiec(250, 10, 0.99)
    assert many.statistic == pytest.approx(12.955491, abs=1e-5)
    assert many.p_value == pytest.approx(0.000319, abs=1e-6)


def test_kupiec_exactRateIsNotRejected():
    result = kupiec(200, 2, 0.99)
    assert result.statistic == pytest.approx(0.0, abs=1e-12)
    assert result.p_value == pytest.approx(1.0)


@given(st.integers(1, 2_000), st.data(), st.sampled_from([0.9, 0.95, 0.99]))
def test_property_kupiecPValueIsAProbability(n, data, confidence):
    x = data.draw(st.integers(0, n))
    result = kupiec(n, x, confidence)
    assert result.statistic >= 0
    assert 0 <= result.p_value <= 1
    assert result.p_value == pytest.approx(math.erfc(math.sqrt(result.statistic / 2)))
