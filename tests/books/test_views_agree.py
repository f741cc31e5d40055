"""The books agree with the contracts' own views after random scenarios.

One Hypothesis test draws a scenario over three markets — trades, price moves each settled,
members who stop paying (margin calls) and then cure or default (the fund's waterfall), DvPs that
settle or fail, a netting round — runs it from the same starting state (snapshot/revert), and
checks every view against direct reads of the contracts at the same block
(:func:`tests.books.checks.assert_views_agree`). A second reader that follows the chain across
examples (each example starts with a revert, a reorganisation to it) must show the same tables
as a fresh one. Few examples by default; ``DFMI_BOOKS_EXAMPLES=N`` runs more.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from dfmi_py.api.derivatives import TradeState
from dfmi_py.books import Books
from dfmi_py.errors import ContractRevertError
from tests.books.checks import assert_same_views, assert_views_agree
from tests.books.scenario import MARKETS, PARTIES, USD, BooksWorld
from tests.helpers import examples

pytestmark = pytest.mark.xdist_group("books")

#: Scenarios drawn per run (``DFMI_BOOKS_EXAMPLES`` for a longer search).
EXAMPLES = examples(3, "DFMI_BOOKS_EXAMPLES")


@dataclass(frozen=True)
class Trade:
    market: str
    buyer: int
    seller: int
    quantity: int  # whole units of the underlying
    im: int  # whole cash units


@dataclass(frozen=True)
class Scenario:
    trades: tuple[Trade, ...]
    #: (market, basis points) price moves, each settled at once, before anyone stops paying.
    moves: tuple[tuple[str, int], ...]
    #: Members who then stop paying (their settlements turn into margin calls).
    stoppers: tuple[int, ...]
    #: (market, basis points) moves after that, each settled at once.
    shocks: tuple[tuple[str, int], ...]
    #: For each margin call open after the shocks: cure it (True) or let it default (False).
    cures: tuple[bool, ...]
    #: (seller, buyer, bonds, price in whole cash units): a price above the buyer's cash fails.
    dvps: tuple[tuple[int, int, int, int], ...]
    #: (payer, payee, amount in whole cash units) of one netting round.
    payments: tuple[tuple[int, int, int], ...]


def _pair() -> st.SearchStrategy[tuple[int, int]]:
    return st.tuples(st.integers(0, 4), st.integers(1, 4)).map(lambda p: (p[0], (p[0] + p[1]) % 5))


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    markets = st.sampled_from(MARKETS)
    trades = []
    for _ in range(draw(st.integers(2, 5))):
        buyer, seller = draw(_pair())
        trades.append(
            Trade(draw(markets), buyer, seller, draw(st.integers(1, 30)), draw(st.sampled_from([10, 100, 1_000])))
        )
    moves = tuple(draw(st.lists(st.tuples(markets, st.integers(-900, 900)), min_size=1, max_size=2)))
    stoppers = tuple(draw(st.lists(st.integers(0, 4), min_size=1, max_size=2, unique=True)))
    # every traded market moves by 3% to 9%, up or down: a stopper on the losing side is called
    traded = sorted({t.market for t in trades})
    shocks = tuple((m, draw(st.sampled_from([-1, 1])) * draw(st.integers(300, 900))) for m in traded)
    cures = tuple(draw(st.lists(st.booleans(), min_size=3, max_size=3).filter(lambda c: not all(c))))
    dvps = []
    for _ in range(draw(st.integers(1, 3))):
        seller, buyer = draw(_pair())
        price = draw(st.sampled_from([10, 5_000, 10**7]))  # 10^7 is more cash than any member holds
        dvps.append((seller, buyer, draw(st.integers(1, 50)), price))
    payments = []
    for _ in range(draw(st.integers(2, 4))):
        payer, payee = draw(_pair())
        payments.append((payer, payee, draw(st.integers(1, 500))))
    return Scenario(tuple(trades), moves, stoppers, shocks, cures, tuple(dvps), tuple(payments))


def run(bw: BooksWorld, scenario: Scenario) -> None:
    """Play ``scenario``: a step the contracts refuse (a member below its fund requirement after a
    default cannot trade, say) is skipped, as a person would."""
    for t in scenario.trades:
        attempt(bw.trade, t.market, PARTIES[t.buyer], PARTIES[t.seller], quantity=t.quantity * 10**18, im=t.im * USD)
    for market, bps in scenario.moves:
        bw.move(market, bps)
        bw.settle_all(market)
    for index in scenario.stoppers:
        for market in MARKETS:
            bw.stop_paying(PARTIES[index], market)
    for market, bps in scenario.shocks:
        bw.move(market, bps)
        bw.settle_all(market)
    calls = [
        (name, trade_id)
        for name, underlying in bw.market.markets.items()
        for trade_id in range(1, underlying.derivatives.trade_count() + 1)
        if underlying.derivatives.trade(trade_id).state == TradeState.MARGIN_CALL
    ]
    for (market, trade_id), cure in zip(calls, scenario.cures, strict=False):
        if bw.market.markets[market].derivatives.trade(trade_id).state != TradeState.MARGIN_CALL:
            continue  # a default settled the market's latest round and cleared it
        if cure:
            attempt(bw.cure, market, trade_id)
        else:
            bw.default(market, trade_id)
    for seller, buyer, bonds, price in scenario.dvps:
        bw.dvp(PARTIES[seller], PARTIES[buyer], bonds, price * USD)
    bw.netting_round([(PARTIES[p], PARTIES[q], amount * USD) for p, q, amount in scenario.payments])


def attempt(step: Callable[..., object], *args: Any, **kwargs: Any) -> None:
    """``step(*args, **kwargs)``, unless the contracts refuse it."""
    with contextlib.suppress(ContractRevertError):
        step(*args, **kwargs)


@pytest.fixture(scope="module")
def follower(books_world: BooksWorld) -> Books:
    """A reader that follows the chain across examples (each starts with a revert)."""
    return books_world.books(chunk_blocks=7)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    # Each example runs dozens of transactions: a failure is reported as drawn, not shrunk.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(scenario=scenarios())
def test_views_agree_with_the_contracts_after_random_scenarios(
    books_world: BooksWorld, follower: Books, scenario: Scenario
) -> None:
    snapshot = books_world.w.snapshot()
    try:
        run(books_world, scenario)
        frames = assert_views_agree(books_world, books_world.books())
        assert_same_views(follower.all(), frames)
        assert len(frames["netting_rounds"]) == 1
        for outcome in frames["margin_calls"].outcome:
            event(f"margin call {outcome}")
        event(f"defaults: {len(frames['defaults'])}")
        event(f"defaults reaching the survivors' tranche: {sum(frames['defaults'].from_survivors > 0)}")
        event(f"instructions failed: {sum(frames['instructions'].outcome == 'failed')}")
    finally:
        books_world.w.revert(snapshot)
