"""Sending the services' transactions: check, sign, send, wait, bump, rebroadcast, retry.

The contract the callers (the feeder, the keeper) rely on:

- :meth:`TxSender.send_all` takes requests in order and returns one :class:`TxResult` per request,
  in the same order. It never raises for a contract's refusal: a check (``eth_call``, then
  ``eth_estimateGas``) that reverts with an error named in ``done_errors`` is ``DONE`` (someone
  else did it: a second keeper, a second feeder), any other revert is ``REVERTED`` with the
  error's name and text; neither is sent. A transaction mined with status 0 all the same is
  ``REVERTED`` with its custom error (recovered by :meth:`dfmi_py.chain.Chain.revert_error`), or
  ``DONE`` when that error is in ``done_errors``: a race lost in the block (another feeder's
  report finalised the round first), with the gas it cost.
- It raises :class:`RpcUnavailableError` only when the node stayed unreachable through every
  retry; the caller re-syncs its state from the chain (and calls :meth:`TxSender.resync`) and
  decides again.
- With ``dry_run`` nothing is signed or sent: each request is checked and returned as
  ``DRY_RUN`` with the estimate.
- The requests of one call must not depend on each other's effects: each is checked against the
  latest block, and all are in flight at once.

How it sends:

- Nonces: one sender per key per process. A batch reserves consecutive nonces from the node's
  ``"latest"`` count and this process's transactions in flight
  (:meth:`dfmi_py.chain.Chain.next_nonce`); every transaction is signed and sent, then all are
  waited for together (a keeper's batches land in one or two blocks, not one per block).
- Fees: EIP-1559, ``maxFeePerGas`` = twice the latest base fee + the configured priority fee,
  never above ``max_fee_per_gas`` (before London: the node's gas price, same cap). A transaction
  not included after ``bump_after_blocks`` blocks is sent again with the same nonce and both fees
  raised by ``bump_percent`` (capped); after ``max_bumps`` bumps, or when the cap leaves no room, it
  is ``FAILED`` (it may still be mined later: its nonce stays reserved until :meth:`resync`).
- Every hash sent for a nonce is looked up: a bumped transaction mined in its original form
  counts once, as what it is.
- Dropped: a transaction the node no longer knows (``eth_getTransactionByHash`` is null) whose
  nonce is not used is broadcast again, the same signed bytes.
- Confirmations: a result counts when ``latest - block >= confirmations``; a receipt that
  vanished in between (a reorganisation) is waited for again.
- RPC errors (connection refused, timeouts, HTTP 5xx, JSON-RPC internal errors) are retried
  ``rpc_retries`` times with exponential backoff (doubling from ``backoff_seconds``, at most 30 s),
  then :class:`RpcUnavailableError`. web3's HTTP provider may retry a call itself before that (its
  ``exception_retry_configuration``); pass a provider without it for the sender's figures to be
  the only ones.
- Logs: one JSON line per ``sent``, ``bump``, ``rebroadcast``, ``mined`` (and ``included`` before
  the confirmations, ``reorged``, ``reverted``, ``failed``, ``done``, ``refused``, ``dry_run``,
  ``rpc_error``) with the transaction hash, nonce, fees and gas (``gas_limit`` when sent, ``gas``
  used when mined), plus the request's ``action``, ``market`` and ``fields``.

Trust and adversaries: the node is the operator's and reports the chain truthfully, but may be
slow, drop transactions, answer errors or go away; another process may hold the same key (a
nonce taken under us fails the request, it is never "fixed" by guessing). Only standard
JSON-RPC methods are used.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeVar, cast

import requests
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3.contract.contract import ContractFunction
from web3.exceptions import ProviderConnectionError, Web3RPCError
from web3.types import Nonce, TxParams, TxReceipt

from dfmi_py.chain import Chain
from dfmi_py.chain.client import Fees, call_params, with_headroom
from dfmi_py.errors import ChainConnectionError, ContractRevertError, TransactionError
from dfmi_py.services.logs import log_event, service_logger
from dfmi_py.services.metrics import ServiceMetrics

T = TypeVar("T")

#: Longest wait between two attempts of a failing JSON-RPC call.
MAX_BACKOFF_SECONDS = 30.0
#: First and longest pause between two rounds of receipt polls.
POLL_SECONDS = 0.005
MAX_POLL_SECONDS = 1.0
#: JSON-RPC error codes that mean "try again": internal error, limit exceeded (rate limiting).
TRANSIENT_CODES = frozenset({-32603, -32005})
#: New blocks during which a nonce is used while none of our hashes has a receipt before the
#: request counts as failed (a receipt query may fail for a while on a node importing a block).
NONCE_TAKEN_BLOCKS = 3


class RpcUnavailableError(ChainConnectionError):
    """The node did not answer through every retry."""


class TxStatus(Enum):
    """What became of a request."""

    MINED = "mined"  # included with status 1, at the confirmation depth
    DONE = "done"  # refused with an error that means it is already done: not sent
    REVERTED = "reverted"  # refused by the contract (check) or mined with status 0
    FAILED = "failed"  # not included after every bump and retry, or refused by the node
    DRY_RUN = "dry_run"  # checked only


@dataclass(frozen=True)
class SenderConfig:
    """How transactions are sent.

    Attributes:
        confirmations: Blocks on top of the including block before a transaction counts as done
            (0: at inclusion).
        gas_headroom_percent: Added to the node's estimate.
        max_fee_per_gas: Cap on ``maxFeePerGas`` (wei); bumps never exceed it.
        priority_fee: ``maxPriorityFeePerGas`` (wei) of a first send.
        bump_percent: Raise of both fees per bump (a node replaces a pending transaction only when
            both rise by at least 10%).
        bump_after_blocks: Blocks without inclusion before a bump.
        max_bumps: Bumps before a transaction counts as failed.
        rpc_retries: Attempts of a JSON-RPC call before :class:`RpcUnavailableError`.
        backoff_seconds: First wait between attempts (doubles each time, capped at 30 s).
        receipt_timeout: Seconds to wait for inclusion, all bumps included.
    """

    confirmations: int = 0
    gas_headroom_percent: int = 20
    max_fee_per_gas: int = 500 * 10**9
    priority_fee: int = 10**9
    bump_percent: int = 15
    bump_after_blocks: int = 3
    max_bumps: int = 5
    rpc_retries: int = 5
    backoff_seconds: float = 0.5
    receipt_timeout: float = 120.0


@dataclass(frozen=True)
class TxRequest:
    """One contract call to send.

    Attributes:
        call: The bound contract function (``engine.functions.settleMany([1, 2])``).
        action: What it is, for logs and metrics (``"settle"``, ``"mature"``, ``"report"``...).
        market: The market it concerns (a metrics label).
        fields: Extra log fields (trade ids, round, amount...).
        done_errors: Custom error names whose revert means the work is already done.
        min_gas: Gas limit floor. The estimate runs on the latest block; a call whose cost depends
            on what lands before it in the same block (the report that finalises an oracle round
            costs about twice one that opens it) sets the limit its dearest path needs. Unused gas
            is not paid for.
    """

    call: ContractFunction
    action: str
    market: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    done_errors: frozenset[str] = frozenset()
    min_gas: int = 0


@dataclass(frozen=True)
class TxResult:
    """What became of a :class:`TxRequest`.

    Attributes:
        request: The request.
        status: See :class:`TxStatus`.
        tx_hash: ``0x`` hash of the transaction that counted (``None`` when nothing was sent).
        block: Block that included it.
        gas_used: Gas used (the estimate for ``DRY_RUN``).
        error: The custom error's name (``DONE``/``REVERTED``), or a reason (``FAILED``).
        detail: The error as a person reads it.
        receipt: The receipt of the mined transaction (events for the caller).
        sends: Transactions broadcast for it (first send, bumps, rebroadcasts).
    """

    request: TxRequest
    status: TxStatus
    tx_hash: str | None = None
    block: int | None = None
    gas_used: int = 0
    error: str | None = None
    detail: str = ""
    receipt: Any = None
    sends: int = 0


@dataclass
class _Signed:
    """One version of a transaction that was broadcast."""

    tx_hash: HexBytes
    raw: bytes
    fees: Fees


@dataclass
class _Flight:
    """A request in flight: its nonce, every version sent, and where it stands."""

    index: int
    request: TxRequest
    nonce: int
    tx: TxParams
    fees: Fees
    versions: list[_Signed] = field(default_factory=list)
    since_block: int = 0
    bumps: int = 0
    sends: int = 0
    receipt: TxReceipt | None = None
    nonce_taken_blocks: int = 0


class _Refused(Exception):
    """The node refused a first send (not an RPC fault): nothing went out with this nonce."""


class TxSender:
    """Sends one account's transactions (one sender per key per process).

    Args:
        chain: The connection.
        account: The signing key.
        config: Fees, bumps, retries, confirmations.
        dry_run: Check only; send nothing.
        logger: Where the JSON lines go (``service_logger("sender")`` when ``None``).
        metrics: Counts failed JSON-RPC calls in ``rpc_errors`` when given.
    """

    def __init__(
        self,
        chain: Chain,
        account: LocalAccount,
        config: SenderConfig | None = None,
        *,
        dry_run: bool = False,
        logger: logging.Logger | None = None,
        metrics: ServiceMetrics | None = None,
    ) -> None:
        self.chain = chain
        self.account = account
        self.config = config or SenderConfig()
        self.dry_run = dry_run
        self.logger = logger if logger is not None else service_logger("sender")
        self.metrics = metrics
        #: Nonces of FAILED transactions that may still be mined (reserved until mined or resync).
        self._stuck: set[int] = set()

    @property
    def address(self) -> str:
        """The sending account's address."""
        return str(self.account.address)

    def resync(self) -> None:
        """Forget local nonce state; the next send reads the node's count again (after a fault)."""
        self.chain.forget_nonce(self.address)
        self._stuck.clear()

    # ------------------------------------------------------------------ the batch

    def send_all(self, requests: Sequence[TxRequest]) -> list[TxResult]:
        """Send ``requests`` (see the module's contract) and wait for each to be done.

        Raises:
            RpcUnavailableError: the node stayed unreachable through every retry.
        """
        results: list[TxResult | None] = [None] * len(requests)
        planned: list[tuple[int, TxRequest, int]] = []
        # One check after the other: each retries on its own, so a flaky node delays a check
        # rather than failing several checks that hit it at once.
        for index, request in enumerate(requests):
            check = self._check(request)
            if isinstance(check, TxResult):
                results[index] = check
            elif self.dry_run:
                results[index] = TxResult(request, TxStatus.DRY_RUN, gas_used=check)
                self._log("dry_run", request, gas=check)
            else:
                limit = max(with_headroom(check, self.config.gas_headroom_percent), request.min_gas)
                planned.append((index, request, limit))
        if planned:
            self._release_mined_stuck()
            head = self._rpc(lambda: int(self.chain.w3.eth.block_number))
            flights = self._send_batch(planned, results, head)
            self._wait(flights, results, head)
        return [cast(TxResult, r) for r in results]

    def _check(self, request: TxRequest) -> int | TxResult:
        """The request's gas estimate after an ``eth_call``, or what became of it when refused."""
        try:
            return int(self._rpc(self.chain.preflight, request.call, self.address, request.action))
        except TransactionError as exc:
            return self._refused(request, exc)
        except Web3RPCError as exc:  # the node refuses the check itself (not a revert)
            self._log("failed", request, level=logging.WARNING, reason=f"check refused by the node: {exc}")
            return TxResult(request, TxStatus.FAILED, error="check_refused", detail=str(exc))

    def _send_batch(
        self, planned: list[tuple[int, TxRequest, int]], results: list[TxResult | None], head: int
    ) -> list[_Flight]:
        fees = self._first_fees()
        chain_id = self._rpc(lambda: self.chain.chain_id)
        first = self._rpc(self.chain.next_nonce, self.address, len(planned))
        flights: list[_Flight] = []
        for k, (index, request, gas) in enumerate(planned):
            tx: TxParams = {
                **call_params(request.call, self.address),
                "gas": gas,
                "nonce": Nonce(first + k),
                "chainId": chain_id,
            }
            flight = _Flight(index, request, first + k, tx, fees, since_block=head)
            try:
                self._broadcast(flight, fees, "sent")
            except _Refused as exc:
                # Nothing went out with this nonce: neither this request nor those after it are
                # sent (they would wait behind a gap); the nonces go back.
                self.chain.release_nonces(self.address, len(planned) - k, unused_from=first + k)
                results[index] = self._failed(flight, f"refused by the node: {exc}")
                for later_index, later, _ in planned[k + 1 :]:
                    detail = "not sent: an earlier transaction of the batch was refused"
                    results[later_index] = TxResult(later, TxStatus.FAILED, error="not_sent", detail=detail)
                break
            flights.append(flight)
        return flights

    def _first_fees(self) -> Fees:
        fees = self._rpc(self.chain.fees, self.config.priority_fee)
        return fees.capped(self.config.max_fee_per_gas)

    # ------------------------------------------------------------------ broadcasting

    def _broadcast(self, flight: _Flight, fees: Fees, event: str) -> bool:
        """Sign ``flight`` with ``fees`` and send it. False when a bump was refused (kept as it was).

        Raises:
            _Refused: a first send was refused by the node.
        """
        tx: TxParams = {**flight.tx, **fees.params()}
        signed = self.account.sign_transaction(cast(dict[str, Any], tx))
        version = _Signed(HexBytes(signed.hash), bytes(signed.raw_transaction), fees)
        try:
            self._send_raw(version.raw)
        except Web3RPCError as exc:
            message = str(exc).lower()
            if "already known" in message or "known transaction" in message or "already imported" in message:
                pass  # it is in the node's pool: sent
            elif not flight.versions:
                raise _Refused(str(exc)) from None
            else:  # a bump refused: underpriced, or a version was mined meanwhile (the receipts tell)
                self._log(f"{event}_refused", flight.request, nonce=flight.nonce, error=str(exc))
                return False
        flight.versions.append(version)
        flight.fees = fees
        flight.sends += 1
        fields: dict[str, Any] = {
            "tx": version.tx_hash.to_0x_hex(),
            "nonce": flight.nonce,
            "gas_limit": int(flight.tx["gas"]),
            **_fee_fields(fees),
        }
        if event == "bump":
            fields["replaces"] = flight.versions[-2].tx_hash.to_0x_hex()
            fields["bump"] = flight.bumps
        self._log(event, flight.request, **fields)
        return True

    def _send_raw(self, raw: bytes) -> None:
        self._rpc(self.chain.w3.eth.send_raw_transaction, raw)

    def _rebroadcast(self, flight: _Flight) -> None:
        version = flight.versions[-1]
        try:
            self._send_raw(version.raw)
        except Web3RPCError as exc:  # known again, or the nonce went: the next round tells
            self._log("rebroadcast_refused", flight.request, tx=version.tx_hash.to_0x_hex(), error=str(exc))
            return
        flight.sends += 1
        self._log("rebroadcast", flight.request, tx=version.tx_hash.to_0x_hex(), nonce=flight.nonce)

    # ------------------------------------------------------------------ waiting

    def _wait(self, flights: list[_Flight], results: list[TxResult | None], last_head: int) -> None:
        """Poll until every flight is done; ``last_head`` is the block number read before sending."""
        cfg = self.config
        deadline = time.monotonic() + cfg.receipt_timeout
        pause = POLL_SECONDS
        open_flights = list(flights)
        while open_flights:
            head = self._rpc(lambda: int(self.chain.w3.eth.block_number))
            new_block = head > last_head
            count: int | None = None
            for flight in list(open_flights):
                if flight.receipt is None:
                    flight.receipt = self._find_receipt(flight)
                    if flight.receipt is not None and cfg.confirmations > 0:
                        self._log(
                            "included",
                            flight.request,
                            tx=HexBytes(flight.receipt["transactionHash"]).to_0x_hex(),
                            nonce=flight.nonce,
                            block=int(flight.receipt["blockNumber"]),
                            confirmations=cfg.confirmations,
                        )
                if flight.receipt is not None:
                    if self._confirmed(flight, head):
                        results[flight.index] = self._finish(flight)
                        open_flights.remove(flight)
                    continue
                if not new_block:
                    continue
                if count is None:
                    count = self._rpc(self.chain.w3.eth.get_transaction_count, self.address, "latest")
                outcome = self._unincluded(flight, head, count)
                if outcome is not None:
                    results[flight.index] = outcome
                    open_flights.remove(flight)
            last_head = head
            if not open_flights:
                break
            if time.monotonic() >= deadline:
                for flight in open_flights:
                    results[flight.index] = self._failed(
                        flight, f"not included within {cfg.receipt_timeout:g} s", stuck=True
                    )
                break
            time.sleep(pause)
            pause = min(pause * 1.5, MAX_POLL_SECONDS)

    def _find_receipt(self, flight: _Flight) -> TxReceipt | None:
        for version in reversed(flight.versions):
            receipt = self._rpc(self.chain.receipt, version.tx_hash)
            if receipt is not None:
                return receipt
        return None

    def _confirmed(self, flight: _Flight, head: int) -> bool:
        """Whether the receipt is deep enough; a receipt that vanished is waited for again."""
        assert flight.receipt is not None
        block = int(flight.receipt["blockNumber"])
        if head - block < self.config.confirmations:
            return False
        if self.config.confirmations == 0:
            return True
        again = self._rpc(self.chain.receipt, flight.receipt["transactionHash"])
        if again is None or again["blockHash"] != flight.receipt["blockHash"]:
            self._log(
                "reorged",
                flight.request,
                tx=HexBytes(flight.receipt["transactionHash"]).to_0x_hex(),
                nonce=flight.nonce,
                block=block,
            )
            flight.receipt = again
            return False
        return True

    def _unincluded(self, flight: _Flight, head: int, count: int) -> TxResult | None:
        """On a new block without inclusion: bump, rebroadcast, or give up."""
        cfg = self.config
        if count > flight.nonce:
            # The nonce is used but none of our versions has a receipt yet: a receipt query that
            # failed, or another transaction with our key.
            flight.nonce_taken_blocks += 1
            if flight.nonce_taken_blocks >= NONCE_TAKEN_BLOCKS:
                self.chain.release_nonces(self.address)
                return self._failed(flight, f"nonce {flight.nonce} was used by another transaction")
            return None
        if head - flight.since_block >= cfg.bump_after_blocks:
            bumped = flight.fees.bumped(cfg.bump_percent, cfg.max_fee_per_gas)
            if flight.bumps >= cfg.max_bumps or bumped.ceiling <= flight.fees.ceiling:
                reason = "fee cap" if bumped.ceiling <= flight.fees.ceiling else f"{flight.bumps} bumps"
                return self._failed(flight, f"not included after {flight.bumps} bumps ({reason} reached)", stuck=True)
            flight.bumps += 1
            flight.since_block = head
            self._broadcast(flight, bumped, "bump")
            return None
        latest = flight.versions[-1].tx_hash
        if self._rpc(self._known, latest) is False:
            self._rebroadcast(flight)
        return None

    def _known(self, tx_hash: HexBytes) -> bool:
        try:
            return self.chain.w3.eth.get_transaction(tx_hash) is not None
        except Web3RPCError as exc:
            if _rpc_code(exc) in TRANSIENT_CODES:
                raise
            return False  # TransactionNotFound: the node does not know it

    def _release_mined_stuck(self) -> None:
        if not self._stuck:
            return
        count = self._rpc(self.chain.w3.eth.get_transaction_count, self.address, "latest")
        mined = {n for n in self._stuck if n < count}
        if mined:
            self.chain.release_nonces(self.address, len(mined))
            self._stuck -= mined

    # ------------------------------------------------------------------ outcomes

    def _finish(self, flight: _Flight) -> TxResult:
        receipt = flight.receipt
        assert receipt is not None
        self.chain.release_nonces(self.address)
        tx_hash = HexBytes(receipt["transactionHash"]).to_0x_hex()
        counted = next((v for v in flight.versions if v.tx_hash == HexBytes(receipt["transactionHash"])), None)
        common: dict[str, Any] = {
            "tx": tx_hash,
            "nonce": flight.nonce,
            "block": int(receipt["blockNumber"]),
            "gas": int(receipt["gasUsed"]),
            "sends": flight.sends,
            **_fee_fields(counted.fees if counted else flight.fees),
        }
        if receipt["status"] == 1:
            self._log("mined", flight.request, **common)
            return TxResult(
                flight.request,
                TxStatus.MINED,
                tx_hash=tx_hash,
                block=int(receipt["blockNumber"]),
                gas_used=int(receipt["gasUsed"]),
                receipt=receipt,
                sends=flight.sends,
            )
        error = self._rpc(self.chain.revert_error, receipt, flight.request.action)
        name = error.error if isinstance(error, ContractRevertError) else None
        if name is not None and name in flight.request.done_errors:  # a race lost within the block
            status, event, level = TxStatus.DONE, "done", logging.INFO
        else:
            status, event, level = TxStatus.REVERTED, "reverted", logging.WARNING
        self._log(event, flight.request, level=level, error=name, detail=str(error), **common)
        return TxResult(
            flight.request,
            status,
            tx_hash=tx_hash,
            block=int(receipt["blockNumber"]),
            gas_used=int(receipt["gasUsed"]),
            error=name,
            detail=str(error),
            receipt=receipt,
            sends=flight.sends,
        )

    def _failed(self, flight: _Flight, reason: str, *, stuck: bool = False) -> TxResult:
        if stuck:
            self._stuck.add(flight.nonce)  # it may still be mined: its nonce stays taken
        self._log(
            "failed",
            flight.request,
            level=logging.WARNING,
            nonce=flight.nonce,
            reason=reason,
            sends=flight.sends,
            tx=flight.versions[-1].tx_hash.to_0x_hex() if flight.versions else None,
        )
        last = flight.versions[-1].tx_hash.to_0x_hex() if flight.versions else None
        return TxResult(flight.request, TxStatus.FAILED, tx_hash=last, error=reason, detail=reason, sends=flight.sends)

    def _refused(self, request: TxRequest, exc: TransactionError) -> TxResult:
        name = exc.error if isinstance(exc, ContractRevertError) else None
        status = TxStatus.DONE if name in request.done_errors else TxStatus.REVERTED
        self._log(status.value if status is TxStatus.DONE else "refused", request, error=name, detail=str(exc))
        return TxResult(request, status, error=name, detail=str(exc))

    def _log(self, event: str, request: TxRequest, level: int = logging.INFO, **fields: Any) -> None:
        log_event(
            self.logger,
            event,
            level,
            **{**request.fields, "action": request.action, "market": request.market, "sender": self.address, **fields},
        )

    # ------------------------------------------------------------------ RPC faults

    def _rpc(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)``, retried with backoff while the failure is a transport fault."""
        delay = self.config.backoff_seconds
        for attempt in range(1, self.config.rpc_retries + 1):
            try:
                return fn(*args)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                if self.metrics is not None:
                    self.metrics.rpc_errors.labels(self.metrics.service).inc()
                log_event(
                    self.logger, "rpc_error", logging.WARNING, attempt=attempt, error=f"{type(exc).__name__}: {exc}"
                )
                if attempt == self.config.rpc_retries:
                    raise RpcUnavailableError(
                        f"the node did not answer through {attempt} attempts: {type(exc).__name__}: {exc}"
                    ) from exc
                time.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)
        raise AssertionError("unreachable: rpc_retries >= 1")


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a transport fault worth retrying (not an answer from the chain).

    Connection refused or reset, timeouts, HTTP 5xx (and 429), JSON-RPC internal errors and
    rate limits.
    """
    if isinstance(exc, requests.HTTPError):
        status = exc.response.status_code if exc.response is not None else 500
        return status >= 500 or status == 429
    if isinstance(exc, requests.RequestException | ConnectionError | TimeoutError | ProviderConnectionError):
        return True
    if isinstance(exc, Web3RPCError):
        # Some nodes answer a revert without data as an internal error: that is an answer.
        return _rpc_code(exc) in TRANSIENT_CODES and "revert" not in str(exc).lower()
    return False


def _rpc_code(exc: Web3RPCError) -> int | None:
    response = exc.rpc_response or {}
    error = response.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    return int(code) if isinstance(code, int) else None


def _fee_fields(fees: Fees) -> dict[str, int]:
    if fees.dynamic:
        return {"max_fee": fees.max_fee_per_gas or 0, "priority_fee": fees.max_priority_fee_per_gas or 0}
    return {"gas_price": fees.gas_price or 0}
