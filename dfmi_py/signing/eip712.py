"""EIP-712 domains and messages (pure: no chain access), and signing with eth-account.

A signature is bound to a chain and a contract through the domain, and to a nonce through the
message, so it cannot be replayed elsewhere or twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount

DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]

PERMIT_FIELDS = [
    {"name": "owner", "type": "address"},
    {"name": "spender", "type": "address"},
    {"name": "value", "type": "uint256"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]


@dataclass(frozen=True)
class Domain:
    """An EIP-712 domain with name, version, chain id and verifying contract (as OpenZeppelin's)."""

    name: str
    version: str
    chain_id: int
    verifying_contract: str

    def as_dict(self) -> dict[str, Any]:
        """The domain as eth-account expects it."""
        return {
            "name": self.name,
            "version": self.version,
            "chainId": self.chain_id,
            "verifyingContract": self.verifying_contract,
        }


@dataclass(frozen=True)
class Signature:
    """An ECDSA signature split as Solidity takes it."""

    v: int
    r: bytes
    s: bytes

    def packed(self) -> bytes:
        """The 65-byte ``r || s || v`` form that OpenZeppelin's ECDSA and SignatureChecker take."""
        return self.r + self.s + bytes([self.v])


def permit_message(domain: Domain, owner: str, spender: str, value: int, nonce: int, deadline: int) -> dict[str, Any]:
    """The EIP-2612 ``Permit`` typed data."""
    message = {"owner": owner, "spender": spender, "value": value, "nonce": nonce, "deadline": deadline}
    return _typed(domain, "Permit", PERMIT_FIELDS, message)


def sign_typed(signer: LocalAccount, typed_data: dict[str, Any]) -> Signature:
    """Sign EIP-712 ``typed_data`` with ``signer``'s key."""
    signed = signer.sign_message(encode_typed_data(full_message=typed_data))
    return Signature(v=signed.v, r=signed.r.to_bytes(32, "big"), s=signed.s.to_bytes(32, "big"))


AMENDMENT_FIELDS = [
    {"name": "tradeId", "type": "uint256"},
    {"name": "quantity", "type": "uint96"},
    {"name": "maturity", "type": "uint40"},
    {"name": "buyerIm", "type": "uint128"},
    {"name": "sellerIm", "type": "uint128"},
    {"name": "payment", "type": "int256"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]

TERMINATION_FIELDS = [
    {"name": "tradeId", "type": "uint256"},
    {"name": "payment", "type": "int256"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]


def amendment_message(domain: Domain, amendment: dict[str, int]) -> dict[str, Any]:
    """The derivative engine's ``Amendment`` typed data (keys as in :data:`AMENDMENT_FIELDS`)."""
    return _typed(domain, "Amendment", AMENDMENT_FIELDS, amendment)


def termination_message(domain: Domain, termination: dict[str, int]) -> dict[str, Any]:
    """The derivative engine's ``Termination`` typed data (keys as in :data:`TERMINATION_FIELDS`)."""
    return _typed(domain, "Termination", TERMINATION_FIELDS, termination)


def _typed(domain: Domain, primary: str, fields: list[dict[str, str]], message: dict[str, Any]) -> dict[str, Any]:
    expected = {f["name"] for f in fields}
    if set(message) != expected:
        raise ValueError(f"{primary} needs exactly {sorted(expected)}, got {sorted(message)}")
    return {
        "types": {"EIP712Domain": DOMAIN_FIELDS, primary: fields},
        "primaryType": primary,
        "domain": domain.as_dict(),
        "message": message,
    }
