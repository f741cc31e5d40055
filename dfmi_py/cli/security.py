"""``dfmi security``: the tokenised security (a bond or share), the delivery leg of DvP.

    dfmi security issue 0xALICE 1000 --dev-account 19      # the issuer issues 1,000 units
    dfmi security transfer 0xBOB 100 --dev-account 7       # a holder moves units
    dfmi security approve settlement --max --dev-account 7  # before selling it in a DvP
    dfmi security redeem 100 --dev-account 19              # units handed back to the issuer
    dfmi security balance 0xALICE 0xBOB

AMOUNTs are in the security's units (whole shares by default).
"""

from __future__ import annotations

import click
from web3.types import TxReceipt

from dfmi_py.api.market import Market
from dfmi_py.api.security import Security
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
def security() -> None:
    """The tokenised security: issue, redeem, transfer, approve, pause. AMOUNTs in its units."""


def _token(options: Options) -> tuple[Market, Security]:
    market = open_market(options)
    return market, Security(market.chain, market.deployment.security)


def _gas(receipt: TxReceipt) -> str:
    return f"(gas {number(receipt['gasUsed'])})"


# ---------------------------------------------------------------------- reads


@security.command("status")
@pass_options
@json_option
def status(options: Options, as_json: bool) -> None:
    """The security's name, supply and whether it is paused."""
    _, token = _token(options)
    name = str(token.contract.functions.name().call())
    supply, paused = token.total_supply(), token.paused()
    if as_json:
        echo_json({"address": token.address, "name": name, "symbol": token.symbol, "decimals": token.decimals,
                   "total_supply": supply, "paused": paused})  # fmt: skip
        return
    click.echo(
        f"{name} ({token.symbol}) at {token.address}: {token.format(supply)} issued, {'PAUSED' if paused else 'moving'}"
    )


@security.command("balance")
@pass_options
@click.argument("accounts", nargs=-1, required=True)
@json_option
def balance(options: Options, accounts: tuple[str, ...], as_json: bool) -> None:
    """Units of the security ACCOUNTS hold."""
    _, token = _token(options)
    holdings = {checksum(a): token.balance_of(a) for a in accounts}
    if as_json:
        echo_json(holdings)
        return
    for account, units in holdings.items():
        click.echo(f"{account}  {token.format(units)}")


@security.command("allowance")
@pass_options
@click.argument("owner")
@click.argument("spender")
@json_option
def allowance(options: Options, owner: str, spender: str, as_json: bool) -> None:
    """What SPENDER (an address or a component: settlement, netting, ...) may still move from OWNER."""
    market, token = _token(options)
    address = spender_address(market, spender)
    units = token.allowance(owner, address)
    if as_json:
        echo_json({"owner": checksum(owner), "spender": address, "allowance": units, "unlimited": units == UNLIMITED})
        return
    click.echo(
        f"{checksum(owner)} lets {spender} ({address}) spend {show_allowance(units, token.decimals, token.symbol)}"
    )


# ---------------------------------------------------------------------- the issuer


@security.command("issue")
@pass_options
@click.argument("to")
@click.argument("amount")
@signer_options
def issue(options: Options, to: str, amount: str, key_env: str, dev_account: int | None) -> None:
    """Issue AMOUNT new units to TO (the issuer; both onboarded)."""
    _, token = _token(options)
    units = to_units(amount, token.decimals)
    receipt = token.issue(signer(key_env, dev_account), to, units)
    click.echo(
        f"issued {token.format(units)} to {checksum(to)} {_gas(receipt)}; supply {token.format(token.total_supply())}"
    )


@security.command("redeem")
@pass_options
@click.argument("amount")
@signer_options
def redeem(options: Options, amount: str, key_env: str, dev_account: int | None) -> None:
    """Redeem AMOUNT units handed back to the issuer (the issuer)."""
    _, token = _token(options)
    units = to_units(amount, token.decimals)
    receipt = token.redeem(signer(key_env, dev_account), units)
    click.echo(f"redeemed {token.format(units)} {_gas(receipt)}; supply {token.format(token.total_supply())}")


@security.command("pause")
@pass_options
@click.option("--resume", is_flag=True, help="Unpause instead.")
@signer_options
def pause(options: Options, resume: bool, key_env: str, dev_account: int | None) -> None:
    """Stop (or with --resume, restart) all movement of the security (pauser)."""
    _, token = _token(options)
    account = signer(key_env, dev_account)
    receipt = (token.unpause if resume else token.pause)(account)
    click.echo(f"security movement {'resumed' if resume else 'paused'} {_gas(receipt)}")


# ---------------------------------------------------------------------- holders


@security.command("transfer")
@pass_options
@click.argument("to")
@click.argument("amount")
@signer_options
def transfer(options: Options, to: str, amount: str, key_env: str, dev_account: int | None) -> None:
    """Move AMOUNT of the signer's units to TO."""
    _, token = _token(options)
    units = to_units(amount, token.decimals)
    receipt = token.transfer(signer(key_env, dev_account), to, units)
    click.echo(f"moved {token.format(units)} to {checksum(to)} {_gas(receipt)}")


@security.command("approve")
@pass_options
@click.argument("spender")
@click.argument("amount", required=False)
@click.option("--max", "unlimited", is_flag=True, help="An unlimited allowance instead of AMOUNT.")
@signer_options
def approve(
    options: Options, spender: str, amount: str | None, unlimited: bool, key_env: str, dev_account: int | None
) -> None:
    """Let SPENDER move up to AMOUNT of the signer's units (0 revokes; --max: unlimited).

    SPENDER is an address or a component: settlement (DvP), netting (DvPs in a round), ...
    """
    market, token = _token(options)
    address = spender_address(market, spender)
    units = allowance_units(amount, unlimited, token.decimals)
    owner = signer(key_env, dev_account)
    receipt = token.approve(owner, address, units)
    shown = show_allowance(units, token.decimals, token.symbol)
    click.echo(f"{owner.address} lets {spender} ({address}) spend {shown} {_gas(receipt)}")


@security.command("sync")
@pass_options
@click.argument("accounts", nargs=-1, required=True)
@signer_options
def sync(options: Options, accounts: tuple[str, ...], key_env: str, dev_account: int | None) -> None:
    """Copy ACCOUNTS' registry status into the security's own copy (anyone; for accounts whose
    status predates the token's subscription)."""
    _, token = _token(options)
    sender = signer(key_env, dev_account)
    for account in accounts:
        receipt = token.sync_compliance(sender, account)
        click.echo(f"{checksum(account)} synced {_gas(receipt)}")
