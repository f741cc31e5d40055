"""Test support shared by the services' tests: captured JSON log lines, mining by hand, a
call in the background, a local price endpoint and the feeders' settings that read it."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from dfmi_py.chain import Chain
from tests.services.keeper_world import MARKETS, World


class Events(logging.Handler):
    """The sender's JSON lines, as (event, fields), with a wait for the next ones."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[tuple[str, dict[str, Any]]] = []
        self._changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self._changed:
            self.lines.append((record.getMessage(), dict(getattr(record, "dfmi_fields", {}))))
            self._changed.notify_all()

    def named(self, *events: str) -> list[dict[str, Any]]:
        with self._changed:
            return [fields for event, fields in self.lines if event in events]

    def wait(self, event: str, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.named(event)) >= count, timeout), (event, self.lines)
        return self.named(event)


class Miner:
    """Mines by hand (automine off while in use), optionally with the next block's base fee."""

    def __init__(self, chain: Chain) -> None:
        self.provider = chain.w3.provider
        self.w3 = chain.w3

    def rpc(self, method: str, *params: Any) -> Any:
        response = self.provider.make_request(method, list(params))  # type: ignore[arg-type]
        assert "error" not in response, response
        return response.get("result")

    def mine(self, base_fee: int | None = None) -> int:
        if base_fee is not None:
            self.rpc("anvil_setNextBlockBaseFeePerGas", hex(base_fee))
        self.rpc("evm_mine")
        return int(self.w3.eth.block_number)


@contextmanager
def in_background(fn: Callable[[], Any]) -> Iterator[Future[Any]]:
    with ThreadPoolExecutor(max_workers=1) as pool:
        yield pool.submit(fn)


class PriceServer:
    """A local exchange: ``GET /ASSET`` answers ``{"price": "..."}`` with the price the test set."""

    def __init__(self, prices: dict[str, str]) -> None:
        self.prices = dict(prices)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                asset = self.path.strip("/")
                body = json.dumps({"price": server.prices[asset]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def move(self, world: World, bps: int) -> None:
        """Every price ``bps`` from the markets' latest answers."""
        for name in MARKETS:
            oracle = world.market.markets[name].oracle
            answer = oracle.latest().answer * (10_000 + bps) // 10_000
            self.prices[name] = str(answer / 10**oracle.decimals)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def feeder_settings(server: PriceServer) -> str:
    text = ""
    for name in MARKETS:
        text += f"[feeds.{name}]\ndeviation_bps = 50\nheartbeat_margin = 60\nmax_age = 60\n"
        text += "max_jump_bps = 2000\njump_reference_max_age = 600\n"
        text += f'[[feeds.{name}.sources]]\nkind = "http"\nurl = "{server.url}/{{asset}}"\nprice_path = "price"\n'
    return text
