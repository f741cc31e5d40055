"""``dfmi net``: multilateral netting rounds from the command line.

An obligation travels between its two parties as a JSON file, like a DvP instruction::

    dfmi net open --dev-account 7                                  # prints the round id
    dfmi net new 1 PAYER PAYEE 40 -o p1-p2.json                    # P1 owes 40 to P2
    dfmi net sign p1-p2.json --dev-account 7                       # the payer signs
    dfmi net sign p1-p2.json --dev-account 8                       # the payee signs
    dfmi net register p1-p2.json p1-p3.json --dev-account 15       # anyone registers (one batch)
    dfmi net close 1 --dev-account 7
    dfmi net submit 1 --dev-account 15                             # nets computed here, verified on-chain
    dfmi net approve 1 --dev-account 7                             # each debtor (or: dfmi net fund 1 90)
    dfmi net settle 1 --dev-account 15
    dfmi net resolve 1 --dev-account 15                            # after the deadline: exclude who cannot pay

A signed ``dfmi dvp`` instruction file whose payment leg is in the round's cash enters a round
instead of settling bilaterally; its cash leg is netted and its security leg moves when the round
settles (an expired round's instructions are released with ``dfmi net release``)::

    dfmi net enter 1 trade.json --dev-account 15                   # anyone, with both signatures

After the funding deadline, a settlement in which a delivery fails moves nothing but records the
failure; the failed instructions alone then leave the round (released, pending again)::

    dfmi net remove-failed 1 --dev-account 15                      # or: dfmi net resolve 1
    dfmi net submit 1 --dev-account 15
    dfmi net settle 1 --dev-account 15

``dfmi net compute FILE`` does the arithmetic alone, offline, on a CSV of ``payer,payee,amount``.
AMOUNTs are in whole units with decimals (e.g. 12345.67).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import click

from dfmi_py.api.market import Market
from dfmi_py.api.netting import DeliveryFailure, Netting, RoundState, SignedObligation
from dfmi_py.chain.client import checksum
from dfmi_py.cli.common import (
    Options,
    apply_each,
    echo_json,
    json_option,
    open_market,
    pass_options,
    pulled_from_wallet,
    signer,
    signer_options,
    units_of,
)
from dfmi_py.cli.files import read_instruction, read_json_file, write_json_file
from dfmi_py.display import enum_name, when
from dfmi_py.errors import InputError
from dfmi_py.netting import Compression, Obligation, compression, credit_losses, exclude, member_order, net_positions
from dfmi_py.units import format_units, to_units


@click.group()
def net() -> None:
    """Multilateral netting rounds: obligations in, net amounts out."""


def _netting(market: Market) -> Netting:
    return Netting(market.chain, market.deployment.netting)


def _read(path: Path) -> SignedObligation:
    def parse(data: dict[str, Any]) -> SignedObligation:
        return SignedObligation(
            Obligation.from_message(data["obligation"]),
            bytes.fromhex(str(data.get("payerSignature", "0x"))[2:]),
            bytes.fromhex(str(data.get("payeeSignature", "0x"))[2:]),
        )

    return read_json_file(path, "an obligation file", parse)


def _write(item: SignedObligation, out: Path | None) -> None:
    message = item.obligation.as_message() | {"ref": "0x" + item.obligation.ref.hex()}
    data = {
        "obligation": message,
        "payerSignature": "0x" + item.payer_signature.hex(),
        "payeeSignature": "0x" + item.payee_signature.hex(),
    }
    write_json_file(data, out)


def _money(market: Market, units: int) -> str:
    return market.cash.format(units)


def _compression_text(c: Compression, fmt: Callable[[int], str]) -> str:
    """``gross 150.000000 DSD, net 100.000000 DSD: 33.3% compressed``."""
    percent = float(c.ratio) if c.gross else 0.0
    return f"gross {fmt(c.gross)}, net {fmt(c.net)}: {percent:.1%} compressed"


# ---------------------------------------------------------------------- offline


@net.command("compute")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--decimals", type=click.IntRange(0, 36), default=6, show_default=True, help="Decimals of the cash.")
@click.option("--exclude", "excluded", multiple=True, help="Recompute without this member (repeatable).")
@json_option
def net_compute(file: Path, decimals: int, excluded: tuple[str, ...], as_json: bool) -> None:
    """Nets and compression of the obligations in FILE (CSV: payer,payee,amount), offline."""
    obligations = []
    try:
        with file.open(newline="") as handle:
            for line, row in enumerate(csv.DictReader(handle), start=2):
                try:
                    amount = to_units(row["amount"], decimals)
                    obligations.append(Obligation(0, row["payer"], row["payee"], amount, line.to_bytes(32, "big")))
                except KeyError:
                    raise InputError(f"{file}: needs columns payer,payee,amount") from None
                except InputError as exc:
                    raise InputError(f"{file} line {line}: {exc}") from None
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        raise InputError(f"{file}: cannot read ({exc})") from None
    if not obligations:
        raise InputError(f"{file}: no obligations")
    for o in obligations:
        o.validate()
    members = member_order(obligations)
    out = [checksum(m) for m in excluded]
    unknown = set(out) - set(members)
    if unknown:
        raise InputError(f"not members of these obligations: {sorted(unknown)}")
    remaining = exclude(obligations, out)
    nets = net_positions(remaining, members)
    c = compression(remaining)
    losses = credit_losses(obligations, out)
    if as_json:
        echo_json({
            "decimals": decimals, "nets": {m: nets[m] for m in members}, "excluded": out,
            "gross": c.gross, "net": c.net, "compression": float(c.ratio) if c.gross else 0.0, "credit_losses": losses,
        })  # fmt: skip
        return

    def fmt(units: int) -> str:
        return format_units(units, decimals)

    for member in members:
        note = "  excluded" if member in out else ""
        click.echo(f"{member}  {fmt(nets[member]):>24}{note}")
    click.echo(_compression_text(c, fmt))
    for member, loss in losses.items():
        click.echo(f"loss of {member}: {fmt(loss)} owed by excluded members")


# ---------------------------------------------------------------------- rounds


@net.command("open")
@pass_options
@click.option("--cutoff-in", type=click.IntRange(min=0), default=3600, show_default=True, help="Seconds of collection.")
@click.option("--funding-for", type=click.IntRange(min=0), default=3600, show_default=True, help="Seconds to fund.")
@signer_options
def net_open(options: Options, cutoff_in: int, funding_for: int, key_env: str, dev_account: int | None) -> None:
    """Open a round (any onboarded account); prints its id."""
    netting = _netting(open_market(options))
    now = netting.chain.now()
    cutoff = now + cutoff_in
    round_id = netting.open_round(signer(key_env, dev_account), cutoff, cutoff + funding_for)
    click.echo(
        f"round {round_id}: obligations until {when(cutoff, now)}, funding until {when(cutoff + funding_for, now)}"
    )


@net.command("new")
@pass_options
@click.argument("round_id", type=click.IntRange(min=1))
@click.argument("payer")
@click.argument("payee")
@click.argument("amount")
@click.option("--ref", type=click.IntRange(min=0), default=0, show_default=True, help="Tells apart equal obligations.")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the file here.")
def net_new(options: Options, round_id: int, payer: str, payee: str, amount: str, ref: int, out: Path | None) -> None:
    """An obligation file: PAYER owes AMOUNT to PAYEE in ROUND_ID."""
    market = open_market(options)
    obligation = _netting(market).obligation(
        round_id, payer, payee, units_of(amount, market.cash.decimals, positive=True), ref
    )
    _write(SignedObligation(obligation), out)


@net.command("sign")
@pass_options
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@signer_options
def net_sign(options: Options, file: Path, key_env: str, dev_account: int | None) -> None:
    """Add the signer's consent (payer or payee) to the obligation in FILE."""
    netting = _netting(open_market(options))
    item = _read(file)
    account = signer(key_env, dev_account)
    signature = netting.sign(account, item.obligation)
    if account.address == item.obligation.payer:
        item = SignedObligation(item.obligation, signature, item.payee_signature)
    else:
        item = SignedObligation(item.obligation, item.payer_signature, signature)
    _write(item, file)


@net.command("register")
@pass_options
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path))
@signer_options
def net_register(options: Options, files: tuple[Path, ...], key_env: str, dev_account: int | None) -> None:
    """Register the obligations in FILES (one batch: all or none)."""
    netting = _netting(open_market(options))
    batch = [_read(f) for f in files]
    receipts = netting.register_batch(signer(key_env, dev_account), batch)
    gas = sum(int(r["gasUsed"]) for r in receipts)
    click.echo(f"registered {len(batch)} obligations (gas {gas:,})")


@net.command("enter")
@pass_options
@click.argument("round_id", type=click.IntRange(min=1))
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path))
@signer_options
def net_enter(options: Options, round_id: int, files: tuple[Path, ...], key_env: str, dev_account: int | None) -> None:
    """Enter the signed DvP instructions in FILES (``dfmi dvp`` files) into ROUND_ID, one
    transaction each: each is locked, its cash leg netted, its security leg moved at settlement."""
    netting = _netting(open_market(options))
    sender = signer(key_env, dev_account)
    signed = [read_instruction(path) for path in files]
    items = [
        (
            str(path),
            netting.contract.functions.enterInstruction(
                round_id, item.instruction.as_tuple(), item.signature_a, item.signature_b
            ),
            partial(netting.enter_instruction, sender, round_id, item),
        )
        for path, item in zip(files, signed, strict=True)
    ]
    for path, (instruction_id, obligation_id) in apply_each(netting.chain, sender.address, "enter", items):
        click.echo(
            f"{path}: entered 0x{instruction_id.hex()} into round {round_id} (obligation 0x{obligation_id.hex()})"
        )


@net.command("release")
@pass_options
@click.argument("round_id", type=click.IntRange(min=1))
@signer_options
def net_release(options: Options, round_id: int, key_env: str, dev_account: int | None) -> None:
    """Release every DvP instruction of ROUND_ID (expired): each is pending again."""
    netting = _netting(open_market(options))
    count = len(netting.instructions(round_id))
    receipt = netting.release_instructions(signer(key_env, dev_account), round_id)
    click.echo(f"round {round_id}: released {count} instructions (gas {int(receipt['gasUsed']):,})")


@net.command("close")
@pass_options
@click.argument("round_id", type=click.IntRange(min=1))
@signer_options
def net_close(options: Options, round_id: int, key_env: str, dev_account: int | None) -> None:
    """Close ROUND_ID to new obligations (its opener, or anyone after the cutoff)."""
    receipt = _netting(open_market(options)).close(signer(key_env, dev_account), round_id)
    click.echo(f"round {round_id}: close ok (gas {int(receipt['gasUsed']):,})")


def _failure_text(netting: Netting, failure: DeliveryFailure) -> str:
    decoded = netting.chain.decode_error("0x" + failure.reason.hex()) if failure.error is not None else None
    if decoded is not None:
        why = decoded.text
    elif failure.reason:
        why = f"reverted with 0x{failure.reason.hex()}"
    else:
        why = "no revert data (out of gas)"
    return f"0x{failure.instruction_id.hex()} (seller {failure.seller}): {why}"


@net.command("settle")
@pass_options
@click.argument("round_id", type=click.IntRange(min=1))
@signer_options
def net_settle(options: Options, round_id: int, key_env: str, dev_account: int | None) -> None:
    """Move every net of ROUND_ID (Verified) and the security leg of each of its DvPs, all or
    nothing. After the deadline, deliveries that fail are recorded instead (nothing moves)."""
    market = open_market(options)
    netting = _netting(market)
    receipt = netting.settle(signer(key_env, dev_account), round_id)
    gas = int(receipt["gasUsed"])
    failures = netting.failures_in(receipt)
    if failures:
        for failure in failures:
            click.echo(f"delivery failed: {_failure_text(netting, failure)}")
        click.echo(
            f"round {round_id}: not settled, nothing moved; {len(failures)} failed deliveries recorded "
            f"(gas {gas:,}): dfmi net remove-failed {round_id}, then submit and settle again"
        )
        return
    click.echo(f"round {round_id}: settle ok (gas {gas:,})")
    click.echo(_compression_text(netting.compression(round_id), market.cash.format))


@net.command("remove-failed")
@pass_options
@click.argument("round_id", type=click.IntRange(min=1))
@signer_options
def net_remove_failed(options: Options, round_id: int, key_env: str, dev_account: int | None) -> None:
    """Remove from ROUND_ID every DvP whose delivery failed in a settlement (anyone): each is
    released, pending again; its parties' other obligations stay in the round."""
    netting = _netting(open_market(options))
    failures = netting.delivery_failures(round_id)
    receipt = netting.remove_failed(signer(key_env, dev_account), round_id)
    for failure in failures:
        click.echo(f"removed {_failure_text(netting, failure)}")
    click.echo(
        f"round {round_id}: removed {len(failures)} failed instructions (gas {int(receipt['gasUsed']):,}); "
        "submit the nets again"
    )


@net.command("submit")
@pass_options
@click.argument("round_id", type=click.IntRange(min=1))
@signer_options
def net_submit(options: Options, round_id: int, key_env: str, dev_account: int | None) -> None:
    """Compute ROUND_ID's nets from its obligations and submit them for verification."""
    market = open_market(options)
    netting = _netting(market)
    nets = netting.compute_nets(round_id)
    receipt = netting.submit_nets(signer(key_env, dev_account), round_id, nets)
    for member, value in zip(netting.members(round_id), nets, strict=True):
        click.echo(f"{member}  {_money(market, value):>24}")
    click.echo(f"verified {len(nets)} nets (gas {int(receipt['gasUsed']):,})")


#: Round states whose nets may still be pulled from the members' wallets.
_SETTLES_LATER = (RoundState.COLLECTING, RoundState.CLOSED, RoundState.VERIFIED)


@net.command("approve")
@pass_options
@click.argument("round_id", type=click.IntRange(min=1))
@signer_options
def net_approve(options: Options, round_id: int, key_env: str, dev_account: int | None) -> None:
    """Let the contract pull the signer's net debit in ROUND_ID from its wallet."""
    market = open_market(options)
    netting = _netting(market)
    account = signer(key_env, dev_account)
    state = netting.state(round_id)
    if state not in _SETTLES_LATER:
        # An allowance granted for a round that never settles again stays in the wallet's
        # approval to the contract, and a later round would spend it.
        if state is RoundState.NONE:
            raise InputError(
                f"there is no round {round_id} (rounds so far: {netting.round_count()}): nothing to approve"
            )
        raise InputError(
            f"round {round_id} is {state.name}: it moves nothing any more, so nothing to approve "
            "(an allowance now would be left for a later round to spend)"
        )
    required, _ = netting.funding_of(round_id, account.address)
    if required == 0:
        raise InputError(f"{account.address} has no net debit in round {round_id}: nothing to approve")
    netting.approve(account, required)
    click.echo(f"approved {_money(market, required)} for round {round_id}")


@net.command("fund")
@pass_options
@click.argument("round_id", type=click.IntRange(min=1))
@click.argument("amount")
@signer_options
def net_fund(options: Options, round_id: int, amount: str, key_env: str, dev_account: int | None) -> None:
    """Pre-fund AMOUNT into ROUND_ID's escrow (the signer's, withdrawable above its net debit)."""
    market = open_market(options)
    units = units_of(amount, market.cash.decimals, positive=True)
    netting, member = _netting(market), signer(key_env, dev_account)
    pulled_from_wallet(
        market,
        member,
        (netting.address, "netting"),
        netting.contract.functions.fund(round_id, units),
        lambda approve: netting.fund(member, round_id, units, approve=approve),
        f"fund round {round_id}",
    )
    click.echo(f"funded {_money(market, units)} into round {round_id}")


@net.command("withdraw")
@pass_options
@click.argument("round_id", type=click.IntRange(min=1))
@click.argument("amount", required=False)
@signer_options
def net_withdraw(options: Options, round_id: int, amount: str | None, key_env: str, dev_account: int | None) -> None:
    """Take back AMOUNT (default: all that is free) of the signer's funding of ROUND_ID."""
    market = open_market(options)
    units = None if amount is None else units_of(amount, market.cash.decimals, positive=True)
    account = signer(key_env, dev_account)
    netting = _netting(market)
    units = netting.free_funding_of(round_id, account.address) if units is None else units
    netting.withdraw_funding(account, round_id, units)
    click.echo(f"withdrew {_money(market, units)} from round {round_id}")


@net.command("exclude")
@pass_options
@click.argument("round_id", type=click.IntRange(min=1))
@click.argument("member")
@signer_options
def net_exclude(options: Options, round_id: int, member: str, key_env: str, dev_account: int | None) -> None:
    """Exclude MEMBER from ROUND_ID (after the deadline, when it cannot pay or receive)."""
    netting = _netting(open_market(options))
    receipt = netting.exclude(signer(key_env, dev_account), round_id, member)
    click.echo(f"excluded {member} from round {round_id} (gas {int(receipt['gasUsed']):,}); submit the nets again")


@net.command("resolve")
@pass_options
@click.argument("round_id", type=click.IntRange(min=1))
@signer_options
def net_resolve(options: Options, round_id: int, key_env: str, dev_account: int | None) -> None:
    """Remove ROUND_ID's failed DvPs, exclude every member that blocks it (one at a time), then
    resubmit its nets."""
    netting = _netting(open_market(options))
    for failure in netting.delivery_failures(round_id):
        click.echo(f"removing {_failure_text(netting, failure)}")
    excluded = netting.resolve(signer(key_env, dev_account), round_id)
    for member in excluded:
        click.echo(f"excluded {member}")
    click.echo(f"round {round_id}: {enum_name(netting.state(round_id))}, {len(excluded)} excluded")


# ---------------------------------------------------------------------- reads


@net.command("show")
@pass_options
@click.argument("round_id", type=click.IntRange(min=1))
@json_option
def net_show(options: Options, round_id: int, as_json: bool) -> None:
    """ROUND_ID's state, every member's net and funding, and its compression."""
    market = open_market(options)
    netting = _netting(market)
    info = netting.round(round_id)
    positions = [netting.position_of(round_id, member) for member in netting.members(round_id)]
    if as_json:
        cash = {"symbol": market.cash.symbol, "decimals": market.cash.decimals}
        echo_json(cash | {"round": info, "compression": float(info.compression.ratio) if info.gross_value else 0.0,
                          "positions": positions})  # fmt: skip
        return
    now = market.chain.now()
    click.echo(
        f"round {round_id}: {enum_name(info.state)}, obligations until {when(info.cutoff, now)}, "
        f"funding until {when(info.deadline, now)}"
    )
    for p in positions:
        note = "  excluded" if p.excluded else ""
        click.echo(f"{p.member}  net {_money(market, p.net):>22}  funded {_money(market, p.funded):>20}{note}")
    click.echo(
        f"{info.obligation_count} obligations ({info.instruction_count} of them DvP cash legs); "
        f"{_compression_text(info.compression, market.cash.format)}"
    )


@net.command("rounds")
@pass_options
@json_option
def net_rounds(options: Options, as_json: bool) -> None:
    """Every round with its gross and net value: the compression achieved per round."""
    market = open_market(options)
    rows: list[dict[str, Any]] = _netting(market).compression_records()
    if as_json:
        echo_json({"symbol": market.cash.symbol, "decimals": market.cash.decimals, "rounds": rows})
        return
    if not rows:
        click.echo("no rounds yet")
    for row in rows:
        click.echo(
            f"round {row['round_id']:>4}  {row['state']:<10} members {row['members']:>4}  "
            f"gross {_money(market, row['gross_value']):>22}  net {_money(market, row['net_value']):>22}  "
            f"{row['compression']:.1%} compressed"
        )
