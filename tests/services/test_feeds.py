"""The feeder's price sources: CSV replay, the seeded simulation, an HTTP JSON endpoint (no chain)."""

from __future__ import annotations

import gzip
import json
import logging
import math
import statistics
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dfmi_py.errors import ConfigError
from dfmi_py.node.anvil import free_port
from dfmi_py.paths import PROJECT_ROOT
from dfmi_py.services.config import load_settings, validate_settings
from dfmi_py.services.feeder.config import FeederSettings, FeedSettings
from dfmi_py.services.feeder.service import gather_quotes, safe_quote
from dfmi_py.services.feeds import YEAR_SECONDS, CsvReplaySource, GbmSource, HttpJsonSource
from dfmi_py.services.sources import AcceptedQuote, Quote, QuoteProblem, Refusal, SourcePolicy, validate_quote
from tests.helpers import examples

POLICY = SourcePolicy(decimals=8, max_age=300, max_jump_bps=1_000, jump_reference_max_age=600)


def judge(quote: Quote, now: int, previous: AcceptedQuote | None = None) -> AcceptedQuote | Refusal:
    return validate_quote(quote, now, previous, POLICY)


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, ListHandler]]:
    logger = logging.getLogger("tests.feeds.csv")
    handler = ListHandler()
    logger.addHandler(handler)
    logger.propagate = False
    yield logger, handler
    logger.removeHandler(handler)


# ---------------------------------------------------------------------------------- CSV replay


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "prices.csv"
    path.write_text(text)
    return path


def test_csv_quotes_the_latest_row_of_the_asset_at_or_before_now(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "timestamp,asset,price\n1000,ACME,100.5\n1000,BTC,60000\n1060,ACME,101.25\n1120,ACME,99\n1060,BTC,61000\n",
    )
    source = CsvReplaySource("replay", path)
    assert source.quote("ACME", 1000) == Quote("replay", "100.5", 1000)
    assert source.quote("ACME", 1059) == Quote("replay", "100.5", 1000)
    assert source.quote("ACME", 1060) == Quote("replay", "101.25", 1060)
    assert source.quote("ACME", 5000) == Quote("replay", "99", 1120)
    assert source.quote("BTC", 1100) == Quote("replay", "61000", 1060), "rows out of time order are sorted"
    early = source.quote("ACME", 999)
    assert early.error == "no row for ACME at or before 999 in prices.csv"
    assert judge(early, 999) == Refusal("replay", QuoteProblem.MISSING, early.error)
    assert source.quote("EUR", 2000).error == "no row for EUR at or before 2000 in prices.csv"
    accepted = judge(source.quote("ACME", 1100), 1100)
    assert isinstance(accepted, AcceptedQuote)
    assert accepted.answer == 10_125_000_000


@given(
    rows=st.lists(
        st.tuples(st.integers(0, 50), st.sampled_from(["ACME", "BTC"]), st.integers(1, 10**6)), min_size=1, max_size=30
    ),
    asks=st.lists(st.integers(-5, 60), min_size=1, max_size=10),
)
def test_csv_quote_is_the_latest_row_by_time_then_line(
    tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[int, str, int]], asks: list[int]
) -> None:
    path = tmp_path_factory.mktemp("csv") / "prices.csv"
    path.write_text("timestamp,asset,price\n" + "".join(f"{t},{a},{p}\n" for t, a, p in rows))
    source = CsvReplaySource("replay", path)
    for now in asks:
        for asset in ("ACME", "BTC"):
            seen = [(t, line, p) for line, (t, a, p) in enumerate(rows) if a == asset and t <= now]
            quote = source.quote(asset, now)
            if seen:
                t, _, p = max(seen)
                assert quote == Quote("replay", str(p), t)
            else:
                assert quote.value is None
                assert quote.error is not None


def test_csv_relative_replay_maps_the_first_row_to_the_first_now(tmp_path: Path) -> None:
    path = write(tmp_path, "timestamp,asset,price\n500,ACME,1\n560,ACME,2\n620,ACME,3\n")
    source = CsvReplaySource("replay", path, relative=True)
    assert source.quote("ACME", 1_700_000_000) == Quote("replay", "1", 1_700_000_000)
    assert source.quote("ACME", 1_700_000_059) == Quote("replay", "1", 1_700_000_000)
    assert source.quote("ACME", 1_700_000_061) == Quote("replay", "2", 1_700_000_060)
    assert source.quote("ACME", 1_700_000_500) == Quote("replay", "3", 1_700_000_120)


def test_csv_bad_rows_are_logged_by_line_and_refused_when_reached(
    tmp_path: Path, captured: tuple[logging.Logger, ListHandler]
) -> None:
    logger, handler = captured
    path = write(
        tmp_path,
        "timestamp,asset,price\n"
        "1000,ACME,100\n"  # line 2
        "1010,ACME,abc\n"  # line 3: price not a number
        "yesterday,ACME,101\n"  # line 4: no time: stands at line 3's time
        "1030,ACME,-5\n"  # line 5: not positive
        "1040,ACME\n"  # line 6: two columns
        "1050,ACME,102\n",  # line 7
    )
    source = CsvReplaySource("replay", path, logger=logger)
    bad = [(r.getMessage(), r.dfmi_fields["line"], r.dfmi_fields["reason"]) for r in handler.records]  # type: ignore[attr-defined]
    assert bad == [
        ("csv_bad_row", 3, "price 'abc' is not a positive number"),
        ("csv_bad_row", 4, "timestamp 'yesterday' is not Unix seconds"),
        ("csv_bad_row", 5, "price '-5' is not a positive number"),
        ("csv_bad_row", 6, "2 columns, expected 3 (timestamp,asset,price)"),
    ]
    assert source.bad_rows == 4
    assert isinstance(judge(source.quote("ACME", 1005), 1005), AcceptedQuote)
    # Line 4 (no time) follows line 3 at 1010 and replaces it there.
    assert judge(source.quote("ACME", 1015), 1015) == Refusal(
        "replay", QuoteProblem.MISSING, "line 4: timestamp 'yesterday' is not Unix seconds"
    )
    assert judge(source.quote("ACME", 1035), 1035) == Refusal("replay", QuoteProblem.NOT_POSITIVE, "price -5")
    assert judge(source.quote("ACME", 1045), 1045) == Refusal(
        "replay", QuoteProblem.MISSING, "line 6: 2 columns, expected 3 (timestamp,asset,price)"
    )
    good = judge(source.quote("ACME", 1050), 1050)
    assert isinstance(good, AcceptedQuote)
    assert good.price == 102


def test_csv_a_garbled_price_reaches_the_validator_as_it_is(tmp_path: Path) -> None:
    path = write(tmp_path, "timestamp,asset,price\n1000,ACME,1O0\n")
    source = CsvReplaySource("replay", path, logger=logging.getLogger("tests.feeds.quiet"))
    assert judge(source.quote("ACME", 1000), 1000) == Refusal("replay", QuoteProblem.NOT_NUMERIC, "value '1O0'")


def test_csv_a_row_without_an_asset_stands_for_every_asset(tmp_path: Path) -> None:
    path = write(tmp_path, "timestamp,asset,price\n1000,ACME,1\n1000,BTC,2\n1010,,3\n1020,BTC,4\n")
    source = CsvReplaySource("replay", path, logger=logging.getLogger("tests.feeds.quiet"))
    assert source.quote("ACME", 1015).error == "line 4: no asset"
    assert source.quote("BTC", 1015).error == "line 4: no asset"
    assert source.quote("BTC", 1020) == Quote("replay", "4", 1020)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("time,asset,price\n1,ACME,1\n", "the first line must be the header timestamp,asset,price"),
        ("", "the first line must be the header timestamp,asset,price"),
    ],
)
def test_csv_without_its_header_is_a_configuration_error(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        CsvReplaySource("replay", write(tmp_path, text))


def test_csv_missing_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the price file"):
        CsvReplaySource("replay", tmp_path / "nope.csv")


# ---------------------------------------------------------------------------------- simulation

START = 1_700_000_000


def gbm(**overrides: object) -> GbmSource:
    settings: dict[str, object] = {
        "drift": 0.05,
        "volatility": 0.2,
        "step": 60,
        "seed": 42,
        "decimals": 8,
        "start": START,
    }
    settings.update(overrides)
    return GbmSource("sim", Decimal(100), **settings)  # type: ignore[arg-type]


def test_gbm_is_a_function_of_seed_start_and_time() -> None:
    first, second = gbm(), gbm()
    late = START + 60 * 5_000 + 17
    assert first.quote("ACME", late) == second.quote("ACME", late)
    # Whatever was asked before: the second source jumps straight there, the first walked.
    for now in range(START, START + 60 * 3_000, 60 * 97):
        first.quote("ACME", now)
    assert gbm().quote("ACME", START + 123) == first.quote("ACME", START + 123)
    assert first.quote("ACME", START) == Quote("sim", Decimal("100.00000000"), START)
    quote = first.quote("ACME", late)
    assert quote.timestamp == START + 60 * 5_000, "timestamped at its step"
    assert quote.value != gbm(seed=43).quote("ACME", late).value
    assert quote.value != Decimal(100)


@settings(max_examples=examples(10))
@given(st.lists(st.integers(0, 40_000), min_size=1, max_size=8))
def test_gbm_price_does_not_depend_on_what_was_asked_before(steps: list[int]) -> None:
    walked = gbm(seed=3)
    for step in steps:
        walked.price(step)
    for step in reversed(steps):
        assert walked.price(step) == gbm(seed=3).price(step)


def test_gbm_quotes_exact_decimals() -> None:
    value = gbm(decimals=4).quote("ACME", START + 60 * 999).value
    assert isinstance(value, Decimal)
    assert value.as_tuple().exponent == -4
    accepted = validate_quote(Quote("sim", value, START), START, None, SourcePolicy(4, 300, 1_000, 600))
    assert isinstance(accepted, AcceptedQuote)
    assert accepted.answer == int(value.scaleb(4))


def test_gbm_log_returns_have_the_configured_volatility_and_drift() -> None:
    source = gbm(volatility=0.3, drift=0.1, step=3_600, seed=7)
    count = 20_000
    prices = [source.price(i) for i in range(count + 1)]
    returns = [math.log(prices[i + 1] / prices[i]) for i in range(count)]
    dt = 3_600 / YEAR_SECONDS
    expected_sd = 0.3 * math.sqrt(dt)
    sd = statistics.stdev(returns)
    # The sample sd of 20,000 normal draws lies within 5% of sigma*sqrt(dt) (its own sd is 0.5%).
    assert abs(sd - expected_sd) / expected_sd < 0.05, (sd, expected_sd)
    mean = statistics.fmean(returns)
    expected_mean = (0.1 - 0.3**2 / 2) * dt
    assert abs(mean - expected_mean) < 4 * expected_sd / math.sqrt(count), (mean, expected_mean)
    # Step returns are independent: the lag-1 autocorrelation is near 0.
    lagged = statistics.correlation(returns[:-1], returns[1:])
    assert abs(lagged) < 4 / math.sqrt(count)


def test_gbm_jumps_arrive_at_the_configured_intensity() -> None:
    step = 60
    dt = step / YEAR_SECONDS
    intensity = 0.01 / dt  # one jump per hundred steps
    count = 20_000
    diffusion_sd = 0.2 * math.sqrt(dt)
    with_jumps = gbm(jump_intensity=intensity, jump_mean=0.0, jump_sd=0.05, seed=11)
    without = gbm(seed=11)
    big = [
        sum(abs(source.log_price(i + 1) - source.log_price(i)) > 8 * diffusion_sd for i in range(count))
        for source in (with_jumps, without)
    ]
    # About 200 jumps expected (Poisson sd 14); a jump of sd 0.05 is rarely below 8 diffusion sds.
    assert 150 < big[0] < 250, big
    assert big[1] == 0, "no jump without an intensity"


def test_gbm_before_its_start_is_refused() -> None:
    quote = gbm().quote("ACME", START - 1)
    assert judge(quote, START - 1) == Refusal(
        "sim", QuoteProblem.MISSING, f"{START - 1} is before the simulation's start {START}"
    )


def test_gbm_without_a_start_starts_at_the_first_now() -> None:
    source = gbm(start=None)
    assert source.quote("ACME", 5_000) == Quote("sim", Decimal("100.00000000"), 5_000)
    assert source.start == 5_000


# ---------------------------------------------------------------------------------- HTTP JSON


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        routes: dict[str, tuple[int, str]] = {
            "/price/ACME": (200, json.dumps({"data": [{"price": 101.25, "time": 1_700_000_000}]})),
            "/ms": (200, '{"price": "99.5", "time": 1700000000123}'),
            "/iso": (200, '{"price": 7, "time": "2023-11-14T22:13:20Z"}'),
            "/exact": (200, '{"price": 0.1000000000000000055511151231257827}'),
            "/badtime": (200, '{"price": 7, "time": "soon"}'),
            "/garbled": (200, '{"price": "12,5"}'),
            "/500": (500, '{"error": "boom"}'),
            "/badjson": (200, "<html>not json</html>"),
            "/missing": (200, '{"data": []}'),
        }
        if self.path == "/slow":
            time.sleep(1.0)
        if self.path == "/trickle":  # each byte in time for the socket timeout, the whole too late
            body = b'{"data": [{"price": 1}]}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            for byte in body:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.05)
            return
        if self.path == "/gzip":
            data = gzip.compress(b'{"price": "42.5"}')
            self.send_response(200)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if self.path == "/big":
            routes["/big"] = (200, '{"data": [{"price": 1, "pad": "' + "x" * 1_100_000 + '"}]}')
        status, body = routes.get(self.path, (200, "{}"))
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_http_reads_the_price_and_time_at_their_paths(server: str) -> None:
    source = HttpJsonSource("api", server + "/price/{asset}", "data.0.price", timestamp_path="data.0.time")
    quote = source.quote("ACME", 1_700_000_010)
    assert quote == Quote("api", Decimal("101.25"), 1_700_000_000)
    accepted = judge(quote, 1_700_000_010)
    assert isinstance(accepted, AcceptedQuote)
    assert accepted.answer == 10_125_000_000
    source.close()


def test_http_numbers_are_exact_and_times_take_several_forms(server: str) -> None:
    exact = HttpJsonSource("api", server + "/exact", "price").quote("ACME", 42)
    assert exact == Quote("api", Decimal("0.1000000000000000055511151231257827"), 42), "no float on the way"
    assert HttpJsonSource("api", server + "/ms", "price", timestamp_path="time").quote("A", 0) == Quote(
        "api", "99.5", 1_700_000_000
    )
    assert HttpJsonSource("api", server + "/iso", "price", timestamp_path="time").quote("A", 0) == Quote(
        "api", 7, 1_700_000_000
    )
    bad_time = HttpJsonSource("api", server + "/badtime", "price", timestamp_path="time").quote("A", 0)
    assert bad_time.error == "time = 'soon' is not a time"
    assert HttpJsonSource("api", server + "/gzip", "price").quote("A", 9) == Quote("api", "42.5", 9)
    garbled = HttpJsonSource("api", server + "/garbled", "price").quote("A", 50)
    assert judge(garbled, 50) == Refusal("api", QuoteProblem.NOT_NUMERIC, "value '12,5'")


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/500", "HTTP 500 from {url}"),
        ("/badjson", "the answer of {url} is not JSON"),
        ("/missing", "no 'data.0.price' in the answer of {url}: data is a list of 0, no index '0'"),
        ("/slow", "no answer from {url} within 0.3 s"),
        ("/trickle", "no answer from {url} within 0.3 s"),
        ("/big", "the answer of {url} is larger than 1,000,000 bytes"),
    ],
)
def test_http_failures_become_refused_quotes_with_the_reason(server: str, path: str, reason: str) -> None:
    url = server + path
    quote = HttpJsonSource("api", url, "data.0.price", timeout=0.3).quote("ACME", 100)
    assert judge(quote, 100) == Refusal("api", QuoteProblem.MISSING, reason.format(url=url))


def test_http_unreachable_endpoint_is_a_refused_quote() -> None:
    url = f"http://127.0.0.1:{free_port()}/price"
    quote = HttpJsonSource("api", url, "price", timeout=0.5).quote("ACME", 100)
    assert quote.error == f"request to {url} failed: ConnectionError"


# ---------------------------------------------------------------------------------- fallback


class Broken:
    name = "broken"

    def quote(self, asset: str, now: int) -> Quote:
        raise RuntimeError("bug in a plug-in")


class Counting:
    def __init__(self, name: str, value: object) -> None:
        self.name = name
        self.value = value
        self.asked = 0

    def quote(self, asset: str, now: int) -> Quote:
        self.asked += 1
        return Quote(self.name, self.value, now)


def test_a_source_that_raises_is_refused_not_fatal() -> None:
    assert safe_quote(Broken(), "ACME", 5) == Quote(
        "broken", None, None, error="the source failed: RuntimeError: bug in a plug-in"
    )


def test_sources_behind_an_accepted_quote_are_not_asked() -> None:
    bad, good, spare = Counting("bad", "n/a"), Counting("good", "10"), Counting("spare", "11")
    quotes = gather_quotes([Broken(), bad, good, spare], "ACME", 100, None, POLICY)
    assert [q.source for q in quotes] == ["broken", "bad", "good"]
    assert spare.asked == 0


# ---------------------------------------------------------------------------------- settings


def feed_table(**overrides: object) -> dict[str, object]:
    table: dict[str, object] = {
        "deviation_bps": 50,
        "heartbeat_margin": 300,
        "max_age": 120,
        "max_jump_bps": 1000,
        "jump_reference_max_age": 600,
        "sources": [{"kind": "gbm", "s0": 100.1, "volatility": 0.2, "step": 1, "seed": 7}],
    }
    table.update(overrides)
    return table


def test_settings_read_each_kind_of_source() -> None:
    settings = validate_settings(
        {
            "feeds": {
                "ACME": feed_table(
                    sources=[
                        {"kind": "csv", "path": "prices.csv", "relative": True},
                        {"kind": "http", "url": "https://p.example/{asset}", "price_path": "p", "name": "api"},
                        {"kind": "gbm", "s0": 100.1, "volatility": 0.2, "step": 1, "seed": 7},
                    ]
                )
            }
        },
        FeederSettings,
    )
    sources = settings.feeds["ACME"].sources
    assert [s.kind for s in sources] == ["csv", "http", "gbm"]
    assert sources[2].s0 == Decimal("100.1")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("table", "key"),
    [
        (feed_table(deviation_bps=0), "feeds.ACME.deviation_bps"),
        (feed_table(sources=[]), "feeds.ACME.sources"),
        (feed_table(sources=[{"kind": "ftp"}]), "feeds.ACME.sources.0"),
        (feed_table(sources=[{"kind": "http", "url": "ftp://x", "price_path": "p"}]), "feeds.ACME.sources.0.http.url"),
        (
            feed_table(sources=[{"kind": "gbm", "s0": 1, "volatility": -1, "step": 1, "seed": 1}]),
            "feeds.ACME.sources.0.gbm.volatility",
        ),
        (feed_table(heartbeat=5), "feeds.ACME.heartbeat"),
        (
            feed_table(sources=[{"kind": "csv", "path": "a", "name": "x"}, {"kind": "csv", "path": "b", "name": "x"}]),
            "feeds.ACME: sources.1.name: 'x' names two sources",
        ),
    ],
)
def test_settings_errors_name_the_key(table: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as raised:
        validate_settings({"feeds": {"ACME": table}}, FeederSettings, "feeder.toml")
    assert str(raised.value).startswith(f"feeder.toml: {key}"), str(raised.value)


def test_settings_need_a_feed() -> None:
    with pytest.raises(ConfigError, match=r"^cfg: feeds: Field required"):
        validate_settings({}, FeederSettings, "cfg")


def test_the_documented_example_is_valid() -> None:
    settings = load_settings(PROJECT_ROOT / "examples" / "feeder.toml", FeederSettings)
    assert [s.kind for s in settings.feeds["ACME"].sources] == ["http", "csv", "gbm"]
    documented = (PROJECT_ROOT / "examples" / "feeder.toml").read_text()
    for key in set(FeedSettings.model_fields) - {"sources"}:
        assert f"{key} =" in documented, f"examples/feeder.toml does not show {key}"
