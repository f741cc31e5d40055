"""Multilateral netting, computed off-chain (pure: no chain access).

:mod:`dfmi_py.netting.obligation` is the ``Obligation`` struct of INetting.sol with its EIP-712
typed data, id and signing; :mod:`dfmi_py.netting.positions` computes the net positions the
netting contract verifies, the recomputation after exclusions, and the compression of a round.
"""

from dfmi_py.netting.obligation import MAX_AMOUNT, Obligation, obligation_id, obligation_message, sign_obligation
from dfmi_py.netting.positions import (
    Compression,
    NetsMismatchError,
    RoundOutcome,
    compression,
    credit_losses,
    exclude,
    member_order,
    net_positions,
    net_vector,
    resolve_round,
    verify_nets,
)

__all__ = [
    "MAX_AMOUNT",
    "Compression",
    "NetsMismatchError",
    "Obligation",
    "RoundOutcome",
    "compression",
    "credit_losses",
    "exclude",
    "member_order",
    "net_positions",
    "net_vector",
    "obligation_id",
    "obligation_message",
    "resolve_round",
    "sign_obligation",
    "verify_nets",
]
