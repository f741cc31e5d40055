"""Bilateral collateralised derivatives on the DerivativeEngine.

Amounts are integers: quantities in underlying units with 18 decimals, prices in the oracle's
decimals, cash in the cash token's smallest unit.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import IntEnum
from functools import cached_property
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils.abi import event_abi_to_log_topic
from eth_utils.crypto import keccak
from web3.logs import DISCARD
from web3.types import TxReceipt

from dfmi_py.api.base import ContractAPI
from dfmi_py.api.token import require_units
from dfmi_py.chain.client import checksum
from dfmi_py.errors import InputError, TransactionError
from dfmi_py.signing import amendment_message, sign_typed, termination_message
from dfmi_py.signing.eip712 import AMENDMENT_FIELDS, TERMINATION_FIELDS

TERMS_ABI_TYPE = "(address,address,uint96,int128,uint40,uint128,uint128,bytes32)"
#: Bits of each numeric field of ``Terms`` (``contract_price`` is a positive ``int128``).
TERMS_BITS = {"quantity": 96, "contract_price": 127, "maturity": 40, "buyer_im": 128, "seller_im": 128}
#: The fields of an ``Amendment`` and of a ``Termination`` message, in the struct's order.
AMENDMENT_KEYS = tuple(f["name"] for f in AMENDMENT_FIELDS)
TERMINATION_KEYS = tuple(f["name"] for f in TERMINATION_FIELDS)


class TradeState(IntEnum):
    """Mirror of the Solidity ``TradeState`` enum."""

    NONE = 0
    PROPOSED = 1
    LIVE = 2
    MARGIN_CALL = 3
    DEFAULTED = 4
    MATURED = 5
    TERMINATED = 6
    CANCELLED = 7


class Side(IntEnum):
    """Mirror of the Solidity ``Side`` enum."""

    NONE = 0
    BUYER = 1
    SELLER = 2


@dataclass(frozen=True)
class Terms:
    """A forward's terms as the engine hashes them (see ``Terms`` in IDerivativeEngine.sol)."""

    buyer: str
    seller: str
    quantity: int
    contract_price: int
    maturity: int
    buyer_im: int
    seller_im: int
    salt: bytes = field(default_factory=lambda: os.urandom(32))

    def __post_init__(self) -> None:
        for name in ("buyer", "seller"):  # a wrong EIP-55 checksum is refused before anything is signed
            object.__setattr__(self, name, checksum(getattr(self, name)))
        for name in ("quantity", "contract_price", "maturity", "buyer_im", "seller_im"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InputError(f"{name} must be a non-negative integer, got {value!r}")
        if self.quantity == 0 or self.contract_price == 0:
            raise InputError("quantity and contract price must be positive")
        for name, bits in TERMS_BITS.items():
            if getattr(self, name) >= 2**bits:
                raise InputError(f"{name} {getattr(self, name)} does not fit the engine's {bits} bits")
        if len(self.salt) != 32:
            raise InputError("salt must be 32 bytes")

    def as_tuple(self) -> tuple[Any, ...]:
        """The ABI tuple."""
        return (
            checksum(self.buyer),
            checksum(self.seller),
            self.quantity,
            self.contract_price,
            self.maturity,
            self.buyer_im,
            self.seller_im,
            self.salt,
        )

    def hash(self) -> bytes:
        """``keccak256(abi.encode(terms))``, the hash the engine matches on confirmation."""
        return keccak(abi_encode([TERMS_ABI_TYPE], [self.as_tuple()]))


@dataclass(frozen=True)
class TradeInfo:
    """What the engine stores about a trade."""

    trade_id: int
    state: TradeState
    buyer: str
    seller: str
    quantity: int
    maturity: int
    debtor: Side
    proposer: Side
    nonce: int
    last_price: int
    last_round: int
    cure_deadline: int
    buyer_im: int
    seller_im: int
    debt: int


@dataclass(frozen=True)
class MarginFlow:
    """One settlement of a trade (a ``VariationMarginSettled`` event)."""

    trade_id: int
    block: int
    round_id: int
    price: int
    vm_to_buyer: int
    payer: str
    paid: int
    owed: int


@dataclass(frozen=True)
class TradeEvent:
    """One event of the engine: a step in a trade's life, or a margin account's deposit or withdrawal.

    Attributes:
        name: The Solidity event's name, e.g. ``"VariationMarginSettled"``.
        trade_id: The trade it concerns (``None`` for ``MarginDeposited`` / ``MarginWithdrawn``).
        block: The block it was emitted in.
        log_index: Its position in that block.
        timestamp: The block's time (Unix seconds).
        args: The event's arguments by name (addresses checksummed, bytes as ``0x`` hex).
    """

    name: str
    trade_id: int | None
    block: int
    log_index: int
    timestamp: int
    args: dict[str, Any]


@dataclass(frozen=True)
class BatchSettlement:
    """What one ``settleMany`` did.

    Attributes:
        settled: Trades settled to the latest round, in the order given.
        skipped: Trades whose settlement reverted inside the batch, with the decoded reason
            (``"DerivativeCashPaused()"``, say); they are as they were.
        not_due: Trades the engine passed over: not live, already settled to the latest round,
            or past maturity (those need ``mature``).
        receipt: The transaction's receipt.
    """

    settled: tuple[int, ...]
    skipped: dict[int, str]
    not_due: tuple[int, ...]
    receipt: TxReceipt


#: Engine events that concern one trade (``tradeId`` is their first indexed argument).
TRADE_EVENTS = (
    "TradeProposed",
    "TradeCancelled",
    "TradeConfirmed",
    "VariationMarginSettled",
    "MarginCalled",
    "SettlementSkipped",
    "MarginCallCured",
    "DefaultDeclared",
    "TradeAmended",
    "TradeTerminated",
    "TradeMatured",
    "FundClaimFailed",
    "FundClaimPaid",
    "InitialMarginReleased",
)
#: Engine events of a party's margin account.
ACCOUNT_EVENTS = ("MarginDeposited", "MarginWithdrawn")


class Derivatives(ContractAPI):
    """The derivative engine.

    Args:
        chain: The chain.
        contract: The ``DerivativeEngine`` contract.
    """

    @cached_property
    def value_scale(self) -> int:
        """``10 ** (18 + oracle decimals - cash decimals)``."""
        return int(self.contract.functions.valueScale().call())

    # ------------------------------------------------------------------ opening

    def propose(self, proposer: LocalAccount, terms: Terms) -> int:
        """Propose ``terms``; returns the new trade id."""
        receipt = self.chain.transact(self.contract.functions.propose(terms.as_tuple()), proposer, "propose")
        events = self.contract.events.TradeProposed().process_receipt(receipt, errors=DISCARD)
        if not events:
            raise TransactionError("propose: no TradeProposed event in the receipt")
        return int(events[0]["args"]["tradeId"])

    def confirm(self, counterparty: LocalAccount, trade_id: int, terms: Terms) -> TxReceipt:
        """Confirm the identical ``terms``: both initial margins move into the engine."""
        call = self.contract.functions.confirm(trade_id, terms.as_tuple())
        return self.chain.transact(call, counterparty, "confirm")

    def cancel(self, party: LocalAccount, trade_id: int) -> TxReceipt:
        """Cancel a proposal (either party)."""
        return self.chain.transact(self.contract.functions.cancel(trade_id), party, "cancel")

    # ------------------------------------------------------------------ margin accounts

    def deposit_margin(self, party: LocalAccount, amount: int) -> TxReceipt:
        """Move ``amount`` of the party's cash into its margin account (needs an allowance)."""
        require_units(amount, "amount")
        return self.chain.transact(self.contract.functions.depositMargin(amount), party, "deposit margin")

    def withdraw_margin(self, party: LocalAccount, amount: int) -> TxReceipt:
        """Move ``amount`` from the party's margin account back to its wallet."""
        require_units(amount, "amount")
        return self.chain.transact(self.contract.functions.withdrawMargin(amount), party, "withdraw margin")

    def margin_of(self, party: str) -> int:
        """Free cash ``party`` holds in the engine."""
        return int(self.contract.functions.marginOf(checksum(party)).call())

    # ------------------------------------------------------------------ settlement

    def settle(self, keeper: LocalAccount, trade_id: int) -> TxReceipt:
        """Settle one trade to the oracle's latest round (anyone may)."""
        return self.chain.transact(self.contract.functions.settle(trade_id), keeper, "settle")

    def settle_many(self, keeper: LocalAccount, trade_ids: list[int]) -> tuple[int, TxReceipt]:
        """Settle every due trade of ``trade_ids`` in one transaction; returns how many settled."""
        receipt = self.chain.transact(self.contract.functions.settleMany(trade_ids), keeper, "settle many")
        settled = self.contract.events.VariationMarginSettled().process_receipt(receipt, errors=DISCARD)
        return len(settled), receipt

    def cure(self, debtor: LocalAccount, trade_id: int) -> TxReceipt:
        """Pay an open margin call from the debtor's margin account or wallet."""
        return self.chain.transact(self.contract.functions.cure(trade_id), debtor, "cure")

    def declare_default(self, keeper: LocalAccount, trade_id: int) -> TxReceipt:
        """Declare the default of a trade whose margin call expired unpaid, and close it out."""
        return self.chain.transact(self.contract.functions.declareDefault(trade_id), keeper, "declare default")

    def mature(self, keeper: LocalAccount, trade_id: int, round_id: int) -> TxReceipt:
        """Final settlement with ``round_id``, the oracle's first final round at or after maturity."""
        return self.chain.transact(self.contract.functions.mature(trade_id, round_id), keeper, "mature")

    def retry_fund_claim(self, keeper: LocalAccount, trade_id: int) -> TxReceipt:
        """Claim again from the default fund what a close-out or maturity of ``trade_id`` left
        pending when the fund's claim reverted (anyone may; see :meth:`fund_claim_pending`)."""
        return self.chain.transact(self.contract.functions.retryFundClaim(trade_id), keeper, "retry fund claim")

    def fund_claim_pending(self, trade_id: int) -> bool:
        """True when ``trade_id``'s claim on the default fund reverted and waits for a retry."""
        return bool(self.contract.functions.fundClaimPendingOf(trade_id).call())

    def cure_deadline_of(self, trade_id: int) -> int:
        """When ``trade_id``'s margin call may turn into a default (unix seconds; 0: no margin call).

        The call's own deadline, or a full cure period after the cash token's last unpause when
        that is later; no default is declared while the token is paused.
        """
        return int(self.contract.functions.cureDeadlineOf(trade_id).call())

    # ------------------------------------------------------------------ 2-of-2 changes

    def amendment(
        self,
        trade_id: int,
        *,
        quantity: int | None = None,
        maturity: int | None = None,
        buyer_im: int | None = None,
        seller_im: int | None = None,
        payment: int = 0,
        deadline: int | None = None,
    ) -> dict[str, int]:
        """An amendment message for ``trade_id`` with the trade's current values for what is omitted."""
        trade = self.trade(trade_id)
        return {
            "tradeId": trade_id,
            "quantity": trade.quantity if quantity is None else quantity,
            "maturity": trade.maturity if maturity is None else maturity,
            "buyerIm": trade.buyer_im if buyer_im is None else buyer_im,
            "sellerIm": trade.seller_im if seller_im is None else seller_im,
            "payment": payment,
            "nonce": trade.nonce,
            "deadline": deadline if deadline is not None else int(time.time()) + 3600,
        }

    def termination(self, trade_id: int, *, payment: int = 0, deadline: int | None = None) -> dict[str, int]:
        """A termination message for ``trade_id`` with the trade's current nonce."""
        return {
            "tradeId": trade_id,
            "payment": payment,
            "nonce": self.trade(trade_id).nonce,
            "deadline": deadline if deadline is not None else int(time.time()) + 3600,
        }

    def sign_amendment(self, party: LocalAccount, amendment: dict[str, int]) -> bytes:
        """One party's EIP-712 signature of ``amendment``."""
        return sign_typed(party, amendment_message(self.eip712_domain(), amendment)).packed()

    def sign_termination(self, party: LocalAccount, termination: dict[str, int]) -> bytes:
        """One party's EIP-712 signature of ``termination``."""
        return sign_typed(party, termination_message(self.eip712_domain(), termination)).packed()

    def amend(self, sender: LocalAccount, amendment: dict[str, int], buyer_sig: bytes, seller_sig: bytes) -> TxReceipt:
        """Submit an amendment both parties signed (anyone may send it)."""
        call = self.contract.functions.amend(_amendment_tuple(amendment), buyer_sig, seller_sig)
        return self.chain.transact(call, sender, "amend")

    def terminate(
        self, sender: LocalAccount, termination: dict[str, int], buyer_sig: bytes, seller_sig: bytes
    ) -> TxReceipt:
        """Submit an early termination both parties signed (anyone may send it)."""
        t = termination
        call = self.contract.functions.terminate(
            (t["tradeId"], t["payment"], t["nonce"], t["deadline"]), buyer_sig, seller_sig
        )
        return self.chain.transact(call, sender, "terminate")

    # ------------------------------------------------------------------ reads

    def trade(self, trade_id: int) -> TradeInfo:
        """What the engine stores about ``trade_id``."""
        raw = self.contract.functions.tradeOf(trade_id).call()
        (
            buyer,
            maturity,
            state,
            debtor,
            proposer,
            nonce,
            seller,
            quantity,
            last_price,
            last_round,
            cure_deadline,
            b_im,
            s_im,
            debt,
        ) = raw
        return TradeInfo(
            trade_id=trade_id,
            state=TradeState(state),
            buyer=buyer,
            seller=seller,
            quantity=quantity,
            maturity=maturity,
            debtor=Side(debtor),
            proposer=Side(proposer),
            nonce=nonce,
            last_price=last_price,
            last_round=last_round,
            cure_deadline=cure_deadline,
            buyer_im=b_im,
            seller_im=s_im,
            debt=debt,
        )

    def trade_count(self) -> int:
        """Trades ever proposed (ids run from 1)."""
        return int(self.contract.functions.tradeCount().call())

    def margin_history(self, trade_id: int | None = None, from_block: int = 0) -> list[MarginFlow]:
        """Every settlement, of one trade or of all, in chain order."""
        filters = {"tradeId": trade_id} if trade_id is not None else None
        logs = self.contract.events.VariationMarginSettled().get_logs(from_block=from_block, argument_filters=filters)
        return [
            MarginFlow(
                trade_id=int(log["args"]["tradeId"]),
                block=int(log["blockNumber"]),
                round_id=int(log["args"]["roundId"]),
                price=int(log["args"]["price"]),
                vm_to_buyer=int(log["args"]["vmToBuyer"]),
                payer=str(log["args"]["payer"]),
                paid=int(log["args"]["paid"]),
                owed=int(log["args"]["owed"]),
            )
            for log in logs
        ]

    def history_records(self, trade_id: int | None = None) -> list[dict[str, Any]]:
        """:meth:`margin_history` as plain dicts (``pandas.DataFrame(records)`` ready)."""
        return [asdict(flow) for flow in self.margin_history(trade_id)]

    # ------------------------------------------------------------------ more reads

    def proposed_terms(self, trade_id: int, from_block: int = 0) -> Terms:
        """The terms ``trade_id`` was proposed with, from its ``TradeProposed`` event.

        The engine stores only their hash (:meth:`proposal_hash`, while the trade is proposed);
        compare the two before acting on what the event says.

        Raises:
            InputError: no trade ``trade_id`` was ever proposed on this engine.
        """
        logs = self.contract.events.TradeProposed().get_logs(
            from_block=from_block, argument_filters={"tradeId": trade_id}
        )
        if not logs:
            raise InputError(f"no trade {trade_id} was proposed on the engine at {self.address}")
        return _terms(logs[0]["args"]["terms"])

    def all_proposed_terms(self, from_block: int = 0) -> dict[int, Terms]:
        """The proposed terms of every trade, by id, from the ``TradeProposed`` events."""
        logs = self.contract.events.TradeProposed().get_logs(from_block=from_block)
        return {int(log["args"]["tradeId"]): _terms(log["args"]["terms"]) for log in logs}

    def proposal_hash(self, trade_id: int) -> bytes:
        """The hash of the proposed terms while ``trade_id`` is proposed (32 zero bytes otherwise)."""
        return bytes(self.contract.functions.proposalOf(trade_id).call())

    def unpaid_claim_of(self, trade_id: int) -> int:
        """The loss a close-out or maturity of ``trade_id`` left unpaid: the survivor's claim."""
        return int(self.contract.functions.unpaidClaimOf(trade_id).call())

    def total_margin(self) -> int:
        """Sum of every margin account."""
        return int(self.contract.functions.totalMargin().call())

    def total_initial_margin(self) -> int:
        """Sum of the initial margins of every live trade."""
        return int(self.contract.functions.totalInitialMargin().call())

    def cure_period(self) -> int:
        """Seconds a margin call stays open before a default can be declared."""
        return int(self.contract.functions.curePeriod().call())

    def max_price_age(self) -> int:
        """Oldest oracle answer (seconds) the engine settles on."""
        return int(self.contract.functions.maxPriceAge().call())

    def due(self, latest_round: int, updated_at: int, trade_ids: list[int] | None = None) -> list[int]:
        """The trades a settlement to final round ``latest_round`` (finalised at ``updated_at``)
        would settle: live or under a margin call, not yet settled to it, and before maturity.
        Every trade by default."""
        ids = trade_ids if trade_ids is not None else list(range(1, self.trade_count() + 1))
        due = []
        for trade_id in ids:
            trade = self.trade(trade_id)
            live = trade.state in (TradeState.LIVE, TradeState.MARGIN_CALL)
            if live and trade.last_round < latest_round and updated_at < trade.maturity:
                due.append(trade_id)
        return due

    def events(self, trade_id: int | None = None, from_block: int = 0) -> list[TradeEvent]:
        """Every event of ``trade_id`` (or of every trade, with the margin accounts' deposits and
        withdrawals), in chain order, with its block's time."""
        topics = self._event_topics(TRADE_EVENTS if trade_id is not None else TRADE_EVENTS + ACCOUNT_EVENTS)
        log_filter: dict[str, Any] = {"address": self.address, "fromBlock": from_block, "toBlock": "latest"}
        log_filter["topics"] = [list(topics)] + ([_topic(trade_id)] if trade_id is not None else [])
        logs = self.chain.w3.eth.get_logs(log_filter)  # type: ignore[arg-type]
        return self._decode(logs, topics)

    def events_in(self, receipt: TxReceipt) -> list[TradeEvent]:
        """The engine's events in ``receipt`` (a transaction this API sent), in log order."""
        own = [log for log in receipt["logs"] if log["address"] == self.address]
        return self._decode(own, self._event_topics(TRADE_EVENTS + ACCOUNT_EVENTS))

    def _event_topics(self, names: tuple[str, ...]) -> dict[str, str]:
        """``topic0 -> event name`` for ``names``."""
        return {"0x" + event_abi_to_log_topic(self.contract.events[name].abi).hex(): name for name in names}

    def _decode(self, logs: Any, topics: dict[str, str]) -> list[TradeEvent]:
        times: dict[int, int] = {}
        decoded: list[TradeEvent] = []
        for log in logs:
            topic0 = "0x" + bytes(log["topics"][0]).hex() if log["topics"] else ""
            name = topics.get(topic0)
            if name is None:
                continue
            args = dict(self.contract.events[name]().process_log(log)["args"])
            block = int(log["blockNumber"])
            if block not in times:
                times.update(self.chain.block_times([block]))
            trade_id = int(args["tradeId"]) if "tradeId" in args else None
            plain = {key: _plain_arg(value) for key, value in args.items()}
            decoded.append(TradeEvent(name, trade_id, block, int(log["logIndex"]), times[block], plain))
        decoded.sort(key=lambda event: (event.block, event.log_index))
        return decoded

    # ------------------------------------------------------------------ more writes

    def settle_batch(self, keeper: LocalAccount, trade_ids: list[int]) -> BatchSettlement:
        """``settleMany(trade_ids)``: each due trade settles in its own call frame; what each did."""
        if not trade_ids:
            raise InputError("no trades to settle")
        receipt = self.chain.transact(self.contract.functions.settleMany(trade_ids), keeper, "settle many")
        events = self.events_in(receipt)
        settled = {e.trade_id for e in events if e.name == "VariationMarginSettled"}
        skipped: dict[int, str] = {}
        for event in events:
            if event.name == "SettlementSkipped" and event.trade_id is not None:
                skipped[event.trade_id] = self.describe_revert(str(event.args["reason"]))
        return BatchSettlement(
            settled=tuple(t for t in trade_ids if t in settled),
            skipped=skipped,
            not_due=tuple(t for t in trade_ids if t not in settled and t not in skipped),
            receipt=receipt,
        )

    def set_config(self, admin: LocalAccount, cure_period: int, max_price_age: int) -> TxReceipt:
        """Set the cure period and the oldest price the engine settles on (admin)."""
        for name, value in (("cure period", cure_period), ("max price age", max_price_age)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**64:
                raise InputError(f"{name} must be a positive number of seconds, got {value!r}")
        call = self.contract.functions.setConfig(cure_period, max_price_age)
        return self.chain.transact(call, admin, "set engine config")

    def describe_revert(self, data: str) -> str:
        """Revert data (``0x`` hex) as ``Error(name=value, ...)`` when it is a known custom error."""
        decoded = self.chain.decode_error(data) if len(data) >= 10 else None
        if decoded is None:
            return f"reverted without a known error (revert data {data})"
        return decoded.text


def _amendment_tuple(a: dict[str, int]) -> tuple[int, ...]:
    return (
        a["tradeId"],
        a["quantity"],
        a["maturity"],
        a["buyerIm"],
        a["sellerIm"],
        a["payment"],
        a["nonce"],
        a["deadline"],
    )


def _terms(raw: Any) -> Terms:
    """:class:`Terms` from an event's decoded ``Terms`` struct."""
    return Terms(
        buyer=checksum(raw["buyer"]),
        seller=checksum(raw["seller"]),
        quantity=int(raw["quantity"]),
        contract_price=int(raw["contractPrice"]),
        maturity=int(raw["maturity"]),
        buyer_im=int(raw["buyerIm"]),
        seller_im=int(raw["sellerIm"]),
        salt=bytes(raw["salt"]),
    )


def _topic(value: int) -> str:
    """An indexed ``uint256`` as a log topic."""
    return "0x" + value.to_bytes(32, "big").hex()


def _plain_arg(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return checksum(value)
    if isinstance(value, Mapping):
        return {key: _plain_arg(v) for key, v in value.items()}
    return value
