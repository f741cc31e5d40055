"""``dfmi cash``: the tokenised cash."""

from __future__ import annotations

import click

from dfmi_py.chain.client import checksum
from dfmi_py.cli.common import (
    Options,
    open_market,
    pass_options,
    recipient,
    signer,
    signer_options,
    units_of,
)
from dfmi_py.cli.token import add_token_commands
from dfmi_py.display import number


@click.group()
def cash() -> None:
    """Tokenised cash. AMOUNTs are in whole units with decimals, e.g. 1250.50."""


@cash.command("mint")
@pass_options
@click.argument("to")
@click.argument("amount")
@signer_options
def cash_mint(options: Options, to: str, amount: str, key_env: str, dev_account: int | None) -> None:
    """Issue AMOUNT to TO (minter)."""
    token = open_market(options).cash
    units = units_of(amount, token.decimals, positive=True)
    receipt = token.mint(signer(key_env, dev_account), recipient(to), units)
    click.echo(f"minted {token.format(units)} to {checksum(to)} (gas {number(receipt['gasUsed'])})")


@cash.command("configure-minter")
@pass_options
@click.argument("minter")
@click.argument("allowance")
@signer_options
def cash_configure_minter(options: Options, minter: str, allowance: str, key_env: str, dev_account: int | None) -> None:
    """Let MINTER mint up to ALLOWANCE (master minter)."""
    token = open_market(options).cash
    units = units_of(allowance, token.decimals, what="ALLOWANCE")
    receipt = token.configure_minter(signer(key_env, dev_account), minter, units)
    click.echo(f"{checksum(minter)} may mint {token.format(units)} (gas {number(receipt['gasUsed'])})")


@cash.command("burn")
@pass_options
@click.argument("amount")
@signer_options
def cash_burn(options: Options, amount: str, key_env: str, dev_account: int | None) -> None:
    """Redeem AMOUNT from the signer's balance (burner)."""
    token = open_market(options).cash
    units = units_of(amount, token.decimals, positive=True)
    receipt = token.burn(signer(key_env, dev_account), units)
    click.echo(f"burned {token.format(units)} (gas {number(receipt['gasUsed'])})")


@cash.command("remove-minter")
@pass_options
@click.argument("minter")
@signer_options
def cash_remove_minter(options: Options, minter: str, key_env: str, dev_account: int | None) -> None:
    """Take MINTER's role and allowance away (master minter)."""
    token = open_market(options).cash
    receipt = token.remove_minter(signer(key_env, dev_account), minter)
    click.echo(f"{checksum(minter)} may no longer mint (gas {number(receipt['gasUsed'])})")


add_token_commands(
    cash,
    lambda market: market.cash,
    "cash",
    "engine (the first market's), engine:NAME, fund, settlement, netting. The engine pulls IMs and "
    "variation margin, the fund contributions, the settlement and netting contracts the cash legs",
)
