"""``dfmi fund``: the default fund's books, membership, and k-of-n governance from the command line.

A governance action travels between the members as a JSON file: the action and the approvals
collected so far. Any member builds it, each signer adds an approval, anyone submits it::

    dfmi fund propose withdraw 0xMEMBER 2500 -o action.json     # return 2,500 to a member
    dfmi fund approve action.json --dev-account 7                 # each signer, in turn
    dfmi fund approve action.json --dev-account 8
    dfmi fund execute action.json --dev-account 15                # anyone submits
    dfmi fund propose member-requirements 0xA=12000 0xB=8000 -o action.json   # members' own minimums

`dfmi risk fund --propose FILE` writes the member-requirements action of the suggested contributions.

AMOUNTs are in whole cash units with decimals (e.g. 2500.50).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from dfmi_py.api.market import Market
from dfmi_py.chain.client import checksum
from dfmi_py.cli.common import (
    Options,
    echo_json,
    json_option,
    open_market,
    pass_options,
    pulled_from_wallet,
    signer,
    signer_options,
    units_of,
)
from dfmi_py.cli.files import read_json_file, write_json_file
from dfmi_py.display import duration, enum_name, iso, number, when
from dfmi_py.errors import InputError
from dfmi_py.signing.fund import Action, ActionKind, Approval

#: The reader of an action that takes any number of ``MEMBER=AMOUNT`` values.
REQUIREMENTS = "member=amount"

#: Governance actions by their command-line name, with how each argument is read.
ACTIONS: dict[str, tuple[ActionKind, tuple[str, ...]]] = {
    "threshold": (ActionKind.SET_THRESHOLD, ("bps",)),
    "requirement": (ActionKind.SET_REQUIREMENT, ("bps", "amount")),
    "window": (ActionKind.SET_REPLENISHMENT_WINDOW, ("seconds",)),
    "register-engine": (ActionKind.REGISTER_ENGINE, ("address",)),
    "deregister-engine": (ActionKind.DEREGISTER_ENGINE, ("address",)),
    "withdraw": (ActionKind.WITHDRAW, ("address", "amount")),
    "release-surplus": (ActionKind.RELEASE_SURPLUS, ("address",)),
    # Any number of MEMBER=AMOUNT values (see REQUIREMENTS).
    "member-requirements": (ActionKind.SET_MEMBER_REQUIREMENTS, (REQUIREMENTS,)),
}


@click.group()
def fund() -> None:
    """The members' default fund: books, membership, governance."""


# ---------------------------------------------------------------------- books


@fund.command("status")
@pass_options
@json_option
def status(options: Options, as_json: bool) -> None:
    """The fund's rules, totals and every member's standing."""
    market = open_market(options)
    state, cash, now = market.fund.state(), market.cash, market.chain.now()
    members = [market.fund.member(address) for address in market.fund.members()]
    if as_json:
        echo_json({
            "address": market.fund.address, "symbol": cash.symbol, "decimals": cash.decimals, "time": now,
            **asdict(state),
            "replenishment_deadline": state.replenishment_deadline, "members": members,
        })  # fmt: skip
        return
    click.echo(f"default fund {market.fund.address}")
    click.echo(
        f"  assets {cash.format(state.total_assets)} over {state.member_count} members; "
        f"cash held {cash.format(state.cash_balance)} (surplus {cash.format(state.surplus)})"
    )
    click.echo(
        f"  requirement max({cash.format(state.floor_amount)}, {state.requirement_bps / 100:g}% of open IM, "
        "own minimum while trading); "
        f"threshold {state.threshold} of {state.member_count} members ({state.threshold_bps / 100:g}%, "
        f"every member to register an engine); next nonce {state.nonce}; "
        f"replenishment window {duration(state.replenishment_window)}"
    )
    if state.replenishment_deadline is not None:
        click.echo(f"  last draw {when(state.last_draw_at, now)}; members below requirement may be flagged "
                   f"from {when(state.replenishment_deadline, now)}")  # fmt: skip
    click.echo(f"  {'member':<42} {'status':<18} {'balance':>24} {'requirement':>24} {'open IM':>24}")
    for info in members:
        click.echo(
            f"  {info.member:<42} {enum_name(info.status):<18} {cash.format(info.balance):>24} "
            f"{cash.format(info.requirement):>24} {cash.format(info.open_im):>24}"
        )


@fund.command("waterfalls")
@pass_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object per default instead of a table.")
def waterfalls(options: Options, as_json: bool) -> None:
    """How each default's loss was paid, tranche by tranche."""
    market = open_market(options)
    found = market.waterfalls()
    times = market.chain.block_times(w.block for w in found)
    for waterfall in found:
        if as_json:
            click.echo(json.dumps({**waterfall.record(), "time": times[waterfall.block],
                                   "member_losses": waterfall.member_losses}))  # fmt: skip
            continue
        click.echo(
            f"trade {waterfall.trade_id} (block {waterfall.block}, {iso(times[waterfall.block])}): "
            f"{waterfall.defaulter} defaulted on {waterfall.survivor}, loss {market.cash.format(waterfall.loss)}"
        )
        for tranche, amount in waterfall.tranches().items():
            click.echo(f"  {tranche:<26} {market.cash.format(amount):>24}")
        for member, loss in waterfall.member_losses.items():
            click.echo(f"    {member} lost {market.cash.format(loss)}")


# ---------------------------------------------------------------------- membership


@fund.command("join")
@pass_options
@click.argument("amount")
@signer_options
def join(options: Options, amount: str, key_env: str, dev_account: int | None) -> None:
    """Join the fund with AMOUNT of the signer's cash (approved for it first when needed)."""
    market = open_market(options)
    member = signer(key_env, dev_account)
    units = units_of(amount, market.cash.decimals, positive=True)
    receipt = pulled_from_wallet(
        market,
        member,
        (market.fund.address, "fund"),
        market.fund.contract.functions.join(units),
        lambda approve: market.fund.join(member, units, approve=approve),
        "join the default fund",
    )
    _report(market, member.address, "joined", receipt)


@fund.command("contribute")
@pass_options
@click.argument("amount")
@signer_options
def contribute(options: Options, amount: str, key_env: str, dev_account: int | None) -> None:
    """Add AMOUNT of the signer's cash to its balance in the fund."""
    market = open_market(options)
    member = signer(key_env, dev_account)
    units = units_of(amount, market.cash.decimals, positive=True)
    receipt = pulled_from_wallet(
        market,
        member,
        (market.fund.address, "fund"),
        market.fund.contract.functions.contribute(units),
        lambda approve: market.fund.contribute(member, units, approve=approve),
        "contribute the default fund",
    )
    _report(market, member.address, "contributed", receipt)


@fund.command("flag")
@pass_options
@click.argument("member")
@signer_options
def flag(options: Options, member: str, key_env: str, dev_account: int | None) -> None:
    """Flag MEMBER for missing the replenishment window after a draw (anyone may)."""
    market = open_market(options)
    receipt = market.fund.flag_missed_replenishment(signer(key_env, dev_account), member)
    _report(market, member, "flagged", receipt)


def _report(market: Market, member: str, what: str, receipt: Any) -> None:
    info = market.fund.member(member)
    click.echo(
        f"{member} {what} (gas {number(receipt['gasUsed'])}): balance {market.cash.format(info.balance)}, "
        f"requirement {market.cash.format(info.requirement)}, {enum_name(info.status)}"
    )


# ---------------------------------------------------------------------- governance


@fund.command("propose")
@pass_options
@click.argument("name", type=click.Choice(sorted(ACTIONS)), metavar="NAME")
@click.argument("values", nargs=-1)
@click.option("--ttl", type=click.IntRange(min=1), default=3_600, show_default=True, help="Seconds it stays valid.")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), help="Write here [default: stdout].")
def propose(options: Options, name: str, values: tuple[str, ...], ttl: int, out: Path | None) -> None:
    """Build the governance action NAME with VALUES, at the fund's current nonce.

    \b
    threshold BPS | requirement BPS AMOUNT | window SECONDS | register-engine ADDRESS |
    deregister-engine ADDRESS | withdraw MEMBER AMOUNT | release-surplus ADDRESS |
    member-requirements MEMBER=AMOUNT... (each member's own minimum; 0 removes it)
    """
    market = open_market(options)
    kind, readers = ACTIONS[name]
    deadline = market.chain.now() + ttl
    if readers == (REQUIREMENTS,):
        if not values:
            raise InputError(f"{name} takes one or more MEMBER=AMOUNT values")
        action = market.fund.member_requirements_action(read_requirements(market, values), deadline=deadline)
    else:
        if len(values) != len(readers):
            raise InputError(f"{name} takes {len(readers)} value(s): {' '.join(r.upper() for r in readers)}")
        parsed = [_read_value(market, reader, value) for reader, value in zip(readers, values, strict=True)]
        action = market.fund.action(kind, *parsed, deadline=deadline)
    write_action(out, action)
    state = market.fund.state()
    needed = state.member_count if kind == ActionKind.REGISTER_ENGINE else state.threshold
    click.echo(f"{describe_action(market, action)}: needs {needed} approvals", err=True)


@fund.command("approve")
@pass_options
@click.argument("path", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@signer_options
def approve(options: Options, path: Path, key_env: str, dev_account: int | None) -> None:
    """Add the signer's approval to the action in PATH (the file is updated)."""
    market = open_market(options)
    action, approvals = _read(path)
    member = signer(key_env, dev_account)
    approvals = [a for a in approvals if a.signer.lower() != member.address.lower()]
    approvals.append(market.fund.sign(member, action))
    _write(path, action, approvals)
    click.echo(f"{member.address} approved {describe_action(market, action)} ({len(approvals)} approvals)")


@fund.command("execute")
@pass_options
@click.argument("path", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@signer_options
def execute(options: Options, path: Path, key_env: str, dev_account: int | None) -> None:
    """Submit the action in PATH with its approvals (anyone may send it)."""
    market = open_market(options)
    action, approvals = _read(path)
    receipt = market.fund.execute(signer(key_env, dev_account), action, approvals)
    click.echo(f"executed {describe_action(market, action)} (gas {number(receipt['gasUsed'])})")


def read_requirements(market: Market, values: tuple[str, ...]) -> dict[str, int]:
    """``MEMBER=AMOUNT`` values (amounts in cash with decimals) as ``{member: cash units}``.

    Raises:
        InputError: a value not of that form, or a member given twice.
    """
    requirements: dict[str, int] = {}
    for text in values:
        member, sep, amount = text.partition("=")
        if not sep or not member.strip() or not amount.strip():
            raise InputError(f"{text!r}: give MEMBER=AMOUNT, e.g. 0x70997970C51812dc3A010C7d01b50e0d17dc79C8=12000")
        key = member.strip().lower()
        if key in requirements:
            raise InputError(f"{member.strip()} is given twice: one requirement per member")
        requirements[key] = units_of(amount, market.cash.decimals, what=f"{member.strip()}'s requirement")
    return requirements


def write_action(path: Path | None, action: Action) -> None:
    """Write ``action`` with no approval yet as the file ``dfmi fund approve/execute`` read."""
    _write(path, action, [])


def describe_action(market: Market, action: Action) -> str:
    """One line for a member to read before approving: amounts in cash, times in ISO 8601."""
    readers = next((r for kind, r in ACTIONS.values() if kind == action.kind), None)
    try:
        values = action.values()
    except Exception:  # noqa: BLE001 (params the kind does not take: shown raw, as the fund would refuse them)
        values, readers = ("0x" + action.params.hex(),), None
    if readers == (REQUIREMENTS,):
        members, amounts = values
        shown = ", ".join(f"{m}={market.cash.format(int(a))}" for m, a in zip(members, amounts, strict=False))
    elif readers is None or len(readers) != len(values):
        shown = ", ".join(str(v) for v in values)
    else:
        shown = ", ".join(_show_value(market, r, v) for r, v in zip(readers, values, strict=True))
    deadline = when(action.deadline, market.chain.now())
    return f"{action.kind.name}({shown}) nonce={action.nonce} deadline={deadline}"


def _show_value(market: Market, reader: str, value: Any) -> str:
    if reader == "amount":
        return market.cash.format(int(value))
    if reader == "seconds":
        return duration(int(value))
    if reader == "bps":
        return f"{int(value):,} bps ({int(value) / 100:g}%)"
    return str(value)


def _read_value(market: Market, reader: str, value: str) -> Any:
    if reader == "address":
        return checksum(value)
    if reader == "amount":
        return units_of(value, market.cash.decimals)
    try:
        return int(value)
    except ValueError:
        raise InputError(f"{reader} must be a whole number, got {value!r}") from None


def _write(path: Path | None, action: Action, approvals: list[Approval]) -> None:
    data = {
        "action": {"kind": action.kind.name, "params": "0x" + action.params.hex(), "nonce": action.nonce,
                   "deadline": action.deadline},
        "approvals": [{"signer": a.signer, "signature": "0x" + a.signature.hex()} for a in approvals],
    }  # fmt: skip
    write_json_file(data, path, announce=False)


def _read(path: Path) -> tuple[Action, list[Approval]]:
    def parse(data: dict[str, Any]) -> tuple[Action, list[Approval]]:
        raw = data["action"]
        action = Action(
            ActionKind[raw["kind"]], bytes.fromhex(raw["params"][2:]), int(raw["nonce"]), int(raw["deadline"])
        )
        return action, [Approval(a["signer"], bytes.fromhex(a["signature"][2:])) for a in data["approvals"]]

    return read_json_file(path, "an action file", parse)
