"""Atomic DvP and PvP settlement: build and sign instructions, settle them one by one or in
batches, propose/affirm/cancel on-chain, and read their state and history.

An :class:`~dfmi_py.signing.settlement.Instruction` is the same for DvP (a security against cash)
and PvP (two cash tokens): ``party_a`` delivers ``amount_a`` of ``token_a`` to ``party_b``, who
delivers ``amount_b`` of ``token_b`` back, both or neither. :meth:`Settlement.dvp` and
:meth:`Settlement.pvp` build them with the right roles; the parties consent by signing
(:meth:`Settlement.sign`) or on-chain (:meth:`Settlement.propose` / :meth:`Settlement.affirm`).
Before anything settles, each party approves the settlement contract on the token it delivers
(:meth:`dfmi_py.api.cash.Cash.approve`, or an EIP-2612 permit).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import IntEnum
from functools import cached_property
from typing import Any

from eth_account.signers.local import LocalAccount
from web3.logs import DISCARD
from web3.types import EventData, TxReceipt

from dfmi_py.api.base import ContractAPI
from dfmi_py.chain.client import Chain, checksum
from dfmi_py.errors import InputError, TransactionError
from dfmi_py.signing.eip712 import Domain
from dfmi_py.signing.settlement import NONCES_PER_WORD, Instruction, instruction_id, nonce_mark, sign_instruction

#: Default life of a new instruction, in seconds.
DEFAULT_TTL = 3600
#: Most instructions :meth:`Settlement.settle_batch` sends in one transaction (gas: about 70,000 each).
MAX_BATCH = 200
_EVENTS = (
    "InstructionProposed",
    "InstructionAffirmed",
    "InstructionSettled",
    "InstructionCancelled",
    "SettlementFailed",
    "InstructionLocked",
    "InstructionSettledNetted",
    "InstructionReleased",
)


class InstructionState(IntEnum):
    """Mirror of ``InstructionState`` in IAtomicSettlement.sol."""

    PENDING = 0
    PROPOSED = 1
    AFFIRMED = 2
    SETTLED = 3
    CANCELLED = 4
    EXPIRED = 5
    #: Entered into a netting round: only the round settles or releases it.
    LOCKED = 6


@dataclass(frozen=True)
class SignedInstruction:
    """An instruction with each party's consent: a signature, or empty bytes for a party that sends
    the transaction or consented on-chain."""

    instruction: Instruction
    signature_a: bytes = b""
    signature_b: bytes = b""

    def as_tuple(self) -> tuple[Any, ...]:
        """The ``SignedInstruction`` struct as web3 takes it."""
        return (self.instruction.as_tuple(), self.signature_a, self.signature_b)


@dataclass(frozen=True)
class Outcome:
    """What one settlement attempt did.

    Attributes:
        id: The instruction id (hex).
        settled: True when both legs moved.
        error: The custom error that stopped it (e.g. ``"ERC20InsufficientBalance"``), if any.
        error_args: That error's arguments by name, raw.
        reason: The raw revert data, hex (``"0x"`` when settled, or when the token gave none).
        error_text: The error as a person reads it (enum values by name, times in ISO 8601).
    """

    id: str
    settled: bool
    error: str | None = None
    error_args: dict[str, Any] | None = None
    reason: str = "0x"
    error_text: str | None = None

    def describe(self) -> str:
        """One line: ``settled`` or the error with its arguments."""
        if self.settled:
            return "settled"
        if self.error is None:
            return f"failed without a known error (revert data {self.reason})"
        if self.error_text is not None:
            return f"failed: {self.error_text}"
        shown = ", ".join(f"{k}={v}" for k, v in (self.error_args or {}).items())
        return f"failed: {self.error}({shown})"


@dataclass(frozen=True)
class SettlementEvent:
    """One event in an instruction's history (pandas-ready through :meth:`record`).

    ``instruction`` is known for proposals (from the event) and for settlements, affirmations and
    failures sent straight to the contract (decoded from the transaction's input); it is ``None``
    when the transaction went through another contract.
    """

    block: int
    log_index: int
    tx_hash: str
    kind: str
    id: str
    party: str | None
    reason: Outcome | None
    instruction: Instruction | None

    def record(self) -> dict[str, Any]:
        """A flat row: the event, and the instruction's fields when known."""
        row: dict[str, Any] = {
            "block": self.block,
            "log_index": self.log_index,
            "tx_hash": self.tx_hash,
            "kind": self.kind,
            "id": self.id,
            "party": self.party,
            "error": self.reason.error if self.reason else None,
        }
        fields = asdict(self.instruction) if self.instruction else dict.fromkeys(Instruction.__dataclass_fields__)
        row.update(fields)
        return row


class Settlement(ContractAPI):
    """The atomic settlement contract.

    Args:
        chain: The chain.
        contract: The ``AtomicSettlement`` contract.
    """

    @cached_property
    def domain(self) -> Domain:
        """The contract's EIP-712 domain (read once)."""
        return self.eip712_domain()

    # ------------------------------------------------------------------ building

    def instruction(
        self,
        party_a: str,
        token_a: str,
        amount_a: int,
        party_b: str,
        token_b: str,
        amount_b: int,
        *,
        deadline: int | None = None,
        nonce: int | None = None,
    ) -> Instruction:
        """A two-leg instruction, checked for what the contract refuses whatever the chain's state.

        Args:
            party_a: Delivers ``amount_a`` of ``token_a`` to ``party_b``.
            token_a: Token of the first leg.
            amount_a: Units of ``token_a`` (its smallest unit).
            party_b: Delivers ``amount_b`` of ``token_b`` to ``party_a``.
            token_b: Token of the second leg.
            amount_b: Units of ``token_b``.
            deadline: Last Unix second it settles; :data:`DEFAULT_TTL` from the latest block by default.
            nonce: Nonce in the pair's space; the lowest unspent one by default (give distinct
                nonces yourself to sign several instructions of one pair before any settles).

        Raises:
            InputError: a malformed address or amount, a zero amount, one party or one token twice,
                a token address that holds no contract.
        """
        # Checksummed here: a wrong EIP-55 checksum is a typo, refused before anything is signed.
        party_a, token_a, party_b, token_b = (checksum(a) for a in (party_a, token_a, party_b, token_b))
        if deadline is None:
            deadline = self._now() + DEFAULT_TTL
        if nonce is None:
            nonce = self.next_nonce(party_a, party_b)
        built = Instruction(party_a, token_a, amount_a, party_b, token_b, amount_b, deadline, nonce)
        built.validate()
        for leg, token in (("token_a", built.token_a), ("token_b", built.token_b)):
            self.chain.require_contract(token, leg)
        return built

    def dvp(
        self,
        seller: str,
        security: str,
        quantity: int,
        buyer: str,
        cash: str,
        price: int,
        *,
        deadline: int | None = None,
        nonce: int | None = None,
    ) -> Instruction:
        """Delivery versus payment: ``seller`` delivers ``quantity`` of ``security`` to ``buyer``,
        who pays ``price`` (total, in cash units) of ``cash``. The seller is party A."""
        return self.instruction(seller, security, quantity, buyer, cash, price, deadline=deadline, nonce=nonce)

    def pvp(
        self,
        payer_a: str,
        currency_a: str,
        amount_a: int,
        payer_b: str,
        currency_b: str,
        amount_b: int,
        *,
        deadline: int | None = None,
        nonce: int | None = None,
    ) -> Instruction:
        """Payment versus payment: ``payer_a`` pays ``amount_a`` of ``currency_a`` to ``payer_b``,
        who pays ``amount_b`` of ``currency_b`` back (e.g. USD against EUR)."""
        return self.instruction(
            payer_a, currency_a, amount_a, payer_b, currency_b, amount_b, deadline=deadline, nonce=nonce
        )

    def next_nonce(self, party_a: str, party_b: str, *, start: int = 0) -> int:
        """The lowest nonce at or above ``start`` that the pair has not spent (on-chain view).

        Instructions signed but not yet settled do not spend a nonce: pass ``start`` past them.
        """
        a, b = checksum(party_a), checksum(party_b)
        word_index = start // NONCES_PER_WORD
        while True:
            word = int(self.contract.functions.nonceWord(a, b, word_index).call())
            first = start % NONCES_PER_WORD if word_index == start // NONCES_PER_WORD else 0
            for offset in range(first, NONCES_PER_WORD):
                nonce = word_index * NONCES_PER_WORD + offset
                if nonce_mark(word, nonce) == 0:
                    return nonce
            word_index += 1

    # ------------------------------------------------------------------ consent

    def instruction_id(self, instruction: Instruction) -> str:
        """The instruction's id (its EIP-712 digest), computed off-chain, as hex."""
        return "0x" + instruction_id(self.domain, instruction).hex()

    def sign(self, signer: LocalAccount, instruction: Instruction) -> bytes:
        """``signer``'s (a party's) 65-byte EIP-712 signature of ``instruction``."""
        return sign_instruction(signer, self.domain, instruction).packed()

    def signed(self, instruction: Instruction, *signers: LocalAccount) -> SignedInstruction:
        """``instruction`` with the signatures of ``signers`` (one or both parties) in their slots."""
        sig_a = sig_b = b""
        for signer in signers:
            if signer.address == instruction.party_a:
                sig_a = self.sign(signer, instruction)
            elif signer.address == instruction.party_b:
                sig_b = self.sign(signer, instruction)
            else:
                raise InputError(f"{signer.address} is not a party to this instruction")
        return SignedInstruction(instruction, sig_a, sig_b)

    def propose(self, party: LocalAccount, instruction: Instruction) -> str:
        """Record ``party``'s consent on-chain; returns the instruction id."""
        instruction.validate()
        self.chain.transact(self.contract.functions.propose(instruction.as_tuple()), party, "propose instruction")
        return self.instruction_id(instruction)

    def affirm(self, party: LocalAccount, instruction: Instruction) -> Outcome:
        """Record ``party``'s consent to the counterparty's proposal and try to settle at once.

        A settlement that cannot happen yet does not fail the call: the outcome says why, and
        the instruction stays ``AFFIRMED`` for a later :meth:`settle` by anyone.
        """
        receipt = self.chain.transact(self.contract.functions.affirm(instruction.as_tuple()), party, "affirm")
        (outcome,) = self.outcomes(receipt)
        return outcome

    def cancel(self, party: LocalAccount, instruction: Instruction) -> TxReceipt:
        """Cancel ``instruction`` (a party only): its nonce is spent, nothing can settle it."""
        return self.chain.transact(self.contract.functions.cancel(instruction.as_tuple()), party, "cancel")

    # ------------------------------------------------------------------ settlement

    def settle(self, sender: LocalAccount, item: SignedInstruction) -> Outcome:
        """Settle one instruction; anyone may send it.

        Raises:
            ContractRevertError: it cannot settle (the contract's or the token's error); nothing moved.
        """
        call = self.contract.functions.settle(*item.as_tuple())
        receipt = self.chain.transact(call, sender, "settle")
        (outcome,) = self.outcomes(receipt)
        return outcome

    def settle_batch(self, sender: LocalAccount, items: Sequence[SignedInstruction]) -> list[Outcome]:
        """Settle each of ``items`` on its own in one transaction; one outcome per item, in order.

        Raises:
            InputError: no items, or more than :data:`MAX_BATCH`.
        """
        if not items:
            raise InputError("a batch needs at least one instruction")
        if len(items) > MAX_BATCH:
            raise InputError(f"at most {MAX_BATCH} instructions per batch, got {len(items)}: split it")
        call = self.contract.functions.settleBatch([item.as_tuple() for item in items])
        receipt = self.chain.transact(call, sender, "settle batch")
        outcomes = self.outcomes(receipt)
        if len(outcomes) != len(items):
            raise TransactionError(f"settle batch: {len(items)} instructions sent, {len(outcomes)} outcomes logged")
        return outcomes

    def outcomes(self, receipt: TxReceipt) -> list[Outcome]:
        """The settlement outcomes a transaction logged, in order (one per instruction it tried)."""
        logs: list[EventData] = []
        for name in ("InstructionSettled", "SettlementFailed"):
            found = self.contract.events[name]().process_receipt(receipt, errors=DISCARD)
            logs.extend(log for log in found if log["address"] == self.contract.address)
        logs.sort(key=lambda log: log["logIndex"])
        return [self._outcome(log) for log in logs]

    def _outcome(self, log: EventData) -> Outcome:
        id_hex = "0x" + bytes(log["args"]["id"]).hex()
        if log["event"] == "InstructionSettled":
            return Outcome(id_hex, True)
        return decode_reason(self.chain, id_hex, bytes(log["args"]["reason"]))

    # ------------------------------------------------------------------ reads

    def state_of(self, instruction: Instruction) -> InstructionState:
        """Where ``instruction`` stands now."""
        return InstructionState(self.contract.functions.stateOf(instruction.as_tuple()).call())

    def approvals_of(self, instruction: Instruction) -> tuple[bool, bool]:
        """Whether party A and party B have consented on-chain."""
        id_bytes = bytes.fromhex(self.instruction_id(instruction)[2:])
        approved_a, approved_b = self.contract.functions.approvalsOf(id_bytes).call()
        return bool(approved_a), bool(approved_b)

    def proposals_for(self, party: str, from_block: int = 0) -> list[Instruction]:
        """Instructions a counterparty proposed to ``party`` that are still ``PROPOSED``."""
        party = checksum(party)
        found = []
        for log in self.contract.events.InstructionProposed().get_logs(from_block=from_block):
            instruction = Instruction.from_message(dict(log["args"]["instruction"]))
            involved = party in (instruction.party_a, instruction.party_b) and log["args"]["proposer"] != party
            if involved and self.state_of(instruction) == InstructionState.PROPOSED:
                found.append(instruction)
        return found

    def history(
        self, *, instruction: Instruction | None = None, party: str | None = None, from_block: int = 0
    ) -> list[SettlementEvent]:
        """Every proposal, affirmation, settlement, cancellation and failure, in chain order.

        Args:
            instruction: Only this instruction's events.
            party: Only events of instructions where ``party`` is a party (instructions whose
                details cannot be recovered are left out).
            from_block: First block to read.
        """
        logs: list[EventData] = []
        for name in _EVENTS:
            logs.extend(self.contract.events[name]().get_logs(from_block=from_block))
        logs.sort(key=lambda log: (log["blockNumber"], log["logIndex"]))
        wanted_id = self.instruction_id(instruction) if instruction else None
        wanted_party = checksum(party) if party else None
        known: dict[str, Instruction] = {}
        events = []
        for log in logs:
            event = self._event(log, known)
            if wanted_id is not None and event.id != wanted_id:
                continue
            if wanted_party is not None and (
                event.instruction is None or wanted_party not in (event.instruction.party_a, event.instruction.party_b)
            ):
                continue
            events.append(event)
        return events

    def history_records(self, **filters: Any) -> list[dict[str, Any]]:
        """:meth:`history` as flat dicts (``pandas.DataFrame(records)`` ready)."""
        return [event.record() for event in self.history(**filters)]

    def _event(self, log: EventData, known: dict[str, Instruction]) -> SettlementEvent:
        args = log["args"]
        id_hex = "0x" + bytes(args["id"]).hex()
        kind = _KINDS[log["event"]]
        party: str | None = None
        reason: Outcome | None = None
        if kind == "proposed":
            party = str(args["proposer"])
            known[id_hex] = Instruction.from_message(dict(args["instruction"]))
        elif kind == "affirmed":
            party = str(args["affirmer"])
        elif kind == "cancelled":
            party = str(args["party"])
        elif kind == "failed":
            reason = decode_reason(self.chain, id_hex, bytes(args["reason"]))
        if id_hex not in known:
            for candidate in self._instructions_in(log["transactionHash"]):
                known.setdefault(self.instruction_id(candidate), candidate)
        return SettlementEvent(
            block=int(log["blockNumber"]),
            log_index=int(log["logIndex"]),
            tx_hash="0x" + bytes(log["transactionHash"]).hex(),
            kind=kind,
            id=id_hex,
            party=party,
            reason=reason,
            instruction=known.get(id_hex),
        )

    def _instructions_in(self, tx_hash: Any) -> list[Instruction]:
        """Instructions in the input of a transaction sent straight to this contract."""
        tx = self.chain.w3.eth.get_transaction(tx_hash)
        if tx.get("to") != self.contract.address:
            return []
        try:
            function, args = self.contract.decode_function_input(tx["input"])
        except ValueError:
            return []
        name = function.fn_name
        if name == "settleBatch":
            return [_from_tuple(item[0]) for item in args["batch"]]
        if name in ("settle", "propose", "affirm", "cancel"):
            return [_from_tuple(args["instruction"])]
        return []

    def _now(self) -> int:
        return self.chain.now()


_KINDS = {
    "InstructionProposed": "proposed",
    "InstructionAffirmed": "affirmed",
    "InstructionSettled": "settled",
    "InstructionCancelled": "cancelled",
    "SettlementFailed": "failed",
    # Netting: entered into a round, settled by it (the delivery leg moved here, the cash leg in
    # the round's net cash), or released by it.
    "InstructionLocked": "locked",
    "InstructionSettledNetted": "settled_netted",
    "InstructionReleased": "released",
}


def decode_reason(chain: Chain, id_hex: str, reason: bytes) -> Outcome:
    """A failed settlement's outcome, with its revert data decoded by the project's custom errors."""
    reason_hex = "0x" + reason.hex()
    decoded = chain.decode_error(reason_hex) if len(reason) >= 4 else None
    if decoded is None:
        return Outcome(id_hex, False, None, None, reason_hex)
    return Outcome(id_hex, False, decoded.name, decoded.args, reason_hex, decoded.text)


def _from_tuple(value: Any) -> Instruction:
    if isinstance(value, dict):
        return Instruction.from_message(value)
    return Instruction(*value)
