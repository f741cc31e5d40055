"""``dfmi accounts``: who holds what across the suite.

On a devnet, every development account (its ``--dev-account`` index and address) with the roles
it holds on each contract, the markets it reports prices for, its default-fund membership and
its compliance status; on any chain, the same for the accounts named::

    dfmi --rpc-url URL accounts                 # a devnet's development accounts
    dfmi --rpc-url URL accounts 0xABC… 0xDEF…   # any accounts, on any chain
    dfmi --rpc-url URL accounts --json
"""

from __future__ import annotations

import json

import click

from dfmi_py.api.accounts import AccountRoles
from dfmi_py.api.market import Market
from dfmi_py.chain.accounts import dev_account
from dfmi_py.chain.client import checksum
from dfmi_py.cli.common import Options, open_market, pass_options
from dfmi_py.display import enum_name, jsonable
from dfmi_py.errors import ConfigError


@click.command()
@pass_options
@click.argument("addresses", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="One JSON array of accounts instead of a table.")
def accounts(options: Options, addresses: tuple[str, ...], as_json: bool) -> None:
    """Accounts with their roles, markets reported, fund membership and status.

    Lists ADDRESSES or, on a devnet, its development accounts (by --dev-account index): the
    roles each holds on each contract, the markets it reports prices for, whether it is a
    member of the default fund, and its compliance status."""
    market = open_market(options)
    listed: list[str]
    indices: list[int] | None
    if addresses:
        listed, indices = [checksum(a) for a in addresses], None
    else:
        listed, indices = _dev_accounts(market)
    rows = market.account_roles(listed, indices)
    if as_json:
        click.echo(json.dumps([jsonable(row) for row in rows], indent=2))
        return
    click.echo(f"{'#':>3}  {'address':<42}  {'status':<6}  roles")
    for row in rows:
        index = "" if row.index is None else str(row.index)
        click.echo(f"{index:>3}  {row.address}  {enum_name(row.status):<6}  {describe(row)}")


def describe(row: AccountRoles) -> str:
    """``MINTER_ROLE on CashToken; reporter of ACME, EURUSD; fund member`` (``-`` for nothing)."""
    by_role: dict[str, list[str]] = {}
    for held in row.roles:
        by_role.setdefault(held.role, []).append(held.contract)
    parts = [f"{role} on {', '.join(contracts)}" for role, contracts in by_role.items()]
    if row.reporter_of:
        parts.append(f"reporter of {', '.join(row.reporter_of)}")
    if row.fund_member:
        parts.append("fund member")
    return "; ".join(parts) or "-"


def _node_accounts(market: Market) -> set[str]:
    """The accounts whose keys the chain's node holds (a devnet's development accounts)."""
    return {checksum(a) for a in market.chain.w3.eth.accounts}


def _dev_accounts(market: Market) -> tuple[list[str], list[int]]:
    """The development accounts the chain's node holds, by index."""
    held = _node_accounts(market)
    listed: list[str] = []
    for index in range(len(held)):
        address = dev_account(index).address
        if address not in held:
            break
        listed.append(address)
    if not listed:
        raise ConfigError(
            "this chain's node holds no development accounts (not a devnet): name the accounts, "
            "`dfmi accounts ADDRESS...`"
        )
    return listed, list(range(len(listed)))
