"""The services' runner on a real Anvil: heads, reorgs, faults, watchdog, stop, status, metrics, exit codes.

A fake service records every ``sync`` and ``step`` and can raise or hold a step; the node is this
module's own Anvil (mined by hand with ``evm_mine``), reached through a fault-injecting JSON-RPC
proxy where a test needs the node to go away. The last tests run a small service command in a
subprocess through :func:`dfmi_py.cli.service.run_service` and stop it with SIGTERM and SIGINT.
"""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from web3 import Web3
from web3.exceptions import ContractLogicError, Web3RPCError

from dfmi_py.chain import Chain, dev_account
from dfmi_py.deploy.roles import RoleConfig
from dfmi_py.deploy.suite import deploy_suite
from dfmi_py.errors import ConfigError
from dfmi_py.node import AnvilNode, free_port
from dfmi_py.paths import PROJECT_ROOT
from dfmi_py.services.config import ServiceSettings, load_settings
from dfmi_py.services.logs import ROOT, JsonLineFormatter, configure_logging, log_event, service_logger
from dfmi_py.services.metrics import ServiceMetrics
from dfmi_py.services.runtime import ExitCode, Head, RuntimeConfig, ServiceRunner
from dfmi_py.services.sender import RpcUnavailableError

try:  # the shared fault-injecting proxy, once it is in the tree
    from tests.rpc_proxy import RpcProxy
except ImportError:  # a stand-in with the switches these tests use: `down` (HTTP 503 to every request)

    class RpcProxy:  # type: ignore[no-redef]
        def __init__(self, upstream_url: str) -> None:
            self.upstream_url = upstream_url
            self.down = False
            proxy = self

            class Handler(BaseHTTPRequestHandler):
                def do_POST(self) -> None:
                    body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                    if proxy.down:
                        self.send_error(503, "Service Unavailable")
                        return
                    request = urllib.request.Request(
                        proxy.upstream_url, data=body, headers={"Content-Type": "application/json"}
                    )
                    with urllib.request.urlopen(request, timeout=10) as response:
                        data = response.read()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

                def log_message(self, format: str, *args: Any) -> None:
                    pass

            self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
            self._server.daemon_threads = True
            self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

        @property
        def url(self) -> str:
            host, port = self._server.server_address[:2]
            return f"http://{host!s}:{port}"

        def __enter__(self) -> RpcProxy:
            self._thread.start()
            return self

        def __exit__(self, *exc: object) -> None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)


# ---------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def w3(anvil: AnvilNode) -> Web3:
    """A direct connection, to mine and snapshot."""
    return Web3(Web3.HTTPProvider(anvil.rpc_url))


def mine(w3: Web3, timestamp: int | None = None) -> int:
    """Mine one block; return its number."""
    w3.provider.make_request("evm_mine", [] if timestamp is None else [timestamp])  # type: ignore[arg-type]
    return int(w3.eth.block_number)


def connect(url: str) -> Chain:
    """A connection without web3's own retries (which would hide each fault for ~4 s)."""
    return Chain(Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 5}, exception_retry_configuration=None)))


@dataclass
class FakeService:
    """Records what the runner asks; ``fail`` raises from the next sync or step; ``hold`` blocks a step."""

    name: str = "fake"
    calls: list[tuple[str, int | None]] = field(default_factory=list)
    heads: list[Head] = field(default_factory=list)
    fail: dict[str, list[BaseException]] = field(default_factory=lambda: {"sync": [], "step": []})
    hold: threading.Event | None = None
    stepping: threading.Event = field(default_factory=threading.Event)
    closed: int = 0

    def sync(self) -> None:
        self.calls.append(("sync", None))
        if self.fail["sync"]:
            raise self.fail["sync"].pop(0)

    def step(self, head: Head) -> None:
        self.calls.append(("step", head.number))
        self.stepping.set()
        if self.fail["step"]:
            raise self.fail["step"].pop(0)
        if self.hold is not None:
            self.hold.wait(10)
        self.heads.append(head)
        self.calls.append(("stepped", head.number))

    def status(self) -> Mapping[str, Any]:
        return {"stepped": len(self.heads)}

    def close(self) -> None:
        self.closed += 1

    def steps(self) -> list[int]:
        return [n for kind, n in self.calls if kind == "stepped" and n is not None]


class Lines:
    """The JSON lines a runner's logger wrote."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()

    def all(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.buffer.getvalue().splitlines()]

    def events(self, event: str) -> list[dict[str, Any]]:
        return [line for line in self.all() if line["event"] == event]


@pytest.fixture
def lines(request: pytest.FixtureRequest) -> Iterator[tuple[logging.Logger, Lines]]:
    """A logger of its own writing JSON lines to memory."""
    logger = service_logger(f"fake-{request.node.name}")
    captured = Lines()
    handler = logging.StreamHandler(captured.buffer)
    handler.setFormatter(JsonLineFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, captured
    logger.removeHandler(handler)


FAST = RuntimeConfig(
    poll_interval=0.02,
    watchdog_seconds=30,
    status_interval=30,
    unavailable_seconds=30,
    backoff_seconds=0.05,
    backoff_max_seconds=0.2,
)


def make_runner(
    url: str, service: FakeService, logger: logging.Logger, config: RuntimeConfig = FAST
) -> tuple[ServiceRunner, ServiceMetrics]:
    metrics = ServiceMetrics("fake")
    return ServiceRunner(service, connect(url), config, metrics, logger), metrics


@contextmanager
def running(runner: ServiceRunner, **kwargs: Any) -> Iterator[dict[str, ExitCode]]:
    """Run ``runner`` in a thread; the run's exit code lands in the dict under "code"."""
    result: dict[str, ExitCode] = {}
    thread = threading.Thread(target=lambda: result.setdefault("code", runner.run(**kwargs)), daemon=True)
    thread.start()
    try:
        yield result
    finally:
        runner.request_stop()
        thread.join(10)
        assert not thread.is_alive(), "the runner did not stop"


def wait_until(condition: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


# ---------------------------------------------------------------------- heads


def test_runner_syncs_at_start_then_steps_once_per_new_block(anvil, w3, lines):
    logger, _ = lines
    service = FakeService()
    runner, metrics = make_runner(anvil.rpc_url, service, logger)
    first = int(w3.eth.block_number)
    with running(runner) as result:
        wait_until(lambda: service.steps() == [first])
        mined = []
        for _ in range(3):
            mined.append(mine(w3))
            wait_until(lambda n=mined[-1]: service.steps()[-1] == n)
        time.sleep(0.2)  # ten polls without a new block: no step
    assert result["code"] == ExitCode.OK
    assert [kind for kind, _ in service.calls if kind != "stepped"] == ["sync", "step", "step", "step", "step"]
    assert service.steps() == [first, *mined]
    assert metrics.registry.get_sample_value("dfmi_last_block") == mined[-1]
    assert service.closed == 1


def test_max_steps_one_syncs_steps_the_latest_block_once_and_exits_0(anvil, w3, lines):
    logger, captured = lines
    service = FakeService()
    runner, _ = make_runner(anvil.rpc_url, service, logger)
    assert runner.run(max_steps=1) == ExitCode.OK  # what --once runs
    assert service.calls == [("sync", None), ("step", int(w3.eth.block_number)), ("stepped", int(w3.eth.block_number))]
    assert service.closed == 1
    assert captured.events("stopped")[0]["steps"] == 1


def test_runner_acts_on_the_latest_block_less_the_confirmation_depth(anvil, w3, lines):
    logger, _ = lines
    service = FakeService()
    runner, _ = make_runner(anvil.rpc_url, service, logger, RuntimeConfig(**{**FAST.__dict__, "confirmations": 2}))
    while int(w3.eth.block_number) < 3:
        mine(w3)
    with running(runner):
        wait_until(lambda: service.steps() == [int(w3.eth.block_number) - 2])
        latest = mine(w3)
        wait_until(lambda: service.steps() and service.steps()[-1] == latest - 2)
        latest = mine(w3)
        wait_until(lambda: service.steps()[-1] == latest - 2)
    assert all(head.number <= latest - 2 for head in service.heads)


def test_a_reorg_of_the_block_stepped_resyncs_before_stepping_the_new_one(anvil, w3, lines):
    logger, captured = lines
    service = FakeService()
    # Polls 0.3 s apart: the revert and the new block (a few ms) fall between two polls.
    runner, _ = make_runner(anvil.rpc_url, service, logger, RuntimeConfig(**{**FAST.__dict__, "poll_interval": 0.3}))
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    with running(runner):
        number = mine(w3)
        wait_until(lambda: service.steps() and service.steps()[-1] == number)
        before = service.heads[-1]
        w3.provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]
        assert mine(w3, before.timestamp + 100) == number  # same height, another block
        wait_until(lambda: len(service.heads) >= 2 and service.heads[-1].hash != before.hash)
    assert service.heads[-1].number == number
    after = service.calls[service.calls.index(("stepped", number)) + 1 :]
    assert after[:3] == [("sync", None), ("step", number), ("stepped", number)]
    (reorg,) = captured.events("reorg")
    assert (reorg["block"], reorg["stepped_hash"], reorg["hash"]) == (number, before.hash, service.heads[-1].hash)


# ---------------------------------------------------------------------- faults


def test_node_down_is_backed_off_then_resynced_and_stepped_when_it_returns(anvil, w3, lines):
    logger, captured = lines
    service = FakeService()
    with RpcProxy(anvil.rpc_url) as proxy:
        runner, metrics = make_runner(proxy.url, service, logger)
        with running(runner) as result:
            wait_until(lambda: service.steps())
            proxy.down = True
            wait_until(lambda: len(captured.events("fault")) >= 4)
            proxy.down = False
            wait_until(lambda: captured.events("recovered"))
            number = mine(w3)
            wait_until(lambda: service.steps()[-1] == number)
    assert result["code"] == ExitCode.OK
    faults = captured.events("fault")
    assert [f["retry_in"] for f in faults[:4]] == [0.05, 0.1, 0.2, 0.2]  # doubling, capped
    assert all(f["level"] == "warning" and f["error"] for f in faults)
    assert metrics.registry.get_sample_value("dfmi_rpc_errors_total", {"service": "fake"}) == len(faults)
    assert captured.events("recovered")[0]["faults"] == len(faults)
    # Every attempt re-syncs first (the fake's sync needs no node, so it "succeeds" while the head
    # read fails); once the node answers: the head stepped again, then the new block.
    kinds = [kind for kind, _ in service.calls if kind != "stepped"]
    assert kinds == ["sync", "step", *["sync"] * len(faults), "step", "step"]


def test_faults_raised_by_the_service_resync_and_step_the_same_head_again(anvil, w3, lines):
    logger, captured = lines
    service = FakeService()
    service.fail["sync"] = [requests.exceptions.ReadTimeout("read timed out"), ConnectionError("refused")]
    service.fail["step"] = [RpcUnavailableError("node gone through every retry"), Web3RPCError("header not found")]
    runner, _ = make_runner(anvil.rpc_url, service, logger)
    head = int(w3.eth.block_number)
    with running(runner) as result:
        wait_until(lambda: service.steps() == [head])
    assert result["code"] == ExitCode.OK
    assert service.calls == [
        ("sync", None),
        ("sync", None),
        ("sync", None),
        ("step", head),
        ("sync", None),
        ("step", head),
        ("sync", None),
        ("step", head),
        ("stepped", head),
    ]
    errors = [f["error"] for f in captured.events("fault")]
    assert errors == ["ReadTimeout", "ConnectionError", "RpcUnavailableError", "Web3RPCError"]


def test_a_node_that_never_returns_ends_the_run_with_exit_69(anvil, lines):
    logger, captured = lines
    service = FakeService()
    config = RuntimeConfig(**{**FAST.__dict__, "unavailable_seconds": 0.5})
    with RpcProxy(anvil.rpc_url) as proxy:
        runner, _ = make_runner(proxy.url, service, logger, config)
        with running(runner) as result:
            wait_until(lambda: service.steps())
            proxy.down = True
            started = time.monotonic()
            wait_until(lambda: "code" in result)
            elapsed = time.monotonic() - started
    assert result["code"] == ExitCode.UNAVAILABLE == 69
    assert 0.5 <= elapsed < 3  # gives up at 0.5 s (slack for a loaded machine)
    assert captured.events("unavailable")[0]["down_seconds"] >= 0.5
    assert captured.events("stopped")[0]["reason"] == "unavailable"
    assert service.closed == 1


def test_no_new_block_for_the_watchdog_period_ends_the_run_with_exit_75(anvil, lines):
    logger, captured = lines
    service = FakeService()
    runner, _ = make_runner(anvil.rpc_url, service, logger, RuntimeConfig(**{**FAST.__dict__, "watchdog_seconds": 0.3}))
    started = time.monotonic()
    assert runner.run() == ExitCode.WATCHDOG == 75
    assert 0.3 <= time.monotonic() - started < 3  # fires at 0.3 s (slack for a loaded machine)
    (watchdog,) = captured.events("watchdog")
    assert watchdog["level"] == "error"
    assert watchdog["last_block"] == service.steps()[0]
    assert service.closed == 1


@pytest.mark.parametrize(
    "error",
    [ZeroDivisionError("a bug in the service"), ContractLogicError("execution reverted: a revert nobody handled")],
    ids=["bug", "unhandled revert"],  # a revert is no fault: retrying would change nothing
)
def test_an_unexpected_exception_ends_the_run_with_exit_1_its_traceback_logged_and_the_service_closed(
    anvil, lines, error
):
    logger, captured = lines
    service = FakeService()
    service.fail["step"] = [error]
    runner, _ = make_runner(anvil.rpc_url, service, logger)
    assert runner.run() == ExitCode.FAILURE == 1
    (failed,) = captured.events("failed")
    assert failed["error"] == type(error).__name__
    assert "Traceback" in failed["exception"]
    assert str(error) in failed["exception"]
    assert captured.events("fault") == []
    assert service.closed == 1
    assert captured.events("stopped")[0]["reason"] == "failure"


# ---------------------------------------------------------------------- stop, status, metrics


def test_request_stop_lets_the_step_in_flight_finish_and_exits_0(anvil, w3, lines):
    logger, _ = lines
    service = FakeService(hold=threading.Event())
    runner, _ = make_runner(anvil.rpc_url, service, logger)
    with running(runner) as result:
        wait_until(service.stepping.is_set)
        runner.request_stop()
        mine(w3)  # a new block while stopping is not stepped
        time.sleep(0.1)
        assert "code" not in result  # still in the step
        service.hold.set()
        wait_until(lambda: "code" in result)
    assert result["code"] == ExitCode.OK
    assert [kind for kind, _ in service.calls] == ["sync", "step", "stepped"]
    assert service.closed == 1


def test_a_stop_during_a_long_poll_wait_takes_effect_at_once(anvil, lines):
    logger, _ = lines
    service = FakeService()
    runner, _ = make_runner(anvil.rpc_url, service, logger, RuntimeConfig(poll_interval=60, watchdog_seconds=600))
    with running(runner) as result:
        wait_until(lambda: service.steps())
        time.sleep(0.05)
        stopped_at = time.monotonic()
        runner.request_stop()
        wait_until(lambda: "code" in result, timeout=1)
    assert time.monotonic() - stopped_at < 0.5
    assert result["code"] == ExitCode.OK


def test_status_lines_are_json_with_the_service_fields_block_steps_and_faults(anvil, w3, lines):
    logger, captured = lines
    service = FakeService()
    runner, _ = make_runner(anvil.rpc_url, service, logger, RuntimeConfig(**{**FAST.__dict__, "status_interval": 0.1}))
    with running(runner):
        number = mine(w3)
        wait_until(lambda: [s["last_block"] for s in captured.events("status")][-2:] == [number, number])
    status = next(s for s in captured.events("status") if s["last_block"] == number)
    assert status["service"].startswith("fake-")
    assert status["level"] == "info"
    assert status["stepped"] == len(service.heads) == status["steps"]
    assert status["faults"] == 0
    assert status["last_block_time"] == service.heads[-1].timestamp


def test_metrics_endpoint_serves_the_last_block_and_closes_cleanly(anvil, w3, lines):
    logger, _ = lines
    service = FakeService()
    runner, metrics = make_runner(anvil.rpc_url, service, logger)
    port = metrics.serve(0)
    try:
        with running(runner):
            number = mine(w3)
            wait_until(lambda: service.steps()[-1:] == [number])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    finally:
        metrics.close()
    assert f"dfmi_last_block {float(number)}" in text.splitlines()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)


# ---------------------------------------------------------------------- a service command in a process

SERVICE_SCRIPT = '''
"""A small service command: run_service with a service that logs each step and takes a while."""
import os
import time

import click

from dfmi_py.cli.common import Options
from dfmi_py.cli.service import run_service, service_options
from dfmi_py.services.config import ServiceSettings
from dfmi_py.services.logs import log_event, service_logger


class Slow:
    name = "slow"

    def __init__(self, context):
        self.log = service_logger("slow")
        self.steps = 0

    def sync(self):
        pass

    def step(self, head):
        log_event(self.log, "step_begun", block=head.number)
        time.sleep(float(os.environ.get("SLOW_STEP_SECONDS", "0.5")))
        self.steps += 1
        log_event(self.log, "step_done", block=head.number)

    def status(self):
        return {"steps_done": self.steps}

    def close(self):
        log_event(self.log, "closed")


@click.command()
@click.option("--rpc-url")
@click.option("--deployments-dir", type=click.Path(path_type=__import__("pathlib").Path))
@service_options
def main(rpc_url, deployments_dir, config_path, key_env, dev_account, dry_run, once, metrics_port):
    run_service(
        Options(rpc_url, deployments_dir), "slow", ServiceSettings, Slow, config_path=config_path,
        key_env=key_env, dev_account=dev_account, dry_run=dry_run, once=once, metrics_port=metrics_port,
    )


if __name__ == "__main__":
    main()
'''


@dataclass(frozen=True)
class Command:
    argv: list[str]
    cwd: Path


@pytest.fixture(scope="module")
def service_command(anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Command:
    """``python -m slow_service --rpc-url … --deployments-dir … --dev-account 0`` on a deployed suite."""
    folder = tmp_path_factory.mktemp("service")
    (folder / "slow_service.py").write_text(textwrap.dedent(SERVICE_SCRIPT))
    manifests = folder / "deployments"
    deploy_suite(connect(anvil.rpc_url), dev_account(0), RoleConfig.devnet(), manifest_dir=manifests)
    argv = [
        sys.executable, "-m", "slow_service",
        "--rpc-url", anvil.rpc_url, "--deployments-dir", str(manifests), "--dev-account", "0",
    ]  # fmt: skip
    return Command(argv, folder)


def spawn(command: Command, config: Path, *extra: str, step_seconds: float = 0.5) -> subprocess.Popen[str]:
    env = os.environ | {
        "PYTHONPATH": os.pathsep.join([str(command.cwd), str(PROJECT_ROOT)]),
        "SLOW_STEP_SECONDS": str(step_seconds),
    }
    return subprocess.Popen(
        [*command.argv, "--config", str(config), *extra],
        cwd=command.cwd,
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_lets_the_step_in_flight_finish_and_the_command_exits_0(service_command, tmp_path, signum):
    config = tmp_path / "slow.toml"
    config.write_text("poll_interval = 0.05\nstatus_interval = 0.2\n")
    process = spawn(service_command, config)
    assert process.stderr is not None
    seen: list[dict[str, Any]] = []
    try:
        for raw in process.stderr:
            seen += json_lines(raw)
            if seen and seen[-1]["event"] == "step_begun":
                process.send_signal(signum)
                break
        _, rest = process.communicate(timeout=10)
    finally:
        process.kill()
    seen += json_lines(rest)
    events = [line["event"] for line in seen]
    assert process.returncode == 0, rest
    assert events[-4:] == ["step_begun", "step_done", "closed", "stopped"]
    assert seen[-1]["reason"] == "ok"
    assert seen[-1]["steps"] == 1
    assert "started" in events


def test_a_second_signal_abandons_the_step_in_flight_and_the_command_exits_0(service_command, tmp_path):
    config = tmp_path / "slow.toml"
    config.write_text("poll_interval = 0.05\n")
    process = spawn(service_command, config, step_seconds=60)
    assert process.stderr is not None
    try:
        for raw in process.stderr:
            if any(line["event"] == "step_begun" for line in json_lines(raw)):
                break
        process.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        assert process.poll() is None  # the first signal waits for the step
        sent = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=10)
    finally:
        process.kill()
    assert time.monotonic() - sent < 5  # not the step's 60 s
    events = [line["event"] for line in json_lines(rest)]
    assert process.returncode == 0, rest
    assert events[-3:] == ["abandoned", "closed", "stopped"]
    assert "step_done" not in events


def test_a_bad_configuration_file_exits_78_with_the_key_named_in_one_line(service_command, tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text("poll_interval = 1\n[sender]\nmax_fee_gwei = -3\n")
    process = spawn(service_command, config)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == ExitCode.CONFIG == 78
    (line,) = [line for line in stderr.splitlines() if line.strip()]
    assert "sender.max_fee_gwei" in line
    assert str(config) in line


def test_a_busy_metrics_port_exits_78_in_one_line_before_anything_runs(service_command, tmp_path):
    config = tmp_path / "slow.toml"
    config.write_text("poll_interval = 0.05\n")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        process = spawn(service_command, config, "--metrics-port", str(port))
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == ExitCode.CONFIG
    assert f"cannot serve metrics on 127.0.0.1:{port}" in stderr.splitlines()[-1]
    assert "step_begun" not in stderr


def test_a_node_that_does_not_answer_at_start_exits_69_in_one_line(service_command, tmp_path):
    config = tmp_path / "slow.toml"
    config.write_text("poll_interval = 0.05\n")
    nowhere = f"http://127.0.0.1:{free_port()}"
    process = spawn(service_command, config, "--rpc-url", nowhere)  # the last --rpc-url wins
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == ExitCode.UNAVAILABLE
    (line,) = [line for line in stderr.splitlines() if line.strip()]
    assert f"no Ethereum JSON-RPC node answers at {nowhere}" in line


# ---------------------------------------------------------------------- logging and settings


def test_log_file_gets_the_json_lines_and_is_reopened_when_rotated_away(tmp_path):
    log_file = tmp_path / "keeper.log"
    root = logging.getLogger(ROOT)
    level, propagate = root.level, root.propagate
    configure_logging("INFO", io.StringIO())
    handler = configure_logging("INFO", log_file=log_file)
    try:
        installed = [h for h in root.handlers if isinstance(h, logging.StreamHandler)]
        assert installed == [handler]  # configuring again replaced the first handler
        logger = service_logger("keeper")
        log_event(logger, "settled", market="XAU", round=7, trades=[1, 2], amount=Decimal("1.50"))
        log_file.rename(tmp_path / "keeper.log.1")  # what logrotate does
        log_event(logger, "settled", market="XAU", round=8, trades=[3])
    finally:
        root.removeHandler(handler)
        handler.close()
        root.setLevel(level)
        root.propagate = propagate
    (first,) = [json.loads(line) for line in (tmp_path / "keeper.log.1").read_text().splitlines()]
    (second,) = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert first["service"] == "keeper"
    assert first["event"] == "settled"
    assert (first["market"], first["round"], first["trades"], first["amount"]) == ("XAU", 7, [1, 2], "1.50")
    assert second["round"] == 8


def test_settings_refuse_a_watchdog_no_longer_than_a_poll_and_name_the_key(tmp_path):
    path = tmp_path / "service.toml"
    path.write_text("poll_interval = 30\nwatchdog_seconds = 20\n")
    with pytest.raises(ConfigError, match=r"service\.toml: watchdog_seconds: must be longer than poll_interval"):
        load_settings(path, ServiceSettings)
    path.write_text("backoff_seconds = 5\nbackoff_max_seconds = 1\n")
    with pytest.raises(ConfigError, match=r"backoff_max_seconds: must be at least backoff_seconds"):
        load_settings(path, ServiceSettings)
    path.write_text('poll_interval = 2\nbackoff_seconds = 0.1\nlog_file = "/var/log/dfmi/keeper.log"\n')
    config = load_settings(path, ServiceSettings).runtime_config()
    assert (config.poll_interval, config.backoff_seconds, config.backoff_max_seconds) == (2, 0.1, 30)
