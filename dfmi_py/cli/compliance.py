"""``dfmi compliance``: the shared allowlist."""

from __future__ import annotations

import click

from dfmi_py.chain.client import checksum
from dfmi_py.cli.common import Options, echo_json, json_option, open_market, pass_options, signer, signer_options
from dfmi_py.display import enum_name, number


@click.group()
def compliance() -> None:
    """The shared allowlist."""


@compliance.command("status")
@pass_options
@click.argument("accounts", nargs=-1, required=True)
@json_option
def compliance_status(options: Options, accounts: tuple[str, ...], as_json: bool) -> None:
    """Show the status of ACCOUNTS."""
    market = open_market(options)
    statuses = {checksum(account): market.compliance.status(account) for account in accounts}
    if as_json:
        echo_json([{"account": account, "status": status} for account, status in statuses.items()])
        return
    for account, status in statuses.items():
        click.echo(f"{account}  {enum_name(status)}")


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
            status = enum_name(market.compliance.status(account))
            click.echo(f"{name} {account}: {status} (gas {number(receipt['gasUsed'])})")


for _name, _doc in (
    ("onboard", "Onboard ACCOUNTS (compliance officer)."),
    ("freeze", "Freeze ACCOUNTS (compliance officer)."),
    ("unfreeze", "Unfreeze ACCOUNTS (compliance officer)."),
    ("offboard", "Offboard ACCOUNTS (compliance officer)."),
):
    _compliance_action(_name, _doc)
