"""``dfmi keeper`` against Anvil: a three-market suite of its own (examples/three-markets.toml).

Each test starts from the same funded suite (snapshot/revert), runs the keeper the way the
command does (reader, pure decisions, the sender, the runner) and checks what the chain says
afterwards: every due (trade, round) settled exactly once, margin calls, defaults with the fund's
waterfall, maturities; and cash conserved (the parties' and keepers' wallets, the engines' margin
accounts and IMs, and the fund together hold what they held before).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from eth_account.signers.local import LocalAccount
from web3 import Web3

from dfmi_py.api import Market
from dfmi_py.api.derivatives import TradeState
from dfmi_py.chain import Chain, dev_account
from dfmi_py.deploy.roles import DEV_ROLE_INDEX
from dfmi_py.deploy.suite import Deployment
from dfmi_py.errors import ChainConnectionError
from dfmi_py.services.config import validate_settings
from dfmi_py.services.keeper.config import KeeperSettings
from dfmi_py.services.keeper.decide import DeclareDefault, Mature, RetryFundClaim, SettleBatch, decide
from dfmi_py.services.keeper.read import KeeperReader
from dfmi_py.services.keeper.service import KeeperService
from dfmi_py.services.logs import service_logger
from dfmi_py.services.metrics import ServiceMetrics
from dfmi_py.services.runtime import ExitCode, Head, ServiceRunner
from dfmi_py.services.sender import TxSender, TxStatus
from tests.helpers import cli_runner
from tests.services.keeper_world import DAY, KEEPERS, MARKETS, PARTIES, PROJECT_ROOT, World, start_world

A, B, C, D, E = PARTIES
PAUSER = dev_account(DEV_ROLE_INDEX["pauser"])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from start_world(tmp_path_factory.mktemp("keeper-service"))


@pytest.fixture
def w(world: World) -> Iterator[World]:
    """The module's world with two live trades per market, restored after the test; cash is
    conserved by every test."""
    snapshot = world.snapshot()
    for name in MARKETS:
        price = world.market.markets[name].oracle.latest().answer
        world.open_trade(name, A, B, price)
        world.open_trade(name, C, D, price, quantity=3 * 10**18)
    before = world.cash_total()
    yield world
    assert world.cash_total() == before, "cash was created or destroyed"
    world.revert(snapshot)


def _keeper(
    world: World, account: LocalAccount, *, dry_run: bool = False, **settings: Any
) -> tuple[KeeperService, ServiceMetrics]:
    config = validate_settings(settings, KeeperSettings)
    reader = KeeperReader(world.market, config.keeper_config(), config.markets)
    sender = TxSender(world.chain, account, config.sender.sender_config(0), dry_run=dry_run)
    metrics = ServiceMetrics("keeper")
    service = KeeperService(
        world.market, reader, sender, metrics, service_logger("keeper"), max_trade_gas=config.max_trade_gas
    )
    return service, metrics


def _run_once(world: World, service: KeeperService, metrics: ServiceMetrics) -> None:
    """Sync and one step on the latest block, through the runner (the command's path)."""
    runner = ServiceRunner(service, world.chain, KeeperSettings().runtime_config(), metrics, service_logger("keeper"))
    assert runner.run(max_steps=1) == ExitCode.OK


def _move_every_price(world: World, bps: int) -> dict[str, int]:
    """A new final round in every market, ``bps`` basis points from the last; round ids."""
    rounds = {}
    for name in MARKETS:
        price = world.market.markets[name].oracle.latest().answer
        rounds[name] = world.post(name, price * (10_000 + bps) // 10_000)
    return rounds


def _settled_total(metrics: ServiceMetrics) -> float:
    return sum(metrics.trades_settled.labels(name)._value.get() for name in MARKETS)


def _events(caplog: pytest.LogCaptureFixture, name: str) -> list[dict[str, Any]]:
    return [
        {"event": r.getMessage(), **getattr(r, "dfmi_fields", {})}
        for r in caplog.records
        if r.name == "dfmi_py.services.keeper" and r.getMessage() == name
    ]


def _assert_every_due_trade_settled_once(world: World, rounds: dict[str, int]) -> None:
    for name in MARKETS:
        settlements = world.settlements(name)
        assert len(settlements) == len(set(settlements)), f"{name}: a (trade, round) settled twice"
        for trade_id in world.trade_ids(name):
            assert (trade_id, rounds[name]) in settlements, f"{name}: trade {trade_id} not settled"


def test_after_a_price_move_every_due_trade_of_every_market_is_settled_once(
    w: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "dfmi_py.services")
    keeper, metrics = _keeper(w, KEEPERS[0])
    keeper.sync()
    rounds = _move_every_price(w, 150)
    keeper.step(w.head())
    assert {r.status for r in keeper.last_results} == {TxStatus.MINED}
    _assert_every_due_trade_settled_once(w, rounds)
    assert _settled_total(metrics) == 6
    settled = _events(caplog, "settled")
    assert sorted(e["market"] for e in settled) == sorted(MARKETS)  # one batch per market
    for line in settled:
        assert line["round"] == rounds[line["market"]]
        assert line["settled"] == 2
        assert line["gas"] > 0
        assert line["tx"].startswith("0x")
        assert line["vm_paid"] > 0
    keeper.step(w.head())
    assert keeper.last_results == []  # nothing twice
    status = keeper.status()["markets"]
    assert status["XAU"] == {
        "live": 2,
        "margin_call": 0,
        "due": 0,
        "latest_round": rounds["XAU"],
        "last_round_settled": rounds["XAU"],
    }


def test_a_debtor_who_cannot_pay_gets_a_margin_call_then_the_default_and_the_waterfall(
    w: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "dfmi_py.services")
    xau = w.market.markets["XAU"].derivatives
    # E sells 10 oz with an IM of 100: a 300 rise costs 3,000, more than E's IM; E stops paying
    risky = w.open_trade("XAU", A, E, xau_price(w), quantity=10 * 10**18)
    w.market.cash.approve(E, xau.address, 0)
    keeper, metrics = _keeper(w, KEEPERS[0], markets=["XAU"])
    keeper.sync()
    w.post("XAU", xau_price(w) + 300 * w.unit("XAU"))
    keeper.step(w.head())
    assert xau.trade(risky).state == TradeState.MARGIN_CALL
    (batch,) = _events(caplog, "settled")
    assert [c["trade"] for c in batch["margin_calls"]] == [risky]
    # the cure period passes; a fresh round; the keeper declares the default
    w.advance(xau.cure_period() + 1)
    w.post("XAU", xau_price(w))
    keeper.step(w.head())
    assert xau.trade(risky).state == TradeState.DEFAULTED
    (defaulted,) = _events(caplog, "defaulted")
    (default,) = defaulted["defaults"]
    assert default["trade"] == risky
    assert default["defaulter"] == E.address
    assert default["paid_from_im"] == 100 * 10**6
    assert default["paid_from_fund"] > 0
    # the fund's waterfall: E's IM, then E's own contribution (10,000 covers the rest)
    (waterfall,) = w.market.waterfalls(market="XAU")
    assert (waterfall.trade_id, waterfall.defaulter, waterfall.loss) == (risky, E.address, default["loss"])
    assert waterfall.from_im == 100 * 10**6
    assert waterfall.from_defaulter_contribution == default["paid_from_fund"] == waterfall.loss - waterfall.from_im
    assert waterfall.from_survivors == 0
    assert waterfall.unpaid == 0
    keeper.step(w.head())
    assert all(r.request.action != "declare_default" for r in keeper.last_results)
    assert metrics.actions.labels("keeper", "XAU", "declare_default", "mined")._value.get() == 1


def xau_price(world: World) -> int:
    return world.market.markets["XAU"].oracle.latest().answer


def test_trades_are_matured_with_the_first_round_at_or_after_maturity(w: World) -> None:
    eur = w.market.markets["EURUSD"].derivatives
    short = w.open_trade("EURUSD", E, A, w.market.markets["EURUSD"].oracle.latest().answer, maturity_in=DAY)
    keeper, metrics = _keeper(w, KEEPERS[0], markets=["EURUSD"])
    keeper.sync()
    w.advance(DAY + 1)
    round_id = w.post("EURUSD", w.market.markets["EURUSD"].oracle.latest().answer * 102 // 100)
    keeper.step(w.head())
    info = eur.trade(short)
    assert (info.state, info.last_round) == (TradeState.MATURED, round_id)
    # the long-dated trades were settled to the same round in the same step, not matured
    assert all(eur.trade(t).last_round == round_id for t in w.trade_ids("EURUSD"))
    assert metrics.actions.labels("keeper", "EURUSD", "mature", "mined")._value.get() == 1


def test_dry_run_sends_nothing(w: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "dfmi_py.services")
    keeper, _ = _keeper(w, KEEPERS[0], dry_run=True)
    nonce = w.w3.eth.get_transaction_count(KEEPERS[0].address)
    _move_every_price(w, -200)
    keeper.sync()
    keeper.step(w.head())
    assert {r.status for r in keeper.last_results} == {TxStatus.DRY_RUN}
    assert w.w3.eth.get_transaction_count(KEEPERS[0].address) == nonce
    assert all(w.settlements(name) == [] for name in MARKETS)
    would = _events(caplog, "would_send")
    assert sorted(e["market"] for e in would) == sorted(MARKETS)
    assert all(e["gas"] > 0 for e in would)


def test_two_keepers_at_once_settle_nothing_twice(w: World) -> None:
    first, first_metrics = _keeper(w, KEEPERS[0])
    second, second_metrics = _keeper(w, KEEPERS[1])
    first.sync()
    second.sync()
    rounds = _move_every_price(w, 300)
    head = w.head()
    threads = [threading.Thread(target=k.step, args=(head,)) for k in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    _assert_every_due_trade_settled_once(w, rounds)
    # each (trade, round) counted by the keeper whose batch settled it, and by no other
    assert _settled_total(first_metrics) + _settled_total(second_metrics) == 6
    statuses = Counter(r.status for k in (first, second) for r in k.last_results)
    assert set(statuses) <= {TxStatus.MINED, TxStatus.DONE}


def test_trades_skipped_while_the_cash_is_paused_wait_then_settle_at_once_after_the_unpause(
    w: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "dfmi_py.services")
    keeper, metrics = _keeper(w, KEEPERS[0])
    keeper.sync()
    rounds = _move_every_price(w, 150)
    w.market.cash.pause(PAUSER)
    keeper.step(w.head())  # every payer must be pulled from its wallet: every trade is skipped
    assert {r.status for r in keeper.last_results} == {TxStatus.MINED}
    skipped = [s["trade"] for line in _events(caplog, "settled") for s in line["skipped"]]
    assert len(skipped) == 6
    assert all("DerivativeCashPaused" in s["reason"] for line in _events(caplog, "settled") for s in line["skipped"])
    assert _settled_total(metrics) == 0
    w.rpc("evm_mine", [])
    keeper.step(w.head())
    assert keeper.last_results == []  # no gas spent every block on a batch that would skip again
    w.market.cash.unpause(PAUSER)
    keeper.step(w.head())
    _assert_every_due_trade_settled_once(w, rounds)
    assert _settled_total(metrics) == 6


def test_a_batch_whose_estimate_would_not_fit_the_block_is_split(w: World) -> None:
    # four XAU trades packed into one batch at 20,000 gas each; with a block gas limit of 200,000
    # the node cannot even estimate it, and the worst case (90,000 a trade) could exceed the
    # block: the keeper estimates and halves until every batch's estimate plus headroom fits
    for _ in range(2):
        w.open_trade("XAU", E, A, xau_price(w))
    limit = 200_000
    w.rpc("anvil_setBlockGasLimit", [hex(limit)])
    try:
        w.rpc("evm_mine", [])
        keeper, metrics = _keeper(w, KEEPERS[0], markets=["XAU"], batch_base_gas=21_000, default_trade_gas=20_000)
        keeper.sync()
        (decided,) = (a for a in decide(keeper.reader.state()).actions if isinstance(a, SettleBatch))
        assert decided.trade_ids == (1, 2, 3, 4)
        rounds = {"XAU": w.post("XAU", xau_price(w) * 101 // 100)}
        keeper.step(w.head())
    finally:
        w.rpc("anvil_setBlockGasLimit", [hex(30_000_000)])
    sent = [r.request.fields["trades"] for r in keeper.last_results]
    assert len(sent) > 1
    assert [t for batch in sent for t in batch] == [1, 2, 3, 4]
    assert {r.status for r in keeper.last_results} == {TxStatus.MINED}
    assert all(r.gas_used * 120 // 100 <= limit for r in keeper.last_results)
    for trade_id in w.trade_ids("XAU"):
        assert (trade_id, rounds["XAU"]) in w.settlements("XAU")
    assert metrics.trades_settled.labels("XAU")._value.get() == 4


def test_a_stale_price_holds_the_market_once_logged_and_a_fresh_round_settles_it(
    w: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "dfmi_py.services")
    keeper, metrics = _keeper(w, KEEPERS[0], markets=["XAU"])
    keeper.sync()
    w.post("XAU", xau_price(w) * 102 // 100)
    w.advance(w.market.markets["XAU"].derivatives.max_price_age() + 1)
    for _ in range(2):
        keeper.step(w.head())
        assert keeper.last_results == []
        w.rpc("evm_mine", [])
    (held,) = _events(caplog, "held")  # one line, not one per block
    assert (held["market"], held["trade"], held["reason"]) == ("XAU", None, "price_stale")
    round_id = w.post("XAU", xau_price(w))
    keeper.step(w.head())
    assert [r.status for r in keeper.last_results] == [TxStatus.MINED]
    assert sorted(w.settlements("XAU")) == [(1, round_id), (2, round_id)]
    assert metrics.trades_settled.labels("XAU")._value.get() == 2


def test_a_node_that_does_not_answer_is_a_fault_for_the_runner(world: World) -> None:
    dead = Chain(Web3(Web3.HTTPProvider("http://127.0.0.1:9", request_kwargs={"timeout": 2})), world.chain.artifacts)
    deployment = world.market.deployment
    market = Market.from_deployment(Deployment(dead, deployment.manifest, deployment.manifest_file))
    settings = KeeperSettings()
    reader = KeeperReader(market, settings.keeper_config())
    sender = TxSender(dead, KEEPERS[0], settings.sender.sender_config(0))
    keeper = KeeperService(market, reader, sender, ServiceMetrics("keeper"), service_logger("keeper"), max_trade_gas=1)
    with pytest.raises(ChainConnectionError, match="reading the chain failed"):
        keeper.sync()
    with pytest.raises(ChainConnectionError, match="reading the chain failed"):
        keeper.step(Head(1, "0x" + "00" * 32, 0))


def test_a_bad_configuration_exits_78_naming_the_key(world: World, tmp_path: Path) -> None:
    config = tmp_path / "keeper.toml"
    config.write_text("tx_gas_budget = 1000\n")
    run = cli_runner(world.node.rpc_url, world.manifest_dir)
    result = run("keeper", "--config", str(config), "--dev-account", "13")
    assert result.exit_code == ExitCode.CONFIG
    assert "tx_gas_budget" in result.output
    assert "at least batch_base_gas + max_trade_gas" in result.output
    config.write_text('markets = ["XAU", "GOLD"]\n')
    result = run("keeper", "--config", str(config), "--dev-account", "13")
    assert result.exit_code == ExitCode.CONFIG
    assert "GOLD not in this deployment" in result.output


def test_dfmi_keeper_once_in_a_subprocess_settles_and_logs_json_lines(w: World) -> None:
    rounds = _move_every_price(w, 100)
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    command = [
        sys.executable,
        "-m",
        "dfmi_py.cli.main",
        "--rpc-url",
        w.node.rpc_url,
        "--deployments-dir",
        str(w.manifest_dir),
        "keeper",
        "--config",
        str(PROJECT_ROOT / "examples" / "keeper.toml"),
        "--dev-account",
        "13",
        "--once",
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    events = [line["event"] for line in lines]
    assert events[0] == "started"
    assert "synced" in events
    assert events[-1] == "stopped"
    settled = [line for line in lines if line["event"] == "settled"]
    assert sorted(line["market"] for line in settled) == sorted(MARKETS)
    assert all(line["service"] == "keeper" and line["settled"] == 2 for line in settled)
    _assert_every_due_trade_settled_once(w, rounds)


def test_what_was_settled_is_logged_and_counted_when_the_node_fails_right_after(
    w: World, caplog: pytest.LogCaptureFixture
) -> None:
    # The batches are mined, then the node stops answering before the keeper reads their blocks'
    # times: the settlements are still logged and counted (only their lag goes unmeasured).
    caplog.set_level(logging.INFO, "dfmi_py.services")
    keeper, metrics = _keeper(w, KEEPERS[0])
    keeper.sync()
    _move_every_price(w, 150)

    def node_gone(number: int) -> int:
        raise requests.ConnectionError("connection refused")

    keeper._block_time = node_gone  # type: ignore[method-assign]
    keeper.step(w.head())
    assert {r.status for r in keeper.last_results} == {TxStatus.MINED}
    assert sum(line["settled"] for line in _events(caplog, "settled")) == 6
    assert _settled_total(metrics) == 6
    assert sum(metrics.settlement_lag.labels(name)._sum.get() for name in MARKETS) == 0


def test_close_outs_are_sent_with_room_for_the_fund_claim(world: World) -> None:
    """A close-out's gas is estimated before the same step's settlements land; when they leave a
    loss the defaulter's margin no longer covers, the close-out must also claim from the default
    fund, which the engine attempts only with ``FUND_CLAIM_GAS`` in hand (otherwise it reverts
    ``DerivativeFundClaimOutOfGas`` and the default lands a round late). So every close-out goes
    with room for the claim on top of the dearest close-out measured (224,118, bench/results/gas.md).
    The whole path runs against the chain in tests/simulate/test_ccp.py (DFMI_CCP_CHAIN=1)."""
    service, _ = _keeper(world, KEEPERS[0])
    market = MARKETS[0]
    fund_claim_gas = world.market.markets[market].derivatives.contract.functions.FUND_CLAIM_GAS().call()
    actions = [DeclareDefault(market, 1, 0), Mature(market, 1, 1), RetryFundClaim(market, 1)]
    requests = service._requests(actions)  # the deciding-to-sending step, without a chain write
    assert [r.action for r in requests] == ["declare_default", "mature", "retry_fund_claim"]
    assert all(r.min_gas >= fund_claim_gas + 224_118 for r in requests), [r.min_gas for r in requests]
