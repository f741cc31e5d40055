"""The trade-repository export: hand-computed records from a known price path, every lifecycle on a
chain, the report window, identities with and without a disclosure, exact CSV and JSON round trips,
and ``dfmi report tr`` with its refusals.

The hand vectors are built from events encoded here with eth_abi against the engine's and the
oracle's real ABIs; every expected amount is worked out from the specification (``value(p) =
quantity * p // 10**20`` with 8 price and 6 cash decimals), never read from the code under test.
The chain scenario is read by the books' ``Ledger``, and ``dfmi report tr`` runs against identities
recorded as the demo records them, opened by the regulator's key, an account's key and a stranger's.
"""

from __future__ import annotations

import csv
import inspect
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st
from web3 import Web3

from dfmi_py.api import Market, Terms, TradeState
from dfmi_py.books.ledger import Ledger, LedgerEvent
from dfmi_py.books.replay import replay
from dfmi_py.books.tr import (
    FIELDS,
    Lifecycle,
    MarketInfo,
    TRRecord,
    from_csv,
    from_json,
    read_csv,
    read_json,
    to_csv,
    to_json,
    tr_records,
    uti,
    write_csv,
    write_json,
)
from dfmi_py.build import compile_contracts
from dfmi_py.chain import Chain, dev_account
from dfmi_py.chain.events import EventLog, EventSpec, event_specs
from dfmi_py.cli.main import cli
from dfmi_py.errors import InputError
from dfmi_py.identity.disclosure import Disclosure, Identity, disclosure_from
from dfmi_py.identity.keys import dev_disclosure_key
from dfmi_py.scenarios.demo import MEMBER_IDENTITIES, member_accounts, record_identities
from tests.helpers import examples

#: Round trips on generated records; more with ``DFMI_TR_EXAMPLES=1000`` (outside the default budget).
TR_EXAMPLES = examples(40, "DFMI_TR_EXAMPLES")

USD = 10**6
PX = 10**8
UNIT = 10**18
ALICE, BOB, CAROL, DAN, ERIN = (dev_account(i).address for i in (7, 8, 9, 10, 11))
ENGINE = Web3.to_checksum_address("0x" + "e1" * 20)
ORACLE = Web3.to_checksum_address("0x" + "0c" * 20)
CHAIN_ID = 31337
#: Valid LEIs (ISO 17442: their check digits verify under ISO 7064 MOD 97-10), made up but for Alice's.
ALICE_LEI, DAN_LEI = "5299000J2N45DDNE4Y28", "DFMI00DAN0TRADING075"
ACME = MarketInfo("ACME", "ACME / USD", ENGINE, ORACLE, price_decimals=8, cash_decimals=6, currency="DSD")
#: Monday 5 January 2026, 00:00:00 UTC: day D of the hand scenario.
DAY0 = int(datetime(2026, 1, 5, tzinfo=UTC).timestamp())
HOUR = 3600
DAY = 86_400


def at(day: int, hour: int, minute: int = 0) -> int:
    return DAY0 + day * DAY + hour * HOUR + minute * 60


def end_of(day: int) -> str:
    return datetime.fromtimestamp(DAY0 + day * DAY + DAY - 1, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------- events encoded by hand


@cache
def _specs() -> dict[str, tuple[bytes, EventSpec]]:
    """``event name -> (topic0, spec)`` from the compiled engine's and oracle's ABIs."""
    artifacts = compile_contracts()
    w3 = Web3()
    engine = w3.eth.contract(abi=artifacts["DerivativeEngine"].abi)
    oracle = w3.eth.contract(abi=artifacts["PriceOracle"].abi)
    names = (
        "TradeProposed",
        "TradeCancelled",
        "TradeConfirmed",
        "VariationMarginSettled",
        "MarginCalled",
        "MarginCallCured",
        "DefaultDeclared",
        "TradeAmended",
        "TradeTerminated",
        "TradeMatured",
        "InitialMarginReleased",
    )
    specs = {**event_specs(engine, names), **event_specs(oracle, ("AnswerUpdated",))}
    return {spec.name: (topic, spec) for topic, spec in specs.items()}


class Chainlog:
    """Writes events as a chain would: one block per call (unless ``same_tx``), log indices in order,
    each raw log in the shape the ledger's ``fetch_logs`` gives."""

    def __init__(self) -> None:
        self.events: list[LedgerEvent] = []
        self.block = 100

    def emit(
        self, name: str, when: int, *, same_tx: bool = False, market: MarketInfo = ACME, **args: Any
    ) -> LedgerEvent:
        topic0, spec = _specs()[name]
        if name == "AnswerUpdated":
            address, contract = market.oracle, f"PriceOracle@{market.name}"
        else:
            address, contract = market.engine, f"DerivativeEngine@{market.name}"
        if same_tx:
            previous = self.events[-1]
            block, tx_hash, log_index = previous.block, previous.tx_hash, previous.log_index + 1
        else:
            self.block += 1
            block, tx_hash, log_index = self.block, "0x" + keccak(text=f"tx{self.block}").hex(), 0
        topics = [topic0] + [abi_encode([kind], [args[field]]) for field, kind in spec.indexed]
        data = abi_encode(list(spec.data_types), [args[field] for field in spec.data_names])
        block_hash = "0x" + keccak(text=f"block{block}").hex()
        raw = {
            "address": address.lower(),
            "topics": topics,
            "data": data,
            "blockNumber": block,
            "logIndex": log_index,
            "transactionIndex": 0,
            "blockHash": block_hash,
            "transactionHash": tx_hash,
        }
        event = LedgerEvent(contract, address, name, block, block_hash, log_index, tx_hash, when, EventLog(spec, raw))
        self.events.append(event)
        return event

    def price(self, when: int, round_id: int, price: int, market: MarketInfo = ACME) -> LedgerEvent:
        return self.emit("AnswerUpdated", when, market=market, current=price, roundId=round_id, updatedAt=when)

    def open(
        self, when: int, trade_id: int, proposer: str, buyer: str, seller: str, quantity: int, price: int, im: int,
        maturity: int, market: MarketInfo = ACME,
    ) -> LedgerEvent:  # fmt: skip
        terms = (buyer, seller, quantity, price, maturity, im, im, bytes(32))
        self.emit(
            "TradeProposed", when - 60, market=market, tradeId=trade_id, proposer=proposer, termsHash=bytes(32),
            terms=terms,
        )  # fmt: skip
        return self.emit(
            "TradeConfirmed", when, market=market, tradeId=trade_id, buyer=buyer, seller=seller, buyerIm=im, sellerIm=im
        )

    def settled(self, when: int, trade_id: int, round_id: int, price: int, vm: int, payer: str, paid: int, owed: int,
                *, same_tx: bool = False) -> LedgerEvent:  # fmt: skip
        """A settlement; one the payer cannot pay calls margin first, in the same transaction."""
        if owed:
            self.emit(
                "MarginCalled", when, same_tx=same_tx, tradeId=trade_id, debtor=payer, amount=owed,
                cureDeadline=when + DAY,
            )  # fmt: skip
            same_tx = True
        return self.emit(
            "VariationMarginSettled", when, same_tx=same_tx, tradeId=trade_id, roundId=round_id, price=price,
            vmToBuyer=vm, payer=payer, paid=paid, owed=owed,
        )  # fmt: skip

    def released(self, when: int, trade_id: int, *amounts: tuple[str, int], same_tx: bool = True) -> None:
        """``InitialMarginReleased`` of each ``(party, amount)`` (after a close, in its transaction)."""
        for party, amount in amounts:
            self.emit("InitialMarginReleased", when, same_tx=same_tx, tradeId=trade_id, party=party, amount=amount)
            same_tx = True


def hand_scenario() -> Chainlog:
    """Three trades on a known price path over four days (see the expected records below).

    - T1: Alice buys 10 from Bob at 2,000, IM 1,000 each; a margin call cured by ``cure``, a
      settlement that pays off the next margin call (its cure is inside the settlement), an
      amendment to 5 with Bob paying Alice 100, then maturity at 2,200.
    - T2: Carol (proposer) sells 1 to Dan at 2,000, IM 200 each; terminated early, Dan paying 50.
    - T3: Dan buys 2 from Erin at 2,000, IM 300 each; a margin call, then the default: Dan's IM
      pays 300, the fund 100.
    - T4: proposed and cancelled: never a trade.
    """
    log = Chainlog()
    maturity = at(3, 8)
    log.price(at(0, 10), 1, 2000 * PX)
    log.open(at(0, 10, 6), 1, ALICE, ALICE, BOB, 10 * UNIT, 2000 * PX, 1000 * USD, maturity)
    log.price(at(0, 12), 2, 2100 * PX)
    log.settled(at(0, 12, 1), 1, 2, 2100 * PX, 1000 * USD, BOB, 1000 * USD, 0)
    log.open(at(0, 13), 2, CAROL, DAN, CAROL, 1 * UNIT, 2000 * PX, 200 * USD, maturity)
    terms4 = (ALICE, BOB, UNIT, 2000 * PX, maturity, 0, 0, bytes(32))
    log.emit("TradeProposed", at(0, 14), tradeId=4, proposer=ALICE, termsHash=bytes(32), terms=terms4)
    log.emit("TradeCancelled", at(0, 15), tradeId=4, by=ALICE)
    # day 1: 1,950 with Alice unable to pay 1,500; she cures; Dan opens T3; 1,900 unsettled; T2 ends
    log.price(at(1, 9), 3, 1950 * PX)
    log.settled(at(1, 9, 1), 1, 3, 1950 * PX, -1500 * USD, ALICE, 0, 1500 * USD)
    log.open(at(1, 9, 30), 3, DAN, DAN, ERIN, 2 * UNIT, 2000 * PX, 300 * USD, maturity)
    log.emit("MarginCallCured", at(1, 10), tradeId=1, debtor=ALICE, amount=1500 * USD)
    log.price(at(1, 11), 4, 1900 * PX)
    log.emit("TradeTerminated", at(1, 12), tradeId=2, nonce=1, payment=50 * USD)
    log.released(at(1, 12), 2, (DAN, 200 * USD), (CAROL, 200 * USD))
    # day 2: 1,800 (Alice and Dan cannot pay), 2,000 (Bob pays the net 500 to Alice), Dan defaults
    log.price(at(2, 9), 5, 1800 * PX)
    log.settled(at(2, 9, 1), 1, 5, 1800 * PX, -1500 * USD, ALICE, 0, 1500 * USD)
    log.settled(at(2, 9, 2), 3, 5, 1800 * PX, -400 * USD, DAN, 0, 400 * USD)
    log.price(at(2, 10), 6, 2000 * PX)
    log.emit("MarginCallCured", at(2, 10, 1), tradeId=1, debtor=ALICE, amount=500 * USD)
    log.settled(at(2, 10, 1), 1, 6, 2000 * PX, 2000 * USD, BOB, 500 * USD, 0, same_tx=True)
    log.emit(
        "DefaultDeclared", at(2, 11, 30), tradeId=3, defaulter=DAN, survivor=ERIN, loss=400 * USD,
        paidFromIm=300 * USD, paidFromMargin=0, paidFromFund=100 * USD, unpaidClaim=0,
    )  # fmt: skip
    log.released(at(2, 11, 30), 3, (ERIN, 300 * USD))  # Erin's own IM back (Dan's paid her)
    # the amendment shrinks both IMs (released before its event, in its transaction)
    log.released(at(2, 12), 1, (ALICE, 400 * USD), (BOB, 400 * USD), same_tx=False)
    log.emit(
        "TradeAmended", at(2, 12), same_tx=True, tradeId=1, nonce=0, quantity=5 * UNIT, maturity=maturity,
        buyerIm=600 * USD, sellerIm=600 * USD, payment=-100 * USD,
    )  # fmt: skip
    # day 3: maturity at 2,200; Bob pays 5 x 200 = 1,000
    log.price(at(3, 8), 7, 2200 * PX)
    log.emit(
        "TradeMatured", at(3, 8, 5), tradeId=1, roundId=7, price=2200 * PX, vmToBuyer=1000 * USD, paidFromFund=0,
        unpaidClaim=0,
    )  # fmt: skip
    log.released(at(3, 8, 5), 1, (ALICE, 600 * USD), (BOB, 600 * USD))
    return log


#: ``(lifecycle, trade, event time, valuation, IM posted, IM received, VM posted, VM received)`` of
#: the hand scenario, each amount from counterparty 1's side, worked out by hand.
EXPECTED = [
    (Lifecycle.NEW, 1, iso(at(0, 10, 6)), 0, 1000, 1000, 0, 0),
    (Lifecycle.NEW, 2, iso(at(0, 13)), -100, 200, 200, 0, 0),  # Carol sold at 2,000, the price is 2,100
    (Lifecycle.VALUATION, 1, end_of(0), 1000, 1000, 1000, 0, 1000),
    (Lifecycle.VALUATION, 2, end_of(0), -100, 200, 200, 0, 0),  # never settled: value, no flow
    (Lifecycle.NEW, 3, iso(at(1, 9, 30)), -100, 300, 300, 0, 0),  # 2 x (1,950 - 2,000)
    (Lifecycle.TERMINATE, 2, iso(at(1, 12)), 100, 0, 0, 0, 0),  # at 1,900, for the seller
    (Lifecycle.VALUATION, 1, end_of(1), -1000, 1000, 1000, 1500, 1000),  # 10 x (1,900 - 2,000)
    (Lifecycle.VALUATION, 3, end_of(1), -200, 300, 300, 0, 0),
    (Lifecycle.DEFAULT, 3, iso(at(2, 11, 30)), 0, 0, 0, 300, 0),  # -400 settled + 2 x (2,000 - 1,800)
    (Lifecycle.MODIFY, 1, iso(at(2, 12)), 0, 600, 600, 1500, 1500),
    (Lifecycle.VALUATION, 1, end_of(2), 0, 600, 600, 1500, 1500),
    (Lifecycle.MATURITY, 1, iso(at(3, 8, 5)), 1000, 0, 0, 1500, 2500),
]


def summary(record: TRRecord) -> tuple[Any, ...]:
    r = record
    amounts = (r.valuation_amount, r.im_posted, r.im_received, r.vm_posted, r.vm_received)
    return (r.lifecycle, r.trade_id, r.event_timestamp, *(None if v is None else v // USD for v in amounts))


def hand_records(**window: Any) -> list[TRRecord]:
    log = hand_scenario()
    return tr_records(log.events, chain_id=CHAIN_ID, markets=[ACME], as_of=at(4, 0), **window)


# ---------------------------------------------------------------------- hand vectors


def test_uti_of_a_known_chain_engine_and_trade() -> None:
    # keccak256 of the 32-byte chain id and the address left-padded to 32 bytes, computed apart
    digest = keccak((31337).to_bytes(32, "big") + bytes(12) + bytes.fromhex("e1" * 20))
    assert uti(31337, ENGINE, 42) == "DFMI" + digest.hex()[:16].upper() + "42"
    assert uti(31337, ENGINE, 42) == "DFMIEA555D73914295AF42"
    assert uti(1, ENGINE, 42) != uti(31337, ENGINE, 42)
    assert uti(31337, ORACLE, 42) != uti(31337, ENGINE, 42)
    longest = uti(31337, ENGINE, 10**32 - 1)
    assert len(longest) == 52
    assert longest.isalnum()
    assert longest == longest.upper()
    with pytest.raises(InputError, match="does not fit a UTI"):
        uti(31337, ENGINE, 10**32)


def test_the_records_of_a_known_price_path() -> None:
    records = hand_records()
    assert [summary(r) for r in records] == EXPECTED
    assert 4 not in {r.trade_id for r in records}, "a cancelled proposal is never reported"


def test_a_new_trade_record_carries_the_terms_and_the_codes() -> None:
    new = hand_records()[0]
    assert (new.action_type, new.event_type, new.direction) == ("NEWT", "TRAD", "BYER")
    assert new.uti == uti(CHAIN_ID, ENGINE, 1)
    assert (new.counterparty_1, new.counterparty_1_id_type, new.counterparty_2) == (ALICE, "ADDRESS", BOB)
    assert (new.quantity, new.quantity_decimals, new.price, new.price_decimals) == (10 * UNIT, 18, 2000 * PX, 8)
    assert (new.notional, new.currency, new.cash_decimals) == (20_000 * USD, "DSD", 6)  # 10 x 2,000
    assert (new.contract_type, new.delivery_type, new.underlying, new.market) == ("FORW", "CASH", "ACME / USD", "ACME")
    assert new.execution_timestamp == new.effective_timestamp == iso(at(0, 10, 6))
    assert new.maturity_timestamp == iso(at(3, 8))
    assert (new.valuation_price, new.valuation_round, new.valuation_method) == (2000 * PX, 1, "MTMA")
    assert new.valuation_timestamp == iso(at(0, 10))
    assert (new.block_number, new.log_index) == (102 + 1, 0)  # the confirmation's block (its proposal is 102)


def test_a_seller_proposer_is_counterparty_1_with_the_seller_direction() -> None:
    t2 = [r for r in hand_records() if r.trade_id == 2]
    assert {(r.counterparty_1, r.counterparty_2, r.direction) for r in t2} == {(CAROL, DAN, "SLLR")}
    terminated = t2[-1]
    assert (terminated.action_type, terminated.event_type) == ("TERM", "ETRM")
    # the agreed payment: Dan (buyer) pays Carol 50 to end it
    assert (terminated.other_payment_type, terminated.other_payment_amount) == ("UWIN", 50 * USD)
    assert (terminated.other_payment_payer, terminated.other_payment_receiver) == (DAN, CAROL)


def test_amendment_default_and_maturity_records() -> None:
    records = hand_records()
    modify = next(r for r in records if r.lifecycle is Lifecycle.MODIFY)
    assert (modify.action_type, modify.event_type, modify.quantity, modify.notional) == (
        "MODI",
        "TRAD",
        5 * UNIT,
        10_000 * USD,
    )
    # a lower quantity: the payment is a partial unwind, Bob paying Alice 100
    assert (modify.other_payment_type, modify.other_payment_amount) == ("UWIN", 100 * USD)
    assert (modify.other_payment_payer, modify.other_payment_receiver) == (BOB, ALICE)
    default = next(r for r in records if r.lifecycle is Lifecycle.DEFAULT)
    assert (default.action_type, default.event_type, default.defaulting_party, default.unpaid_claim) == (
        "TERM",
        "ETRM",
        DAN,
        0,
    )
    maturity = records[-1]
    # no report under either regime for a trade that ends at its contractual maturity
    assert (maturity.lifecycle, maturity.action_type, maturity.event_type) == (Lifecycle.MATURITY, "", "")
    assert (maturity.valuation_price, maturity.valuation_round, maturity.unpaid_claim) == (2200 * PX, 7, 0)
    assert (default.counterparty_1, default.counterparty_2) == (DAN, ERIN)


def test_valuation_records_name_the_price_they_use() -> None:
    day1 = [r for r in hand_records() if r.lifecycle is Lifecycle.VALUATION and r.event_timestamp == end_of(1)]
    assert {(r.trade_id, r.valuation_price, r.valuation_round) for r in day1} == {(1, 1900 * PX, 4), (3, 1900 * PX, 4)}
    assert {(r.action_type, r.event_type) for r in day1} == {("VALU", "")}
    # where the price comes from: round 4's AnswerUpdated (block 112 of the hand chain)
    price_event = next(e for e in hand_scenario().events if e.name == "AnswerUpdated" and e.log.int("roundId") == 4)
    assert {(r.tx_hash, r.block_number, r.log_index) for r in day1} == {
        (price_event.tx_hash, price_event.block, price_event.log_index)
    }


def test_a_day_end_the_chain_has_not_reached_is_not_valued() -> None:
    log = hand_scenario()
    early = tr_records(log.events[:8], chain_id=CHAIN_ID, markets=[ACME], as_of=at(0, 23))
    assert [r.lifecycle for r in early] == [Lifecycle.NEW, Lifecycle.NEW]


def test_a_maturity_pays_the_open_margin_call_and_the_fund_what_collateral_cannot() -> None:
    """T1: Alice (proposer) buys 10 from Bob at 2,000, IM 1,000 each; T2 the same trade proposed by Bob;
    T3: Carol buys 1 from Dan, IM 200. At 1,900 Alice and Carol cannot pay (1,000 and 100 owed).
    Maturity at 1,850: Alice owes 1,000 + 500 and pays nothing: her IM pays 1,000, the fund 300,
    200 stay unpaid; Carol pays her 100 + 50 in full."""
    log = Chainlog()
    maturity = at(1, 12)
    log.price(at(0, 9), 1, 2000 * PX)
    log.open(at(0, 10), 1, ALICE, ALICE, BOB, 10 * UNIT, 2000 * PX, 1000 * USD, maturity)
    log.open(at(0, 10, 1), 2, BOB, ALICE, BOB, 10 * UNIT, 2000 * PX, 1000 * USD, maturity)
    log.open(at(0, 10, 2), 3, CAROL, CAROL, DAN, 1 * UNIT, 2000 * PX, 200 * USD, maturity)
    log.price(at(0, 12), 2, 1900 * PX)
    for trade_id, vm, owed in ((1, -1000, 1000), (2, -1000, 1000), (3, -100, 100)):
        log.settled(at(0, 12, trade_id), trade_id, 2, 1900 * PX, vm * USD, ALICE if trade_id < 3 else CAROL, 0,
                    owed * USD)  # fmt: skip
    log.price(at(1, 12), 3, 1850 * PX)
    for trade_id in (1, 2):
        log.emit(
            "TradeMatured", at(1, 12, 5), tradeId=trade_id, roundId=3, price=1850 * PX, vmToBuyer=-500 * USD,
            paidFromFund=300 * USD, unpaidClaim=200 * USD,
        )  # fmt: skip
        log.released(at(1, 12, 5), trade_id, (BOB, 1000 * USD))  # Alice's IM paid Bob
    log.emit(
        "TradeMatured", at(1, 12, 6), tradeId=3, roundId=3, price=1850 * PX, vmToBuyer=-50 * USD, paidFromFund=0,
        unpaidClaim=0,
    )  # fmt: skip
    log.released(at(1, 12, 6), 3, (CAROL, 200 * USD), (DAN, 200 * USD))
    records = tr_records(log.events, chain_id=CHAIN_ID, markets=[ACME], as_of=at(2, 0))
    assert [summary(r) for r in records] == [
        (Lifecycle.NEW, 1, iso(at(0, 10)), 0, 1000, 1000, 0, 0),
        (Lifecycle.NEW, 2, iso(at(0, 10, 1)), 0, 1000, 1000, 0, 0),  # Bob's side: the seller's
        (Lifecycle.NEW, 3, iso(at(0, 10, 2)), 0, 200, 200, 0, 0),
        (Lifecycle.VALUATION, 1, end_of(0), -1000, 1000, 1000, 0, 0),  # owed, not paid: no flow
        (Lifecycle.VALUATION, 2, end_of(0), 1000, 1000, 1000, 0, 0),
        (Lifecycle.VALUATION, 3, end_of(0), -100, 200, 200, 0, 0),
        (Lifecycle.MATURITY, 1, iso(at(1, 12, 5)), -1500, 0, 0, 1000, 0),  # her IM paid; the fund is not hers
        (Lifecycle.MATURITY, 2, iso(at(1, 12, 5)), 1500, 0, 0, 0, 1300),  # Bob got IM 1,000 and fund 300
        (Lifecycle.MATURITY, 3, iso(at(1, 12, 6)), -150, 0, 0, 150, 0),  # the debt paid with the final VM
    ]
    assert [r.unpaid_claim for r in records if r.lifecycle is Lifecycle.MATURITY] == [200 * USD, 200 * USD, 0]


def test_valuations_come_by_market_in_the_order_given_then_by_trade() -> None:
    gold = MarketInfo("GOLD", "XAU / USD", "0x" + "e2" * 20, "0x" + "0d" * 20, 8, 6, "DSD")
    log = Chainlog()
    maturity = at(5, 0)
    log.price(at(0, 9), 1, 2000 * PX)
    log.price(at(0, 9), 1, 2500 * PX, market=gold)
    log.open(at(0, 10), 1, ALICE, ALICE, BOB, UNIT, 2500 * PX, 100 * USD, maturity, market=gold)
    log.open(at(0, 11), 1, CAROL, CAROL, DAN, UNIT, 2000 * PX, 100 * USD, maturity)
    log.open(at(0, 12), 2, ERIN, BOB, ERIN, UNIT, 2500 * PX, 100 * USD, maturity, market=gold)
    for markets, expected in (
        ([ACME, gold], [("ACME", 1), ("GOLD", 1), ("GOLD", 2)]),
        ([gold, ACME], [("GOLD", 1), ("GOLD", 2), ("ACME", 1)]),
    ):
        records = tr_records(log.events, chain_id=CHAIN_ID, markets=markets, as_of=at(1, 0))
        assert [(r.market, r.trade_id) for r in records if r.lifecycle is Lifecycle.NEW] == [
            ("GOLD", 1), ("ACME", 1), ("GOLD", 2),
        ]  # fmt: skip
        assert [(r.market, r.trade_id) for r in records if r.lifecycle is Lifecycle.VALUATION] == expected
    only_gold = tr_records(log.events, chain_id=CHAIN_ID, markets=[gold], as_of=at(1, 0))
    assert {r.market for r in only_gold} == {"GOLD"}
    assert {r.uti for r in only_gold if r.trade_id == 1} == {uti(CHAIN_ID, gold.engine, 1)}


def test_the_payments_come_from_the_books_replay() -> None:
    log = hand_scenario()
    assert hand_records() == tr_records(
        log.events, chain_id=CHAIN_ID, markets=[ACME], as_of=at(4, 0), replayed=replay(log.events)
    )
    with pytest.raises(
        InputError, match=r"VariationMarginSettled of trade 1 \(block 105, log 0\) is not in the replay"
    ):
        tr_records(log.events, chain_id=CHAIN_ID, markets=[ACME], as_of=at(4, 0), replayed=replay([]))


# ---------------------------------------------------------------------- the report window


def test_every_field_is_documented() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "trade-repository.md").read_text()
    doc = text.split("## Every field", 1)[1].split("\n### ", 1)[0]
    documented = re.findall(r"^\| `([a-z0-9_]+)` \|", doc, flags=re.MULTILINE)
    assert documented == list(FIELDS)


def test_the_window_keeps_its_records_with_margins_cumulated_from_the_start() -> None:
    everything = hand_records()
    window = hand_records(report_from=at(1, 0), report_to=at(2, 23, 59) + 59)
    assert window == [r for r in everything if at(1, 0) <= _time(r.event_timestamp) < at(3, 0)]
    assert [summary(r) for r in window] == EXPECTED[4:11]
    by_block = hand_records(from_block=112, to_block=116)
    assert {r.block_number for r in by_block if r.lifecycle is not Lifecycle.VALUATION} <= set(range(112, 117))
    assert [r for r in by_block if r.lifecycle is not Lifecycle.VALUATION] == [
        r for r in everything if r.lifecycle is not Lifecycle.VALUATION and 112 <= (r.block_number or 0) <= 116
    ]


def test_a_window_the_wrong_way_round_is_refused() -> None:
    with pytest.raises(InputError, match=r"ends \(.*\) before it starts"):
        hand_records(report_from=at(2, 0), report_to=at(1, 0))
    with pytest.raises(InputError, match="before its first block"):
        hand_records(from_block=120, to_block=110)


def _time(text: str) -> int:
    return int(datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp())


# ---------------------------------------------------------------------- identities


def test_identities_are_shown_only_where_the_disclosure_opens_them() -> None:
    disclosure = Disclosure(
        {
            ALICE: Identity("Alice Bank AG", ALICE_LEI, "DE"),
            DAN: Identity("Dan Trading Ltd", DAN_LEI, "GB"),
        },
        "identities shown: 2 of 5 accounts",
    )
    shown = tr_records(hand_scenario().events, chain_id=CHAIN_ID, markets=[ACME], disclosure=disclosure, as_of=at(4, 0))
    t1 = shown[0]
    assert (t1.counterparty_1, t1.counterparty_1_id_type, t1.counterparty_1_address) == (ALICE_LEI, "LEI", ALICE)
    assert (t1.counterparty_1_name, t1.counterparty_1_country) == ("Alice Bank AG", "DE")
    assert (t1.counterparty_2, t1.counterparty_2_id_type, t1.counterparty_2_name) == (BOB, "ADDRESS", "")
    t3 = next(r for r in shown if r.trade_id == 3)
    assert (t3.counterparty_1, t3.counterparty_1_id_type, t3.counterparty_1_name) == (DAN_LEI, "LEI", "Dan Trading Ltd")
    assert (t3.counterparty_2, t3.counterparty_2_id_type, t3.counterparty_2_country) == (ERIN, "ADDRESS", "")
    modify = next(r for r in shown if r.lifecycle is Lifecycle.MODIFY)
    assert (modify.other_payment_payer, modify.other_payment_receiver) == (BOB, ALICE_LEI)
    default = next(r for r in shown if r.lifecycle is Lifecycle.DEFAULT)
    assert default.defaulting_party == DAN_LEI
    hidden = hand_records()
    assert all(r.counterparty_1_id_type == r.counterparty_2_id_type == "ADDRESS" for r in hidden)
    assert not any(r.counterparty_1_name or r.counterparty_2_name or r.counterparty_2_country for r in hidden)
    # and the records are the same otherwise
    address = {ALICE_LEI: ALICE, DAN_LEI: DAN}
    assert [
        replace(
            r,
            counterparty_1=r.counterparty_1_address,
            counterparty_2=r.counterparty_2_address,
            counterparty_1_id_type="ADDRESS",
            counterparty_2_id_type="ADDRESS",
            counterparty_1_name="",
            counterparty_2_name="",
            counterparty_1_country="",
            counterparty_2_country="",
            other_payment_payer=address.get(r.other_payment_payer, r.other_payment_payer),
            other_payment_receiver=address.get(r.other_payment_receiver, r.other_payment_receiver),
            defaulting_party=address.get(r.defaulting_party, r.defaulting_party),
        )
        for r in shown
    ] == hidden


# ---------------------------------------------------------------------- files


def _strategy(kind: str) -> st.SearchStrategy[Any]:
    return {
        "int": st.integers(),
        "int?": st.none() | st.integers(),
        "str": st.text(),
        "lifecycle": st.sampled_from(Lifecycle),
    }[kind]


_KIND = {"Lifecycle": "lifecycle", "str": "str", "int": "int", "int | None": "int?"}
records_strategy = st.lists(
    st.builds(TRRecord, **{f.name: _strategy(_KIND[str(f.type)]) for f in fields(TRRecord)}), max_size=4
)


@settings(max_examples=TR_EXAMPLES)
@given(records=records_strategy)
def test_csv_and_json_give_back_exactly_the_records_written(records: list[TRRecord]) -> None:
    assert from_csv(to_csv(records)) == records
    assert from_json(to_json(records)) == records


def test_files_round_trip_the_hand_records(tmp_path) -> None:
    records = hand_records()
    write_csv(records, tmp_path / "tr.csv")
    write_json(records, tmp_path / "tr.json")
    assert read_csv(tmp_path / "tr.csv") == records
    assert read_json(tmp_path / "tr.json") == records
    header = (tmp_path / "tr.csv").read_text().splitlines()[0]
    assert header.split(",") == list(FIELDS)


def test_a_file_that_is_not_an_export_is_refused_in_one_line(tmp_path) -> None:
    rows = list(csv.reader(io.StringIO(to_csv(hand_records()), newline="")))
    rows[1][FIELDS.index("trade_id")] = "x"
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    with pytest.raises(InputError, match="not a trade-repository export"):
        from_csv("a,b\n1,2\n")
    with pytest.raises(InputError, match="line 2: trade_id = 'x' is not a valid int"):
        from_csv(out.getvalue())
    with pytest.raises(InputError, match="not a valid int"):
        from_json(to_json(hand_records()).replace('"trade_id": 1', '"trade_id": 1.5', 1))
    with pytest.raises(InputError, match="not JSON"):
        from_json("[")
    with pytest.raises(InputError, match="cannot write"):
        write_csv(hand_records(), tmp_path / "missing" / "tr.csv")
    assert not (tmp_path / "missing").exists()


# ====================================================================== on a chain

#: Parties of the chain scenario (members of the session's base scenario) and reporters 16-18.
A, B, C, D, E = (dev_account(i) for i in (7, 8, 9, 10, 11))
REPORTERS = tuple(dev_account(i) for i in (16, 17, 18))
UNLIMITED = 2**256 - 1


@dataclass(frozen=True)
class World:
    """The chain scenario: what a test needs to find its records."""

    market: Market
    info: MarketInfo
    day0: int  # midnight (UTC) starting the scenario's first day
    confirmed: dict[int, int]  # trade id -> block of its confirmation
    terminated_block: int
    default_block: int
    amended_block: int
    matured_block: int
    head_time: int


def _now(chain: Chain) -> int:
    return int(chain.w3.eth.get_block("latest")["timestamp"])


def _advance_to(chain: Chain, when: int) -> None:
    chain.w3.provider.make_request("evm_increaseTime", [when - _now(chain)])  # type: ignore[arg-type]
    chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def _post(market: Market, price: int) -> None:
    for reporter in REPORTERS:
        market.oracle.submit(reporter, price)


def _open(market: Market, proposer: Any, buyer: Any, seller: Any, quantity: int, im: int, maturity: int) -> int:
    engine = market.derivatives
    terms = Terms(buyer.address, seller.address, quantity, 2000 * PX, maturity, im, im)
    trade_id = engine.propose(proposer, terms)
    engine.confirm(seller if proposer is buyer else buyer, trade_id, terms)
    return trade_id


def _block(receipt: Any) -> int:
    return int(receipt["blockNumber"])


@pytest.fixture
def world(request, setup_cache, deployment, roles, chain) -> World:
    """Three trades over three days on the session's suite (kept between this module's tests), with
    Alice's, Bob's and Carol's identities recorded for the regulator as the demo records them:

    - day 0, 01:00: 2,000; T1 Alice buys 10 from Bob (IM 1,000 each, maturity day 2 12:00); T2 Carol
      proposes to sell 1 to Dan (IM 200); T3 Dan buys 2 from Erin (IM 300); T4 proposed, cancelled;
      03:00: 2,100, all three settled;
    - day 1, 02:00: Dan withdraws his margin and revokes the engine's allowance; 1,900: T1 settled
      (Alice pays 2,000), T3 called (Dan owes 400); 03:00: T2 terminated, Carol paying Dan 50;
      05:00: T3 defaults (Dan's IM 300, then 100 of his margin account: T2's IM came back to it);
    - day 2, 02:00: T1 amended to 5, IM 600, Bob paying Alice 100; 13:00: 2,050, T1 matures
      (Bob pays 750).
    """
    market = Market.from_deployment(deployment)

    def setup() -> World:
        engine = market.derivatives
        # as the demo does: the regulator's devnet key published, Alice's, Bob's and Carol's identities recorded
        record_identities(market, member_accounts(), lambda _, action: action())
        market.compliance.onboard(roles.officer, [engine.address, market.fund.address])
        for party in (A, B, C, D, E):
            market.cash.mint(roles.minter, party.address, 100_000 * USD)
            market.fund.join(party, 1_000 * USD)
            market.cash.approve(party, engine.address, UNLIMITED)
        day0 = _now(chain) - _now(chain) % DAY + DAY
        _advance_to(chain, day0 + HOUR)
        _post(market, 2000 * PX)
        maturity = day0 + 2 * DAY + 12 * HOUR
        t1 = _open(market, A, A, B, 10 * UNIT, 1000 * USD, maturity)
        t2 = _open(market, C, D, C, 1 * UNIT, 200 * USD, maturity)
        t3 = _open(market, D, D, E, 2 * UNIT, 300 * USD, maturity)
        confirmed = {t: int(engine.events(t)[-1].block) for t in (t1, t2, t3)}
        t4 = engine.propose(A, Terms(A.address, B.address, UNIT, 2000 * PX, maturity, 0, 0))
        engine.cancel(A, t4)
        _advance_to(chain, day0 + 3 * HOUR)
        _post(market, 2100 * PX)
        engine.settle_many(roles.outsider, [t1, t2, t3])

        _advance_to(chain, day0 + DAY + 2 * HOUR)
        engine.withdraw_margin(D, engine.margin_of(D.address))
        market.cash.approve(D, engine.address, 0)
        _post(market, 1900 * PX)
        engine.settle_many(roles.outsider, [t1, t3])
        _advance_to(chain, day0 + DAY + 3 * HOUR)
        termination = engine.termination(t2, payment=-50 * USD, deadline=_now(chain) + HOUR)
        signatures = (engine.sign_termination(D, termination), engine.sign_termination(C, termination))
        terminated = engine.terminate(roles.outsider, termination, *signatures)
        _advance_to(chain, day0 + DAY + 5 * HOUR)
        defaulted = engine.declare_default(roles.outsider, t3)

        _advance_to(chain, day0 + 2 * DAY + 2 * HOUR)
        amendment = engine.amendment(
            t1, quantity=5 * UNIT, buyer_im=600 * USD, seller_im=600 * USD, payment=-100 * USD,
            deadline=_now(chain) + HOUR,
        )  # fmt: skip
        signatures = (engine.sign_amendment(A, amendment), engine.sign_amendment(B, amendment))
        amended = engine.amend(roles.outsider, amendment, *signatures)
        _advance_to(chain, day0 + 2 * DAY + 13 * HOUR)
        _post(market, 2050 * PX)
        matured = engine.mature(roles.outsider, t1, market.oracle.latest().round_id)
        acme = market.markets["ACME"]
        info = MarketInfo(
            "ACME", acme.description, acme.derivatives.address, acme.oracle.address, 8, 6, market.cash.symbol
        )
        blocks = (_block(terminated), _block(defaulted), _block(amended), _block(matured))
        return World(market, info, day0, confirmed, *blocks, _now(chain))

    return setup_cache.setup(request, setup)


_READ: dict[tuple[int, int], list[LedgerEvent]] = {}


def chain_events(world: World) -> list[LedgerEvent]:
    """Every event of the suite, as the books' ledger reads it (once per scenario: the kept set-up
    does not change)."""
    key = (world.matured_block, world.head_time)
    if key not in _READ:
        ledger = Ledger(world.market.chain, world.market.deployment)
        ledger.refresh()
        _READ[key] = ledger.events()
    return _READ[key]


def chain_records(world: World, **window: Any) -> list[TRRecord]:
    return tr_records(
        chain_events(world), chain_id=world.market.chain.chain_id, markets=[world.info], as_of=world.head_time, **window
    )


def test_every_lifecycle_of_a_chain_scenario(world: World) -> None:
    records = chain_records(world)
    day0 = world.day0

    def end(day: int) -> str:
        return iso(day0 + day * DAY + DAY - 1)

    got = [summary(r) for r in records]
    confirmed = {t: iso(int(world.market.chain.w3.eth.get_block(b)["timestamp"])) for t, b in world.confirmed.items()}
    assert got == [
        (Lifecycle.NEW, 1, confirmed[1], 0, 1000, 1000, 0, 0),
        (Lifecycle.NEW, 2, confirmed[2], 0, 200, 200, 0, 0),
        (Lifecycle.NEW, 3, confirmed[3], 0, 300, 300, 0, 0),
        (Lifecycle.VALUATION, 1, end(0), 1000, 1000, 1000, 0, 1000),  # 10 x (2,100 - 2,000)
        (Lifecycle.VALUATION, 2, end(0), -100, 200, 200, 100, 0),  # Carol sold: she paid 100
        (Lifecycle.VALUATION, 3, end(0), 200, 300, 300, 0, 200),
        (Lifecycle.TERMINATE, 2, _time_of(world, world.terminated_block), 100, 0, 0, 100, 0),  # 1 x (2,000 - 1,900)
        # Dan's IM 300, then 100 of his margin account (T2's released IM 200 and the 50 Carol paid)
        (Lifecycle.DEFAULT, 3, _time_of(world, world.default_block), -200, 0, 0, 400, 200),
        (Lifecycle.VALUATION, 1, end(1), -1000, 1000, 1000, 2000, 1000),
        (Lifecycle.MODIFY, 1, _time_of(world, world.amended_block), -1000, 600, 600, 2000, 1000),
        (Lifecycle.MATURITY, 1, _time_of(world, world.matured_block), -250, 0, 0, 2000, 1750),  # + 5 x 150
    ]
    assert 4 not in {r.trade_id for r in records}, "the cancelled proposal is not a trade"
    by_lifecycle = {r.lifecycle: r for r in records}
    assert by_lifecycle[Lifecycle.TERMINATE].other_payment_amount == 50 * USD
    terminated = by_lifecycle[Lifecycle.TERMINATE]
    assert (terminated.other_payment_payer, terminated.other_payment_receiver) == (C.address, D.address)
    assert by_lifecycle[Lifecycle.DEFAULT].defaulting_party == D.address
    assert by_lifecycle[Lifecycle.MODIFY].other_payment_payer == B.address
    assert {(r.trade_id, r.direction) for r in records} == {(1, "BYER"), (2, "SLLR"), (3, "BYER")}
    assert {r.uti for r in records if r.trade_id == 1} == {uti(world.market.chain.chain_id, world.info.engine, 1)}


def test_the_chain_records_agree_with_the_engine(world: World) -> None:
    engine = world.market.derivatives
    records = chain_records(world)
    last = {r.trade_id: r for r in records}
    assert [engine.trade(t).state for t in (1, 2, 3)] == [
        TradeState.MATURED,
        TradeState.TERMINATED,
        TradeState.DEFAULTED,
    ]
    assert [last[t].lifecycle for t in (1, 2, 3)] == [Lifecycle.MATURITY, Lifecycle.TERMINATE, Lifecycle.DEFAULT]
    assert engine.trade(4).state is TradeState.CANCELLED
    assert last[3].unpaid_claim == engine.unpaid_claim_of(3) == 0
    default = next(e for e in engine.events(3) if e.name == "DefaultDeclared").args
    assert last[3].vm_posted == default["paidFromIm"] + default["paidFromMargin"]
    assert last[1].quantity == engine.trade(1).quantity == 5 * UNIT
    # every settlement's payment is in the records' variation margin, once
    flows = engine.margin_history()
    paid_by = {
        t: sum(f.paid for f in flows if f.trade_id == t and f.payer == p) for t, p in ((1, A.address), (2, C.address))
    }
    assert (last[1].vm_posted, last[2].vm_posted) == (paid_by[1], paid_by[2])


def _time_of(world: World, block: int) -> str:
    return iso(int(world.market.chain.w3.eth.get_block(block)["timestamp"]))


# ====================================================================== dfmi report tr


def _runner() -> CliRunner:
    """A runner that keeps stderr apart from stdout (click 8.1 needs asking; 8.2 always does)."""
    if "mix_stderr" in inspect.signature(CliRunner).parameters:
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg]
    return CliRunner()


@pytest.fixture
def report(world, node, deployment) -> Callable[..., Result]:
    """``dfmi --rpc-url <session node> --deployments-dir <its manifests> report tr ARGS`` (world first:
    its set-up is kept between tests)."""
    base = ["--rpc-url", node.rpc_url, "--deployments-dir", str(deployment.manifest_file.parent), "report", "tr"]

    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        return _runner().invoke(cli, [*base, *args], catch_exceptions=False, env=env)

    return invoke


def _ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def _refused(result: Result) -> str:
    """The one line of a refused command."""
    assert result.exit_code == 1, (result.stdout, result.stderr)
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("Error: ")
    return lines[0]


def test_report_tr_writes_every_record_as_csv_and_json(world: World, report, tmp_path) -> None:
    expected = chain_records(world)
    written = _ok(report("--format", "csv", "--out", str(tmp_path / "tr.csv")))
    assert read_csv(tmp_path / "tr.csv") == expected
    assert f"wrote {len(expected)} records to {tmp_path / 'tr.csv'}" in written.stderr
    assert "identities not shown" in written.stderr
    printed = _ok(report("--format", "json"))
    assert from_json(printed.stdout) == expected
    assert "identities not shown: no regulator key given (addresses only)" in printed.stderr
    assert {r.currency for r in expected} == {world.market.cash.symbol}
    in_usd = from_json(_ok(report("--format", "json", "--market", "ACME", "--currency", "USD")).stdout)
    assert in_usd == [replace(r, currency="USD") for r in expected]


def test_report_tr_window_by_dates_and_by_blocks(world: World, report) -> None:
    day1 = datetime.fromtimestamp(world.day0 + DAY, UTC).date().isoformat()
    by_date = from_csv(_ok(report("--from", day1, "--to", day1, "--format", "csv")).stdout)
    assert by_date == chain_records(world, report_from=world.day0 + DAY, report_to=world.day0 + 2 * DAY - 1)
    assert {r.lifecycle for r in by_date} == {Lifecycle.TERMINATE, Lifecycle.DEFAULT, Lifecycle.VALUATION}
    first, last = world.terminated_block, world.amended_block
    by_block = from_csv(_ok(report("--from", str(first), "--to", str(last), "--format", "csv")).stdout)
    times = {b: int(world.market.chain.w3.eth.get_block(b)["timestamp"]) for b in (first, last)}
    assert by_block == chain_records(
        world, from_block=first, to_block=last, report_from=times[first], report_to=times[last]
    )
    assert [r.lifecycle for r in by_block] == [
        Lifecycle.TERMINATE,
        Lifecycle.DEFAULT,
        Lifecycle.VALUATION,
        Lifecycle.MODIFY,
    ]


def test_report_tr_shows_the_identities_the_viewer_key_opens(world: World, report) -> None:
    chain = world.market.chain
    alice, bob, carol = (MEMBER_IDENTITIES[name] for name in ("Alice", "Bob", "Carol"))
    regulator_key = dev_disclosure_key()
    as_regulator = _ok(
        report("--format", "csv", "--viewer-key-env", "TR_KEY", env={"TR_KEY": "0x" + regulator_key.hex()})
    )
    assert as_regulator.stderr.splitlines()[0] == "identities shown: 3 of 3 accounts"
    shown = from_csv(as_regulator.stdout)
    disclosure = disclosure_from(chain_events(world), regulator_key, chain.chain_id, world.market.compliance.address)
    assert shown == chain_records(world, disclosure=disclosure)
    parties = {
        (r.trade_id, r.counterparty_1, r.counterparty_1_id_type, r.counterparty_2, r.counterparty_2_id_type)
        for r in shown
    }
    assert parties == {
        (1, alice.lei, "LEI", bob.lei, "LEI"),
        (2, carol.lei, "LEI", D.address, "ADDRESS"),  # Dan has no identity recorded
        (3, D.address, "ADDRESS", E.address, "ADDRESS"),
    }
    t1 = next(r for r in shown if r.trade_id == 1)
    assert (t1.counterparty_1_name, t1.counterparty_1_country, t1.counterparty_1_address) == (
        "Alice Capital Markets Ltd",
        "GB",
        A.address,
    )
    assert (t1.counterparty_2_name, t1.counterparty_2_country) == ("Bob Trading GmbH", "DE")
    terminated = next(r for r in shown if r.lifecycle is Lifecycle.TERMINATE)
    assert (terminated.other_payment_payer, terminated.other_payment_receiver) == (carol.lei, D.address)

    # Alice's own key opens her record alone
    as_alice = _ok(report("--format", "csv", "--viewer-key-env", "TR_KEY", env={"TR_KEY": bytes(A.key).hex()}))
    assert as_alice.stderr.splitlines()[0] == (
        "identities shown: 1 of 3 accounts (the others are not encrypted to this key)"
    )
    t1 = next(r for r in from_csv(as_alice.stdout) if r.trade_id == 1)
    assert (t1.counterparty_1, t1.counterparty_2, t1.counterparty_2_id_type) == (alice.lei, B.address, "ADDRESS")

    # any other key opens nothing: the records are the public's
    stranger = "0x" + keccak(text="some viewer").hex()
    as_stranger = _ok(report("--format", "csv", "--viewer-key-env", "TR_KEY", env={"TR_KEY": stranger}))
    assert as_stranger.stderr.splitlines()[0] == (
        "identities not shown: the key given opens none of the 3 recorded identities (addresses only)"
    )
    assert from_csv(as_stranger.stdout) == chain_records(world)
    line = _refused(report("--format", "csv", "--viewer-key-env", "TR_NO_SUCH_KEY", env={"TR_NO_SUCH_KEY": ""}))
    assert "$TR_NO_SUCH_KEY is not set" in line


def test_report_tr_refuses_bad_input_in_one_line_and_leaves_no_file(world: World, report, tmp_path) -> None:
    out = tmp_path / "tr.csv"
    cases = {
        ("--from", "2026-02-03", "--to", "2026-02-01"): "--from 2026-02-03 is after --to 2026-02-01",
        ("--from", "30", "--to", "20"): "--from block 30 is after --to block 20",
        ("--from", "yesterday"): "--from 'yesterday': not a date (YYYY-MM-DD, UTC) or a block number",
        ("--from", "2026-02-30"): "--from 2026-02-30: not a date",
        ("--to", "99999999"): "block 99999999 is beyond the chain's head",
        ("--market", "NOPE"): "no market NOPE in this deployment; it has ACME",
    }
    for args, message in cases.items():
        line = _refused(report(*args, "--format", "csv", "--out", str(out)))
        assert message in line, (args, line)
        assert not out.exists()
    line = _refused(report("--format", "csv", "--out", str(tmp_path / "no-such-folder" / "tr.csv")))
    assert f"cannot write {tmp_path / 'no-such-folder' / 'tr.csv'}: there is no folder" in line
    assert list(tmp_path.iterdir()) == []
