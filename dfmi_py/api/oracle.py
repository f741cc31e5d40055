"""The price oracle: reporters' submissions, Chainlink-style round reads, the reporters' own k-of-n
changes of their set and settings, and each round's reports rebuilt from the events.

Answers are integers in the oracle's ``decimals()`` (see :func:`dfmi_py.units.to_units`). The
contract keeps only the open round's reports; a past round's individual answers come from its
``AnswerSubmitted`` events (:meth:`Oracle.history`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import astuple, dataclass
from enum import IntEnum
from functools import cached_property
from typing import Any

from eth_abi.abi import encode
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3.logs import DISCARD
from web3.types import TxReceipt

from dfmi_py.api.base import ContractAPI
from dfmi_py.chain.client import checksum
from dfmi_py.errors import InputError

#: Largest round id the Chainlink interface can carry (``uint80``).
MAX_ROUND_ID = 2**80 - 1
#: Answers are ``int256`` on the wire; the oracle's bounds are ``int128``.
MAX_ANSWER = 2**127 - 1
#: Field names of the Solidity ``OracleConfig``, in order.
_CONFIG_FIELDS = (
    "maxFaults",
    "quorum",
    "jumpQuorum",
    "maxJumpBps",
    "heartbeat",
    "jumpWindow",
    "minAnswer",
    "maxAnswer",
)
#: ABI types of a proposal's id preimage: ``abi.encode(nonce, reporters, config)``.
_CHANGE_ID_TYPES = ["uint64", "address[]", "(uint8,uint8,uint8,uint16,uint32,uint32,int128,int128)"]


class RoundState(IntEnum):
    """Where a round stands (mirror of the Solidity ``RoundState``)."""

    NONE = 0
    COLLECTING = 1
    AWAITING_CONFIRMATION = 2
    FINAL = 3


@dataclass(frozen=True)
class RoundData:
    """One final round, as ``getRoundData`` / ``latestRoundData`` return it.

    Attributes:
        round_id: The round.
        answer: The median answer, in the oracle's decimals.
        started_at: Unix time of the round's first submission.
        updated_at: Unix time the round finalised.
        answered_in_round: Always ``round_id`` for this oracle.
    """

    round_id: int
    answer: int
    started_at: int
    updated_at: int
    answered_in_round: int

    @classmethod
    def from_call(cls, values: Any) -> RoundData:
        """Build from the 5-tuple the contract returns."""
        round_id, answer, started_at, updated_at, answered_in_round = values
        return cls(int(round_id), int(answer), int(started_at), int(updated_at), int(answered_in_round))


@dataclass(frozen=True)
class OracleConfig:
    """The oracle's settings (mirror of the Solidity ``OracleConfig``).

    Attributes:
        max_faults: ``f``: dishonest reporters the answers tolerate, and silent ones the rounds
            and changes tolerate.
        quorum: Submissions after which a round finalises with their median (odd, ``>= 2f + 1``).
        jump_quorum: Submissions needed instead when that median is more than ``max_jump_bps``
            from the anchor, and approvals a change needs (``quorum <= jump_quorum <= n - f``).
        max_jump_bps: Largest distance from the anchor that ``quorum`` reporters may move alone.
        heartbeat: Seconds after which the latest answer counts as stale.
        jump_window: Seconds after which the anchor follows rounds finalised at ``quorum``.
        min_answer: Smallest answer accepted, in the oracle's decimals.
        max_answer: Largest answer accepted, in the oracle's decimals.
    """

    max_faults: int
    quorum: int
    jump_quorum: int
    max_jump_bps: int
    heartbeat: int
    jump_window: int
    min_answer: int
    max_answer: int

    @classmethod
    def from_call(cls, values: Any) -> OracleConfig:
        """Build from the tuple a call returns, or the mapping an event's ``config`` decodes to."""
        if isinstance(values, Mapping):
            values = [values[key] for key in _CONFIG_FIELDS]
        return cls(*(int(v) for v in values))

    def as_tuple(self) -> tuple[int, ...]:
        """The struct as the contract takes it: the fields are declared in the struct's order."""
        return astuple(self)


@dataclass(frozen=True)
class Anchor:
    """The final round large moves are measured from.

    Attributes:
        round_id: The anchor round (0 before the first round finalises).
        answer: Its answer.
        updated_at: Unix time it finalised (the anchor follows quorum rounds once older than
            the jump window).
    """

    round_id: int
    answer: int
    updated_at: int


@dataclass(frozen=True)
class ChangeProposal:
    """A proposed change of the reporters and settings.

    Attributes:
        id: The proposal's id (``keccak256(abi.encode(nonce, reporters, config))``).
        reporters: The reporters it installs, in index order.
        config: The settings it installs.
        nonce: The change nonce it was proposed under.
        approvals: How many reporters approved it.
        required: Approvals that apply it (the ``jump_quorum`` in force).
        stale: True when another change was applied since: it can no longer be approved.
        approvers: Who approved it, when not stale (bits decoded against the reporters in force);
            empty when stale, the reporter set of its nonce being gone.
    """

    id: bytes
    reporters: tuple[str, ...]
    config: OracleConfig
    nonce: int
    approvals: int
    required: int
    stale: bool
    approvers: tuple[str, ...]


@dataclass(frozen=True)
class Submission:
    """One report: ``reporter`` submitted ``answer``."""

    reporter: str
    answer: int


@dataclass(frozen=True)
class RoundRecord:
    """A final round with the reports it finalised on, rebuilt from the events.

    Attributes:
        round_id: The round.
        answer: Its answer (the median of ``submissions``).
        submissions: The reports counted, in submission order (reports that a change discarded
            are left out).
        jump_detected: True when its median at ``quorum`` was too far from the anchor, so it
            waited for ``jump_quorum``.
        anchor_moved: True when it became the anchor.
        block: The block it finalised in.
    """

    round_id: int
    answer: int
    submissions: tuple[Submission, ...]
    jump_detected: bool
    anchor_moved: bool
    block: int


class Oracle(ContractAPI):
    """One price feed.

    Args:
        chain: The chain.
        contract: The ``PriceOracle`` contract.
    """

    @cached_property
    def decimals(self) -> int:
        """Decimals of every answer."""
        return int(self.contract.functions.decimals().call())

    @cached_property
    def description(self) -> str:
        """The pair, e.g. ``"EUR / USD"``."""
        return str(self.contract.functions.description().call())

    # ------------------------------------------------------------------ reads

    def open_round(self) -> int:
        """The only round that accepts submissions (the latest final round plus one)."""
        return int(self.contract.functions.openRound().call())

    def round_state(self, round_id: int) -> RoundState:
        """Where ``round_id`` stands."""
        _require_round_id(round_id)
        return RoundState(int(self.contract.functions.roundState(round_id).call()))

    def latest(self) -> RoundData:
        """The latest final round.

        Raises:
            ContractRevertError: ``OracleNoData`` when no round has finalised yet.
        """
        return RoundData.from_call(self.chain.call(self.contract.functions.latestRoundData(), "latestRoundData"))

    def round(self, round_id: int) -> RoundData:
        """Final round ``round_id``.

        Raises:
            InputError: when ``round_id`` is not a round id.
            ContractRevertError: ``OracleNoData`` when the round is not final.
        """
        _require_round_id(round_id)
        return RoundData.from_call(self.chain.call(self.contract.functions.getRoundData(round_id), "getRoundData"))

    def config(self) -> OracleConfig:
        """The current settings."""
        return OracleConfig.from_call(self.contract.functions.config().call())

    def reporters(self) -> tuple[str, ...]:
        """The reporters, in index order."""
        return tuple(checksum(a) for a in self.contract.functions.reporters().call())

    def is_reporter(self, account: str) -> bool:
        """True when ``account`` is one of the reporters."""
        return bool(self.contract.functions.isReporter(checksum(account)).call())

    def anchor(self) -> Anchor:
        """The anchor round (all zero before the first round finalises)."""
        round_id, answer, updated_at = self.contract.functions.anchor().call()
        return Anchor(int(round_id), int(answer), int(updated_at))

    def submissions(self, round_id: int | None = None) -> list[int]:
        """Answers submitted so far for the open round, in submission order.

        Only the open round's answers are stored; past rounds' are in :meth:`history`.

        Raises:
            ContractRevertError: ``OracleWrongRound`` when ``round_id`` is given and is not the
                open round (it finalised meanwhile, for instance).
        """
        round_id = self.open_round() if round_id is None else round_id
        _require_round_id(round_id)
        call = self.contract.functions.submissionsOf(round_id)
        return [int(a) for a in self.chain.call(call, "submissionsOf")]

    def has_reported(self, reporter: str, round_id: int | None = None) -> bool:
        """True when ``reporter`` has submitted for the open round (``round_id``, if given, must be it).

        Raises:
            ContractRevertError: ``OracleWrongRound`` when ``round_id`` is not the open round.
        """
        round_id = self.open_round() if round_id is None else round_id
        _require_round_id(round_id)
        call = self.contract.functions.hasReported(round_id, checksum(reporter))
        return bool(self.chain.call(call, "hasReported"))

    def first_round_at_or_after(self, timestamp: int) -> int | None:
        """The first final round that finalised at or after ``timestamp`` (Unix seconds).

        Binary search over the final rounds ``1 .. open_round() - 1``: they finalise in order, so
        their ``updated_at`` never decreases. Costs about ``log2(rounds)`` calls.

        Returns:
            The round id, or ``None`` when no final round is that recent (yet).

        Raises:
            InputError: when ``timestamp`` is not a non-negative integer.
        """
        if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
            raise InputError(f"timestamp must be a non-negative integer of Unix seconds, got {timestamp!r}")
        low, high = 1, self.open_round() - 1
        if high < low or self.round(high).updated_at < timestamp:
            return None
        while low < high:  # the answer lies in [low, high]
            mid = (low + high) // 2
            if self.round(mid).updated_at >= timestamp:
                high = mid
            else:
                low = mid + 1
        return low

    def history(self, from_block: int = 0) -> list[RoundRecord]:
        """Every round that finalised since ``from_block``, with the reports it finalised on.

        Rebuilt from the events: a round's ``AnswerSubmitted`` events, minus those before an
        ``OpenRoundCleared`` of that round (a change discarded them).
        """
        contract_events = self.contract.events
        logs: list[tuple[int, int, str, Any]] = []
        for name in ROUND_EVENTS:
            for log in contract_events[name]().get_logs(from_block=from_block):
                logs.append((int(log["blockNumber"]), int(log["logIndex"]), name, log["args"]))
        logs.sort(key=lambda item: (item[0], item[1]))
        return round_records((block, name, args) for block, _, name, args in logs)

    def is_stale(self) -> bool:
        """True when no round has finalised yet, or the latest answer is older than the heartbeat."""
        return bool(self.contract.functions.isStale().call())

    def reported(self) -> dict[str, bool]:
        """Each reporter, in index order, with whether it has reported in the open round."""
        round_id = self.open_round()
        return {reporter: self.has_reported(reporter, round_id) for reporter in self.reporters()}

    def change_nonce(self) -> int:
        """How many changes have been applied; a proposal binds the current value."""
        return int(self.contract.functions.changeNonce().call())

    def change_id(self, reporters: Sequence[str], config: OracleConfig, nonce: int | None = None) -> bytes:
        """The id the oracle gives the proposal of ``reporters`` and ``config`` under ``nonce``
        (by default the current change nonce)."""
        nonce = self.change_nonce() if nonce is None else nonce
        encoded = encode(_CHANGE_ID_TYPES, [nonce, [checksum(r) for r in reporters], config.as_tuple()])
        return bytes(keccak(encoded))

    def proposal(self, change_id: bytes) -> ChangeProposal:
        """Proposed change ``change_id``, with its approvals.

        Raises:
            ContractRevertError: ``OracleChangeUnknown`` when it was never proposed.
        """
        call = self.contract.functions.proposal(change_id)
        reporters, config, nonce, bits = self.chain.call(call, "proposal")
        stale = int(nonce) != self.change_nonce()
        in_force = () if stale else self.reporters()
        return ChangeProposal(
            id=bytes(change_id),
            reporters=tuple(checksum(r) for r in reporters),
            config=OracleConfig.from_call(config),
            nonce=int(nonce),
            approvals=int(bits).bit_count(),
            required=self.config().jump_quorum,
            stale=stale,
            approvers=tuple(r for i, r in enumerate(in_force) if int(bits) >> i & 1),
        )

    # ------------------------------------------------------------------ writes

    def submit(self, reporter: LocalAccount, answer: int, round_id: int | None = None) -> TxReceipt:
        """Submit ``reporter``'s ``answer`` for ``round_id``, by default the open round.

        Raises:
            InputError: when ``answer`` is not a positive integer or ``round_id`` not a round id.
            ContractRevertError: the oracle refuses (``OracleWrongRound`` if another reporter
                completed the round meanwhile, ``OracleAlreadyReported``, ``OracleAnswerOutOfBounds``,
                ``OracleNotReporter`` for anyone else).
        """
        if isinstance(answer, bool) or not isinstance(answer, int):
            raise InputError(f"answer must be an integer in the oracle's {self.decimals} decimals, got {answer!r}")
        if not 0 < answer <= MAX_ANSWER:
            raise InputError(f"answer must be a positive price below 2**127, got {answer}")
        if round_id is None:
            round_id = self.open_round()
        _require_round_id(round_id)
        call = self.contract.functions.submit(round_id, answer)
        return self.chain.transact(call, reporter, f"submit round {round_id}")

    def propose_change(self, reporter: LocalAccount, reporters: Sequence[str], config: OracleConfig) -> bytes:
        """Propose that the reporters become ``reporters`` and the settings ``config``; the
        proposal counts as ``reporter``'s approval. Returns the proposal's id.

        Raises:
            InputError: when ``reporters`` holds something that is not an address.
            ContractRevertError: the oracle refuses (``OracleNotReporter``, the settings' and the
                list's errors, ``OracleChangeAlreadyProposed``).
        """
        addresses = [checksum(r) for r in reporters]
        call = self.contract.functions.propose(addresses, config.as_tuple())
        receipt = self.chain.transact(call, reporter, "propose oracle change")
        [proposed] = self.contract.events.ChangeProposed().process_receipt(receipt, errors=DISCARD)
        return bytes(proposed["args"]["id"])

    def approve_change(self, reporter: LocalAccount, change_id: bytes) -> bool:
        """Approve change ``change_id``; returns True when this approval applied it.

        Raises:
            ContractRevertError: the oracle refuses (``OracleNotReporter``, ``OracleChangeUnknown``,
                ``OracleChangeStale``, ``OracleChangeAlreadyApproved``).
        """
        call = self.contract.functions.approve(change_id)
        receipt = self.chain.transact(call, reporter, "approve oracle change")
        return bool(self.contract.events.ChangeApplied().process_receipt(receipt, errors=DISCARD))


def _require_round_id(round_id: int) -> None:
    if isinstance(round_id, bool) or not isinstance(round_id, int) or not 1 <= round_id <= MAX_ROUND_ID:
        raise InputError(f"round id must be an integer from 1 to 2**80 - 1, got {round_id!r}")


#: The oracle's events that tell how each round went (see :func:`round_records`).
ROUND_EVENTS = ("AnswerSubmitted", "OpenRoundCleared", "JumpDetected", "AnchorMoved", "RoundFinalised")


def round_records(events: Iterable[tuple[int, str, Mapping[str, Any]]]) -> list[RoundRecord]:
    """Every round that finalised, with the reports it finalised on, from the oracle's events in
    chain order as ``(block, event name, args)`` (pure; events not in :data:`ROUND_EVENTS` are
    passed over).

    A round's reports are its ``AnswerSubmitted`` events, minus those before an
    ``OpenRoundCleared`` of that round (a change discarded them).
    """
    pending: dict[int, list[Submission]] = {}
    jumps: set[int] = set()
    anchors: set[int] = set()
    records: list[RoundRecord] = []
    for block, name, args in events:
        if name not in ROUND_EVENTS:
            continue
        round_id = int(args["roundId"])
        if name == "AnswerSubmitted":
            pending.setdefault(round_id, []).append(Submission(checksum(args["reporter"]), int(args["answer"])))
        elif name == "OpenRoundCleared":
            pending.pop(round_id, None)
            jumps.discard(round_id)
        elif name == "JumpDetected":
            jumps.add(round_id)
        elif name == "AnchorMoved":
            anchors.add(round_id)
        else:  # RoundFinalised: AnchorMoved comes after it in the same transaction
            records.append(
                RoundRecord(
                    round_id=round_id,
                    answer=int(args["answer"]),
                    submissions=tuple(pending.pop(round_id, [])),
                    jump_detected=round_id in jumps,
                    anchor_moved=False,
                    block=block,
                )
            )
            jumps.discard(round_id)
    return [
        RoundRecord(r.round_id, r.answer, r.submissions, r.jump_detected, r.round_id in anchors, r.block)
        for r in records
    ]
