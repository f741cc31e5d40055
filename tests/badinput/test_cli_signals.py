"""SIGTERM and SIGHUP to a ``dfmi`` command that started a local Anvil stop that Anvil too; a
node started on a port another process serves is refused, even when the other took the port
after the check.

Anvil runs in a session of its own (so a terminal's Ctrl-C does not reach it): before the CLI
handled these signals, their default action ended Python without any cleanup and left the node
serving. These run the real command in a subprocess, since only a real process gets signals.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest

from dfmi_py.errors import NodeError
from dfmi_py.node import process as process_module
from dfmi_py.node.anvil import AnvilNode
from dfmi_py.node.process import NodeProcess, free_port

#: Seconds a step may take on a loaded two-core machine.
PATIENCE = 60.0


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie awaiting its parent counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _wait_gone(pid: int) -> bool:
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def _read_until(stream: IO[str], pattern: str) -> re.Match[str]:
    """Read lines from ``stream`` until one matches ``pattern`` (fails at end of stream)."""
    seen = []
    for line in stream:
        seen.append(line)
        found = re.search(pattern, line)
        if found:
            return found
    raise AssertionError(f"no line matched {pattern!r}; the command printed: {''.join(seen)}")


@contextmanager
def _killed_after(pid: int) -> Iterator[None]:
    """Kill ``pid`` after the block if it still runs (a failing test leaves no node behind)."""
    try:
        yield
    finally:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


@contextmanager
def _dfmi(*args: str, tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """``dfmi ARGS`` in a subprocess (stdout and stderr merged), killed with its group if a test fails."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DFMI_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "dfmi_py.cli.main", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        assert process.stdout is not None
        process.stdout.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_to_dfmi_node_stops_its_anvil(signum: signal.Signals, tmp_path: Path) -> None:
    with _dfmi("node", "--port", str(free_port()), tmp_path=tmp_path) as dfmi:
        assert dfmi.stdout is not None
        anvil = int(_read_until(dfmi.stdout, r"^anvil pid (\d+) at ")[1])
        with _killed_after(anvil):
            _read_until(dfmi.stdout, r"^serving ")
            assert _alive(anvil)

            dfmi.send_signal(signum)

            assert dfmi.wait(timeout=PATIENCE) == 0, "a node stopped on request is a clean exit"
            assert _wait_gone(anvil), f"anvil (pid {anvil}) still runs after dfmi node got {signum.name}"


def test_sigterm_to_dfmi_deploy_while_it_deploys_stops_its_anvil(tmp_path: Path) -> None:
    with _dfmi("deploy", "--dev-account", "0", tmp_path=tmp_path) as dfmi:
        assert dfmi.stdout is not None
        anvil = int(_read_until(dfmi.stdout, r"started a local Anvil at \S+ \(pid (\d+)\)")[1])
        with _killed_after(anvil):
            assert _alive(anvil)

            dfmi.send_signal(signal.SIGTERM)

            dfmi.wait(timeout=PATIENCE)
            assert _wait_gone(anvil), f"anvil (pid {anvil}) still runs after dfmi deploy got SIGTERM"
            assert "Traceback" not in dfmi.stdout.read()


class _Silent(NodeProcess):
    """A "node" that lives but never listens: what a node that failed to bind looks like while it exits."""

    kind = "silent node"

    def command(self) -> list[str]:
        return ["sleep", "30"]


def test_a_node_whose_port_another_process_took_meanwhile_is_refused(
    node: AnvilNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The session's Anvil plays the process that took the port between the check and the start.
    monkeypatch.setattr(process_module, "_accepts_connections", lambda host, port: False)
    silent = _Silent(node.port)
    with pytest.raises(NodeError, match=rf"another process answers on port {node.port}, not the silent node started"):
        silent.start(timeout=PATIENCE)
    assert silent.pid is None, "what it started is stopped"


def test_sigterm_to_dfmi_deploy_keeping_its_chain_running_stops_its_anvil(tmp_path: Path) -> None:
    with _dfmi("deploy", "--dev-account", "0", tmp_path=tmp_path) as dfmi:
        assert dfmi.stdout is not None
        anvil = int(_read_until(dfmi.stdout, r"started a local Anvil at \S+ \(pid (\d+)\)")[1])
        with _killed_after(anvil):
            _read_until(dfmi.stdout, r"^serving ")

            dfmi.send_signal(signal.SIGTERM)

            assert dfmi.wait(timeout=PATIENCE) == 0, "a chain stopped on request is a clean exit"
            assert _wait_gone(anvil), f"anvil (pid {anvil}) still runs after dfmi deploy got SIGTERM"
