"""Keeper latency: from a new final round in every market to every due trade settled.

    .venv/bin/python bench/keeper_latency.py [--trades 1000 10000] [--parties 60]

On a fresh local Anvil with the three-market suite (examples/three-markets.toml), for each size:

1. Set-up (not timed): parties funded, onboarded, in the default fund, approving every engine;
   ``N`` live trades spread over the three markets, created with batched raw transactions
   (automine off, blocks mined by hand); one keeper step brings every trade to the latest round.
2. A new final round in each market (+1%), then a snapshot.
3. (a) The keeper, the real path: ``KeeperService.step`` on the new head (the reader follows the
   logs, the pure decision, the sender sends every ``settleMany`` batch and waits for each), until
   nothing is due. Timed from the moment the three rounds are final.
4. Revert to the snapshot. (b) A bare script sends the same batches, precomputed (calldata, gas
   limits from (a)'s receipts, nonces, fees), back to back, then waits for their receipts: no
   discovery, decision or check.

Targets: (a) at most 5 s with 1,000 trades, (a)/(b) at most 1.5, and (a) growing no faster than
linearly from 1,000 to 10,000 trades. Writes bench/results/keeper_latency.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from eth_account.signers.local import LocalAccount
from report import RESULTS_DIR, fresh_accounts
from web3 import Web3
from web3.logs import DISCARD

from dfmi_py.api import Market, Terms
from dfmi_py.api.derivatives import TradeState
from dfmi_py.chain import Chain, dev_account
from dfmi_py.deploy.config import load_config
from dfmi_py.deploy.roles import DEV_ACCOUNT_COUNT, DEV_ROLE_INDEX, RoleConfig
from dfmi_py.deploy.suite import deploy_suite
from dfmi_py.node import AnvilNode
from dfmi_py.services.keeper.config import KeeperSettings
from dfmi_py.services.keeper.read import KeeperReader
from dfmi_py.services.keeper.service import KeeperService
from dfmi_py.services.logs import service_logger
from dfmi_py.services.metrics import ServiceMetrics
from dfmi_py.services.runtime import ExitCode, Head, ServiceRunner
from dfmi_py.services.sender import TxSender, TxStatus

ROOT = Path(__file__).resolve().parents[1]
THREE_MARKETS = ROOT / "examples" / "three-markets.toml"
USD = 10**6
ADMIN = dev_account(DEV_ROLE_INDEX["admin"])
OFFICER = dev_account(DEV_ROLE_INDEX["compliance_officer"])
MINTER = dev_account(DEV_ROLE_INDEX["minter"])
MASTER_MINTER = dev_account(DEV_ROLE_INDEX["master_minter"])
KEEPER = dev_account(13)
BARE = dev_account(14)
BLAST_BATCH = 500


@dataclass
class Figures:
    """One size's measurements."""

    trades: int
    setup_seconds: float = 0.0
    sync_seconds: float = 0.0
    sync_calls: int = 0
    keeper_seconds: float = 0.0
    bare_seconds: float = 0.0
    parts: dict[str, float] = field(default_factory=dict)
    step_calls: int = 0
    batches: int = 0
    batch_gas: list[int] = field(default_factory=list)
    batch_sizes: list[int] = field(default_factory=list)
    margin_call_gas_per_trade: int = 0
    keeper_runs: list[float] = field(default_factory=list)
    bare_runs: list[float] = field(default_factory=list)
    raw_seconds: float = 0.0
    raw_runs: list[float] = field(default_factory=list)


class Blaster:
    """Sends many signed transactions at once: automine off, JSON-RPC batches, blocks mined by hand."""

    def __init__(self, chain: Chain, url: str) -> None:
        self.chain = chain
        self.url = url
        self.session = requests.Session()
        self.session.trust_env = False
        self.nonces: dict[str, int] = {}

    def rpc(self, method: str, params: list[Any]) -> Any:
        reply = self.session.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        body = reply.json()
        if "error" in body:
            raise RuntimeError(f"{method}: {body['error']}")
        return body["result"]

    def send(self, items: Sequence[tuple[LocalAccount, Any, int]]) -> list[str]:
        """Sign and send ``(sender, contract call, gas)`` each; mine until all are in; their hashes."""
        signed = []
        for account, call, gas in items:
            nonce = self.nonces.get(account.address)
            if nonce is None:
                nonce = int(self.chain.w3.eth.get_transaction_count(account.address))
            self.nonces[account.address] = nonce + 1
            tx = {
                "to": call.address,
                "data": call._encode_transaction_data(),
                "gas": gas,
                "nonce": nonce,
                "chainId": self.chain.chain_id,
                "maxFeePerGas": 50 * 10**9,
                "maxPriorityFeePerGas": 10**9,
                "value": 0,
            }
            signed.append("0x" + bytes(account.sign_transaction(tx).raw_transaction).hex())
        self.rpc("evm_setAutomine", [False])
        hashes: list[str] = []
        try:
            for start in range(0, len(signed), BLAST_BATCH):
                body = [
                    {"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction", "params": [raw]}
                    for i, raw in enumerate(signed[start : start + BLAST_BATCH])
                ]
                replies = sorted(self.session.post(self.url, json=body).json(), key=lambda r: r["id"])
                for reply in replies:
                    if "error" in reply:
                        raise RuntimeError(f"eth_sendRawTransaction: {reply['error']}")
                    hashes.append(reply["result"])
            while _int(self.rpc("txpool_status", [])["pending"]) > 0:
                self.rpc("evm_mine", [])
        finally:
            self.rpc("evm_setAutomine", [True])
        for start in range(0, len(hashes), BLAST_BATCH):
            body = [
                {"jsonrpc": "2.0", "id": i, "method": "eth_getTransactionReceipt", "params": [h]}
                for i, h in enumerate(hashes[start : start + BLAST_BATCH])
            ]
            for reply in self.session.post(self.url, json=body).json():
                if reply.get("result") is None or reply["result"]["status"] != "0x1":
                    raise RuntimeError(f"a set-up transaction failed: {reply}")
        return hashes


def _int(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


def post_round(market: Market, name: str, price: int) -> None:
    oracle = market.markets[name].oracle
    round_id = oracle.open_round()
    for reporter in oracle.reporters():
        account = next(dev_account(i) for i in range(DEV_ACCOUNT_COUNT) if dev_account(i).address == reporter)
        oracle.submit(account, price)
        if oracle.open_round() != round_id:
            return
    raise RuntimeError(f"{name}: round {round_id} did not finalise")


def set_up(
    node: AnvilNode, chain: Chain, trades: int, party_count: int, manifests: Path
) -> tuple[Market, list[LocalAccount]]:
    """The suite, the parties and ``trades`` live trades (see the module's text)."""
    deployment = deploy_suite(
        chain, ADMIN, RoleConfig.devnet(), manifest_dir=manifests, params=load_config(THREE_MARKETS), officer=OFFICER
    )
    market = Market.from_deployment(deployment)
    blaster = Blaster(chain, node.rpc_url)
    parties = fresh_accounts(chain, dev_account(0), party_count)
    addresses = [p.address for p in parties] + [MINTER.address]
    for start in range(0, len(addresses), 100):
        market.compliance.onboard(OFFICER, addresses[start : start + 100])
    market.cash.configure_minter(MASTER_MINTER, MINTER.address, 10**30)
    cash, fund = market.cash.contract.functions, market.fund.contract.functions
    engines = [u.derivatives for u in market.markets.values()]
    blaster.send([(MINTER, cash.mint(p.address, 100_000 * USD), 120_000) for p in parties])
    blaster.send([(p, cash.approve(market.fund.address, 2**256 - 1), 80_000) for p in parties])
    blaster.send([(p, fund.join(5_000 * USD), 400_000) for p in parties])
    blaster.send([(p, cash.approve(e.address, 2**256 - 1), 80_000) for p in parties for e in engines])
    for name in market.markets:
        post_round(market, name, market.markets[name].oracle.config().min_answer * 2_000)
    now = chain.now()
    names = list(market.markets)
    proposals: list[tuple[str, LocalAccount, LocalAccount, Terms]] = []
    for k in range(trades):
        name = names[k % len(names)]
        buyer = parties[k % party_count]
        seller = parties[(k // party_count + 1 + k) % party_count]
        if seller is buyer:
            seller = parties[(k + 1) % party_count]
        price = market.markets[name].oracle.latest().answer if k < len(names) else proposals[k % 3][3].contract_price
        terms = Terms(buyer.address, seller.address, 10**18, price, now + 365 * 86_400, USD, USD)
        proposals.append((name, buyer, seller, terms))
    blaster.send(
        [
            (b, market.markets[n].derivatives.contract.functions.propose(t.as_tuple()), 400_000)
            for n, b, _, t in proposals
        ]
    )
    ids: dict[bytes, int] = {}
    for name in names:
        for log in market.markets[name].derivatives.contract.events.TradeProposed().get_logs(from_block=0):
            ids[bytes(log["args"]["termsHash"])] = int(log["args"]["tradeId"])
    blaster.send(
        [
            (s, market.markets[n].derivatives.contract.functions.confirm(ids[t.hash()], t.as_tuple()), 500_000)
            for n, _, s, t in proposals
        ]
    )
    return market, parties


def keeper(market: Market, figures: Figures | None = None) -> KeeperService:
    settings = KeeperSettings()
    reader = KeeperReader(market, settings.keeper_config(), log_chunk_blocks=settings.log_chunk_blocks)
    sender = TxSender(market.chain, KEEPER, settings.sender.sender_config(0))
    service = KeeperService(
        market, reader, sender, ServiceMetrics("keeper"), service_logger("keeper"), max_trade_gas=settings.max_trade_gas
    )
    started = time.monotonic()
    service.sync()
    if figures is not None:
        figures.sync_seconds = time.monotonic() - started
        figures.sync_calls = reader.last_calls
    return service


def _snapshot(chain: Chain) -> str:
    return str(chain.w3.provider.make_request("evm_snapshot", [])["result"])  # type: ignore[arg-type]


def new_rounds(market: Market) -> dict[str, int]:
    """A new final round (+1%) in every market; their ids."""
    for name in market.markets:
        post_round(market, name, market.markets[name].oracle.latest().answer * 101 // 100)
    return {name: u.oracle.latest().round_id for name, u in market.markets.items()}


def check_settled(market: Market, rounds: dict[str, int]) -> None:
    """Every trade is live and settled to ``rounds``."""
    for name, underlying in market.markets.items():
        for trade_id in range(1, underlying.derivatives.trade_count() + 1):
            trade = underlying.derivatives.trade(trade_id)
            assert trade.state == TradeState.LIVE, (name, trade_id, trade)
            assert trade.last_round == rounds[name], (name, trade_id, trade)


def revert(chain: Chain, snapshot: str) -> None:
    """Back to ``snapshot`` (Anvil forgets a snapshot once reverted to)."""
    reply = chain.w3.provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]
    if reply.get("result") is not True:
        raise RuntimeError(f"evm_revert failed: {reply}")


def head(chain: Chain) -> Head:
    block = chain.w3.eth.get_block("latest")
    return Head(int(block["number"]), "0x" + bytes(block["hash"]).hex(), int(block["timestamp"]))


def timed(obj: Any, name: str, parts: dict[str, float]) -> None:
    """Wrap ``obj.name`` so its time adds up in ``parts[name]``."""
    original: Callable[..., Any] = getattr(obj, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.monotonic()
        try:
            return original(*args, **kwargs)
        finally:
            parts[name] = parts.get(name, 0.0) + time.monotonic() - started

    setattr(obj, name, wrapper)


def measure(trades: int, party_count: int, repeat: int) -> Figures:
    figures = Figures(trades)
    started = time.monotonic()
    with AnvilNode(accounts=DEV_ACCOUNT_COUNT) as node, tempfile.TemporaryDirectory() as manifests:
        session = requests.Session()
        session.trust_env = False
        chain = Chain(
            Web3(
                Web3.HTTPProvider(
                    node.rpc_url, session=session, cache_allowed_requests=True, cacheable_requests={"eth_chainId"}
                )
            )
        )
        market, parties = set_up(node, chain, trades, party_count, Path(manifests))
        # steady state: every trade settled to the current round (round 1) by a first keeper
        service = keeper(market)
        runner = ServiceRunner(service, chain, KeeperSettings().runtime_config(), service.metrics, service.logger)
        assert runner.run(max_steps=1) == ExitCode.OK
        figures.setup_seconds = time.monotonic() - started

        # S0: the steady state; each repetition starts from it
        snapshot = _snapshot(chain)
        keeper_runs: list[float] = []
        bare_runs: list[float] = []
        state = {"snapshot": snapshot}

        def back() -> None:
            revert(chain, state["snapshot"])
            state["snapshot"] = _snapshot(chain)

        def run_keeper() -> tuple[float, list[tuple[str, list[int]]]]:
            """(a) the keeper, the real path; it synced before the rounds (a keeper runs all along).
            Its parts are recorded in ``figures.parts`` (the caller keeps each run's)."""
            service = keeper(market, figures)
            service.step(head(chain))
            assert not service.last_results, "the steady state left something due"
            rounds = new_rounds(market)
            parts: dict[str, float] = {}
            timed(service.reader, "update", parts)
            timed(service.sender, "send_all", parts)
            t0 = time.monotonic()
            service.step(head(chain))
            elapsed = time.monotonic() - t0
            sent = [(r.request.market, list(r.request.fields["trades"])) for r in service.last_results]
            assert all(r.status is TxStatus.MINED for r in service.last_results), service.last_results
            figures.parts = dict(parts)  # what (a) spent (the check below adds to ``parts``)
            figures.step_calls = service.reader.last_calls
            figures.batch_gas = [r.gas_used for r in service.last_results]
            figures.batch_sizes = [len(ids) for _, ids in sent]
            service.step(head(chain))
            assert not service.last_results, "the keeper left something due after its step"
            check_settled(market, rounds)
            back()
            return elapsed, sent

        def run_bare(batches: list[tuple[str, list[int]]]) -> float:
            """(b) the bare script: the same batches, precomputed, each through ``Chain.transact``
            (estimate, sign, send, wait for the receipt), one after the other."""
            rounds = new_rounds(market)
            calls = [(market.markets[n].derivatives.contract.functions.settleMany(ids)) for n, ids in batches]
            t0 = time.monotonic()
            for call in calls:
                chain.transact(call, BARE, "settle many")
            elapsed = time.monotonic() - t0
            check_settled(market, rounds)
            back()
            return elapsed

        def run_raw(batches: list[tuple[str, list[int]]]) -> float:
            """(b') the floor: the same batches, precomputed (calldata, gas limits from (a)'s
            receipts, nonces, fees), signed before the clock starts, sent back to back, then their
            receipts awaited; nothing checked or estimated."""
            rounds = new_rounds(market)
            calls = [(market.markets[n].derivatives.contract.functions.settleMany(ids)) for n, ids in batches]
            nonce = int(chain.w3.eth.get_transaction_count(BARE.address))
            base = int(chain.w3.eth.get_block("latest")["baseFeePerGas"])
            signed = [
                BARE.sign_transaction(
                    {
                        "to": call.address,
                        "data": call._encode_transaction_data(),
                        "gas": gas * 13 // 10,
                        "nonce": nonce + k,
                        "chainId": chain.chain_id,
                        "maxFeePerGas": 2 * base + 10**9,
                        "maxPriorityFeePerGas": 10**9,
                    }
                ).raw_transaction
                for k, (call, gas) in enumerate(zip(calls, figures.batch_gas, strict=True))
            ]
            t0 = time.monotonic()
            hashes = [chain.w3.eth.send_raw_transaction(raw) for raw in signed]
            for tx_hash in hashes:
                receipt = chain.w3.eth.wait_for_transaction_receipt(tx_hash, poll_latency=0.005)
                assert receipt["status"] == 1, receipt
            elapsed = time.monotonic() - t0
            check_settled(market, rounds)
            back()
            return elapsed

        # one unmeasured run of each warms the node's caches with the very transactions measured
        _, batches = run_keeper()
        run_bare(batches)
        run_raw(batches)
        raw_runs: list[float] = []
        parts_of_run: list[dict[str, float]] = []
        for repetition in range(repeat):  # rotate which goes first
            order = ("keeper", "bare", "raw")[repetition % 3 :] + ("keeper", "bare", "raw")[: repetition % 3]
            for kind in order:
                if kind == "keeper":
                    elapsed, sent = run_keeper()
                    assert sent == batches, "the keeper's batches differ between runs"
                    keeper_runs.append(elapsed)
                    parts_of_run.append(figures.parts)
                elif kind == "bare":
                    bare_runs.append(run_bare(batches))
                else:
                    raw_runs.append(run_raw(batches))
        figures.batches = len(batches)
        figures.keeper_runs, figures.bare_runs, figures.raw_runs = keeper_runs, bare_runs, raw_runs
        figures.keeper_seconds = statistics.median(keeper_runs)
        # the parts shown beside (a) are those of the run closest to the median (an odd count: that run)
        closest = min(range(len(keeper_runs)), key=lambda k: abs(keeper_runs[k] - figures.keeper_seconds))
        figures.parts = parts_of_run[closest]
        figures.bare_seconds = statistics.median(bare_runs)
        figures.raw_seconds = statistics.median(raw_runs)

        # gas of a batch whose every trade opens a margin call (sellers who stopped paying)
        new_rounds(market)
        figures.margin_call_gas_per_trade = margin_call_gas(market, chain, node.rpc_url, parties)
        session.close()
    return figures


def margin_call_gas(market: Market, chain: Chain, url: str, parties: list[LocalAccount]) -> int:
    """Per-trade gas of a ``settleMany`` of 20 trades that each open a margin call, less a
    10-trade batch's (so the batch's fixed cost drops out). The price rose: sellers pay; half the
    parties stop paying (no approval, empty margin accounts) and the trades measured are those
    they sold to the other half (so no payer receives margin earlier in the batch)."""
    name = next(iter(market.markets))
    engine = market.markets[name].derivatives
    defaulting = {p.address: p for p in parties[::2]}
    ids = []
    for trade_id in range(1, engine.trade_count() + 1):
        trade = engine.trade(trade_id)
        if trade.seller in defaulting and trade.buyer not in defaulting:
            ids.append(trade_id)
        if len(ids) == 30:
            break
    sellers = {engine.trade(i).seller for i in ids}
    approve = market.cash.contract.functions.approve
    Blaster(chain, url).send([(defaulting[s], approve(engine.address, 0), 80_000) for s in sellers])
    gas = []
    for chunk in (ids[:10], ids[10:30]):
        receipt = chain.transact(engine.contract.functions.settleMany(chunk), KEEPER, "settle many")
        calls = len(engine.contract.events.MarginCalled().process_receipt(receipt, errors=DISCARD))
        assert calls == len(chunk), f"{calls} margin calls in a batch of {len(chunk)}"
        gas.append(int(receipt["gasUsed"]))
    return (gas[1] - gas[0]) // 10


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--repeat", type=int, default=3, help="runs of (a) and (b) each; medians reported")
    parser.add_argument("--parties", type=int, default=0, help="parties (default: trades / 20, at least 30)")
    parser.add_argument(
        "--from-json",
        type=Path,
        help="rewrite the report from the figures a run printed (its stderr), measuring nothing",
    )
    args = parser.parse_args(argv)
    results = []
    if args.from_json:
        for line in args.from_json.read_text().splitlines():
            if line.startswith('{"trades"'):
                figures = Figures(**json.loads(line))
                results.append((figures, args.parties or max(30, figures.trades // 20), figures.setup_seconds))
    for trades in [] if args.from_json else args.trades:
        parties = args.parties or max(30, trades // 20)
        figures = measure(trades, parties, args.repeat)
        print(json.dumps(figures.__dict__, default=str), file=sys.stderr)
        results.append((figures, parties, figures.setup_seconds))
    text = report(results)
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "keeper_latency.md").write_text(text)
    print(text)
    first = results[0][0]
    ok = first.keeper_seconds <= 5 and all(f.keeper_seconds <= 1.5 * f.bare_seconds for f, _, _ in results)
    return 0 if ok else 1


def report(results: list[tuple[Figures, int, float]]) -> str:
    lines = [
        "# Keeper latency: from a new final round in every market to every due trade settled",
        "",
        "Generated by `bench/keeper_latency.py` on a fresh local Anvil (automine) with the three-market",
        "suite of examples/three-markets.toml and the default keeper settings (examples/keeper.toml).",
        "(a) the keeper's real path (`KeeperService.step`: reader update, pure decision, the sender),",
        "timed from the moment the three rounds are final until the last batch is mined; (b) a bare",
        "script sending the same `settleMany` batches, precomputed, one after the other through",
        "`Chain.transact` (estimate, sign, send, wait); (b') the floor: the same batches signed before the",
        "clock starts (calldata, gas limits from (a)'s receipts, nonces, fees), sent back to back, then",
        "their receipts awaited, nothing checked or estimated.",
        "Each of (a) and (b) runs three times from the same state (snapshot/revert), in alternating",
        "order, after one unmeasured run of both (it warms the node's caches); medians shown.",
        "The runner's poll interval (1 s by default) comes on top of (a): the keeper sees a new head",
        "at most one poll after it is mined.",
        "",
        "| trades | parties | batches | (a) keeper s | (b) bare s | (a)/(b) | (b') floor s | (a)/(b') | "
        "reader update s | decide+log s | send s | requests per update | full sync s (requests) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for f, parties, _ in results:
        update, send = f.parts.get("update", 0.0), f.parts.get("send_all", 0.0)
        other = f.keeper_seconds - update - send
        lines.append(
            f"| {f.trades:,} | {parties:,} | {f.batches} | {f.keeper_seconds:.2f} | {f.bare_seconds:.2f} | "
            f"{f.keeper_seconds / f.bare_seconds:.2f} | {f.raw_seconds:.2f} | "
            f"{f.keeper_seconds / max(f.raw_seconds, 1e-9):.2f} | {update:.2f} | {other:.2f} | {send:.2f} | "
            f"{f.step_calls} | "
            f"{f.sync_seconds:.1f} ({f.sync_calls}) |"
        )
    lines += [""]
    for f, _, _ in results:
        runs_a = ", ".join(f"{x:.2f}" for x in f.keeper_runs)
        runs_b = ", ".join(f"{x:.2f}" for x in f.bare_runs)
        runs_raw = ", ".join(f"{x:.2f}" for x in f.raw_runs)
        lines.append(f"- {f.trades:,} trades: (a) runs {runs_a} s; (b) runs {runs_b} s; (b') runs {runs_raw} s.")
    lines += [
        "",
        "Where (a)'s time goes: sending, not the keeper's own work. The sender checks every batch",
        "with `eth_call` and then `eth_estimateGas` (which runs the batch again, several times in its",
        "search), then sends them all and waits for the receipts; (b) estimates once per batch and",
        "(b') not at all, which is the gap between the three. The reader's update is five JSON-RPC",
        "requests whatever the number of trades (the head's and the last block's headers, one",
        "`eth_getLogs` for every engine and oracle, the cash token's `paused` and `lastUnpausedAt`); the",
        "decision and the per-receipt logs and metrics (events read straight from their ABI words) take",
        "the rest.",
        "",
        "| trades | gas of all batches | gas per trade | (a) s per million gas | (b) s per million gas | "
        "(b') s per million gas |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for f, _, _ in results:
        total = sum(f.batch_gas)
        lines.append(
            f"| {f.trades:,} | {total:,} | {total / f.trades:,.0f} | {f.keeper_seconds / total * 1e6:.4f} | "
            f"{f.bare_seconds / total * 1e6:.4f} | {f.raw_seconds / total * 1e6:.4f} |"
        )
    lines += ["", "Gas (each `settleMany` receipt's `gasUsed`):", ""]
    for f, _, _ in results:
        per_trade = [g / n for g, n in zip(f.batch_gas, f.batch_sizes, strict=True) if n]
        lines.append(
            f"- {f.trades:,} trades: batches of {min(f.batch_sizes)}-{max(f.batch_sizes)} trades, "
            f"{min(f.batch_gas):,}-{max(f.batch_gas):,} gas ({min(per_trade):,.0f}-{max(per_trade):,.0f} per trade, "
            f"base included); a trade whose settlement opens a margin call: {f.margin_call_gas_per_trade:,} gas "
            "in a batch."
        )
    if len(results) > 1:
        (small, _, _), (large, _, _) = results[0], results[-1]
        size = large.trades / small.trades

        def own(f: Figures) -> float:  # the keeper's own work: what (a) spends beyond sending
            return f.keeper_seconds - f.parts.get("send_all", 0.0)

        def per_gas(seconds: float, f: Figures) -> float:
            return seconds / sum(f.batch_gas) * 1e6

        lines += [
            "",
            f"Growth from {small.trades:,} to {large.trades:,} trades (x{size:.0f}): (a) "
            f"x{large.keeper_seconds / small.keeper_seconds:.1f} "
            f"({large.keeper_seconds / small.keeper_seconds / size:.2f} of linear), (b) "
            f"x{large.bare_seconds / small.bare_seconds:.1f}, (b') x{large.raw_seconds / small.raw_seconds:.1f}; "
            f"the keeper's own work (reader update, decision, logs and metrics) "
            f"x{own(large) / own(small):.1f} ({own(small):.2f} s to {own(large):.2f} s). "
            f"Gas per trade rises x{sum(large.batch_gas) / large.trades / (sum(small.batch_gas) / small.trades):.2f} "
            "(more parties, so more cold accounts in each batch), and the node's time per million gas "
            f"x{per_gas(large.raw_seconds, large) / per_gas(small.raw_seconds, small):.2f} in (b'): what grows "
            "faster than the trades is the node's execution of the batches, which (a), (b) and (b') share.",
        ]
    lines += ["", "Set-up times: " + ", ".join(f"{f.trades:,} trades {s:.0f} s" for f, _, s in results), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
