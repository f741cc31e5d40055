"""Start and stop a local Anvil chain.

Anvil comes from npm (``@foundry-rs/anvil``); a native ``anvil`` on ``PATH`` or ``$DFMI_ANVIL``
wins. The node keeps recent states in memory only (``--prune-history``), so long runs leave
nothing on disk, and it is stopped by PID.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO

from dfmi_py.errors import NodeError
from dfmi_py.paths import NODE_MODULES

logger = logging.getLogger(__name__)

#: Anvil's well-known development mnemonic; its accounts are funded with test ether.
DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEFAULT_CHAIN_ID = 31337


def find_anvil() -> Path:
    """Return the anvil executable: ``$DFMI_ANVIL``, ``anvil`` on PATH, then the npm package's.

    Raises:
        NodeError: when none exists.
    """
    explicit = os.environ.get("DFMI_ANVIL")
    if explicit:
        return Path(explicit)
    on_path = shutil.which("anvil")
    if on_path:
        return Path(on_path)
    for candidate in sorted(NODE_MODULES.glob("@foundry-rs/anvil-*/bin/anvil")):
        if os.access(candidate, os.X_OK):
            return candidate
    launcher = NODE_MODULES / ".bin" / "anvil"
    if launcher.exists():
        return launcher
    raise NodeError("anvil not found: run `npm ci` in the project root, or put anvil on PATH")


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port nobody is listening on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _rpc_chain_id(url: str, timeout: float) -> int:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (local URL)
        return int(json.loads(response.read())["result"], 16)


class AnvilNode:
    """A local Anvil process.

    Use as a context manager, or call :meth:`start` and :meth:`stop`::

        with AnvilNode() as node:
            print(node.rpc_url)

    Args:
        port: Port to listen on; a free one when ``None``.
        host: Interface to bind.
        chain_id: Chain id to report.
        accounts: Number of funded development accounts.
        block_time: Seconds between blocks; ``None`` mines one block per transaction.
        keep_states: Recent states kept in memory (older ones are dropped, none go to disk).
        executable: Anvil binary; found with :func:`find_anvil` when ``None``.
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        host: str = "127.0.0.1",
        chain_id: int = DEFAULT_CHAIN_ID,
        accounts: int = 10,
        block_time: float | None = None,
        keep_states: int = 128,
        executable: Path | None = None,
    ) -> None:
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.chain_id = chain_id
        self.accounts = accounts
        self.block_time = block_time
        self.keep_states = keep_states
        self.executable = executable
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None

    @property
    def rpc_url(self) -> str:
        """The node's HTTP JSON-RPC URL."""
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The process id while running."""
        return self._process.pid if self._process else None

    def command(self) -> list[str]:
        """The command line that :meth:`start` runs."""
        cmd = [
            str(self.executable or find_anvil()),
            "--host", self.host,
            "--port", str(self.port),
            "--chain-id", str(self.chain_id),
            "--accounts", str(self.accounts),
            "--mnemonic", DEV_MNEMONIC,
            "--prune-history", str(self.keep_states),
            "--silent",
        ]  # fmt: skip
        if self.block_time is not None:
            cmd += ["--block-time", str(self.block_time)]
        return cmd

    def start(self, timeout: float = 30.0) -> AnvilNode:
        """Start the process and wait until it answers JSON-RPC.

        Raises:
            NodeError: if it exits or does not answer within ``timeout`` seconds.
        """
        if self._process is not None:
            raise NodeError(f"anvil is already running (pid {self._process.pid})")
        cmd = self.command()
        logger.info("starting anvil on %s", self.rpc_url)
        # stderr goes to a file, not a pipe: a pipe nobody reads would stall a node running for weeks.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        try:
            self._process = subprocess.Popen(  # noqa: S603 (our own command line)
                cmd, stdout=subprocess.DEVNULL, stderr=self._stderr, start_new_session=True
            )
        except OSError as exc:
            self._close_stderr()
            raise NodeError(f"cannot start anvil ({cmd[0]}): {exc}") from exc
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self._process.poll()
            if code is not None:
                self._process = None
                stderr = self._close_stderr()
                raise NodeError(f"anvil exited with code {code} on port {self.port}: {stderr.strip()[:500]}")
            try:
                _rpc_chain_id(self.rpc_url, timeout=1.0)
            except (OSError, urllib.error.URLError, ValueError, KeyError):
                time.sleep(0.05)
                continue
            logger.info("anvil ready on %s (pid %s)", self.rpc_url, self._process.pid)
            return self
        self.stop()
        raise NodeError(f"anvil did not answer on {self.rpc_url} within {timeout:.0f} s")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the process (SIGTERM, then SIGKILL after ``timeout`` seconds). Idempotent."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            self._close_stderr()
            return
        logger.info("stopping anvil (pid %s)", process.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        self._close_stderr()

    def _close_stderr(self) -> str:
        """Close the stderr file and return what it holds."""
        stream, self._stderr = self._stderr, None
        if stream is None:
            return ""
        stream.seek(0)
        text = stream.read().decode(errors="replace")
        stream.close()
        return text

    def __enter__(self) -> AnvilNode:
        return self.start() if self._process is None else self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
