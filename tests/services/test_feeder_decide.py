"""The feeder's decision: each rule and refusal by hand, then properties over random states and runs."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dfmi_py.errors import ConfigError, InputError
from dfmi_py.services.feeder.decide import (
    FeedDecision,
    FeederConfig,
    FeederState,
    FeedReason,
    FinalAnswer,
    Report,
    decide,
)
from dfmi_py.services.sources import AcceptedQuote, Quote, QuoteProblem, SourcePolicy
from tests.helpers import PURE_EXAMPLES

NOW = 1_800_000_000
REPORTER = "0x00000000000000000000000000000000000000A1"
POLICY = SourcePolicy(decimals=8, max_age=60, max_jump_bps=5_000, jump_reference_max_age=600)
CONFIG = FeederConfig(heartbeat=3_600, heartbeat_margin=300, deviation_bps=50, policy=POLICY)
E8 = 10**8


def state(
    price: object = "100",
    *,
    latest: FinalAnswer | None = FinalAnswer(7, 100 * E8, NOW - 60),  # noqa: B008 (immutable)
    reported: bool = False,
    submissions: int = 0,
    now: int = NOW,
    quotes: tuple[Quote, ...] | None = None,
    config: FeederConfig = CONFIG,
) -> FeederState:
    return FeederState(
        reporter=REPORTER,
        now=now,
        open_round=1 if latest is None else latest.round_id + 1,
        reported_in_open=reported,
        submissions=submissions,
        latest=latest,
        quotes=quotes if quotes is not None else (Quote("csv", price, now),),
        previous_quote=None,
        min_answer=1,
        max_answer=10**6 * E8,
        config=config,
    )


def test_decide_reportsWhenThePriceMovedBeyondTheDeviation() -> None:
    decision = decide(state("100.51"))
    assert decision.report == Report(8, 10_051_000_000)
    assert decision.reason is FeedReason.DEVIATION
    assert decide(state("99.49")).report == Report(8, 9_949_000_000)


def test_decide_doesNotReportAMoveAtTheThresholdItself() -> None:
    """More than 50 bps is needed: exactly 50 bps is within it."""
    decision = decide(state("100.5"))
    assert decision.report is None
    assert decision.reason is FeedReason.WITHIN_THRESHOLDS


def test_decide_reportsTheHeartbeatAMarginBeforeItLapses() -> None:
    latest = FinalAnswer(7, 100 * E8, NOW - 3_300)  # stale at NOW + 300, margin 300
    decision = decide(state("100", latest=latest))
    assert decision.report == Report(8, 100 * E8)
    assert decision.reason is FeedReason.HEARTBEAT
    early = FinalAnswer(7, 100 * E8, NOW - 3_299)
    assert decide(state("100", latest=early)).report is None


def test_decide_joinsARoundAnotherReporterOpened() -> None:
    decision = decide(state("100", submissions=2))
    assert decision.report == Report(8, 100 * E8)
    assert decision.reason is FeedReason.JOIN


def test_decide_opensTheFirstRound() -> None:
    decision = decide(state("100", latest=None))
    assert decision.report == Report(1, 100 * E8)
    assert decision.reason is FeedReason.FIRST_ROUND


@pytest.mark.parametrize("submissions", [1, 2])
def test_decide_neverReportsTwiceInARound_evenOnDeviationOrHeartbeat(submissions: int) -> None:
    stale = FinalAnswer(7, 100 * E8, NOW - 10_000)
    decision = decide(state("180", latest=stale, reported=True, submissions=submissions))
    assert decision.report is None
    assert decision.reason is FeedReason.ALREADY_REPORTED


def test_decide_noReportWithoutAValidQuote_sayingWhy() -> None:
    quotes = (Quote("csv", "abc", NOW), Quote("http", "-1", NOW))
    decision = decide(state(quotes=quotes, latest=None))
    assert decision.report is None
    assert decision.reason is FeedReason.NO_VALID_QUOTE
    assert [r.problem for r in decision.selection.refusals] == [QuoteProblem.NOT_NUMERIC, QuoteProblem.NOT_POSITIVE]


def test_decide_reportsTheFallbackSourcesPrice() -> None:
    quotes = (Quote("csv", "100", NOW - 3_600), Quote("http", "101", NOW))
    decision = decide(state(quotes=quotes))
    assert decision.report == Report(8, 101 * E8)
    assert decision.selection.accepted is not None
    assert decision.selection.accepted.source == "http"
    assert decision.previous_quote == decision.selection.accepted


def test_decide_keepsThePreviousQuoteWhenEverySourceIsRefused() -> None:
    previous = AcceptedQuote("csv", Decimal(100), 100 * E8, NOW - 10)
    decision = decide(replace(state(quotes=(Quote("csv", None, NOW),)), previous_quote=previous))
    assert decision.previous_quote == previous


def test_decide_refusesAPriceOutsideTheOraclesBounds() -> None:
    decision = decide(replace(state("100", submissions=1), max_answer=99 * E8))
    assert decision.report is None
    assert decision.reason is FeedReason.OUT_OF_BOUNDS


def test_state_refusesAnOpenRoundThatDoesNotFollowTheLatest() -> None:
    with pytest.raises(InputError, match="does not follow"):
        replace(state(), open_round=9)
    with pytest.raises(InputError, match="reported_in_open"):
        state(reported=True, submissions=0)


@pytest.mark.parametrize(
    "kwargs", [{"heartbeat": 0}, {"heartbeat_margin": 3_600}, {"heartbeat_margin": -1}, {"deviation_bps": 0}]
)
def test_config_refusesInvalidSettings(kwargs: dict[str, int]) -> None:
    base = {"heartbeat": 3_600, "heartbeat_margin": 300, "deviation_bps": 50}
    with pytest.raises(ConfigError):
        FeederConfig(**(base | kwargs), policy=POLICY)


# ---------------------------------------------------------------------------------- properties

latest_answers = st.builds(
    FinalAnswer,
    round_id=st.integers(min_value=1, max_value=10**6),
    answer=st.integers(min_value=50 * E8, max_value=150 * E8),
    updated_at=st.integers(min_value=NOW - 10_000, max_value=NOW),
)


@st.composite
def feeder_states(draw: st.DrawFn) -> FeederState:
    latest = draw(st.none() | latest_answers)
    price = draw(st.integers(min_value=50 * E8, max_value=150 * E8))
    submissions = draw(st.integers(min_value=0, max_value=4))
    reported = submissions > 0 and draw(st.booleans())
    config = FeederConfig(
        heartbeat=draw(st.integers(min_value=60, max_value=7_200)),
        heartbeat_margin=0,
        deviation_bps=draw(st.integers(min_value=1, max_value=1_000)),
        policy=POLICY,
    )
    config = replace(config, heartbeat_margin=draw(st.integers(min_value=0, max_value=config.heartbeat - 1)))
    text = f"{Decimal(price).scaleb(-8):f}"
    return state(text, latest=latest, reported=reported, submissions=submissions, config=config)


@settings(max_examples=PURE_EXAMPLES)
@given(feeder_states())
def test_fuzz_neverReportsTwiceInARound(s: FeederState) -> None:
    decision = decide(s)
    if s.reported_in_open:
        assert decision.report is None
    if decision.report is not None:
        assert decision.report.round_id == s.open_round


@settings(max_examples=PURE_EXAMPLES)
@given(feeder_states())
def test_fuzz_reportsWheneverDeviationOrHeartbeatRequireIt(s: FeederState) -> None:
    decision = decide(s)
    quote = decision.selection.accepted
    assert quote is not None
    if s.reported_in_open:
        return
    latest = s.latest
    required = (
        latest is None
        or s.submissions > 0
        or abs(quote.answer - latest.answer) * 10_000 > s.config.deviation_bps * latest.answer
        or s.now >= latest.updated_at + s.config.heartbeat - s.config.heartbeat_margin
    )
    assert (decision.report is not None) == required
    if decision.report is not None:
        assert decision.report.answer == quote.answer


@settings(max_examples=PURE_EXAMPLES)
@given(
    prices=st.lists(st.integers(min_value=90 * E8, max_value=110 * E8), min_size=1, max_size=40),
    steps=st.lists(st.integers(min_value=1, max_value=900), min_size=40, max_size=40),
    others=st.lists(st.booleans(), min_size=40, max_size=40),
)
def test_fuzz_aRunAgainstAModelOracle_oneReportPerRound_joinsEveryRound(
    prices: list[int], steps: list[int], others: list[bool]
) -> None:
    """A run of ticks against a model oracle whose rounds finalise at two reports: at each tick the
    other reporter may report first, or stay silent. The feeder reports at most once per round and
    takes part in every round that finalises (it joins the ones the other opens)."""
    config = FeederConfig(heartbeat=3_600, heartbeat_margin=900, deviation_bps=50, policy=POLICY)
    now = NOW
    latest: FinalAnswer | None = None
    in_open: set[str] = set()
    reported_rounds: list[int] = []
    finalised: list[set[str]] = []
    previous: AcceptedQuote | None = None
    for price, step, other in zip(prices, steps, others, strict=False):
        now += step
        open_round = 1 if latest is None else latest.round_id + 1
        if other:
            in_open.add("other")
        s = FeederState(
            reporter=REPORTER,
            now=now,
            open_round=open_round,
            reported_in_open="me" in in_open,
            submissions=len(in_open),
            latest=latest,
            quotes=(Quote("sim", f"{Decimal(price).scaleb(-8):f}", now),),
            previous_quote=previous,
            min_answer=1,
            max_answer=10**6 * E8,
            config=config,
        )
        decision: FeedDecision = decide(s)
        previous = decision.previous_quote
        if decision.report is not None:
            assert decision.report.round_id == open_round
            reported_rounds.append(open_round)
            in_open.add("me")
        if len(in_open) == 2:
            finalised.append(in_open)
            latest = FinalAnswer(open_round, price, now)
            in_open = set()
    assert len(reported_rounds) == len(set(reported_rounds))
    assert all("me" in reporters for reporters in finalised)
