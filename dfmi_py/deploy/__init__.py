"""Deploying the suite and recording where it lives."""

from dfmi_py.deploy.manifest import ContractRecord, Manifest, manifest_path
from dfmi_py.deploy.params import CashParams, EngineParams, MarketParams, OracleParams
from dfmi_py.deploy.roles import RoleConfig
from dfmi_py.deploy.suite import Deployment, deploy_suite, load_deployment

__all__ = [
    "CashParams",
    "ContractRecord",
    "Deployment",
    "EngineParams",
    "Manifest",
    "MarketParams",
    "OracleParams",
    "RoleConfig",
    "deploy_suite",
    "load_deployment",
    "manifest_path",
]
