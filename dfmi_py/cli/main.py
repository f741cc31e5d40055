"""``dfmi``: deploy the suite, run a local chain, move cash, run the main job.

Every command that needs a chain takes ``--rpc-url`` (or ``$DFMI_RPC_URL``); ``deploy`` and
``demo`` start a local Anvil when none is given. Transactions are signed with the key in
``$DFMI_PRIVATE_KEY`` (or the variable named by ``--key-env``), or on a local chain with a
development account (``--dev-account N``). Errors print one line and exit non-zero.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click
from eth_account.signers.local import LocalAccount

from dfmi_py.api.market import Market
from dfmi_py.chain.accounts import dev_account, load_account
from dfmi_py.chain.client import Chain
from dfmi_py.deploy.roles import DEV_ACCOUNT_COUNT, DEV_ROLE_INDEX, RoleConfig
from dfmi_py.deploy.suite import Deployment, deploy_suite
from dfmi_py.errors import ConfigError, DfmiError, InputError
from dfmi_py.node.anvil import AnvilNode
from dfmi_py.units import to_units

T = TypeVar("T")


class DfmiGroup(click.Group):
    """A click group that turns every :class:`DfmiError` into one line on stderr and exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DfmiError as exc:
            raise click.ClickException(str(exc)) from None


@dataclass
class Options:
    """Options shared by every command."""

    rpc_url: str | None
    deployments_dir: Path | None


pass_options = click.make_pass_decorator(Options)


@click.group(cls=DfmiGroup)
@click.option("--rpc-url", envvar="DFMI_RPC_URL", help="JSON-RPC endpoint of the chain [env: DFMI_RPC_URL].")
@click.option(
    "--deployments-dir",
    envvar="DFMI_DEPLOYMENTS_DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of deployment manifests, one <chain id>.json each [default: ./deployments].",
)
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
@click.version_option(package_name="dfmi")
@click.pass_context
def cli(ctx: click.Context, rpc_url: str | None, deployments_dir: Path | None, verbose: int) -> None:
    """Decentralised financial market infrastructure on an EVM chain."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.obj = Options(rpc_url=rpc_url, deployments_dir=deployments_dir)


# ---------------------------------------------------------------------- helpers


def signer_options(func: Any) -> Any:
    """Add ``--key-env`` and ``--dev-account`` to a command that signs."""
    func = click.option(
        "--dev-account",
        type=click.IntRange(min=0),
        help="Sign with the local chain's development account N (devnets only).",
    )(func)
    return click.option(
        "--key-env",
        default="DFMI_PRIVATE_KEY",
        show_default=True,
        help="Environment variable holding the signer's private key.",
    )(func)


def signer(key_env: str, dev_index: int | None) -> LocalAccount:
    """The account a command signs with."""
    return dev_account(dev_index) if dev_index is not None else load_account(key_env)


def open_market(options: Options) -> Market:
    """Connect to ``--rpc-url`` and open the deployed suite."""
    if not options.rpc_url:
        raise ConfigError("no chain given: pass --rpc-url URL or set DFMI_RPC_URL")
    return Market.connect(options.rpc_url, manifest_dir=options.deployments_dir)


@contextlib.contextmanager
def chain_for(options: Options) -> Iterator[tuple[Chain, AnvilNode | None]]:
    """The chain at ``--rpc-url``, or a local Anvil started (and stopped) for the block."""
    if options.rpc_url:
        yield Chain.connect(options.rpc_url), None
        return
    with AnvilNode(accounts=DEV_ACCOUNT_COUNT) as node:
        click.echo(f"started a local Anvil at {node.rpc_url} (pid {node.pid})", err=True)
        yield Chain.connect(node.rpc_url), node


def print_deployment(deployment: Deployment) -> None:
    """Print where each contract lives."""
    manifest = deployment.manifest
    click.echo(f"chain {manifest.chain_id}: manifest {deployment.manifest_file}")
    for name, record in manifest.contracts.items():
        click.echo(f"  {name:<20} {record.address}  (block {record.block})")


def read_json_file(path: Path, what: str, parse: Callable[[Any], T]) -> T:
    """``parse`` of the JSON in ``path``; a missing, malformed or incomplete file is an
    :class:`InputError` saying it is not ``what`` (e.g. ``"an instruction file"``)."""
    try:
        return parse(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not {what} ({type(exc).__name__}: {exc})") from None


def write_json_file(data: Any, out: Path | None, *, announce: bool = True) -> None:
    """``data`` as indented JSON to ``out`` (saying so on stderr when ``announce``), or to stdout."""
    text = json.dumps(data, indent=2)
    if out is None:
        click.echo(text)
        return
    out.write_text(text + "\n")
    if announce:
        click.echo(f"wrote {out}", err=True)


def wait_for_interrupt(node: AnvilNode) -> None:
    """Keep a local node serving until Ctrl-C."""
    click.echo(f"serving {node.rpc_url}; press Ctrl-C to stop")
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            time.sleep(1)


# ---------------------------------------------------------------------- node & deploy


@cli.command()
@click.option("--port", type=click.IntRange(1, 65535), help="Port to listen on [default: a free one].")
@click.option("--chain-id", type=click.IntRange(min=1), default=31337, show_default=True)
@click.option("--accounts", type=click.IntRange(1, 1000), default=DEV_ACCOUNT_COUNT, show_default=True)
@click.option(
    "--block-time", type=click.FloatRange(min=0, min_open=True), help="Seconds per block [default: mine per tx]."
)
def node(port: int | None, chain_id: int, accounts: int, block_time: float | None) -> None:
    """Run a local Anvil chain until Ctrl-C."""
    with AnvilNode(port, chain_id=chain_id, accounts=accounts, block_time=block_time) as anvil:
        click.echo(f"anvil pid {anvil.pid} at {anvil.rpc_url} (chain id {chain_id})")
        wait_for_interrupt(anvil)


@cli.command()
@pass_options
@click.option("--fresh", is_flag=True, help="Deploy everything again even if the manifest's contracts are there.")
@click.option(
    "--roles",
    "roles_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="JSON file of role holders (see RoleConfig); the dev accounts when omitted on a local chain.",
)
@click.option("--keep-running/--exit", default=True, help="With a local chain: keep it serving after deploying.")
@signer_options
def deploy(
    options: Options, fresh: bool, roles_file: Path | None, keep_running: bool, key_env: str, dev_account: int | None
) -> None:
    """Deploy the suite (or reuse the deployed one) and write the manifest."""
    with chain_for(options) as (chain, node):
        local = node is not None
        deployer = signer(key_env, 0 if local and dev_account is None else dev_account)
        if roles_file:
            try:
                roles = RoleConfig.model_validate_json(roles_file.read_text())
            except ValueError as exc:
                raise ConfigError(f"{roles_file}: {exc}") from None
        elif local or dev_account is not None:
            roles = RoleConfig.devnet()
        else:
            raise ConfigError("pass --roles FILE to say who holds which role on this chain")
        devnet_roles = roles == RoleConfig.devnet()
        officer = signer(key_env, DEV_ROLE_INDEX["compliance_officer"]) if devnet_roles else None
        deployment = deploy_suite(
            chain, deployer, roles, manifest_dir=options.deployments_dir, fresh=fresh, officer=officer
        )
        print_deployment(deployment)
        if node is not None and keep_running:
            wait_for_interrupt(node)


@cli.command()
@pass_options
def status(options: Options) -> None:
    """Show the deployed suite on the chain."""
    market = open_market(options)
    print_deployment(market.deployment)
    cash = market.cash
    click.echo(f"cash: {cash.symbol}, supply {cash.format(cash.total_supply())}, paused: {cash.paused()}")


# ---------------------------------------------------------------------- compliance


@cli.group()
def compliance() -> None:
    """The shared allowlist."""


@compliance.command("status")
@pass_options
@click.argument("accounts", nargs=-1, required=True)
def compliance_status(options: Options, accounts: tuple[str, ...]) -> None:
    """Show the status of ACCOUNTS."""
    market = open_market(options)
    for account in accounts:
        click.echo(f"{account}  {market.compliance.status(account).name}")


def _compliance_action(name: str, doc: str) -> None:
    @compliance.command(name, help=doc)
    @pass_options
    @click.argument("accounts", nargs=-1, required=True)
    @signer_options
    def command(options: Options, accounts: tuple[str, ...], key_env: str, dev_account: int | None) -> None:
        market = open_market(options)
        officer = signer(key_env, dev_account)
        for account in accounts:
            receipt = getattr(market.compliance, name)(officer, account)
            click.echo(f"{name} {account}: ok (gas {receipt['gasUsed']})")


for _name, _doc in (
    ("onboard", "Onboard ACCOUNTS (compliance officer)."),
    ("freeze", "Freeze ACCOUNTS (compliance officer)."),
    ("unfreeze", "Unfreeze ACCOUNTS (compliance officer)."),
    ("offboard", "Offboard ACCOUNTS (compliance officer)."),
):
    _compliance_action(_name, _doc)


# ---------------------------------------------------------------------- cash


@cli.group()
def cash() -> None:
    """Tokenised cash. AMOUNTs are in whole units with decimals, e.g. 1250.50."""


@cash.command("balance")
@pass_options
@click.argument("accounts", nargs=-1, required=True)
def cash_balance(options: Options, accounts: tuple[str, ...]) -> None:
    """Show the cash balance of ACCOUNTS."""
    token = open_market(options).cash
    for account in accounts:
        click.echo(f"{account}  {token.format(token.balance_of(account))}")


@cash.command("mint")
@pass_options
@click.argument("to")
@click.argument("amount")
@signer_options
def cash_mint(options: Options, to: str, amount: str, key_env: str, dev_account: int | None) -> None:
    """Issue AMOUNT to TO (minter)."""
    token = open_market(options).cash
    receipt = token.mint(signer(key_env, dev_account), to, to_units(amount, token.decimals))
    click.echo(f"minted {amount} to {to} (gas {receipt['gasUsed']})")


@cash.command("transfer")
@pass_options
@click.argument("to")
@click.argument("amount")
@signer_options
def cash_transfer(options: Options, to: str, amount: str, key_env: str, dev_account: int | None) -> None:
    """Pay AMOUNT to TO."""
    token = open_market(options).cash
    receipt = token.transfer(signer(key_env, dev_account), to, to_units(amount, token.decimals))
    click.echo(f"paid {amount} to {to} (gas {receipt['gasUsed']})")


@cash.command("configure-minter")
@pass_options
@click.argument("minter")
@click.argument("allowance")
@signer_options
def cash_configure_minter(options: Options, minter: str, allowance: str, key_env: str, dev_account: int | None) -> None:
    """Let MINTER mint up to ALLOWANCE (master minter)."""
    token = open_market(options).cash
    token.configure_minter(signer(key_env, dev_account), minter, to_units(allowance, token.decimals))
    click.echo(f"{minter} may mint {allowance}")


@cash.command("burn")
@pass_options
@click.argument("amount")
@signer_options
def cash_burn(options: Options, amount: str, key_env: str, dev_account: int | None) -> None:
    """Redeem AMOUNT from the signer's balance (burner)."""
    token = open_market(options).cash
    token.burn(signer(key_env, dev_account), to_units(amount, token.decimals))
    click.echo(f"burned {amount}")


@cash.command("pause")
@pass_options
@click.option("--resume", is_flag=True, help="Unpause instead.")
@signer_options
def cash_pause(options: Options, resume: bool, key_env: str, dev_account: int | None) -> None:
    """Stop (or with --resume, restart) all cash movement (pauser)."""
    token = open_market(options).cash
    account = signer(key_env, dev_account)
    (token.unpause if resume else token.pause)(account)
    click.echo("cash movement resumed" if resume else "cash movement paused")


# ---------------------------------------------------------------------- main job


@cli.command()
@pass_options
def demo(options: Options) -> None:
    """The main job: a local market from scratch (deploy, onboard, issue, pay, freeze)."""
    from dfmi_py.scenarios.demo import Step, run_demo

    with chain_for(options) as (chain, _):
        deployment = deploy_suite(
            chain,
            dev_account(0),
            RoleConfig.devnet(),
            manifest_dir=options.deployments_dir,
            officer=dev_account(DEV_ROLE_INDEX["compliance_officer"]),
        )
        print_deployment(deployment)
        market = Market.from_deployment(deployment)

        def report(step: Step) -> None:
            if step.rejected_with:
                click.echo(f"  refused  {step.description}\n           {step.rejected_with}")
            else:
                click.echo(f"  ok       {step.description}  (gas {step.gas_used:,})")

        result = run_demo(market, report)
        click.echo("\nbalances:                 wallet            margin account")
        for name, units in result.balances.items():
            margin = market.cash.format(result.margin[name])
            click.echo(f"  {name:<6} {market.cash.format(units):>24} {margin:>24}  {result.statuses[name].name}")
        click.echo(f"  {'supply':<6} {market.cash.format(result.total_supply):>24}")
        for trade_id, claim in result.claims.items():
            click.echo(f"unpaid claim after the close-out of trade {trade_id}: {market.cash.format(claim)}")
        for waterfall in result.waterfalls:
            click.echo(f"\ndefault of trade {waterfall.trade_id}, loss {market.cash.format(waterfall.loss)}, paid by:")
            for tranche, amount in waterfall.tranches().items():
                click.echo(f"  {tranche:<26} {market.cash.format(amount):>16}")
        click.echo("\ndefault fund balances:")
        for name, units in result.fund_balances.items():
            click.echo(f"  {name:<6} {market.cash.format(units):>24}")
        click.echo("bonds held: " + ", ".join(f"{name} {count:,}" for name, count in result.bonds.items()))
        gross, net = result.compression
        click.echo(f"\nnetting round: gross {market.cash.format(gross)}, net moved {market.cash.format(net)}")


# ---------------------------------------------------------------------- component groups


def _add_groups() -> None:
    # Imported here: each group's module builds on the helpers above.
    from dfmi_py.cli.dvp import dvp
    from dfmi_py.cli.fund import fund
    from dfmi_py.cli.net import net

    cli.add_command(dvp)
    cli.add_command(fund)
    cli.add_command(net)


_add_groups()
