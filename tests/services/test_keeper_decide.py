"""The keeper's decision: each rule and hold by hand, then properties over random markets."""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dfmi_py.api.derivatives import TradeState
from dfmi_py.errors import ConfigError, InputError
from dfmi_py.services.keeper.decide import (
    OPEN_STATES,
    DeclareDefault,
    FinalRound,
    Held,
    HoldReason,
    KeeperConfig,
    KeeperDecision,
    KeeperState,
    MarketState,
    Mature,
    RetryFundClaim,
    SettleBatch,
    TradeView,
    decide,
)
from tests.helpers import examples

#: Examples of each property of the keeper's decisions: a keeper state is large (trades, rounds,
#: margin), so fewer than the other pure properties; ``DFMI_PURE_EXAMPLES`` sets these too.
DECISION_EXAMPLES = examples(30, "DFMI_PURE_EXAMPLES")

NOW = 1_800_000_000
CONFIG = KeeperConfig(tx_gas_budget=1_000_000, batch_base_gas=50_000, default_trade_gas=100_000)
LATEST = FinalRound(round_id=10, price=100 * 10**8, updated_at=NOW - 30)
MATURITY = NOW + 86_400
LIVE, CALL = TradeState.LIVE, TradeState.MARGIN_CALL


def trade(trade_id: int, state: TradeState = LIVE, last_round: int = 9, **kwargs: object) -> TradeView:
    fields: dict[str, object] = {"maturity": MATURITY} | kwargs
    return TradeView(trade_id, state, last_round, **fields)  # type: ignore[arg-type]


def market(*trades: TradeView, name: str = "ACME", **kwargs: object) -> MarketState:
    fields: dict[str, object] = {"latest": LATEST, "max_price_age": 3_600, "rounds": {}} | kwargs
    return MarketState(name, trades=trades, **fields)  # type: ignore[arg-type]


def keeper(*markets: MarketState, now: int = NOW, paused: bool = False, gas_limit: int = 30_000_000) -> KeeperState:
    return KeeperState(now=now, cash_paused=paused, block_gas_limit=gas_limit, markets=markets, config=CONFIG)


# ---------------------------------------------------------------------------------- settlement


def test_settle_batchesEveryDueTrade_skipsWhatIsNotDue() -> None:
    trades = (
        trade(1),
        trade(2, CALL, cure_deadline=NOW + 100),
        trade(3, last_round=10),  # already settled to round 10
        trade(4, TradeState.PROPOSED, last_round=0),
        trade(5, TradeState.MATURED),
        trade(6, TradeState.DEFAULTED),
        trade(7, maturity=LATEST.updated_at),  # the round is at maturity: mature, not settle
    )
    decision = decide(keeper(market(*trades, rounds={9: NOW - 600})))
    assert decision.actions == (
        SettleBatch("ACME", 10, (1, 2), 250_000),
        Mature("ACME", 7, 10),
    )
    assert decision.held == ()


def test_settle_batchesFitTheGasBudget_inTradeIdOrder() -> None:
    """1,000,000 budget, 50,000 per batch: nine trades of 100,000 fill a batch exactly."""
    trades = tuple(trade(i) for i in range(20, 0, -1))
    decision = decide(keeper(market(*trades)))
    assert decision.actions == (
        SettleBatch("ACME", 10, tuple(range(1, 10)), 950_000),
        SettleBatch("ACME", 10, tuple(range(10, 19)), 950_000),
        SettleBatch("ACME", 10, (19, 20), 250_000),
    )


def test_settle_aBatchFillsTheBudgetExactly() -> None:
    trades = tuple(trade(i, settle_gas=50_000) for i in range(1, 21))
    assert decide(keeper(market(*trades))).actions == (
        SettleBatch("ACME", 10, tuple(range(1, 20)), 1_000_000),
        SettleBatch("ACME", 10, (20,), 100_000),
    )


def test_settle_usesEachTradesOwnEstimate_andTheBlockGasLimitWhenLower() -> None:
    trades = (trade(1, settle_gas=300_000), trade(2, settle_gas=300_000), trade(3, settle_gas=10_000))
    decision = decide(keeper(market(*trades), gas_limit=600_000))
    assert decision.actions == (
        SettleBatch("ACME", 10, (1,), 350_000),
        SettleBatch("ACME", 10, (2, 3), 360_000),
    )


def test_settle_holdsATradeTooLargeForAnyTransaction() -> None:
    trades = (trade(1), trade(2, settle_gas=950_001), trade(3))
    decision = decide(keeper(market(*trades)))
    assert decision.actions == (SettleBatch("ACME", 10, (1, 3), 250_000),)
    assert decision.held == (Held("ACME", 2, HoldReason.GAS_ABOVE_BUDGET, "50000 + 950001 gas > budget 1000000"),)


def test_settle_holdsTheMarketWhenThePriceIsStale() -> None:
    stale = replace(LATEST, updated_at=NOW - 3_601)
    decision = decide(keeper(market(trade(1), latest=stale)))
    assert decision.actions == ()
    assert [(h.trade_id, h.reason) for h in decision.held] == [(None, HoldReason.PRICE_STALE)]
    at_limit = replace(LATEST, updated_at=NOW - 3_600)
    assert decide(keeper(market(trade(1), latest=at_limit))).actions == (SettleBatch("ACME", 10, (1,), 150_000),)


@pytest.mark.parametrize("price", [0, -1, 2**127])
def test_settle_holdsTheMarketWhenThePriceIsUnusable(price: int) -> None:
    decision = decide(keeper(market(trade(1), latest=replace(LATEST, price=price))))
    assert decision.actions == ()
    assert [h.reason for h in decision.held] == [HoldReason.PRICE_INVALID]


def test_settle_nothingBeforeTheFirstFinalRound() -> None:
    assert decide(keeper(market(trade(1, last_round=0), latest=None))) == KeeperDecision((), ())


def test_settle_goesOnWhileTheCashTokenIsPaused() -> None:
    """The engine settles from margin accounts and skips only the pulls that fail."""
    assert decide(keeper(market(trade(1)), paused=True)).actions == (SettleBatch("ACME", 10, (1,), 150_000),)


# ---------------------------------------------------------------------------------- defaults


def test_default_declaredOncePastTheEffectiveCureDeadline_notAtIt() -> None:
    trades = (trade(1, CALL, cure_deadline=NOW - 1), trade(2, CALL, cure_deadline=NOW))
    decision = decide(keeper(market(*trades)))
    assert decision.actions == (
        SettleBatch("ACME", 10, (2,), 150_000),
        DeclareDefault("ACME", 1, NOW - 1),
    )


def test_default_neverWhileTheCashTokenIsPaused() -> None:
    decision = decide(keeper(market(trade(1, CALL, last_round=10, cure_deadline=NOW - 1)), paused=True))
    assert decision.actions == ()
    assert [(h.trade_id, h.reason) for h in decision.held] == [(1, HoldReason.CASH_PAUSED)]


def test_default_onlyForTradesUnderAMarginCall() -> None:
    trades = (trade(1, LIVE, last_round=10, cure_deadline=NOW - 1), trade(2, TradeState.DEFAULTED, cure_deadline=1))
    assert decide(keeper(market(*trades))).actions == ()


# ---------------------------------------------------------------------------------- maturity


def test_mature_withTheFirstFinalRoundAtOrAfterMaturity() -> None:
    rounds = {7: 1_000, 8: 2_000, 9: 3_000, 10: 3_000}
    latest = FinalRound(10, 100, 3_000)
    trades = (
        trade(1, last_round=7, maturity=2_000),  # round 8 is at maturity
        trade(2, last_round=7, maturity=2_500),  # round 9 is the first after
        trade(3, last_round=8, maturity=1_500),  # settled to round 8, after an amended maturity
        trade(4, last_round=10, maturity=1_500),  # settled to the latest round: wait for the next
    )
    decision = decide(keeper(market(*trades, latest=latest, rounds=rounds)))
    assert decision.actions == (Mature("ACME", 1, 8), Mature("ACME", 2, 9), Mature("ACME", 3, 9))
    assert decision.held == ()


def test_mature_holdsWhenTheKnownRoundsDoNotIdentifyTheFirstAfterMaturity() -> None:
    """Rounds 1-7 unknown: round 8 is after maturity, but so may be round 7."""
    latest = FinalRound(10, 100, NOW - 10)
    decision = decide(keeper(market(trade(1, last_round=3, maturity=500), latest=latest, rounds={8: 1_000})))
    assert decision.actions == ()
    assert [(h.trade_id, h.reason) for h in decision.held] == [(1, HoldReason.MATURITY_ROUND_UNKNOWN)]


def test_mature_ratherThanDefault_andWithStalePricesOrPause() -> None:
    """Maturity needs the round's own price, not a fresh one; it is the trade's only action."""
    latest = FinalRound(10, 100, NOW - 99_999)
    due = trade(1, CALL, last_round=9, maturity=NOW - 100_000, cure_deadline=NOW - 1)
    decision = decide(keeper(market(due, latest=latest, rounds={9: NOW - 200_000}), paused=True))
    assert decision.actions == (Mature("ACME", 1, 10),)


# ---------------------------------------------------------------------------------- fund claims


def test_retry_everyPendingFundClaim_notWhilePaused() -> None:
    trades = (
        trade(1, TradeState.DEFAULTED, fund_claim_pending=True),
        trade(2, TradeState.MATURED),
        trade(3, TradeState.MATURED, fund_claim_pending=True),
    )
    assert decide(keeper(market(*trades))).actions == (RetryFundClaim("ACME", 1), RetryFundClaim("ACME", 3))
    paused = decide(keeper(market(*trades), paused=True))
    assert paused.actions == ()
    assert [(h.trade_id, h.reason) for h in paused.held] == [(1, HoldReason.CASH_PAUSED), (3, HoldReason.CASH_PAUSED)]


# ---------------------------------------------------------------------------------- order and input


def test_order_marketsByName_thenBatchesMaturitiesDefaultsRetries() -> None:
    b = market(
        trade(4, TradeState.DEFAULTED, fund_claim_pending=True),
        trade(3, CALL, last_round=10, cure_deadline=NOW - 1),
        trade(2, maturity=NOW - 60),
        trade(1),
        name="B",
        rounds={9: NOW - 120},
    )
    a = market(trade(1), name="A")
    assert decide(keeper(b, a)).actions == (
        SettleBatch("A", 10, (1,), 150_000),
        SettleBatch("B", 10, (1,), 150_000),
        Mature("B", 2, 10),
        DeclareDefault("B", 3, NOW - 1),
        RetryFundClaim("B", 4),
    )


def test_state_refusesDuplicates() -> None:
    with pytest.raises(InputError, match="trade id appears twice"):
        market(trade(1), trade(1))
    with pytest.raises(InputError, match="market name appears twice"):
        keeper(market(name="A"), market(name="A"))
    with pytest.raises(InputError, match="two different times"):
        market(rounds={10: 1})


@pytest.mark.parametrize(("budget", "base", "default"), [(50_000, 50_000, 1), (1_000_000, -1, 1), (1_000_000, 0, 0)])
def test_config_refusesInvalidSettings(budget: int, base: int, default: int) -> None:
    with pytest.raises(ConfigError):
        KeeperConfig(tx_gas_budget=budget, batch_base_gas=base, default_trade_gas=default)


# ---------------------------------------------------------------------------------- properties

STATES = list(TradeState)


@st.composite
def trade_views(draw: st.DrawFn, trade_id: int, latest_round: int) -> TradeView:
    return TradeView(
        trade_id=trade_id,
        state=draw(st.sampled_from(OPEN_STATES) | st.sampled_from(STATES)),
        last_round=draw(st.integers(min_value=0, max_value=latest_round)),
        maturity=draw(st.integers(min_value=NOW - 50_000, max_value=NOW + 50_000) | st.just(NOW + 10**6)),
        cure_deadline=draw(
            st.integers(min_value=NOW - 2, max_value=NOW + 2) | st.integers(min_value=0, max_value=NOW * 2)
        ),
        fund_claim_pending=draw(st.booleans()),
        # coarse estimates, so batches often fill the budget exactly
        settle_gas=draw(st.none() | st.sampled_from(range(50_000, 1_250_000, 50_000)) | st.integers(1, 1_200_000)),
    )


@st.composite
def market_states(draw: st.DrawFn, name: str) -> MarketState:
    count = draw(st.integers(min_value=1, max_value=12))
    gaps = draw(st.lists(st.integers(min_value=0, max_value=5_000), min_size=count, max_size=count))
    times, t = [], NOW - 60_000
    for gap in gaps:
        t += gap
        times.append(t)
    rounds = dict(enumerate(times, start=1))
    known_from = draw(st.integers(min_value=1, max_value=count))
    latest = FinalRound(count, draw(st.integers(min_value=-1, max_value=10**10)), times[-1])
    ids = draw(st.lists(st.integers(min_value=1, max_value=10_000), unique=True, max_size=30))
    trades = tuple(draw(trade_views(i, count)) for i in ids)
    known = {r: u for r, u in rounds.items() if r >= known_from}
    age = NOW - latest.updated_at  # max_price_age often right at the edge of freshness
    max_price_age = draw(st.integers(min_value=max(1, age - 2), max_value=max(1, age + 2)) | st.integers(1, 90_000))
    return MarketState(name, latest, max_price_age, known, trades)


@st.composite
def keeper_states(draw: st.DrawFn) -> KeeperState:
    names = draw(st.lists(st.sampled_from(["ACME", "BOLT", "CORE"]), unique=True, min_size=1, max_size=3))
    budget = draw(st.sampled_from(range(200_000, 1_000_000, 50_000)) | st.integers(200_000, 3_000_000))
    config = KeeperConfig(tx_gas_budget=budget, batch_base_gas=50_000, default_trade_gas=100_000)
    return KeeperState(
        now=NOW,
        cash_paused=draw(st.booleans()),
        block_gas_limit=draw(st.sampled_from(range(100_000, 3_000_000, 50_000)) | st.just(30_000_000)),
        markets=tuple(draw(market_states(n)) for n in names),
        config=config,
    )


def _due(t: TradeView, m: MarketState, s: KeeperState) -> bool:
    """The engine's own conditions for settling ``t`` now (settle(), written out again)."""
    latest = m.latest
    return (
        latest is not None
        and t.state in OPEN_STATES
        and t.last_round < latest.round_id
        and latest.updated_at < t.maturity
        and 0 < latest.price < 2**127
        and latest.updated_at + m.max_price_age >= s.now
    )


@settings(max_examples=DECISION_EXAMPLES)
@given(keeper_states())
def test_fuzz_settlesOnlyDueTrades_everyDueTradeExactlyOnce_withinTheGasBudget(s: KeeperState) -> None:
    decision = decide(s)
    budget = min(s.config.tx_gas_budget, s.block_gas_limit)
    for m in s.markets:
        trades = {t.trade_id: t for t in m.trades}
        batches = [a for a in decision.actions if isinstance(a, SettleBatch) and a.market == m.name]
        settled = Counter(i for b in batches for i in b.trade_ids)
        defaulted = {a.trade_id for a in decision.actions if isinstance(a, DeclareDefault) and a.market == m.name}
        too_big = {h.trade_id for h in decision.held if h.market == m.name and h.reason is HoldReason.GAS_ABOVE_BUDGET}
        for b in batches:
            assert b.trade_ids, "an empty batch"
            gas = s.config.batch_base_gas + sum(trades[i].settle_gas or s.config.default_trade_gas for i in b.trade_ids)
            assert b.gas == gas <= budget
            assert m.latest is not None
            assert b.round_id == m.latest.round_id
            assert list(b.trade_ids) == sorted(b.trade_ids)
        for first, second in itertools.pairwise(batches):  # each batch full: the next trade did not fit
            assert first.gas + (trades[second.trade_ids[0]].settle_gas or s.config.default_trade_gas) > budget
        assert all(_due(trades[i], m, s) for i in settled), "settled a trade that is not due"
        due = {t.trade_id for t in m.trades if _due(t, m, s)}
        # every due trade exactly once: in one batch, or declared in default (which settles it
        # itself first), or held because it alone exceeds the budget
        assert all(n == 1 for n in settled.values())
        assert due == set(settled) | (due & defaulted) | (due & too_big)
        assert not set(settled) & (defaulted | too_big)


@settings(max_examples=DECISION_EXAMPLES)
@given(keeper_states())
def test_fuzz_neverDefaultsBeforeTheDeadlineOrWhilePaused(s: KeeperState) -> None:
    decision = decide(s)
    defaults = [a for a in decision.actions if isinstance(a, DeclareDefault)]
    if s.cash_paused:
        assert defaults == []
    for d in defaults:
        m = next(m for m in s.markets if m.name == d.market)
        t = next(t for t in m.trades if t.trade_id == d.trade_id)
        assert t.state is TradeState.MARGIN_CALL
        assert s.now > t.cure_deadline == d.cure_deadline


@settings(max_examples=DECISION_EXAMPLES)
@given(keeper_states())
def test_fuzz_maturesOnlyWithTheRoundTheEngineAccepts(s: KeeperState) -> None:
    for a in decide(s).actions:
        if not isinstance(a, Mature):
            continue
        m = next(m for m in s.markets if m.name == a.market)
        t = next(t for t in m.trades if t.trade_id == a.trade_id)
        rounds = dict(m.rounds)
        assert t.state in OPEN_STATES
        assert a.round_id > t.last_round
        assert rounds[a.round_id] >= t.maturity
        assert a.round_id - 1 <= t.last_round or rounds[a.round_id - 1] < t.maturity


@settings(max_examples=DECISION_EXAMPLES)
@given(keeper_states())
def test_fuzz_oneActionPerTrade_deterministic(s: KeeperState) -> None:
    decision = decide(s)
    touched = Counter(
        (a.market, i) for a in decision.actions for i in (a.trade_ids if isinstance(a, SettleBatch) else (a.trade_id,))
    )
    assert all(n == 1 for n in touched.values())
    shuffled = replace(s, markets=tuple(replace(m, trades=m.trades[::-1]) for m in reversed(s.markets)))
    assert decide(shuffled) == decision
