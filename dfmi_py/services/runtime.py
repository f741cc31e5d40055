"""The services' main loop: follow new blocks, step the service, survive faults, stop cleanly.

INTERFACE FIRST: the loop below is the first, simple implementation; the full runtime adds the
watchdog (no new block for ``watchdog_seconds``), backoff on RPC errors with re-sync, periodic
status lines, SIGTERM/SIGINT handling that finishes the step in flight, and the exit codes.

A service implements :class:`Service`:

- ``sync()`` rebuilds its working state from the chain (events and views). The runner calls it at
  start and after any fault; a service keeps nothing that cannot be lost.
- ``step(head)`` reacts to a new head: reads what changed, decides (pure), acts (the sender).
  Raising :class:`dfmi_py.services.sender.RpcUnavailableError` (or any
  :class:`dfmi_py.errors.ChainConnectionError`) is a fault: the runner backs off, re-syncs and
  goes on.
- ``status()`` is the periodic status line's fields.
- ``close()`` releases what it holds (called once, at the end).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Protocol

from dfmi_py.chain import Chain
from dfmi_py.services.logs import log_event
from dfmi_py.services.metrics import ServiceMetrics


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
    """A block the service reacts to: the latest block less the confirmation depth."""

    number: int
    hash: str
    timestamp: int


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
    """

    poll_interval: float = 1.0
    confirmations: int = 0
    watchdog_seconds: float = 300.0
    status_interval: float = 60.0
    unavailable_seconds: float = 600.0


class ServiceRunner:
    """Runs a :class:`Service` until stopped."""

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

    def request_stop(self) -> None:
        """Ask the loop to stop after the step in flight."""
        self.stopping.set()

    def head(self) -> Head:
        """The block to act on: latest less the confirmation depth."""
        latest = int(self.chain.w3.eth.block_number)
        block = self.chain.w3.eth.get_block(max(0, latest - self.config.confirmations))
        return Head(int(block["number"]), "0x" + bytes(block["hash"]).hex(), int(block["timestamp"]))

    def run(self, *, max_steps: int | None = None) -> ExitCode:
        """Sync, then step on every new head until stopped (or ``max_steps`` steps)."""
        self.service.sync()
        last: int | None = None
        steps = 0
        try:
            while not self.stopping.is_set():
                head = self.head()
                if head.number != last:
                    self.metrics.last_block.set(head.number)
                    self.metrics.last_block_time.set(head.timestamp)
                    self.service.step(head)
                    last = head.number
                    steps += 1
                    if max_steps is not None and steps >= max_steps:
                        break
                self.stopping.wait(self.config.poll_interval)
        finally:
            self.service.close()
            log_event(self.logger, "stopped", steps=steps)
        return ExitCode.OK
