"""What one reporter submits to one price feed, and when: a pure function of what it read.

:func:`decide` takes a :class:`FeederState` (the oracle's open round and whether this reporter
already reported in it, the latest final answer, the source quotes, the settings and ``now``) and
returns a :class:`FeedDecision`: at most one :class:`Report` (price ``answer`` for round
``round_id``) and the reason. The rules, in order:

1. No valid quote from any source (see :mod:`dfmi_py.services.sources`): nothing.
2. The quote lies outside the oracle's bounds: nothing (the oracle would refuse it).
3. This reporter already reported in the open round: nothing. It never reports twice in a round.
4. Another reporter opened the round (it has reports): join it.
5. No round has finalised yet: open the first.
6. The price moved more than ``deviation_bps`` from the latest final answer: report.
7. The latest final answer is within ``heartbeat_margin`` seconds of going stale: report.
8. Otherwise nothing.

Everything is compared in integers of the feed's decimals, so no float decides a report.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from dfmi_py.errors import ConfigError, InputError
from dfmi_py.services.sources import BPS, AcceptedQuote, Quote, Selection, SourcePolicy, select_price


class FeedReason(Enum):
    """Why the feeder reports, or why it does not."""

    JOIN = "another reporter opened the round"
    FIRST_ROUND = "no round has finalised yet"
    DEVIATION = "the price moved beyond the deviation threshold"
    HEARTBEAT = "the latest answer is about to go stale"
    NO_VALID_QUOTE = "every source was refused"
    OUT_OF_BOUNDS = "the price lies outside the oracle's bounds"
    ALREADY_REPORTED = "already reported in the open round"
    WITHIN_THRESHOLDS = "no deviation and the heartbeat is not due"


@dataclass(frozen=True)
class FeederConfig:
    """The feeder's settings for one feed.

    Attributes:
        heartbeat: The oracle's heartbeat, in seconds.
        heartbeat_margin: Report this many seconds before the heartbeat lapses (less than it).
        deviation_bps: Report when the price moved more than this, in basis points of the latest
            final answer.
        policy: How source quotes are judged.
    """

    heartbeat: int
    heartbeat_margin: int
    deviation_bps: int
    policy: SourcePolicy

    def __post_init__(self) -> None:
        if self.heartbeat <= 0:
            raise ConfigError(f"heartbeat must be positive, got {self.heartbeat}")
        if not 0 <= self.heartbeat_margin < self.heartbeat:
            raise ConfigError(
                f"heartbeat_margin must lie in 0..heartbeat-1 ({self.heartbeat - 1}), got {self.heartbeat_margin}"
            )
        if self.deviation_bps <= 0:
            raise ConfigError(f"deviation_bps must be positive, got {self.deviation_bps}")


@dataclass(frozen=True)
class FinalAnswer:
    """The oracle's latest final round: its id, answer (feed decimals) and ``updatedAt``."""

    round_id: int
    answer: int
    updated_at: int


@dataclass(frozen=True)
class FeederState:
    """What the feeder read, for one feed.

    Attributes:
        reporter: This feeder's address.
        now: Unix seconds of the decision (the latest block's time).
        open_round: The oracle's ``openRound()``.
        reported_in_open: Whether this reporter has reported in the open round.
        submissions: Reports in the open round so far (from every reporter).
        latest: The latest final round; ``None`` before the first.
        quotes: One quote per source, in the configured order.
        previous_quote: The last quote accepted, which bounds the next one's jump.
        min_answer: The oracle's ``minAnswer``.
        max_answer: The oracle's ``maxAnswer``.
        config: The feeder's settings.
    """

    reporter: str
    now: int
    open_round: int
    reported_in_open: bool
    submissions: int
    latest: FinalAnswer | None
    quotes: tuple[Quote, ...]
    previous_quote: AcceptedQuote | None
    min_answer: int
    max_answer: int
    config: FeederConfig

    def __post_init__(self) -> None:
        expected = 1 if self.latest is None else self.latest.round_id + 1
        if self.open_round != expected:
            raise InputError(
                f"open round {self.open_round} does not follow the latest final round "
                f"({'none' if self.latest is None else self.latest.round_id}): read both from one block"
            )
        if self.submissions < 0 or (self.reported_in_open and self.submissions == 0):
            raise InputError(f"{self.submissions} submissions, yet reported_in_open={self.reported_in_open}")


@dataclass(frozen=True)
class Report:
    """Submit ``answer`` (feed decimals) for round ``round_id``."""

    round_id: int
    answer: int


@dataclass(frozen=True)
class FeedDecision:
    """The decision for one feed.

    Attributes:
        report: What to submit, or ``None``.
        reason: Why.
        selection: The quote taken and the sources refused before it (for the log).
        previous_quote: The quote that bounds the next decision's jump: the one accepted now, or
            the earlier one when every source was refused. Pass it back in the next state.
    """

    report: Report | None
    reason: FeedReason
    selection: Selection
    previous_quote: AcceptedQuote | None


def deviates(answer: int, reference: int, deviation_bps: int) -> bool:
    """True when ``answer`` is more than ``deviation_bps`` basis points of ``reference`` from it."""
    return abs(answer - reference) * BPS > deviation_bps * reference


def heartbeat_due(now: int, updated_at: int, heartbeat: int, margin: int) -> bool:
    """True when an answer of ``updated_at`` is within ``margin`` seconds of going stale at ``now``."""
    return now >= updated_at + heartbeat - margin


def decide(state: FeederState) -> FeedDecision:
    """The feeder's decision for one feed (see the module's rules)."""
    config = state.config
    selection = select_price(list(state.quotes), state.now, state.previous_quote, config.policy)
    quote = selection.accepted
    previous = quote if quote is not None else state.previous_quote

    def outcome(reason: FeedReason, report: bool = False) -> FeedDecision:
        action = Report(state.open_round, quote.answer) if report and quote is not None else None
        return FeedDecision(action, reason, selection, previous)

    if quote is None:
        return outcome(FeedReason.NO_VALID_QUOTE)
    if not state.min_answer <= quote.answer <= state.max_answer:
        return outcome(FeedReason.OUT_OF_BOUNDS)
    if state.reported_in_open:
        return outcome(FeedReason.ALREADY_REPORTED)
    if state.submissions > 0:
        return outcome(FeedReason.JOIN, report=True)
    latest = state.latest
    if latest is None:
        return outcome(FeedReason.FIRST_ROUND, report=True)
    if deviates(quote.answer, latest.answer, config.deviation_bps):
        return outcome(FeedReason.DEVIATION, report=True)
    if heartbeat_due(state.now, latest.updated_at, config.heartbeat, config.heartbeat_margin):
        return outcome(FeedReason.HEARTBEAT, report=True)
    return outcome(FeedReason.WITHIN_THRESHOLDS)
