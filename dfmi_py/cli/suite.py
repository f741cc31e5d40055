"""``dfmi node``, ``deploy``, ``status`` and ``demo``: a chain, the suite on it, the main job."""

from __future__ import annotations

from pathlib import Path

import click
from pydantic import ValidationError

from dfmi_py.api.market import Market
from dfmi_py.api.oracle import RoundData
from dfmi_py.chain.accounts import dev_account
from dfmi_py.cli.common import (
    Options,
    chain_for,
    deployment_record,
    echo_json,
    json_option,
    local_node,
    open_market,
    pass_options,
    print_deployment,
    signer,
    signer_options,
    wait_for_interrupt,
)
from dfmi_py.deploy.config import load_config
from dfmi_py.deploy.roles import DEV_ACCOUNT_COUNT, DEV_ROLE_INDEX, RoleConfig, dev_account_plan
from dfmi_py.deploy.suite import activate_roles, deploy_suite
from dfmi_py.display import amount, when
from dfmi_py.errors import ConfigError, ContractRevertError
from dfmi_py.node.anvil import AnvilNode


@click.command()
@click.option("--port", type=click.IntRange(1, 65535), help="Port to listen on [default: a free one].")
@click.option("--chain-id", type=click.IntRange(min=1), default=31337, show_default=True)
@click.option("--accounts", type=click.IntRange(1, 1000), default=DEV_ACCOUNT_COUNT, show_default=True)
@click.option(
    "--block-time", type=click.FloatRange(min=0, min_open=True), help="Seconds per block [default: mine per tx]."
)
def node(port: int | None, chain_id: int, accounts: int, block_time: float | None) -> None:
    """Run a local Anvil chain until Ctrl-C or SIGTERM (lists its development accounts).

    Each development account is shown with the role it gets from `dfmi deploy` on this chain;
    `dfmi accounts` shows the roles they actually hold."""
    with local_node(AnvilNode(port, chain_id=chain_id, accounts=accounts, block_time=block_time)) as anvil:
        click.echo(f"anvil pid {anvil.pid} at {anvil.rpc_url} (chain id {chain_id})")
        click.echo("development accounts (--dev-account N) and their roles after `dfmi deploy`:")
        for index, address, purpose in dev_account_plan()[:accounts]:
            click.echo(f"  {index:>2}  {address}  {purpose}".rstrip())
        wait_for_interrupt(anvil)


@click.command()
@pass_options
@click.option("--fresh", is_flag=True, help="Deploy everything again even if the manifest's contracts are there.")
@click.option(
    "--roles",
    "roles_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="JSON file of role holders (see RoleConfig); the dev accounts when omitted on a local chain.",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="TOML file of the market's parameters and its markets (see examples/market.toml) [default: one market, ACME].",
)
@click.option("--keep-running/--exit", default=True, help="With a local chain: keep it serving after deploying.")
@signer_options
def deploy(
    options: Options,
    fresh: bool,
    roles_file: Path | None,
    config_file: Path | None,
    keep_running: bool,
    key_env: str,
    dev_account: int | None,
) -> None:
    """Deploy the suite (or reuse the deployed one) and write the manifest.

    On a devnet (development-account roles) every role works at once: the contracts that hold
    cash, the minter, the burner and the issuer are onboarded and the minter is configured.
    """
    params = load_config(config_file) if config_file else None  # refused before any chain is touched
    with chain_for(options) as (chain, node):
        local = node is not None
        deployer = signer(key_env, 0 if local and dev_account is None else dev_account)
        if roles_file:
            try:
                roles = RoleConfig.model_validate_json(roles_file.read_text())
            except ValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(map(str, e['loc'])) or 'the file'}: {e['msg']}" for e in exc.errors(include_url=False)
                )
                raise ConfigError(f"{roles_file}: not a roles file ({problems})") from None
        elif local or dev_account is not None:
            roles = RoleConfig.devnet()
        else:
            raise ConfigError("pass --roles FILE to say who holds which role on this chain")
        devnet_roles = roles == RoleConfig.devnet()
        officer = signer(key_env, DEV_ROLE_INDEX["compliance_officer"]) if devnet_roles else None
        deployment = deploy_suite(
            chain,
            deployer,
            roles,
            manifest_dir=options.deployments_dir,
            fresh=fresh,
            params=params,
            officer=officer,
        )
        if officer is not None:
            master_minter = signer(key_env, DEV_ROLE_INDEX["master_minter"])
            activate_roles(deployment, roles, officer=officer, master_minter=master_minter)
        print_deployment(deployment)
        if node is not None and keep_running:
            wait_for_interrupt(node)


@click.command()
@pass_options
@json_option
def status(options: Options, as_json: bool) -> None:
    """Show the deployed suite on the chain: contracts, cash, and each market's latest price."""
    market = open_market(options)
    cash, now = market.cash, market.chain.now()
    prices: dict[str, RoundData | None] = {}
    for name, underlying in market.markets.items():
        try:
            prices[name] = underlying.oracle.latest()
        except ContractRevertError as exc:
            if exc.error != "OracleNoData":
                raise
            prices[name] = None
    if as_json:
        markets = {
            name: {
                "description": u.oracle.description,
                "decimals": u.oracle.decimals,
                "oracle": u.oracle.address,
                "engine": u.derivatives.address,
                "latest": prices[name],
            }
            for name, u in market.markets.items()
        }
        supply = {"symbol": cash.symbol, "decimals": cash.decimals, "total_supply": cash.total_supply()}
        echo_json(deployment_record(market.deployment) | {
            "time": now, "cash": supply | {"paused": cash.paused()}, "markets": markets,
        })  # fmt: skip
        return
    print_deployment(market.deployment)
    paused = "paused" if cash.paused() else "moving"
    click.echo(f"cash: {cash.symbol}, supply {cash.format(cash.total_supply())}, {paused}")
    for name, underlying in market.markets.items():
        latest = prices[name]
        price = (
            "no price yet"
            if latest is None
            else f"{amount(latest.answer, underlying.oracle.decimals)} "
            f"(round {latest.round_id}, {when(latest.updated_at, now)})"
        )
        click.echo(f"market {name}: {underlying.description}, {price}")


@click.command()
@pass_options
def demo(options: Options) -> None:
    """The main job: a local market from scratch (deploy, onboard, issue, pay, freeze)."""
    from dfmi_py.scenarios.demo import Step, run_demo

    with chain_for(options) as (chain, _):
        roles, officer = RoleConfig.devnet(), dev_account(DEV_ROLE_INDEX["compliance_officer"])
        deployment = deploy_suite(chain, dev_account(0), roles, manifest_dir=options.deployments_dir, officer=officer)
        activate_roles(deployment, roles, officer=officer, master_minter=dev_account(DEV_ROLE_INDEX["master_minter"]))
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
