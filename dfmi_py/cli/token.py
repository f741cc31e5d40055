"""The commands every token of the market shares — ``balance``, ``transfer``, ``approve``,
``allowance``, ``pause``, ``sync`` — added to ``dfmi cash`` and ``dfmi security`` alike (both
tokens are a ``CompliantToken`` on-chain and in :mod:`dfmi_py.api.token`)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import click

from dfmi_py.api.market import Market
from dfmi_py.api.token import UNLIMITED, CompliantToken
from dfmi_py.chain.client import checksum
from dfmi_py.cli.common import (
    Options,
    allowance_units,
    apply_each,
    echo_json,
    json_option,
    open_market,
    pass_options,
    recipient,
    show_allowance,
    signer,
    signer_options,
    spender_address,
    units_of,
)
from dfmi_py.display import number

#: Picks the group's token from the opened market.
TokenOf = Callable[[Market], CompliantToken]


def add_token_commands(group: click.Group, token_of: TokenOf, noun: str, spenders: str) -> None:
    """Register the shared commands on ``group`` for the token ``token_of`` picks.

    Args:
        group: ``dfmi cash`` or ``dfmi security``.
        token_of: The group's token in a market.
        noun: How help texts and messages name it ("cash", "security").
        spenders: The components that pull this token, for ``approve``'s help.
    """

    def opened(options: Options) -> tuple[Market, CompliantToken]:
        market = open_market(options)
        return market, token_of(market)

    @group.command("balance", help=f"The {noun} balance of ACCOUNTS.")
    @pass_options
    @click.argument("accounts", nargs=-1, required=True)
    @json_option
    def balance(options: Options, accounts: tuple[str, ...], as_json: bool) -> None:
        _, token = opened(options)
        balances = {checksum(account): token.balance_of(account) for account in accounts}
        if as_json:
            echo_json({"symbol": token.symbol, "decimals": token.decimals, "balances": balances})
            return
        for account, units in balances.items():
            click.echo(f"{account}  {token.format(units):>24}")

    @group.command("transfer", help=f"Move AMOUNT of the signer's {noun} to TO.")
    @pass_options
    @click.argument("to")
    @click.argument("amount")
    @signer_options
    def transfer(options: Options, to: str, amount: str, key_env: str, dev_account: int | None) -> None:
        _, token = opened(options)
        units = units_of(amount, token.decimals, positive=True)
        receipt = token.transfer(signer(key_env, dev_account), recipient(to), units)
        click.echo(f"moved {token.format(units)} to {checksum(to)} (gas {number(receipt['gasUsed'])})")

    @group.command(
        "approve",
        help=f"Let SPENDER move up to AMOUNT of the signer's {noun} (0 revokes; --max: unlimited).\n\n"
        f"SPENDER is an address or a component: {spenders}.",
    )
    @pass_options
    @click.argument("spender")
    @click.argument("amount", required=False)
    @click.option("--max", "unlimited", is_flag=True, help="An unlimited allowance instead of AMOUNT.")
    @signer_options
    def approve(
        options: Options, spender: str, amount: str | None, unlimited: bool, key_env: str, dev_account: int | None
    ) -> None:
        market, token = opened(options)
        address = spender_address(market, spender)
        units = allowance_units(amount, unlimited, token.decimals)
        owner = signer(key_env, dev_account)
        receipt = token.approve(owner, address, units)
        shown = show_allowance(units, token.decimals, token.symbol)
        click.echo(f"{owner.address} lets {spender} ({address}) spend {shown} (gas {number(receipt['gasUsed'])})")

    @group.command(
        "allowance", help="What SPENDER (an address or a component, as for approve) may still move from OWNER."
    )
    @pass_options
    @click.argument("owner")
    @click.argument("spender")
    @json_option
    def allowance(options: Options, owner: str, spender: str, as_json: bool) -> None:
        market, token = opened(options)
        address = spender_address(market, spender)
        units = token.allowance(owner, address)
        if as_json:
            echo_json(
                {"owner": checksum(owner), "spender": address, "allowance": units, "unlimited": units == UNLIMITED}
            )
            return
        shown = show_allowance(units, token.decimals, token.symbol)
        click.echo(f"{checksum(owner)} lets {spender} ({address}) spend {shown}")

    @group.command("pause", help=f"Stop (or with --resume, restart) all {noun} movement (pauser).")
    @pass_options
    @click.option("--resume", is_flag=True, help="Unpause instead.")
    @signer_options
    def pause(options: Options, resume: bool, key_env: str, dev_account: int | None) -> None:
        _, token = opened(options)
        account = signer(key_env, dev_account)
        receipt = (token.unpause if resume else token.pause)(account)
        click.echo(f"{noun} movement {'resumed' if resume else 'paused'} (gas {number(receipt['gasUsed'])})")

    @group.command(
        "sync",
        help=f"Copy ACCOUNTS' registry status into the {noun} token's own copy (anyone; for accounts "
        "whose status predates the token's subscription).",
    )
    @pass_options
    @click.argument("accounts", nargs=-1, required=True)
    @signer_options
    def sync(options: Options, accounts: tuple[str, ...], key_env: str, dev_account: int | None) -> None:
        addresses = [checksum(account) for account in accounts]
        market, token = opened(options)
        sender = signer(key_env, dev_account)
        items = [
            (a, token.contract.functions.syncCompliance(a), partial(token.sync_compliance, sender, a))
            for a in addresses
        ]
        for account, receipt in apply_each(market.chain, sender.address, "sync", items):
            click.echo(f"{account} synced (gas {number(receipt['gasUsed'])})")
