"""``dfmi cash``: the tokenised cash."""

from __future__ import annotations

import click

from dfmi_py.chain.client import checksum
from dfmi_py.cli.common import Options, echo_json, json_option, open_market, pass_options, signer, signer_options
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
