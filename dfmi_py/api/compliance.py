"""The compliance registry: onboarding, freezing and reading account statuses."""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum

from eth_account.signers.local import LocalAccount
from web3.types import TxReceipt

from dfmi_py.api.base import ContractAPI
from dfmi_py.chain.client import checksum


class AccountStatus(IntEnum):
    """Mirror of the Solidity ``AccountStatus`` enum."""

    NONE = 0
    ACTIVE = 1
    FROZEN = 2


class Compliance(ContractAPI):
    """The shared allowlist.

    Args:
        chain: The chain.
        contract: The ``ComplianceRegistry`` contract.
    """

    def status(self, account: str) -> AccountStatus:
        """The status of ``account``."""
        return AccountStatus(self.contract.functions.statusOf(checksum(account)).call())

    def is_active(self, account: str) -> bool:
        """True when ``account`` is onboarded and not frozen."""
        return self.status(account) is AccountStatus.ACTIVE

    def has_role(self, role: str, account: str) -> bool:
        """True when ``account`` holds ``role`` (e.g. ``"COMPLIANCE_ROLE"``, ``"REGULATOR_ROLE"``)."""
        role_id = self.contract.functions[role]().call()
        return bool(self.contract.functions.hasRole(role_id, checksum(account)).call())

    def onboard(self, officer: LocalAccount, accounts: str | Iterable[str]) -> TxReceipt:
        """Onboard one account, or several in one transaction."""
        if isinstance(accounts, str):
            return self.chain.transact(self.contract.functions.onboard(checksum(accounts)), officer, "onboard")
        batch = [checksum(a) for a in accounts]
        return self.chain.transact(self.contract.functions.onboardBatch(batch), officer, "onboard")

    def freeze(self, officer: LocalAccount, account: str) -> TxReceipt:
        """Freeze ``account``."""
        return self.chain.transact(self.contract.functions.freeze(checksum(account)), officer, "freeze")

    def unfreeze(self, officer: LocalAccount, account: str) -> TxReceipt:
        """Unfreeze ``account``."""
        return self.chain.transact(self.contract.functions.unfreeze(checksum(account)), officer, "unfreeze")

    def offboard(self, officer: LocalAccount, account: str) -> TxReceipt:
        """Offboard ``account``."""
        return self.chain.transact(self.contract.functions.offboard(checksum(account)), officer, "offboard")
