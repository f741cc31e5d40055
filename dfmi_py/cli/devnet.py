"""``dfmi advance``: move a development chain's clock (Anvil, Hardhat): cure periods, maturities
and funding deadlines pass without waiting. Any other chain refuses it."""

from __future__ import annotations

import click

from dfmi_py.chain.client import Chain
from dfmi_py.cli.common import Options, pass_options
from dfmi_py.display import iso
from dfmi_py.errors import ConfigError
from dfmi_py.node.devnet import advance_time
from dfmi_py.units import parse_duration


@click.command()
@pass_options
@click.argument("duration")
def advance(options: Options, duration: str) -> None:
    """Move a devnet's clock forward by DURATION (3600, 90s, 15m, 12h, 30d, 1d12h) and mine a block."""
    if not options.rpc_url:
        raise ConfigError("no chain given: pass --rpc-url URL or set DFMI_RPC_URL")
    seconds = parse_duration(duration)
    now = advance_time(Chain.connect(options.rpc_url).w3, seconds)
    click.echo(f"chain time is now {iso(now)}")
