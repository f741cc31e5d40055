"""The tokenised security (a bond or a share): issuance, redemption, transfers and allowances.

Amounts are integers in the token's smallest unit (``decimals()``: 0 for whole shares).
"""

from __future__ import annotations

from eth_account.signers.local import LocalAccount
from web3.types import TxReceipt

from dfmi_py.api.token import CompliantToken, require_units
from dfmi_py.chain.client import checksum


class Security(CompliantToken):
    """The ``SecurityToken`` (the delivery leg of DvP).

    Args:
        chain: The chain.
        contract: The ``SecurityToken`` contract.
    """

    # ------------------------------------------------------------------ reads

    def is_issuer(self, account: str) -> bool:
        """True when ``account`` holds the ``ISSUER_ROLE``."""
        role = self.contract.functions.ISSUER_ROLE().call()
        return bool(self.contract.functions.hasRole(role, checksum(account)).call())

    # ------------------------------------------------------------------ writes

    def issue(self, issuer: LocalAccount, to: str, amount: int) -> TxReceipt:
        """Issue ``amount`` new units to ``to`` (issuer)."""
        require_units(amount, "amount")
        return self.chain.transact(self.contract.functions.issue(checksum(to), amount), issuer, "issue")

    def redeem(self, issuer: LocalAccount, amount: int) -> TxReceipt:
        """Redeem ``amount`` units from the issuer's own balance (issuer)."""
        require_units(amount, "amount")
        return self.chain.transact(self.contract.functions.redeem(amount), issuer, "redeem")
