"""The suite's state rebuilt from its events alone, as the contracts keep it (pure: no chain access).

:func:`replay` walks a ledger's events in chain order and keeps what the views are made of:

- per market, every trade as the engine stores it (``tradeOf``: state, parties, quantity,
  maturity, last price and round, initial margins, unpaid variation margin and its debtor, cure
  deadline, nonce), every payment between the parties (:class:`Flow`), every margin call from
  its first call to its outcome (:class:`MarginCallRecord`) and every default (:class:`DefaultRecord`);
  every oracle round (:func:`dfmi_py.api.oracle.round_records`, plus when each started and
  finalised);
- the default fund's pool and shares (:class:`dfmi_py.api.fund.FundBooks`, the contract's
  arithmetic) and each member's open IM, own requirement, flags, contributions and losses;
- every netting round (gross, running nets, members, exclusions, escrow, state);
- every DvP/PvP instruction the settlement contract saw, with its legs when the events (or the
  transactions, see :class:`InstructionLegs`) tell them.

Events carry what the engine did, not always why: where a payment's source is not in the event
(a final payment at maturity that fell back on the payer's collateral), the following events of
the same transaction tell it (the initial margin released to each party).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dfmi_py.api.derivatives import TRADE_EVENTS, Side, TradeState
from dfmi_py.api.fund import Draw, FundBooks
from dfmi_py.api.oracle import RoundRecord, round_records
from dfmi_py.books.ledger import LedgerEvent
from dfmi_py.signing.settlement import Instruction

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
ENGINE_PREFIX = "DerivativeEngine@"
ORACLE_PREFIX = "PriceOracle@"


# ---------------------------------------------------------------------- derivatives


@dataclass
class TradeRecord:
    """One trade as the engine stores it (the fields of ``tradeOf``), and when things happened.

    Amounts in cash units, prices in the oracle's units, quantity with 18 decimals, times in Unix
    seconds. ``buyer_im``/``seller_im`` are what the engine holds now (zero once the trade ended);
    ``proposed_buyer_im``/``proposed_seller_im`` the terms'.
    """

    market: str
    trade_id: int
    buyer: str
    seller: str
    quantity: int
    contract_price: int
    maturity: int
    proposer: Side
    proposed_buyer_im: int
    proposed_seller_im: int
    proposed_block: int
    proposed_at: int
    state: TradeState = TradeState.PROPOSED
    debtor: Side = Side.NONE
    nonce: int = 0
    last_price: int = 0
    last_round: int = 0
    cure_deadline: int = 0
    buyer_im: int = 0
    seller_im: int = 0
    debt: int = 0
    unpaid_claim: int = 0
    fund_claim_pending: bool = False
    confirmed_block: int | None = None
    confirmed_at: int | None = None
    closed_block: int | None = None
    closed_at: int | None = None
    settlements: int = 0

    def party(self, side: Side) -> str | None:
        """The address of ``side`` (``None`` for :attr:`Side.NONE`)."""
        return self.buyer if side == Side.BUYER else self.seller if side == Side.SELLER else None

    def side_of(self, address: str) -> Side:
        return Side.BUYER if address == self.buyer else Side.SELLER

    def other(self, address: str) -> str:
        return self.seller if address == self.buyer else self.buyer

    @property
    def open(self) -> bool:
        """Live or under a margin call: it still settles."""
        return self.state in (TradeState.LIVE, TradeState.MARGIN_CALL)

    def owed_by_buyer(self) -> int:
        """The unpaid variation margin as the buyer's debt (negative: the seller owes it)."""
        return self.debt if self.debtor == Side.BUYER else -self.debt if self.debtor == Side.SELLER else 0


@dataclass(frozen=True)
class Flow:
    """One payment between the two parties of a trade.

    Attributes:
        kind: ``variation_margin`` (a settlement to an oracle round), ``cure`` (a margin call paid
            outside a settlement), ``final`` (the final settlement at maturity), ``amendment`` or
            ``termination`` (the payment both parties signed).
        round_id, price, vm_to_buyer: The round, its price and the change in the buyer's value it
            marked (settlements and the final one; ``None`` otherwise).
        payer, receiver: Who paid whom (``None`` when nothing was due).
        paid: What moved now (cash units), unpaid VM of earlier rounds included.
        owed: What was due and stays unpaid (a margin call's debt, or a claim left at maturity).
    """

    market: str
    trade_id: int
    kind: str
    block: int
    timestamp: int
    tx_hash: str
    log_index: int
    round_id: int | None
    price: int | None
    vm_to_buyer: int | None
    payer: str | None
    receiver: str | None
    paid: int
    owed: int


@dataclass
class MarginCallRecord:
    """One margin call, from the first ``MarginCalled`` to its outcome.

    Attributes:
        amount: What the debtor owes now (or owed when it was resolved).
        calls: ``MarginCalled`` events in it (each settlement under the call adds one).
        outcome: ``open``, ``cured`` (paid, or a price move wiped the debt), ``defaulted``,
            ``terminated``, ``matured`` (the final payment took it over) or ``moved`` (prices
            turned and the counterparty became the debtor: a new call).
        paid: What the cure paid (``cured`` only).
    """

    market: str
    trade_id: int
    debtor: str
    creditor: str
    first_amount: int
    amount: int
    called_block: int
    called_at: int
    cure_deadline: int
    calls: int = 1
    outcome: str = "open"
    resolved_block: int | None = None
    resolved_at: int | None = None
    paid: int = 0


@dataclass
class DefaultRecord:
    """One default: a close-out, or a final payment at maturity the payer's wallet could not make.

    Attributes:
        kind: ``close-out`` (``DefaultDeclared``) or ``maturity`` (``TradeMatured`` that fell back
            on the payer's collateral).
        claimed: What the engine claimed from the default fund (what IM and margin account left).
        from_fund: What the fund paid, in total (retried claims included).
        unpaid: The survivor's claim left on the defaulter.
        fund_claim: ``none`` (nothing to claim), ``paid``, or ``pending`` (the claim reverted and
            waits for a retry).
        tx_hashes: The default's transaction, then those of retried claims.
    """

    market: str
    engine: str
    trade_id: int
    kind: str
    block: int
    timestamp: int
    tx_hashes: list[str]
    defaulter: str
    survivor: str
    loss: int
    from_im: int
    from_margin: int
    claimed: int
    from_fund: int
    unpaid: int
    fund_claim: str


@dataclass
class MarketBook:
    """One market's engine and oracle, replayed."""

    name: str
    engine: str = ""
    oracle: str = ""
    trades: dict[int, TradeRecord] = field(default_factory=dict)
    flows: list[Flow] = field(default_factory=list)
    margin_calls: list[MarginCallRecord] = field(default_factory=list)
    defaults: list[DefaultRecord] = field(default_factory=list)
    rounds: list[RoundRecord] = field(default_factory=list)
    #: Per round id: (started by, started at, updated at, time it finalised).
    round_times: dict[int, tuple[str | None, int | None, int | None, int]] = field(default_factory=dict)
    cure_period: int = 0
    max_price_age: int = 0
    #: Each party's margin account in the engine (``marginOf``), rebuilt from the payments.
    margin: dict[str, int] = field(default_factory=dict)

    def latest_round(self) -> RoundRecord | None:
        """The latest final round."""
        return self.rounds[-1] if self.rounds else None

    def take(self, payer: str, amount: int) -> None:
        """A payment the engine collected: from the payer's margin account first, the shortfall
        from its wallet (the engine's ``_collect``)."""
        held = self.margin.get(payer, 0)
        self.margin[payer] = held - amount if held >= amount else 0

    def give(self, party: str, amount: int) -> None:
        """Cash credited to the party's margin account."""
        self.margin[party] = self.margin.get(party, 0) + amount


def _engine(book: MarketBook, events: Sequence[LedgerEvent]) -> None:
    open_calls: dict[int, MarginCallRecord] = {}
    defaults: dict[int, DefaultRecord] = {}
    trades = book.trades
    market = book.name
    count = len(events)
    for i in range(count):
        e = events[i]
        name = e.name
        log = e.log
        if name == "ConfigUpdated":
            book.cure_period, book.max_price_age = log.int("curePeriod"), log.int("maxPriceAge")
            continue
        if name == "MarginDeposited":
            book.give(log.address("party"), log.int("amount"))
            continue
        if name == "MarginWithdrawn":
            party = log.address("party")
            book.margin[party] = book.margin.get(party, 0) - log.int("amount")
            continue
        if name not in _TRADE_EVENTS:
            continue
        trade_id = log.int("tradeId")
        if name == "TradeProposed":
            buyer = log.address("terms.buyer")
            trades[trade_id] = TradeRecord(
                market=market,
                trade_id=trade_id,
                buyer=buyer,
                seller=log.address("terms.seller"),
                quantity=log.int("terms.quantity"),
                contract_price=log.int("terms.contractPrice"),
                maturity=log.int("terms.maturity"),
                proposer=Side.BUYER if log.address("proposer") == buyer else Side.SELLER,
                proposed_buyer_im=log.int("terms.buyerIm"),
                proposed_seller_im=log.int("terms.sellerIm"),
                proposed_block=e.block,
                proposed_at=e.timestamp,
            )
            continue
        t = trades.get(trade_id)
        if t is None:
            continue  # proposed before the ledger's first block
        if name == "VariationMarginSettled":
            t.last_price = log.int("price")
            t.last_round = log.int("roundId")
            t.settlements += 1
            payer = log.address("payer")
            paid, owed = log.int("paid"), log.int("owed")
            if paid > 0:
                book.take(payer, paid)
                book.give(t.other(payer), paid)
            _flow(
                book, t, e, "variation_margin", payer=None if payer == ZERO_ADDRESS else payer, paid=paid, owed=owed,
                round_id=t.last_round, price=t.last_price, vm_to_buyer=log.int("vmToBuyer"),
            )  # fmt: skip
        elif name == "MarginCalled":
            debtor = log.address("debtor")
            amount = log.int("amount")
            call = open_calls.get(trade_id)
            if call is not None and call.debtor == debtor:
                call.amount = amount
                call.calls += 1
            else:
                if call is not None:
                    _resolve(call, "moved", e)
                call = MarginCallRecord(
                    market, trade_id, debtor, t.other(debtor), amount, amount, e.block, e.timestamp,
                    log.int("cureDeadline"),
                )  # fmt: skip
                open_calls[trade_id] = call
                book.margin_calls.append(call)
            t.debt = amount
            t.debtor = t.side_of(debtor)
            t.cure_deadline = log.int("cureDeadline")
            t.state = TradeState.MARGIN_CALL
        elif name == "MarginCallCured":
            amount = log.int("amount")
            call = open_calls.pop(trade_id, None)
            if call is not None:
                _resolve(call, "cured", e)
                call.paid = amount
            if amount > 0 and not _next_is(events, i, trade_id, "VariationMarginSettled"):
                # paid outside a settlement (a settlement's payment is its VariationMarginSettled)
                debtor = log.address("debtor")
                book.take(debtor, amount)
                book.give(t.other(debtor), amount)
                _flow(book, t, e, "cure", payer=debtor, paid=amount)
            t.debt = 0
            t.debtor = Side.NONE
            t.cure_deadline = 0
            if t.state == TradeState.MARGIN_CALL:
                t.state = TradeState.LIVE
        elif name == "TradeConfirmed":
            t.state = TradeState.LIVE
            t.last_price = t.contract_price
            t.buyer_im, t.seller_im = log.int("buyerIm"), log.int("sellerIm")
            t.confirmed_block, t.confirmed_at = e.block, e.timestamp
        elif name == "TradeCancelled":
            t.state = TradeState.CANCELLED
            t.closed_block, t.closed_at = e.block, e.timestamp
        elif name == "InitialMarginReleased":
            if _amendment_follows(events, i, trade_id):
                continue  # an amendment's smaller IM: the amendment books it, after its payment
            amount, party = log.int("amount"), log.address("party")
            if party == t.buyer:
                t.buyer_im -= amount
            else:
                t.seller_im -= amount
            book.give(party, amount)
        elif name == "TradeAmended":
            t.nonce = log.int("nonce") + 1
            t.quantity, t.maturity = log.int("quantity"), log.int("maturity")
            # as the engine does it: the agreed payment, then the buyer's IM resized, then the seller's
            _signed_payment(book, t, e, "amendment", log.int("payment"))
            for party, old, new in (
                (t.buyer, t.buyer_im, log.int("buyerIm")),
                (t.seller, t.seller_im, log.int("sellerIm")),
            ):
                if new > old:
                    book.take(party, new - old)
                elif new < old:
                    book.give(party, old - new)
            t.buyer_im, t.seller_im = log.int("buyerIm"), log.int("sellerIm")
        elif name == "TradeTerminated":
            t.nonce = log.int("nonce") + 1
            t.debt = 0
            t.debtor = Side.NONE
            t.state = TradeState.TERMINATED
            t.closed_block, t.closed_at = e.block, e.timestamp
            _signed_payment(book, t, e, "termination", log.int("payment"))
            _close_call(open_calls, trade_id, "terminated", e)
        elif name == "DefaultDeclared":
            defaulter, survivor = log.address("defaulter"), log.address("survivor")
            loss, from_im, from_margin = log.int("loss"), log.int("paidFromIm"), log.int("paidFromMargin")
            from_fund, unpaid = log.int("paidFromFund"), log.int("unpaidClaim")
            if defaulter == t.buyer:
                t.buyer_im -= from_im
            else:
                t.seller_im -= from_im
            book.margin[defaulter] = book.margin.get(defaulter, 0) - from_margin
            book.give(survivor, from_im + from_margin + from_fund)
            t.state = TradeState.DEFAULTED
            t.debt = unpaid
            t.debtor = t.side_of(defaulter) if unpaid > 0 else Side.NONE
            t.unpaid_claim = unpaid
            t.closed_block, t.closed_at = e.block, e.timestamp
            record = DefaultRecord(
                market, e.address, trade_id, "close-out", e.block, e.timestamp, [e.tx_hash], defaulter, survivor,
                loss, from_im, from_margin, loss - from_im - from_margin, from_fund, unpaid,
                "pending" if t.fund_claim_pending else "paid" if from_fund > 0 else "none",
            )  # fmt: skip
            defaults[trade_id] = record
            book.defaults.append(record)
            _close_call(open_calls, trade_id, "defaulted", e)
        elif name == "TradeMatured":
            _mature(book, t, events, i, defaults)
            _close_call(open_calls, trade_id, "matured", e)
        elif name == "FundClaimFailed":
            t.fund_claim_pending = True
        elif name == "FundClaimPaid":
            paid, unpaid = log.int("paid"), log.int("unpaid")
            book.give(log.address("survivor"), paid)
            t.fund_claim_pending = False
            t.debt = unpaid
            if unpaid == 0:
                t.debtor = Side.NONE
            t.unpaid_claim = unpaid
            found = defaults.get(trade_id)
            if found is not None:
                found.from_fund += paid
                found.unpaid = unpaid
                found.fund_claim = "paid"
                found.tx_hashes.append(e.tx_hash)


#: The engine's events of one trade that change its books (a skipped settlement changes nothing).
_TRADE_EVENTS = frozenset(TRADE_EVENTS) - {"SettlementSkipped"}


def _resolve(call: MarginCallRecord, outcome: str, e: LedgerEvent) -> None:
    call.outcome = outcome
    call.resolved_block, call.resolved_at = e.block, e.timestamp


def _close_call(open_calls: dict[int, MarginCallRecord], trade_id: int, outcome: str, e: LedgerEvent) -> None:
    call = open_calls.pop(trade_id, None)
    if call is not None:
        _resolve(call, outcome, e)


def _same_tx(events: Sequence[LedgerEvent], i: int, trade_id: int) -> Iterable[LedgerEvent]:
    """The events after ``events[i]`` in its transaction that concern ``trade_id``."""
    tx_hash = events[i].tx_hash
    for j in range(i + 1, len(events)):
        other = events[j]
        if other.tx_hash != tx_hash:
            return
        if other.name in _TRADE_EVENTS and other.log.int("tradeId") == trade_id:
            yield other


def _amendment_follows(events: Sequence[LedgerEvent], i: int, trade_id: int) -> bool:
    """Whether the trade's release ``events[i]`` is an amendment's: its ``TradeAmended`` follows in
    the transaction, after the other party's release when both IMs shrink."""
    following = next((o for o in _same_tx(events, i, trade_id) if o.name != "InitialMarginReleased"), None)
    return following is not None and following.name == "TradeAmended"


def _next_is(events: Sequence[LedgerEvent], i: int, trade_id: int, name: str) -> bool:
    """Whether the trade's next event in the same transaction is ``name`` (a margin call cleared by
    a settlement's payment is followed by its ``VariationMarginSettled``; an amendment's released
    IM by its ``TradeAmended``)."""
    following = next(iter(_same_tx(events, i, trade_id)), None)
    return following is not None and following.name == name


def _signed_payment(book: MarketBook, t: TradeRecord, e: LedgerEvent, kind: str, payment: int) -> None:
    """An agreed payment, buyer to seller when positive."""
    if payment == 0:
        return
    payer = t.buyer if payment > 0 else t.seller
    book.take(payer, abs(payment))
    book.give(t.other(payer), abs(payment))
    _flow(book, t, e, kind, payer=payer, paid=abs(payment))


def _flow(
    book: MarketBook,
    t: TradeRecord,
    e: LedgerEvent,
    kind: str,
    *,
    payer: str | None,
    paid: int,
    owed: int = 0,
    round_id: int | None = None,
    price: int | None = None,
    vm_to_buyer: int | None = None,
) -> None:
    """Record a payment of ``payer`` (``None``: nothing was due) to its counterparty."""
    book.flows.append(
        Flow(
            market=book.name,
            trade_id=t.trade_id,
            kind=kind,
            block=e.block,
            timestamp=e.timestamp,
            tx_hash=e.tx_hash,
            log_index=e.log_index,
            round_id=round_id,
            price=price,
            vm_to_buyer=vm_to_buyer,
            payer=payer,
            receiver=None if payer is None else t.other(payer),
            paid=paid,
            owed=owed,
        )
    )


def _mature(
    book: MarketBook, t: TradeRecord, events: Sequence[LedgerEvent], i: int, defaults: dict[int, DefaultRecord]
) -> None:
    """``TradeMatured``: the final payment, from the payer's wallet or, failing that, from its
    collateral (a default at maturity). The event names the fund's part and the claim left; the
    initial margin released to the payer right after tells what its IM paid."""
    e = events[i]
    log = e.log
    vm = log.int("vmToBuyer")
    owed_by_buyer = -vm + t.owed_by_buyer()
    from_fund, unpaid = log.int("paidFromFund"), log.int("unpaidClaim")
    t.last_price, t.last_round = log.int("price"), log.int("roundId")
    t.state = TradeState.MATURED
    t.settlements += 1
    t.closed_block, t.closed_at = e.block, e.timestamp
    payer = receiver = None
    amount = abs(owed_by_buyer)
    if owed_by_buyer != 0:
        payer, receiver = (t.buyer, t.seller) if owed_by_buyer > 0 else (t.seller, t.buyer)
        payer_im = t.buyer_im if payer == t.buyer else t.seller_im
        released = sum(
            other.log.int("amount")
            for other in _same_tx(events, i, t.trade_id)
            if other.name == "InitialMarginReleased" and other.log.address("party") == payer
        )
        from_im = payer_im - released
        if from_im > 0 or from_fund > 0 or unpaid > 0:
            if payer == t.buyer:
                t.buyer_im -= from_im
            else:
                t.seller_im -= from_im
            from_margin = amount - from_im - from_fund - unpaid
            book.margin[payer] = book.margin.get(payer, 0) - from_margin
            book.give(receiver, amount - unpaid)
            record = DefaultRecord(
                book.name, e.address, t.trade_id, "maturity", e.block, e.timestamp, [e.tx_hash], payer, receiver,
                amount, from_im, from_margin, amount - from_im - from_margin, from_fund, unpaid,
                "pending" if t.fund_claim_pending else "paid" if from_fund > 0 else "none",
            )  # fmt: skip
            defaults[t.trade_id] = record
            book.defaults.append(record)
        else:  # paid from its margin account and wallet
            book.take(payer, amount)
            book.give(receiver, amount)
    t.debt = unpaid
    t.debtor = (t.side_of(payer) if payer is not None else Side.NONE) if unpaid > 0 else Side.NONE
    t.unpaid_claim = unpaid
    _flow(
        book, t, e, "final", payer=payer, paid=amount - unpaid, owed=unpaid,
        round_id=t.last_round, price=t.last_price, vm_to_buyer=vm,
    )  # fmt: skip


def _oracle(book: MarketBook, events: Sequence[LedgerEvent]) -> None:
    items: list[tuple[int, str, Mapping[str, Any]]] = []
    started: dict[int, tuple[str, int]] = {}
    updated: dict[int, int] = {}
    finalised: dict[int, int] = {}
    for e in events:
        name = e.name
        log = e.log
        if name == "AnswerSubmitted":
            args: Mapping[str, Any] = {
                "roundId": log.int("roundId"),
                "reporter": log.address("reporter"),
                "answer": log.int("answer"),
            }
        elif name == "RoundFinalised":
            args = {"roundId": log.int("roundId"), "answer": log.int("answer")}
            finalised[args["roundId"]] = e.timestamp
        elif name in ("OpenRoundCleared", "JumpDetected", "AnchorMoved"):
            args = {"roundId": log.int("roundId")}
        elif name == "NewRound":
            started[log.int("roundId")] = (log.address("startedBy"), log.int("startedAt"))
            continue
        elif name == "AnswerUpdated":
            updated[log.int("roundId")] = log.int("updatedAt")
            continue
        else:
            continue
        items.append((e.block, name, args))
    book.rounds = round_records(items)
    for record in book.rounds:
        by, at = started.get(record.round_id, (None, None))
        book.round_times[record.round_id] = (by, at, updated.get(record.round_id), finalised[record.round_id])


# ---------------------------------------------------------------------- default fund


@dataclass
class FundMember:
    """One member of the default fund, replayed (the balance comes from :attr:`FundReplay.books`).

    Attributes:
        open_im: Initial margin of its open trades, as the engines reported it.
        member_requirement: The minimum governance adopted for it.
        flagged: Flagged for a missed replenishment and not reinstated since.
        contributed: Cash it put in (joining and contributions); withdrawn: cash governance
            returned; lost: what draws took from its balance.
    """

    member: str
    joined_block: int
    joined_at: int
    open_im: int = 0
    member_requirement: int = 0
    flagged: bool = False
    contributed: int = 0
    withdrawn: int = 0
    lost: int = 0


@dataclass
class FundReplay:
    """The default fund, replayed."""

    address: str = ""
    books: FundBooks = field(default_factory=FundBooks)
    members: dict[str, FundMember] = field(default_factory=dict)
    requirement_bps: int = 0
    floor_amount: int = 0


def _fund(fund: FundReplay, events: Sequence[LedgerEvent]) -> None:
    books = fund.books
    for e in events:
        name = e.name
        log = e.log
        fund.address = e.address
        if name == "MemberJoined" or name == "Contributed":
            member, amount = log.address("member"), log.int("amount")
            books.deposit(member, amount, log.int("shares"))
            record = fund.members.get(member)
            if record is None:
                record = fund.members[member] = FundMember(member, e.block, e.timestamp)
            record.contributed += amount
        elif name == "Withdrawn":
            member, amount = log.address("member"), log.int("amount")
            books.withdraw(member, amount, log.int("shares"))
            fund.members[member].withdrawn += amount
        elif name == "DefaultClaimed":
            draw = books.claim(
                Draw(
                    block=e.block,
                    tx_hash=e.tx_hash,
                    engine=log.address("engine"),
                    defaulter=log.address("defaulter"),
                    survivor=log.address("survivor"),
                    loss=log.int("loss"),
                    from_defaulter=log.int("fromDefaulter"),
                    from_survivors=log.int("fromSurvivors"),
                    unpaid=log.int("unpaid"),
                    defaulter_shares=log.int("defaulterShares"),
                )
            )
            for member, loss in draw.losses.items():
                fund.members[member].lost += loss
        elif name == "OpenMarginChanged":
            member = log.address("member")
            if member in fund.members:
                fund.members[member].open_im = log.int("openIm")
        elif name == "MemberRequirementChanged":
            fund.members[log.address("member")].member_requirement = log.int("amount")
        elif name == "MemberFlagged":
            fund.members[log.address("member")].flagged = True
        elif name == "MemberReinstated":
            fund.members[log.address("member")].flagged = False
        elif name == "RequirementChanged":
            fund.requirement_bps, fund.floor_amount = log.int("requirementBps"), log.int("floorAmount")


# ---------------------------------------------------------------------- netting


@dataclass
class NettingRound:
    """One netting round, replayed (the fields of ``roundOf`` and what led to them).

    Attributes:
        stage: ``COLLECTING``, ``CLOSED``, ``VERIFIED`` or ``SETTLED`` as stored; expiry is
            derived from the clock (see :meth:`state`).
        nets: Each member's running net (incoming minus outgoing), in ``membersOf`` order.
        excluded: Members excluded, in order.
        funded: Each member's escrow for the round.
    """

    round_id: int
    opener: str
    cutoff: int
    deadline: int
    opened_block: int
    opened_at: int
    stage: str = "COLLECTING"
    gross_value: int = 0
    net_value: int = 0
    obligation_count: int = 0
    nets: dict[str, int] = field(default_factory=dict)
    excluded: list[str] = field(default_factory=list)
    instruction_count: int = 0
    funded: dict[str, int] = field(default_factory=dict)
    delivery_failures: int = 0
    settled_block: int | None = None
    settled_at: int | None = None

    def state(self, now: int, expiry_period: int) -> str:
        """The round's state at time ``now`` (``EXPIRED`` once past ``deadline + expiry_period``
        and not settled)."""
        if self.stage != "SETTLED" and now > self.deadline + expiry_period:
            return "EXPIRED"
        return self.stage

    @property
    def escrowed(self) -> int:
        """Cash held for the round."""
        return sum(self.funded.values())

    def _move(self, member: str, delta: int) -> None:
        before = self.nets.get(member, 0)
        after = before + delta
        self.nets[member] = after
        self.net_value += max(after, 0) - max(before, 0)


def _netting(rounds: dict[int, NettingRound], events: Sequence[LedgerEvent]) -> None:
    for e in events:
        name = e.name
        log = e.log
        if name == "RoundOpened":
            round_id = log.int("roundId")
            rounds[round_id] = NettingRound(
                round_id, log.address("opener"), log.int("cutoff"), log.int("deadline"), e.block, e.timestamp
            )
            continue
        if name not in _NETTING_ROUND_EVENTS:
            continue
        r = rounds.get(log.int("roundId"))
        if r is None:
            continue
        if name == "ObligationRegistered":
            payer, payee, amount = log.address("payer"), log.address("payee"), log.int("amount")
            for member in (payer, payee):
                r.nets.setdefault(member, 0)
            r._move(payer, -amount)
            r._move(payee, amount)
            r.obligation_count += 1
            r.gross_value += amount
        elif name == "ObligationRemoved":
            payer, payee, amount = log.address("payer"), log.address("payee"), log.int("amount")
            r._move(payer, amount)
            r._move(payee, -amount)
            r.obligation_count -= 1
            r.gross_value -= amount
            r.stage = "CLOSED"  # exclusions and removals of failed deliveries ask for new nets
        elif name == "RoundClosed":
            r.stage = "CLOSED"
        elif name == "NetsVerified":
            r.stage = "VERIFIED"
        elif name == "MemberExcluded":
            r.excluded.append(log.address("member"))
            r.stage = "CLOSED"
        elif name == "InstructionEntered":
            r.instruction_count += 1
        elif name == "InstructionReleased":
            r.instruction_count -= 1
        elif name == "DeliveryFailed":
            r.delivery_failures += 1
        elif name in ("Funded", "FundingWithdrawn"):
            r.funded[log.address("member")] = log.int("funded")
        elif name == "NetSettled":
            member = log.address("member")
            if member in r.funded:
                r.funded[member] -= log.int("fromEscrow")
        elif name == "RoundSettled":
            r.stage = "SETTLED"
            r.settled_block, r.settled_at = e.block, e.timestamp


_NETTING_ROUND_EVENTS = frozenset(
    {
        "ObligationRegistered",
        "ObligationRemoved",
        "RoundClosed",
        "NetsVerified",
        "MemberExcluded",
        "InstructionEntered",
        "InstructionReleased",
        "DeliveryFailed",
        "Funded",
        "FundingWithdrawn",
        "NetSettled",
        "RoundSettled",
    }
)


# ---------------------------------------------------------------------- settlement instructions


@dataclass
class InstructionRecord:
    """One DvP/PvP instruction the settlement contract saw, replayed.

    Attributes:
        instruction: Its fields, when known: from its proposal, from its entry into a netting
            round, or from the transaction that carried it (see :func:`replay`'s ``known``).
        legs: ``(token, amount)`` of each leg when only a settlement's transfers tell them.
        party_a, party_b: The parties, when known.
        approved_a, approved_b: On-chain consents recorded (propose / affirm) and not cleared.
        spent: How its nonce was spent by its own events: ``settled``, ``cancelled``, ``locked``
            (in a netting round), or ``None``.
        netted_round: The netting round that holds (or settled) it.
        failures: Failed settlement attempts; last_reason: the last one's revert data (hex).
    """

    id: str
    first_block: int
    first_at: int
    instruction: Instruction | None = None
    legs: tuple[tuple[str, int], tuple[str, int]] | None = None
    party_a: str | None = None
    party_b: str | None = None
    approved_a: bool = False
    approved_b: bool = False
    spent: str | None = None
    netted: bool = False
    netted_round: int | None = None
    failures: int = 0
    last_reason: str | None = None
    last_block: int = 0
    last_at: int = 0


def _settlement(
    records: dict[str, InstructionRecord],
    events: Sequence[LedgerEvent],
    transfers: Mapping[str, Sequence[LedgerEvent]],
) -> None:
    for i, e in enumerate(events):
        log = e.log
        name = e.name
        id_hex = "0x" + log.fixed_bytes("id").hex()
        r = records.get(id_hex)
        if r is None:
            r = records[id_hex] = InstructionRecord(id_hex, e.block, e.timestamp)
        r.last_block, r.last_at = e.block, e.timestamp
        if name == "InstructionProposed":
            instruction = as_instruction(log.args["instruction"])
            r.instruction = instruction
            r.party_a, r.party_b = instruction.party_a, instruction.party_b
            if log.address("proposer") == instruction.party_a:
                r.approved_a = True
            else:
                r.approved_b = True
        elif name == "InstructionAffirmed":
            r.approved_a = r.approved_b = True
        elif name in ("InstructionSettled", "InstructionSettledNetted"):
            r.party_a, r.party_b = log.address("partyA"), log.address("partyB")
            r.spent = "settled"
            r.approved_a = r.approved_b = False
            if name == "InstructionSettledNetted":
                r.netted = True
                r.netted_round = log.int("roundId")
            if r.instruction is None:
                r.legs = _legs(events[i], transfers.get(e.tx_hash, ()), r.party_a, r.party_b, netted=r.netted)
        elif name == "InstructionCancelled":
            r.spent = "cancelled"
            r.approved_a = r.approved_b = False
        elif name == "InstructionLocked":
            r.party_a, r.party_b = log.address("partyA"), log.address("partyB")
            r.spent = "locked"
            r.netted_round = log.int("roundId")
        elif name == "InstructionReleased":
            if r.spent == "locked":
                r.spent = None
        elif name == "SettlementFailed":
            r.failures += 1
            r.last_reason = "0x" + bytes(log.args["reason"]).hex()


def _legs(
    settled: LedgerEvent, transfers: Sequence[LedgerEvent], party_a: str, party_b: str, *, netted: bool
) -> tuple[tuple[str, int], tuple[str, int]] | None:
    """The legs of a settled instruction from the token transfers that follow its event (a
    netted one moves only its delivery leg there; its cash leg is in the round's nets)."""
    following = [t for t in transfers if t.log_index > settled.log_index]
    leg_a = next((t for t in following if t.log.address("from") == party_a and t.log.address("to") == party_b), None)
    if leg_a is None:
        return None
    if netted:
        return (leg_a.address, leg_a.log.int("value")), ("", 0)
    rest = [t for t in following if t.log_index > leg_a.log_index]
    leg_b = next((t for t in rest if t.log.address("from") == party_b and t.log.address("to") == party_a), None)
    if leg_b is None:
        return None
    return (leg_a.address, leg_a.log.int("value")), (leg_b.address, leg_b.log.int("value"))


def as_instruction(raw: Any) -> Instruction:
    """An ``Instruction`` struct as web3 or eth_abi decode it (a mapping of its fields, or a tuple)."""
    if isinstance(raw, Mapping):
        return Instruction.from_message(dict(raw))
    return Instruction(*raw)


# ---------------------------------------------------------------------- everything


@dataclass
class Replay:
    """Everything :func:`replay` rebuilt.

    Attributes:
        markets: Each market's book, by name, in the order the ledger met them.
        fund: The default fund.
        netting: Every netting round, by id.
        instructions: Every instruction the settlement contract saw, by id (``0x`` hex).
        parties: Every account that traded, joined the fund, netted or settled, in the order met.
        head: The last block of the events replayed (0 for none).
    """

    markets: dict[str, MarketBook] = field(default_factory=dict)
    fund: FundReplay = field(default_factory=FundReplay)
    netting: dict[int, NettingRound] = field(default_factory=dict)
    instructions: dict[str, InstructionRecord] = field(default_factory=dict)
    parties: dict[str, None] = field(default_factory=dict)

    def trades(self) -> Iterable[TradeRecord]:
        """Every trade of every market."""
        for book in self.markets.values():
            yield from book.trades.values()


def replay(
    events: Sequence[LedgerEvent],
    markets: Sequence[str] = (),
    known: Mapping[str, Instruction] | None = None,
) -> Replay:
    """Rebuild the suite's state from ``events`` (a ledger's, in chain order).

    Args:
        events: Every event of the suite, in chain order.
        markets: The deployment's market names, so markets without events are present too (in
            configuration order).
        known: Instructions whose fields the events do not carry, by id (``0x`` hex): decoded
            from the transactions that settled, cancelled or failed them.
    """
    result = Replay(markets={name: MarketBook(name) for name in markets})
    by_contract: dict[str, list[LedgerEvent]] = {}
    for e in events:
        by_contract.setdefault(e.contract, []).append(e)
    for key, contract_events in by_contract.items():
        if key.startswith(ENGINE_PREFIX):
            book = result.markets.setdefault(key[len(ENGINE_PREFIX) :], MarketBook(key[len(ENGINE_PREFIX) :]))
            book.engine = contract_events[0].address
            _engine(book, contract_events)
        elif key.startswith(ORACLE_PREFIX):
            book = result.markets.setdefault(key[len(ORACLE_PREFIX) :], MarketBook(key[len(ORACLE_PREFIX) :]))
            book.oracle = contract_events[0].address
            _oracle(book, contract_events)
    _fund(result.fund, by_contract.get("DefaultFund", []))
    _netting(result.netting, by_contract.get("NettingEngine", []))
    settlement_events = by_contract.get("AtomicSettlement", [])
    entered = {
        "0x" + e.log.fixed_bytes("instructionId").hex(): as_instruction(e.log.args["instruction"])
        for e in by_contract.get("NettingEngine", [])
        if e.name == "InstructionEntered"
    }
    needing = {e.tx_hash for e in settlement_events if e.name == "InstructionSettled"}
    transfers: dict[str, list[LedgerEvent]] = {}
    if needing:
        for key in ("CashToken", "SecurityToken"):
            for e in by_contract.get(key, []):
                if e.name == "Transfer" and e.tx_hash in needing:
                    transfers.setdefault(e.tx_hash, []).append(e)
    _settlement(result.instructions, settlement_events, transfers)
    for id_hex, record in result.instructions.items():
        found = record.instruction or entered.get(id_hex) or (known or {}).get(id_hex)
        if found is not None:
            record.instruction = found
            record.party_a, record.party_b = found.party_a, found.party_b
    _parties(result)
    return result


def _parties(result: Replay) -> None:
    parties = result.parties
    for t in result.trades():
        parties.setdefault(t.buyer)
        parties.setdefault(t.seller)
    for member in result.fund.members:
        parties.setdefault(member)
    for r in result.netting.values():
        for member in r.nets:
            parties.setdefault(member)
    for i in result.instructions.values():
        for party in (i.party_a, i.party_b):
            if party is not None:
                parties.setdefault(party)
