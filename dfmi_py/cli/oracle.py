"""``dfmi oracle``: an underlying's price feed — reports, rounds, and the reporters' own k-of-n changes.

    dfmi oracle submit 2000.5 --dev-account 16        # a reporter's answer for the open round
    dfmi oracle latest                                  # answer, round, time, age, stale or not
    dfmi oracle rounds --last 5                         # each final round with its reports
    dfmi oracle status                                  # settings, reporters, open round, anchor
    dfmi oracle propose-change --quorum 5 --jump-quorum 5 --reporters 0xA,0xB,... --dev-account 16
    dfmi oracle approve-change 0xID --dev-account 17    # each reporter; jump quorum applies it
    dfmi oracle show-change 0xID

PRICEs are in the feed's units (2000.5), converted with its decimals. Every command takes
--market NAME (default: the first underlying).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import click
from web3.logs import DISCARD

from dfmi_py.api.market import Market, Underlying
from dfmi_py.api.oracle import ChangeProposal, Oracle, OracleConfig, RoundState
from dfmi_py.chain.client import checksum
from dfmi_py.cli.common import (
    Options,
    echo_json,
    json_option,
    market_option,
    open_market,
    pass_options,
    signer,
    signer_options,
    units_of,
)
from dfmi_py.display import decimal, duration, iso, number, when
from dfmi_py.errors import ContractRevertError, DfmiError, InputError


@click.group()
def oracle() -> None:
    """An underlying's price feed: reports, rounds, settings and reporter changes.

    PRICEs in the feed's units (2000.5); --market NAME picks the underlying (default: the first).
    """


def _feed(options: Options, market_name: str | None) -> tuple[Market, Underlying]:
    market = open_market(options)
    return market, market.underlying(market_name)


def _price(feed: Oracle, units: int) -> str:
    return decimal(units, feed.decimals)


def _price_units(feed: Oracle, text: str) -> int:
    units = units_of(text, feed.decimals, what="PRICE")
    if units == 0:
        raise InputError(f"a price must be positive, got {text}")
    return units


# ---------------------------------------------------------------------- reporters


@oracle.command("submit")
@pass_options
@click.argument("price")
@click.option("--round", "round_id", type=click.IntRange(min=1), help="The round [default: the open one].")
@market_option
@signer_options
def submit(
    options: Options, price: str, round_id: int | None, market_name: str | None, key_env: str, dev_account: int | None
) -> None:
    """Report PRICE for the open round (a reporter; once per round)."""
    _, underlying = _feed(options, market_name)
    feed = underlying.oracle
    answer = _price_units(feed, price)
    reporter = signer(key_env, dev_account)
    round_id = feed.open_round() if round_id is None else round_id
    receipt = feed.submit(reporter, answer, round_id)
    config = feed.config()
    click.echo(
        f"{reporter.address} reported {_price(feed, answer)} for round {round_id} (gas {number(receipt['gasUsed'])})"
    )
    events = feed.contract.events
    jumps = events.JumpDetected().process_receipt(receipt, errors=DISCARD)
    final = events.RoundFinalised().process_receipt(receipt, errors=DISCARD)
    if final:
        args = final[0]["args"]
        click.echo(
            f"  round {round_id} is final: {_price(feed, args['answer'])}, the median of {args['submissions']} reports"
        )
    elif jumps:
        args = jumps[0]["args"]
        click.echo(
            f"  the median {_price(feed, args['median'])} is more than {config.max_jump_bps / 100:g}% from the anchor "
            f"{_price(feed, args['anchorAnswer'])}: the round waits for {config.jump_quorum} reports"
        )
    elif feed.open_round() == round_id:  # another reporter may have completed it since
        reports = len(feed.submissions(round_id))
        needed = config.jump_quorum if feed.round_state(round_id) is RoundState.AWAITING_CONFIRMATION else config.quorum
        click.echo(f"  round {round_id}: {reports} of {needed} reports")


# ---------------------------------------------------------------------- reads


@oracle.command("latest")
@pass_options
@market_option
@json_option
def latest(options: Options, market_name: str | None, as_json: bool) -> None:
    """The latest final answer: its round, when it was posted, and whether it is stale."""
    market, underlying = _feed(options, market_name)
    feed = underlying.oracle
    try:
        data = feed.latest()
    except ContractRevertError as exc:
        if exc.error != "OracleNoData":
            raise
        raise DfmiError(
            f"no price yet: no round of {feed.description} has finalised (open round {feed.open_round()} has "
            f"{len(feed.submissions())} of {feed.config().quorum} reports)"
        ) from None
    now, stale, heartbeat = market.chain.now(), feed.is_stale(), feed.config().heartbeat
    if as_json:
        head = {"market": underlying.name, "feed": feed.description, "decimals": feed.decimals}
        echo_json({**head, **dataclasses.asdict(data), "age": now - data.updated_at, "heartbeat": heartbeat,
                   "stale": stale})  # fmt: skip
        return
    verdict = f"STALE (heartbeat {duration(heartbeat)})" if stale else f"fresh (heartbeat {duration(heartbeat)})"
    click.echo(
        f"{feed.description} ({underlying.name}): {_price(feed, data.answer)} at round {data.round_id}, "
        f"updated {when(data.updated_at, now)}; {verdict}"
    )


@oracle.command("rounds")
@pass_options
@click.option("--last", type=click.IntRange(min=1), default=10, show_default=True, help="How many recent rounds.")
@market_option
@json_option
def rounds(options: Options, last: int, market_name: str | None, as_json: bool) -> None:
    """The latest final rounds, each with its reports and times (rebuilt from the events)."""
    _, underlying = _feed(options, market_name)
    feed = underlying.oracle
    records: list[dict[str, Any]] = []
    for record in feed.history()[-last:]:
        data = feed.round(record.round_id)
        records.append({
            "round_id": record.round_id,
            "answer": record.answer,
            "reports": [{"reporter": s.reporter, "answer": s.answer} for s in record.submissions],
            "started_at": data.started_at,
            "updated_at": data.updated_at,
            "jump_detected": record.jump_detected,
            "anchor_moved": record.anchor_moved,
            "block": record.block,
        })  # fmt: skip
    if as_json:
        echo_json(records)
        return
    click.echo(f"{feed.description} ({underlying.name}):")
    click.echo(f"{'round':>6} {'answer':>20} {'reports':>7}  {'started':<20} {'updated':<20} notes")
    for r in records:
        notes = ", ".join(n for n, on in (("jump", r["jump_detected"]), ("anchor", r["anchor_moved"])) if on)
        click.echo(
            f"{r['round_id']:>6} {_price(feed, r['answer']):>20} {len(r['reports']):>7}  {iso(r['started_at']):<20} "
            f"{iso(r['updated_at']):<20} {notes}"
        )
        reports = ", ".join(f"{s['reporter']} {_price(feed, s['answer'])}" for s in r["reports"])
        click.echo(f"{'':>6} {reports}")


@oracle.command("status")
@pass_options
@market_option
@json_option
def status(options: Options, market_name: str | None, as_json: bool) -> None:
    """Settings, reporters, the open round (who reported) and the anchor."""
    market, underlying = _feed(options, market_name)
    feed = underlying.oracle
    config, anchor, open_round = feed.config(), feed.anchor(), feed.open_round()
    reported = feed.reported()
    state = feed.round_state(open_round)
    if as_json:
        echo_json({
            "market": underlying.name, "address": feed.address, "feed": feed.description, "decimals": feed.decimals,
            "config": config, "reporters": reported, "open_round": open_round, "open_round_state": state,
            "submissions": feed.submissions(open_round), "anchor": anchor, "change_nonce": feed.change_nonce(),
            "stale": feed.is_stale(),
        })  # fmt: skip
        return
    now = market.chain.now()
    click.echo(f"{feed.description} ({underlying.name}) at {feed.address}, {feed.decimals} decimals")
    click.echo(
        f"  tolerates f = {config.max_faults} faulty reporters; quorum {config.quorum}, jump quorum "
        f"{config.jump_quorum} (beyond {config.max_jump_bps / 100:g}% from the anchor, and for changes)"
    )
    click.echo(
        f"  heartbeat {duration(config.heartbeat)}, jump window {duration(config.jump_window)}, answers from "
        f"{_price(feed, config.min_answer)} to {_price(feed, config.max_answer)}; change nonce {feed.change_nonce()}"
    )
    anchor_text = (
        f"round {anchor.round_id} at {_price(feed, anchor.answer)}, {when(anchor.updated_at, now)}"
        if anchor.round_id
        else "none yet"
    )
    click.echo(f"  anchor: {anchor_text}")
    if open_round > 1:
        data = feed.latest()
        fresh = "STALE" if feed.is_stale() else "fresh"
        click.echo(
            f"  latest: {_price(feed, data.answer)} at round {data.round_id}, {when(data.updated_at, now)}; {fresh}"
        )
    needed = config.jump_quorum if state is RoundState.AWAITING_CONFIRMATION else config.quorum
    click.echo(f"  open round {open_round}: {state.name}, {sum(reported.values())} of {needed} reports")
    click.echo(f"  reporters ({len(reported)}):")
    for reporter, done in reported.items():
        click.echo(f"    {reporter}  {'reported' if done else '-'}")


# ---------------------------------------------------------------------- changes


_SETTINGS = (
    ("max_faults", "--max-faults", "f: faulty reporters tolerated."),
    ("quorum", "--quorum", "Reports that finalise a round (odd, >= 2f + 1)."),
    ("jump_quorum", "--jump-quorum", "Reports for a jump, approvals for a change."),
    ("max_jump_bps", "--max-jump-bps", "Largest move from the anchor at quorum, in basis points."),
    ("heartbeat", "--heartbeat", "Seconds after which an answer is stale."),
    ("jump_window", "--jump-window", "Seconds after which the anchor follows quorum rounds."),
)


def _with_settings(func: Any) -> Any:
    for field, flag, help_text in reversed(_SETTINGS):
        func = click.option(flag, field, type=click.IntRange(min=0), help=help_text + " [default: unchanged]")(func)
    func = click.option("--max-answer", help="Largest answer accepted, a price [default: unchanged].")(func)
    func = click.option("--min-answer", help="Smallest answer accepted, a price [default: unchanged].")(func)
    return click.option(
        "--reporters", metavar="ADDR,ADDR,...", help="The complete new reporter list [default: unchanged]."
    )(func)


@oracle.command("propose-change")
@pass_options
@_with_settings
@market_option
@signer_options
def propose_change(
    options: Options, market_name: str | None, key_env: str, dev_account: int | None, **given: Any
) -> None:
    """Propose new reporters and/or settings (a reporter; counts as its approval). Prints the id."""
    _, underlying = _feed(options, market_name)
    feed = underlying.oracle
    current = feed.config()
    reporters_text = given.pop("reporters")
    changes: dict[str, int] = {
        name: value for name, value in given.items() if value is not None and name not in ("min_answer", "max_answer")
    }
    for bound in ("min_answer", "max_answer"):
        if given[bound] is not None:
            changes[bound] = _price_units(feed, given[bound])
    if reporters_text is None and not changes:
        raise InputError("nothing to change: give --reporters and/or a setting (see --help)")
    reporters = feed.reporters()
    if reporters_text is not None:
        reporters = tuple(checksum(r.strip()) for r in reporters_text.split(",") if r.strip())
    config = dataclasses.replace(current, **changes)
    change_id = feed.propose_change(signer(key_env, dev_account), reporters, config)
    proposal = feed.proposal(change_id)
    click.echo(f"proposed change 0x{change_id.hex()}")
    for line in _differences(feed, proposal, current):
        click.echo(f"  {line}")
    click.echo(
        f"  {proposal.approvals} of {proposal.required} approvals: the other reporters run "
        f"`dfmi oracle approve-change 0x{change_id.hex()}`",
        err=True,
    )


@oracle.command("approve-change")
@pass_options
@click.argument("change_id")
@market_option
@signer_options
def approve_change(
    options: Options, change_id: str, market_name: str | None, key_env: str, dev_account: int | None
) -> None:
    """Approve change CHANGE_ID (a reporter); the jump quorum's approval applies it."""
    _, underlying = _feed(options, market_name)
    feed = underlying.oracle
    raw = _change_id(change_id)
    applied = feed.approve_change(signer(key_env, dev_account), raw)
    if applied:
        click.echo(f"change {change_id} applied: change nonce now {feed.change_nonce()}; the open round restarts")
        return
    proposal = feed.proposal(raw)
    click.echo(f"approved change {change_id}: {proposal.approvals} of {proposal.required} approvals")


@oracle.command("show-change")
@pass_options
@click.argument("change_id")
@market_option
@json_option
def show_change(options: Options, change_id: str, market_name: str | None, as_json: bool) -> None:
    """A proposed change: what it sets, its approvals, and whether it can still be approved."""
    _, underlying = _feed(options, market_name)
    feed = underlying.oracle
    proposal = feed.proposal(_change_id(change_id))
    if as_json:
        echo_json(proposal)
        return
    if proposal.stale:
        verdict = "STALE: another change was applied since; propose it again if still wanted"
    else:
        verdict = f"{proposal.approvals} of {proposal.required} approvals ({', '.join(proposal.approvers)})"
    click.echo(f"change {change_id} (nonce {proposal.nonce}): {verdict}")
    for line in _differences(feed, proposal, feed.config()):
        click.echo(f"  {line}")


def _change_id(text: str) -> bytes:
    try:
        raw = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise InputError(f"{text!r} is not a change id (32 bytes of hex, as `propose-change` prints it)")
    return raw


def _differences(feed: Oracle, proposal: ChangeProposal, current: OracleConfig) -> list[str]:
    lines = []
    for field in dataclasses.fields(OracleConfig):
        old, new = getattr(current, field.name), getattr(proposal.config, field.name)
        if old != new:
            shown = _price if field.name in ("min_answer", "max_answer") else (lambda _feed, value: str(value))
            lines.append(f"{field.name}: {shown(feed, old)} -> {shown(feed, new)}")
    in_force = feed.reporters()
    if proposal.reporters != in_force:
        added = [r for r in proposal.reporters if r not in in_force]
        removed = [r for r in in_force if r not in proposal.reporters]
        lines.append(f"reporters: {len(proposal.reporters)} (added {', '.join(added) or 'none'}; "
                     f"removed {', '.join(removed) or 'none'})")  # fmt: skip
    return lines or ["no difference from the settings in force"]
