"""``dfmi trade``: bilateral forwards on an underlying's engine, from proposal to maturity.

One party proposes, the other confirms the terms it reads from the chain; anyone settles each new
oracle round, declares a default once a margin call's cure period is over, and matures the trade::

    dfmi trade propose --side buy --counterparty 0xBOB --quantity 5 --price 2000 --maturity +30d \\
        --im 1000 --dev-account 7                                   # trade 1: Alice buys 5 from Bob
    dfmi trade confirm 1 --dev-account 8                            # Bob confirms the same terms
    dfmi trade propose ... --im model --model historical --mpor 2h  # or each side's IM from a model
    dfmi trade settle --all-due --dev-account 15                    # anyone, after each new round
    dfmi trade cure 1 --dev-account 8                               # the debtor pays a margin call
    dfmi trade default 1 --dev-account 15                           # or anyone, after the cure period
    dfmi trade mature 1 --dev-account 15                            # anyone, after maturity

Amendments and early terminations need both parties' EIP-712 signatures; they travel as a file::

    dfmi trade amendment 1 --quantity 10 --buyer-im 2000 -o a.json
    dfmi trade sign a.json --dev-account 7                          # each party, in turn
    dfmi trade sign a.json --dev-account 8
    dfmi trade amend a.json --dev-account 15                        # anyone submits

QUANTITY is in units of the underlying (e.g. 5 or 0.25), PRICE in the feed's units (2000.5),
AMOUNTs (initial margins, payments, deposits) in cash (1250.50). Times are ISO 8601 (UTC unless
an offset is given) or a duration from the chain's time: +30d, +12h, +1d6h, +90min.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from eth_account.signers.local import LocalAccount
from web3.types import TxReceipt

from dfmi_py.api.derivatives import (
    AMENDMENT_KEYS,
    TERMINATION_KEYS,
    Derivatives,
    Side,
    Terms,
    TradeEvent,
    TradeInfo,
    TradeState,
)
from dfmi_py.api.market import Market, Underlying
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
from dfmi_py.cli.files import read_json_file, write_json_file
from dfmi_py.cli.models import describe_model, im_model, model_options, read_series, stressed_period
from dfmi_py.display import amount, decimal, duration, enum_name, iso, number, when
from dfmi_py.errors import InputError
from dfmi_py.units import parse_duration

#: Decimals of a quantity of the underlying (the engine's fixed point).
QUANTITY_DECIMALS = 18
#: A year in seconds: the schedule's maturity buckets from a trade's maturity.
YEAR_SECONDS = 365 * 86_400


# ---------------------------------------------------------------------- parsing (pure)


def parse_time(text: str, now: int) -> int:
    """An ISO 8601 time (UTC unless it has an offset) or ``+DURATION`` from ``now``, in Unix seconds.

    Raises:
        InputError: neither.
    """
    text = text.strip()
    if text.startswith("+"):
        return now + parse_duration(text[1:])
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(
            f"{text!r} is not a time: give ISO 8601 (2030-06-30T12:00:00Z) or a duration from now (+30d)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def parse_signed_units(text: str, decimals: int) -> int:
    """A signed amount (``-250.5``) in units of a token with ``decimals`` decimals."""
    text = text.strip()
    negative = text.startswith("-")
    units = units_of(text[1:] if negative else text, decimals)
    return -units if negative else units


def parties_of(
    me: str, side: str | None, counterparty: str | None, buyer: str | None, seller: str | None
) -> tuple[str, str]:
    """``(buyer, seller)`` from ``--side``/``--counterparty`` (the signer ``me`` on that side) or
    from ``--buyer``/``--seller`` (the signer must be one of them).

    Raises:
        InputError: both ways or neither given, or the signer is no party, or one party twice.
    """
    if side is not None:
        if buyer is not None or seller is not None:
            raise InputError("give --side with --counterparty, or --buyer and --seller, not both")
        if counterparty is None:
            raise InputError("--side needs --counterparty ADDRESS (the other party)")
        other = checksum(counterparty)
        pair = (me, other) if side == "buy" else (other, me)
    else:
        if counterparty is not None:
            raise InputError("--counterparty needs --side buy|sell (the signer's side)")
        if buyer is None or seller is None:
            raise InputError("say who trades: --side buy|sell --counterparty ADDRESS, or --buyer and --seller")
        pair = (checksum(buyer), checksum(seller))
        if me not in pair:
            raise InputError(f"the signer {me} is neither the buyer nor the seller: only a party proposes")
    if pair[0] == pair[1]:
        raise InputError(f"buyer and seller must be two accounts, both are {pair[0]}")
    return pair


# ---------------------------------------------------------------------- what a person reads


@dataclass
class _Book:
    """One underlying of a market, with the formatting of its quantities, prices and cash."""

    market: Market
    underlying: Underlying

    @property
    def engine(self) -> Derivatives:
        return self.underlying.derivatives

    @property
    def ref(self) -> str:
        """How the approval commands name this engine."""
        first = next(iter(self.market.markets))
        return "engine" if self.underlying.name == first else f"engine:{self.underlying.name}"

    def qty(self, units: int) -> str:
        return decimal(units, QUANTITY_DECIMALS)

    def price(self, units: int) -> str:
        return decimal(units, self.underlying.oracle.decimals)

    def cash(self, units: int) -> str:
        return amount(units, self.market.cash.decimals, self.market.cash.symbol)

    def now(self) -> int:
        return self.market.chain.now()

    def terms(self, terms: Terms) -> str:
        return (
            f"{terms.buyer} buys {self.qty(terms.quantity)} from {terms.seller} at "
            f"{self.price(terms.contract_price)}, maturity {iso(terms.maturity)}; "
            f"IM buyer {self.cash(terms.buyer_im)}, seller {self.cash(terms.seller_im)}"
        )


def _book(options: Options, market_name: str | None) -> _Book:
    market = open_market(options)
    return _Book(market, market.underlying(market_name))


def _party_name(trade: TradeInfo, address: str) -> str:
    return "buyer" if address == trade.buyer else "seller" if address == trade.seller else address


def describe_event(book: _Book, event: TradeEvent) -> str:
    """One line saying what ``event`` did."""
    a = event.args
    cash, price = book.cash, book.price
    match event.name:
        case "TradeProposed":
            terms = a["terms"]
            return (
                f"proposed by {a['proposer']}: {terms['buyer']} buys {book.qty(terms['quantity'])} from "
                f"{terms['seller']} at {price(terms['contractPrice'])}, maturity {iso(terms['maturity'])}"
            )
        case "TradeCancelled":
            return f"cancelled by {a['by']}"
        case "TradeConfirmed":
            return f"confirmed: IM buyer {cash(a['buyerIm'])}, seller {cash(a['sellerIm'])} locked"
        case "VariationMarginSettled":
            owed = f", {cash(a['owed'])} owed" if a["owed"] else ""
            return (
                f"settled to round {a['roundId']} at {price(a['price'])}: {cash(abs(a['vmToBuyer']))} "
                f"{'to' if a['vmToBuyer'] >= 0 else 'from'} the buyer; {a['payer']} paid {cash(a['paid'])}{owed}"
            )
        case "MarginCalled":
            return f"margin call: {a['debtor']} owes {cash(a['amount'])}, cure by {iso(a['cureDeadline'])}"
        case "SettlementSkipped":
            return f"skipped in a batch: {book.engine.describe_revert(a['reason'])}"
        case "MarginCallCured":
            return f"margin call cured: {a['debtor']} paid {cash(a['amount'])}"
        case "DefaultDeclared":
            return (
                f"default of {a['defaulter']}: loss {cash(a['loss'])} to {a['survivor']}, paid from IM "
                f"{cash(a['paidFromIm'])}, margin account {cash(a['paidFromMargin'])}, default fund "
                f"{cash(a['paidFromFund'])}; unpaid claim {cash(a['unpaidClaim'])}"
            )
        case "TradeAmended":
            return (
                f"amended (nonce {a['nonce']}): quantity {book.qty(a['quantity'])}, maturity {iso(a['maturity'])}, "
                f"IM buyer {cash(a['buyerIm'])}, seller {cash(a['sellerIm'])}, {_payment(book, a['payment'])}"
            )
        case "TradeTerminated":
            return f"terminated (nonce {a['nonce']}), {_payment(book, a['payment'])}"
        case "TradeMatured":
            return (
                f"matured at round {a['roundId']}, price {price(a['price'])}: final VM {cash(abs(a['vmToBuyer']))} "
                f"{'to' if a['vmToBuyer'] >= 0 else 'from'} the buyer; from the fund {cash(a['paidFromFund'])}, "
                f"unpaid claim {cash(a['unpaidClaim'])}"
            )
        case "FundClaimFailed":
            return f"default fund's claim failed, pending: {book.engine.describe_revert(a['reason'])}"
        case "FundClaimPaid":
            return f"default fund paid {cash(a['paid'])} to {a['survivor']}; unpaid claim {cash(a['unpaid'])}"
        case "InitialMarginReleased":
            return f"IM of {a['party']} released: {cash(a['amount'])} to its margin account"
        case "MarginDeposited":
            return f"{a['party']} deposited {cash(a['amount'])} into its margin account"
        case "MarginWithdrawn":
            return f"{a['party']} withdrew {cash(a['amount'])} from its margin account"
    return f"{event.name} {a}"


def _payment(book: _Book, payment: int) -> str:
    if payment == 0:
        return "no payment"
    return f"the {'buyer' if payment > 0 else 'seller'} pays {book.cash(abs(payment))}"


def _report(book: _Book, receipt: TxReceipt, done: str) -> None:
    """``done`` with the gas, then every engine event of the transaction."""
    click.echo(f"{done} (gas {number(receipt['gasUsed'])})")
    for event in book.engine.events_in(receipt):
        click.echo(
            f"  trade {event.trade_id}: {describe_event(book, event)}"
            if event.trade_id
            else "  " + describe_event(book, event)
        )


# ---------------------------------------------------------------------- the group


@click.group()
def trade() -> None:
    """Bilateral forwards: propose, confirm, settle, margin calls, defaults, maturity, 2-of-2 changes.

    QUANTITY in units of the underlying, PRICE in the feed's units, AMOUNTs in cash; times ISO 8601
    or +DURATION (+30d, +12h). Every command takes --market NAME (default: the first underlying).
    """


# ---------------------------------------------------------------------- opening


@trade.command("propose")
@pass_options
@click.option("--side", type=click.Choice(["buy", "sell"]), help="The signer's side (with --counterparty).")
@click.option("--counterparty", metavar="ADDRESS", help="The other party (with --side).")
@click.option("--buyer", metavar="ADDRESS", help="The buyer (with --seller; the signer is one of them).")
@click.option("--seller", metavar="ADDRESS", help="The seller (with --buyer).")
@click.option("--quantity", required=True, help="Units of the underlying, e.g. 5 or 0.25.")
@click.option("--price", required=True, help="Contract price in the feed's units, e.g. 2000.5.")
@click.option("--maturity", required=True, help="ISO 8601 time or +DURATION from now (+30d).")
@click.option(
    "--im", metavar="AMOUNT|model", help="Initial margin of each party, in cash; `model`: each side's from the model."
)
@click.option("--buyer-im", metavar="AMOUNT", help="The buyer's initial margin [default: --im].")
@click.option("--seller-im", metavar="AMOUNT", help="The seller's initial margin [default: --im].")
@model_options
@market_option
@signer_options
def propose(
    options: Options,
    side: str | None,
    counterparty: str | None,
    buyer: str | None,
    seller: str | None,
    quantity: str,
    price: str,
    maturity: str,
    im: str | None,
    buyer_im: str | None,
    seller_im: str | None,
    market_name: str | None,
    key_env: str,
    dev_account: int | None,
    **settings: Any,
) -> None:
    """Propose a forward; the counterparty confirms it with `dfmi trade confirm ID`.

    With `--im model` each side's IM comes from the model (--model and its settings, as in
    `dfmi risk im`); the counterparty confirms the same terms, IMs included.
    """
    book = _book(options, market_name)
    me = signer(key_env, dev_account)
    buyer, seller = parties_of(me.address, side, counterparty, buyer, seller)
    now = book.now()
    expiry = parse_time(maturity, now)
    if expiry <= now:
        raise InputError(f"maturity {iso(expiry)} is not after the chain's time {iso(now)}")
    units = units_of(quantity, QUANTITY_DECIMALS, what="--quantity", positive=True)
    contract_price = units_of(price, book.underlying.oracle.decimals, what="--price", positive=True)
    ims = []
    if im is not None and im.strip().lower() == "model":
        if buyer_im is not None or seller_im is not None:
            raise InputError("--im model sets both IMs: drop --buyer-im / --seller-im")
        model = im_model(settings, maturity_years=(expiry - now) / YEAR_SECONDS)
        decimals = book.underlying.oracle.decimals
        series = read_series(settings["series"], decimals) if settings["series"] is not None else None
        stressed = stressed_period(
            settings,
            model,
            lambda: series if series is not None else book.market.risk.price_history(book.underlying.name),
        )
        proposed = book.market.risk.proposed_im(units, contract_price, model, book.underlying.name, series, stressed)
        ims = [proposed.buyer_im, proposed.seller_im]
        click.echo(f"IMs from the model: {describe_model(model)}", err=True)
    else:
        for name, value in (("buyer", buyer_im), ("seller", seller_im)):
            chosen = value if value is not None else im
            if chosen is None:
                raise InputError(f"no initial margin for the {name}: give --im AMOUNT (both) or --{name}-im AMOUNT")
            ims.append(units_of(chosen, book.market.cash.decimals, what=f"the {name}'s IM"))
    terms = Terms(
        buyer=buyer,
        seller=seller,
        quantity=units,
        contract_price=contract_price,
        maturity=expiry,
        buyer_im=ims[0],
        seller_im=ims[1],
    )
    trade_id = book.engine.propose(me, terms)
    click.echo(f"trade {trade_id} proposed on {book.underlying.name}: {book.terms(terms)}")
    other = seller if me.address == buyer else buyer
    click.echo(f"  {other} confirms it with `dfmi trade confirm {trade_id}`", err=True)
    own_im = terms.buyer_im if me.address == buyer else terms.seller_im
    if book.market.cash.allowance(me.address, book.engine.address) < own_im:
        click.echo(
            f"  your IM {book.cash(own_im)} moves at confirmation: `dfmi cash approve {book.ref} AMOUNT` first",
            err=True,
        )


@trade.command("confirm")
@pass_options
@click.argument("trade_id", type=click.IntRange(min=1))
@market_option
@signer_options
def confirm(options: Options, trade_id: int, market_name: str | None, key_env: str, dev_account: int | None) -> None:
    """Confirm trade TRADE_ID's proposed terms, read from the chain (the counterparty).

    The terms come from the TradeProposed event and are confirmed only if they hash to what the
    engine holds; both initial margins then move into the engine (each party must have approved
    it: `dfmi cash approve engine AMOUNT`).
    """
    book = _book(options, market_name)
    engine = book.engine
    info = _exists(book, trade_id)
    if info.state is not TradeState.PROPOSED:
        raise InputError(
            f"trade {trade_id} on {book.underlying.name} is {info.state.name}, not PROPOSED: nothing to confirm"
        )
    terms = engine.proposed_terms(trade_id)
    held = engine.proposal_hash(trade_id)
    if terms.hash() != held:
        raise InputError(
            f"trade {trade_id}'s TradeProposed event holds terms hashing to 0x{terms.hash().hex()}, the engine "
            f"holds 0x{held.hex()}: not confirming terms the engine would not match"
        )
    me = signer(key_env, dev_account)
    counterparty = terms.seller if info.proposer is Side.BUYER else terms.buyer
    if me.address != counterparty:
        raise InputError(f"{me.address} cannot confirm trade {trade_id}: its counterparty {counterparty} confirms it")
    for party, margin in ((terms.buyer, terms.buyer_im), (terms.seller, terms.seller_im)):
        allowed = book.market.cash.allowance(party, engine.address)
        if allowed < margin:
            raise InputError(
                f"{party} lets the engine spend {book.cash(allowed)}, less than its IM {book.cash(margin)}: "
                f"it runs `dfmi cash approve {book.ref} AMOUNT` first"
            )
    _report(book, engine.confirm(me, trade_id, terms), f"trade {trade_id} confirmed: LIVE; {book.terms(terms)}")


@trade.command("cancel")
@pass_options
@click.argument("trade_id", type=click.IntRange(min=1))
@market_option
@signer_options
def cancel(options: Options, trade_id: int, market_name: str | None, key_env: str, dev_account: int | None) -> None:
    """Cancel proposed trade TRADE_ID (either party)."""
    book = _book(options, market_name)
    _exists(book, trade_id)
    _report(book, book.engine.cancel(signer(key_env, dev_account), trade_id), f"trade {trade_id} cancelled")


# ---------------------------------------------------------------------- margin accounts


@trade.command("deposit")
@pass_options
@click.argument("amount_", metavar="AMOUNT")
@market_option
@signer_options
def deposit(options: Options, amount_: str, market_name: str | None, key_env: str, dev_account: int | None) -> None:
    """Move AMOUNT of the signer's cash into its margin account (approved for the engine first)."""
    book = _book(options, market_name)
    me = signer(key_env, dev_account)
    receipt = book.engine.deposit_margin(me, units_of(amount_, book.market.cash.decimals, positive=True))
    click.echo(
        f"deposited (gas {number(receipt['gasUsed'])}): margin account {book.cash(book.engine.margin_of(me.address))}"
    )


@trade.command("withdraw")
@pass_options
@click.argument("amount_", metavar="AMOUNT")
@market_option
@signer_options
def withdraw(options: Options, amount_: str, market_name: str | None, key_env: str, dev_account: int | None) -> None:
    """Move AMOUNT from the signer's margin account back to its wallet."""
    book = _book(options, market_name)
    me = signer(key_env, dev_account)
    receipt = book.engine.withdraw_margin(me, units_of(amount_, book.market.cash.decimals, positive=True))
    click.echo(
        f"withdrew (gas {number(receipt['gasUsed'])}): margin account {book.cash(book.engine.margin_of(me.address))}"
    )


@trade.command("margin")
@pass_options
@click.argument("accounts", nargs=-1)
@market_option
@json_option
def margin(options: Options, accounts: tuple[str, ...], market_name: str | None, as_json: bool) -> None:
    """Margin accounts, locked IMs and debts of ACCOUNTS [default: every party and depositor]."""
    book = _book(options, market_name)
    engine = book.engine
    trades = [engine.trade(i) for i in range(1, engine.trade_count() + 1)]
    if accounts:
        parties: list[str] = [checksum(a) for a in accounts]
    else:
        seen = [p for t in trades for p in (t.buyer, t.seller)]
        seen += [str(e.args["party"]) for e in engine.events() if e.name == "MarginDeposited"]
        parties = list(dict.fromkeys(seen))
    rows: list[dict[str, Any]] = []
    for party in parties:
        open_trades = [t for t in trades if party in (t.buyer, t.seller) and t.state in _OPEN]
        rows.append(
            {
                "account": party,
                "margin": engine.margin_of(party),
                "initial_margin": sum(t.buyer_im if t.buyer == party else t.seller_im for t in open_trades),
                "debt": sum(t.debt for t in open_trades if _debtor(t) == party),
                "open_trades": [t.trade_id for t in open_trades],
            }
        )
    totals = {"total_margin": engine.total_margin(), "total_initial_margin": engine.total_initial_margin()}
    if as_json:
        echo_json({"market": book.underlying.name, "engine": engine.address, **totals, "accounts": rows})
        return
    click.echo(
        f"engine {engine.address} ({book.underlying.name}): margin accounts {book.cash(totals['total_margin'])}, "
        f"initial margin of live trades {book.cash(totals['total_initial_margin'])}"
    )
    click.echo(f"  {'account':<42} {'margin account':>24} {'IM locked':>24} {'debt':>24}  open trades")
    for row in rows:
        click.echo(
            f"  {row['account']:<42} {book.cash(row['margin']):>24} {book.cash(row['initial_margin']):>24} "
            f"{book.cash(row['debt']):>24}  {', '.join(map(str, row['open_trades'])) or '-'}"
        )


_OPEN = (TradeState.LIVE, TradeState.MARGIN_CALL)


def _debtor(info: TradeInfo) -> str | None:
    return info.buyer if info.debtor is Side.BUYER else info.seller if info.debtor is Side.SELLER else None


# ---------------------------------------------------------------------- settlement


@trade.command("settle")
@pass_options
@click.argument("trade_ids", nargs=-1, type=click.IntRange(min=1))
@click.option("--all-due", is_flag=True, help="Every trade not yet settled to the latest round.")
@market_option
@signer_options
def settle(
    options: Options,
    trade_ids: tuple[int, ...],
    all_due: bool,
    market_name: str | None,
    key_env: str,
    dev_account: int | None,
) -> None:
    """Settle TRADE_IDS to the latest oracle round (anyone may): variation margin moves.

    One trade settles alone (and fails with the reason); several, or --all-due, settle in one
    batch where each trade settles or is skipped on its own (exit 1 if any was skipped).
    """
    if all_due == bool(trade_ids):
        raise InputError("give the trade ids to settle, or --all-due (not both)")
    book = _book(options, market_name)
    keeper = signer(key_env, dev_account)
    if len(trade_ids) == 1:
        _exists(book, trade_ids[0])
        _report(book, book.engine.settle(keeper, trade_ids[0]), f"trade {trade_ids[0]} settled")
        return
    ids = list(trade_ids)
    if all_due:
        latest = book.underlying.oracle.latest()
        ids = book.engine.due(latest.round_id, latest.updated_at)
        if not ids:
            click.echo(f"no trade is due: every open trade is settled to round {latest.round_id} or past maturity")
            return
    outcome = book.engine.settle_batch(keeper, ids)
    click.echo(
        f"settled {len(outcome.settled)} of {len(ids)} trades (gas {number(outcome.receipt['gasUsed'])}); "
        f"skipped {len(outcome.skipped)}, not due {len(outcome.not_due)}"
    )
    for event in book.engine.events_in(outcome.receipt):
        click.echo(f"  trade {event.trade_id}: {describe_event(book, event)}")
    for trade_id in outcome.not_due:
        click.echo(f"  trade {trade_id}: not due (not open, already settled to this round, or past maturity)")
    if outcome.skipped:
        raise click.ClickException(f"{len(outcome.skipped)} trade(s) skipped: {', '.join(map(str, outcome.skipped))}")


def _keeper_command(name: str, doc: str, act: Callable[[Derivatives, LocalAccount, int], Any], done: str) -> None:
    @trade.command(name, help=doc)
    @pass_options
    @click.argument("trade_id", type=click.IntRange(min=1))
    @market_option
    @signer_options
    def command(
        options: Options, trade_id: int, market_name: str | None, key_env: str, dev_account: int | None
    ) -> None:
        book = _book(options, market_name)
        _exists(book, trade_id)
        receipt = act(book.engine, signer(key_env, dev_account), trade_id)
        _report(book, receipt, done.format(trade_id=trade_id, state=book.engine.trade(trade_id).state.name))


_keeper_command(
    "cure",
    "Pay trade TRADE_ID's margin call from the margin account and wallet (the debtor, or anyone for it).",
    lambda engine, sender, trade_id: engine.cure(sender, trade_id),
    "trade {trade_id} cured: {state}",
)
_keeper_command(
    "default",
    "Declare the default of TRADE_ID once its margin call's cure period is over, and close it out (anyone).",
    lambda engine, sender, trade_id: engine.declare_default(sender, trade_id),
    "trade {trade_id}: {state}",
)
_keeper_command(
    "retry-fund-claim",
    "Claim again from the default fund what TRADE_ID's close-out left pending (anyone).",
    lambda engine, sender, trade_id: engine.retry_fund_claim(sender, trade_id),
    "trade {trade_id}: fund claim retried",
)


@trade.command("mature")
@pass_options
@click.argument("trade_id", type=click.IntRange(min=1))
@click.option("--round", "round_id", type=click.IntRange(min=1), help="The maturity round [default: found].")
@market_option
@signer_options
def mature(
    options: Options,
    trade_id: int,
    round_id: int | None,
    market_name: str | None,
    key_env: str,
    dev_account: int | None,
) -> None:
    """Final settlement of TRADE_ID with the first final round at or after its maturity (anyone)."""
    book = _book(options, market_name)
    info = _exists(book, trade_id)
    if round_id is None:
        if info.state not in _OPEN:
            raise InputError(
                f"trade {trade_id} on {book.underlying.name} is {info.state.name}: only a LIVE trade "
                "or one under a margin call matures"
            )
        found = book.underlying.oracle.first_round_at_or_after(info.maturity)
        if found is None:
            raise InputError(
                f"no final round at or after trade {trade_id}'s maturity {iso(info.maturity)} yet: "
                "the reporters post one after it"
            )
        round_id = found
    _report(book, book.engine.mature(signer(key_env, dev_account), trade_id, round_id), f"trade {trade_id} matured")


@trade.command("config")
@pass_options
@click.option("--cure-period", help="Seconds or a duration (1h) a margin call stays open.")
@click.option("--max-price-age", help="Seconds or a duration: the oldest price the engine settles on.")
@market_option
@json_option
@signer_options
def config(
    options: Options,
    cure_period: str | None,
    max_price_age: str | None,
    market_name: str | None,
    as_json: bool,
    key_env: str,
    dev_account: int | None,
) -> None:
    """Show the engine's settings; with an option, change them (admin)."""
    book = _book(options, market_name)
    engine = book.engine
    if cure_period is not None or max_price_age is not None:
        cure = parse_duration(cure_period) if cure_period is not None else engine.cure_period()
        age = parse_duration(max_price_age) if max_price_age is not None else engine.max_price_age()
        receipt = engine.set_config(signer(key_env, dev_account), cure, age)
        click.echo(f"engine settings changed (gas {number(receipt['gasUsed'])})")
    fund = engine.contract.functions.fund().call()
    if as_json:
        settings = {"cure_period": engine.cure_period(), "max_price_age": engine.max_price_age(), "fund": fund}
        echo_json({"market": book.underlying.name, "engine": engine.address, **settings})
        return
    click.echo(
        f"engine {engine.address} ({book.underlying.name}): cure period {duration(engine.cure_period())}, "
        f"oldest price settled on {duration(engine.max_price_age())}, default fund {fund}"
    )


# ---------------------------------------------------------------------- 2-of-2 changes


_change_options = [
    click.option(
        "--payment", default="0", show_default=True, help="Cash the buyer pays the seller (negative: the seller pays)."
    ),
    click.option(
        "--expires-in", default="1h", show_default=True, help="How long the signatures stay valid (a duration)."
    ),
    click.option(
        "-o", "--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the file here [default: stdout]."
    ),
]


def _with_change_options(func: Any) -> Any:
    for option in reversed(_change_options):
        func = option(func)
    return func


@trade.command("amendment")
@pass_options
@click.argument("trade_id", type=click.IntRange(min=1))
@click.option("--quantity", help="New quantity [default: unchanged].")
@click.option("--maturity", help="New maturity: ISO 8601 or +DURATION [default: unchanged].")
@click.option("--im", metavar="AMOUNT", help="New initial margin of both parties.")
@click.option("--buyer-im", metavar="AMOUNT", help="New buyer IM [default: --im or unchanged].")
@click.option("--seller-im", metavar="AMOUNT", help="New seller IM [default: --im or unchanged].")
@_with_change_options
@market_option
def amendment(
    options: Options,
    trade_id: int,
    quantity: str | None,
    maturity: str | None,
    im: str | None,
    buyer_im: str | None,
    seller_im: str | None,
    payment: str,
    expires_in: str,
    out: Path | None,
    market_name: str | None,
) -> None:
    """Write an amendment of TRADE_ID for both parties to sign (`dfmi trade sign FILE`)."""
    book = _book(options, market_name)
    info = _live(book, trade_id, "amended", _OPEN[:1])
    decimals = book.market.cash.decimals
    now = book.now()
    message = book.engine.amendment(
        trade_id,
        quantity=units_of(quantity, QUANTITY_DECIMALS, what="--quantity", positive=True)
        if quantity is not None
        else None,
        maturity=parse_time(maturity, now) if maturity is not None else None,
        buyer_im=_im(buyer_im if buyer_im is not None else im, decimals),
        seller_im=_im(seller_im if seller_im is not None else im, decimals),
        payment=parse_signed_units(payment, decimals),
        deadline=now + parse_duration(expires_in),
    )
    if message["quantity"] == 0:
        raise InputError("the amended quantity must be positive")
    if message["maturity"] <= now:
        raise InputError(f"maturity {iso(message['maturity'])} is not after the chain's time {iso(now)}")
    change = ChangeFile("amendment", book.engine.address, book.market.chain.chain_id, info.buyer, info.seller, message)
    change.write(out)
    click.echo(f"{change.describe(book, info)}: both parties sign it", err=True)


@trade.command("termination")
@pass_options
@click.argument("trade_id", type=click.IntRange(min=1))
@_with_change_options
@market_option
def termination(
    options: Options, trade_id: int, payment: str, expires_in: str, out: Path | None, market_name: str | None
) -> None:
    """Write an early termination of TRADE_ID for both parties to sign (`dfmi trade sign FILE`)."""
    book = _book(options, market_name)
    info = _live(book, trade_id, "terminated", _OPEN)
    decimals = book.market.cash.decimals
    message = book.engine.termination(
        trade_id, payment=parse_signed_units(payment, decimals), deadline=book.now() + parse_duration(expires_in)
    )
    change = ChangeFile(
        "termination", book.engine.address, book.market.chain.chain_id, info.buyer, info.seller, message
    )
    change.write(out)
    click.echo(f"{change.describe(book, info)}: both parties sign it", err=True)


def _live(book: _Book, trade_id: int, verb: str, states: tuple[TradeState, ...]) -> TradeInfo:
    info = _exists(book, trade_id)
    if info.state not in states:
        allowed = " or ".join(s.name for s in states)
        raise InputError(
            f"trade {trade_id} on {book.underlying.name} is {info.state.name}: only a {allowed} trade can be {verb}"
        )
    return info


def _im(value: str | None, decimals: int) -> int | None:
    return units_of(value, decimals, what="IM") if value is not None else None


@dataclass
class ChangeFile:
    """An amendment or a termination with the parties' signatures collected so far (a JSON file)."""

    kind: str
    engine: str
    chain_id: int
    buyer: str
    seller: str
    message: dict[str, int]
    buyer_signature: bytes = b""
    seller_signature: bytes = b""

    def write(self, out: Path | None) -> None:
        write_json_file(
            {
                "kind": self.kind,
                "engine": self.engine,
                "chainId": self.chain_id,
                "buyer": self.buyer,
                "seller": self.seller,
                "message": self.message,
                "buyerSignature": "0x" + self.buyer_signature.hex(),
                "sellerSignature": "0x" + self.seller_signature.hex(),
            },
            out,
            announce=False,
        )

    @classmethod
    def read(cls, path: Path) -> ChangeFile:
        def parse(data: dict[str, Any]) -> ChangeFile:
            kind = data["kind"]
            keys = {"amendment": AMENDMENT_KEYS, "termination": TERMINATION_KEYS}[kind]
            message = {key: int(data["message"][key]) for key in keys}
            if set(data["message"]) != set(keys):
                raise ValueError(f"its message needs exactly {', '.join(keys)}")
            return cls(
                kind,
                checksum(data["engine"]),
                int(data["chainId"]),
                checksum(data["buyer"]),
                checksum(data["seller"]),
                message,
                bytes.fromhex(str(data.get("buyerSignature", "0x"))[2:]),
                bytes.fromhex(str(data.get("sellerSignature", "0x"))[2:]),
            )

        return read_json_file(path, "an amendment or termination file", parse)

    def book(self, market: Market, path: Path) -> _Book:
        """The underlying whose engine the file is for."""
        if self.chain_id != market.chain.chain_id:
            raise InputError(f"{path} is for chain {self.chain_id}, this is chain {market.chain.chain_id}")
        for underlying in market.markets.values():
            if underlying.derivatives.address == self.engine:
                return _Book(market, underlying)
        raise InputError(f"{path} is for the engine at {self.engine}, which is not one of this deployment's")

    def describe(self, book: _Book, info: TradeInfo) -> str:
        m = self.message
        if self.kind == "termination":
            return f"termination of trade {m['tradeId']}: {_payment(book, m['payment'])}"
        changes = [
            f"quantity {book.qty(info.quantity)} -> {book.qty(m['quantity'])}"
            if m["quantity"] != info.quantity
            else "",
            f"maturity {iso(info.maturity)} -> {iso(m['maturity'])}" if m["maturity"] != info.maturity else "",
            f"buyer IM {book.cash(info.buyer_im)} -> {book.cash(m['buyerIm'])}"
            if m["buyerIm"] != info.buyer_im
            else "",
            f"seller IM {book.cash(info.seller_im)} -> {book.cash(m['sellerIm'])}"
            if m["sellerIm"] != info.seller_im
            else "",
            _payment(book, m["payment"]),
        ]
        return f"amendment of trade {m['tradeId']}: " + "; ".join(c for c in changes if c)

    def missing(self) -> list[str]:
        """The parties whose signature the file lacks."""
        return [
            f"the {side} ({party})"
            for side, party, signature in (
                ("buyer", self.buyer, self.buyer_signature),
                ("seller", self.seller, self.seller_signature),
            )
            if not signature
        ]


@trade.command("sign")
@pass_options
@click.argument("path", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@signer_options
def sign(options: Options, path: Path, key_env: str, dev_account: int | None) -> None:
    """Add the signer's (a party's) EIP-712 signature to the amendment or termination in PATH."""
    market = open_market(options)
    change = ChangeFile.read(path)
    book = change.book(market, path)
    trade_id = change.message["tradeId"]
    info = book.engine.trade(trade_id)
    if info.nonce != change.message["nonce"]:
        raise InputError(
            f"{path} is for trade {trade_id}'s nonce {change.message['nonce']}, the trade is at nonce {info.nonce} "
            "(it changed since): write a new file"
        )
    me = signer(key_env, dev_account)
    sign_with = book.engine.sign_amendment if change.kind == "amendment" else book.engine.sign_termination
    if me.address == info.buyer:
        change.buyer_signature = sign_with(me, change.message)
    elif me.address == info.seller:
        change.seller_signature = sign_with(me, change.message)
    else:
        raise InputError(f"{me.address} is no party of trade {trade_id} (buyer {info.buyer}, seller {info.seller})")
    change.buyer, change.seller = info.buyer, info.seller
    change.write(path)
    missing = change.missing()
    status = f"still needs {' and '.join(missing)}" if missing else f"ready: `dfmi trade {_submit_verb(change)} {path}`"
    click.echo(f"{me.address} ({_party_name(info, me.address)}) signed the {change.describe(book, info)}; {status}")


def _submit_verb(change: ChangeFile) -> str:
    return "amend" if change.kind == "amendment" else "terminate"


def _submit(options: Options, path: Path, kind: str, key_env: str, dev_account: int | None) -> None:
    market = open_market(options)
    change = ChangeFile.read(path)
    if change.kind != kind:
        article = "an" if change.kind == "amendment" else "a"
        raise InputError(f"{path} holds {article} {change.kind}: submit it with `dfmi trade {_submit_verb(change)}`")
    book = change.book(market, path)
    missing = change.missing()
    if missing:
        raise InputError(f"{path} lacks the signature of {' and '.join(missing)}: `dfmi trade sign {path}`")
    sender = signer(key_env, dev_account)
    trade_id = change.message["tradeId"]
    if kind == "amendment":
        receipt = book.engine.amend(sender, change.message, change.buyer_signature, change.seller_signature)
    else:
        receipt = book.engine.terminate(sender, change.message, change.buyer_signature, change.seller_signature)
    _report(book, receipt, f"trade {trade_id}: {kind} applied, {book.engine.trade(trade_id).state.name}")


@trade.command("amend")
@pass_options
@click.argument("path", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@signer_options
def amend(options: Options, path: Path, key_env: str, dev_account: int | None) -> None:
    """Submit the amendment in PATH with both parties' signatures (anyone may)."""
    _submit(options, path, "amendment", key_env, dev_account)


@trade.command("terminate")
@pass_options
@click.argument("path", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@signer_options
def terminate(options: Options, path: Path, key_env: str, dev_account: int | None) -> None:
    """Submit the early termination in PATH with both parties' signatures (anyone may)."""
    _submit(options, path, "termination", key_env, dev_account)


# ---------------------------------------------------------------------- reads


def _record(book: _Book, info: TradeInfo, terms: Terms | None) -> dict[str, Any]:
    engine = book.engine
    return {
        "trade_id": info.trade_id,
        "market": book.underlying.name,
        "state": info.state.name,
        "buyer": info.buyer,
        "seller": info.seller,
        "proposer": enum_name(info.proposer),
        "quantity": info.quantity,
        "contract_price": terms.contract_price if terms else None,
        "maturity": info.maturity,
        "last_price": info.last_price,
        "last_round": info.last_round,
        "buyer_im": info.buyer_im,
        "seller_im": info.seller_im,
        "debtor": _debtor(info),
        "debt": info.debt,
        "cure_deadline": engine.cure_deadline_of(info.trade_id),
        "fund_claim_pending": engine.fund_claim_pending(info.trade_id),
        "unpaid_claim": engine.unpaid_claim_of(info.trade_id),
        "nonce": info.nonce,
    }


def _exists(book: _Book, trade_id: int) -> TradeInfo:
    count = book.engine.trade_count()
    if not 1 <= trade_id <= count:
        raise InputError(f"no trade {trade_id} on {book.underlying.name}: trades run from 1 to {count}")
    return book.engine.trade(trade_id)


@trade.command("show")
@pass_options
@click.argument("trade_id", type=click.IntRange(min=1))
@market_option
@json_option
def show(options: Options, trade_id: int, market_name: str | None, as_json: bool) -> None:
    """Everything about trade TRADE_ID: state, parties, terms, last settlement, margins, debts."""
    book = _book(options, market_name)
    info = _exists(book, trade_id)
    record = _record(book, info, book.engine.proposed_terms(trade_id))
    if as_json:
        echo_json(record)
        return
    now = book.now()
    r = record
    click.echo(f"trade {trade_id} on {book.underlying.name}: {r['state']} (proposed by the {r['proposer'].lower()})")
    for side in ("buyer", "seller"):
        party = r[side]
        click.echo(
            f"  {side:<8} {party}  IM {book.cash(r[side + '_im'])}  "
            f"margin account {book.cash(book.engine.margin_of(party))}"
        )
    maturity = when(r["maturity"], now)
    click.echo(f"  quantity {book.qty(r['quantity'])} at {book.price(r['contract_price'])}; maturity {maturity}")
    settled = f"round {r['last_round']} at {book.price(r['last_price'])}" if r["last_round"] else "not yet settled"
    click.echo(f"  last settlement: {settled}")
    if r["debtor"] and r["debt"]:
        owes = f"  {r['debtor']} owes {book.cash(r['debt'])}"
        if info.state is TradeState.MARGIN_CALL:
            owes += f"; cure by {when(r['cure_deadline'], now)}, then anyone may declare the default"
        click.echo(owes)
    if r["unpaid_claim"]:
        click.echo(f"  unpaid claim on the defaulter: {book.cash(r['unpaid_claim'])}")
    if r["fund_claim_pending"]:
        click.echo(f"  default fund's claim pending: `dfmi trade retry-fund-claim {trade_id}`")
    click.echo(f"  amendment nonce {r['nonce']}")


@trade.command("list")
@pass_options
@click.option("--party", metavar="ADDRESS", help="Only trades of this party.")
@click.option(
    "--state", type=click.Choice([s.name for s in TradeState if s is not TradeState.NONE], case_sensitive=False)
)
@market_option
@json_option
def list_trades(options: Options, party: str | None, state: str | None, market_name: str | None, as_json: bool) -> None:
    """Every trade of the underlying (optionally of one party, or in one state)."""
    book = _book(options, market_name)
    who = checksum(party) if party else None
    terms = book.engine.all_proposed_terms()
    records = []
    for trade_id in range(1, book.engine.trade_count() + 1):
        info = book.engine.trade(trade_id)
        if (who and who not in (info.buyer, info.seller)) or (state and info.state.name != state.upper()):
            continue
        records.append(_record(book, info, terms.get(trade_id)))
    if as_json:
        echo_json(records)
        return
    click.echo(
        f"{'id':>4} {'state':<11} {'buyer':<42} {'seller':<42} {'quantity':>14} {'price':>14} {'last':>14}  maturity"
    )
    for r in records:
        last = book.price(r["last_price"]) if r["last_round"] else "-"
        click.echo(
            f"{r['trade_id']:>4} {r['state']:<11} {r['buyer']:<42} {r['seller']:<42} {book.qty(r['quantity']):>14} "
            f"{book.price(r['contract_price'] or 0):>14} {last:>14}  {iso(r['maturity'])}"
        )


@trade.command("history")
@pass_options
@click.argument("trade_id", type=click.IntRange(min=1), required=False)
@market_option
@json_option
def history(options: Options, trade_id: int | None, market_name: str | None, as_json: bool) -> None:
    """Every step of TRADE_ID (or of every trade, with margin deposits): settlements, calls, defaults."""
    book = _book(options, market_name)
    if trade_id is not None:
        _exists(book, trade_id)
    events = book.engine.events(trade_id)
    if as_json:
        echo_json(events)
        return
    for event in events:
        label = f"trade {event.trade_id}" if event.trade_id is not None else "account"
        click.echo(f"{iso(event.timestamp)}  block {event.block:>6}  {label:<9} {describe_event(book, event)}")
