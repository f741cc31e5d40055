"""``dfmi compliance``: the shared allowlist."""

from __future__ import annotations

import click

from dfmi_py.cli.common import Options, open_market, pass_options, signer, signer_options


@click.group()
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
