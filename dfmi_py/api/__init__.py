"""The typed API that the CLI, the bots and analysts share."""

from dfmi_py.api.cash import Cash, Permit
from dfmi_py.api.compliance import AccountStatus, Compliance
from dfmi_py.api.market import Market

__all__ = ["AccountStatus", "Cash", "Compliance", "Market", "Permit"]
