"""The books over 10,000 trades: every view built from an empty cache, against the raw logs alone.

    .venv/bin/python -m bench.books [--trades 10000] [--parties 500] [--repeat 3]

On a fresh local Anvil with the three-market suite, the keeper benchmark's set-up
(``bench/keeper_latency.py``: parties funded, onboarded, in the default fund; ``N`` live trades
created with batched raw transactions), then every trade settled by the keeper to two rounds (the
first right after the trades, the second after every market moved +1%: real payments). Then, in
one run, alternating, ``--repeat`` times each (medians reported):

- **raw**: the ledger's own ``eth_getLogs`` chunks (same addresses, topics, block range, chunk
  size, through :func:`dfmi_py.chain.events.fetch_logs`: each answer's JSON typed), nothing
  decoded;
- **views**: a new :class:`dfmi_py.books.Books` (empty cache) builds every view: it reads the
  head, the same logs, the times of the blocks with events, decodes, replays, reads its
  snapshot, and builds each DataFrame.

Target: the views within 2x the raw fetch. Writes bench/results/books.md with both times, the
ratio, the counts (events, blocks, requests) and where the views' time went.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from web3 import Web3

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the benches import each other by name

import keeper_latency
from report import RESULTS_DIR

from dfmi_py.api.derivatives import TradeState
from dfmi_py.books import Books
from dfmi_py.books import books as books_module
from dfmi_py.books import ledger as ledger_module
from dfmi_py.books import views as views_module
from dfmi_py.chain import Chain
from dfmi_py.chain.events import DEFAULT_CHUNK_BLOCKS, fetch_logs
from dfmi_py.deploy.roles import DEV_ACCOUNT_COUNT
from dfmi_py.node import AnvilNode
from dfmi_py.services.keeper.config import KeeperSettings
from dfmi_py.services.runtime import ExitCode, ServiceRunner

TARGET_RATIO = 2.0


@dataclass
class Figures:
    """One run's measurements."""

    trades: int
    parties: int
    setup_seconds: float = 0.0
    raw_runs: list[float] = field(default_factory=list)
    view_runs: list[float] = field(default_factory=list)
    web3_seconds: float = 0.0
    logs: int = 0
    log_requests: int = 0
    events: int = 0
    blocks: int = 0
    event_blocks: int = 0
    block_requests: int = 0
    call_requests: int = 0
    calls: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    #: Where the median views run's time went, by step.
    steps: dict[str, float] = field(default_factory=dict)

    @property
    def raw_seconds(self) -> float:
        return statistics.median(self.raw_runs)

    @property
    def view_seconds(self) -> float:
        return statistics.median(self.view_runs)

    @property
    def ratio(self) -> float:
        return self.view_seconds / self.raw_seconds


def settle_everything(market: Any, chain: Chain) -> None:
    """The keeper settles every trade to the current round, then, after every market moved +1%,
    to the new one (the second settlement moves cash between the parties)."""
    service = keeper_latency.keeper(market)
    runner = ServiceRunner(service, chain, KeeperSettings().runtime_config(), service.metrics, service.logger)
    assert runner.run(max_steps=1) == ExitCode.OK
    rounds = keeper_latency.new_rounds(market)
    for _ in range(10):
        service.step(keeper_latency.head(chain))
        if not service.last_results:
            break
    keeper_latency.check_settled(market, rounds)


def raw_fetch(w3: Web3, books: Books, head: int) -> tuple[float, int, int]:
    """The ledger's ``eth_getLogs`` chunks, nothing decoded: seconds, logs, requests."""
    addresses, topics = books.ledger.log_filter
    started = time.perf_counter()
    logs = requests_made = 0
    for chunk in fetch_logs(w3, addresses, topics, books.ledger.start_block, head, books.ledger.chunk_blocks):
        logs += len(chunk)
        requests_made += 1
    return time.perf_counter() - started, logs, requests_made


def web3_fetch(w3: Web3, books: Books, head: int) -> float:
    """The same ``eth_getLogs`` requests through web3's ``get_logs``, each log formatted by web3 (as
    :func:`fetch_logs` read them before it converted the JSON itself): seconds."""
    addresses, topics = books.ledger.log_filter
    started = time.perf_counter()
    start, chunk = books.ledger.start_block, books.ledger.chunk_blocks
    while start <= head:
        end = min(head, start + chunk - 1)
        w3.eth.get_logs({"address": addresses, "fromBlock": start, "toBlock": end, "topics": [topics]})  # type: ignore[typeddict-item]
        start = end + 1
    return time.perf_counter() - started


class Trace:
    """Times named steps of a views run by wrapping the functions that make them."""

    def __init__(self) -> None:
        self.steps: dict[str, float] = {}
        self._undo: list[Callable[[], None]] = []

    def wrap(self, owner: Any, name: str, step: str) -> None:
        """Time ``owner.name`` (or ``owner[name]`` for a mapping) as ``step``."""
        mapping = isinstance(owner, dict)
        original: Callable[..., Any] = owner[name] if mapping else getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.steps[step] = self.steps.get(step, 0.0) + time.perf_counter() - started

        if mapping:
            owner[name] = timed
            self._undo.append(lambda: owner.__setitem__(name, original))
        else:
            setattr(owner, name, timed)
            self._undo.append(lambda: setattr(owner, name, original))

    def wrap_iterator(self, owner: Any, name: str, step: str) -> None:
        original: Callable[..., Iterator[Any]] = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Iterator[Any]:
            iterator = original(*args, **kwargs)
            while True:
                started = time.perf_counter()
                try:
                    item = next(iterator)
                except StopIteration:
                    return
                finally:
                    self.steps[step] = self.steps.get(step, 0.0) + time.perf_counter() - started
                yield item

        setattr(owner, name, timed)
        self._undo.append(lambda: setattr(owner, name, original))

    def undo(self) -> None:
        for undo in reversed(self._undo):
            undo()


def views_run(market: Any) -> tuple[float, Books, dict[str, float]]:
    """Every view from an empty cache: seconds, the reader, and its steps."""
    books = Books(market)
    trace = Trace()
    trace.wrap(books.ledger, "refresh", "ledger refresh (all of it)")
    trace.wrap_iterator(ledger_module, "fetch_logs", "  eth_getLogs (the fetch, as raw)")
    trace.wrap(books.ledger, "_headers", "  block times (batched eth_getBlockByNumber)")
    trace.wrap(books, "_decode_instructions", "instructions' transactions")
    trace.wrap(books_module, "replay", "replay of the events")
    trace.wrap(books_module, "read_snapshot", "snapshot (batched eth_call)")
    for name in views_module.BUILDERS:
        trace.wrap(views_module.BUILDERS, name, f"view {name}")
    started = time.perf_counter()
    try:
        books.all()
    finally:
        elapsed = time.perf_counter() - started
        trace.undo()
    steps = trace.steps
    inside = sum(v for k, v in steps.items() if k.startswith("  "))
    steps["  events built from the logs"] = steps.get("ledger refresh (all of it)", 0.0) - inside
    order = ["ledger refresh (all of it)", "  eth_getLogs (the fetch, as raw)"]
    order += ["  block times (batched eth_getBlockByNumber)", "  events built from the logs"]
    ordered = {name: steps.pop(name, 0.0) for name in order}
    ordered.update(steps)
    return elapsed, books, ordered


def measure(trades: int, parties: int, repeat: int, chunk_blocks: int) -> Figures:
    figures = Figures(trades, parties)
    started = time.monotonic()
    with AnvilNode(accounts=DEV_ACCOUNT_COUNT) as node, tempfile.TemporaryDirectory() as manifests:
        session = requests.Session()
        session.trust_env = False
        provider = Web3.HTTPProvider(
            node.rpc_url, session=session, cache_allowed_requests=True, cacheable_requests={"eth_chainId"}
        )
        chain = Chain(Web3(provider))
        market, _ = keeper_latency.set_up(node, chain, trades, parties, Path(manifests))
        settle_everything(market, chain)
        figures.setup_seconds = time.monotonic() - started
        head = int(chain.w3.eth.block_number)

        probe = Books(market, chunk_blocks=chunk_blocks)
        raw_fetch(chain.w3, probe, head)  # warms the node's caches with the very reads measured
        step_runs: list[dict[str, float]] = []
        for _ in range(repeat):
            seconds, logs, log_requests = raw_fetch(chain.w3, probe, head)
            figures.raw_runs.append(seconds)
            seconds, books, steps = views_run(market)
            assert books.ledger.head == head, "a block was mined during the run"
            figures.view_runs.append(seconds)
            step_runs.append(steps)
        figures.web3_seconds = web3_fetch(chain.w3, probe, head)  # once: it is slow
        closest = min(range(repeat), key=lambda k: abs(figures.view_runs[k] - figures.view_seconds))
        figures.steps = step_runs[closest]
        figures.logs, figures.log_requests = logs, log_requests
        stats = books.ledger.stats  # of the last views run, before anything else is asked
        figures.block_requests = stats.block_requests
        figures.call_requests, figures.calls = books.caller.rpc.requests, books.caller.rpc.calls
        figures.events = len(books.ledger)
        figures.blocks = head - books.ledger.start_block + 1
        figures.event_blocks = len({e.block for e in books.ledger.events()})
        figures.rows = {name: len(frame) for name, frame in books.all().items()}
        positions = books.positions()
        assert len(positions) == trades
        assert (positions.state == TradeState.LIVE.name).all()
        session.close()
    return figures


def report(f: Figures) -> str:
    met = f.ratio <= TARGET_RATIO
    lines = [
        "# The books over many trades: every view from an empty cache against the raw logs",
        "",
        "Generated by `python -m bench.books` on a fresh local Anvil with the three-market suite of",
        "examples/three-markets.toml: the keeper benchmark's set-up (bench/keeper_latency.py) of",
        f"{f.trades:,} live trades between {f.parties:,} parties, each settled by the keeper to two rounds",
        "(the second after every market moved +1%, so cash moves). In one run, alternating, each",
        f"{len(f.raw_runs)} times (medians shown): **raw**, the ledger's own `eth_getLogs` chunks (same",
        "addresses, topics, range and chunk size; each answer's JSON typed) with nothing decoded;",
        "**views**, a new `Books` (empty cache) building every view: the head, the same logs, the times",
        "of the blocks with events (batched), decoding, the replay, the snapshot of view reads (batched",
        "`eth_call`), each DataFrame.",
        "",
        "| trades | events | blocks (with events) | raw fetch s | every view s | views / raw | target |",
        "|---:|---:|---:|---:|---:|---:|---|",
        f"| {f.trades:,} | {f.events:,} | {f.blocks:,} ({f.event_blocks:,}) | {f.raw_seconds:.2f} | "
        f"{f.view_seconds:.2f} | {f.ratio:.2f} | {'within' if met else 'MISSED'} {TARGET_RATIO:.0f}x |",
        "",
        f"- Runs: raw {', '.join(f'{x:.2f}' for x in f.raw_runs)} s; views "
        f"{', '.join(f'{x:.2f}' for x in f.view_runs)} s.",
        f"- Requests of one views run: {f.log_requests} `eth_getLogs` (the raw fetch's too: {f.logs:,} logs); "
        f"{f.block_requests} round trips of `eth_getBlockByNumber` (the head, then the {f.event_blocks:,} "
        f"blocks with events in batches of 500); {f.call_requests} of `eth_call` ({f.calls:,} calls in batches).",
        f"- The same requests through web3's `get_logs`, which formats every log (how `fetch_logs` read "
        f"them before it converted the JSON itself): {f.web3_seconds:.2f} s, "
        f"{f.web3_seconds / max(f.logs, 1) * 1e6:.0f} µs per log against "
        f"{f.raw_seconds / max(f.logs, 1) * 1e6:.0f} µs for the raw fetch.",
        "- Rows: " + ", ".join(f"{name} {count:,}" for name, count in f.rows.items()) + ".",
        "",
        "Where the views' time went (the run closest to the median; indented steps are inside the",
        "ledger's refresh):",
        "",
        "| step | s |",
        "|---|---:|",
    ]
    for step, seconds in f.steps.items():
        lines.append(f"| {step.replace('  ', '&nbsp;&nbsp;')} | {seconds:.2f} |")
    lines += ["", f"Set-up (deploy, {f.trades:,} trades, two settlements): {f.setup_seconds:.0f} s.", ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--trades", type=int, default=10_000)
    parser.add_argument("--parties", type=int, default=0, help="parties (default: trades / 20, at least 30)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, alternating; medians reported")
    parser.add_argument("--chunk-blocks", type=int, default=DEFAULT_CHUNK_BLOCKS)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "books.md")
    args = parser.parse_args(argv)
    figures = measure(args.trades, args.parties or max(30, args.trades // 20), args.repeat, args.chunk_blocks)
    text = report(figures)
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0 if figures.ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
