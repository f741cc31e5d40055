"""Faults while the services run: each ends with every due (trade, round) settled exactly once and
cash conserved.

The feeder and the keeper run as the operator runs them — ``dfmi feed`` and ``dfmi keeper``
processes with a settings file — against the three-market suite of
:mod:`tests.services.keeper_world` on an Anvil of this module's own, mining a block a second.
The faults are made from outside: SIGKILL, the JSON-RPC endpoint going down
(:class:`tests.rpc_proxy.RpcProxy`), a reporter process killed for good, a base fee raised above
what a transaction offers. Prices come from a local HTTP endpoint the test moves, as an exchange
would.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dfmi_py.services.keeper.config import KeeperSettings
from dfmi_py.services.keeper.read import KeeperReader
from dfmi_py.services.keeper.service import KeeperService
from dfmi_py.services.metrics import ServiceMetrics
from dfmi_py.services.sender import SenderConfig, TxSender, TxStatus
from tests.rpc_proxy import RpcProxy
from tests.services.keeper_world import (
    KEEPERS,
    MARKETS,
    PARTIES,
    PROJECT_ROOT,
    World,
    assert_settled_exactly_once,
    latest_rounds,
    new_rounds,
    settled_to,
    start_world,
)
from tests.services.support import Events, Miner, PriceServer, feeder_settings, in_background

GWEI = 10**9
#: Reporters that run feeders (development accounts); the fifth, 21, never runs one.
FEEDERS = (16, 17, 18, 20)
#: Trades per market, between distinct pairs of parties.
PAIRS = ((0, 1), (2, 3), (4, 0), (1, 2))
#: Seconds a wait for the services may take before the test fails.
PATIENCE = 40.0


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from start_world(tmp_path_factory.mktemp("faults"))


@pytest.fixture
def w(world: World) -> Iterator[World]:
    """Four live trades per market; mining restored and the state reverted after the test, which
    must conserve cash."""
    snapshot = world.snapshot()
    for name in MARKETS:
        price = world.market.markets[name].oracle.latest().answer
        for buyer, seller in PAIRS:
            world.open_trade(name, PARTIES[buyer], PARTIES[seller], price)
    before = world.cash_total()
    yield world
    world.rpc("evm_setIntervalMining", [0])
    world.rpc("evm_setAutomine", [True])
    world.rpc("anvil_dropAllTransactions", [])
    assert world.cash_total() == before, "cash was created or destroyed"
    world.revert(snapshot)


# ---------------------------------------------------------------------- processes and their logs


class ServiceProcess:
    """``dfmi feed`` or ``dfmi keeper`` as a process, its JSON lines in a file the test reads."""

    def __init__(self, command: str, name: str, settings: str, account: int, rpc_url: str, world: World, tmp: Path):
        self.name = name
        self.log = tmp / f"{name}.jsonl"
        config = tmp / f"{name}.toml"
        service_keys = (
            f'log_file = "{self.log}"\npoll_interval = 0.2\nstatus_interval = 5\nwatchdog_seconds = 60\n'
            "backoff_seconds = 0.2\nbackoff_max_seconds = 1\nrpc_timeout = 3\n"
        )
        config.write_text(service_keys + settings)
        self.stderr = (tmp / f"{name}.stderr").open("w")
        args = [sys.executable, "-m", "dfmi_py.cli.main", "--rpc-url", rpc_url]
        args += ["--deployments-dir", str(world.manifest_dir), command, "--config", str(config)]
        args += ["--dev-account", str(account)]
        env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
        self.process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=self.stderr)

    def lines(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.startswith("{")]

    def events(self, *names: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line["event"] in names]

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> int:
        """SIGTERM; the exit code."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=30)
        self.stderr.close()
        return code


@pytest.fixture
def processes() -> Iterator[list[ServiceProcess]]:
    """Processes a test starts; none is left running whatever happens."""
    started: list[ServiceProcess] = []
    yield started
    for process in started:
        if process.alive():
            process.kill()
        process.stderr.close()


def wait_until(condition: Callable[[], bool], what: str, timeout: float = PATIENCE) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.1)


def keeper_settings(**extra: Any) -> str:
    keys = {"tx_gas_budget": 150_000, **extra}  # two trades a batch: six batches for twelve trades
    return "".join(f"{key} = {value}\n" for key, value in keys.items())


def move_prices(world: World, bps: int) -> dict[str, int]:
    """A new final round in every market ``bps`` from the last (reporters' transactions sent here)."""
    rounds = {}
    for name in MARKETS:
        price = world.market.markets[name].oracle.latest().answer
        rounds[name] = world.post(name, price * (10_000 + bps) // 10_000)
    return rounds


# ---------------------------------------------------------------------- SIGKILL mid-batch


def test_a_keeper_killed_mid_batch_resumes_after_a_restart_without_paying_twice(
    w: World, processes: list[ServiceProcess], tmp_path: Path
) -> None:
    rounds = move_prices(w, 150)
    w.rpc("evm_setAutomine", [False])  # nothing is mined until the test says so
    first = ServiceProcess("keeper", "keeper-1", keeper_settings(), 13, w.node.rpc_url, w, tmp_path)
    processes.append(first)
    wait_until(lambda: len(first.events("sent")) >= 1, "the keeper sent a batch")
    first.kill()  # mid-batch: batches in the pool, none mined, maybe some never sent
    sent = len(first.events("sent"))
    assert not first.events("mined")
    assert not settled_to(w, rounds)
    w.rpc("evm_mine", [])  # what the dead keeper left in the pool lands
    # what it had sent: every batch it logged, and maybe one it sent but was killed before logging
    landed = len(w.w3.eth.get_block("latest")["transactions"])
    assert sent <= landed <= 6
    w.rpc("evm_setIntervalMining", [1])

    second = ServiceProcess("keeper", "keeper-2", keeper_settings(), 13, w.node.rpc_url, w, tmp_path)
    processes.append(second)
    wait_until(lambda: settled_to(w, rounds), "every trade is settled to the new rounds")
    wait_until(lambda: bool(second.events("synced")), "the restarted keeper rebuilt its state")
    assert second.stop() == 0
    assert_settled_exactly_once(w, [rounds])
    # the restarted keeper settled exactly what the dead one had not sent: six batches in all
    settled_again = sum(line["settled"] for line in second.events("settled"))
    assert settled_again == 2 * (6 - landed), (sent, landed, second.events("settled"))


# ---------------------------------------------------------------------- the full operation under faults


def test_feeders_and_two_keepers_ride_out_an_rpc_outage_and_a_silent_reporter(
    w: World, processes: list[ServiceProcess], tmp_path: Path
) -> None:
    settled_before = sum(len(w.settlements(name)) for name in MARKETS)
    w.rpc("evm_setIntervalMining", [1])
    server = PriceServer({})
    server.move(w, 0)
    try:
        with RpcProxy(w.node.rpc_url) as proxy:
            feeders = {
                index: ServiceProcess("feed", f"feeder-{index}", feeder_settings(server), index, proxy.url, w, tmp_path)
                for index in FEEDERS
            }
            keepers = [
                ServiceProcess("keeper", f"keeper-{n}", keeper_settings(), 13 + n, proxy.url, w, tmp_path)
                for n in range(len(KEEPERS))
            ]
            processes.extend([*feeders.values(), *keepers])
            for process in processes:
                wait_until(lambda p=process: bool(p.events("synced", "started")), f"{process.name} started")
            seen: list[dict[str, int]] = []

            def a_round_everywhere_settled(bps: int) -> None:
                before = latest_rounds(w)
                server.move(w, bps)
                wait_until(lambda: new_rounds(w, before) is not None, f"a new round in every market ({bps} bps)")
                rounds = latest_rounds(w)
                wait_until(lambda: settled_to(w, rounds), f"every trade settled to {rounds}")
                seen.append(rounds)

            # 1. a price move: the feeders make a round in every market, the keepers settle it
            a_round_everywhere_settled(200)

            # 2. the endpoint goes down while everything runs, then comes back
            proxy.down = True
            time.sleep(3)
            proxy.down = False
            for process in [*feeders.values(), *keepers]:
                assert process.alive(), f"{process.name} exited during the outage"
            a_round_everywhere_settled(-300)
            for process in [*feeders.values(), *keepers]:
                # the runner's faults (a read failed: backed off, then re-synced) or the sender's
                # retries (a transaction in flight outlived the outage)
                assert process.events("fault", "rpc_error"), f"{process.name} saw no fault"
                if process.events("fault"):  # said once its first step after the outage is done
                    wait_until(lambda p=process: bool(p.events("recovered")), f"{process.name} recovered")

            # 3. a reporter's key goes silent for good: the other three still make the quorum
            feeders[FEEDERS[0]].kill()
            a_round_everywhere_settled(150)

            for process in [*list(feeders.values())[1:], *keepers]:
                assert process.stop() == 0, f"{process.name} did not stop cleanly"
    finally:
        server.close()
    assert_settled_exactly_once(w, seen)
    # each settlement on the chain was counted by the one keeper whose batch made it
    on_chain = sum(len(w.settlements(name)) for name in MARKETS) - settled_before
    counted = {k.name: sum(line["settled"] for line in k.events("settled")) for k in keepers}
    assert sum(counted.values()) == on_chain, (counted, on_chain)


# ---------------------------------------------------------------------- a stuck transaction


def test_a_stuck_keeper_batch_is_bumped_and_settles_once(w: World) -> None:
    rounds = move_prices(w, 150)
    events = Events()
    logger = logging.getLogger("dfmi_py.services.keeper.faults")
    logger.addHandler(events)
    logger.setLevel(logging.INFO)
    miner = Miner(w.chain)
    miner.rpc("evm_setAutomine", False)
    try:
        miner.mine(base_fee=GWEI)  # a first send offers 2 x 1 + 1 = 3 gwei
        settings = KeeperSettings()
        config = SenderConfig(priority_fee=GWEI, bump_after_blocks=1, bump_percent=50, backoff_seconds=0.05)
        sender = TxSender(w.chain, KEEPERS[0], config, logger=logger)
        reader = KeeperReader(w.market, settings.keeper_config(), settings.markets)
        keeper = KeeperService(
            w.market, reader, sender, ServiceMetrics("keeper"), logger, max_trade_gas=settings.max_trade_gas
        )
        keeper.sync()
        with in_background(lambda: keeper.step(w.head())) as stepping:
            sent = events.wait("sent", count=3)
            miner.mine(base_fee=4 * GWEI)  # the base fee jumps above what the batches offer
            events.wait("bump", count=3)
            miner.mine(base_fee=4 * GWEI)  # 4.5 gwei now offered: included
            stepping.result(timeout=20)
    finally:
        logger.removeHandler(events)
    assert {r.status for r in keeper.last_results} == {TxStatus.MINED}
    assert all(r.sends == 2 for r in keeper.last_results)
    assert {r.tx_hash for r in keeper.last_results}.isdisjoint({line["tx"] for line in sent})
    assert_settled_exactly_once(w, [rounds])
