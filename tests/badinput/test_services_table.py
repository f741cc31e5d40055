"""The feeder's and the keeper's bad inputs: their settings files, their keys, their checks
against the deployment (a :class:`ConfigError` with one line naming the key, nothing mined, no
file changed), and their price sources' bad data (a refused quote naming the problem, never an
exception: a source that fails must not stop the feeder)."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from web3.exceptions import Web3RPCError

from dfmi_py.chain.accounts import load_account
from dfmi_py.errors import ConfigError, NodeRequestError
from dfmi_py.node.anvil import free_port
from dfmi_py.paths import PROJECT_ROOT
from dfmi_py.services.config import load_settings
from dfmi_py.services.feeder.config import FeederSettings, build_feeds
from dfmi_py.services.feeds import CsvReplaySource, HttpJsonSource
from dfmi_py.services.keeper.config import KeeperSettings
from dfmi_py.services.keeper.read import KeeperReader
from dfmi_py.services.runtime import FAULTS
from dfmi_py.services.sources import AcceptedQuote, QuoteProblem, Refusal, SourcePolicy, validate_quote
from tests.badinput.api_fixtures import Case, World, check_case, files_of, market, world

__all__ = ["market", "world"]

FEEDER = (PROJECT_ROOT / "examples" / "feeder.toml").read_text()
KEEPER = (PROJECT_ROOT / "examples" / "keeper.toml").read_text()
#: A feeder file of one market with one simulated source (no file, no network).
MINIMAL_FEEDER = """
[feeds.ACME]
deviation_bps = 50
heartbeat_margin = 300
max_age = 120
max_jump_bps = 1000
jump_reference_max_age = 600
[[feeds.ACME.sources]]
kind = "gbm"
s0 = "100"
volatility = 0.2
step = 1
seed = 7
"""
ZERO_KEY = "0x" + "0" * 64


def _edit(text: str, old: str, new: str) -> str:
    assert old in text, f"the example no longer has {old!r}"
    return text.replace(old, new, 1)


def _feeder_file(text: str) -> Callable[[World], Path]:
    def prepare(w: World) -> Path:
        return w.write("feeder.toml", text)

    return prepare


def _keeper_file(text: str) -> Callable[[World], Path]:
    def prepare(w: World) -> Path:
        return w.write("keeper.toml", text)

    return prepare


def _feeder(name: str, text: str, message: str) -> Case:
    return Case(name, lambda w, path: load_settings(path, FeederSettings), ConfigError, message, _feeder_file(text))


def _keeper(name: str, text: str, message: str) -> Case:
    return Case(name, lambda w, path: load_settings(path, KeeperSettings), ConfigError, message, _keeper_file(text))


def _feeds(w: World, path: Path, reporter: str | None = None) -> object:
    settings = load_settings(path, FeederSettings)
    return build_feeds(settings.feeds, w.market, reporter or "0x" + "00" * 19 + "10", path.parent)


def _build(name: str, text: str, message: str, reporter: Callable[[World], str] | None = None) -> Case:
    """A file that validates but does not fit the deployment (checked at start, against the chain)."""

    def call(w: World, path: Path) -> object:
        return _feeds(w, path, reporter(w) if reporter is not None else _reporter(w))

    return Case(name, call, ConfigError, message, _feeder_file(text))


def _reporter(w: World) -> str:
    return w.market.oracle.reporters()[0]


def _key(name: str, value: str | None, message: str) -> Case:
    def call(w: World, _: None) -> object:
        with pytest.MonkeyPatch.context() as patch:
            if value is None:
                patch.delenv("DFMI_TEST_KEY", raising=False)
            else:
                patch.setenv("DFMI_TEST_KEY", value)
            return load_account("DFMI_TEST_KEY")

    return Case(name, call, ConfigError, message, lambda w: None)


CSV_SOURCE = MINIMAL_FEEDER.replace(
    'kind = "gbm"\ns0 = "100"\nvolatility = 0.2\nstep = 1\nseed = 7', 'kind = "csv"\npath = "prices.csv"'
)

CASES = [
    # ---------------------------------------------------------------- the feeder's file
    Case(
        "feeder-file-missing",
        lambda w, _: load_settings(w.tmp_path / "nope.toml", FeederSettings),
        ConfigError,
        r"cannot read the configuration .*nope\.toml: No such file",
        lambda w: None,
    ),
    _feeder("feeder-not-toml", "rpc_url = http://x\n", r"feeder\.toml is not valid TOML"),
    _feeder("feeder-no-feeds", "poll_interval = 1.0\n", r"feeds: Field required: give this key$"),
    _feeder(
        "feeder-unknown-source-key",
        FEEDER + "\npol_interval = 1\n",
        r"feeds\.ACME\.sources\.2\.gbm\.pol_interval: Extra inputs are not permitted: an unknown key",
    ),
    _feeder(
        "feeder-unknown-top-key",
        "pol_interval = 1\n" + FEEDER,
        r"^\S+feeder\.toml: pol_interval: Extra inputs are not permitted: an unknown key \(a typo\?",
    ),
    _feeder(
        "feeder-unknown-feed-key",
        _edit(FEEDER, "deviation_bps = 50", "deviation_bps = 50\ndeviation = 50"),
        r"feeds\.ACME\.deviation: Extra inputs are not permitted: an unknown key",
    ),
    _feeder(
        "feeder-poll-as-text",
        _edit(FEEDER, "poll_interval = 1.0", 'poll_interval = "1"'),
        r"poll_interval: Input should be a valid number, got '1'",
    ),
    _feeder(
        "feeder-confirmations-bool",
        _edit(FEEDER, "confirmations = 0", "confirmations = true"),
        r"confirmations: Input should be a valid integer, got True",
    ),
    _feeder(
        "feeder-confirmations-negative",
        _edit(FEEDER, "confirmations = 0", "confirmations = -1"),
        r"confirmations: Input should be greater than or equal to 0, got -1",
    ),
    _feeder(
        "feeder-rpc-url-ftp",
        _edit(FEEDER, 'rpc_url = "http://127.0.0.1:8545"', 'rpc_url = "ftp://127.0.0.1:8545"'),
        r"rpc_url: must be an http:// or https:// URL, got 'ftp://127\.0\.0\.1:8545'",
    ),
    _feeder(
        "feeder-rpc-url-no-scheme",
        _edit(FEEDER, 'rpc_url = "http://127.0.0.1:8545"', 'rpc_url = "127.0.0.1:8545"'),
        r"rpc_url: must be an http:// or https:// URL",
    ),
    _feeder(
        "feeder-key-in-key-env",
        _edit(FEEDER, 'key_env = "DFMI_PRIVATE_KEY"', f'key_env = "{ZERO_KEY}"'),
        r"key_env: must be the name of an environment variable .*not the key itself",
    ),
    _feeder(
        "feeder-negative-gas-cap",
        _edit(FEEDER, "max_fee_gwei = 500", "max_fee_gwei = -5"),
        r"sender\.max_fee_gwei: Input should be greater than 0, got -5",
    ),
    _feeder(
        "feeder-bump-too-small",
        _edit(FEEDER, "bump_percent = 15", "bump_percent = 5"),
        r"sender\.bump_percent: Input should be greater than or equal to 10, got 5",
    ),
    _feeder(
        "feeder-poll-zero",
        _edit(FEEDER, "poll_interval = 1.0", "poll_interval = 0"),
        r"poll_interval: Input should be greater than 0, got 0",
    ),
    _feeder(
        "feeder-watchdog-below-poll",
        _edit(FEEDER, "watchdog_seconds = 300", "watchdog_seconds = 0.5"),
        r"watchdog_seconds: must be longer than poll_interval \(1\.0 s\)",
    ),
    _feeder(
        "feeder-backoff-cap-below-start",
        _edit(FEEDER, "backoff_max_seconds = 30", "backoff_max_seconds = 0.1"),
        r"backoff_max_seconds: must be at least backoff_seconds",
    ),
    _feeder(
        "feeder-metrics-port-too-large",
        _edit(FEEDER, "# metrics_port = 9101", "metrics_port = 70000"),
        r"metrics_port: Input should be less than or equal to 65535, got 70000",
    ),
    _feeder(
        "feeder-metrics-host-junk",
        _edit(FEEDER, 'metrics_host = "127.0.0.1"', 'metrics_host = "my host!"'),
        r"metrics_host: must be a host name or an IP address",
    ),
    _feeder(
        "feeder-log-level",
        _edit(FEEDER, 'log_level = "INFO"', 'log_level = "LOUD"'),
        r"log_level: must be DEBUG, INFO, WARNING or ERROR, got 'LOUD'",
    ),
    _feeder(
        "feeder-deviation-zero",
        _edit(FEEDER, "deviation_bps = 50", "deviation_bps = 0"),
        r"feeds\.ACME\.deviation_bps: Input should be greater than 0",
    ),
    _feeder(
        "feeder-no-sources",
        MINIMAL_FEEDER.split("[[feeds.ACME.sources]]")[0] + "sources = []\n",
        r"feeds\.ACME\.sources: List should have at least 1 item",
    ),
    _feeder(
        "feeder-source-kind",
        _edit(FEEDER, 'kind = "http"', 'kind = "ftp"'),
        r"feeds\.ACME\.sources\.0: Input tag 'ftp' found using 'kind' does not match",
    ),
    _feeder(
        "feeder-http-url",
        _edit(FEEDER, 'url = "https://prices.example.com', 'url = "prices.example.com'),
        r"feeds\.ACME\.sources\.0\.http\.url: String should match pattern",
    ),
    _feeder(
        "feeder-http-timeout-zero",
        _edit(FEEDER, "timeout = 2.0", "timeout = 0"),
        r"feeds\.ACME\.sources\.0\.http\.timeout: Input should be greater than 0",
    ),
    _feeder(
        "feeder-gbm-volatility",
        _edit(FEEDER, "volatility = 0.2", "volatility = -0.2"),
        r"feeds\.ACME\.sources\.2\.gbm\.volatility: Input should be greater than or equal to 0",
    ),
    _feeder(
        "feeder-gbm-s0-text",
        _edit(FEEDER, 's0 = "100"', 's0 = "a hundred"'),
        r"feeds\.ACME\.sources\.2\.gbm\.s0: Input should be a valid decimal",
    ),
    _feeder(
        "feeder-gbm-step-fraction",
        _edit(FEEDER, "step = 1 ", "step = 1.5 "),
        r"feeds\.ACME\.sources\.2\.gbm\.step: Input should be a valid integer, got 1\.5",
    ),
    _feeder(
        "feeder-csv-without-path",
        _edit(FEEDER, 'path = "prices.csv"', ""),
        r"feeds\.ACME\.sources\.1\.csv\.path: Field required: give this key",
    ),
    _feeder(
        "feeder-two-sources-one-name",
        _edit(FEEDER, 'name = "replay"', 'name = "exchange"'),
        r"feeds\.ACME: sources\.1\.name: 'exchange' names two sources",
    ),
    # ---------------------------------------------------------------- the keeper's file
    _keeper("keeper-markets-empty", "markets = []\n", r"markets: List should have at least 1 item"),
    _keeper("keeper-markets-text", 'markets = "XAU"\n', r"markets: Input should be a valid list"),
    _keeper(
        "keeper-base-gas-below-a-transfer",
        _edit(KEEPER, "batch_base_gas = 60000", "batch_base_gas = 1000"),
        r"batch_base_gas: Input should be greater than or equal to 21000, got 1000",
    ),
    _keeper(
        "keeper-max-below-default-gas",
        _edit(KEEPER, "max_trade_gas = 90000", "max_trade_gas = 1000"),
        r"max_trade_gas: must be at least default_trade_gas \(32000\)",
    ),
    _keeper(
        "keeper-budget-below-one-trade",
        _edit(KEEPER, "tx_gas_budget = 8000000", "tx_gas_budget = 100000"),
        r"tx_gas_budget: must fit one trade: at least batch_base_gas \+ max_trade_gas \(150000\)",
    ),
    _keeper(
        "keeper-chunk-zero",
        _edit(KEEPER, "log_chunk_blocks = 2000", "log_chunk_blocks = 0"),
        r"log_chunk_blocks: Input should be greater than or equal to 1, got 0",
    ),
    _keeper(
        "keeper-start-block-negative",
        _edit(KEEPER, "# start_block = 0", "start_block = -1"),
        r"start_block: Input should be greater than or equal to 0, got -1",
    ),
    _keeper(
        "keeper-retry-blocks-zero",
        _edit(KEEPER, "skip_retry_blocks = 20", "skip_retry_blocks = 0"),
        r"skip_retry_blocks: Input should be greater than or equal to 1, got 0",
    ),
    _keeper(
        "keeper-unknown-key",
        KEEPER + "\nmax_gas = 1\n",
        r"sender\.max_gas: Extra inputs are not permitted: an unknown key",
    ),
    _keeper(
        "keeper-gas-cap-zero",
        _edit(KEEPER, "max_fee_gwei = 500", "max_fee_gwei = 0"),
        r"sender\.max_fee_gwei: Input should be greater than 0, got 0",
    ),
    _keeper(
        "keeper-priority-fee-negative",
        _edit(KEEPER, "priority_fee_gwei = 1", "priority_fee_gwei = -1"),
        r"sender\.priority_fee_gwei: Input should be greater than or equal to 0, got -1",
    ),
    _keeper(
        "keeper-headroom-too-large",
        _edit(KEEPER, "gas_headroom_percent = 20", "gas_headroom_percent = 500"),
        r"sender\.gas_headroom_percent: Input should be less than or equal to 200, got 500",
    ),
    _keeper(
        "keeper-receipt-timeout-text",
        _edit(KEEPER, "receipt_timeout = 120", 'receipt_timeout = "2m"'),
        r"sender\.receipt_timeout: Input should be a valid number, got '2m'",
    ),
    # ---------------------------------------------------------------- against the deployment
    _build(
        "feeder-unknown-market",
        MINIMAL_FEEDER.replace("feeds.ACME", "feeds.NOPE"),
        r"feeds\.NOPE: no market 'NOPE' in the deployment \(it has ACME",
    ),
    _build(
        "feeder-key-not-a-reporter",
        MINIMAL_FEEDER,
        r"feeds\.ACME: 0x\w+ is not a reporter of ACME's oracle",
        reporter=lambda w: w.member.address,
    ),
    _build(
        "feeder-csv-file-missing",
        CSV_SOURCE,
        r"feeds\.ACME\.sources\.0: cannot read the price file .*prices\.csv",
    ),
    _build(
        "feeder-heartbeat-margin-too-large",
        MINIMAL_FEEDER.replace("heartbeat_margin = 300", "heartbeat_margin = 100000000"),
        r"feeds\.ACME\.heartbeat_margin: .*\(the oracle's heartbeat\)",
    ),
    Case(
        "feeder-csv-without-header",
        lambda w, path: _feeds(w, path, _reporter(w)),
        ConfigError,
        r"feeds\.ACME\.sources\.0: .*prices\.csv: the first line must be the header timestamp,asset,price",
        lambda w: (w.write("prices.csv", "1000,ACME,100\n"), w.write("feeder.toml", CSV_SOURCE))[1],
    ),
    Case(
        "keeper-unknown-market",
        lambda w, _: KeeperReader(w.market, KeeperSettings().keeper_config(), ["NOPE"]),
        ConfigError,
        r"markets: NOPE not in this deployment; it has ACME",
        lambda w: None,
    ),
    Case(
        "keeper-start-block-beyond-head",
        lambda w, _: KeeperReader(w.market, KeeperSettings().keeper_config(), start_block=10**9),
        ConfigError,
        r"start_block: block 1000000000 is beyond the chain's head, block \d+",
        lambda w: None,
    ),
    # ---------------------------------------------------------------- keys
    _key("key-missing", None, r"set DFMI_TEST_KEY to the hex private key of the account to use"),
    _key("key-empty", "  ", r"set DFMI_TEST_KEY to the hex private key"),
    _key("key-all-zero", ZERO_KEY, r"DFMI_TEST_KEY is not a private key: it is all zeros, which no account has"),
    _key("key-short", "0x1234", r"it has 4 hex digits, a private key has 64 \(32 bytes\)"),
    _key("key-not-hex", "0x" + "zz" * 32, r"characters that are not hex digits"),
    _key("key-an-address", "0x" + "ab" * 20, r"it has 40 hex digits, a private key has 64"),
    _key("key-above-the-order", "0x" + "f" * 64, r"not below the secp256k1 curve order"),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_service_input_raises_one_clear_error_and_changes_nothing(case: Case, world: World) -> None:
    check_case(case, world)


def test_the_table_covers_enough_cases() -> None:
    assert len(CASES) + len(QUOTES) >= 60
    assert len({case.id for case in CASES} | {quote.id for quote in QUOTES}) == len(CASES) + len(QUOTES)


# -------------------------------------------------------------------------------- sources' data

POLICY = SourcePolicy(decimals=8, max_age=300, max_jump_bps=1_000, jump_reference_max_age=600)
NOW = 1_000_100


#: What the junk endpoint answers, by path: (status, body).
ANSWERS: dict[str, tuple[int, bytes]] = {
    "/status500": (500, b"{}"),
    "/junk": (200, b"<html>rate limited</html>"),
    "/nopath": (200, json.dumps({"data": []}).encode()),
    "/text": (200, json.dumps({"price": "abc"}).encode()),
    "/negative": (200, json.dumps({"price": -3}).encode()),
    "/nan": (200, b'{"price": NaN}'),
    "/badtime": (200, json.dumps({"price": 1, "time": "soon"}).encode()),
}


class _Answers(BaseHTTPRequestHandler):
    """A price endpoint answering junk of each kind, by path."""

    def do_GET(self) -> None:
        status, body = ANSWERS.get(self.path, (404, b""))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """A local HTTP server answering junk."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@dataclass(frozen=True)
class BadQuote:
    """A source that reads bad data: the quote must be refused with ``problem`` and a detail
    matching ``detail``, without raising."""

    id: str
    source: Callable[[Path, str], Any]
    problem: QuoteProblem
    detail: str


def _csv(rows: str) -> Callable[[Path, str], Any]:
    def build(folder: Path, _: str) -> CsvReplaySource:
        path = folder / "prices.csv"
        path.write_text("timestamp,asset,price\n" + rows)
        return CsvReplaySource("replay", path)

    return build


def _http(path: str, timestamp_path: str | None = None) -> Callable[[Path, str], Any]:
    def build(_: Path, base: str) -> HttpJsonSource:
        return HttpJsonSource("exchange", base + path, "price", timestamp_path=timestamp_path, timeout=2.0)

    return build


def _closed_port(_: Path, __: str) -> HttpJsonSource:
    return HttpJsonSource("exchange", f"http://127.0.0.1:{free_port()}/price", "price", timeout=2.0)


QUOTES = [
    BadQuote("csv-nan-price", _csv(f"{NOW},ACME,NaN\n"), QuoteProblem.NOT_NUMERIC, r"NaN"),
    BadQuote("csv-negative-price", _csv(f"{NOW},ACME,-5\n"), QuoteProblem.NOT_POSITIVE, r"price -5"),
    BadQuote("csv-zero-price", _csv(f"{NOW},ACME,0\n"), QuoteProblem.NOT_POSITIVE, r"price 0"),
    BadQuote("csv-infinite-price", _csv(f"{NOW},ACME,Infinity\n"), QuoteProblem.NOT_NUMERIC, r"Infinity"),
    BadQuote("csv-huge-price", _csv(f"{NOW},ACME,1e60\n"), QuoteProblem.TOO_LARGE, r"price 1E\+60"),
    BadQuote("csv-price-with-comma", _csv(f'{NOW},ACME,"1,5"\n'), QuoteProblem.NOT_NUMERIC, r"1,5"),
    BadQuote("csv-bad-timestamp", _csv("yesterday,ACME,100\n"), QuoteProblem.MISSING, r"line 2: timestamp 'yesterday'"),
    BadQuote("csv-two-columns", _csv(f"{NOW},ACME\n"), QuoteProblem.MISSING, r"2 columns, expected 3"),
    BadQuote("csv-other-asset-only", _csv(f"{NOW},BTC,100\n"), QuoteProblem.MISSING, r"no row for ACME"),
    BadQuote(
        "csv-only-old-rows",
        _csv(f"{NOW - 1000},ACME,100\n{NOW - 2000},ACME,90\n"),
        QuoteProblem.STALE,
        r"is 1000s old, max 300s",
    ),
    BadQuote(
        "http-unreachable", _closed_port, QuoteProblem.MISSING, r"request to http://127\.0\.0\.1:\d+/price failed"
    ),
    BadQuote("http-status-500", _http("/status500"), QuoteProblem.MISSING, r"HTTP 500 from"),
    BadQuote("http-not-json", _http("/junk"), QuoteProblem.MISSING, r"is not JSON"),
    BadQuote("http-path-missing", _http("/nopath"), QuoteProblem.MISSING, r"no 'price' in the answer"),
    BadQuote("http-price-text", _http("/text"), QuoteProblem.NOT_NUMERIC, r"abc"),
    BadQuote("http-price-negative", _http("/negative"), QuoteProblem.NOT_POSITIVE, r"-3"),
    BadQuote("http-price-nan", _http("/nan"), QuoteProblem.NOT_NUMERIC, r"value nan"),
    BadQuote("http-time-junk", _http("/badtime", "time"), QuoteProblem.MISSING, r"time = 'soon' is not a time"),
]


@pytest.mark.parametrize("bad", QUOTES, ids=[bad.id for bad in QUOTES])
def test_a_source_reading_bad_data_refuses_the_quote_and_raises_nothing(
    bad: BadQuote, endpoint: str, tmp_path: Path
) -> None:
    source = bad.source(tmp_path, endpoint)
    files = files_of(tmp_path)
    outcome = validate_quote(source.quote("ACME", NOW), NOW, None, POLICY)
    assert isinstance(outcome, Refusal), outcome
    assert outcome.problem is bad.problem, outcome
    assert "\n" not in outcome.detail
    assert re.search(bad.detail, outcome.detail), outcome.detail
    assert files_of(tmp_path) == files


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_out_of_order_csv_rows_are_replayed_in_time_order_and_each_is_logged(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_text(f"timestamp,asset,price\n{NOW},ACME,101\n{NOW - 60},ACME,99\n{NOW - 30},ACME,100\n")
    logger, lines = logging.getLogger("tests.badinput.csv"), _Lines()
    logger.addHandler(lines)
    logger.propagate = False
    try:
        source = CsvReplaySource("replay", path, logger=logger)
    finally:
        logger.removeHandler(lines)
    logged = [(r.getMessage(), r.dfmi_fields["line"]) for r in lines.records]  # type: ignore[attr-defined]
    assert logged == [("csv_out_of_order", 3)]
    assert source.bad_rows == 0
    accepted = validate_quote(source.quote("ACME", NOW - 20), NOW - 20, None, POLICY)
    assert isinstance(accepted, AcceptedQuote)
    assert accepted.price == 100
    latest = validate_quote(source.quote("ACME", NOW), NOW, None, POLICY)
    assert isinstance(latest, AcceptedQuote)
    assert latest.price == 101


def test_a_node_error_inside_the_api_is_a_fault_the_services_wait_out(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise Web3RPCError("header not found")

    monkeypatch.setattr(type(world.chain.w3.eth), "call", refuse)
    with pytest.raises(NodeRequestError) as raised:
        world.market.oracle.latest()
    assert str(raised.value) == "Oracle.latest: the node refused a request: header not found"
    assert isinstance(raised.value, FAULTS)  # retried with backoff, not a crash of the service
