"""The BCBS-IOSCO standardised IM schedule: its percentages, buckets and rounding."""

import pytest

from dfmi_py.errors import InputError
from dfmi_py.risk import AssetClass, schedule_im, schedule_rate_bps


@pytest.mark.parametrize(
    ("asset_class", "maturity", "bps"),
    [
        (AssetClass.CREDIT, 0.5, 200),
        (AssetClass.CREDIT, 2.0, 500),
        (AssetClass.CREDIT, 4.99, 500),
        (AssetClass.CREDIT, 5.0, 1_000),
        (AssetClass.INTEREST_RATE, 1.99, 100),
        (AssetClass.INTEREST_RATE, 2.0, 200),
        (AssetClass.INTEREST_RATE, 30.0, 400),
        (AssetClass.COMMODITY, 0.0, 1_500),
        (AssetClass.EQUITY, 10.0, 1_500),
        (AssetClass.FX, 0.0, 600),
        (AssetClass.FX, 7.0, 600),
        (AssetClass.OTHER, 3.0, 1_500),
    ],
)
def test_schedule_rate_isTheBcbsIoscoPercentageForTheBucket(asset_class, maturity, bps):
    assert schedule_rate_bps(asset_class, maturity) == bps


def test_schedule_im_isThePercentageOfNotional():
    # 1,000,000.00 cash at 2 decimals: FX 6% = 60,000.00; a 3-year interest-rate swap 2% = 20,000.00.
    assert schedule_im(100_000_000, AssetClass.FX) == 6_000_000
    assert schedule_im(100_000_000, AssetClass.INTEREST_RATE, 3) == 2_000_000
    assert schedule_im(100_000_000, AssetClass.COMMODITY) == 15_000_000


def test_schedule_im_roundsUpToAWholeCashUnit():
    # 6% of 50 units is 3 exactly; 6% of 51 is 3.06, held as 4 so the margin never falls short.
    assert schedule_im(50, AssetClass.FX) == 3
    assert schedule_im(51, AssetClass.FX) == 4
    assert schedule_im(0, AssetClass.EQUITY) == 0


def test_schedule_rejectsNegativeNotionalOrMaturity():
    with pytest.raises(InputError, match="notional must be >= 0"):
        schedule_im(-1, AssetClass.FX)
    with pytest.raises(InputError, match="maturity must be >= 0"):
        schedule_rate_bps(AssetClass.CREDIT, -0.1)
