"""``ape run deploy``: deploy the suite through ape's connected provider.

The deployment logic is dfmi's own (``dfmi_py.deploy``), so ``ape run deploy`` and ``dfmi deploy``
produce the same manifest. The deployer is ``$DFMI_PRIVATE_KEY`` or, on a local chain, the
development account 0; roles come from ``$DFMI_ROLES_FILE`` or the development accounts.

    ape run deploy --network ethereum:local:foundry
"""

from __future__ import annotations

import os
from pathlib import Path

import click
from ape.cli import ConnectedProviderCommand

from dfmi_py.chain.accounts import dev_account, load_account
from dfmi_py.chain.client import Chain
from dfmi_py.deploy import RoleConfig, deploy_suite
from dfmi_py.deploy.roles import DEV_ROLE_INDEX


@click.command(cls=ConnectedProviderCommand)
@click.option("--fresh", is_flag=True, help="Deploy everything again.")
def cli(provider: object, fresh: bool) -> None:
    """Deploy the dfmi suite to the connected network."""
    web3 = provider.web3  # type: ignore[attr-defined]
    chain = Chain(web3)
    deployer = load_account("DFMI_PRIVATE_KEY") if os.environ.get("DFMI_PRIVATE_KEY") else dev_account(0)
    roles_file = os.environ.get("DFMI_ROLES_FILE")
    roles = RoleConfig.model_validate_json(Path(roles_file).read_text()) if roles_file else RoleConfig.devnet()
    officer = dev_account(DEV_ROLE_INDEX["compliance_officer"]) if not roles_file else None
    deployment = deploy_suite(chain, deployer, roles, fresh=fresh, officer=officer)
    for name, record in deployment.manifest.contracts.items():
        click.echo(f"{name:<20} {record.address}")
    click.echo(f"manifest: {deployment.manifest_file}")
