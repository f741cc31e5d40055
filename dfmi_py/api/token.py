"""What every token of the market shares (the cash token and the securities, both
``CompliantToken`` on-chain): reads, movements, allowances, pause, EIP-2612 permits.

Amounts are integers in the token's smallest unit (see :func:`dfmi_py.units.to_units`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from eth_account.signers.local import LocalAccount
from web3.types import TxReceipt

from dfmi_py.api.base import ContractAPI
from dfmi_py.chain.client import checksum
from dfmi_py.errors import InputError
from dfmi_py.signing import Domain, permit_message, sign_typed
from dfmi_py.units import format_units

#: The largest allowance (``type(uint256).max``): OpenZeppelin never decreases it when spent.
UNLIMITED = 2**256 - 1


@dataclass(frozen=True)
class Permit:
    """A signed EIP-2612 permit: ``owner`` lets ``spender`` spend ``value`` until ``deadline``."""

    owner: str
    spender: str
    value: int
    nonce: int
    deadline: int
    v: int
    r: bytes
    s: bytes


class CompliantToken(ContractAPI):
    """A token of the market: ERC-20 + EIP-2612 permit, moved only between onboarded accounts,
    paused by its pauser.

    Args:
        chain: The chain.
        contract: The token contract.
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
        """Balance of ``account`` in units."""
        return int(self.contract.functions.balanceOf(checksum(account)).call())

    def balances(self, accounts: Iterable[str]) -> dict[str, int]:
        """Balances of several accounts, by checksummed address."""
        return {checksum(a): self.balance_of(a) for a in accounts}

    def total_supply(self) -> int:
        """Units in circulation."""
        return int(self.contract.functions.totalSupply().call())

    def allowance(self, owner: str, spender: str) -> int:
        """What ``spender`` may still move from ``owner``."""
        return int(self.contract.functions.allowance(checksum(owner), checksum(spender)).call())

    def paused(self) -> bool:
        """True while all movement is stopped."""
        return bool(self.contract.functions.paused().call())

    def nonce(self, owner: str) -> int:
        """The next permit nonce of ``owner``."""
        return int(self.contract.functions.nonces(checksum(owner)).call())

    # ------------------------------------------------------------------ movement and control

    def transfer(self, sender: LocalAccount, to: str, amount: int) -> TxReceipt:
        """Move ``amount`` from ``sender`` to ``to``."""
        require_units(amount, "amount", allow_zero=True)
        return self.chain.transact(self.contract.functions.transfer(checksum(to), amount), sender, "transfer")

    def approve(self, owner: LocalAccount, spender: str, amount: int) -> TxReceipt:
        """Let ``spender`` move up to ``amount`` of ``owner``'s units (:data:`UNLIMITED`: no limit)."""
        require_units(amount, "amount", allow_zero=True)
        return self.chain.transact(self.contract.functions.approve(checksum(spender), amount), owner, "approve")

    def transfer_from(self, spender: LocalAccount, owner: str, to: str, amount: int) -> TxReceipt:
        """Move ``amount`` from ``owner`` to ``to`` using ``spender``'s allowance."""
        require_units(amount, "amount", allow_zero=True)
        call = self.contract.functions.transferFrom(checksum(owner), checksum(to), amount)
        return self.chain.transact(call, spender, "transferFrom")

    def pause(self, pauser: LocalAccount) -> TxReceipt:
        """Stop all movement."""
        return self.chain.transact(self.contract.functions.pause(), pauser, "pause")

    def unpause(self, pauser: LocalAccount) -> TxReceipt:
        """Resume movement."""
        return self.chain.transact(self.contract.functions.unpause(), pauser, "unpause")

    def sync_compliance(self, sender: LocalAccount, account: str) -> TxReceipt:
        """Copy ``account``'s registry status into the token's mirror (anyone may)."""
        call = self.contract.functions.syncCompliance(checksum(account))
        return self.chain.transact(call, sender, "sync compliance")

    # ------------------------------------------------------------------ permits

    def sign_permit(
        self,
        owner: LocalAccount,
        spender: str,
        value: int,
        *,
        deadline: int | None = None,
        nonce: int | None = None,
        domain: Domain | None = None,
    ) -> Permit:
        """Sign an EIP-2612 permit off-chain (no transaction).

        The EIP-712 domain is read from the token (ERC-5267 ``eip712Domain``) unless given, so
        the signature is bound to this chain, this contract and the owner's current nonce.

        Args:
            owner: The account granting the allowance; signs.
            spender: Who may spend.
            value: Allowance in units.
            deadline: Unix time after which the permit is void; one hour from now by default.
            nonce: The owner's nonce; read from the token by default.
            domain: The EIP-712 domain; read from the token by default.
        """
        require_units(value, "value", allow_zero=True)
        deadline = deadline if deadline is not None else int(time.time()) + 3600
        nonce = nonce if nonce is not None else self.nonce(owner.address)
        domain = domain or self.eip712_domain()
        spender = checksum(spender)
        signature = sign_typed(owner, permit_message(domain, owner.address, spender, value, nonce, deadline))
        return Permit(owner.address, spender, value, nonce, deadline, signature.v, signature.r, signature.s)

    def submit_permit(self, permit: Permit, sender: LocalAccount) -> TxReceipt:
        """Send a signed permit; anyone (``sender``) may pay for it.

        Raises:
            InputError: not a :class:`Permit`, or its nonce is not the owner's next one: a permit
                already submitted (replayed) or signed ahead of one not yet submitted. The token
                would report either as a wrong signer (``ERC2612InvalidSigner``): the signature
                binds the nonce, so a stale nonce recovers another address.
            ContractRevertError: the token refuses it (expired, wrong signer).
        """
        if not isinstance(permit, Permit):
            raise InputError(f"permit must be a Permit (see sign_permit), got {type(permit).__name__}")
        owner = checksum(permit.owner)
        require_units(permit.value, "value", allow_zero=True)
        expected = self.nonce(owner)
        if permit.nonce < expected:
            raise InputError(
                f"permit: this permit of {owner} (nonce {permit.nonce}) was already used: the owner's next nonce "
                f"is {expected}; a permit counts once, sign a new one"
            )
        if permit.nonce > expected:
            raise InputError(
                f"permit: this permit of {owner} has nonce {permit.nonce} but the owner's next nonce is {expected}: "
                "submit the permits signed before it first, or sign it again"
            )
        call = self.contract.functions.permit(
            owner, checksum(permit.spender), permit.value, permit.deadline, permit.v, permit.r, permit.s
        )
        return self.chain.transact(call, sender, "permit")


def require_units(value: int, name: str, *, allow_zero: bool = False) -> None:
    """Refuse what is not a whole, non-negative (or positive) number of token units below 2^256."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{name} must be an integer number of token units, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise InputError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value}")
    if value >= 2**256:
        raise InputError(f"{name} does not fit in uint256: {value}")
