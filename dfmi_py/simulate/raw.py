"""Plain JSON-RPC for the run's bulk reads and writes: batches, receipts and calldata without
web3's per-field formatting.

A simulation reads back every block and receipt it mined and sends thousands of set-up
transactions; web3's result formatters and ABI validation cost a few milliseconds per item, more
than the node takes to answer. These helpers talk to the provider directly (standard JSON-RPC
only) and parse just the fields the run uses: :func:`rpc_batch` (one HTTP request for many
calls), :class:`Receipt` and :class:`RawLog` (hex parsed once), :func:`wait_receipts`, and
:func:`call_data` (a contract call's calldata from the ABI with eth_abi alone).

:class:`SerialProvider` is the transport to the Anvil a simulation starts: it returns from
``eth_sendRawTransaction`` only once the transaction is mined. Anvil's automine mines each
transaction on arrival, but two that arrive together (a keeper's batches sent back to back, a
feeder's reports) now and then share a block, at random; with one transaction mined before the
next is even sent, every one gets its own block and a run repeats block for block, whatever the
machine's load. A set-up batch is gathered into blocks instead (:meth:`SerialProvider.blocks`):
automine off, a block mined every so much gas, in the order sent.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

from eth_abi.abi import encode as abi_encode
from eth_typing import ABIFunction
from eth_utils.abi import collapse_if_tuple, function_abi_to_4byte_selector
from web3 import HTTPProvider, Web3
from web3.contract import Contract
from web3.types import RPCEndpoint, RPCResponse

from dfmi_py.errors import ChainConnectionError, InputError, TransactionError

#: Requests per JSON-RPC batch.
BATCH = 200
#: Seconds :func:`wait_receipts` waits for every receipt.
RECEIPT_TIMEOUT_SECONDS = 120.0
#: Gas limits a gathered block holds (:meth:`SerialProvider.blocks`): half a 30M block.
GATHER_BLOCK_GAS = 15_000_000

_encoders: dict[tuple[str, str], tuple[bytes, list[str]]] = {}


def hex_int(value: Any) -> int:
    """A JSON-RPC quantity (``"0x1a"``) as an integer (``None`` as 0)."""
    if value is None:
        return 0
    return int(value, 16) if isinstance(value, str) else int(value)


def hex_bytes(value: str | None) -> bytes:
    """JSON-RPC data (``"0x…"``) as bytes."""
    return bytes.fromhex(value[2:]) if value else b""


def rpc(w3: Web3, method: str, params: Sequence[Any]) -> Any:
    """One JSON-RPC call, its ``result``.

    Raises:
        TransactionError: the node answered with an error.
    """
    response = w3.provider.make_request(RPCEndpoint(method), list(params))
    if "error" in response:
        raise TransactionError(f"{method}: {response['error']}")
    return response.get("result")


def rpc_batch(w3: Web3, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
    """Every call's ``result``, in order, in JSON-RPC batches of :data:`BATCH`.

    Raises:
        ChainConnectionError: the provider cannot send batches, or the node refused one.
        TransactionError: the node answered one call with an error.
    """
    results: list[Any] = []
    batcher = getattr(w3.provider, "make_batch_request", None)
    if batcher is None:
        raise ChainConnectionError(f"{type(w3.provider).__name__} cannot send JSON-RPC batches")
    for start in range(0, len(calls), BATCH):
        chunk = [(RPCEndpoint(method), list(params)) for method, params in calls[start : start + BATCH]]
        responses = batcher(chunk)
        if not isinstance(responses, list):
            raise ChainConnectionError(f"the node refused a JSON-RPC batch: {responses.get('error')}")
        for (method, _), response in zip(chunk, responses, strict=True):
            if "error" in response:
                raise TransactionError(f"{method}: {response['error']}")
            results.append(response.get("result"))
    return results


@dataclass(frozen=True)
class RawLog:
    """One log of a receipt: the emitting address (lower case), topics and data."""

    address: str
    topics: tuple[bytes, ...]
    data: bytes


@dataclass(frozen=True)
class Receipt:
    """The fields of a transaction receipt the run uses."""

    tx_hash: str
    block: int
    status: int
    gas_used: int
    sender: str
    to: str | None
    contract_address: str | None
    logs: tuple[RawLog, ...]

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> Receipt:
        """From ``eth_getTransactionReceipt``'s plain result."""
        logs = tuple(
            RawLog(
                str(log["address"]).lower(),
                tuple(hex_bytes(topic) for topic in log["topics"]),
                hex_bytes(log["data"]),
            )
            for log in raw.get("logs", [])
        )
        return cls(
            tx_hash=str(raw["transactionHash"]).lower(),
            block=hex_int(raw["blockNumber"]),
            status=hex_int(raw.get("status")),
            gas_used=hex_int(raw["gasUsed"]),
            sender=str(raw["from"]),
            to=raw.get("to"),
            contract_address=raw.get("contractAddress"),
            logs=logs,
        )


def wait_receipts(
    w3: Web3, hashes: Sequence[str], timeout: float = RECEIPT_TIMEOUT_SECONDS, pause: float = 0.005
) -> list[Receipt]:
    """The receipts of ``hashes``, in order, polling in batches until every one is there.

    Raises:
        TransactionError: some receipt is still missing after ``timeout`` seconds.
    """
    found: dict[str, Receipt] = {}
    deadline = time.monotonic() + timeout
    while True:
        missing = [h for h in hashes if h not in found]
        if not missing:
            return [found[h] for h in hashes]
        for tx_hash, raw in zip(
            missing, rpc_batch(w3, [("eth_getTransactionReceipt", [h]) for h in missing]), strict=True
        ):
            if raw is not None:
                found[tx_hash] = Receipt.parse(raw)
        if len(found) == len(hashes):
            continue
        if time.monotonic() >= deadline:
            raise TransactionError(f"{len(hashes) - len(found)} transactions not mined after {timeout:g} s")
        time.sleep(pause)
        pause = min(pause * 1.5, 1.0)


def call_data(contract: Contract, function: str, *args: Any) -> bytes:
    """The calldata of ``contract.function(*args)``, encoded with eth_abi from the ABI (no web3
    validation: the arguments must already be of the ABI's types; addresses as hex strings).

    Raises:
        InputError: the ABI has no function of that name, or several.
    """
    key = (str(contract.address), function)
    encoder = _encoders.get(key)
    if encoder is None:
        found = [item for item in contract.abi if item.get("type") == "function" and item.get("name") == function]
        if len(found) != 1:
            raise InputError(f"the ABI has {len(found)} functions named {function!r}")
        abi = cast(ABIFunction, found[0])
        types = [collapse_if_tuple(dict(item)) for item in abi.get("inputs", [])]
        encoder = (bytes(function_abi_to_4byte_selector(abi)), types)
        _encoders[key] = encoder
    selector, types = encoder
    return selector + abi_encode(types, list(args))


class SerialProvider(HTTPProvider):
    """An HTTP provider whose ``eth_sendRawTransaction`` returns once the transaction is mined (see
    the module's text), for a development node that mines on arrival (Anvil). A transaction still
    not mined after ``mined_timeout`` seconds is left to the caller's own wait.

    :meth:`blocks` gathers many transactions into blocks instead: the set-up's batches."""

    def __init__(self, *args: Any, mined_timeout: float = 10.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.mined_timeout = mined_timeout
        self._gathering = False

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        """The request; for a transaction sent, once it is mined (unless gathering blocks)."""
        response = super().make_request(method, params)
        if method == "eth_sendRawTransaction" and response.get("result") and not self._gathering:
            self._until_mined(str(response["result"]))
        return response

    @contextlib.contextmanager
    def blocks(self, block_gas: int = GATHER_BLOCK_GAS) -> Iterator[Callable[[int], None]]:
        """Automine off for the block: transactions sent return at once, and the function yielded,
        called with each transaction's gas limit before it is sent, mines a block whenever that
        transaction would take the block's gas limits past ``block_gas`` (half a 30M block, so the
        base fee does not climb). On the way out the rest are mined and automine is back on.
        Blocks hold the transactions in the order sent: the node orders equal fees by arrival."""
        self._call("evm_setAutomine", [False])
        self._gathering = True
        gathered = 0

        def before_send(gas: int) -> None:
            nonlocal gathered
            if gathered and gathered + gas > block_gas:
                self._call("evm_mine", [])
                gathered = 0
            gathered += gas

        try:
            yield before_send
        finally:
            self._gathering = False
            try:
                while hex_int(self._call("txpool_status", []).get("pending")) > 0:
                    self._call("evm_mine", [])
            finally:
                self._call("evm_setAutomine", [True])

    def _call(self, method: str, params: list[Any]) -> Any:
        response = super().make_request(RPCEndpoint(method), params)
        if "error" in response:
            raise TransactionError(f"{method}: {response['error']}")
        return response.get("result")

    def _until_mined(self, tx_hash: str) -> None:
        deadline = time.monotonic() + self.mined_timeout
        pause = 0.0005
        while time.monotonic() < deadline:
            if super().make_request(RPCEndpoint("eth_getTransactionReceipt"), [tx_hash]).get("result") is not None:
                return
            time.sleep(pause)
            pause = min(pause * 2, 0.05)
