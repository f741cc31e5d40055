"""Every event of a deployed suite, read from the chain in chunks and cached by block number and hash.

:class:`Ledger` reads the logs of every contract of a deployment manifest (the registry, the cash
token, the security, each market's oracle and engine, the default fund, the settlement and the
netting contract), every event of their ABIs, from the manifest's first deployment block:

- **Chunks.** ``eth_getLogs`` over ``chunk_blocks`` blocks at a time (providers cap the range),
  one request per chunk for every contract and event at once
  (:func:`dfmi_py.chain.events.fetch_logs`).
- **Lazy decoding.** Each log becomes a :class:`LedgerEvent` whose ``log`` is an
  :class:`~dfmi_py.chain.events.EventLog`: integer, address and ``bytesN`` fields are read
  straight from their 32-byte words when asked, the rest decoded with eth_abi only when asked.
- **Block times.** Only the blocks that have events are read (``eth_getBlockByNumber``), in
  JSON-RPC batch requests (a node that refuses batches is asked one block at a time): 10,000
  blocks of events cost a few dozen round trips, not 10,000. Each log's block hash is checked
  against its block's: a chain that moved while it was read is read again.
- **Incremental.** :meth:`Ledger.refresh` reads from the last block read plus one to the head.
- **Reorganisations.** The cache is keyed by block number *and* hash: the ``(number, hash)`` of
  every block with events and of every head read is kept. When the last block read is no longer
  the chain's block at that height, the ledger walks back over those pairs (a batch of them per
  round trip) to the newest one the chain still has, drops every event after it and reads again
  from there; a reorganisation deeper than everything recorded reads everything again.

Only standard JSON-RPC is used: ``eth_getLogs``, ``eth_getBlockByNumber`` (and ``eth_chainId``
through web3). The cache lives in memory only: nothing is written to disk (a new ledger reads the
chain again; persistence is not provided).

Trust: the ledger trusts the node it is given to report the chain truthfully; it checks only that
what it read hangs together (each log's block hash against that block's).
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import Web3Exception

from dfmi_py.chain.client import Chain
from dfmi_py.chain.events import DEFAULT_CHUNK_BLOCKS, EventLog, EventSpec, collector_paused, event_specs, fetch_logs
from dfmi_py.deploy.suite import Deployment
from dfmi_py.errors import ConfigError, DfmiError

logger = logging.getLogger(__name__)

#: Requests per JSON-RPC batch (block headers, view calls): large enough to make 10,000 blocks a
#: few dozen round trips, small enough for providers that cap a batch's size.
BATCH_SIZE = 500
#: Recorded ``(number, hash)`` pairs checked per round trip when walking back to a fork point.
WALK_BATCH = 16
#: Times a refresh starts again when the chain moved while it was being read.
MAX_ATTEMPTS = 3
#: What a node that refuses (or mangles) a JSON-RPC batch makes web3 raise: an HTTP error
#: (requests' errors are OSErrors), a JSON-RPC error, or an answer web3 cannot format.
BATCH_ERRORS = (Web3Exception, OSError, ValueError, TypeError, KeyError)


class LedgerError(DfmiError):
    """The ledger could not read a consistent view of the chain (it kept moving, or the node failed)."""


@dataclass(frozen=True)
class LedgerEvent:
    """One event of one of the suite's contracts.

    Attributes:
        contract: The contract's manifest key (``"ComplianceRegistry"``, ``"DerivativeEngine@EURUSD"``).
        address: The contract's address (checksummed).
        name: The event's name (``"VariationMarginSettled"``).
        block: The block it was emitted in.
        block_hash: That block's hash (``0x`` hex).
        log_index: Its position in the block.
        tx_hash: The transaction that emitted it (``0x`` hex).
        timestamp: The block's time (Unix seconds).
        log: The decoded log: ``log.int("field")`` reads an integer field, ``log.args`` every field.
    """

    contract: str
    address: str
    name: str
    block: int
    block_hash: str
    log_index: int
    tx_hash: str
    timestamp: int
    log: EventLog


@dataclass
class LedgerStats:
    """What the ledger asked the node, in total.

    Attributes:
        log_requests: ``eth_getLogs`` requests (one per chunk).
        block_requests: Round trips reading blocks (a batch counts once).
        blocks_read: Blocks read (each block of a batch counts).
        full_reads: Reads from the first block (the first refresh, and reorganisations deeper than
            the cache).
        reorgs: Reorganisations met.
        events: Events read (re-reads after a reorganisation count again).
    """

    log_requests: int = 0
    block_requests: int = 0
    blocks_read: int = 0
    full_reads: int = 0
    reorgs: int = 0
    events: int = 0


class Contracts:
    """The deployment's contract objects, each built once, from one web3 factory per artifact (web3
    processes an ABI on every build: a dozen builds cost a fifth of a second)."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self._built: dict[str, Contract] = {}
        self._factories: dict[str, type[Contract]] = {}

    def __contains__(self, key: str) -> bool:
        return key in self.deployment.manifest.contracts

    def __getitem__(self, key: str) -> Contract:
        found = self._built.get(key)
        if found is None:
            record = self.deployment.manifest.record(key)
            factory = self._factories.get(record.artifact)
            if factory is None:
                chain = self.deployment.chain
                abi = chain.artifacts[record.artifact].abi
                factory = self._factories[record.artifact] = chain.w3.eth.contract(abi=abi)
            found = self._built[key] = factory(address=to_checksum_address(record.address))
        return found

    def get(self, key: str) -> Contract | None:
        """The contract ``key``, or ``None`` when the suite has none."""
        if key not in self.deployment.manifest.contracts:
            return None
        return self[key]


@dataclass(frozen=True)
class _Contract:
    key: str
    address: str
    specs: dict[bytes, EventSpec]


@dataclass
class _Header:
    number: int
    hash: str
    timestamp: int


@dataclass
class _Cache:
    """What has been read: events in chain order and the recorded (number, hash) pairs."""

    events: list[LedgerEvent] = field(default_factory=list)
    #: Block numbers of ``events`` (for bisecting on a reorganisation).
    blocks: list[int] = field(default_factory=list)
    #: Recorded ``(number, hash)`` pairs, ascending: every block with events and every head read.
    checkpoints: list[tuple[int, str]] = field(default_factory=list)
    #: The last block read (the head of the last refresh).
    last: tuple[int, str] | None = None
    last_timestamp: int = 0


class _ChainMoved(Exception):
    """The chain changed while a refresh was reading it."""


class Ledger:
    """Every event of a deployed suite, kept current by :meth:`refresh`.

    Args:
        chain: The chain.
        deployment: The suite (its manifest names the contracts and their deployment blocks).
        chunk_blocks: Most blocks per ``eth_getLogs`` request.
        start_block: First block read (default: the manifest's earliest deployment block).
        batch_size: Most requests per JSON-RPC batch.
        contracts: The deployment's contract objects, when the caller has them already.

    Raises:
        ConfigError: a chunk or batch size below 1.
    """

    def __init__(
        self,
        chain: Chain,
        deployment: Deployment,
        chunk_blocks: int = DEFAULT_CHUNK_BLOCKS,
        *,
        start_block: int | None = None,
        batch_size: int = BATCH_SIZE,
        contracts: Contracts | None = None,
    ) -> None:
        if chunk_blocks < 1:
            raise ConfigError(f"chunk_blocks must be at least 1, got {chunk_blocks}")
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        self.chain = chain
        self.w3 = chain.w3
        self.deployment = deployment
        self.chunk_blocks = chunk_blocks
        self.batch_size = batch_size
        manifest = deployment.manifest
        self.start_block = start_block if start_block is not None else min(r.block for r in manifest.contracts.values())
        self.contracts = contracts if contracts is not None else Contracts(deployment)
        by_artifact: dict[str, dict[bytes, EventSpec]] = {}
        self._contracts: dict[str, _Contract] = {}
        for key, record in manifest.contracts.items():
            specs = by_artifact.get(record.artifact)
            if specs is None:
                contract = self.contracts[key]
                names = [str(item.get("name")) for item in contract.abi if item.get("type") == "event"]
                specs = by_artifact[record.artifact] = event_specs(contract, names)
            address = to_checksum_address(record.address)
            self._contracts[address.lower()] = _Contract(key, address, specs)
        self._addresses = [c.address for c in self._contracts.values()]
        self._topics = sorted({"0x" + topic.hex() for c in self._contracts.values() for topic in c.specs})
        self._cache = _Cache()
        self._by_contract: dict[str, list[LedgerEvent]] | None = None
        self._blocks = RpcBatcher(chain.w3, batch_size)
        #: Increases whenever the events change (a refresh that read something, or a reorganisation).
        self.version = 0
        self._stats = LedgerStats()

    # ------------------------------------------------------------------ reading

    @property
    def stats(self) -> LedgerStats:
        """What the ledger asked the node so far."""
        return replace(self._stats, block_requests=self._blocks.requests, blocks_read=self._blocks.calls)

    @property
    def head(self) -> int | None:
        """The last block read (``None`` before the first :meth:`refresh`)."""
        return None if self._cache.last is None else self._cache.last[0]

    @property
    def head_hash(self) -> str | None:
        """The hash of the last block read."""
        return None if self._cache.last is None else self._cache.last[1]

    @property
    def head_timestamp(self) -> int:
        """The time of the last block read (Unix seconds; 0 before the first refresh)."""
        return self._cache.last_timestamp

    @property
    def log_filter(self) -> tuple[list[str], list[str]]:
        """The addresses and first topics every ``eth_getLogs`` request of the ledger asks for."""
        return list(self._addresses), list(self._topics)

    @property
    def addresses(self) -> dict[str, str]:
        """Every contract read: manifest key -> address."""
        return {c.key: c.address for c in self._contracts.values()}

    def refresh(self) -> int:
        """Read what is new since the last refresh, up to the chain's head.

        Returns:
            The head block number read.

        Raises:
            LedgerError: the chain kept moving while it was read, or the node failed (the ledger
                is then as it was before the call).
        """
        for attempt in range(MAX_ATTEMPTS):
            try:
                return self._refresh()
            except _ChainMoved:
                logger.info("the chain moved while it was read (attempt %s); reading again", attempt + 1)
            except DfmiError:
                raise
            except Exception as exc:  # a node or transport failure of any kind
                raise LedgerError(f"reading the chain's events failed ({type(exc).__name__}: {exc})") from exc
        raise LedgerError(f"the chain kept changing while it was read ({MAX_ATTEMPTS} attempts): try again")

    def events(self, contract: str | None = None, names: Iterable[str] | None = None) -> list[LedgerEvent]:
        """The events read, in chain order.

        Args:
            contract: Only this contract's (a manifest key), or every contract whose key starts
                with it when it ends with ``@`` (``"DerivativeEngine@"``: every engine).
            names: Only events of these names.
        """
        if contract is None:
            found: Sequence[LedgerEvent] = self._cache.events
        elif contract.endswith("@"):
            index = self._index()
            keys = [k for k in index if k.startswith(contract)]
            found = (
                index[keys[0]]
                if len(keys) == 1
                else sorted((e for k in keys for e in index[k]), key=lambda e: (e.block, e.log_index))
            )
        else:
            found = self._index().get(contract, [])
        if names is None:
            return list(found)
        wanted = set(names)
        return [e for e in found if e.name in wanted]

    def __len__(self) -> int:
        return len(self._cache.events)

    # ------------------------------------------------------------------ internals

    def _index(self) -> dict[str, list[LedgerEvent]]:
        if self._by_contract is None:
            index: dict[str, list[LedgerEvent]] = {c.key: [] for c in self._contracts.values()}
            for event in self._cache.events:
                index[event.contract].append(event)
            self._by_contract = index
        return self._by_contract

    def _refresh(self) -> int:
        cache = self._cache
        head = self._header("latest")
        if cache.last is not None and cache.last == (head.number, head.hash):
            return head.number
        keep = len(cache.events)
        checkpoints = len(cache.checkpoints)
        from_block = self.start_block
        if cache.last is not None:
            last_number, last_hash = cache.last
            canonical = head.number > last_number and self._hashes([last_number])[last_number] == last_hash
            if canonical:
                from_block = last_number + 1
            else:
                fork = self._fork_point(head.number)
                self._stats.reorgs += 1
                if fork is None:
                    logger.warning("reorg deeper than the cache: reading every event again")
                    keep, checkpoints = 0, 0
                else:
                    logger.warning("reorg: blocks after %s replaced; reading them again", fork)
                    keep = bisect.bisect_right(cache.blocks, fork)
                    checkpoints = bisect.bisect_right(cache.checkpoints, (fork, "\uffff"))
                    from_block = fork + 1
        if from_block == self.start_block:
            self._stats.full_reads += 1
        new_events, new_checkpoints = self._read(from_block, head)
        # Commit only once everything was read: a failure above leaves the cache as it was.
        changed = keep != len(cache.events) or bool(new_events)
        cache.events = cache.events[:keep] + new_events
        cache.blocks = cache.blocks[:keep] + [e.block for e in new_events]
        cache.checkpoints = cache.checkpoints[:checkpoints] + new_checkpoints
        cache.last = (head.number, head.hash)
        cache.last_timestamp = head.timestamp
        if changed:
            self.version += 1
            self._by_contract = None
        return head.number

    def _read(self, from_block: int, head: _Header) -> tuple[list[LedgerEvent], list[tuple[int, str]]]:
        """The events of blocks ``from_block`` to the head, and the pairs to record."""
        raw: list[Any] = []
        for chunk in fetch_logs(self.w3, self._addresses, self._topics, from_block, head.number, self.chunk_blocks):
            self._stats.log_requests += 1
            raw.extend(chunk)
        numbers = sorted({log["blockNumber"] for log in raw})
        headers = self._headers(numbers)
        if head.number in headers and headers[head.number].hash != head.hash:
            raise _ChainMoved
        events: list[LedgerEvent] = []
        append = events.append
        contracts = self._contracts
        with collector_paused():
            for log in raw:
                number = log["blockNumber"]
                header = headers[number]
                block_hash = log["blockHash"]
                if header.hash != block_hash:
                    raise _ChainMoved
                contract = contracts.get(log["address"].lower())
                topics = log["topics"]
                spec = contract.specs.get(topics[0]) if contract is not None and topics else None
                if contract is None or spec is None:
                    continue  # another event with a topic the ledger asked for (not in this ABI)
                append(
                    LedgerEvent(
                        contract.key,
                        contract.address,
                        spec.name,
                        number,
                        block_hash,
                        log["logIndex"],
                        log["transactionHash"],
                        header.timestamp,
                        EventLog(spec, log),
                    )
                )
        self._stats.events += len(events)
        pairs = [(n, headers[n].hash) for n in numbers if n != head.number]
        pairs.append((head.number, head.hash))
        return events, pairs

    def _fork_point(self, head_number: int) -> int | None:
        """The newest recorded block the chain still has at its height (``None``: none of them)."""
        candidates = [pair for pair in reversed(self._cache.checkpoints) if pair[0] <= head_number]
        for start in range(0, len(candidates), WALK_BATCH):
            batch = candidates[start : start + WALK_BATCH]
            now = self._hashes([n for n, _ in batch])
            for number, recorded in batch:
                if now.get(number) == recorded:
                    return number
        return None

    def _hashes(self, numbers: Sequence[int]) -> dict[int, str]:
        return {n: h.hash for n, h in self._headers(numbers, missing_ok=True).items()}

    def _header(self, block: int | str) -> _Header:
        (found,) = self._blocks.run("eth_getBlockByNumber", [[block if isinstance(block, str) else hex(block), False]])
        if found is None:
            raise _ChainMoved
        return _to_header(found)

    def _headers(self, numbers: Sequence[int], *, missing_ok: bool = False) -> dict[int, _Header]:
        """The headers of ``numbers``, in JSON-RPC batches (one by one if the node refuses batches)."""
        blocks = self._blocks.run("eth_getBlockByNumber", [[hex(n), False] for n in numbers])
        found: dict[int, _Header] = {}
        for number, block in zip(numbers, blocks, strict=True):
            if block is None:
                if missing_ok:
                    continue
                raise _ChainMoved  # a block with events is gone: the chain got shorter meanwhile
            found[number] = _to_header(block)
        return found


class RpcBatcher:
    """Sends one JSON-RPC method with many parameter lists in batch requests, raw (web3's result
    formatting costs more than the node's answer here); one request each if the node refuses
    batches.

    Attributes:
        requests: Round trips made (a batch counts once); calls: calls made.
    """

    def __init__(self, w3: Web3, batch_size: int = BATCH_SIZE) -> None:
        self.w3 = w3
        self.batch_size = batch_size
        self.batching = True
        self.requests = 0
        self.calls = 0

    def run(self, method: str, params: Sequence[list[Any]]) -> list[Any]:
        """Each call's ``result``, in order.

        Raises:
            LedgerError: the node answered a call with an error.
        """
        provider: Any = self.w3.provider
        results: list[Any] = []
        for start in range(0, len(params), self.batch_size):
            part = params[start : start + self.batch_size]
            self.calls += len(part)
            if self.batching and len(part) > 1:
                try:
                    answers = provider.make_batch_request([(method, p) for p in part])
                except BATCH_ERRORS as exc:  # a node without batch support answers in many ways
                    answers = exc
                self.requests += 1
                if isinstance(answers, list) and len(answers) == len(part):
                    results.extend(_result(method, answer) for answer in answers)
                    continue
                logger.warning("the node refused a batch request (%s): sending one call at a time", answers)
                self.batching = False
            for p in part:
                self.requests += 1
                results.append(_result(method, provider.make_request(method, p)))
        return results


def _result(method: str, answer: Any) -> Any:
    if "error" in answer:
        raise LedgerError(f"{method} failed: {answer['error'].get('message', answer['error'])}")
    return answer.get("result")


def _to_header(block: Any) -> _Header:
    return _Header(int(block["number"], 16), str(block["hash"]).lower(), int(block["timestamp"], 16))
