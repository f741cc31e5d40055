"""Pure risk arithmetic (no chain access): position values and variation margin, initial-margin
models (standardised schedule, historical simulation), backtesting, default-fund sizing and the
comparison of settlement regimes."""

from dfmi_py.risk.backtest import BacktestReport, BreachCount, KupiecResult, TradeMargin, VmFlow, backtest, kupiec
from dfmi_py.risk.forward import position_value, value_scale, variation_margin
from dfmi_py.risk.fund import (
    FundSizing,
    MemberStress,
    Position,
    StressScenario,
    historical_scenarios,
    hypothetical_scenarios,
    proportional_split,
    size_fund,
)
from dfmi_py.risk.historical import (
    HistoricalIm,
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
)
from dfmi_py.risk.regimes import BookTrade, RegimeFigures, SettlementRegime, compare_regimes, regime_figures
from dfmi_py.risk.schedule import AssetClass, schedule_im, schedule_rate_bps

__all__ = [
    "AssetClass",
    "BacktestReport",
    "BookTrade",
    "BreachCount",
    "FundSizing",
    "HistoricalIm",
    "HistoricalModel",
    "HorizonMethod",
    "KupiecResult",
    "Measure",
    "MemberStress",
    "Position",
    "PricePoint",
    "RegimeFigures",
    "SettlementRegime",
    "Side",
    "StressScenario",
    "TradeMargin",
    "VmFlow",
    "backtest",
    "compare_regimes",
    "expected_shortfall",
    "historical_im",
    "historical_scenarios",
    "horizon_ratios",
    "hypothetical_scenarios",
    "kupiec",
    "position_value",
    "proportional_split",
    "regime_figures",
    "scenario_losses",
    "schedule_im",
    "schedule_rate_bps",
    "size_fund",
    "value_at_risk",
    "value_scale",
    "variation_margin",
]
