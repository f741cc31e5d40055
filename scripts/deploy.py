"""``ape run deploy``: deploy the suite through ape's connected provider.

The deployment logic is dfmi's own (``dfmi_py.deploy``), so ``ape run deploy`` and ``dfmi deploy``
produce the same manifest, named by the chain's id and genesis hash (two local chains never share
one). The deployer is ``$DFMI_PRIVATE_KEY`` or, on a local chain, the development account 0; roles
come from ``$DFMI_ROLES_FILE`` or the development accounts (whose roles then work at once, as after
``dfmi deploy``); the market's parameters from ``--config FILE`` (or ``$DFMI_DEPLOY_CONFIG``).

    ape run deploy --network ethereum:local:foundry
    ape run deploy --network ethereum:local:foundry --config examples/three-markets.toml
"""

from __future__ import annotations

import os
from pathlib import Path

import click
from ape.cli import ConnectedProviderCommand

from dfmi_py.chain.accounts import dev_account, load_account
from dfmi_py.chain.client import Chain
from dfmi_py.deploy import RoleConfig, activate_roles, deploy_suite, load_config
from dfmi_py.deploy.roles import DEV_ROLE_INDEX
from dfmi_py.errors import DfmiError


@click.command(cls=ConnectedProviderCommand)
@click.option("--fresh", is_flag=True, help="Deploy everything again.")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    envvar="DFMI_DEPLOY_CONFIG",
    help="TOML file of the market's parameters and its markets (see examples/market.toml).",
)
def cli(provider: object, fresh: bool, config_file: Path | None) -> None:
    """Deploy the dfmi suite to the connected network."""
    try:
        params = load_config(config_file) if config_file else None
        web3 = provider.web3  # type: ignore[attr-defined]
        chain = Chain(web3)
        deployer = load_account("DFMI_PRIVATE_KEY") if os.environ.get("DFMI_PRIVATE_KEY") else dev_account(0)
        roles_file = os.environ.get("DFMI_ROLES_FILE")
        roles = RoleConfig.model_validate_json(Path(roles_file).read_text()) if roles_file else RoleConfig.devnet()
        officer = dev_account(DEV_ROLE_INDEX["compliance_officer"]) if not roles_file else None
        deployment = deploy_suite(chain, deployer, roles, fresh=fresh, params=params, officer=officer)
        if officer is not None:
            master_minter = dev_account(DEV_ROLE_INDEX["master_minter"])
            activate_roles(deployment, roles, officer=officer, master_minter=master_minter)
    except DfmiError as exc:
        raise click.ClickException(str(exc)) from None
    for key, record in deployment.manifest.contracts.items():
        click.echo(f"{key:<28} {record.address}")
    click.echo(f"manifest: {deployment.manifest_file}")
