"""The default fund's governance actions (pure: no chain access): encoding, typed data, approvals.

An action is ``(kind, params, nonce, deadline)``; ``params`` is the ABI encoding of the kind's
arguments (see :data:`PARAM_TYPES`, mirroring ``ActionKind`` in IDefaultFund.sol). Members sign
the EIP-712 struct ``Action(uint8 kind,bytes params,uint256 nonce,uint256 deadline)`` under the
fund's domain, so an approval is bound to the chain, the fund, its fund-wide nonce and a deadline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

from dfmi_py.errors import InputError
from dfmi_py.signing.eip712 import DOMAIN_FIELDS, Domain, sign_typed

ACTION_FIELDS = [
    {"name": "kind", "type": "uint8"},
    {"name": "params", "type": "bytes"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]


class ActionKind(IntEnum):
    """Mirror of the Solidity ``ActionKind`` enum."""

    NONE = 0
    SET_THRESHOLD = 1
    SET_REQUIREMENT = 2
    SET_REPLENISHMENT_WINDOW = 3
    REGISTER_ENGINE = 4
    DEREGISTER_ENGINE = 5
    WITHDRAW = 6
    RELEASE_SURPLUS = 7
    SET_MEMBER_REQUIREMENTS = 8


#: ABI types of each kind's params, in order.
PARAM_TYPES: dict[ActionKind, tuple[str, ...]] = {
    ActionKind.SET_THRESHOLD: ("uint256",),
    ActionKind.SET_REQUIREMENT: ("uint256", "uint256"),
    ActionKind.SET_REPLENISHMENT_WINDOW: ("uint256",),
    ActionKind.REGISTER_ENGINE: ("address",),
    ActionKind.DEREGISTER_ENGINE: ("address",),
    ActionKind.WITHDRAW: ("address", "uint256"),
    ActionKind.RELEASE_SURPLUS: ("address",),
    # Members strictly ascending (see member_requirements_values), one amount each.
    ActionKind.SET_MEMBER_REQUIREMENTS: ("address[]", "uint256[]"),
}


def encode_params(kind: ActionKind, *values: Any) -> bytes:
    """``abi.encode`` of ``values`` as ``kind`` takes them.

    Raises:
        InputError: ``kind`` takes no params or other values.
    """
    types = PARAM_TYPES.get(kind)
    if types is None:
        raise InputError(f"{kind.name} is not an action the fund executes")
    if len(values) != len(types):
        raise InputError(f"{kind.name} takes {len(types)} value(s) {types}, got {len(values)}")
    try:
        return bytes(abi_encode(list(types), list(values)))
    except Exception as exc:  # noqa: BLE001 (eth-abi raises several unrelated types)
        raise InputError(f"{kind.name}: cannot encode {values!r} as {types}: {exc}") from None


def decode_params(kind: ActionKind, params: bytes) -> tuple[Any, ...]:
    """The values ``params`` encodes for ``kind`` (addresses checksummed)."""
    types = PARAM_TYPES.get(kind)
    if types is None:
        raise InputError(f"{kind.name} is not an action the fund executes")
    values = abi_decode(list(types), params)
    return tuple(_checksummed(t, v) for t, v in zip(types, values, strict=True))


def _checksummed(abi_type: str, value: Any) -> Any:
    if abi_type == "address":
        return to_checksum_address(value)
    if abi_type == "address[]":
        return tuple(to_checksum_address(v) for v in value)
    return value


def member_requirements_values(requirements: Mapping[str, int]) -> tuple[list[str], list[int]]:
    """The ``SetMemberRequirements`` values for ``{member: amount}``: members sorted by address, as
    the fund requires (strictly ascending, which also rules out duplicates), amounts alongside.

    Raises:
        InputError: no member, an address given twice (in any spelling), or a negative amount.
    """
    if not requirements:
        raise InputError("SET_MEMBER_REQUIREMENTS needs at least one member")
    by_address: dict[int, tuple[str, int]] = {}
    for member, amount in requirements.items():
        address = to_checksum_address(member)
        if int(address, 16) in by_address:
            raise InputError(f"{address} is given twice: one requirement per member")
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
            raise InputError(f"the requirement of {address} must be a non-negative integer, got {amount!r}")
        by_address[int(address, 16)] = (address, amount)
    ordered = [by_address[key] for key in sorted(by_address)]
    return [a for a, _ in ordered], [amount for _, amount in ordered]


@dataclass(frozen=True)
class Action:
    """A governance action as the fund hashes it (``Action`` in IDefaultFund.sol)."""

    kind: ActionKind
    params: bytes
    nonce: int
    deadline: int

    @classmethod
    def build(cls, kind: ActionKind, *values: Any, nonce: int, deadline: int) -> Action:
        """The action ``kind`` with its params encoded from ``values``."""
        return cls(kind, encode_params(kind, *values), nonce, deadline)

    def as_tuple(self) -> tuple[int, bytes, int, int]:
        """The ABI tuple ``(kind, params, nonce, deadline)``."""
        return (int(self.kind), self.params, self.nonce, self.deadline)

    def values(self) -> tuple[Any, ...]:
        """The decoded params."""
        return decode_params(self.kind, self.params)

    def describe(self) -> str:
        """One line for a signer to read before approving."""
        try:
            values = self.values()
        except Exception:  # noqa: BLE001 (params the kind does not take: show them raw)
            shown = "0x" + self.params.hex()
        else:
            if self.kind == ActionKind.SET_MEMBER_REQUIREMENTS:
                shown = ", ".join(f"{m}={a}" for m, a in zip(*values, strict=False))
            else:
                shown = ", ".join(str(v) for v in values)
        return f"{self.kind.name}({shown}) nonce={self.nonce} deadline={self.deadline}"


@dataclass(frozen=True)
class Approval:
    """One member's signature of an action."""

    signer: str
    signature: bytes

    def as_tuple(self) -> tuple[str, bytes]:
        """The ABI tuple ``(signer, signature)``."""
        return (to_checksum_address(self.signer), self.signature)


def action_message(domain: Domain, action: Action) -> dict[str, Any]:
    """The fund's ``Action`` typed data."""
    message = {"kind": int(action.kind), "params": action.params, "nonce": action.nonce, "deadline": action.deadline}
    return {
        "types": {"EIP712Domain": DOMAIN_FIELDS, "Action": ACTION_FIELDS},
        "primaryType": "Action",
        "domain": domain.as_dict(),
        "message": message,
    }


def sign_action(signer: LocalAccount, domain: Domain, action: Action) -> Approval:
    """``signer``'s approval of ``action`` under ``domain``."""
    return Approval(signer.address, sign_typed(signer, action_message(domain, action)).packed())


def sorted_approvals(approvals: Iterable[Approval]) -> list[Approval]:
    """Approvals in the order the fund requires: by signer address, ascending."""
    return sorted(approvals, key=lambda a: int(a.signer, 16))
