"""The feeder and the keeper on Hardhat 3's node, a second EVM and JSON-RPC implementation.

The suite is deployed there like anywhere (three markets), then ``dfmi feed --once`` runs for
three reporters reading a local price endpoint, and ``dfmi keeper --once`` settles what their
rounds made due: the commands as an operator types them, by ``--rpc-url``, with standard JSON-RPC
alone. (``dfmi deploy`` and ``dfmi demo`` on the same node: tests/toolkit/test_hardhat.py.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from dfmi_py.cli.main import cli
from dfmi_py.node import HardhatNode
from tests.services.keeper_world import (
    MARKETS,
    PARTIES,
    World,
    assert_settled_exactly_once,
    latest_rounds,
    world_on,
)
from tests.services.support import PriceServer, feeder_settings


@pytest.fixture(scope="module")
def world(hardhat_node: HardhatNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from world_on(hardhat_node, tmp_path_factory.mktemp("second-node"))


def run(world: World, tmp_path: Path, command: str, account: int, settings: str) -> list[str]:
    """``dfmi COMMAND --once`` in-process; its JSON lines' events."""
    log = tmp_path / f"{command}-{account}.jsonl"
    config = tmp_path / f"{command}-{account}.toml"
    config.write_text(f'log_file = "{log}"\n' + settings)
    base = ["--rpc-url", world.node.rpc_url, "--deployments-dir", str(world.manifest_dir)]
    result = CliRunner(mix_stderr=False).invoke(
        cli, [*base, command, "--config", str(config), "--dev-account", str(account), "--once"]
    )
    assert result.exit_code == 0, result.stderr
    return [json.loads(line)["event"] for line in log.read_text().splitlines()]


def test_feeders_make_a_round_and_the_keeper_settles_it_on_hardhat(world: World, tmp_path: Path) -> None:
    trades = {
        name: [world.open_trade(name, PARTIES[0], PARTIES[1], world.market.markets[name].oracle.latest().answer)]
        for name in MARKETS
    }
    cash_before = world.cash_total()
    before = latest_rounds(world)
    server = PriceServer({})
    try:
        server.move(world, 250)
        for reporter in (16, 17, 18):
            assert "report" in run(world, tmp_path, "feed", reporter, feeder_settings(server))
    finally:
        server.close()
    rounds = latest_rounds(world)
    assert all(rounds[name] == before[name] + 1 for name in MARKETS), (before, rounds)

    events = run(world, tmp_path, "keeper", 13, "")
    assert events.count("settled") == len(MARKETS)
    assert_settled_exactly_once(world, [rounds])
    assert {name: [t for t, r in world.settlements(name) if r == rounds[name]] for name in MARKETS} == trades
    assert run(world, tmp_path, "keeper", 14, "").count("settled") == 0  # a second keeper finds nothing due
    assert world.cash_total() == cash_before
