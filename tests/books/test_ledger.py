"""The ledger: chunked reads, batched block times, incremental refreshes, and reorganisations.

Reorganisations are made with Anvil's snapshots: blocks with events are mined, read, then the
chain is reverted to before them and different events are mined at the same heights. Requests
are counted on the wire (a requests session that counts each JSON-RPC method sent), so the
assertions hold whatever the ledger's own counters say.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from typing import Any

import pytest
import requests
from web3 import Web3

from dfmi_py.books.ledger import Ledger, LedgerError, LedgerEvent
from dfmi_py.chain import Chain
from tests.books.scenario import PARTIES, BooksWorld

pytestmark = pytest.mark.xdist_group("books")

A, B, C, D, E = PARTIES
XAU = 10**8


class CountingSession(requests.Session):
    """Counts the JSON-RPC methods it sends (``calls``) and the HTTP requests carrying them
    (``posts``); refuses batch requests when asked, as some providers do."""

    def __init__(self, *, refuse_batches: bool = False) -> None:
        super().__init__()
        self.trust_env = False
        self.refuse_batches = refuse_batches
        self.calls: Counter[str] = Counter()
        self.posts: Counter[str] = Counter()

    def post(self, url: Any, data: Any = None, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        body = json.loads(data) if data is not None else kwargs.get("json")
        items = body if isinstance(body, list) else [body]
        for method in {item["method"] for item in items}:
            self.posts[method] += 1
        self.calls.update(item["method"] for item in items)
        if isinstance(body, list) and self.refuse_batches:
            refused = requests.Response()
            refused.status_code = 400
            refused._content = b'{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"batches refused"}}'
            refused.url = str(url)
            refused.raw = io.BytesIO()
            return refused
        return super().post(url, data=data, **kwargs)


def counted(bw: BooksWorld, **kwargs: Any) -> tuple[Chain, CountingSession]:
    session = CountingSession(**kwargs)
    provider = Web3.HTTPProvider(bw.w.node.rpc_url, session=session)
    return Chain(Web3(provider), bw.w.chain.artifacts), session


def keys(events: list[LedgerEvent]) -> list[tuple[str, str, int, int, str]]:
    return [(e.contract, e.name, e.block, e.log_index, e.tx_hash) for e in events]


def fresh(bw: BooksWorld) -> list[LedgerEvent]:
    """Every event, as a new ledger reads it."""
    ledger = Ledger(bw.w.chain, bw.market.deployment)
    ledger.refresh()
    return ledger.events()


def test_a_reorganisation_is_read_again_from_the_fork_only(bw: BooksWorld) -> None:
    chain, session = counted(bw)
    ledger = Ledger(chain, bw.market.deployment, chunk_blocks=2)
    fork = ledger.refresh()
    kept = ledger.events()
    snapshot = bw.w.snapshot()
    bw.trade("XAU", A, B)  # blocks fork+1, fork+2
    bw.post("XAU", 2_010 * XAU)  # fork+3 .. fork+5
    ledger.refresh()
    replaced = [e for e in ledger.events() if e.block > fork]
    assert [e.name for e in replaced if e.contract == "DerivativeEngine@XAU"] == ["TradeProposed", "TradeConfirmed"]

    bw.w.revert(snapshot)  # the same heights, other events: a trade in EURUSD and one in IDX50
    bw.trade("EURUSD", C, D)
    bw.trade("IDX50", E, A)
    before = session.calls["eth_getLogs"]
    head = ledger.refresh()
    assert head == fork + 4
    # read again from the fork only: its four blocks, two per request
    assert session.calls["eth_getLogs"] - before == 2
    assert (ledger.stats.reorgs, ledger.stats.full_reads) == (1, 1)
    events = ledger.events()
    assert events[: len(kept)] == kept, "the events before the fork stay as they were"
    assert keys(events) == keys(fresh(bw))
    assert not ledger.events("DerivativeEngine@XAU", ["TradeProposed"]), "the replaced trade is gone"
    assert [e.contract for e in ledger.events("DerivativeEngine@", ["TradeConfirmed"])] == [
        "DerivativeEngine@EURUSD",
        "DerivativeEngine@IDX50",
    ]
    assert {e.tx_hash for e in replaced}.isdisjoint(e.tx_hash for e in events)


def test_a_shorter_chain_after_a_reorganisation(bw: BooksWorld) -> None:
    ledger = Ledger(bw.w.chain, bw.market.deployment)
    fork = ledger.refresh()
    snapshot = bw.w.snapshot()
    bw.trade("XAU", A, B)
    bw.post("XAU", 2_010 * XAU)
    ledger.refresh()
    bw.w.revert(snapshot)
    bw.market.cash.transfer(A, B.address, 1)  # one block where there were five
    assert ledger.refresh() == fork + 1
    assert keys(ledger.events()) == keys(fresh(bw))
    assert ledger.events()[-1].name == "Transfer"


def test_a_reorganisation_deeper_than_the_cache_reads_everything_again(bw: BooksWorld) -> None:
    snapshot = bw.w.snapshot()
    start = bw.w.w3.eth.block_number + 1
    bw.trade("XAU", A, B)
    ledger = Ledger(bw.w.chain, bw.market.deployment, start_block=start)  # records nothing before the fork
    ledger.refresh()
    bw.w.revert(snapshot)
    bw.trade("EURUSD", C, D)
    ledger.refresh()
    assert (ledger.stats.reorgs, ledger.stats.full_reads) == (1, 2)
    assert [e.contract for e in ledger.events("DerivativeEngine@", ["TradeProposed"])] == ["DerivativeEngine@EURUSD"]
    assert keys(ledger.events()) == keys([e for e in fresh(bw) if e.block >= start])


def test_a_refresh_reads_only_what_is_new(bw: BooksWorld) -> None:
    chain, session = counted(bw)
    ledger = Ledger(chain, bw.market.deployment)
    ledger.refresh()
    read, version = len(ledger), ledger.version
    session.calls.clear()
    ledger.refresh()  # nothing new: the head only
    assert session.calls == Counter({"eth_getBlockByNumber": 1})
    assert ledger.version == version
    bw.market.cash.transfer(A, B.address, 1)
    session.calls.clear()
    ledger.refresh()
    # the head, the last block read (still the chain's?), one chunk of logs, the new block's time
    assert session.calls == Counter({"eth_getBlockByNumber": 3, "eth_getLogs": 1})
    assert len(ledger) == read + 1
    assert ledger.version == version + 1


def test_a_node_failing_mid_refresh_leaves_the_ledger_as_it_was(bw: BooksWorld) -> None:
    ledger = Ledger(bw.w.chain, bw.market.deployment, chunk_blocks=2)
    ledger.refresh()
    before = (ledger.events(), ledger.head, ledger.version)
    bw.trade("XAU", A, B)
    bw.post("XAU", 2_010 * XAU)
    provider: Any = bw.w.w3.provider
    original, calls = provider.make_request, []

    def failing_second_chunk(method: Any, params: Any) -> Any:
        if method == "eth_getLogs":
            calls.append(params)
            if len(calls) == 2:
                raise ConnectionError("the node went away")
        return original(method, params)

    provider.make_request = failing_second_chunk
    try:
        with pytest.raises(LedgerError, match=r"events failed \(ConnectionError: the node went away\)"):
            ledger.refresh()
    finally:
        provider.make_request = original
    assert (ledger.events(), ledger.head, ledger.version) == before
    ledger.refresh()
    assert keys(ledger.events()) == keys(fresh(bw))


def test_block_times_are_read_in_batches(bw: BooksWorld) -> None:
    chain, session = counted(bw)
    ledger = Ledger(chain, bw.market.deployment, batch_size=20)
    ledger.refresh()
    blocks = {e.block for e in ledger.events()}
    assert len(blocks) > 40
    # the head, then the blocks with events twenty to a request
    assert session.calls["eth_getBlockByNumber"] == 1 + len(blocks)
    assert session.posts["eth_getBlockByNumber"] == 1 + -(-len(blocks) // 20)
    times = {e.block: e.timestamp for e in ledger.events()}
    assert all(times[n] == bw.w.w3.eth.get_block(n)["timestamp"] for n in sorted(blocks)[:3])


def test_a_node_that_refuses_batches_is_asked_one_block_at_a_time(bw: BooksWorld) -> None:
    chain, session = counted(bw, refuse_batches=True)
    ledger = Ledger(chain, bw.market.deployment)
    ledger.refresh()
    blocks = {e.block for e in ledger.events()}
    assert keys(ledger.events()) == keys(fresh(bw))
    assert session.posts["eth_getBlockByNumber"] == 1 + 1 + len(blocks)  # the head, the refused batch, each block
