"""The services' main loop: follow new blocks, step the service, survive faults, stop cleanly.

A service implements :class:`Service`:

- ``sync()`` rebuilds its working state from the chain (events and views). The runner calls it at
  start and after any fault or reorg; a service keeps nothing that cannot be lost.
- ``step(head)`` reacts to a new head: reads what changed, decides (pure), acts (the sender).
  Raising :class:`dfmi_py.services.sender.RpcUnavailableError` (or any
  :class:`dfmi_py.errors.ChainConnectionError`) is a fault: the runner backs off, re-syncs and
  goes on.
- ``status()`` is the periodic status line's fields.
- ``close()`` releases what it holds (called once, at the end).

What :meth:`ServiceRunner.run` does (one thread; only the metrics server has its own):

- **Heads.** Every ``poll_interval`` it reads the latest block less ``confirmations``. A higher
  number steps the service; the same number with another hash, a lower number, or a new block
  whose parent is not the block last stepped is a reorg: ``sync()`` first, then the step. After
  every ``sync()`` the current head is stepped even if it was stepped before (the step it follows
  may have been cut short).
- **Faults.** A :data:`FAULTS` error raised by a head read, ``sync()`` or ``step()`` (the node
  unreachable, a timeout, an HTTP error, a JSON-RPC error) is logged (``fault``), counted
  (``dfmi_rpc_errors_total``) and waited out with exponential backoff (``backoff_seconds``
  doubling up to ``backoff_max_seconds``); then ``sync()`` and a step again (``recovered``). A
  fault that lasts ``unavailable_seconds`` ends the run with :attr:`ExitCode.UNAVAILABLE`.
- **Watchdog.** No new head for ``watchdog_seconds`` (counted from the last new head, the start,
  or the end of a fault) ends the run with :attr:`ExitCode.WATCHDOG`: the node is stuck or cut off
  from its peers, and a supervisor should look.
- **Anything else** raised by the service is a bug: logged with its traceback (``failed``), and
  the run ends with :attr:`ExitCode.FAILURE`.
- **Status.** Every ``status_interval`` a ``status`` line: the service's ``status()`` fields,
  then the last block, steps, faults and uptime.
- **Stop.** :meth:`ServiceRunner.request_stop` (the CLI calls it on SIGTERM and SIGINT) lets the
  step in flight finish and ends with :attr:`ExitCode.OK`; every wait is on the stop event, so a
  stop during a poll or a backoff takes effect at once. A ``KeyboardInterrupt`` (the CLI raises
  one on a second signal) abandons the step in flight (``abandoned``) and ends with
  :attr:`ExitCode.OK` too: the service keeps nothing the next start's ``sync()`` cannot rebuild.

The service is closed (``close()``) whatever ends the run, and a ``stopped`` line gives the exit
code's name with the steps and faults.

Trust: the node is trusted for what it returns (use one you run or trust, and ``confirmations``
on a chain without instant finality); it is not trusted to stay up or answer in time.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.error
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Protocol, TypeVar

import requests
from web3 import exceptions as web3_errors

from dfmi_py.chain import Chain
from dfmi_py.errors import ChainConnectionError, NodeRequestError
from dfmi_py.services.logs import log_event
from dfmi_py.services.metrics import ServiceMetrics

T = TypeVar("T")

#: Errors that mean "the node did not answer as it should, try again later", not a bug:
#: our own connection errors (RpcUnavailableError included), transport errors (refused, reset,
#: timed out, an HTTP error status), and JSON-RPC errors of the node. A contract's revert is not
#: among them (``ContractLogicError`` is no ``Web3RPCError``): retrying it would change nothing.
FAULTS: tuple[type[BaseException], ...] = (
    ChainConnectionError,
    NodeRequestError,  # a JSON-RPC error met inside the API (dfmi_py.api.guard)
    ConnectionError,
    TimeoutError,
    urllib.error.URLError,
    requests.exceptions.RequestException,
    web3_errors.Web3RPCError,
    web3_errors.ProviderConnectionError,
    web3_errors.BadResponseFormat,
    web3_errors.TimeExhausted,
    web3_errors.TooManyRequests,
    web3_errors.MultipleFailedRequests,
)


class ExitCode(IntEnum):
    """Exit codes a supervisor acts on (``sysexits.h`` where one fits)."""

    OK = 0  # stopped on request (SIGTERM, SIGINT) or after --once / max steps
    FAILURE = 1  # an unexpected error (a bug): do not restart in a loop without a look
    UNAVAILABLE = 69  # the node stayed unreachable: restart later
    SOFTWARE = 70  # internal error
    WATCHDOG = 75  # no new block for too long (EX_TEMPFAIL): restart, check the node
    CONFIG = 78  # the configuration is invalid (EX_CONFIG): fix it before restarting


@dataclass(frozen=True)
class Head:
    """A block the service reacts to: the latest block less the confirmation depth.

    Attributes:
        number: Block number.
        hash: ``0x`` block hash.
        timestamp: Block time (unix seconds).
        parent_hash: ``0x`` hash of its parent ("" when not read).
    """

    number: int
    hash: str
    timestamp: int
    parent_hash: str = ""


class Service(Protocol):
    """What the runner drives (see the module's text)."""

    name: str

    def sync(self) -> None: ...

    def step(self, head: Head) -> None: ...

    def status(self) -> Mapping[str, Any]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class RuntimeConfig:
    """The loop's settings.

    Attributes:
        poll_interval: Seconds between head polls.
        confirmations: The head is the latest block less this many (chains without instant finality).
        watchdog_seconds: Exit with :attr:`ExitCode.WATCHDOG` when no new block came for this long.
        status_interval: Seconds between status lines.
        unavailable_seconds: Exit with :attr:`ExitCode.UNAVAILABLE` after the node failed this long.
        backoff_seconds: First wait after a fault (doubles at each fault in a row).
        backoff_max_seconds: Longest wait between attempts.
    """

    poll_interval: float = 1.0
    confirmations: int = 0
    watchdog_seconds: float = 300.0
    status_interval: float = 60.0
    unavailable_seconds: float = 600.0
    backoff_seconds: float = 0.5
    backoff_max_seconds: float = 30.0


def _hex(value: Any) -> str:
    return "0x" + bytes(value).hex()


class ServiceRunner:
    """Runs a :class:`Service` until stopped (see the module's text).

    Args:
        service: What to drive.
        chain: The connection heads are read from.
        config: The loop's settings.
        metrics: ``last_block``, ``last_block_time`` and ``rpc_errors`` are kept here.
        logger: Where the JSON lines go (:func:`dfmi_py.services.logs.service_logger`).
    """

    def __init__(
        self,
        service: Service,
        chain: Chain,
        config: RuntimeConfig,
        metrics: ServiceMetrics,
        logger: logging.Logger,
    ) -> None:
        self.service = service
        self.chain = chain
        self.config = config
        self.metrics = metrics
        self.logger = logger
        self.stopping = threading.Event()
        #: Steps completed, faults met, and the last head stepped (for status lines and tests).
        self.steps = 0
        self.faults = 0
        self.last: Head | None = None
        self._started = time.monotonic()

    def request_stop(self) -> None:
        """Ask the loop to stop after the step in flight (safe from a signal handler or a thread)."""
        self.stopping.set()

    def head(self) -> Head:
        """The block to act on: latest less the confirmation depth."""
        eth = self.chain.w3.eth
        if self.config.confirmations == 0:
            block = eth.get_block("latest")
        else:
            latest = int(eth.block_number)
            block = eth.get_block(max(0, latest - self.config.confirmations))
        return Head(int(block["number"]), _hex(block["hash"]), int(block["timestamp"]), _hex(block["parentHash"]))

    def status_fields(self) -> dict[str, Any]:
        """The status line's fields: the service's, then the runner's."""
        last = self.last
        return dict(self.service.status()) | {
            "last_block": None if last is None else last.number,
            "last_block_time": None if last is None else last.timestamp,
            "steps": self.steps,
            "faults": self.faults,
            "uptime": round(time.monotonic() - self._started, 3),
        }

    def run(self, *, max_steps: int | None = None) -> ExitCode:
        """Sync, then step on every new head until stopped, ``max_steps`` steps, or an exit condition.

        Returns:
            Why it stopped (see :class:`ExitCode`); the service is closed in every case.
        """
        self._started = time.monotonic()
        code = ExitCode.FAILURE
        try:
            code = self._loop(max_steps)
        except KeyboardInterrupt:
            # A second SIGTERM/SIGINT (see dfmi_py.cli.service): the step in flight is abandoned.
            # Nothing is lost: what it did is on the chain, and the next start re-syncs from there.
            log_event(self.logger, "abandoned", logging.WARNING, steps=self.steps)
            code = ExitCode.OK
        except Exception as exc:  # noqa: BLE001 (a bug in the service: logged with its traceback, exit 1)
            log_event(self.logger, "failed", logging.ERROR, error=type(exc).__name__, detail=str(exc), exc_info=exc)
            code = ExitCode.FAILURE
        finally:
            try:
                self.service.close()
            except Exception as exc:  # noqa: BLE001 (a failing close must not hide why the run ended)
                log_event(self.logger, "close_failed", logging.ERROR, error=type(exc).__name__, detail=str(exc))
                if code == ExitCode.OK:
                    code = ExitCode.FAILURE
            log_event(
                self.logger,
                "stopped",
                code=int(code),
                reason=code.name.lower(),
                steps=self.steps,
                faults=self.faults,
                last_block=None if self.last is None else self.last.number,
            )
        return code

    # ------------------------------------------------------------------ the loop

    def _loop(self, max_steps: int | None) -> ExitCode:
        cfg = self.config
        now = time.monotonic
        need_sync = True
        down_since: float | None = None  # when the fault in progress began
        in_a_row = 0  # faults in a row (the backoff's exponent)
        progress_at = now()  # last new head, start, or end of a fault (the watchdog's origin)
        next_status = now() + cfg.status_interval
        retry_at = 0.0  # the end of the backoff in progress
        while not self.stopping.is_set():
            if now() >= next_status:
                log_event(self.logger, "status", **self.status_fields())
                next_status = now() + cfg.status_interval
            if now() < retry_at:
                self.stopping.wait(max(0.0, min(retry_at, next_status) - now()))
                continue
            try:
                if need_sync:
                    self._sync()
                head = self.head()
                if not need_sync and self._is_reorg(head):
                    self._log_reorg(head)
                    self._sync()
                    need_sync = True
                if need_sync or self.last is None or head.number > self.last.number:
                    self._step(head)
                    need_sync = False
                    progress_at = now()
            except FAULTS as exc:
                if down_since is None:
                    down_since = now()
                in_a_row += 1
                self.faults += 1
                self.metrics.rpc_errors.labels(self.metrics.service).inc()
                need_sync = True
                down_for = now() - down_since
                fields: dict[str, Any] = {
                    "error": type(exc).__name__,
                    "detail": str(exc)[:500],
                    "down_seconds": round(down_for, 3),
                }
                if down_for >= cfg.unavailable_seconds:
                    log_event(self.logger, "unavailable", logging.ERROR, **fields)
                    return ExitCode.UNAVAILABLE
                delay = min(cfg.backoff_seconds * 2 ** (in_a_row - 1), cfg.backoff_max_seconds)
                delay = min(delay, cfg.unavailable_seconds - down_for)
                log_event(self.logger, "fault", logging.WARNING, **fields, attempt=in_a_row, retry_in=round(delay, 3))
                retry_at = now() + delay
                continue
            if down_since is not None:
                log_event(self.logger, "recovered", faults=in_a_row, down_seconds=round(now() - down_since, 3))
                down_since, in_a_row = None, 0
                progress_at = now()
            if max_steps is not None and self.steps >= max_steps:
                break
            silent = now() - progress_at
            if silent >= cfg.watchdog_seconds:
                log_event(
                    self.logger,
                    "watchdog",
                    logging.ERROR,
                    last_block=None if self.last is None else self.last.number,
                    silent_seconds=round(silent, 3),
                    watchdog_seconds=cfg.watchdog_seconds,
                )
                return ExitCode.WATCHDOG
            wait = min(cfg.poll_interval, next_status - now(), cfg.watchdog_seconds - silent)
            self.stopping.wait(max(0.0, wait))
        return ExitCode.OK

    def _log_reorg(self, head: Head) -> None:
        previous = self.last
        log_event(
            self.logger,
            "reorg",
            logging.WARNING,
            block=head.number,
            hash=head.hash,
            stepped_block=None if previous is None else previous.number,
            stepped_hash=None if previous is None else previous.hash,
        )

    def _sync(self) -> None:
        started = time.monotonic()
        self.service.sync()
        log_event(self.logger, "synced", logging.DEBUG, seconds=round(time.monotonic() - started, 3))

    def _step(self, head: Head) -> None:
        self.service.step(head)
        self.last = head
        self.steps += 1
        self.metrics.last_block.set(head.number)
        self.metrics.last_block_time.set(head.timestamp)

    def _is_reorg(self, head: Head) -> bool:
        """Whether ``head`` is not on the chain of the block last stepped."""
        last = self.last
        if last is None:
            return False
        if head.number < last.number:
            return True
        if head.number == last.number:
            return head.hash != last.hash
        if head.number == last.number + 1:
            return bool(head.parent_hash) and head.parent_hash != last.hash
        # Several blocks at once: is the block last stepped still where it was?
        return _hex(self.chain.w3.eth.get_block(last.number)["hash"]) != last.hash


def reading(read: Callable[[], T], what: str = "reading the chain") -> T:
    """Run ``read``; a transport or JSON-RPC failure becomes a :class:`ChainConnectionError` naming
    ``what`` was read: a fault the runner backs off from and recovers by syncing."""
    try:
        return read()
    except (OSError, web3_errors.TimeExhausted, web3_errors.Web3RPCError) as exc:
        raise ChainConnectionError(f"{what} failed ({type(exc).__name__}: {exc})") from exc
