"""Tokenised cash: issuance by minters within allowances, redemption by the burner; what every
token shares (movements, permits, reads) is :class:`dfmi_py.api.token.CompliantToken`."""

from __future__ import annotations

from eth_account.signers.local import LocalAccount
from web3.types import TxReceipt

from dfmi_py.api.token import CompliantToken, require_units
from dfmi_py.chain.client import checksum


class Cash(CompliantToken):
    """The tokenised cash token.

    Amounts are integers in the token's smallest unit (see :func:`dfmi_py.units.to_units`).

    Args:
        chain: The chain.
        contract: The ``CashToken`` contract.
    """

    def minter_allowance(self, minter: str) -> int:
        """Units ``minter`` may still mint."""
        return int(self.contract.functions.minterAllowance(checksum(minter)).call())

    # ------------------------------------------------------------------ issuance

    def configure_minter(self, master_minter: LocalAccount, minter: str, allowance: int) -> TxReceipt:
        """Make ``minter`` a minter with ``allowance`` units to mint."""
        require_units(allowance, "allowance", allow_zero=True)
        call = self.contract.functions.configureMinter(checksum(minter), allowance)
        return self.chain.transact(call, master_minter, "configure minter")

    def remove_minter(self, master_minter: LocalAccount, minter: str) -> TxReceipt:
        """Take ``minter``'s role and allowance away."""
        return self.chain.transact(
            self.contract.functions.removeMinter(checksum(minter)), master_minter, "remove minter"
        )

    def mint(self, minter: LocalAccount, to: str, amount: int) -> TxReceipt:
        """Issue ``amount`` to ``to``."""
        require_units(amount, "amount")
        return self.chain.transact(self.contract.functions.mint(checksum(to), amount), minter, "mint")

    def burn(self, burner: LocalAccount, amount: int) -> TxReceipt:
        """Redeem ``amount`` from the burner's own balance."""
        require_units(amount, "amount")
        return self.chain.transact(self.contract.functions.burn(amount), burner, "burn")
