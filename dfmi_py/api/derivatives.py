"""Bilateral collateralised derivatives on the DerivativeEngine.

Amounts are integers: quantities in underlying units with 18 decimals, prices in the oracle's
decimals, cash in the cash token's smallest unit.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from enum import IntEnum
from functools import cached_property
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3.logs import DISCARD
from web3.types import TxReceipt

from dfmi_py.api.base import ContractAPI
from dfmi_py.chain.client import checksum
from dfmi_py.errors import InputError, TransactionError
from dfmi_py.signing import amendment_message, sign_typed, termination_message

TERMS_ABI_TYPE = "(address,address,uint96,int128,uint40,uint128,uint128,bytes32)"


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
        for name in ("quantity", "contract_price", "maturity", "buyer_im", "seller_im"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InputError(f"{name} must be a non-negative integer, got {value!r}")
        if self.quantity == 0 or self.contract_price == 0:
            raise InputError("quantity and contract price must be positive")
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
        return self.chain.transact(self.contract.functions.depositMargin(amount), party, "deposit margin")

    def withdraw_margin(self, party: LocalAccount, amount: int) -> TxReceipt:
        """Move ``amount`` from the party's margin account back to its wallet."""
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
