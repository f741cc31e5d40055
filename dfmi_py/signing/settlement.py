"""Settlement instructions (pure: no chain access): the ``Instruction`` struct, its EIP-712 typed
data and id, and signing.

An instruction says: ``party_a`` delivers ``amount_a`` of ``token_a`` to ``party_b``, and
``party_b`` delivers ``amount_b`` of ``token_b`` to ``party_a``, both or neither, until
``deadline`` (inclusive). Both parties sign the same struct under the settlement contract's
domain, so a signature binds the chain, the contract and every field; the nonce (shared by the
two parties, see IAtomicSettlement.sol) makes it settle at most once.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, replace
from typing import Any

from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from dfmi_py.addresses import checksum
from dfmi_py.errors import InputError
from dfmi_py.signing.eip712 import DOMAIN_FIELDS, Domain, Signature, sign_typed

INSTRUCTION_FIELDS = [
    {"name": "partyA", "type": "address"},
    {"name": "tokenA", "type": "address"},
    {"name": "amountA", "type": "uint256"},
    {"name": "partyB", "type": "address"},
    {"name": "tokenB", "type": "address"},
    {"name": "amountB", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
    {"name": "nonce", "type": "uint256"},
]

#: Nonces per storage word of the contract's bitmap (two bits each).
NONCES_PER_WORD = 128
_UINT256 = 2**256


@dataclass(frozen=True)
class Instruction:
    """``Instruction`` of IAtomicSettlement.sol, in field order.

    Amounts are integers in each token's smallest unit; ``deadline`` is a Unix time (the last
    second at which the instruction settles).
    """

    party_a: str
    token_a: str
    amount_a: int
    party_b: str
    token_b: str
    amount_b: int
    deadline: int
    nonce: int

    def __post_init__(self) -> None:
        for name in ("party_a", "token_a", "party_b", "token_b"):
            value = getattr(self, name)
            try:
                object.__setattr__(self, name, checksum(value))
            except InputError as exc:
                raise InputError(f"{name}: {exc}") from None
        for name in ("amount_a", "amount_b", "deadline", "nonce"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < _UINT256:
                raise InputError(f"{name} must be an integer in [0, 2**256), got {value!r}")

    def validate(self) -> None:
        """Raise :class:`InputError` for an instruction the contract would refuse whatever the chain's state.

        Raises:
            InputError: a zero amount, the same party or the same token on both sides.
        """
        if self.amount_a == 0 or self.amount_b == 0:
            raise InputError("both legs need an amount above zero")
        if self.party_a == self.party_b:
            raise InputError(f"{self.party_a} cannot settle with itself")
        if self.token_a == self.token_b:
            raise InputError(f"both legs are in the same token {self.token_a}")

    def as_tuple(self) -> tuple[Any, ...]:
        """The struct as web3 takes it."""
        return astuple(self)

    def as_message(self) -> dict[str, Any]:
        """The struct as EIP-712 typed data (and the ABI) name its fields."""
        return {
            "partyA": self.party_a,
            "tokenA": self.token_a,
            "amountA": self.amount_a,
            "partyB": self.party_b,
            "tokenB": self.token_b,
            "amountB": self.amount_b,
            "deadline": self.deadline,
            "nonce": self.nonce,
        }

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> Instruction:
        """The instruction from its field-name form (an event's or a JSON file's)."""
        expected = {f["name"] for f in INSTRUCTION_FIELDS}
        if set(message) != expected:
            raise InputError(f"an instruction needs exactly {sorted(expected)}, got {sorted(message)}")
        return cls(
            message["partyA"],
            message["tokenA"],
            int(message["amountA"]),
            message["partyB"],
            message["tokenB"],
            int(message["amountB"]),
            int(message["deadline"]),
            int(message["nonce"]),
        )

    def but(self, **changes: Any) -> Instruction:
        """This instruction with ``changes`` (field names of this class)."""
        return replace(self, **changes)

    def counterparty_of(self, party: str) -> str:
        """The other party; raises :class:`InputError` when ``party`` is not one."""
        party = to_checksum_address(party)
        if party == self.party_a:
            return self.party_b
        if party == self.party_b:
            return self.party_a
        raise InputError(f"{party} is not a party to this instruction")


def instruction_message(domain: Domain, instruction: Instruction) -> dict[str, Any]:
    """The settlement contract's ``Instruction`` typed data."""
    return {
        "types": {"EIP712Domain": DOMAIN_FIELDS, "Instruction": INSTRUCTION_FIELDS},
        "primaryType": "Instruction",
        "domain": domain.as_dict(),
        "message": instruction.as_message(),
    }


def instruction_id(domain: Domain, instruction: Instruction) -> bytes:
    """The instruction's id: its EIP-712 digest (what the parties sign), computed off-chain."""
    signable = encode_typed_data(full_message=instruction_message(domain, instruction))
    return bytes(keccak(b"\x19" + signable.version + signable.header + signable.body))


def sign_instruction(signer: LocalAccount, domain: Domain, instruction: Instruction) -> Signature:
    """``signer``'s EIP-712 signature of ``instruction`` under ``domain``.

    Raises:
        InputError: ``signer`` is not a party to the instruction.
    """
    if signer.address not in (instruction.party_a, instruction.party_b):
        raise InputError(f"{signer.address} is not a party to this instruction and cannot consent to it")
    return sign_typed(signer, instruction_message(domain, instruction))


def nonce_mark(word: int, nonce: int) -> int:
    """The two-bit mark of ``nonce`` in its bitmap ``word``: 0 unspent, 1 settled, 2 cancelled,
    3 locked in a netting round."""
    return (word >> (2 * (nonce % NONCES_PER_WORD))) & 3
