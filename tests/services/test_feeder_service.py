"""The price feeder against Anvil: several reporters, each its own key, feeding two markets.

A module-wide Anvil with a fresh two-market deployment (the session ``chain`` fixture is not for
services); every test starts from the same snapshot. Feeders run in-process
(:meth:`FeederService.step` on the latest head); one test runs ``dfmi feed`` as a process.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from web3 import Web3

from dfmi_py.api.market import Market
from dfmi_py.chain import Chain, dev_account
from dfmi_py.cli.main import cli
from dfmi_py.deploy.params import MarketParams, UnderlyingParams
from dfmi_py.deploy.roles import DEV_ACCOUNT_COUNT, RoleConfig
from dfmi_py.deploy.suite import deploy_suite
from dfmi_py.node import AnvilNode
from dfmi_py.paths import PROJECT_ROOT
from dfmi_py.services.feeder import service as feeder_service
from dfmi_py.services.feeder.config import Feed, FeedSettings
from dfmi_py.services.feeder.service import FeederService
from dfmi_py.services.feeds import PriceSource
from dfmi_py.services.logs import JsonLineFormatter, service_logger
from dfmi_py.services.metrics import ServiceMetrics
from dfmi_py.services.runtime import ExitCode, Head
from dfmi_py.services.sender import TxSender
from dfmi_py.services.sources import Quote
from tests.helpers import evm_revert, evm_snapshot

MARKETS = ("ACME", "BTC")
UNIT = 10**8  # both feeds have 8 decimals
#: The feeders' settings in these tests (the sources are given apart).
FEED = {
    "deviation_bps": 50,
    "heartbeat_margin": 300,
    "max_age": 120,
    "max_jump_bps": 1_000,
    "jump_reference_max_age": 600,
    "sources": [{"kind": "gbm", "s0": 1, "volatility": 0, "step": 1, "seed": 0}],  # replaced by the stubs
}
HEARTBEAT = 3_600  # the oracles' default


@dataclass
class Suite:
    node: AnvilNode
    chain: Chain
    market: Market
    manifest_dir: Path


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    manifest_dir = tmp_path_factory.mktemp("deployments")
    params = MarketParams(
        markets=(
            UnderlyingParams(name="ACME", description="ACME / USD"),
            UnderlyingParams(name="BTC", description="Bitcoin / USD"),
        )
    )
    with AnvilNode(accounts=DEV_ACCOUNT_COUNT) as node:
        session = requests.Session()
        session.trust_env = False  # no proxy lookup per request (as the session chain fixture)
        chain = Chain(Web3(Web3.HTTPProvider(node.rpc_url, session=session)))
        deployment = deploy_suite(chain, dev_account(0), RoleConfig.devnet(), manifest_dir=manifest_dir, params=params)
        yield Suite(node, chain, Market.from_deployment(deployment), manifest_dir)


@pytest.fixture(autouse=True)
def fresh(suite: Suite) -> Iterator[None]:
    snapshot = evm_snapshot(suite.chain)
    yield
    evm_revert(suite.chain, snapshot)


@pytest.fixture
def logs() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The feeder's JSON log lines, parsed."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLineFormatter())
    logger = service_logger("feeder")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)
    logger.setLevel(level)


class Stub:
    """A source whose value the test sets; quotes ``age`` seconds before ``now``."""

    def __init__(self, name: str, value: object = None, *, age: int = 0) -> None:
        self.name = name
        self.value = value
        self.age = age

    def quote(self, asset: str, now: int) -> Quote:
        return Quote(self.name, self.value, now - self.age)


def head(chain: Chain) -> Head:
    block = chain.w3.eth.get_block("latest")
    return Head(int(block["number"]), "0x" + bytes(block["hash"]).hex(), int(block["timestamp"]))


def feeder(
    suite: Suite, index: int, sources: dict[str, list[PriceSource]], *, dry_run: bool = False, **settings: Any
) -> FeederService:
    """A feeder signing with development account ``index``, for the markets of ``sources``."""
    feeds = [
        Feed(
            name,
            name,
            suite.market.markets[name].oracle,
            tuple(found),
            FeedSettings.model_validate({**FEED, **settings}),
            8,
        )
        for name, found in sources.items()
    ]
    sender = TxSender(suite.chain, dev_account(index), dry_run=dry_run)
    return FeederService(feeds, sender, ServiceMetrics("feeder"), service_logger("feeder"))


def fixed(price: object, markets: tuple[str, ...] = ("ACME",)) -> dict[str, list[PriceSource]]:
    return {name: [Stub("fixed", price)] for name in markets}


def oracle_state(suite: Suite, market: str = "ACME") -> tuple[int, list[int]]:
    """The open round and its submissions."""
    oracle = suite.market.markets[market].oracle
    return oracle.open_round(), oracle.submissions()


def nonce(suite: Suite, index: int) -> int:
    return int(suite.chain.w3.eth.get_transaction_count(dev_account(index).address))


def mine_at(suite: Suite, timestamp: int) -> None:
    provider = suite.chain.w3.provider
    provider.make_request("evm_setNextBlockTimestamp", [timestamp])  # type: ignore[arg-type]
    provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def finalise_first_round(suite: Suite, price: str = "100", markets: tuple[str, ...] = ("ACME",)) -> None:
    for index in (16, 17, 18):
        feeder(suite, index, fixed(price, markets)).step(head(suite.chain))
    for name in markets:
        assert suite.market.markets[name].oracle.latest().answer == int(price) * UNIT


def reports(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line["event"] == "report"]


# ---------------------------------------------------------------------------------- quorum


def test_three_feeders_form_the_quorum_of_every_market_and_it_finalises_at_the_median(
    suite: Suite, logs: Callable[[], list[dict[str, Any]]]
) -> None:
    prices = {16: "100", 17: "102.5", 18: "101"}
    feeders = {i: feeder(suite, i, fixed(p, MARKETS)) for i, p in prices.items()}
    for service in feeders.values():
        service.step(head(suite.chain))
        assert service.status()["markets"]["ACME"]["last_report_round"] == 1
    for name in MARKETS:
        latest = suite.market.markets[name].oracle.latest()
        assert (latest.round_id, latest.answer) == (1, 101 * UNIT)
    lines = reports(logs())
    assert [(line["market"], line["reason"], line["status"], line["round"]) for line in lines] == [
        ("ACME", "first_round", "mined", 1),
        ("BTC", "first_round", "mined", 1),
        ("ACME", "join", "mined", 1),
        ("BTC", "join", "mined", 1),
        ("ACME", "join", "mined", 1),
        ("BTC", "join", "mined", 1),
    ]
    assert [line["answer"] for line in lines[::2]] == [100 * UNIT, 10_250_000_000, 101 * UNIT]
    assert all(line["tx"].startswith("0x") and line["gas"] > 0 for line in lines)
    metrics = feeders[17].metrics
    assert metrics.registry.get_sample_value("dfmi_reports_total", {"market": "BTC", "reason": "join"}) == 1
    gas = metrics.registry.get_sample_value(
        "dfmi_gas_spent_total", {"service": "feeder", "market": "ACME", "action": "report"}
    )
    assert gas == lines[2]["gas"]


def test_one_silent_reporter_and_the_rest_still_finalise_a_large_move(suite: Suite) -> None:
    finalise_first_round(suite)
    # 30% up, beyond the oracle's 20% jump limit: the round needs four of the five reporters.
    # Reporter 18 is silent; 16, 17, 20 and 21 carry it.
    for index in (16, 17, 20):
        feeder(suite, index, fixed("130"), max_jump_bps=5_000).step(head(suite.chain))
    assert oracle_state(suite) == (2, [130 * UNIT] * 3), "three reports of a jump wait for the jump quorum"
    feeder(suite, 21, fixed("130"), max_jump_bps=5_000).step(head(suite.chain))
    latest = suite.market.oracle.latest()
    assert (latest.round_id, latest.answer) == (2, 130 * UNIT)


def test_a_fourth_feeder_joins_a_round_others_opened(suite: Suite, logs: Callable[[], list[dict[str, Any]]]) -> None:
    finalise_first_round(suite)
    late = feeder(suite, 20, fixed("100"))
    late.step(head(suite.chain))
    assert oracle_state(suite) == (2, []), "no deviation, no heartbeat: nothing to report"
    feeder(suite, 16, fixed("101")).step(head(suite.chain))  # 1% moved: opens round 2
    before = nonce(suite, 20)
    late.step(head(suite.chain))
    assert oracle_state(suite) == (2, [101 * UNIT, 100 * UNIT])
    assert nonce(suite, 20) == before + 1
    assert [(line["reason"], line["round"]) for line in reports(logs()) if line["answer"] == 100 * UNIT][-1] == (
        "join",
        2,
    )


def test_never_reports_twice_in_a_round(suite: Suite, logs: Callable[[], list[dict[str, Any]]]) -> None:
    first = feeder(suite, 16, fixed("100"))
    stale = head(suite.chain)
    first.step(stale)
    assert oracle_state(suite) == (1, [100 * UNIT])
    before = nonce(suite, 16)
    first.step(head(suite.chain))  # a new block, the same round: already reported
    # A decision read before its own report was mined: the oracle refuses, the feeder counts it done.
    first.step(stale)
    assert nonce(suite, 16) == before, "nothing sent"
    assert oracle_state(suite) == (1, [100 * UNIT])
    done = reports(logs())[-1]
    assert (done["status"], done["error"], done["tx"]) == ("done", "OracleAlreadyReported", None)
    # Another feeder's decision read while round 1 was open, after the round finalised: done too.
    joining = feeder(suite, 20, fixed("100"))
    for index in (17, 18):
        feeder(suite, index, fixed("100")).step(head(suite.chain))
    assert oracle_state(suite) == (2, [])
    joining.step(stale)
    done = reports(logs())[-1]
    assert (done["status"], done["error"]) == ("done", "OracleWrongRound")
    assert (
        joining.metrics.registry.get_sample_value(
            "dfmi_actions_total", {"service": "feeder", "market": "ACME", "action": "report", "outcome": "done"}
        )
        == 1
    )


def _three_reports_in_one_block(suite: Suite) -> dict[int, FeederService]:
    """Three feeders decide on one head; their reports land in one block."""
    feeders = {index: feeder(suite, index, fixed(price)) for index, price in ((16, "100"), (17, "101"), (18, "102"))}
    provider = suite.chain.w3.provider
    provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    try:
        start = head(suite.chain)
        threads = [threading.Thread(target=service.step, args=(start,)) for service in feeders.values()]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while len(suite.chain.w3.eth.get_block("pending")["transactions"]) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        for thread in threads:
            thread.join(timeout=10)
    finally:
        provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]
    return feeders


def test_reports_decided_on_one_head_finalise_the_round_in_one_block(
    suite: Suite, logs: Callable[[], list[dict[str, Any]]]
) -> None:
    # Each estimate is made where the report only opens or joins the round; the one mined last
    # finalises it and needs about twice the gas: the gas floor lets it.
    _three_reports_in_one_block(suite)
    assert [line["status"] for line in reports(logs())] == ["mined"] * 3
    latest = suite.market.oracle.latest()
    assert (latest.round_id, latest.answer) == (1, 101 * UNIT)


def test_a_report_that_fails_on_chain_is_decided_again_on_the_next_block(
    suite: Suite, logs: Callable[[], list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without the gas floor the report mined last runs out of gas on its estimate. The round must
    # still finalise: that feeder decides again on the next block.
    monkeypatch.setattr(feeder_service, "REPORT_GAS_FLOOR", 0)
    feeders = _three_reports_in_one_block(suite)
    [failed] = [line for line in reports(logs()) if line["status"] != "mined"]
    assert failed["level"] == "error"
    open_round, submitted = oracle_state(suite)
    assert (open_round, len(submitted)) == (1, 2), "the round waits for the third report"
    retrying = next(service for service in feeders.values() if service.feed_status["ACME"].last_report_round is None)
    retrying.step(head(suite.chain))
    latest = suite.market.oracle.latest()
    assert (latest.round_id, latest.answer) == (1, 101 * UNIT)
    assert reports(logs())[-1]["reason"] == "join"


# ---------------------------------------------------------------------------------- deviation, heartbeat


def test_reports_on_deviation_and_not_within_the_threshold(suite: Suite) -> None:
    finalise_first_round(suite)
    source = Stub("fixed", "100.5")  # exactly 50 bps: not more than the threshold
    service = feeder(suite, 16, {"ACME": [source]})
    before = nonce(suite, 16)
    service.step(head(suite.chain))
    source.value = "99.5"
    service.step(head(suite.chain))
    assert nonce(suite, 16) == before
    assert oracle_state(suite) == (2, [])
    source.value = "99.49999"  # beyond 50 bps
    service.step(head(suite.chain))
    assert oracle_state(suite) == (2, [9_949_999_000])


def test_reports_before_the_heartbeat_lapses(suite: Suite, logs: Callable[[], list[dict[str, Any]]]) -> None:
    finalise_first_round(suite)
    updated_at = suite.market.oracle.latest().updated_at
    service = feeder(suite, 16, fixed("100"))
    mine_at(suite, updated_at + HEARTBEAT - 300 - 1)
    service.step(head(suite.chain))
    assert oracle_state(suite) == (2, [])
    mine_at(suite, updated_at + HEARTBEAT - 300)
    service.step(head(suite.chain))
    assert oracle_state(suite) == (2, [100 * UNIT])
    assert reports(logs())[-1]["reason"] == "heartbeat"


# ---------------------------------------------------------------------------------- bad data


@pytest.mark.parametrize(
    ("bad", "problem", "detail", "counted"),
    [
        (Stub("bad", None), "missing", "no value", "missing"),
        (Stub("bad", "1O0"), "not numeric", "value '1O0'", "not_numeric"),
        (Stub("bad", "-3"), "not positive", "price -3", "not_positive"),
        (Stub("bad", "100", age=121), "older than the maximum age", "is 121s old, max 120s", "stale"),
    ],
    ids=["missing", "not-numeric", "not-positive", "too-old"],
)
def test_refuses_bad_data_with_its_reason_and_falls_back(
    suite: Suite, logs: Callable[[], list[dict[str, Any]]], bad: Stub, problem: str, detail: str, counted: str
) -> None:
    service = feeder(suite, 16, {"ACME": [bad, Stub("good", "100")]})
    service.step(head(suite.chain))
    assert oracle_state(suite) == (1, [100 * UNIT])
    [line] = reports(logs())
    assert (line["source"], line["status"]) == ("good", "mined")
    [refusal] = line["refusals"]
    assert (refusal["source"], refusal["problem"]) == ("bad", problem)
    assert detail in refusal["detail"]
    failures = service.metrics.registry.get_sample_value(
        "dfmi_failures_total",
        {"service": "feeder", "market": "ACME", "action": "quote", "reason": counted},
    )
    assert failures == 1


def test_refuses_a_jump_and_falls_back(suite: Suite, logs: Callable[[], list[dict[str, Any]]]) -> None:
    jumpy, good = Stub("jumpy", "100"), Stub("good", "100")
    service = feeder(suite, 16, {"ACME": [jumpy, good]})
    service.step(head(suite.chain))  # jumpy accepted at 100: the jump reference
    for index in (17, 18):
        feeder(suite, index, fixed("100")).step(head(suite.chain))
    jumpy.value, good.value = "150", "105"
    service.step(head(suite.chain))
    assert oracle_state(suite) == (2, [105 * UNIT])
    line = reports(logs())[-1]
    assert (line["source"], line["reason"]) == ("good", "deviation")
    assert line["refusals"] == [
        {
            "source": "jumpy",
            "problem": "jump beyond the limit from the previous accepted quote",
            "detail": "price 150 moved 5000.00 bps from 100, max 1000",
        }
    ]


def test_every_source_refused_sends_nothing_and_says_why(
    suite: Suite, logs: Callable[[], list[dict[str, Any]]]
) -> None:
    service = feeder(suite, 16, {"ACME": [Stub("a", "x"), Stub("b", "0")]})
    service.step(head(suite.chain))
    assert oracle_state(suite) == (1, [])
    [line] = logs()
    assert (line["event"], line["level"], line["reason"]) == ("no_report", "warning", "no_valid_quote")
    assert [(r["source"], r["problem"]) for r in line["refusals"]] == [("a", "not numeric"), ("b", "not positive")]


# ---------------------------------------------------------------------------------- the command


def write_config(path: Path, body: str) -> Path:
    path.write_text(body)
    return path


CONFIG = """\
poll_interval = 0.1

[feeds.ACME]
deviation_bps = 50
heartbeat_margin = 300
max_age = 120
max_jump_bps = 1000
jump_reference_max_age = 600

[[feeds.ACME.sources]]
kind = "csv"
name = "replay"
path = "prices.csv"
relative = true

[[feeds.ACME.sources]]
kind = "gbm"
s0 = "100"
volatility = 0.2
step = 1
seed = 7
"""


def test_feed_once_dry_run_sends_nothing_and_prints_the_report(
    suite: Suite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "prices.csv").write_text("timestamp,asset,price\n1000,ACME,123.45\n1060,ACME,124\n")
    config = write_config(tmp_path / "feeder.toml", CONFIG)
    before = nonce(suite, 16)
    monkeypatch.chdir(PROJECT_ROOT)  # the CSV path is taken from the configuration file's folder, not from here
    base = ["--rpc-url", suite.node.rpc_url, "--deployments-dir", str(suite.manifest_dir)]
    command = ["feed", "--config", str(config), "--dev-account", "16", "--once", "--dry-run"]
    result = CliRunner(mix_stderr=False).invoke(cli, [*base, *command])
    assert result.exit_code == 0, result.output + result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    [report] = [line for line in lines if line["event"] == "report"]
    assert (report["market"], report["round"], report["answer"], report["source"], report["status"]) == (
        "ACME",
        1,
        12_345_000_000,
        "replay",
        "dry_run",
    )
    assert report["gas"] > 0, "the estimate"
    assert report["tx"] is None
    assert nonce(suite, 16) == before
    assert oracle_state(suite) == (1, [])


@pytest.mark.parametrize(
    ("old", "new", "account", "message"),
    [
        ("feeds.ACME", "feeds.NOPE", "16", "feeds.NOPE: no market 'NOPE' in the deployment (it has ACME, BTC)"),
        ("", "", "15", f"feeds.ACME: {dev_account(15).address} is not a reporter of ACME's oracle"),
        ("deviation_bps = 50", "deviation_bps = 50\nheartbeat_margn = 3", "16", "feeds.ACME.heartbeat_margn: Extra"),
        ("heartbeat_margin = 300", "heartbeat_margin = 3600", "16", "feeds.ACME.heartbeat_margin: heartbeat_margin"),
        ('path = "prices.csv"', 'path = "gone.csv"', "16", "feeds.ACME.sources.0: cannot read the price file"),
    ],
    ids=["unknown-market", "not-a-reporter", "unknown-key", "margin-not-below-heartbeat", "no-csv-file"],
)
def test_feed_with_a_bad_configuration_exits_78_naming_the_key(
    suite: Suite, tmp_path: Path, old: str, new: str, account: str, message: str
) -> None:
    (tmp_path / "prices.csv").write_text("timestamp,asset,price\n1000,ACME,1\n")
    config = write_config(tmp_path / "feeder.toml", CONFIG.replace(old, new) if old else CONFIG)
    base = ["--rpc-url", suite.node.rpc_url, "--deployments-dir", str(suite.manifest_dir)]
    result = CliRunner(mix_stderr=False).invoke(
        cli, [*base, "feed", "--config", str(config), "--dev-account", account, "--once"]
    )
    assert result.exit_code == ExitCode.CONFIG, result.output + result.stderr
    assert message in result.stderr
