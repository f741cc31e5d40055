"""Conveniences that only a development chain (Anvil) offers."""

from __future__ import annotations

from typing import Any

from web3 import Web3

from dfmi_py.errors import InputError, NodeError

#: 9999-12-31T23:59:59Z: the latest time ISO 8601 (and the toolkit's display of times) can show.
LATEST_TIME = 253_402_300_799


def advance_time(w3: Web3, seconds: int) -> int:
    """Move the chain's clock forward by ``seconds`` and mine a block; returns the new timestamp.

    Raises:
        NodeError: when the node does not offer ``evm_increaseTime`` (not a development chain).
        InputError: the new time would be past :data:`LATEST_TIME`.
    """
    now = int(w3.eth.get_block("latest")["timestamp"])
    if now + seconds > LATEST_TIME:
        raise InputError(
            f"{seconds:,} s from the chain's time is past 9999-12-31T23:59:59Z, the latest time the toolkit "
            "shows: advance by less"
        )
    response = w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    if "error" in response:
        raise NodeError(f"this chain cannot move its clock (evm_increaseTime: {response['error']}): use a devnet")
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    return int(w3.eth.get_block("latest")["timestamp"])


def mine_at(w3: Web3, timestamp: int) -> int:
    """Mine a block at ``timestamp`` (after the latest block's time); returns the new block's time.

    Unlike :func:`advance_time` this also works on an Anvil whose blocks follow a fixed interval
    (:func:`fix_block_interval`), where ``evm_increaseTime`` has no effect.

    Raises:
        NodeError: when the node does not offer ``evm_setNextBlockTimestamp`` (not a development chain).
    """
    _devnet_call(w3, "evm_setNextBlockTimestamp", [timestamp])
    _devnet_call(w3, "evm_mine", [])
    return int(w3.eth.get_block("latest")["timestamp"])


def fix_block_interval(w3: Web3, seconds: int) -> None:
    """Give every new block the previous block's time plus ``seconds`` (Anvil), whatever the wall
    clock says: the chain's times, and so its base fees and hashes, repeat from one run to the next.

    Raises:
        NodeError: when the node does not offer ``anvil_setBlockTimestampInterval``.
    """
    _devnet_call(w3, "anvil_setBlockTimestampInterval", [seconds])


def _devnet_call(w3: Web3, method: str, params: list[Any]) -> Any:
    response = w3.provider.make_request(method, params)  # type: ignore[arg-type]
    if "error" in response:
        raise NodeError(f"this chain cannot move its clock ({method}: {response['error']}): use a devnet")
    return response.get("result")
