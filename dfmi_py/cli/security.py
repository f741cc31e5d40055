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
from dfmi_py.chain.client import checksum
from dfmi_py.cli.common import (
    Options,
    echo_json,
    json_option,
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


# ---------------------------------------------------------------------- the issuer


@security.command("issue")
@pass_options
@click.argument("to")
@click.argument("amount")
@signer_options
def issue(options: Options, to: str, amount: str, key_env: str, dev_account: int | None) -> None:
    """Issue AMOUNT new units to TO (the issuer; both onboarded)."""
    _, token = _token(options)
    units = units_of(amount, token.decimals, positive=True)
    receipt = token.issue(signer(key_env, dev_account), recipient(to), units)
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
    units = units_of(amount, token.decimals, positive=True)
    receipt = token.redeem(signer(key_env, dev_account), units)
    click.echo(f"redeemed {token.format(units)} {_gas(receipt)}; supply {token.format(token.total_supply())}")


# ---------------------------------------------------------------------- holders


add_token_commands(
    security,
    lambda market: Security(market.chain, market.deployment.security),
    "security",
    "settlement (DvP), netting (DvPs in a round), or any address",
)
