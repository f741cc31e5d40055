"""``dfmi``: deploy the suite, run a local chain, move cash, run the main job.

Every command that needs a chain takes ``--rpc-url`` (or ``$DFMI_RPC_URL``); ``deploy`` and
``demo`` start a local Anvil when none is given. Transactions are signed with the key in
``$DFMI_PRIVATE_KEY`` (or the variable named by ``--key-env``), or on a local chain with a
development account (``--dev-account N``). Errors print one line and exit non-zero.

This module only assembles the command groups: each lives in a module of its own and shares
its options and helpers through :mod:`dfmi_py.cli.common`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

from dfmi_py.cli.accounts import accounts
from dfmi_py.cli.books import books
from dfmi_py.cli.cash import cash
from dfmi_py.cli.common import DfmiGroup, Options, progress_shown
from dfmi_py.cli.compliance import compliance
from dfmi_py.cli.devnet import advance
from dfmi_py.cli.dvp import dvp
from dfmi_py.cli.feed import feed
from dfmi_py.cli.fund import fund
from dfmi_py.cli.keeper import keeper
from dfmi_py.cli.net import net
from dfmi_py.cli.oracle import oracle
from dfmi_py.cli.report import report
from dfmi_py.cli.risk import risk
from dfmi_py.cli.security import security
from dfmi_py.cli.simulate import simulate
from dfmi_py.cli.suite import demo, deploy, node, status
from dfmi_py.cli.trade import trade


@click.group(cls=DfmiGroup)
@click.option("--rpc-url", envvar="DFMI_RPC_URL", help="JSON-RPC endpoint of the chain [env: DFMI_RPC_URL].")
@click.option(
    "--deployments-dir",
    envvar="DFMI_DEPLOYMENTS_DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of deployment manifests, one <chain id>-<genesis hash>.json each [default: ./deployments].",
)
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
@click.version_option(package_name="dfmi")
@click.pass_context
def cli(ctx: click.Context, rpc_url: str | None, deployments_dir: Path | None, verbose: int) -> None:
    """Decentralised financial market infrastructure on an EVM chain."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.with_resource(progress_shown(verbose))
    ctx.obj = Options(rpc_url=rpc_url, deployments_dir=deployments_dir)


for _command in (node, deploy, status, demo, advance, compliance, cash, dvp, fund, net):
    cli.add_command(_command)
cli.add_command(accounts)
cli.add_command(books)
for _command in (trade, oracle, security, risk, feed, keeper, simulate):
    cli.add_command(_command)
cli.add_command(report)


if __name__ == "__main__":
    cli()
