"""The keeper's reader against the engines' own views, on a three-market suite of its own.

A life of trades (opened, proposed only, cancelled, settled, margin called, cured, defaulted,
amended, matured, across a pause) is replayed; after each stage every trade's state, last round,
maturity, effective cure deadline and pending fund claim as the reader has them equal what the
engines' views say; the reader that followed block by block equals one that read everything
at once (also in small log chunks); and an update costs the same few requests however many
trades there are.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dfmi_py.api import Terms
from dfmi_py.api.derivatives import TradeState
from dfmi_py.chain import dev_account
from dfmi_py.deploy.roles import DEV_ROLE_INDEX
from dfmi_py.services.keeper.decide import FinalRound, KeeperConfig
from dfmi_py.services.keeper.read import KeeperReader
from tests.services.keeper_world import DAY, KEEPERS, PARTIES, World, start_world

CONFIG = KeeperConfig(tx_gas_budget=6_000_000, batch_base_gas=60_000, default_trade_gas=32_000)
PAUSER = dev_account(DEV_ROLE_INDEX["pauser"])
A, B, C, D, E = PARTIES
KEEPER = KEEPERS[0]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from start_world(tmp_path_factory.mktemp("keeper-read"))


@pytest.fixture
def fresh(world: World) -> Iterator[World]:
    """The module's world, restored after the test."""
    snapshot = world.snapshot()
    yield world
    world.revert(snapshot)


def _reader(world: World, **kwargs: Any) -> KeeperReader:
    return KeeperReader(world.market, CONFIG, **kwargs)


def _assert_matches_chain(reader: KeeperReader, world: World) -> None:
    """Every trade as the reader has it equals the engine's views; so do the rounds and settings."""
    state = reader.state()
    assert state.now == world.chain.now()
    assert state.cash_paused == world.market.cash.paused()
    by_market = {m.name: m for m in state.markets}
    for name, underlying in world.market.markets.items():
        engine, record = underlying.derivatives, reader.records[name]
        assert set(record.trades) == set(world.trade_ids(name)), name
        views = {t.trade_id: t for t in by_market[name].trades}
        for trade_id, trade in record.trades.items():
            info = engine.trade(trade_id)
            pending = engine.fund_claim_pending(trade_id)
            assert (trade.state, trade.last_round, trade.maturity, trade.fund_claim_pending) == (
                info.state,
                info.last_round,
                info.maturity,
                pending,
            ), (name, trade_id)
            is_open = info.state in (TradeState.LIVE, TradeState.MARGIN_CALL)
            assert (trade_id in views) == (is_open or pending), (name, trade_id)
            if is_open:
                assert views[trade_id].cure_deadline == engine.cure_deadline_of(trade_id), (name, trade_id)
        latest = underlying.oracle.latest()
        assert by_market[name].latest == FinalRound(latest.round_id, latest.answer, latest.updated_at)
        assert by_market[name].rounds[latest.round_id] == latest.updated_at
        assert (record.max_price_age, record.cure_period) == (engine.max_price_age(), engine.cure_period())


def _same(a: KeeperReader, b: KeeperReader) -> None:
    assert a.state() == b.state()
    assert a.records.keys() == b.records.keys()
    for name in a.records:
        assert a.records[name].trades == b.records[name].trades
        assert a.records[name].rounds == b.records[name].rounds


class _Follow:
    """A reader that follows every stage incrementally, checked against the chain and a full sync."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.reader = _reader(world)
        self.reader.sync(world.head())

    def check(self) -> None:
        head = self.world.head()
        assert self.reader.update(head) is False, "a plain new head must not need a full sync"
        _assert_matches_chain(self.reader, self.world)
        full = _reader(self.world)
        full.sync(head)
        _same(self.reader, full)
        chunked = _reader(self.world, log_chunk_blocks=7)
        chunked.sync(head)
        _same(self.reader, chunked)


def _sign_amendment(world: World, market: str, trade_id: int, **changes: int) -> None:
    engine = world.market.markets[market].derivatives
    info = engine.trade(trade_id)
    buyer, seller = (next(p for p in PARTIES if p.address == a) for a in (info.buyer, info.seller))
    amendment = engine.amendment(trade_id, deadline=world.chain.now() + DAY, **changes)
    engine.amend(KEEPER, amendment, engine.sign_amendment(buyer, amendment), engine.sign_amendment(seller, amendment))


def test_reader_follows_every_kind_of_event_and_equals_the_engines_views(fresh: World) -> None:
    w = fresh
    follow = _Follow(w)
    xau, eur, idx = (w.market.markets[n].derivatives for n in ("XAU", "EURUSD", "IDX50"))
    u = {n: w.unit(n) for n in ("XAU", "EURUSD", "IDX50")}

    # trades: live ones in every market, one short-dated, one only proposed, one cancelled
    x1 = w.open_trade("XAU", A, B, 2_000 * u["XAU"])
    x2 = w.open_trade("XAU", C, D, 2_000 * u["XAU"], maturity_in=2 * DAY)

    proposed = Terms(E.address, A.address, 10**18, 2_000 * u["XAU"], w.chain.now() + DAY, 10**6, 10**6)
    xau.propose(E, proposed)
    cancelled = xau.propose(E, Terms(E.address, B.address, 10**18, 2_000 * u["XAU"], w.chain.now() + DAY, 0, 0))
    xau.cancel(B, cancelled)
    e1 = w.open_trade("EURUSD", B, A, round(1.10 * u["EURUSD"]))
    w.open_trade("EURUSD", E, C, round(1.10 * u["EURUSD"]))
    w.open_trade("IDX50", D, E, 5_000 * u["IDX50"])
    follow.check()

    # a price move in every market, settled
    w.post("XAU", 2_010 * u["XAU"])
    w.post("EURUSD", round(1.11 * u["EURUSD"]))
    w.post("IDX50", 5_050 * u["IDX50"])
    for engine, name in ((xau, "XAU"), (eur, "EURUSD"), (idx, "IDX50")):
        engine.settle_many(KEEPER, list(w.trade_ids(name)))
    follow.check()

    # B (seller of x1) cannot pay a large rise: margin call; then pays (cure)
    w.market.cash.approve(B, xau.address, 0)
    w.post("XAU", 2_300 * u["XAU"])
    xau.settle(KEEPER, x1)
    assert xau.trade(x1).state == TradeState.MARGIN_CALL
    follow.check()
    w.market.cash.approve(B, xau.address, 2**256 - 1)
    xau.cure(B, x1)
    follow.check()

    # again unable to pay; a pause and unpause extend the cure period; then the default
    w.market.cash.approve(B, xau.address, 0)
    w.post("XAU", 2_600 * u["XAU"])
    xau.settle(KEEPER, x1)
    w.market.cash.pause(PAUSER)
    follow.check()
    w.market.cash.unpause(PAUSER)
    follow.check()
    w.advance(xau.cure_period() + 1)
    xau.declare_default(KEEPER, x1)
    assert xau.trade(x1).state == TradeState.DEFAULTED
    follow.check()

    # an amendment moves a maturity
    _sign_amendment(w, "EURUSD", e1, maturity=w.chain.now() + 10 * DAY)
    follow.check()

    # maturity: x2 matures with the first round at or after it
    w.advance(2 * DAY)
    round_id = w.post("XAU", 2_500 * u["XAU"])
    xau.mature(KEEPER, x2, round_id)
    assert xau.trade(x2).state == TradeState.MATURED
    follow.check()


def test_a_reorg_is_read_again(fresh: World) -> None:
    w = fresh
    trade_id = w.open_trade("XAU", A, B, 2_000 * w.unit("XAU"))
    reader = _reader(w)
    reader.sync(w.head())
    before = w.snapshot()
    w.post("XAU", 2_100 * w.unit("XAU"))
    w.market.markets["XAU"].derivatives.settle(KEEPER, trade_id)
    assert reader.update(w.head()) is False
    assert reader.records["XAU"].trades[trade_id].last_round == 2
    # the blocks read are replaced by others at a greater height: no settlement on this branch
    w.revert(before)
    for _ in range(6):
        w.rpc("evm_mine", [])
    assert reader.update(w.head()) is True
    assert reader.full_syncs == 2
    _assert_matches_chain(reader, w)
    assert reader.records["XAU"].trades[trade_id].last_round == 0  # never settled on this branch


def _counted(world: World) -> tuple[list[str], Callable[[], None]]:
    """Count the JSON-RPC requests sent to the node over HTTP (their methods)."""
    session = world.session
    original = session.request
    seen: list[str] = []

    def counting(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        body = kwargs.get("data") or kwargs.get("json") or b""
        text = body.decode() if isinstance(body, bytes) else str(body)
        seen.append(json.loads(text)["method"] if text.startswith("{") else text)
        return original(method, url, *args, **kwargs)

    session.request = counting  # type: ignore[method-assign]

    def restore() -> None:
        session.request = original  # type: ignore[method-assign]

    return seen, restore


def _settle_all(world: World) -> None:
    for name, underlying in world.market.markets.items():
        ids = list(world.trade_ids(name))
        if ids:
            underlying.derivatives.settle_many(KEEPER, ids)


def test_an_update_costs_the_same_few_requests_for_ten_or_sixty_trades(fresh: World) -> None:
    w = fresh
    reader = _reader(w)
    costs = []
    for count in (10, 60):
        while sum(len(w.trade_ids(n)) for n in w.market.markets) < count:
            for name in w.market.markets:
                price = w.market.markets[name].oracle.latest().answer
                w.open_trade(name, A, B, price)
        reader.sync(w.head())
        for name in w.market.markets:
            w.post(name, w.market.markets[name].oracle.latest().answer * 101 // 100)
        _settle_all(w)
        head = w.head()  # the runner's read, not the reader's
        seen, restore = _counted(w)
        try:
            assert reader.update(head) is False
        finally:
            restore()
        _assert_matches_chain(reader, w)
        costs.append((len(seen), reader.last_calls))
    # the head's block, the parent's block (the head jumped several blocks), one eth_getLogs, and
    # the cash token's paused() and lastUnpausedAt(): five requests, whatever the number of trades
    assert costs == [(5, 5), (5, 5)]


def test_an_update_cut_short_by_the_node_reads_everything_again_next_time(fresh: World) -> None:
    w = fresh
    trade_id = w.open_trade("EURUSD", A, B, w.market.markets["EURUSD"].oracle.latest().answer)
    reader = _reader(w, log_chunk_blocks=2)  # several eth_getLogs per update
    reader.sync(w.head())
    w.post("EURUSD", w.market.markets["EURUSD"].oracle.latest().answer * 102 // 100)
    w.market.markets["EURUSD"].derivatives.settle(KEEPER, trade_id)
    provider: Any = w.w3.provider
    original, seen = provider.make_request, []

    def failing_second_chunk(method: Any, params: Any) -> Any:
        if method == "eth_getLogs":
            seen.append(params)
            if len(seen) == 2:
                raise ConnectionError("the node went away")
        return original(method, params)

    provider.make_request = failing_second_chunk
    try:
        with pytest.raises(ConnectionError):
            reader.update(w.head())
    finally:
        provider.make_request = original
    assert reader.last is None
    assert reader.update(w.head()) is True  # a full sync
    _assert_matches_chain(reader, w)


def test_a_reader_refuses_a_market_the_suite_does_not_have(world: World) -> None:
    from dfmi_py.errors import ConfigError

    with pytest.raises(ConfigError, match="NOPE not in this deployment; it has XAU, EURUSD, IDX50"):
        KeeperReader(world.market, CONFIG, ["XAU", "NOPE"])


def test_start_block_after_a_trade_began_reads_that_trade_from_its_view(fresh: World, tmp_path: Path) -> None:
    w = fresh
    trade_id = w.open_trade("IDX50", C, D, 5_000 * w.unit("IDX50"))
    start = w.head().number + 1
    w.post("IDX50", 5_100 * w.unit("IDX50"))
    w.market.markets["IDX50"].derivatives.settle(KEEPER, trade_id)
    reader = _reader(w, start_block=start)
    reader.sync(w.head())
    trade = reader.records["IDX50"].trades[trade_id]
    assert (trade.state, trade.last_round) == (TradeState.LIVE, 2)
    assert trade.maturity == w.market.markets["IDX50"].derivatives.trade(trade_id).maturity
