"""The simulation's report on the small day the simulation's tests share (conftest.py: 4 members,
10 forwards in two markets, six rounds, a 25% fall of gold in round 2 and the default it brings).

Its report is written once (module-scoped, read with the regulator's key); its tables are checked against
the chain through the books views (and, where the toolkit has another reader, through it too),
they balance, a second run of the same settings through ``dfmi simulate`` writes the same tables
and charts, and the page opens in headless Chromium (Debian's package, driven by its
chromedriver) with no console error and every chart drawn.
"""

from __future__ import annotations

import html
import re
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd  # type: ignore[import-untyped]
import pytest
from click.testing import CliRunner

from dfmi_py.books import Books
from dfmi_py.chain.client import Chain
from dfmi_py.cli.main import cli
from dfmi_py.simulate.record import TABLES as RECORD_TABLES
from dfmi_py.simulate.record import SimulationRecord
from dfmi_py.simulate.report import CHARTS_DIR, PAGE, TABLES_DIR, Report, write_report
from dfmi_py.simulate.report.data import TABLES, backtest_from_books
from dfmi_py.simulate.run import SimulationResult
from tests.simulate.conftest import SMALL_RUN_GROUP
from tests.simulate.conftest import Run as SmallRun

#: The worker that runs the small day runs this module too (the day runs once).
pytestmark = pytest.mark.xdist_group(SMALL_RUN_GROUP)

#: Chromium's flags for a closed network (shared/TOOLCHAIN.md): no background traffic, no sandbox as root.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


@dataclass
class Run:
    chain: Chain
    result: SimulationResult
    report: Report
    books: Books
    settings: Path
    out: Path

    @property
    def record(self) -> SimulationRecord:
        return self.result.record

    def table(self, name: str) -> pd.DataFrame:
        return self.report.data.tables[name]

    def name(self, address: str) -> str:
        return self.report.data.name(address)


@pytest.fixture(scope="module")
def run(small_run: SmallRun, tmp_path_factory: pytest.TempPathFactory) -> Run:
    out = tmp_path_factory.mktemp("report")
    small_run.record.write(out)  # the record beside the report, as dfmi simulate leaves them
    books = Books(small_run.market, viewer_key=small_run.record.regulator_viewer_key())
    report = write_report(small_run.result, out, books=books)
    return Run(small_run.chain, small_run.result, report, books, small_run.settings, out)


# ---------------------------------------------------------------------------------- the chain's numbers


def test_the_default_tables_are_the_chains_waterfalls(run: Run) -> None:
    market, record = run.result.market, run.record
    defaults = run.books.defaults()
    closeouts = run.table("closeouts")
    assert len(closeouts) == len(defaults) == len(record.defaults) > 0
    columns = ["loss", "from_im", "from_margin", "from_defaulter_contribution", "from_survivors", "unpaid"]
    # the same figures through the API's own reader of the engines' and the fund's events
    waterfalls = market.waterfalls(from_block=record.chain.first_block)
    assert [(w.market, w.trade_id, run.name(w.defaulter), run.name(w.survivor), w.tx_hash) for w in waterfalls] == list(
        closeouts[["market", "trade_id", "defaulter", "survivor", "tx_hash"]].itertuples(index=False, name=None)
    )
    assert [
        [w.loss, w.from_im, w.from_margin, w.from_defaulter_contribution, w.from_survivors, w.unpaid]
        for w in waterfalls
    ] == closeouts[columns].to_numpy().tolist()
    tranches = dict(zip(run.table("waterfall")["column"], run.table("waterfall")["amount"], strict=True))
    assert tranches == {c: sum(int(v) for v in defaults[c]) for c in columns}
    # each member's loss: the books' per-default rows added up, and the fund's balances now
    losses = run.table("default_losses")
    by_member: dict[str, int] = {}
    for member, lost in zip(run.books.default_losses()["member"], run.books.default_losses()["loss"], strict=True):
        by_member[run.name(member)] = by_member.get(run.name(member), 0) + int(lost)
    assert dict(zip(losses["member"], losses["loss"], strict=True)) == by_member
    for member in record.members:
        row = losses[losses["member"] == member.name]
        if not row.empty:
            assert int(row["balance"].iloc[0]) == market.fund.balance_of(member.address)


def test_prices_vm_and_exposure_are_the_chains(run: Run) -> None:
    market, record = run.result.market, run.record
    prices = run.table("prices")
    assert len(prices) == sum(u.oracle.latest().round_id for u in market.markets.values())
    for row in prices.itertuples(index=False):
        final = market.markets[row.market].oracle.round(int(row.oracle_round))
        assert (final.answer, final.updated_at) == (row.answer, row.updated_at)
    made = [o for o in record.oracle_rounds if o.oracle_round is not None]
    assert sorted((o.market, o.round, o.oracle_round) for o in made) == sorted(
        (m, int(r), int(o)) for m, r, o in zip(prices["market"], prices["round"], prices["oracle_round"], strict=True)
    )
    # what each member paid and received over the day is what the books' exposure view says
    vm = run.table("vm")
    exposure = run.books.exposure()
    for address, paid, received in zip(exposure["member"], exposure["vm_paid"], exposure["vm_received"], strict=True):
        mine = vm[vm["member"] == run.name(address)]
        assert (int(mine["paid"].sum()), int(mine["received"].sum())) == (int(paid), int(received))
    # the exposure before each settlement is the variation margin the engines marked at that round
    marks: dict[tuple[str, int], int] = {}
    settlements = 0
    for underlying in market.markets.values():
        for event in underlying.derivatives.events():
            if event.name != "VariationMarginSettled":
                continue
            settlements += 1
            day_round = record.round_of_block(event.block)
            assert day_round is not None
            trade = underlying.derivatives.trade(event.trade_id)
            to_buyer = int(event.args["vmToBuyer"])
            for party, signed in ((trade.buyer, to_buyer), (trade.seller, -to_buyer)):
                key = (run.name(party), day_round)
                marks[key] = marks.get(key, 0) + signed
    assert run.report.data.settlements == settlements
    # ... and the debt a margin call carries into the rounds after it, for its two parties
    carried: dict[tuple[str, int], int] = {}
    for call in run.books.margin_calls().itertuples(index=False):
        first, last = record.round_of_block(int(call.called_block)), record.round_of_block(int(call.resolved_block))
        assert first is not None
        assert last is not None
        for r in range(first + 1, last + 1):
            carried[(run.name(call.debtor), r)] = -1
            carried[(run.name(call.creditor), r)] = 1
    checked = 0
    for row in run.table("exposure").itertuples(index=False):
        key = (row.member, row.round)
        if key in carried:  # the mark plus the debt left unpaid before it
            assert (row.before - marks.get(key, 0)) * carried[key] > 0
        else:
            assert row.before == marks.get(key, 0), key
            checked += 1
    assert checked > 0


def test_im_backtest_dvps_netting_and_gas_are_the_chains(run: Run) -> None:
    market, record = run.result.market, run.record
    margin = record.config["margin"]
    positions, flows = run.books.positions(), run.books.margin_flows()
    combined, per_market = backtest_from_books(record, positions, flows, margin["mpor"], margin["confidence"])
    now = int(positions.attrs["time"])
    for name, report in per_market.items():  # the risk reader's own reading of the engine's events
        assert report == market.risk.backtest(margin["mpor"], margin["confidence"], name=name, now=now)
    backtest = run.table("backtest")
    overall = backtest[backtest["level"] == "all"].iloc[0]
    assert (overall["observations"], overall["breaches"]) == (combined.total.observations, combined.total.breaches)
    assert combined.total.observations == sum(r.total.observations for r in per_market.values()) > 0
    # the dFMI side posts each trade's IM as confirmed
    im = run.table("im")
    for member in record.members:
        posted = sum(t.buyer_im for t in record.trades if t.buyer == member.address)
        posted += sum(t.seller_im for t in record.trades if t.seller == member.address)
        assert int(im[im["member"] == member.name]["im_dfmi"].iloc[0]) == posted
    # DvPs: each instruction's outcome as the settlement contract's state says; nothing at risk
    dvps = run.table("dvps")
    assert len(dvps) == len(record.dvps)
    for planned in record.dvps:
        row = dvps[dvps["number"] == planned.number].iloc[0]
        assert bool(row["delivered"]) == planned.attempts[-1].settled
        assert row["failure"] == (None if planned.attempts[-1].settled else planned.attempts[-1].error)
    assert int(dvps["principal_at_risk"].sum()) == 0
    # netting: the chain's compression
    netting = run.table("netting")
    assert record.netting is not None
    compression = market.netting.compression(record.netting.round_id)
    row = netting[netting["round_id"] == record.netting.round_id].iloc[0]
    assert (row["gross_value"], row["net_value"]) == (compression.gross, compression.net)
    assert row["excluded"] == ";".join(run.name(a) for a in record.netting.excluded)
    # gas: every mined transaction
    gas = run.table("gas")
    assert int(gas["gas_total"].sum()) == sum(a.gas_used for a in record.actions)
    assert int(gas["transactions"].sum()) == len(record.actions)


def test_the_comparisons_dfmi_side_is_the_chains_waterfall(run: Run) -> None:
    comparison = run.report.data.comparison
    assert comparison is not None
    tranches = dict(zip(run.table("waterfall")["column"], run.table("waterfall")["amount"], strict=True))
    assert comparison.dfmi.tranche("initial margin") == tranches["from_im"]
    assert comparison.dfmi.tranche("defaulter's contribution") == tranches["from_defaulter_contribution"]
    assert comparison.dfmi.tranche("survivors' contributions") == tranches["from_survivors"]
    table = run.table("comparison")
    losses = dict(zip(run.table("default_losses")["member"], run.table("default_losses")["loss"], strict=True))
    for row in table.itertuples(index=False):
        assert row.fund_loss_dfmi == losses.get(row.member, 0)


def test_members_carry_their_legal_names_as_the_regulator_reads_them(run: Run) -> None:
    members = run.table("members")
    assert list(members["member"]) == [m.name for m in run.record.members]
    assert list(members["legal_name"]) == [m.legal_name for m in run.record.members]
    assert all(members["legal_name"])
    defaulter = next(m for m in run.record.members if m.defaulter)
    text = run.report.page.read_text(encoding="utf-8")
    assert "Legal names as the regulator sees them" in text
    assert html.escape(f"{defaulter.name} ({defaulter.legal_name}) could not pay") in text


# ---------------------------------------------------------------------------------- the tables balance


def test_the_tables_balance(run: Run) -> None:
    market, record = run.result.market, run.record
    # the waterfall adds up: each close-out's tranches to its loss, the survivors' shares to their tranche
    closeouts = run.table("closeouts")
    tranches = ["from_im", "from_margin", "from_defaulter_contribution", "from_survivors", "unpaid"]
    assert (closeouts[tranches].sum(axis=1) == closeouts["loss"]).all()
    waterfall = run.table("waterfall").set_index("column")["amount"]
    assert waterfall["loss"] == sum(waterfall[c] for c in tranches) > waterfall["from_im"]
    losses = run.table("default_losses")
    survivors = losses[losses["role"] == "survivor"]
    # balances are shares priced down to the unit: their drops may differ from the tranche by a unit each
    assert abs(waterfall["from_survivors"] - survivors["loss"].sum()) < max(1, len(survivors))
    assert int(losses[losses["role"] == "defaulter"]["loss"].sum()) == waterfall["from_defaulter_contribution"]
    # cash conserved: every round's variation margin paid is received; exposures are bilateral
    vm = run.table("vm")
    per_round = vm.groupby("round")[["paid", "received", "net"]].sum()
    assert (per_round["paid"] == per_round["received"]).all()
    assert (per_round["net"] == 0).all()
    exposure = run.table("exposure")
    assert (exposure.groupby("round")[["before", "after"]].sum() == 0).all().all()
    # exposure is reset at every round: left open only under a margin call, until its close-out
    calls = run.books.margin_calls()
    open_rounds = set()
    for called, resolved in zip(calls["called_block"], calls["resolved_block"], strict=True):
        first, last = record.round_of_block(int(called)), record.round_of_block(int(resolved))
        assert first is not None
        assert last is not None
        open_rounds |= set(range(first, last))
    assert open_rounds, "the shock should have left a margin call open"
    assert (exposure[~exposure["round"].isin(open_rounds)]["after"] == 0).all()
    assert (exposure[exposure["round"].isin(open_rounds)]["after"] != 0).any()
    # both models' waterfalls add up to their shortfall
    comparison = run.report.data.comparison
    assert comparison is not None
    for outcome in (comparison.dfmi, comparison.ccp):
        assert sum(t.amount for t in outcome.tranches) == outcome.shortfall
    # and on the chain: the cash minted is all held, by the members and the contracts
    cash = market.cash
    holders = [m.address for m in record.members]
    holders += [u.derivatives.address for u in market.markets.values()]
    holders += [market.fund.address, market.settlement.address, market.netting.address]
    assert sum(cash.balance_of(h) for h in holders) == cash.total_supply() == sum(m.wallet for m in record.members)


# ---------------------------------------------------------------------------------- the same seed


def test_the_command_with_the_same_settings_writes_the_same_record_and_report(run: Run, tmp_path: Path) -> None:
    """One second run of the small day through ``dfmi simulate`` (on a fresh Anvil) for every
    check of the command: what it prints, and a record and a report equal to the first run's."""
    second = tmp_path / "second"
    result = CliRunner().invoke(cli, ["simulate", "--config", str(run.settings), "--out", str(second)])
    assert result.exit_code == 0, result.output
    defaulter = next(m for m in run.record.members if m.defaulter)
    # named as the regulator reads them, through the books with the devnet regulator key, and saying so
    named = f"{defaulter.legal_name} ({defaulter.name})"
    assert f"{named} could not pay its margin calls and was declared in default" in result.output
    assert "2 failed and moved nothing (1 ComplianceAccountNotActive, 1 SettlementExpired)" in result.output
    assert f"excluded: {named}" in result.output
    assert "Names as the regulator reads them" in result.output
    assert "with the devnet regulator key (identities shown: 4 of 4 accounts)" in result.output
    assert f"The report: {second / PAGE}" in result.output
    # the record: the same tables, byte for byte, and the same record but for folders and wall time
    for table in RECORD_TABLES:
        assert (second / table).read_bytes() == (run.out / table).read_bytes(), f"{table} differs"

    def where_only(record: SimulationRecord) -> SimulationRecord:
        chain = replace(record.chain, manifest="")
        return replace(record, timings={}, chain=chain, config={**record.config, "out": ""})

    assert where_only(SimulationRecord.load(second)) == where_only(run.record)
    # the report: the same tables and charts, byte for byte
    names = sorted(p.name for p in (run.out / TABLES_DIR).iterdir())
    assert names == sorted(f"{name}.csv" for name in TABLES)
    assert sorted(p.name for p in (second / TABLES_DIR).iterdir()) == names
    for name in names:
        assert (second / TABLES_DIR / name).read_bytes() == (run.out / TABLES_DIR / name).read_bytes(), name
    charts = sorted(p.name for p in (run.out / CHARTS_DIR).iterdir())
    assert charts == sorted(Path(c.file).name for c in run.report.charts.values())
    for name in charts:
        assert (second / CHARTS_DIR / name).read_bytes() == (run.out / CHARTS_DIR / name).read_bytes(), name


def test_a_block_time_of_zero_is_refused_before_a_chain_starts(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["simulate", "--no-report", "--block-time", "0", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "--block-time" in result.output
    assert "started a local Anvil" not in result.output
    assert not (tmp_path / PAGE).exists()


# ---------------------------------------------------------------------------------- the page


def test_the_page_is_self_contained(run: Run) -> None:
    text = run.report.page.read_text(encoding="utf-8")
    assert "<script" not in text.lower()
    assert not re.search(r"""(?:src|href)=["'](?:https?:)?//""", text), "the page must not load anything remote"
    assert "@import" not in text
    assert "url(" not in text
    sources = re.findall(r'<img src="([^"]+)"', text)
    assert sorted(sources) == sorted(c.file for c in run.report.charts.values())
    links = re.findall(r'href="(tables/[^"]+)"', text)
    assert {Path(link).stem for link in links} == set(TABLES)
    for relative in [*sources, *links]:
        assert (run.out / relative).is_file(), relative
    assert "could not pay" in text
    assert "principal at risk: zero" in text


def _chromium() -> tuple[str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.fail(
            "Debian's chromium and chromium-driver are needed to open the report: `make setup` installs them "
            "when run as root, or `apt-get install chromium chromium-driver`",
            pytrace=False,
        )
    return browser, driver


#: Every image on the page: loaded, and of a non-zero natural size.
_IMAGES = """
return Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, i.naturalWidth, i.naturalHeight]);
"""


def test_the_page_opens_in_chromium_with_every_chart(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = _chromium()
    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager never downloads: the driver is given
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    try:
        driver.get(run.report.page.resolve().as_uri())
        assert driver.title == "dfmi simulate: the report"
        images = driver.execute_script(_IMAGES)
        assert sorted(src for src, *_ in images) == sorted(c.file for c in run.report.charts.values())
        assert len(images) >= 8
        for src, complete, width, height in images:
            assert complete, f"{src} did not load"
            assert width > 0, f"{src} did not render"
            assert height > 0, f"{src} did not render"
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
        headings = [h.text for h in driver.find_elements("css selector", "h2")]
        assert "The default" in headings
        assert "Scale, on paper" in headings

        # the checks see a broken page: a chart missing from its folder
        broken = tmp_path / "broken"
        shutil.copytree(run.out, broken, ignore=shutil.ignore_patterns("deployments"))
        missing = next(iter(run.report.charts.values())).file
        (broken / missing).unlink()
        driver.get((broken / PAGE).resolve().as_uri())
        found = {src: width for src, _, width, _ in driver.execute_script(_IMAGES)}
        assert found[missing] == 0
        assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"], "a missing chart logs an error"
    finally:
        driver.quit()
