"""Netting obligations (pure: no chain access): the ``Obligation`` struct of INetting.sol, its
EIP-712 typed data and id, and signing.

An obligation says: ``payer`` owes ``amount`` units of the netting contract's cash to ``payee`` in
round ``round_id``; ``ref`` tells apart two obligations with the same parties and amount (a trade
id). Both parties consent to it, by signing it under the netting contract's domain or by sending
the registration themselves; the id is the EIP-712 digest, so a signature binds the chain, the
contract, the round and every field, and an obligation registers at most once.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, replace
from typing import Any

from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from dfmi_py.errors import InputError
from dfmi_py.signing.eip712 import DOMAIN_FIELDS, Domain, Signature, sign_typed

OBLIGATION_FIELDS = [
    {"name": "roundId", "type": "uint256"},
    {"name": "payer", "type": "address"},
    {"name": "payee", "type": "address"},
    {"name": "amount", "type": "uint256"},
    {"name": "ref", "type": "bytes32"},
]

#: Largest amount of one obligation (``MAX_AMOUNT`` in NettingEngine.sol: 2**96 - 1).
MAX_AMOUNT = 2**96 - 1
_UINT256 = 2**256
_ZERO_REF = bytes(32)


@dataclass(frozen=True)
class Obligation:
    """``Obligation`` of INetting.sol: ``payer`` owes ``amount`` (cash units) to ``payee``.

    Addresses are checksummed on construction; ``ref`` is 32 bytes (an int is accepted and
    encoded big-endian).
    """

    round_id: int
    payer: str
    payee: str
    amount: int
    ref: bytes = _ZERO_REF

    def __post_init__(self) -> None:
        for name in ("payer", "payee"):
            value = getattr(self, name)
            try:
                object.__setattr__(self, name, to_checksum_address(value))
            except (ValueError, TypeError):
                raise InputError(f"{name} is not an Ethereum address: {value!r}") from None
        ref: Any = self.ref
        if isinstance(ref, int) and not isinstance(ref, bool):
            if not 0 <= ref < _UINT256:
                raise InputError(f"ref must fit 32 bytes, got {ref!r}")
            object.__setattr__(self, "ref", ref.to_bytes(32, "big"))
        elif not isinstance(ref, bytes) or len(ref) != 32:
            raise InputError(f"ref must be 32 bytes, got {ref!r}")
        for name in ("round_id", "amount"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < _UINT256:
                raise InputError(f"{name} must be an integer in [0, 2**256), got {value!r}")

    def validate(self) -> None:
        """Raise :class:`InputError` for an obligation the contract refuses whatever the chain's state.

        Raises:
            InputError: an amount outside [1, :data:`MAX_AMOUNT`], or the same payer and payee.
        """
        if not 0 < self.amount <= MAX_AMOUNT:
            raise InputError(f"an obligation's amount must be in [1, 2**96 - 1], got {self.amount}")
        if self.payer == self.payee:
            raise InputError(f"{self.payer} cannot owe itself")

    def as_tuple(self) -> tuple[Any, ...]:
        """The struct as web3 takes it."""
        return astuple(self)

    def as_message(self) -> dict[str, Any]:
        """The struct as EIP-712 typed data (and the ABI) name its fields."""
        return {
            "roundId": self.round_id,
            "payer": self.payer,
            "payee": self.payee,
            "amount": self.amount,
            "ref": self.ref,
        }

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> Obligation:
        """The obligation from its field-name form (an event's, or a JSON file's with a hex ``ref``)."""
        expected = {f["name"] for f in OBLIGATION_FIELDS}
        if set(message) != expected:
            raise InputError(f"an obligation needs exactly {sorted(expected)}, got {sorted(message)}")
        ref = message["ref"]
        if isinstance(ref, str):
            try:
                ref = bytes.fromhex(ref.removeprefix("0x"))
            except ValueError:
                raise InputError(f"ref is not hex: {ref!r}") from None
        return cls(int(message["roundId"]), message["payer"], message["payee"], int(message["amount"]), ref)

    def but(self, **changes: Any) -> Obligation:
        """This obligation with ``changes`` (field names of this class)."""
        return replace(self, **changes)

    def involves(self, member: str) -> bool:
        """True when ``member`` is the payer or the payee."""
        return member in (self.payer, self.payee)


def obligation_message(domain: Domain, obligation: Obligation) -> dict[str, Any]:
    """The netting contract's ``Obligation`` typed data."""
    return {
        "types": {"EIP712Domain": DOMAIN_FIELDS, "Obligation": OBLIGATION_FIELDS},
        "primaryType": "Obligation",
        "domain": domain.as_dict(),
        "message": obligation.as_message(),
    }


def obligation_id(domain: Domain, obligation: Obligation) -> bytes:
    """The obligation's id: its EIP-712 digest (what the parties sign), computed off-chain."""
    signable = encode_typed_data(full_message=obligation_message(domain, obligation))
    return bytes(keccak(b"\x19" + signable.version + signable.header + signable.body))


def sign_obligation(signer: LocalAccount, domain: Domain, obligation: Obligation) -> Signature:
    """``signer``'s EIP-712 signature of ``obligation`` under ``domain``.

    Raises:
        InputError: ``signer`` is neither the payer nor the payee.
    """
    if not obligation.involves(signer.address):
        raise InputError(f"{signer.address} is not a party to this obligation and cannot consent to it")
    return sign_typed(signer, obligation_message(domain, obligation))
