"""The tokenised security (a bond or a share): issuance, redemption, transfers and allowances.

Amounts are integers in the token's smallest unit (``decimals()``: 0 for whole shares).
"""

from __future__ import annotations

from functools import cached_property

from eth_account.signers.local import LocalAccount
from web3.types import TxReceipt

from dfmi_py.api.base import ContractAPI
from dfmi_py.api.cash import _require_units
from dfmi_py.chain.client import checksum
from dfmi_py.units import format_units

#: The largest allowance (``type(uint256).max``): OpenZeppelin never decreases it when spent.
UNLIMITED = 2**256 - 1


class Security(ContractAPI):
    """The ``SecurityToken`` (the delivery leg of DvP).

    Args:
        chain: The chain.
        contract: The ``SecurityToken`` contract.
    """

    @cached_property
    def decimals(self) -> int:
        """Decimals of the smallest unit."""
        return int(self.contract.functions.decimals().call())

    @cached_property
    def symbol(self) -> str:
        """The token symbol."""
        return str(self.contract.functions.symbol().call())

    def format(self, units: int) -> str:
        """``units`` as a readable amount with the symbol."""
        return format_units(units, self.decimals, self.symbol)

    # ------------------------------------------------------------------ reads

    def balance_of(self, account: str) -> int:
        """Units ``account`` holds."""
        return int(self.contract.functions.balanceOf(checksum(account)).call())

    def total_supply(self) -> int:
        """Units issued and not redeemed."""
        return int(self.contract.functions.totalSupply().call())

    def allowance(self, owner: str, spender: str) -> int:
        """What ``spender`` may still move from ``owner``."""
        return int(self.contract.functions.allowance(checksum(owner), checksum(spender)).call())

    def paused(self) -> bool:
        """True while all movement is stopped."""
        return bool(self.contract.functions.paused().call())

    def is_issuer(self, account: str) -> bool:
        """True when ``account`` holds the ``ISSUER_ROLE``."""
        role = self.contract.functions.ISSUER_ROLE().call()
        return bool(self.contract.functions.hasRole(role, checksum(account)).call())

    # ------------------------------------------------------------------ writes

    def issue(self, issuer: LocalAccount, to: str, amount: int) -> TxReceipt:
        """Issue ``amount`` new units to ``to`` (issuer)."""
        _require_units(amount, "amount")
        return self.chain.transact(self.contract.functions.issue(checksum(to), amount), issuer, "issue")

    def redeem(self, issuer: LocalAccount, amount: int) -> TxReceipt:
        """Redeem ``amount`` units from the issuer's own balance (issuer)."""
        _require_units(amount, "amount")
        return self.chain.transact(self.contract.functions.redeem(amount), issuer, "redeem")

    def transfer(self, sender: LocalAccount, to: str, amount: int) -> TxReceipt:
        """Move ``amount`` from ``sender`` to ``to``."""
        _require_units(amount, "amount", allow_zero=True)
        return self.chain.transact(self.contract.functions.transfer(checksum(to), amount), sender, "transfer")

    def approve(self, owner: LocalAccount, spender: str, amount: int) -> TxReceipt:
        """Let ``spender`` move up to ``amount`` of ``owner``'s units (:data:`UNLIMITED`: no limit)."""
        _require_units(amount, "amount", allow_zero=True)
        return self.chain.transact(self.contract.functions.approve(checksum(spender), amount), owner, "approve")

    def pause(self, pauser: LocalAccount) -> TxReceipt:
        """Stop all movement (pauser)."""
        return self.chain.transact(self.contract.functions.pause(), pauser, "pause")

    def unpause(self, pauser: LocalAccount) -> TxReceipt:
        """Resume movement (pauser)."""
        return self.chain.transact(self.contract.functions.unpause(), pauser, "unpause")

    def sync_compliance(self, sender: LocalAccount, account: str) -> TxReceipt:
        """Copy ``account``'s registry status into the token's mirror (anyone may)."""
        call = self.contract.functions.syncCompliance(checksum(account))
        return self.chain.transact(call, sender, "sync compliance")
