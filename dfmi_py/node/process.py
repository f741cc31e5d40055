"""What every local JSON-RPC node shares: a free port, a process group, a wait until it answers.

:class:`NodeProcess` starts a node's command in its own session (so stopping it stops whatever it
spawned), sends its standard error to a file (a pipe nobody reads would stall a node that runs for
weeks), waits until ``eth_chainId`` answers, and stops it by PID: SIGTERM to its process group,
SIGKILL after a timeout. :class:`dfmi_py.node.anvil.AnvilNode` and
:class:`dfmi_py.node.hardhat.HardhatNode` only say which command to run.

A node lives no longer than the Python process that started it: every node still running when
the interpreter exits (a script or a notebook kernel that never called ``stop()``, an exception
past the last line) is stopped then. Its own session keeps it out of the terminal's Ctrl-C, so
this is what stops it.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import weakref
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from dfmi_py.errors import NodeError

logger = logging.getLogger(__name__)

#: Nodes started by this process and not stopped yet.
_RUNNING: weakref.WeakSet[NodeProcess] = weakref.WeakSet()


@atexit.register
def _stop_running_nodes() -> None:
    """Stop every node this process started and left running (at interpreter exit)."""
    for node in list(_RUNNING):
        node.stop(timeout=5.0)


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port nobody is listening on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def rpc_chain_id(url: str, timeout: float) -> int:
    """Ask the node at ``url`` for its chain id (a plain JSON-RPC round trip, no web3)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (local URL)
        return int(json.loads(response.read())["result"], 16)


def _listening_inodes(port: int) -> set[str]:
    """Inodes of the TCP sockets listening on ``port`` (any address), from Linux's ``/proc/net``."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                    inodes.add(inode)
    return inodes


def listening_group_holds(port: int, group: int) -> bool | None:
    """Whether a process of process group ``group`` holds a socket listening on ``port``.

    A node started in a session of its own leads its process group, so this asks whether the
    node (or a process it spawned) is the one serving the port. ``None`` when it cannot be told:
    not Linux, or no listening socket seen.
    """
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    wanted = {f"socket:[{inode}]" for inode in inodes}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[2]) != group:  # fields after the name: state, ppid, pgrp
                continue
            descriptors = list((entry / "fd").iterdir())
        except (OSError, ValueError, IndexError):
            continue
        for descriptor in descriptors:
            with contextlib.suppress(OSError):
                if os.readlink(descriptor) in wanted:
                    return True
    return False


def _accepts_connections(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


class NodeProcess(ABC):
    """A local node process on ``host:port``; subclasses give its command line.

    Args:
        port: Port to listen on; a free one when ``None``.
        host: Interface to bind.
        chain_id: Chain id to report.
    """

    #: How logs and errors name the node.
    kind = "node"

    def __init__(self, port: int | None = None, *, host: str = "127.0.0.1", chain_id: int = 31337) -> None:
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.chain_id = chain_id
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None

    @abstractmethod
    def command(self) -> list[str]:
        """The command line that :meth:`start` runs."""

    def environment(self) -> Mapping[str, str] | None:
        """The process's environment (``None``: this process's)."""
        return None

    def working_dir(self) -> Path | None:
        """The folder the process runs in (``None``: this process's)."""
        return None

    @property
    def rpc_url(self) -> str:
        """The node's HTTP JSON-RPC URL."""
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The process id while running."""
        return self._process.pid if self._process else None

    def start(self, timeout: float = 30.0) -> Self:
        """Start the process and wait until it answers JSON-RPC.

        Raises:
            NodeError: if the port is taken, or the node cannot start, exits, or does not answer
                within ``timeout`` seconds (whatever it started is stopped).
        """
        if self._process is not None:
            raise NodeError(f"{self.kind} is already running (pid {self._process.pid})")
        if _accepts_connections(self.host, self.port):
            # Checked first: a node already there would answer in our place while ours starts.
            raise NodeError(
                f"cannot start {self.kind}: port {self.port} on {self.host} is in use ({self._listener()}); "
                "choose another port, or none for a free one"
            )
        try:
            return self._start(timeout)
        except NodeError:
            self.stop()
            raise

    def _listener(self) -> str:
        """What listens on the port, as far as one JSON-RPC request tells."""
        try:
            return f"a JSON-RPC node of chain id {rpc_chain_id(self.rpc_url, timeout=1.0)} answers there"
        except (OSError, urllib.error.URLError, ValueError, KeyError, TypeError):
            return "by a program that is not a JSON-RPC node"

    def _start(self, timeout: float) -> Self:
        cmd = self.command()
        logger.info("starting %s on %s", self.kind, self.rpc_url)
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        try:
            self._process = subprocess.Popen(  # noqa: S603 (our own command line)
                cmd,
                stdout=subprocess.DEVNULL,
                stderr=self._stderr,
                start_new_session=True,
                env=None if (env := self.environment()) is None else dict(env),
                cwd=self.working_dir(),
            )
        except OSError as exc:
            raise NodeError(f"cannot start {self.kind} ({cmd[0]}): {exc}") from exc
        _RUNNING.add(self)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._raise_if_exited()
            try:
                rpc_chain_id(self.rpc_url, timeout=1.0)
            except (OSError, urllib.error.URLError, ValueError, KeyError):
                time.sleep(0.05)
                continue
            self._raise_if_exited()
            self._raise_if_another_answers()
            logger.info("%s ready on %s (pid %s)", self.kind, self.rpc_url, self.pid)
            return self
        raise NodeError(f"{self.kind} did not answer on {self.rpc_url} within {timeout:.0f} s")

    def _raise_if_another_answers(self) -> None:
        """Refuse an answer that came from another process: one that took the port between the
        check in :meth:`start` and our node binding it (ours then fails to bind, but may still be
        alive when the other answers)."""
        process = self._process
        assert process is not None
        if listening_group_holds(self.port, process.pid) is False:
            raise NodeError(
                f"another process answers on port {self.port}, not the {self.kind} started here "
                f"(pid {process.pid}): choose another port, or none for a free one"
            )

    def _raise_if_exited(self) -> None:
        process = self._process
        if process is None:
            raise NodeError(f"{self.kind} was stopped while starting")
        code = process.poll()
        if code is not None:
            self._process = None
            stderr = self._close_stderr()
            raise NodeError(f"{self.kind} exited with code {code} on port {self.port}: {stderr.strip()[:500]}")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the process (SIGTERM, then SIGKILL after ``timeout`` seconds). Idempotent."""
        process, self._process = self._process, None
        _RUNNING.discard(self)
        if process is None or process.poll() is not None:
            self._close_stderr()
            return
        logger.info("stopping %s (pid %s)", self.kind, process.pid)
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

    def __enter__(self) -> Self:
        return self.start() if self._process is None else self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
