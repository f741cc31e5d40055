"""Test support shared by the services' tests: captured JSON log lines, mining by hand, a
call in the background."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from dfmi_py.chain import Chain


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
