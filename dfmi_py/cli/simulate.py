"""``dfmi simulate``: a whole dFMI market on a local chain for a day, its default, and the record.

    dfmi simulate                                   # the defaults: 8 members, 36 forwards, 3 markets
    dfmi simulate --config examples/simulate.toml --members 50 --trades 1000 --out big
    dfmi simulate --seed 11 --shock XAU=-3000       # another day, a harder fall
    dfmi --rpc-url http://127.0.0.1:8545 simulate   # any chain whose development accounts are funded

Without ``--rpc-url`` it starts an Anvil of its own (genesis at ``start_time``, one second per
block, so the same seed repeats block for block) and stops it at the end. Long phases show
progress bars on a terminal. At the end it writes the report (``index.html`` with its charts and
tables, :mod:`dfmi_py.simulate.report`; ``--no-report`` skips it) and prints what happened in
plain words and where the files are: the report, ``record.json`` and the CSV tables (see
:mod:`dfmi_py.simulate.record`), the feeders' replay file, the deployment manifest and the
services' JSON log (``services.log``).
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import requests
from web3 import Web3

from dfmi_py.chain.client import Chain
from dfmi_py.cli.common import Options, pass_options
from dfmi_py.deploy.roles import DEV_ACCOUNT_COUNT
from dfmi_py.node.anvil import AnvilNode
from dfmi_py.node.devnet import fix_block_interval
from dfmi_py.services.logs import json_logging
from dfmi_py.simulate.clock import ChainClock
from dfmi_py.simulate.config import SimulationConfig, load_simulation_config, overrides_from_flags
from dfmi_py.simulate.raw import SerialProvider
from dfmi_py.simulate.record import RECORD_FILE
from dfmi_py.simulate.run import run_simulation
from dfmi_py.simulate.summary import describe, summarize

#: The services' JSON log, in the output folder.
SERVICES_LOG = "services.log"


class BarProgress:
    """Progress bars on standard error when it is a terminal; nothing otherwise."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._bar: Any = None

    def start(self, phase: str, total: int) -> None:
        """A bar for a phase with steps; a line for one without."""
        if not self.enabled:
            return
        if total:
            self._bar = click.progressbar(length=total, label=f"{phase:<8}", file=sys.stderr, show_pos=True)
            self._bar.__enter__()
        else:
            click.echo(f"{phase} …", err=True)

    def advance(self, steps: int = 1) -> None:
        """Move the bar."""
        if self._bar is not None:
            self._bar.update(steps)

    def finish(self) -> None:
        """Close the bar."""
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


@contextlib.contextmanager
def simulation_chain(rpc_url: str | None, config: SimulationConfig) -> Iterator[tuple[Chain, bool]]:
    """The chain at ``rpc_url``, or a local Anvil started (and stopped) for the block: genesis at
    ``config.start_time``, every block one second after the previous one, one transaction per
    block (:class:`~dfmi_py.simulate.raw.SerialProvider`). Yields the chain and whether it is the
    local one."""
    if rpc_url:
        yield Chain.connect(rpc_url), False
        return
    with AnvilNode(accounts=DEV_ACCOUNT_COUNT, timestamp=config.start_timestamp) as node:
        click.echo(f"started a local Anvil at {node.rpc_url} (pid {node.pid})", err=True)
        session = requests.Session()
        session.trust_env = False  # no proxy lookup per request: thousands go to a local node
        # Each transaction mined before the next is sent: the run repeats block for block.
        provider = SerialProvider(
            node.rpc_url, session=session, cache_allowed_requests=True, cacheable_requests={"eth_chainId"}
        )
        chain = Chain(Web3(provider))
        fix_block_interval(chain.w3, 1)
        try:
            yield chain, True
        finally:
            session.close()


@click.command()
@pass_options
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="TOML settings (examples/simulate.toml shows every key) [default: the built-in defaults].",
)
@click.option("--members", type=int, help="Members [settings: members.count].")
@click.option("--trades", type=int, help="Forwards the members open [settings: trades.count].")
@click.option("--seed", type=int, help="Seed of every random draw [settings: seed].")
@click.option("--shock", metavar="[MARKET=]BPS", help="The stress shock, e.g. -2500 or XAU=-2500; 0 for none.")
@click.option("--rounds", type=int, help="Price rounds in the day [settings: path.rounds].")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Output folder [settings: out].")
@click.option(
    "--report/--no-report",
    default=True,
    show_default=True,
    help="Write the report (index.html, charts/, tables/) to the output folder at the end.",
)
@click.option(
    "--block-time",
    "block_seconds",
    type=click.FloatRange(min=0, min_open=True),
    default=2.0,
    show_default=True,
    help="Block time (seconds) of the 30M-gas chain the report's capacity section sizes.",
)
@click.option(
    "--rpc-url",
    "rpc_url",
    help="Run on this chain (its development accounts funded) instead of a local Anvil [default: the global "
    "--rpc-url, if any].",
)
def simulate(
    options: Options,
    config_path: Path | None,
    members: int | None,
    trades: int | None,
    seed: int | None,
    shock: str | None,
    rounds: int | None,
    out: Path | None,
    report: bool,
    block_seconds: float,
    rpc_url: str | None,
) -> None:
    """A whole market for a day: deploy, onboard, issue, fund, trade; prices with a stress shock,
    the keeper's settlements, a default and its waterfall; DvPs (some failing) and a netting round.

    Everything goes through the toolkit's API, the feeders' and the keeper's own code. Writes the
    report (index.html), record.json and CSV tables to the output folder and prints what happened."""
    overrides = overrides_from_flags(members=members, trades=trades, seed=seed, rounds=rounds, out=out, shock=shock)
    config = load_simulation_config(config_path, overrides)  # refused before any chain is touched
    folder = config.out
    folder.mkdir(parents=True, exist_ok=True)
    manifest_dir = options.deployments_dir or folder / "deployments"
    (folder / SERVICES_LOG).unlink(missing_ok=True)  # this run's lines only
    with simulation_chain(rpc_url or options.rpc_url, config) as (chain, local):
        clock = ChainClock(chain.w3, config.clock)
        with json_logging("INFO", log_file=folder / SERVICES_LOG):
            result = run_simulation(
                chain, config, clock, manifest_dir=manifest_dir, local=local, progress=BarProgress()
            )
        files = result.record.write(folder)
        summary = summarize(result.market, result.record)
        written, report_seconds = None, 0.0
        if report:
            started = time.monotonic()
            # imported here: the report's charts load matplotlib (0.4 s), which no other command needs
            from dfmi_py.simulate.report import write_report

            written = write_report(result, folder, block_seconds=block_seconds)
            report_seconds = time.monotonic() - started
    click.echo("")
    for line in describe(summary, result.record):
        click.echo(line)
    timings = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in result.record.timings.items())
    if written is not None:
        timings += f", report {report_seconds:.1f} s"
    click.echo(f"Phases: {timings}.")
    tables = ", ".join(path.name for path in files if path.name != RECORD_FILE)
    click.echo(f"Files in {folder}: {RECORD_FILE} (the record), {tables}, {SERVICES_LOG}.")
    if written is not None:
        click.echo(
            f"The report: {written.page} (charts in {written.page.parent / 'charts'}, tables in "
            f"{written.page.parent / 'tables'}); open it in a browser, it works offline."
        )
