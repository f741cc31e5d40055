"""Deploying the suite and recording where it lives."""

from dfmi_py.deploy.config import load_config, parse_config
from dfmi_py.deploy.manifest import ContractRecord, Manifest, MarketRecord, manifest_path
from dfmi_py.deploy.params import (
    CashParams,
    EngineParams,
    FundParams,
    MarketParams,
    OracleParams,
    SecurityParams,
    UnderlyingParams,
)
from dfmi_py.deploy.roles import RoleConfig
from dfmi_py.deploy.suite import Deployment, activate_roles, deploy_suite, load_deployment

__all__ = [
    "CashParams",
    "ContractRecord",
    "Deployment",
    "EngineParams",
    "FundParams",
    "Manifest",
    "MarketParams",
    "MarketRecord",
    "OracleParams",
    "RoleConfig",
    "SecurityParams",
    "UnderlyingParams",
    "activate_roles",
    "deploy_suite",
    "load_config",
    "load_deployment",
    "manifest_path",
    "parse_config",
]
