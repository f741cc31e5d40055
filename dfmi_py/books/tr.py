"""The trade-repository export: the records a derivatives trade repository asks for, rebuilt from
the engines' and the oracles' events (pure: events in, records out), and their CSV and JSON files.

:func:`tr_records` gives, in chain order:

- one record per lifecycle event of each trade: ``new`` (``TradeConfirmed``), ``modify``
  (``TradeAmended``), ``terminate`` (``TradeTerminated``), ``default`` (``DefaultDeclared``) and
  ``maturity`` (``TradeMatured``). A proposal that was cancelled (``TradeCancelled``) never became
  a contract: it has no record (neither regime reports an unconcluded proposal), and the proposal
  of a trade that was confirmed only supplies the terms of its ``new`` record;
- one ``valuation`` record per live trade per UTC day end (23:59:59) in the report window: the
  trade valued at the last final oracle price at that time (the oracle's ``AnswerUpdated``), with
  the initial margin each side has posted and the variation margin each side has paid and
  received since the trade began, as of that time; by market (in the order given), then trade id.

Who paid whom how much, and when, is not worked out here again: the payments are the books'
(:func:`dfmi_py.books.replay.replay`'s :class:`~dfmi_py.books.replay.Flow` of each settlement,
cure, final settlement and agreed payment, the ``margin_flows`` view's rows), cumulated up to each
record's time; the export adds what the default close-out's own event says its waterfall paid.

Counterparty 1 is the party that proposed the terms (the engine records it): on-chain neither
side is "the reporting counterparty", so the export fixes one per trade, the same in every record
of that trade; the direction (``BYER``/``SLLR``) is counterparty 1's. Identifiers are the LEI when
the :class:`~dfmi_py.identity.disclosure.Disclosure` opens the party's identity, its address
otherwise (``counterparty_*_id_type`` says which).

Amounts are integers in their smallest unit, with the decimals in their own fields: prices in the
oracle's decimals (``price_decimals``), quantities with 18 (``quantity_decimals``), cash in the cash
token's (``cash_decimals``). Times are ISO 8601 in UTC. ``docs/trade-repository.md`` documents every
field and its EMIR Refit and CFTC names.

:func:`write_csv` / :func:`read_csv` and :func:`write_json` / :func:`read_json` give back exactly the
records written.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from types import NoneType, UnionType
from typing import Any, get_args, get_type_hints

from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from dfmi_py.books.ledger import LedgerEvent
from dfmi_py.books.replay import Flow, Replay, replay
from dfmi_py.books.snapshot import Constants
from dfmi_py.errors import InputError
from dfmi_py.identity.disclosure import Disclosure
from dfmi_py.risk.forward import value_scale, variation_margin

#: Seconds per day; a report date's valuation is taken at its last second (``23:59:59Z``).
DAY = 86_400
#: Decimals of a trade's quantity (``Terms.quantity``, units of the underlying).
QUANTITY_DECIMALS = 18
#: The first four characters of every UTI: see :func:`uti`.
UTI_PREFIX = "DFMI"
#: Hex digits of the engine's hash after :data:`UTI_PREFIX` (the 20 characters an LEI would take).
UTI_ENGINE_DIGITS = 16
#: Most characters ISO 23897 allows in a UTI, and most the trade id may take after the 20 first.
UTI_MAX_LENGTH = 52
#: The engine events the export walks (``TradeProposed`` for the terms, settlements and cures for the
#: margins, the others are lifecycle); the books' replay reads every engine event for the payments.
ENGINE_EVENTS = (
    "TradeProposed",
    "TradeConfirmed",
    "VariationMarginSettled",
    "MarginCallCured",
    "DefaultDeclared",
    "TradeAmended",
    "TradeTerminated",
    "TradeMatured",
)
#: The oracle's event of a final round (Chainlink's ``AnswerUpdated``).
ORACLE_EVENT = "AnswerUpdated"


class Lifecycle(StrEnum):
    """What a record reports."""

    NEW = "new"
    MODIFY = "modify"
    TERMINATE = "terminate"
    DEFAULT = "default"
    MATURITY = "maturity"
    VALUATION = "valuation"


#: ``(action type, event type)`` by lifecycle, in the codes EMIR Refit (fields 2.151, 2.152) and
#: CFTC part 45 (Action type, Event type) share. A trade that ends at its contractual maturity is
#: reported by neither regime (it stops being outstanding by itself): no codes.
CODES: Mapping[Lifecycle, tuple[str, str]] = {
    Lifecycle.NEW: ("NEWT", "TRAD"),
    Lifecycle.MODIFY: ("MODI", "TRAD"),
    Lifecycle.TERMINATE: ("TERM", "ETRM"),
    Lifecycle.DEFAULT: ("TERM", "ETRM"),
    Lifecycle.MATURITY: ("", ""),
    Lifecycle.VALUATION: ("VALU", ""),
}
#: ``counterparty_*_id_type`` values.
ID_LEI = "LEI"
ID_ADDRESS = "ADDRESS"
#: Direction of counterparty 1 (EMIR Refit 1.17).
BUYER = "BYER"
SELLER = "SLLR"
#: The engine's contracts are cash-settled forwards (EMIR Refit 2.10 and 2.47).
CONTRACT_TYPE = "FORW"
DELIVERY_TYPE = "CASH"
#: Valuation from an observed market price (EMIR Refit 2.24, CFTC Valuation method).
VALUATION_METHOD = "MTMA"
#: Other payment type of an early termination's agreed payment, and of an amendment's that lowers
#: the quantity (a partial unwind) (EMIR Refit 2.73, CFTC Other payment type).
UNWIND = "UWIN"


@dataclass(frozen=True)
class MarketInfo:
    """What the export needs to know of one market (the chain's events do not repeat it).

    Attributes:
        name: The market's name in the deployment (``"EURUSD"``).
        description: What its oracle prices (``"EUR / USD"``): the underlying.
        engine: Its derivative engine's address.
        oracle: Its price oracle's address.
        price_decimals: The oracle's decimals.
        cash_decimals: The cash token's decimals.
        currency: The currency of prices and cash amounts (the cash token's symbol unless the
            caller knows its ISO 4217 code).
    """

    name: str
    description: str
    engine: str
    oracle: str
    price_decimals: int
    cash_decimals: int
    currency: str

    @property
    def value_scale(self) -> int:
        """The engine's ``valueScale``, ``10 ** (18 + price decimals - cash decimals)``: value =
        quantity * price // value_scale (:func:`dfmi_py.risk.forward.value_scale`)."""
        try:
            return value_scale(self.price_decimals, self.cash_decimals)
        except ValueError:
            raise InputError(f"market {self.name}: cash has more decimals than quantity and price together") from None


def market_infos(
    constants: Constants, names: Sequence[str] | None = None, currency: str | None = None
) -> list[MarketInfo]:
    """What the export needs to know of a deployed suite's markets, from the books' constants
    (:func:`dfmi_py.books.snapshot.read_constants`, or ``Books.state()``'s snapshot).

    Args:
        constants: The suite's constants.
        names: Markets to report (``None``: every market, in configuration order).
        currency: The ISO 4217 code of prices and cash (``None``: the cash token's symbol).

    Raises:
        InputError: a name the deployment does not have.
    """
    chosen = list(constants.markets) if names is None else list(names)
    check_markets(chosen, list(constants.markets))
    code = currency or constants.cash.symbol
    infos = []
    for name in chosen:
        market = constants.markets[name]
        info = MarketInfo(
            name, market.description, market.engine, market.oracle, market.decimals, constants.cash.decimals, code
        )
        infos.append(info)
    return infos


def check_markets(names: Sequence[str], known: Sequence[str]) -> None:
    """Refuse a market name the deployment does not have.

    Raises:
        InputError: one of ``names`` is not in ``known``.
    """
    unknown = [name for name in names if name not in known]
    if unknown:
        raise InputError(f"no market {', '.join(unknown)} in this deployment; it has {', '.join(known)}")


@dataclass(frozen=True)
class TRRecord:
    """One record of the trade-repository export (see ``docs/trade-repository.md`` for each field's
    source and its EMIR Refit and CFTC names). ``""`` and ``None`` mean "does not apply here"."""

    lifecycle: Lifecycle
    action_type: str
    event_type: str
    uti: str
    chain_id: int
    engine: str
    market: str
    trade_id: int
    event_timestamp: str
    counterparty_1: str
    counterparty_1_id_type: str
    counterparty_1_address: str
    counterparty_1_name: str
    counterparty_1_country: str
    counterparty_2: str
    counterparty_2_id_type: str
    counterparty_2_address: str
    counterparty_2_name: str
    counterparty_2_country: str
    direction: str
    underlying: str
    contract_type: str
    delivery_type: str
    quantity: int
    quantity_decimals: int
    price: int
    price_decimals: int
    notional: int
    currency: str
    cash_decimals: int
    execution_timestamp: str
    effective_timestamp: str
    maturity_timestamp: str
    valuation_amount: int | None
    valuation_price: int | None
    valuation_round: int | None
    valuation_timestamp: str
    valuation_method: str
    im_posted: int
    im_received: int
    vm_posted: int
    vm_received: int
    other_payment_type: str
    other_payment_amount: int | None
    other_payment_payer: str
    other_payment_receiver: str
    defaulting_party: str
    unpaid_claim: int | None
    tx_hash: str
    block_number: int | None
    log_index: int | None


#: The records' field names, in file order.
FIELDS: tuple[str, ...] = tuple(f.name for f in fields(TRRecord))


def uti(chain_id: int, engine: str, trade_id: int) -> str:
    """The trade's Unique Transaction Identifier, the same for both counterparties and every reader.

    ISO 23897's shape: at most 52 upper-case letters and digits, the first 20 standing for the
    entity that generated it (normally its LEI), then a value unique among its UTIs. The entity
    that generates a trade id is the engine, which has no LEI; its 20 characters are ``DFMI``
    and the first 16 hex digits (upper case) of ``keccak256(abi.encode(uint256 chainId, address
    engine))``, so they name one engine on one chain. The trade id follows in decimal. Anyone
    derives it from the chain alone, so both counterparties' reports carry the same UTI without
    agreeing on it. The 20 characters are not an LEI (no check digits): nothing to look up.

    Raises:
        InputError: a trade id of more than 32 digits (the engine counts from 1; never reached).
    """
    if trade_id < 1 or len(str(trade_id)) > UTI_MAX_LENGTH - 20:
        raise InputError(f"trade id {trade_id} does not fit a UTI (1 to {UTI_MAX_LENGTH - 20} digits)")
    digest = keccak(abi_encode(["uint256", "address"], [chain_id, to_checksum_address(engine)]))
    return f"{UTI_PREFIX}{digest.hex()[:UTI_ENGINE_DIGITS].upper()}{trade_id}"


def iso_time(timestamp: int) -> str:
    """Unix seconds as ISO 8601 in UTC (``2026-11-30T23:59:59Z``)."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def day_end(timestamp: int) -> int:
    """The last second of the UTC day of ``timestamp``."""
    return timestamp - timestamp % DAY + DAY - 1


# ---------------------------------------------------------------------- the mapping


@dataclass(frozen=True)
class _Price:
    """A final oracle round and the event that made it final."""

    round_id: int
    price: int
    updated_at: int
    tx_hash: str
    block: int
    log_index: int


@dataclass
class _Trade:
    """One trade's terms and margins as its events tell them, up to the event being read.

    The payments come from the books' replay (:class:`~dfmi_py.books.replay.Flow`): which party
    paid what, and when, is worked out there once for every reader of the chain.
    """

    market: MarketInfo
    order: tuple[int, int]  # (the market's place in the report, trade id): how valuations are sorted
    trade_id: int
    proposer: str
    buyer: str
    seller: str
    quantity: int
    contract_price: int
    maturity: int
    executed_at: int = 0
    buyer_im: int = 0
    seller_im: int = 0
    #: The last settled price (the contract price until the first settlement).
    last_price: int = 0
    #: Sum of every settlement's ``vmToBuyer`` (the value the buyer gained, settled or owed).
    vm_to_buyer: int = 0
    vm_posted: dict[str, int] = field(default_factory=dict)
    vm_received: dict[str, int] = field(default_factory=dict)

    def settled(self, flow: Flow, from_fund: int = 0) -> None:
        """Book a settlement, a cure or the final settlement (``flow``): its price and, when cash
        moved, what the payer paid (less ``from_fund``, what the default fund paid for it) and
        what the receiver got."""
        if flow.vm_to_buyer is not None and flow.price is not None:
            self.vm_to_buyer += flow.vm_to_buyer
            self.last_price = flow.price
        if flow.payer is not None and flow.receiver is not None and flow.paid:
            self.vm_posted[flow.payer] = self.vm_posted.get(flow.payer, 0) + flow.paid - from_fund
            self.vm_received[flow.receiver] = self.vm_received.get(flow.receiver, 0) + flow.paid

    def value_to_buyer(self, price: int) -> int:
        """The buyer's gain since the trade began, marked at ``price``: what was settled, plus the
        change from the last settled price, computed as the engine computes it."""
        return self.vm_to_buyer + variation_margin(self.quantity, self.last_price, price, self.market.value_scale)


class _Reporter:
    """Walks the events in chain order and writes the records (see :func:`tr_records`)."""

    def __init__(
        self,
        chain_id: int,
        markets: Sequence[MarketInfo],
        disclosure: Disclosure,
        flows: Mapping[tuple[int, int], Flow],
        window: tuple[int | None, int | None, int | None, int | None],
    ) -> None:
        self.chain_id = chain_id
        self.by_engine = {m.engine.lower(): (index, m) for index, m in enumerate(markets)}
        self.by_oracle = {m.oracle.lower(): m for m in markets}
        self.disclosure = disclosure
        self.flows = flows
        self.report_from, self.report_to, self.from_block, self.to_block = window
        self.trades: dict[tuple[str, int], _Trade] = {}
        self.live: dict[tuple[str, int], _Trade] = {}
        self.prices: dict[str, _Price] = {}  # the latest final round, by market name
        self.rounds: dict[tuple[str, int], _Price] = {}  # every final round, by (market, round id)
        self.records: list[TRRecord] = []

    # ------------------------------------------------------------------ events

    def apply(self, event: LedgerEvent) -> None:
        """Apply one event; write its record when it is a lifecycle event inside the window."""
        address = event.address.lower()
        oracle_market = self.by_oracle.get(address)
        if oracle_market is not None and event.name == ORACLE_EVENT:
            final = _Price(
                event.log.int("roundId"),
                event.log.int("current"),
                event.log.int("updatedAt"),
                event.tx_hash,
                event.block,
                event.log_index,
            )
            self.prices[oracle_market.name] = final
            self.rounds[oracle_market.name, final.round_id] = final
            return
        found = self.by_engine.get(address)
        if found is None or event.name not in ENGINE_EVENTS:
            return
        place, market = found
        log = event.log
        trade_id = log.int("tradeId")
        key = (market.name, trade_id)
        if event.name == "TradeProposed":
            self.trades[key] = _Trade(
                market,
                (place, trade_id),
                trade_id,
                log.address("proposer"),
                log.address("terms.buyer"),
                log.address("terms.seller"),
                log.int("terms.quantity"),
                log.int("terms.contractPrice"),
                log.int("terms.maturity"),
            )
            return
        trade = self.trades.get(key)
        if trade is None:  # its proposal is before the events given: nothing to report it from
            return
        flow = self.flows.get((event.block, event.log_index))
        lifecycle: Lifecycle | None = None
        extra: dict[str, Any] = {}
        price: _Price | None = self.prices.get(market.name)
        if event.name == "TradeConfirmed":
            trade.buyer_im, trade.seller_im = log.int("buyerIm"), log.int("sellerIm")
            trade.last_price = trade.contract_price
            trade.executed_at = event.timestamp
            self.live[key] = trade
            lifecycle = Lifecycle.NEW
        elif event.name == "VariationMarginSettled":
            trade.settled(_expect(flow, event))
        elif event.name == "MarginCallCured":
            if flow is not None:  # a cure of its own; a settlement's is in its VariationMarginSettled
                trade.settled(flow)
        elif event.name == "TradeAmended":
            old_quantity = trade.quantity
            trade.quantity = log.int("quantity")
            trade.maturity = log.int("maturity")
            trade.buyer_im, trade.seller_im = log.int("buyerIm"), log.int("sellerIm")
            lifecycle = Lifecycle.MODIFY
            extra = self._payment(flow, UNWIND if trade.quantity < old_quantity else "")
        elif event.name == "TradeTerminated":
            self._close(key, trade)
            lifecycle = Lifecycle.TERMINATE
            extra = self._payment(flow, UNWIND)
        elif event.name == "DefaultDeclared":
            defaulter, survivor = log.address("defaulter"), log.address("survivor")
            own = log.int("paidFromIm") + log.int("paidFromMargin")
            trade.vm_posted[defaulter] = trade.vm_posted.get(defaulter, 0) + own
            trade.vm_received[survivor] = trade.vm_received.get(survivor, 0) + own + log.int("paidFromFund")
            self._close(key, trade)
            lifecycle = Lifecycle.DEFAULT
            extra = {"defaulting_party": self._party(defaulter)[0], "unpaid_claim": log.int("unpaidClaim")}
        elif event.name == "TradeMatured":
            trade.settled(_expect(flow, event), from_fund=log.int("paidFromFund"))
            self._close(key, trade)
            lifecycle = Lifecycle.MATURITY
            round_id = log.int("roundId")
            # valued at its final price (a later round may be final already); the round's own
            # time when its event was read, else the maturity's
            price = self.rounds.get(
                (market.name, round_id),
                _Price(round_id, trade.last_price, event.timestamp, event.tx_hash, event.block, event.log_index),
            )
            extra = {"unpaid_claim": log.int("unpaidClaim")}
        if lifecycle is not None and self._inside(event):
            self.records.append(self._record(trade, lifecycle, event.timestamp, price, event, extra))

    def _close(self, key: tuple[str, int], trade: _Trade) -> None:
        self.live.pop(key, None)
        trade.buyer_im = trade.seller_im = 0  # every remaining IM is released in the same transaction

    def _payment(self, flow: Flow | None, kind: str) -> dict[str, Any]:
        """The fields of an agreed payment (the books' ``amendment`` or ``termination`` flow)."""
        if flow is None or flow.payer is None or flow.receiver is None or not flow.paid:
            return {}
        return {
            "other_payment_type": kind,
            "other_payment_amount": flow.paid,
            "other_payment_payer": self._party(flow.payer)[0],
            "other_payment_receiver": self._party(flow.receiver)[0],
        }

    def _inside(self, event: LedgerEvent) -> bool:
        return (
            (self.from_block is None or event.block >= self.from_block)
            and (self.to_block is None or event.block <= self.to_block)
            and (self.report_from is None or event.timestamp >= self.report_from)
            and (self.report_to is None or event.timestamp <= self.report_to)
        )

    # ------------------------------------------------------------------ day ends

    def value_live_trades(self, at: int) -> None:
        """A valuation record for every live trade, as of ``at`` (a day end), by market then trade id."""
        for trade in sorted(self.live.values(), key=lambda t: t.order):
            price = self.prices.get(trade.market.name)
            self.records.append(self._record(trade, Lifecycle.VALUATION, at, price, None, {}))

    # ------------------------------------------------------------------ records

    def _party(self, address: str) -> tuple[str, str, str, str]:
        """``(identifier, identifier type, legal name, country)`` of ``address`` for this reader."""
        identity = self.disclosure.identity(address)
        if identity is None:
            return address, ID_ADDRESS, "", ""
        return identity.lei, ID_LEI, identity.legal_name, identity.jurisdiction

    def _record(
        self,
        trade: _Trade,
        lifecycle: Lifecycle,
        at: int,
        price: _Price | None,
        event: LedgerEvent | None,
        extra: Mapping[str, Any],
    ) -> TRRecord:
        market = trade.market
        first = trade.proposer
        second = trade.seller if first == trade.buyer else trade.buyer
        sign = 1 if first == trade.buyer else -1
        one, two = self._party(first), self._party(second)
        action_type, event_type = CODES[lifecycle]
        values: dict[str, Any] = {
            "lifecycle": lifecycle,
            "action_type": action_type,
            "event_type": event_type,
            "uti": uti(self.chain_id, market.engine, trade.trade_id),
            "chain_id": self.chain_id,
            "engine": to_checksum_address(market.engine),
            "market": market.name,
            "trade_id": trade.trade_id,
            "event_timestamp": iso_time(at),
            "counterparty_1": one[0],
            "counterparty_1_id_type": one[1],
            "counterparty_1_address": first,
            "counterparty_1_name": one[2],
            "counterparty_1_country": one[3],
            "counterparty_2": two[0],
            "counterparty_2_id_type": two[1],
            "counterparty_2_address": second,
            "counterparty_2_name": two[2],
            "counterparty_2_country": two[3],
            "direction": BUYER if sign == 1 else SELLER,
            "underlying": market.description,
            "contract_type": CONTRACT_TYPE,
            "delivery_type": DELIVERY_TYPE,
            "quantity": trade.quantity,
            "quantity_decimals": QUANTITY_DECIMALS,
            "price": trade.contract_price,
            "price_decimals": market.price_decimals,
            "notional": trade.quantity * trade.contract_price // market.value_scale,
            "currency": market.currency,
            "cash_decimals": market.cash_decimals,
            "execution_timestamp": iso_time(trade.executed_at),
            "effective_timestamp": iso_time(trade.executed_at),
            "maturity_timestamp": iso_time(trade.maturity),
            "valuation_amount": None if price is None else sign * trade.value_to_buyer(price.price),
            "valuation_price": None if price is None else price.price,
            "valuation_round": None if price is None else price.round_id,
            "valuation_timestamp": "" if price is None else iso_time(price.updated_at),
            "valuation_method": "" if price is None else VALUATION_METHOD,
            "im_posted": trade.buyer_im if sign == 1 else trade.seller_im,
            "im_received": trade.seller_im if sign == 1 else trade.buyer_im,
            "vm_posted": trade.vm_posted.get(first, 0),
            "vm_received": trade.vm_received.get(first, 0),
            "other_payment_type": "",
            "other_payment_amount": None,
            "other_payment_payer": "",
            "other_payment_receiver": "",
            "defaulting_party": "",
            "unpaid_claim": None,
        }
        if event is not None:
            values |= {"tx_hash": event.tx_hash, "block_number": event.block, "log_index": event.log_index}
        elif price is not None:  # a valuation: the price's own event is where it comes from
            values |= {"tx_hash": price.tx_hash, "block_number": price.block, "log_index": price.log_index}
        else:
            values |= {"tx_hash": "", "block_number": None, "log_index": None}
        values |= extra
        return TRRecord(**values)


def _expect(flow: Flow | None, event: LedgerEvent) -> Flow:
    """The books' flow of a settlement or a maturity (every one has one)."""
    if flow is None:
        raise InputError(
            f"{event.name} of trade {event.log.int('tradeId')} (block {event.block}, log {event.log_index}) is not in"
            " the replay given: pass the replay of these events"
        )
    return flow


def tr_records(
    events: Sequence[LedgerEvent],
    *,
    chain_id: int,
    markets: Sequence[MarketInfo],
    disclosure: Disclosure | None = None,
    report_from: int | None = None,
    report_to: int | None = None,
    from_block: int | None = None,
    to_block: int | None = None,
    as_of: int | None = None,
    replayed: Replay | None = None,
) -> list[TRRecord]:
    """The trade-repository records of the trades of ``markets`` (see the module's docstring).

    Args:
        events: Every event of the markets' engines and oracles from their deployment on, in chain
            order (earlier events are needed even for a later window: margins are cumulative and
            the terms come from the proposal); other contracts' events are ignored, so a ledger's
            whole list will do.
        chain_id: The chain's id (part of every UTI).
        markets: The markets to report.
        disclosure: The identities this reader may see (``None``: addresses only).
        report_from: First second of the window (Unix, inclusive; ``None``: from the beginning).
        report_to: Last second of the window (inclusive; ``None``: up to ``as_of``).
        from_block: First block whose lifecycle events are reported (``None``: no bound).
        to_block: Last block whose lifecycle events are reported.
        as_of: The time the events are complete up to (the head block's time); a day end after it
            has not happened yet. ``None``: the last event's time.
        replayed: The books' :func:`~dfmi_py.books.replay.replay` of these events (or of more),
            when the caller has it already (:meth:`dfmi_py.books.Books.state`); ``None``: the
            markets' engine events are replayed here.

    Returns:
        Records in chain order; at each day end, the valuations of the trades then live, by market
        (in the order of ``markets``) then trade id.

    Raises:
        InputError: the window ends before it starts, or ``replayed`` lacks a settlement of
            ``events``.
    """
    if report_from is not None and report_to is not None and report_from > report_to:
        raise InputError(f"the report window ends ({iso_time(report_to)}) before it starts ({iso_time(report_from)})")
    if from_block is not None and to_block is not None and from_block > to_block:
        raise InputError(f"the report window ends at block {to_block}, before its first block {from_block}")
    ordered = sorted(events, key=lambda e: (e.block, e.log_index))
    if replayed is None:
        engines = {m.engine.lower() for m in markets}
        replayed = replay([e for e in ordered if e.address.lower() in engines])
    flows = {(f.block, f.log_index): f for book in replayed.markets.values() for f in book.flows}
    reporter = _Reporter(
        chain_id, markets, disclosure or Disclosure(), flows, (report_from, report_to, from_block, to_block)
    )
    horizon = as_of if as_of is not None else (ordered[-1].timestamp if ordered else 0)
    last = horizon if report_to is None else min(horizon, report_to)
    next_end = None if report_from is None else day_end(report_from)
    for event in ordered:
        while next_end is not None and next_end < event.timestamp and next_end <= last:
            reporter.value_live_trades(next_end)
            next_end += DAY
        reporter.apply(event)
        if next_end is None and reporter.live:
            next_end = day_end(event.timestamp)
    while next_end is not None and next_end <= last:
        reporter.value_live_trades(next_end)
        next_end += DAY
    return reporter.records


# ---------------------------------------------------------------------- files


def _kinds() -> dict[str, str]:
    """Each field's kind: ``int``, ``int?`` (an int or None), ``str`` or ``lifecycle``."""
    kinds: dict[str, str] = {}
    for name, hint in get_type_hints(TRRecord).items():
        if hint is Lifecycle:
            kinds[name] = "lifecycle"
        elif hint is int:
            kinds[name] = "int"
        elif hint is str:
            kinds[name] = "str"
        elif isinstance(hint, UnionType) and set(get_args(hint)) == {int, NoneType}:
            kinds[name] = "int?"
        else:  # a field of a new type must be taught to the files first
            raise TypeError(f"TRRecord.{name}: no file format for {hint}")
    return kinds


_KINDS = _kinds()
#: How an integer is written in a CSV cell (``int()`` alone would also take ``" 1"`` or ``"1_0"``).
_INTEGER = re.compile(r"-?[0-9]+")


def _parse(name: str, value: Any, where: str) -> Any:
    """``value`` of field ``name`` as read from a file (text in CSV, JSON values in JSON)."""
    kind = _KINDS[name]
    try:
        if kind == "lifecycle":
            return Lifecycle(value)
        if kind == "str":
            if not isinstance(value, str):
                raise TypeError
            return value
        if value is None or (kind == "int?" and value == ""):
            if kind == "int?":
                return None
            raise TypeError
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise TypeError
        if isinstance(value, str) and not _INTEGER.fullmatch(value):
            raise ValueError
        return int(value)
    except (TypeError, ValueError):
        raise InputError(f"{where}: {name} = {value!r} is not a valid {kind.rstrip('?')}") from None


def _csv_text(record: TRRecord, name: str) -> str:
    value = getattr(record, name)
    return "" if value is None else str(value)


def to_csv(records: Iterable[TRRecord]) -> str:
    """The records as CSV text: a header of the field names, then one line per record; ``None`` is
    an empty cell, integers are written in full."""
    out = io.StringIO()
    writer = csv.writer(out)  # RFC 4180 line ends: a cell holding \r or \n is quoted
    writer.writerow(FIELDS)
    for record in records:
        writer.writerow([_csv_text(record, name) for name in FIELDS])
    return out.getvalue()


def from_csv(text: str, source: str = "CSV") -> list[TRRecord]:
    """The records of CSV text written by :func:`to_csv`.

    Raises:
        InputError: not such a file (other columns, a value of the wrong kind).
    """
    rows = csv.reader(io.StringIO(text, newline=""))
    header = next(rows, None)
    if header is None or tuple(header) != FIELDS:
        raise InputError(f"{source}: not a trade-repository export (its header is not the {len(FIELDS)} fields)")
    records = []
    for line, row in enumerate(rows, start=2):
        if len(row) != len(FIELDS):
            raise InputError(f"{source}, line {line}: {len(row)} values for {len(FIELDS)} fields")
        where = f"{source}, line {line}"
        records.append(TRRecord(**{name: _parse(name, value, where) for name, value in zip(FIELDS, row, strict=True)}))
    return records


def to_json(records: Iterable[TRRecord]) -> str:
    """The records as a JSON array of objects, one per line; integers are JSON integers, written in
    full (a reader limited to 53-bit numbers must read them as big integers), ``None`` is ``null``."""
    lines = [json.dumps({name: getattr(r, name) for name in FIELDS}, ensure_ascii=False) for r in records]
    return "[\n" + ",\n".join(lines) + "\n]\n" if lines else "[]\n"


def from_json(text: str, source: str = "JSON") -> list[TRRecord]:
    """The records of JSON text written by :func:`to_json`.

    Raises:
        InputError: not such a document.
    """
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InputError(f"{source}: not JSON ({exc})") from None
    if not isinstance(data, list):
        raise InputError(f"{source}: not a trade-repository export (a JSON array of records)")
    records = []
    for index, item in enumerate(data):
        where = f"{source}, record {index}"
        if not isinstance(item, dict) or set(item) != set(FIELDS):
            raise InputError(f"{where}: not a record (its keys are not the {len(FIELDS)} fields)")
        records.append(TRRecord(**{name: _parse(name, item[name], where) for name in FIELDS}))
    return records


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all (a temporary file beside it, then renamed).

    Raises:
        InputError: the file cannot be written there; nothing is left behind.
    """
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None


def write_csv(records: Iterable[TRRecord], path: str | os.PathLike[str]) -> None:
    """Write the records to a CSV file (see :func:`to_csv`), whole or not at all."""
    _write_atomic(Path(path), to_csv(records))


def read_csv(path: str | os.PathLike[str]) -> list[TRRecord]:
    """The records of a CSV file written by :func:`write_csv`."""
    return from_csv(_read(Path(path)), str(path))


def write_json(records: Iterable[TRRecord], path: str | os.PathLike[str]) -> None:
    """Write the records to a JSON file (see :func:`to_json`), whole or not at all."""
    _write_atomic(Path(path), to_json(records))


def read_json(path: str | os.PathLike[str]) -> list[TRRecord]:
    """The records of a JSON file written by :func:`write_json`."""
    return from_json(_read(Path(path)), str(path))
