"""A JSON-RPC proxy in front of a node that behaves like the nodes the toolkit must survive.

For tests only (standard library: ``http.server`` and ``urllib``). Every switch can be flipped at
any time, from any thread::

    with RpcProxy(node.rpc_url) as proxy:
        chain = Chain(Web3(Web3.HTTPProvider(proxy.url)))
        proxy.poa_extradata = True      # blocks carry 97 bytes of extraData (a Clique/QBFT chain)
        proxy.no_pending = True         # the "pending" block tag is refused with a JSON-RPC error
        proxy.receipt_errors = 2        # the next 2 receipts of known transactions fail (block import)
        proxy.estimate_ignores_revert = True  # eth_estimateGas answers ESTIMATE_IGNORING_REVERT on a revert
        proxy.down = True               # HTTP 503 on every request (or, with down_mode="drop",
                                        # the connection is closed without an answer)
        proxy.fail_every = 3            # every 3rd request gets HTTP 503
        proxy.unsupported = {"eth_maxPriorityFeePerGas"}  # "method not found" for these

``requests`` holds every JSON-RPC request the proxy received (method and params), in order.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal

#: What eth_estimateGas answers for a reverting call with ``estimate_ignores_revert``.
ESTIMATE_IGNORING_REVERT = 5_000_000
#: extraData of a proof-of-authority block: 32 bytes of vanity, 65 of seal.
POA_EXTRADATA = "0x" + "00" * 97


class RpcProxy:
    """A threaded HTTP JSON-RPC proxy with fault switches (see the module's text).

    Args:
        upstream_url: The node's URL.
        host: Interface to listen on (a free port is chosen).
    """

    def __init__(self, upstream_url: str, host: str = "127.0.0.1") -> None:
        self.upstream_url = upstream_url
        self.poa_extradata = False
        self.no_pending = False
        self.receipt_errors = 0
        self.estimate_ignores_revert = False
        self.down = False
        self.down_mode: Literal["503", "drop"] = "503"
        self.fail_every = 0
        self.unsupported: set[str] = set()
        self.requests: list[dict[str, Any]] = []
        self._count = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                proxy._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((host, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        """The proxy's URL."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def received(self) -> int:
        """HTTP requests received, failed ones included."""
        with self._lock:
            return self._count

    def methods(self) -> list[str]:
        """The methods of every request received, in order."""
        with self._lock:
            return [r.get("method", "") for r in self.requests]

    def saw_pending(self) -> list[dict[str, Any]]:
        """The requests received that carry the "pending" block tag."""
        with self._lock:
            return [r for r in self.requests if _has_pending(r.get("params"))]

    def clear(self) -> None:
        """Forget the requests received."""
        with self._lock:
            self.requests.clear()

    def start(self) -> RpcProxy:
        """Start serving (from a daemon thread)."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> RpcProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ serving

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length", 0)))
        with self._lock:
            self._count += 1
            failing = self.fail_every > 0 and self._count % self.fail_every == 0
        if self.down and self.down_mode == "drop":
            handler.close_connection = True
            return
        if self.down or failing:
            handler.send_error(503, "Service Unavailable")
            return
        payload = json.loads(body)
        batch = isinstance(payload, list)
        answers = [self._answer(r) for r in (payload if batch else [payload])]
        data = json.dumps(answers if batch else answers[0]).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _answer(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.requests.append(request)
        method, params = request.get("method", ""), request.get("params") or []
        if method in self.unsupported:
            return _error(request, -32601, f"the method {method} does not exist/is not available")
        if self.no_pending and _has_pending(params):
            return _error(request, -32602, "invalid block tag: pending is not supported")
        response = self._forward(request)
        result = response.get("result")
        if method == "eth_getTransactionReceipt" and result is not None:
            with self._lock:
                failing = self.receipt_errors > 0
                self.receipt_errors -= 1 if failing else 0
            if failing:
                return _error(request, -32000, "receipt not available: block is being imported")
        if method == "eth_estimateGas" and "error" in response and self.estimate_ignores_revert:
            return {"jsonrpc": "2.0", "id": request.get("id"), "result": hex(ESTIMATE_IGNORING_REVERT)}
        if method in ("eth_getBlockByNumber", "eth_getBlockByHash") and isinstance(result, dict) and self.poa_extradata:
            response["result"] = {**result, "extraData": POA_EXTRADATA}
        return response

    def _forward(self, request: dict[str, Any]) -> dict[str, Any]:
        data = json.dumps(request).encode()
        upstream = urllib.request.Request(self.upstream_url, data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(upstream, timeout=30) as response:
                answer: dict[str, Any] = json.loads(response.read())
        except (OSError, urllib.error.URLError) as exc:
            return _error(request, -32603, f"upstream unavailable: {exc}")
        return answer


def _error(request: dict[str, Any], code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request.get("id"), "error": {"code": code, "message": message}}


def _has_pending(value: Any) -> bool:
    if isinstance(value, str):
        return value == "pending"
    if isinstance(value, dict):
        return any(_has_pending(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_pending(v) for v in value)
    return False
