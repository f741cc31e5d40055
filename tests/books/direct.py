"""Contract views read straight from the node: ``eth_call`` with eth_abi encoding, many per
JSON-RPC batch (web3 re-validates a contract's ABI on every call, which made checks slower than
the views they check)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import requests
from eth_abi.abi import decode, encode
from eth_utils.abi import function_abi_to_4byte_selector, get_abi_input_types, get_abi_output_types
from eth_utils.address import to_checksum_address
from web3.contract import Contract

Call = tuple[Contract, str, tuple[Any, ...]]


class Direct:
    """Reads contract views at one block, a batch of them per request."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = requests.Session()
        self.session.trust_env = False
        self._functions: dict[tuple[str, str], tuple[bytes, list[str], list[str]]] = {}

    def _function(self, contract: Contract, name: str) -> tuple[bytes, list[str], list[str]]:
        key = (contract.address, name)
        found = self._functions.get(key)
        if found is None:
            abi = next(item for item in contract.abi if item.get("type") == "function" and item.get("name") == name)
            found = (
                function_abi_to_4byte_selector(abi),  # type: ignore[arg-type]
                list(get_abi_input_types(abi)),  # type: ignore[arg-type]
                list(get_abi_output_types(abi)),  # type: ignore[arg-type]
            )
            self._functions[key] = found
        return found

    def read(self, calls: Sequence[Call], block: int) -> list[Any]:
        """Each call's result (a single output unwrapped; addresses checksummed)."""
        if not calls:
            return []
        body = []
        outputs = []
        for index, (contract, name, args) in enumerate(calls):
            selector, inputs, output = self._function(contract, name)
            data = "0x" + (selector + encode(inputs, list(args))).hex()
            body.append(
                {
                    "jsonrpc": "2.0",
                    "id": index,
                    "method": "eth_call",
                    "params": [{"to": contract.address, "data": data}, hex(block)],
                }
            )
            outputs.append(output)
        replies = sorted(self.session.post(self.url, json=body).json(), key=lambda r: r["id"])
        results = []
        for reply, output in zip(replies, outputs, strict=True):
            assert "error" not in reply, reply
            values = _checksummed(decode(output, bytes.fromhex(reply["result"][2:])))
            results.append(values[0] if len(values) == 1 else values)
        return results


def _checksummed(value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(_checksummed(v) for v in value)
    if isinstance(value, list):
        return [_checksummed(v) for v in value]
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return to_checksum_address(value)
    return value
