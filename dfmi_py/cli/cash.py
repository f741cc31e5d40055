"""``dfmi cash``: the tokenised cash."""

from __future__ import annotations

import click

from dfmi_py.api.token import UNLIMITED
from dfmi_py.chain.client import checksum
from dfmi_py.cli.common import (
    Options,
    allowance_units,
    echo_json,
    json_option,
    open_market,
    pass_options,
    show_allowance,
    signer,
    signer_options,
    spender_address,
)
from dfmi_py.display import number
from dfmi_py.units import to_units


@click.group()
def cash() -> None:
    """Tokenised cash. AMOUNTs are in whole units with decimals, e.g. 1250.50."""


@cash.command("balance")
@pass_options
@click.argument("accounts", nargs=-1, required=True)
@json_option
def cash_balance(options: Options, accounts: tuple[str, ...], as_json: bool) -> None:
    """Show the cash balance of ACCOUNTS."""
    token = open_market(options).cash
    balances = {checksum(account): token.balance_of(account) for account in accounts}
    if as_json:
        echo_json({"symbol": token.symbol, "decimals": token.decimals, "balances": balances})
        return
    for account, units in balances.items():
        click.echo(f"{account}  {token.format(units):>24}")


@cash.command("mint")
@pass_options
@click.argument("to")
@click.argument("amount")
@signer_options
def cash_mint(options: Options, to: str, amount: str, key_env: str, dev_account: int | None) -> None:
    """Issue AMOUNT to TO (minter)."""
    token = open_market(options).cash
    units = to_units(amount, token.decimals)
    receipt = token.mint(signer(key_env, dev_account), to, units)
    click.echo(f"minted {token.format(units)} to {checksum(to)} (gas {number(receipt['gasUsed'])})")


@cash.command("transfer")
@pass_options
@click.argument("to")
@click.argument("amount")
@signer_options
def cash_transfer(options: Options, to: str, amount: str, key_env: str, dev_account: int | None) -> None:
    """Pay AMOUNT to TO."""
    token = open_market(options).cash
    units = to_units(amount, token.decimals)
    receipt = token.transfer(signer(key_env, dev_account), to, units)
    click.echo(f"paid {token.format(units)} to {checksum(to)} (gas {number(receipt['gasUsed'])})")


@cash.command("configure-minter")
@pass_options
@click.argument("minter")
@click.argument("allowance")
@signer_options
def cash_configure_minter(options: Options, minter: str, allowance: str, key_env: str, dev_account: int | None) -> None:
    """Let MINTER mint up to ALLOWANCE (master minter)."""
    token = open_market(options).cash
    units = to_units(allowance, token.decimals)
    receipt = token.configure_minter(signer(key_env, dev_account), minter, units)
    click.echo(f"{checksum(minter)} may mint {token.format(units)} (gas {number(receipt['gasUsed'])})")


@cash.command("burn")
@pass_options
@click.argument("amount")
@signer_options
def cash_burn(options: Options, amount: str, key_env: str, dev_account: int | None) -> None:
    """Redeem AMOUNT from the signer's balance (burner)."""
    token = open_market(options).cash
    units = to_units(amount, token.decimals)
    receipt = token.burn(signer(key_env, dev_account), units)
    click.echo(f"burned {token.format(units)} (gas {number(receipt['gasUsed'])})")


@cash.command("pause")
@pass_options
@click.option("--resume", is_flag=True, help="Unpause instead.")
@signer_options
def cash_pause(options: Options, resume: bool, key_env: str, dev_account: int | None) -> None:
    """Stop (or with --resume, restart) all cash movement (pauser)."""
    token = open_market(options).cash
    account = signer(key_env, dev_account)
    receipt = (token.unpause if resume else token.pause)(account)
    what = "cash movement resumed" if resume else "cash movement paused"
    click.echo(f"{what} (gas {number(receipt['gasUsed'])})")


# ---------------------------------------------------------------------- approvals


@cash.command("approve")
@pass_options
@click.argument("spender")
@click.argument("amount", required=False)
@click.option("--max", "unlimited", is_flag=True, help="An unlimited allowance instead of AMOUNT.")
@signer_options
def cash_approve(
    options: Options, spender: str, amount: str | None, unlimited: bool, key_env: str, dev_account: int | None
) -> None:
    """Let SPENDER move up to AMOUNT of the signer's cash (0 revokes; --max: unlimited).

    SPENDER is an address or a component: engine (the first market's), engine:NAME, fund,
    settlement, netting. The engine pulls IMs and variation margin, the fund contributions, the
    settlement and netting contracts the cash legs.
    """
    market = open_market(options)
    token = market.cash
    address = spender_address(market, spender)
    units = allowance_units(amount, unlimited, token.decimals)
    owner = signer(key_env, dev_account)
    receipt = token.approve(owner, address, units)
    shown = show_allowance(units, token.decimals, token.symbol)
    click.echo(f"{owner.address} lets {spender} ({address}) spend {shown} (gas {number(receipt['gasUsed'])})")


@cash.command("allowance")
@pass_options
@click.argument("owner")
@click.argument("spender")
@json_option
def cash_allowance(options: Options, owner: str, spender: str, as_json: bool) -> None:
    """What SPENDER (an address or a component, as for approve) may still move from OWNER."""
    market = open_market(options)
    token = market.cash
    address = spender_address(market, spender)
    units = token.allowance(owner, address)
    if as_json:
        echo_json({"owner": checksum(owner), "spender": address, "allowance": units, "unlimited": units == UNLIMITED})
        return
    click.echo(
        f"{checksum(owner)} lets {spender} ({address}) spend {show_allowance(units, token.decimals, token.symbol)}"
    )


@cash.command("remove-minter")
@pass_options
@click.argument("minter")
@signer_options
def cash_remove_minter(options: Options, minter: str, key_env: str, dev_account: int | None) -> None:
    """Take MINTER's role and allowance away (master minter)."""
    token = open_market(options).cash
    receipt = token.remove_minter(signer(key_env, dev_account), minter)
    click.echo(f"{checksum(minter)} may no longer mint (gas {number(receipt['gasUsed'])})")


@cash.command("sync")
@pass_options
@click.argument("accounts", nargs=-1, required=True)
@signer_options
def cash_sync(options: Options, accounts: tuple[str, ...], key_env: str, dev_account: int | None) -> None:
    """Copy ACCOUNTS' registry status into the cash token's own copy (anyone; for accounts whose
    status predates the token's subscription)."""
    market = open_market(options)
    sender = signer(key_env, dev_account)
    for account in accounts:
        receipt = market.cash.sync_compliance(sender, account)
        click.echo(f"{checksum(account)} synced (gas {number(receipt['gasUsed'])})")
