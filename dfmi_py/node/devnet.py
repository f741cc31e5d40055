"""Conveniences that only a development chain (Anvil) offers."""

from __future__ import annotations

from web3 import Web3

from dfmi_py.errors import NodeError


def advance_time(w3: Web3, seconds: int) -> int:
    """Move the chain's clock forward by ``seconds`` and mine a block; returns the new timestamp.

    Raises:
        NodeError: when the node does not offer ``evm_increaseTime`` (not a development chain).
    """
    response = w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    if "error" in response:
        raise NodeError(f"this chain cannot move its clock (evm_increaseTime: {response['error']}): use a devnet")
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    return int(w3.eth.get_block("latest")["timestamp"])
