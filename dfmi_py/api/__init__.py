"""The typed API that the CLI, the bots and analysts share."""

from dfmi_py.api.cash import Cash
from dfmi_py.api.compliance import AccountStatus, Compliance
from dfmi_py.api.derivatives import Derivatives, Terms, TradeState
from dfmi_py.api.market import Market
from dfmi_py.api.oracle import Oracle, OracleConfig, RoundData
from dfmi_py.api.token import Permit

__all__ = [
    "AccountStatus",
    "Cash",
    "Compliance",
    "Derivatives",
    "Market",
    "Oracle",
    "OracleConfig",
    "Permit",
    "RoundData",
    "Terms",
    "TradeState",
]
