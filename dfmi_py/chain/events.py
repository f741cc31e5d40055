"""Reading contract events fast and in chunks: the one decoder of raw logs the toolkit's readers share.

A reader that follows thousands of events (the keeper, the books) cannot afford web3's per-log
event processing (a hundred microseconds or more each): :func:`event_specs` precomputes, for each
event of an ABI, where its integer fields sit, so :class:`EventLog` reads them straight from their
32-byte words, and decodes the rest with eth_abi only when asked. :func:`fetch_logs` reads the logs
of many contracts and events in block-range chunks (providers cap ``eth_getLogs`` ranges), one
request per chunk, in chain order, each log converted straight from the node's JSON.
"""

from __future__ import annotations

import contextlib
import functools
import gc
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_utils.abi import event_abi_to_log_topic
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import BadResponseFormat, Web3RPCError

#: Blocks per ``eth_getLogs`` request unless configured (many providers cap ranges at 2,000-10,000).
DEFAULT_CHUNK_BLOCKS = 2_000


@dataclass(frozen=True)
class EventSpec:
    """How to decode one event of an ABI (see :func:`event_specs`)."""

    name: str
    indexed: tuple[tuple[str, str], ...]  # (name, type) of the indexed inputs, in topic order
    data_names: tuple[str, ...]
    data_types: tuple[str, ...]
    addresses: tuple[str, ...]  # inputs of type address (checksummed when decoded)
    #: Integer fields read straight from their 32-byte word: ``name -> (in topics, index, signed)``
    #: (a static tuple's fields as ``tuple.field``). Reading a word costs a microsecond where a
    #: full eth_abi decode costs a hundred or more: the keeper reads tens of thousands at a sync.
    ints: Mapping[str, tuple[bool, int, bool]]
    #: Address, ``bool`` and ``bytesN`` fields: ``name -> (in topics, index, type)`` (see
    #: :meth:`EventLog.address` and :meth:`EventLog.fixed_bytes`).
    words: Mapping[str, tuple[bool, int, str]] = field(default_factory=dict)


def event_specs(contract: Contract, names: Iterable[str]) -> dict[bytes, EventSpec]:
    """``topic0 -> how to decode`` for the events ``names`` of ``contract``'s ABI."""
    specs: dict[bytes, EventSpec] = {}
    for name in names:
        abi = contract.events[name].abi
        inputs = abi["inputs"]
        specs[bytes(event_abi_to_log_topic(abi))] = EventSpec(
            name,
            tuple((i["name"], i["type"]) for i in inputs if i["indexed"]),
            tuple(i["name"] for i in inputs if not i["indexed"]),
            tuple(_abi_type(i) for i in inputs if not i["indexed"]),
            tuple(i["name"] for i in inputs if i["type"] == "address"),
            *_words(inputs),
        )
    return specs


def _words(inputs: Sequence[Any]) -> tuple[dict[str, tuple[bool, int, bool]], dict[str, tuple[bool, int, str]]]:
    """Where each integer field of an event sits (see :attr:`EventSpec.ints`), and each address,
    ``bool`` and ``bytesN`` field (:attr:`EventSpec.words`).

    The ABI puts every static value in the data's head at a fixed word and a dynamic one's offset
    in one word, so positions follow from the types; a type whose size is not known here ends
    the mapping (the fields after it are then decoded with eth_abi). An indexed value type is its
    topic; an indexed dynamic one (a hash of it) is not mapped.
    """
    ints: dict[str, tuple[bool, int, bool]] = {}
    others: dict[str, tuple[bool, int, str]] = {}
    topic = 1
    for item in inputs:
        if item["indexed"]:
            kind = str(item["type"])
            if _is_int(kind):
                ints[item["name"]] = (True, topic, kind.startswith("int"))
            elif _is_word(kind):
                others[item["name"]] = (True, topic, kind)
            topic += 1
    position = 0
    for item in (i for i in inputs if not i["indexed"]):
        size = _static_words(item, str(item["name"]), position, ints, others)
        if size is None:
            break
        position += size
    return ints, others


def _is_int(kind: str) -> bool:
    return kind.startswith(("uint", "int")) and not kind.endswith("]")


def _is_word(kind: str) -> bool:
    """An address, ``bool`` or ``bytesN``: one word, read as it is."""
    return kind in ("address", "bool") or (kind.startswith("bytes") and kind != "bytes" and not kind.endswith("]"))


def _static_words(
    item: Any,
    name: str,
    position: int,
    ints: dict[str, tuple[bool, int, bool]],
    others: dict[str, tuple[bool, int, str]],
) -> int | None:
    """Words ``item`` takes in the head (recording its integer and other one-word fields), or
    ``None`` if unknown."""
    kind = str(item["type"])
    if kind == "tuple":
        total = 0
        for component in item["components"]:
            size = _static_words(component, f"{name}.{component['name']}", position + total, ints, others)
            if size is None:
                return None
            total += size
        return total
    if _is_int(kind):
        ints[name] = (False, position, kind.startswith("int"))
        return 1
    if _is_word(kind):
        others[name] = (False, position, kind)
        return 1
    if kind in ("bytes", "string"):
        return 1  # the offset of the value in the tail
    return None


class EventLog:
    """One event of a log, its integers read on demand from their words, the rest with eth_abi.

    Attributes:
        name: The event's name.
        log: The raw log.
    """

    __slots__ = ("_args", "_spec", "log", "name")

    def __init__(self, spec: EventSpec, log: Any) -> None:
        self._spec = spec
        self._args: dict[str, Any] | None = None
        self.name = spec.name
        self.log = log

    def _decoded(self, field: str) -> Any:
        """``field`` from the full decode (a field whose word position is not known ahead)."""
        value: Any = self.args
        for part in field.split("."):
            value = value[part]
        return value

    def int(self, field: str) -> int:
        """The integer field ``field`` (``terms.maturity`` for a tuple's field)."""
        where = self._spec.ints.get(field)
        if where is None:
            return int(self._decoded(field))
        in_topics, index, signed = where
        word = bytes(self.log["topics"][index]) if in_topics else bytes(self.log["data"])[32 * index : 32 * index + 32]
        return int.from_bytes(word, "big", signed=signed)

    def address(self, field: str) -> str:
        """The address field ``field`` (``terms.buyer`` for a tuple's field), checksummed."""
        where = self._spec.words.get(field)
        if where is None:
            return str(self._decoded(field))
        return _checksum(_word(self.log, where[0], where[1])[12:])

    def fixed_bytes(self, field: str) -> bytes:
        """The ``bytesN`` field ``field`` (``bytes32`` ids), as its ``N`` bytes."""
        where = self._spec.words.get(field)
        if where is None:
            return bytes(self._decoded(field))
        size = int(where[2][len("bytes") :])
        return _word(self.log, where[0], where[1])[:size]

    @property
    def args(self) -> dict[str, Any]:
        """Every argument by name (addresses checksummed, structs as tuples in their fields' order)."""
        if self._args is None:
            self._args = decode_log(self._spec, self.log)
        return self._args


def _word(log: Any, in_topics: bool, index: int) -> bytes:
    """Topic ``index``, or data word ``index``, of a raw log."""
    if in_topics:
        return bytes(log["topics"][index])
    return bytes(log["data"])[32 * index : 32 * index + 32]


@functools.lru_cache(maxsize=1 << 16)
def _checksum(raw: bytes) -> str:
    """The checksummed spelling of a 20-byte address (kept: a reader meets the same few often)."""
    return to_checksum_address(raw)


def _abi_type(item: Any) -> str:
    """The ABI type string of an input, tuples spelled out (``(address,uint96,...)``)."""
    kind = str(item["type"])
    if kind.startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in item["components"]) + ")" + kind[len("tuple") :]
    return kind


def decode_log(spec: EventSpec, log: Any) -> dict[str, Any]:
    """The arguments of ``log`` by name (indexed value types from their topics; eth_abi for the data)."""
    args: dict[str, Any] = {}
    for (name, kind), topic in zip(spec.indexed, log["topics"][1:], strict=False):
        args[name] = abi_decode([kind], bytes(topic))[0]
    data = bytes(log["data"])
    if spec.data_types:
        args.update(zip(spec.data_names, abi_decode(list(spec.data_types), data), strict=True))
    for name in spec.addresses:
        args[name] = to_checksum_address(args[name])
    return args


def fetch_logs(
    w3: Web3,
    addresses: Sequence[str],
    topics: Sequence[str],
    from_block: int,
    to_block: int,
    chunk_blocks: int = DEFAULT_CHUNK_BLOCKS,
) -> Iterator[list[dict[str, Any]]]:
    """The logs of ``addresses`` whose first topic is one of ``topics``, from ``from_block`` to
    ``to_block`` inclusive (topics as ``0x`` hex), one list per chunk of at most ``chunk_blocks``
    blocks, each in chain order (block number, then log index). One ``eth_getLogs`` request per chunk.

    Each log is a plain dict converted straight from the node's JSON (web3's formatting of a log
    costs over a hundred microseconds, this a few): ``address`` (hex as the node gives it),
    ``topics`` (a list of 32-byte ``bytes``), ``data`` (``bytes``), ``blockNumber``, ``logIndex``
    and ``transactionIndex`` (ints), ``blockHash`` and ``transactionHash`` (``0x`` hex, lower case).

    Raises:
        Web3RPCError: the node answered with an error (a range too large for the provider, say).
        BadResponseFormat: the answer had no result.
        OSError: the transport failed (requests' errors), as web3's own reads raise it.
    """
    provider: Any = w3.provider
    start = from_block
    while start <= to_block:
        end = min(to_block, start + chunk_blocks - 1)
        query = {"address": list(addresses), "fromBlock": hex(start), "toBlock": hex(end), "topics": [list(topics)]}
        with collector_paused():  # the answer's JSON is parsed into as many objects as the logs
            answer = provider.make_request("eth_getLogs", [query])
            if "error" in answer:
                error = answer["error"]
                message = error.get("message", error) if isinstance(error, dict) else error
                raise Web3RPCError(f"eth_getLogs of blocks {start}-{end}: {message}", answer)
            result = answer.get("result")
            if not isinstance(result, list):
                raise BadResponseFormat(f"eth_getLogs of blocks {start}-{end} answered without a list of logs")
            logs = [_plain_log(item) for item in result]
            logs.sort(key=lambda log: (log["blockNumber"], log["logIndex"]))
        yield logs
        start = end + 1


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused for a bulk read, then as it was.

    Turning tens of thousands of logs into objects allocates hundreds of thousands of small ones,
    none of them garbage: the collector's passes over them cost as much as the conversion itself
    (bench/results/books.md). Nothing here makes reference cycles, so pausing it loses nothing.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _plain_log(item: dict[str, Any]) -> dict[str, Any]:
    """One log of an ``eth_getLogs`` answer with its fields typed (see :func:`fetch_logs`)."""
    return {
        "address": item["address"],
        "topics": [bytes.fromhex(topic[2:]) for topic in item["topics"]],
        "data": bytes.fromhex(item["data"][2:]),
        "blockNumber": int(item["blockNumber"], 16),
        "logIndex": int(item["logIndex"], 16),
        "transactionIndex": int(item["transactionIndex"], 16),
        "blockHash": str(item["blockHash"]).lower(),
        "transactionHash": str(item["transactionHash"]).lower(),
    }
