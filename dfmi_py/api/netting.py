"""Multilateral netting rounds: open, register obligations (signed by both parties), close, submit
the nets computed off-chain, fund, settle, exclude members that cannot pay, and read each round's
compression.

The nets, the recomputation after an exclusion and the compression come from
:mod:`dfmi_py.netting`, fed with the obligations read back from the contract's events, so what is
submitted is computed by the members' own tool, and the contract only checks it. Amounts are
integers in the cash token's smallest unit.

Typical round::

    netting = Netting(chain, deployment.netting)
    round_id = netting.open_round(opener)
    ob = netting.obligation(round_id, p1.address, p2.address, 40 * USD)
    netting.register(p1, ob, payee_signature=netting.sign(p2, ob))
    ...
    netting.close(opener, round_id)
    netting.submit_nets(anyone, round_id)          # computed from the events, verified on-chain
    netting.approve(p1, 90 * USD)                  # or netting.fund(p1, round_id, 90 * USD)
    netting.settle(anyone, round_id)

DvP cash legs: a signed :class:`~dfmi_py.api.settlement.SignedInstruction` whose payment leg is in
the round's cash enters a collecting round with :meth:`Netting.enter_instruction` (anyone may send
it; the parties' signatures of the instruction are their consent). Its cash leg is then an
ordinary obligation in the events (buyer owes seller, ``ref`` = the instruction id), so the nets
above include it; :meth:`Netting.settle` moves every delivery leg with the net cash, and
:meth:`Netting.exclude` / :meth:`Netting.release_instructions` list the instructions concerned,
read from the ``InstructionEntered`` events.

A delivery token is arbitrary code, so a delivery that cannot move is proven by trying it: after
the funding deadline, a settlement in which some deliveries fail moves nothing, records each
failure (``DeliveryFailed``, read back by :meth:`Netting.delivery_failures`) and does not revert;
:meth:`Netting.remove_failed` then takes just those instructions out of the round (released,
pending again) and :meth:`Netting.resolve` does that first, before any exclusion::

    netting.settle(anyone, round_id)               # after the deadline: failures recorded
    netting.resolve(anyone, round_id)              # failed instructions removed, nets resubmitted
    netting.settle(anyone, round_id)               # the rest of the round settles
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from functools import cached_property
from typing import Any

from eth_abi.exceptions import DecodingError
from eth_account.signers.local import LocalAccount
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import TxReceipt

from dfmi_py.api.base import ContractAPI
from dfmi_py.api.settlement import SignedInstruction
from dfmi_py.api.token import require_units
from dfmi_py.chain.client import checksum
from dfmi_py.errors import InputError
from dfmi_py.netting.obligation import Obligation, obligation_id, sign_obligation
from dfmi_py.netting.positions import Compression, net_vector, verify_nets
from dfmi_py.signing.eip712 import Domain
from dfmi_py.signing.settlement import Instruction

logger = logging.getLogger(__name__)

#: Default seconds a new round collects obligations, and then gives members to fund.
DEFAULT_COLLECTION_SECONDS = 3600
DEFAULT_FUNDING_SECONDS = 3600
#: Most obligations :meth:`Netting.register_batch` sends in one transaction (about 75,000 gas each
#: when new members join, see bench/results/netting_gas.md; 150 stay well inside a 30M block).
MAX_BATCH = 150
_ZERO_REF = bytes(32)


class RoundState(IntEnum):
    """Mirror of ``RoundState`` in INetting.sol."""

    NONE = 0
    COLLECTING = 1
    CLOSED = 2
    VERIFIED = 3
    SETTLED = 4
    EXPIRED = 5


class ObligationState(IntEnum):
    """Mirror of ``ObligationState`` in INetting.sol."""

    NONE = 0
    REGISTERED = 1
    REMOVED = 2
    #: The cash leg of a DvP instruction entered into the round (counts like REGISTERED).
    DELIVERY = 3
    #: A DELIVERY whose delivery leg failed in an attempt to settle the round: still counts, and
    #: anyone may remove it (:meth:`Netting.remove_failed`).
    FAILED = 4


@dataclass(frozen=True)
class SignedObligation:
    """An obligation with each party's consent: a signature, or empty bytes for the sender."""

    obligation: Obligation
    payer_signature: bytes = b""
    payee_signature: bytes = b""

    def as_tuple(self) -> tuple[Any, ...]:
        """The ``SignedObligation`` struct as web3 takes it."""
        return (self.obligation.as_tuple(), self.payer_signature, self.payee_signature)


@dataclass(frozen=True)
class RoundInfo:
    """``RoundInfo`` of INetting.sol."""

    round_id: int
    opener: str
    cutoff: int
    deadline: int
    state: RoundState
    gross_value: int
    net_value: int
    obligation_count: int
    member_count: int
    excluded_count: int
    escrowed: int
    instruction_count: int = 0

    @property
    def compression(self) -> Compression:
        """Gross and net value of the round's (remaining) obligations."""
        return Compression(self.gross_value, self.net_value)

    def record(self) -> dict[str, Any]:
        """A flat row for pandas, with the compression ratio as a float."""
        return {
            "round_id": self.round_id,
            "state": self.state.name,
            "opener": self.opener,
            "cutoff": self.cutoff,
            "deadline": self.deadline,
            "members": self.member_count,
            "excluded": self.excluded_count,
            "obligations": self.obligation_count,
            "gross_value": self.gross_value,
            "net_value": self.net_value,
            "compression": float(self.compression.ratio),
            "escrowed": self.escrowed,
            "instructions": self.instruction_count,
        }


@dataclass(frozen=True)
class DeliveryFailure:
    """A delivery leg that failed in an attempt to settle a round (a ``DeliveryFailed`` event).

    Attributes:
        round_id: The round.
        instruction: The instruction whose delivery leg failed.
        instruction_id: Its id.
        seller: Its seller (``party_a``).
        reason: The attempt's revert data (at most ``MAX_REASON_BYTES``; empty when it ran out
            of gas).
        error: The custom error ``reason`` decodes to (``None`` when empty, unknown or cut).
        block: The block of the attempt.
    """

    round_id: int
    instruction: Instruction
    instruction_id: bytes
    seller: str
    reason: bytes
    error: str | None
    block: int


@dataclass(frozen=True)
class Position:
    """A member's position in one round."""

    member: str
    net: int
    obligations: int
    excluded: bool
    funded: int


class Netting(ContractAPI):
    """The netting contract.

    Args:
        chain: The chain.
        contract: The ``NettingEngine`` contract.
    """

    @cached_property
    def domain(self) -> Domain:
        """The contract's EIP-712 domain (read once)."""
        return self.eip712_domain()

    @cached_property
    def cash(self) -> Contract:
        """The cash token every round is in."""
        return self.chain.contract("CashToken", self.contract.functions.cash().call())

    # ------------------------------------------------------------------ rounds

    def open_round(self, opener: LocalAccount, cutoff: int | None = None, deadline: int | None = None) -> int:
        """Open a round; returns its id.

        Args:
            opener: An onboarded account; it may close the round before ``cutoff``.
            cutoff: Last second obligations register (default: an hour from the latest block).
            deadline: Funding deadline (default: an hour after ``cutoff``).
        """
        if cutoff is None:
            cutoff = self._now() + DEFAULT_COLLECTION_SECONDS
        if deadline is None:
            deadline = cutoff + DEFAULT_FUNDING_SECONDS
        if deadline < cutoff:
            raise InputError(f"the funding deadline {deadline} is before the cutoff {cutoff}")
        receipt = self.chain.transact(self.contract.functions.openRound(cutoff, deadline), opener, "open a round")
        (event,) = self.contract.events.RoundOpened().process_receipt(receipt, errors=DISCARD)
        round_id = int(event["args"]["roundId"])
        logger.info("opened netting round %s (cutoff %s, deadline %s)", round_id, cutoff, deadline)
        return round_id

    def obligation(
        self, round_id: int, payer: str, payee: str, amount: int, ref: bytes | int = _ZERO_REF
    ) -> Obligation:
        """An obligation checked for what the contract refuses whatever the chain's state.

        ``ref`` must differ between obligations with the same parties and amount in one round.

        Raises:
            InputError: a malformed address, an amount outside [1, 2**96 - 1], payer == payee.
        """
        if isinstance(ref, int):
            if not 0 <= ref < 2**256:
                raise InputError(f"ref must fit 32 bytes, got {ref}")
            ref = ref.to_bytes(32, "big")
        built = Obligation(round_id, checksum(payer), checksum(payee), amount, ref)
        built.validate()
        return built

    def sign(self, signer: LocalAccount, obligation: Obligation) -> bytes:
        """``signer``'s (payer's or payee's) packed EIP-712 signature of ``obligation``."""
        return sign_obligation(signer, self.domain, obligation).packed()

    def id_of(self, obligation: Obligation) -> bytes:
        """The obligation's id (its EIP-712 digest), computed off-chain."""
        return obligation_id(self.domain, obligation)

    def register(
        self,
        sender: LocalAccount,
        obligation: Obligation,
        payer_signature: bytes = b"",
        payee_signature: bytes = b"",
    ) -> TxReceipt:
        """Register ``obligation``: the sender's own consent needs no signature, the other party's does."""
        obligation.validate()
        call = self.contract.functions.register(obligation.as_tuple(), payer_signature, payee_signature)
        return self.chain.transact(call, sender, "register an obligation")

    def register_batch(self, sender: LocalAccount, batch: Sequence[SignedObligation]) -> list[TxReceipt]:
        """Register ``batch`` in transactions of at most :data:`MAX_BATCH` (each all or nothing)."""
        if not batch:
            raise InputError("an empty batch registers nothing")
        for item in batch:
            item.obligation.validate()
        receipts = []
        for start in range(0, len(batch), MAX_BATCH):
            chunk = [item.as_tuple() for item in batch[start : start + MAX_BATCH]]
            call = self.contract.functions.registerBatch(chunk)
            receipts.append(self.chain.transact(call, sender, f"register {len(chunk)} obligations"))
        return receipts

    def signed_by_both(self, obligation: Obligation, payer: LocalAccount, payee: LocalAccount) -> SignedObligation:
        """``obligation`` with both parties' signatures (for a batch sent by anyone)."""
        return SignedObligation(obligation, self.sign(payer, obligation), self.sign(payee, obligation))

    def enter_instruction(self, sender: LocalAccount, round_id: int, item: SignedInstruction) -> tuple[bytes, bytes]:
        """Enter a DvP instruction into the collecting round: the settlement contract locks it and
        its cash leg (buyer ``party_b`` owes ``amount_b`` to seller ``party_a``) joins the round.

        ``item`` carries both parties' consent (signatures, or empty for on-chain approvals);
        anyone may send it. Returns ``(instruction_id, obligation_id)``.

        Raises:
            InputError: a malformed instruction, or its payment leg not in the round's cash.
        """
        instruction = item.instruction
        instruction.validate()
        if instruction.token_b != self.cash.address:
            raise InputError(
                f"the instruction pays in {instruction.token_b}; round {round_id} nets {self.cash.address} only"
            )
        call = self.contract.functions.enterInstruction(
            round_id, instruction.as_tuple(), item.signature_a, item.signature_b
        )
        receipt = self.chain.transact(call, sender, f"enter an instruction into round {round_id}")
        (event,) = self.contract.events.InstructionEntered().process_receipt(receipt, errors=DISCARD)
        return bytes(event["args"]["instructionId"]), bytes(event["args"]["obligationId"])

    def close(self, sender: LocalAccount, round_id: int) -> TxReceipt:
        """Close the round to new obligations (its opener any time, anyone after the cutoff)."""
        return self.chain.transact(self.contract.functions.close(round_id), sender, f"close round {round_id}")

    # ------------------------------------------------------------------ nets

    def compute_nets(self, round_id: int, from_block: int = 0) -> list[int]:
        """The round's nets computed off-chain from its events, in the contract's member order."""
        return net_vector(self.obligations(round_id, from_block), self.members(round_id))

    def submit_nets(
        self, sender: LocalAccount, round_id: int, nets: Sequence[int] | None = None, from_block: int = 0
    ) -> TxReceipt:
        """Submit the round's nets for verification (computed from the events when ``nets`` is None).

        Given ``nets`` are checked off-chain first, so a wrong vector fails here without a
        transaction (raising :class:`~dfmi_py.netting.NetsMismatchError`).
        """
        members = self.members(round_id)
        obligations = self.obligations(round_id, from_block)
        vector = net_vector(obligations, members) if nets is None else list(nets)
        verify_nets(obligations, members, vector)
        call = self.contract.functions.submitNets(round_id, vector)
        return self.chain.transact(call, sender, f"submit the nets of round {round_id}")

    def submit_nets_unchecked(self, sender: LocalAccount, round_id: int, nets: Sequence[int]) -> TxReceipt:
        """Send ``nets`` as given, for the contract to judge (tests of its verification use this)."""
        call = self.contract.functions.submitNets(round_id, list(nets))
        return self.chain.transact(call, sender, f"submit the nets of round {round_id}")

    # ------------------------------------------------------------------ funding and settlement

    def approve(self, member: LocalAccount, amount: int) -> TxReceipt:
        """Let the contract pull up to ``amount`` from ``member``'s wallet at settlement."""
        require_units(amount, "amount", allow_zero=True)
        call = self.cash.functions.approve(self.address, amount)
        return self.chain.transact(call, member, "approve the netting contract")

    def fund(self, member: LocalAccount, round_id: int, amount: int, *, approve: bool = True) -> TxReceipt:
        """Pay ``amount`` into the round's escrow for ``member`` (approving it first by default)."""
        require_units(amount, "amount")
        if approve:
            self.approve(member, amount)
        call = self.contract.functions.fund(round_id, amount)
        return self.chain.transact(call, member, f"fund round {round_id}")

    def withdraw_funding(self, member: LocalAccount, round_id: int, amount: int | None = None) -> TxReceipt:
        """Take back ``amount`` (default: all that is free) of ``member``'s funding of the round."""
        if amount is None:
            amount = self.free_funding_of(round_id, member.address)
        if amount == 0:
            raise InputError(f"{member.address} has no free funding in round {round_id}")
        require_units(amount, "amount")
        call = self.contract.functions.withdrawFunding(round_id, amount)
        return self.chain.transact(call, member, f"withdraw funding of round {round_id}")

    def settle(self, sender: LocalAccount, round_id: int, from_block: int = 0) -> TxReceipt:
        """Move every net of the (Verified) round and every delivery leg of its instructions, all
        or nothing; anyone may send it. The instructions are read from the events.

        After the funding deadline, a settlement in which some deliveries fail moves nothing but
        records them and does not raise: the round is then still Verified, and
        :meth:`failures_in` of the receipt lists the failures (remove them with
        :meth:`remove_failed`, or :meth:`resolve`). Before the deadline it raises
        ``NettingDeliveriesFailed`` instead.
        """
        instructions = [i.as_tuple() for i in self.instructions(round_id, from_block)]
        call = self.contract.functions.settle(round_id, instructions)
        receipt = self.chain.transact(call, sender, f"settle round {round_id}")
        failures = self.failures_in(receipt)
        if failures:
            logger.warning(
                "round %s did not settle: %s deliveries failed (%s)",
                round_id,
                len(failures),
                ", ".join(f"0x{f.instruction_id.hex()}: {f.error or 'no known error'}" for f in failures),
            )
        return receipt

    def release_instructions(self, sender: LocalAccount, round_id: int, from_block: int = 0) -> TxReceipt:
        """Release every instruction of an expired round (anyone may send it): each is pending
        again in the settlement contract."""
        instructions = [i.as_tuple() for i in self.instructions(round_id, from_block)]
        if not instructions:
            raise InputError(f"round {round_id} holds no instruction")
        call = self.contract.functions.releaseInstructions(round_id, instructions)
        return self.chain.transact(call, sender, f"release the instructions of round {round_id}")

    # ------------------------------------------------------------------ failed deliveries

    def delivery_failures(self, round_id: int, from_block: int = 0) -> list[DeliveryFailure]:
        """The round's instructions whose delivery failed and that are still in the round, failed
        now (a later settlement that delivered one clears it): what :meth:`remove_failed` removes.
        The last recorded failure of each, in the order of the events."""
        entered = {self._instruction_id(i): i for i in self.instructions(round_id, from_block)}
        logs = self.contract.events.DeliveryFailed().get_logs(
            from_block=from_block, argument_filters={"roundId": round_id}
        )
        latest: dict[bytes, DeliveryFailure] = {}
        for log in logs:
            instruction_id = bytes(log["args"]["instructionId"])
            instruction = entered.get(instruction_id)
            if instruction is not None:
                latest.pop(instruction_id, None)
                latest[instruction_id] = self._failure(round_id, instruction, log)
        return [
            failure
            for failure in latest.values()
            if self.obligation_state(self._cash_leg(round_id, failure.instruction)) == ObligationState.FAILED
        ]

    def failures_in(self, receipt: TxReceipt) -> list[DeliveryFailure]:
        """The failures a settlement recorded (its ``DeliveryFailed`` events), in list order."""
        logs = self.contract.events.DeliveryFailed().process_receipt(receipt, errors=DISCARD)
        entered: dict[int, dict[bytes, Instruction]] = {}
        failures = []
        for log in logs:
            if log["address"] != self.address:
                continue
            round_id = int(log["args"]["roundId"])
            if round_id not in entered:
                entered[round_id] = {self._instruction_id(i): i for i in self.instructions(round_id)}
            instruction = entered[round_id][bytes(log["args"]["instructionId"])]
            failures.append(self._failure(round_id, instruction, log))
        return failures

    def remove_failed(self, sender: LocalAccount, round_id: int, from_block: int = 0) -> TxReceipt:
        """Remove every instruction of the round whose delivery failed (anyone may send it): only
        those instructions leave the round, released (pending again); their parties' other
        obligations stay. The round is then Closed: submit its nets again.

        Raises:
            InputError: the round holds no failed instruction.
        """
        failures = self.delivery_failures(round_id, from_block)
        if not failures:
            raise InputError(f"round {round_id} has no failed delivery to remove")
        call = self.contract.functions.removeFailed(round_id, [f.instruction.as_tuple() for f in failures])
        receipt = self.chain.transact(call, sender, f"remove {len(failures)} failed instructions of round {round_id}")
        logger.info("removed %s failed instructions from round %s", len(failures), round_id)
        return receipt

    def _failure(self, round_id: int, instruction: Instruction, log: Any) -> DeliveryFailure:
        reason = bytes(log["args"]["reason"])
        return DeliveryFailure(
            round_id,
            instruction,
            bytes(log["args"]["instructionId"]),
            checksum(log["args"]["seller"]),
            reason,
            self.error_name(reason),
            int(log["blockNumber"]),
        )

    def error_name(self, reason: bytes) -> str | None:
        """The custom error ``reason`` (revert data) decodes to, or ``None`` (empty, unknown, cut)."""
        if len(reason) < 4:
            return None
        try:
            decoded = self.chain.decode_error_data("0x" + reason.hex())
        except DecodingError:
            return None
        return None if decoded is None else decoded[0]

    # ------------------------------------------------------------------ exclusion

    def exclude(self, sender: LocalAccount, round_id: int, member: str, from_block: int = 0) -> TxReceipt:
        """Exclude ``member`` (after the funding deadline, when it blocks the settlement).

        Its registered obligations and its instructions are read from the events and passed to
        the contract, which checks the lists are complete; its instructions are released.
        """
        address = checksum(member)
        instructions = [i for i in self.instructions(round_id, from_block) if address in (i.party_a, i.party_b)]
        legs = {self._cash_leg(round_id, i) for i in instructions}
        mine = [o.as_tuple() for o in self.obligations(round_id, from_block) if o.involves(address) and o not in legs]
        call = self.contract.functions.exclude(round_id, address, mine, [i.as_tuple() for i in instructions])
        return self.chain.transact(call, sender, f"exclude {address} from round {round_id}")

    def blocking_member(self, round_id: int) -> str | None:
        """The first member (in round order) that may be excluded now, or ``None``.

        Mirrors the contract's rule: a net debit above what the member can fund, a net credit it
        cannot receive (not onboarded), or instructions it cannot deliver (per token, the sum of
        its deliveries above its balance or its allowance to the settlement contract) or take
        part in (not onboarded).
        """
        registry = self.chain.contract("ComplianceRegistry", self.contract.functions.registry().call())
        instructions = self.instructions(round_id)
        for member in self.members(round_id):
            position = self.position_of(round_id, member)
            if position.excluded:
                continue
            if position.net < 0:
                required, available = self.funding_of(round_id, member)
                if available < required:
                    return member
            elif position.net > 0 and not registry.functions.isActive(member).call():
                return member
            mine = [i for i in instructions if member in (i.party_a, i.party_b)]
            if mine and (not registry.functions.isActive(member).call() or self._cannot_deliver(member, mine)):
                return member
        return None

    def _cannot_deliver(self, member: str, instructions: Sequence[Instruction]) -> bool:
        """True when ``member`` lacks the balance or the allowance for its deliveries of some token."""
        totals: dict[str, int] = {}
        for instruction in instructions:
            if instruction.party_a == member:
                totals[instruction.token_a] = totals.get(instruction.token_a, 0) + instruction.amount_a
        spender = self.settlement_address
        for token_address, total in totals.items():
            token = self.chain.contract("SecurityToken", token_address)
            balance = int(token.functions.balanceOf(member).call())
            allowance = int(token.functions.allowance(member, spender).call())
            if min(balance, allowance) < total:
                return True
        return False

    def resolve(self, sender: LocalAccount, round_id: int, from_block: int = 0) -> list[str]:
        """After the deadline: remove the instructions whose delivery failed, exclude blocking
        members one at a time, then resubmit the nets.

        Failed instructions go first and alone (:meth:`remove_failed`): the buyer or the token
        may be at fault rather than the seller, so the seller's other obligations stay. Each
        exclusion changes other members' nets, so the next blocker is found on the updated round
        (the order of :func:`dfmi_py.netting.resolve_round`). Returns the excluded members; the
        round is then Verified, ready for :meth:`settle` (which may record new failures: resolve
        again).
        """
        if self.delivery_failures(round_id, from_block):
            self.remove_failed(sender, round_id, from_block)
        excluded = []
        while (member := self.blocking_member(round_id)) is not None:
            self.exclude(sender, round_id, member, from_block)
            logger.info("excluded %s from round %s", member, round_id)
            excluded.append(member)
        if self.state(round_id) == RoundState.CLOSED:
            self.submit_nets(sender, round_id, from_block=from_block)
        return excluded

    # ------------------------------------------------------------------ reads

    @cached_property
    def settlement_address(self) -> str:
        """The settlement contract whose DvP instructions rounds may net (zero address: none)."""
        return checksum(self.contract.functions.settlement().call())

    def instructions(self, round_id: int, from_block: int = 0) -> list[Instruction]:
        """The round's DvP instructions in entry order, rebuilt from the events (released ones left out)."""
        filters = {"roundId": round_id}
        entered = self.contract.events.InstructionEntered().get_logs(from_block=from_block, argument_filters=filters)
        released = {
            bytes(log["args"]["instructionId"])
            for log in self.contract.events.InstructionReleased().get_logs(
                from_block=from_block, argument_filters=filters
            )
        }
        return [
            Instruction.from_message(dict(log["args"]["instruction"]))
            for log in entered
            if bytes(log["args"]["instructionId"]) not in released
        ]

    def instruction_records(self, round_id: int, from_block: int = 0) -> list[dict[str, Any]]:
        """One row per instruction entered into the round (released ones flagged), for pandas."""
        filters = {"roundId": round_id}
        released = {
            bytes(log["args"]["instructionId"])
            for log in self.contract.events.InstructionReleased().get_logs(
                from_block=from_block, argument_filters=filters
            )
        }
        rows = []
        for log in self.contract.events.InstructionEntered().get_logs(from_block=from_block, argument_filters=filters):
            a = log["args"]
            row: dict[str, Any] = {
                "round_id": round_id,
                "block": int(log["blockNumber"]),
                "instruction_id": "0x" + bytes(a["instructionId"]).hex(),
                "obligation_id": "0x" + bytes(a["obligationId"]).hex(),
                "released": bytes(a["instructionId"]) in released,
            }
            row.update(dict(a["instruction"]))
            rows.append(row)
        return rows

    def _cash_leg(self, round_id: int, instruction: Instruction) -> Obligation:
        """The obligation an entered instruction's cash leg is: the buyer owes the seller, ref = its id."""
        ref = self._instruction_id(instruction)
        return Obligation(round_id, instruction.party_b, instruction.party_a, instruction.amount_b, ref)

    def _instruction_id(self, instruction: Instruction) -> bytes:
        """The instruction's id, as the settlement contract computes it."""
        settlement = self.chain.contract("AtomicSettlement", self.settlement_address)
        return bytes(settlement.functions.hashInstruction(instruction.as_tuple()).call())

    def round_count(self) -> int:
        """Rounds opened so far."""
        return int(self.contract.functions.roundCount().call())

    def state(self, round_id: int) -> RoundState:
        """Where the round stands."""
        return RoundState(self.contract.functions.stateOf(round_id).call())

    def round(self, round_id: int) -> RoundInfo:
        """The round in full."""
        info = self.chain.call(self.contract.functions.roundOf(round_id), f"read round {round_id}")
        (opener, cutoff, deadline, state, gross, net, obligations, members, excluded, escrowed, instructions) = info
        return RoundInfo(
            round_id,
            checksum(opener),
            int(cutoff),
            int(deadline),
            RoundState(state),
            int(gross),
            int(net),
            int(obligations),
            int(members),
            int(excluded),
            int(escrowed),
            int(instructions),
        )

    def rounds(self) -> list[RoundInfo]:
        """Every round, oldest first."""
        return [self.round(i) for i in range(1, self.round_count() + 1)]

    def members(self, round_id: int) -> list[str]:
        """The round's members, in the order nets are submitted."""
        return [checksum(m) for m in self.contract.functions.membersOf(round_id).call()]

    def nets(self, round_id: int) -> list[int]:
        """The nets the contract accumulated, in :meth:`members` order."""
        return [int(n) for n in self.contract.functions.netsOf(round_id).call()]

    def position_of(self, round_id: int, member: str) -> Position:
        """``member``'s position in the round."""
        address = checksum(member)
        net, obligations, excluded, funded = self.contract.functions.positionOf(round_id, address).call()
        return Position(address, int(net), int(obligations), bool(excluded), int(funded))

    def funding_of(self, round_id: int, member: str) -> tuple[int, int]:
        """``(required, available)``: ``member``'s net debit and what it can fund now."""
        required, available = self.contract.functions.fundingOf(round_id, checksum(member)).call()
        return int(required), int(available)

    def free_funding_of(self, round_id: int, member: str) -> int:
        """What ``member`` may withdraw from the round's escrow now."""
        return int(self.contract.functions.freeFundingOf(round_id, checksum(member)).call())

    def compression(self, round_id: int) -> Compression:
        """The round's gross value and the net value that moves (or moved)."""
        gross, net = self.contract.functions.compressionOf(round_id).call()
        return Compression(int(gross), int(net))

    def obligation_state(self, obligation: Obligation | bytes) -> ObligationState:
        """Fate of an obligation (or of an id)."""
        key = obligation if isinstance(obligation, bytes) else self.id_of(obligation)
        return ObligationState(self.contract.functions.obligationStateOf(key).call())

    # ------------------------------------------------------------------ history

    def obligations(self, round_id: int, from_block: int = 0, *, include_removed: bool = False) -> list[Obligation]:
        """The round's obligations in registration order, rebuilt from the events.

        Removed ones (their payer or payee was excluded) are left out unless ``include_removed``.
        """
        filters = {"roundId": round_id}
        registered = self.contract.events.ObligationRegistered().get_logs(
            from_block=from_block, argument_filters=filters
        )
        removed: set[bytes] = set()
        if not include_removed:
            logs = self.contract.events.ObligationRemoved().get_logs(from_block=from_block, argument_filters=filters)
            removed = {bytes(log["args"]["id"]) for log in logs}
        out = []
        for log in registered:
            if bytes(log["args"]["id"]) in removed:
                continue
            a = log["args"]
            out.append(Obligation(round_id, a["payer"], a["payee"], int(a["amount"]), bytes(a["ref"])))
        return out

    def obligation_records(self, round_id: int, from_block: int = 0) -> list[dict[str, Any]]:
        """One row per obligation of the round (removed ones flagged), for pandas."""
        removed = {
            bytes(log["args"]["id"])
            for log in self.contract.events.ObligationRemoved().get_logs(
                from_block=from_block, argument_filters={"roundId": round_id}
            )
        }
        rows = []
        for log in self.contract.events.ObligationRegistered().get_logs(
            from_block=from_block, argument_filters={"roundId": round_id}
        ):
            a = log["args"]
            rows.append(
                {
                    "round_id": round_id,
                    "block": int(log["blockNumber"]),
                    "id": "0x" + bytes(a["id"]).hex(),
                    "payer": a["payer"],
                    "payee": a["payee"],
                    "amount": int(a["amount"]),
                    "ref": "0x" + bytes(a["ref"]).hex(),
                    "removed": bytes(a["id"]) in removed,
                }
            )
        return rows

    def compression_records(self) -> list[dict[str, Any]]:
        """One row per round: state, members, obligations, gross, net, compression (pandas-ready)."""
        return [info.record() for info in self.rounds()]

    def exclusions(self, round_id: int, from_block: int = 0) -> list[dict[str, Any]]:
        """Every exclusion of the round: who, what it owed and was owed, and what it could fund."""
        logs = self.contract.events.MemberExcluded().get_logs(
            from_block=from_block, argument_filters={"roundId": round_id}
        )
        return [
            {
                "member": log["args"]["member"],
                "caller": log["args"]["caller"],
                "obligations": int(log["args"]["obligations"]),
                "owed_to_others": int(log["args"]["owedToOthers"]),
                "owed_by_others": int(log["args"]["owedByOthers"]),
                "required": int(log["args"]["required"]),
                "available": int(log["args"]["available"]),
            }
            for log in logs
        ]

    def _now(self) -> int:
        return self.chain.now()


def ratio_text(compression: Compression) -> str:
    """``"150 gross, 100 net: 33.3% compressed"`` (units as given)."""
    percent = float(compression.ratio * 100) if compression.gross else 0.0
    return f"{compression.gross} gross, {compression.net} net: {percent:.1f}% compressed"


def totals(compressions: Iterable[Compression]) -> Compression:
    """Sum of several rounds' gross and net values."""
    gross = net = 0
    for c in compressions:
        gross += c.gross
        net += c.net
    return Compression(gross, net)
