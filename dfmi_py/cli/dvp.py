"""``dfmi dvp``: build, sign, settle, propose, affirm and cancel settlement instructions.

An instruction travels between the parties as a JSON file: the instruction's fields (as the
contract names them) and each party's signature once given::

    dfmi dvp new SELLER 100 BUYER 12345.67 -o trade.json     # 100 shares against 12,345.67 cash
    dfmi dvp sign trade.json --dev-account 7                   # the seller signs
    dfmi dvp sign trade.json --dev-account 8                   # the buyer signs
    dfmi dvp settle trade.json --dev-account 15                # anyone settles
    dfmi dvp settle a.json b.json c.json --dev-account 15      # several: one batch

Parties that cannot sign off-chain use ``propose`` and ``affirm`` instead of ``sign``.
AMOUNTs are in whole units with decimals (e.g. 12345.67), converted with each token's decimals.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from dfmi_py.api.market import Market
from dfmi_py.api.settlement import Outcome, Settlement, SignedInstruction
from dfmi_py.chain.client import checksum
from dfmi_py.cli.common import (
    Options,
    echo_json,
    json_option,
    open_market,
    pass_options,
    signer,
    signer_options,
    units_of,
)
from dfmi_py.cli.files import read_instruction, write_instruction
from dfmi_py.display import enum_name, iso, when
from dfmi_py.errors import InputError
from dfmi_py.signing.settlement import Instruction
from dfmi_py.units import format_units


@click.group()
def dvp() -> None:
    """Atomic DvP / PvP settlement of two-leg instructions."""


# ---------------------------------------------------------------------- files


def _settlement(market: Market) -> Settlement:
    return Settlement(market.chain, market.deployment.settlement)


def _units(market: Market, token: str, amount: str) -> int:
    address = checksum(token)
    if not market.chain.w3.eth.get_code(address):
        raise InputError(f"no contract at {address} on this chain: give the token's address (see `dfmi status`)")
    decimals = int(market.chain.contract("CashToken", address).functions.decimals().call())
    return units_of(amount, decimals, positive=True)


def _describe(market: Market, instruction: Instruction, now: int | None = None) -> str:
    def leg(token: str, amount: int) -> str:
        contract = market.chain.contract("CashToken", token)
        return format_units(amount, int(contract.functions.decimals().call()), contract.functions.symbol().call())

    now = market.chain.now() if now is None else now
    return (
        f"{instruction.party_a} delivers {leg(instruction.token_a, instruction.amount_a)}; "
        f"{instruction.party_b} delivers {leg(instruction.token_b, instruction.amount_b)}; "
        f"deadline {when(instruction.deadline, now)}, nonce {instruction.nonce}"
    )


def _report(outcome: Outcome, label: str) -> None:
    click.echo(f"{label} {outcome.id}: {outcome.describe()}")


# ---------------------------------------------------------------------- building


_build_options = [
    click.option(
        "--deadline-in",
        type=click.IntRange(min=1),
        default=3600,
        show_default=True,
        help="Seconds from the latest block until the instruction expires.",
    ),
    click.option("--nonce", type=click.IntRange(min=0), help="Nonce of the pair [default: the lowest unspent]."),
    click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the file here."),
]


def _with_build_options(func: Any) -> Any:
    for option in reversed(_build_options):
        func = option(func)
    return func


@dvp.command("new")
@pass_options
@click.argument("seller")
@click.argument("quantity")
@click.argument("buyer")
@click.argument("price")
@click.option("--security", help="Security token address [default: the suite's].")
@click.option("--cash", "cash_token", help="Cash token address [default: the suite's].")
@_with_build_options
def dvp_new(
    options: Options,
    seller: str,
    quantity: str,
    buyer: str,
    price: str,
    security: str | None,
    cash_token: str | None,
    deadline_in: int,
    nonce: int | None,
    out: Path | None,
) -> None:
    """A DvP: SELLER delivers QUANTITY of the security to BUYER, who pays PRICE (total) in cash."""
    market = open_market(options)
    security = security or market.deployment.security.address
    cash_token = cash_token or market.deployment.cash.address
    settlement = _settlement(market)
    deadline = settlement.chain.now() + deadline_in
    instruction = settlement.dvp(
        seller, security, _units(market, security, quantity), buyer, cash_token, _units(market, cash_token, price),
        deadline=deadline, nonce=nonce,
    )  # fmt: skip
    click.echo(_describe(market, instruction), err=True)
    write_instruction(SignedInstruction(instruction), out)


@dvp.command("pvp")
@pass_options
@click.argument("payer_a")
@click.argument("amount_a")
@click.argument("currency_a")
@click.argument("payer_b")
@click.argument("amount_b")
@click.argument("currency_b")
@_with_build_options
def dvp_pvp(
    options: Options,
    payer_a: str,
    amount_a: str,
    currency_a: str,
    payer_b: str,
    amount_b: str,
    currency_b: str,
    deadline_in: int,
    nonce: int | None,
    out: Path | None,
) -> None:
    """A PvP: PAYER_A pays AMOUNT_A of token CURRENCY_A to PAYER_B, who pays AMOUNT_B of CURRENCY_B."""
    market = open_market(options)
    settlement = _settlement(market)
    deadline = settlement.chain.now() + deadline_in
    instruction = settlement.pvp(
        payer_a, currency_a, _units(market, currency_a, amount_a), payer_b, currency_b,
        _units(market, currency_b, amount_b), deadline=deadline, nonce=nonce,
    )  # fmt: skip
    click.echo(_describe(market, instruction), err=True)
    write_instruction(SignedInstruction(instruction), out)


# ---------------------------------------------------------------------- consent


@dvp.command("sign")
@pass_options
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@signer_options
def dvp_sign(options: Options, file: Path, key_env: str, dev_account: int | None) -> None:
    """Add the signer's (a party's) EIP-712 signature to FILE."""
    item = read_instruction(file)
    settlement = _settlement(open_market(options))
    account = signer(key_env, dev_account)
    signature = settlement.sign(account, item.instruction)
    if account.address == item.instruction.party_a:
        item = SignedInstruction(item.instruction, signature, item.signature_b)
    else:
        item = SignedInstruction(item.instruction, item.signature_a, signature)
    write_instruction(item, file, announce=False)
    click.echo(f"{account.address} signed {settlement.instruction_id(item.instruction)}")


@dvp.command("propose")
@pass_options
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@signer_options
def dvp_propose(options: Options, file: Path, key_env: str, dev_account: int | None) -> None:
    """Record the signer's consent to FILE's instruction on-chain."""
    settlement = _settlement(open_market(options))
    instruction_id = settlement.propose(signer(key_env, dev_account), read_instruction(file).instruction)
    click.echo(f"proposed {instruction_id}")


@dvp.command("affirm")
@pass_options
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@signer_options
def dvp_affirm(options: Options, file: Path, key_env: str, dev_account: int | None) -> None:
    """Consent to the counterparty's proposal of FILE's instruction, and settle it if the legs can move."""
    settlement = _settlement(open_market(options))
    _report(settlement.affirm(signer(key_env, dev_account), read_instruction(file).instruction), "affirmed")


@dvp.command("cancel")
@pass_options
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@signer_options
def dvp_cancel(options: Options, file: Path, key_env: str, dev_account: int | None) -> None:
    """Cancel FILE's instruction (a party only): it can never settle."""
    settlement = _settlement(open_market(options))
    instruction = read_instruction(file).instruction
    settlement.cancel(signer(key_env, dev_account), instruction)
    click.echo(f"cancelled {settlement.instruction_id(instruction)}")


# ---------------------------------------------------------------------- settlement and reads


@dvp.command("settle")
@pass_options
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path))
@signer_options
def dvp_settle(options: Options, files: tuple[Path, ...], key_env: str, dev_account: int | None) -> None:
    """Settle FILES' instructions (anyone may): one file alone, several in one batch.

    A single settlement that cannot happen fails with the reason and moves nothing; in a batch
    each instruction settles or fails on its own, and the command exits non-zero if any failed.
    """
    settlement = _settlement(open_market(options))
    sender = signer(key_env, dev_account)
    items = [read_instruction(f) for f in files]
    if len(items) == 1:
        _report(settlement.settle(sender, items[0]), files[0].name)
        return
    outcomes = settlement.settle_batch(sender, items)
    for file, outcome in zip(files, outcomes, strict=True):
        _report(outcome, file.name)
    failed = sum(not o.settled for o in outcomes)
    if failed:
        raise click.ClickException(f"{failed} of {len(outcomes)} instructions did not settle")


@dvp.command("status")
@pass_options
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path))
@json_option
def dvp_status(options: Options, files: tuple[Path, ...], as_json: bool) -> None:
    """Show the state of FILES' instructions."""
    market = open_market(options)
    settlement = _settlement(market)
    now = market.chain.now()
    rows = []
    for file in files:
        instruction = read_instruction(file).instruction
        rows.append((file, settlement.instruction_id(instruction), settlement.state_of(instruction), instruction))
    if as_json:
        echo_json([
            {"file": str(file), "id": id_, "state": state, "instruction": instruction}
            for file, id_, state, instruction in rows
        ])  # fmt: skip
        return
    for file, id_, state, instruction in rows:
        click.echo(f"{file.name} {id_} {enum_name(state)}")
        click.echo(f"  {_describe(market, instruction, now)}")


@dvp.command("history")
@pass_options
@click.option("--party", help="Only instructions of this party.")
@click.option("--from-block", type=click.IntRange(min=0), default=0, show_default=True)
@json_option
def dvp_history(options: Options, party: str | None, from_block: int, as_json: bool) -> None:
    """Every proposal, affirmation, settlement, cancellation and failure, in chain order."""
    market = open_market(options)
    head = market.chain.w3.eth.block_number
    if from_block > head:
        raise InputError(f"--from-block {from_block} is beyond the chain's head, block {head}")
    events = _settlement(market).history(party=party, from_block=from_block)
    times = market.chain.block_times(event.block for event in events)
    if as_json:
        echo_json([
            event.record() | {"time": times[event.block], "error_args": event.reason and event.reason.error_args}
            for event in events
        ])  # fmt: skip
        return
    for event in events:
        detail = event.reason.describe() if event.reason else (event.party or "")
        click.echo(f"block {event.block:>6}  {iso(times[event.block])}  {event.kind:<9} {event.id}  {detail}")
