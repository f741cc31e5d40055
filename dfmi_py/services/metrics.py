"""The services' metrics, exposed over HTTP in the Prometheus text format by prometheus-client.

One :class:`ServiceMetrics` per process, on its own registry (tests run several in one process).
Names follow Prometheus conventions (``dfmi_`` prefix, ``_total`` counters, base units):

- ``dfmi_actions_total{service,market,action,outcome}``: actions carried out (``outcome``: mined,
  done (a refusal that means someone else did it), reverted, failed, dry_run);
- ``dfmi_failures_total{service,market,action,reason}``: what went wrong, by reason;
- ``dfmi_trades_settled_total{market}``: trades settled by this keeper;
- ``dfmi_reports_total{market,reason}``: price reports sent by this feeder;
- ``dfmi_gas_spent_total{service,market,action}``: gas used by this process's mined transactions;
- ``dfmi_settlement_lag_seconds{market}``: from a final round's ``updatedAt`` to the block that
  settled it (histogram);
- ``dfmi_last_block``, ``dfmi_last_block_timestamp_seconds``: the newest block seen;
- ``dfmi_rpc_errors_total{service}``: JSON-RPC calls that failed (and were retried).
"""

from __future__ import annotations

import threading
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

#: Buckets of the settlement lag, in seconds (block times of one second to a day).
LAG_BUCKETS = (1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 14400, 86400)


class ServiceMetrics:
    """The metrics of one service process.

    Args:
        service: ``"feeder"`` or ``"keeper"`` (a label on shared series).
        registry: Where to register; a new one when ``None``.
    """

    def __init__(self, service: str, registry: CollectorRegistry | None = None) -> None:
        self.service = service
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self._server: tuple[Any, threading.Thread] | None = None
        self.actions = Counter(
            "dfmi_actions", "Actions carried out", ["service", "market", "action", "outcome"], registry=r
        )
        self.failures = Counter(
            "dfmi_failures", "Failures, by reason", ["service", "market", "action", "reason"], registry=r
        )
        self.trades_settled = Counter("dfmi_trades_settled", "Trades settled by this keeper", ["market"], registry=r)
        self.reports = Counter("dfmi_reports", "Price reports sent by this feeder", ["market", "reason"], registry=r)
        self.gas_spent = Counter(
            "dfmi_gas_spent", "Gas used by mined transactions", ["service", "market", "action"], registry=r
        )
        self.settlement_lag = Histogram(
            "dfmi_settlement_lag_seconds",
            "From a final round's updatedAt to the block that settled it",
            ["market"],
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.last_block = Gauge("dfmi_last_block", "Newest block seen", registry=r)
        self.last_block_time = Gauge("dfmi_last_block_timestamp_seconds", "Newest block's timestamp", registry=r)
        self.rpc_errors = Counter("dfmi_rpc_errors", "JSON-RPC calls that failed", ["service"], registry=r)

    def serve(self, port: int, host: str = "127.0.0.1") -> int:
        """Expose the metrics at ``http://host:port/metrics`` from a daemon thread.

        Returns:
            The port (a free one when ``port`` is 0).

        Raises:
            OSError: the port cannot be bound (in use, not allowed).
        """
        if self._server is not None:
            raise RuntimeError("the metrics are already served; close() first")
        server, thread = start_http_server(port, addr=host, registry=self.registry)
        self._server = (server, thread)
        return int(server.server_port)

    def close(self) -> None:
        """Stop serving and release the port (no-op when not serving); waits for the server's thread."""
        if self._server is not None:
            server, thread = self._server
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
            self._server = None
