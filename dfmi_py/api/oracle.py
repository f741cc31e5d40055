"""The price oracle: reporters' submissions, Chainlink-style round reads and the oracle's settings.

Answers are integers in the oracle's ``decimals()`` (see :func:`dfmi_py.units.to_units`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from eth_account.signers.local import LocalAccount
from web3.types import TxReceipt

from dfmi_py.api.base import ContractAPI
from dfmi_py.chain.client import checksum
from dfmi_py.errors import InputError

#: Largest round id the Chainlink interface can carry (``uint80``).
MAX_ROUND_ID = 2**80 - 1
#: Answers are ``int256`` on the wire; the oracle's bounds are ``int128``.
MAX_ANSWER = 2**127 - 1
#: Field names of the Solidity ``OracleConfig``, in order.
_CONFIG_FIELDS = ("quorum", "jumpQuorum", "heartbeat", "minAnswer", "maxAnswer", "maxJumpBps")


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
        quorum: Submissions after which a round finalises with their median.
        jump_quorum: Submissions needed instead when that median moves more than ``max_jump_bps``.
        heartbeat: Seconds after which the latest answer counts as stale.
        min_answer: Smallest answer accepted, in the oracle's decimals.
        max_answer: Largest answer accepted, in the oracle's decimals.
        max_jump_bps: Largest move from the previous answer that ``quorum`` reporters may make alone.
    """

    quorum: int
    jump_quorum: int
    heartbeat: int
    min_answer: int
    max_answer: int
    max_jump_bps: int

    @classmethod
    def from_call(cls, values: Any) -> OracleConfig:
        """Build from the tuple a call returns, or the mapping an event's ``config`` decodes to."""
        if isinstance(values, Mapping):
            values = [values[key] for key in _CONFIG_FIELDS]
        return cls(*(int(v) for v in values))

    def as_tuple(self) -> tuple[int, int, int, int, int, int]:
        """The struct as the contract takes it, in field order."""
        return (self.quorum, self.jump_quorum, self.heartbeat, self.min_answer, self.max_answer, self.max_jump_bps)


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

    def submissions(self, round_id: int) -> list[int]:
        """Answers submitted for ``round_id`` so far, in submission order."""
        _require_round_id(round_id)
        return [int(a) for a in self.contract.functions.submissionsOf(round_id).call()]

    def has_reported(self, round_id: int, reporter: str) -> bool:
        """True when ``reporter`` has submitted for ``round_id``."""
        _require_round_id(round_id)
        return bool(self.contract.functions.hasReported(round_id, checksum(reporter)).call())

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

    # ------------------------------------------------------------------ writes

    def submit(self, reporter: LocalAccount, answer: int, round_id: int | None = None) -> TxReceipt:
        """Submit ``reporter``'s ``answer`` for ``round_id``, by default the open round.

        Raises:
            InputError: when ``answer`` is not a positive integer or ``round_id`` not a round id.
            ContractRevertError: the oracle refuses (``OracleWrongRound`` if another reporter
                completed the round meanwhile, ``OracleAlreadyReported``, ``OracleAnswerOutOfBounds``,
                ``AccessControlUnauthorizedAccount`` for a non-reporter).
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

    def set_config(self, admin: LocalAccount, config: OracleConfig) -> TxReceipt:
        """Replace the settings (admin only); the oracle validates them."""
        return self.chain.transact(self.contract.functions.setConfig(config.as_tuple()), admin, "set oracle config")


def _require_round_id(round_id: int) -> None:
    if isinstance(round_id, bool) or not isinstance(round_id, int) or not 1 <= round_id <= MAX_ROUND_ID:
        raise InputError(f"round id must be an integer from 1 to 2**80 - 1, got {round_id!r}")
