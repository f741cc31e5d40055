"""Every enum the contracts' interfaces declare, and the one Python enum that mirrors each.

The Python enums live beside the API that uses them (``TradeState`` in
:mod:`dfmi_py.api.derivatives`, ...); this registry only points at them, so a decoder that meets
an ABI value of type ``enum TradeState`` shows it by name. A test checks the registry against the
interfaces' sources: every enum there, each member in order.
"""

from __future__ import annotations

from collections.abc import Collection
from enum import IntEnum

from dfmi_py.api.compliance import AccountStatus
from dfmi_py.api.derivatives import Side, TradeState
from dfmi_py.api.fund import EngineStatus, MemberStatus
from dfmi_py.api.netting import ObligationState
from dfmi_py.api.netting import RoundState as NettingRoundState
from dfmi_py.api.oracle import RoundState as OracleRoundState
from dfmi_py.api.settlement import InstructionState
from dfmi_py.signing.fund import ActionKind

#: The Python mirror of each Solidity enum, by (declaring interface, Solidity name).
SOLIDITY_ENUMS: dict[tuple[str, str], type[IntEnum]] = {
    ("IComplianceRegistry", "AccountStatus"): AccountStatus,
    ("IDerivativeEngine", "TradeState"): TradeState,
    ("IDerivativeEngine", "Side"): Side,
    ("IDefaultFund", "MemberStatus"): MemberStatus,
    ("IDefaultFund", "EngineStatus"): EngineStatus,
    ("IDefaultFund", "ActionKind"): ActionKind,
    ("IPriceOracle", "RoundState"): OracleRoundState,
    ("INetting", "RoundState"): NettingRoundState,
    ("INetting", "ObligationState"): ObligationState,
    ("IAtomicSettlement", "InstructionState"): InstructionState,
}


def solidity_enum(internal_type: str, interfaces: Collection[str] = ()) -> type[IntEnum] | None:
    """The Python enum mirroring a Solidity enum, or ``None`` when it is not one.

    Args:
        internal_type: The ABI's ``internalType`` (``"enum TradeState"``, or
            ``"enum IFoo.Kind"`` for an enum declared inside a contract) or the bare name.
        interfaces: The interfaces that declare the error (or function) being decoded. Two
            interfaces declare a ``RoundState`` (the oracle's and the netting round's): the name
            resolves to the one declared by an interface in ``interfaces``, and to none when
            that does not settle it.
    """
    name = internal_type.removeprefix("enum ").rsplit(".", 1)[-1]
    candidates = [(interface, kind) for (interface, enum_name), kind in SOLIDITY_ENUMS.items() if enum_name == name]
    if len(candidates) > 1:
        candidates = [(interface, kind) for interface, kind in candidates if interface in interfaces]
    return candidates[0][1] if len(candidates) == 1 else None
