"""The small simulated day the simulation's tests share: run once per worker, read by many modules.

:func:`small_run` runs :data:`SMALL` (4 members, 10 forwards in two markets, six rounds with a 25%
fall of gold in round 2, four DvPs of which one buyer is frozen and one expires, a netting round)
on an Anvil of its own, once per test session on a worker, and writes its record. Modules that
read it carry ``pytest.mark.xdist_group(SMALL_RUN_GROUP)`` so that pytest-xdist
(``--dist loadgroup``) sends them to the same worker: the day runs once. Tests only read its
chain (a test that needs to change a chain runs its own).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dfmi_py.api.market import Market
from dfmi_py.chain.client import Chain
from dfmi_py.cli.simulate import simulation_chain
from dfmi_py.simulate.clock import ChainClock
from dfmi_py.simulate.config import load_simulation_config
from dfmi_py.simulate.record import SimulationRecord
from dfmi_py.simulate.run import SimulationResult, run_simulation

#: The xdist group of every module that reads :func:`small_run`.
SMALL_RUN_GROUP = "simulate-run"

SMALL = """
seed = 5
start_time = "2026-01-05T00:00:00Z"

[members]
count = 4

[trades]
count = 10

[margin]
history_rounds = 100

[fund]
shocks_bps = [-1000, 1000]

[path]
rounds = 6

[shock]
market = "XAU"
size_bps = -2500

[dvp]
count = 4
frozen = 1
expired = 1

[netting]
payments = 6

[[markets]]
name = "XAU"
description = "Gold / USD per troy ounce"
min_price = "1"
max_price = "1000000"
jump_quorum = 3
s0 = "2000"
volatility = 0.15
feeders = 3
quantity_min = 10
quantity_max = 100
asset_class = "commodity"

[[markets]]
name = "EURUSD"
description = "EUR / USD"
min_price = "0.01"
max_price = "100"
max_jump_bps = 500
s0 = "1.10"
volatility = 0.08
feeders = 4
quantity_min = 20000
quantity_max = 200000
asset_class = "fx"
"""


@dataclass
class Run:
    """The small day: its chain (still running), the result, its settings file and output folder."""

    chain: Chain
    result: SimulationResult
    settings: Path
    out: Path

    @property
    def market(self) -> Market:
        return self.result.market

    @property
    def record(self) -> SimulationRecord:
        return self.result.record


@pytest.fixture(scope="session")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """:data:`SMALL` run once per worker on an Anvil of its own, its record written to ``out``."""
    folder = tmp_path_factory.mktemp("simulate")
    settings = folder / "small.toml"
    settings.write_text(SMALL)
    config = load_simulation_config(settings, {"out": folder / "first"})
    with simulation_chain(None, config) as (chain, local):
        clock = ChainClock(chain.w3, config.clock)
        result = run_simulation(chain, config, clock, manifest_dir=config.out / "deployments", local=local)
        result.record.write(config.out)
        yield Run(chain, result, settings, config.out)
