"""``dfmi books``: every view prints as a table, its ``--json`` parses to the view's rows, its
``--csv`` file reads back to the same DataFrame; bad input is one line and a non-zero exit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result

from dfmi_py.books.columns import VIEWS
from dfmi_py.books.views import read_csv, records
from dfmi_py.cli.main import cli
from tests.books.scenario import PARTIES, USD, BooksWorld

pytestmark = pytest.mark.xdist_group("books")

A, B, C, D, E = PARTIES


@pytest.fixture(scope="module")
def filled(books_world: BooksWorld) -> Iterator[BooksWorld]:
    """Every view with rows: trades, a settlement, a default, DvPs settled and failed, a round."""
    bw = books_world
    snapshot = bw.w.snapshot()
    trade = bw.trade("IDX50", C, E, quantity=30 * 10**18)
    bw.trade("XAU", A, B)
    bw.stop_paying(E, "IDX50")
    bw.post("IDX50", 5_450 * 10**2)
    bw.settle_all("IDX50")
    bw.default("IDX50", trade)
    bw.dvp(A, B, 10, 1_000 * USD)
    bw.dvp(C, D, 5, 10**7 * USD)
    bw.netting_round([(A, B, 40 * USD), (A, C, 50 * USD), (C, B, 60 * USD)])
    yield bw
    bw.w.revert(snapshot)


def dfmi(bw: BooksWorld, *args: str) -> Result:
    chain = ["--rpc-url", bw.w.node.rpc_url, "--deployments-dir", str(bw.w.manifest_dir)]
    return CliRunner(mix_stderr=False).invoke(cli, [*chain, "books", *args])


def test_list_shows_one_line_per_view() -> None:
    result = CliRunner().invoke(cli, ["books", "--list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split()[0] for line in lines] == list(VIEWS)
    assert all(VIEWS[line.split()[0]].title in line for line in lines)


@pytest.mark.parametrize("view", list(VIEWS))
def test_each_view_prints_parses_and_round_trips(filled: BooksWorld, view: str, tmp_path: Path) -> None:
    expected = filled.books().view(view)
    assert len(expected) > 0, f"the scenario leaves {view} empty"

    table = dfmi(filled, view)
    assert table.exit_code == 0, table.output
    header, columns, *rows = table.output.splitlines()
    assert header.startswith(f"{view} at block {expected.attrs['block']:,}: {len(expected)} rows; identities not shown")
    assert columns.split()[0] == next(c.name for c in VIEWS[view].columns if c.show)
    assert len(rows) == len(expected)

    out = tmp_path / f"{view}.csv"
    machine = dfmi(filled, view, "--json", "--csv", str(out))
    assert machine.exit_code == 0, machine.output
    document = json.loads(machine.stdout)
    assert (document["view"], document["block"]) == (view, expected.attrs["block"])
    assert document["disclosure"] == expected.attrs["disclosure"]
    assert document["rows"] == records(expected)
    assert f"wrote {out} ({len(expected)} rows)" in machine.stderr
    pd.testing.assert_frame_equal(read_csv(view, out), expected, check_flags=False)


def test_a_market_keeps_its_rows(filled: BooksWorld) -> None:
    result = dfmi(filled, "positions", "--market", "idx50", "--json")
    assert result.exit_code == 0, result.output
    assert {row["market"] for row in json.loads(result.stdout)["rows"]} == {"IDX50"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("trades",), "Error: unknown view 'trades': one of positions, exposure,"),
        (("positions", "--market", "GOLD"), "Error: no market 'GOLD': this deployment has XAU, EURUSD, IDX50"),
        (("fund", "--market", "XAU"), "Error: the fund view is not per market: drop the market"),
        ((), "Error: give a VIEW: `dfmi books --list` shows them"),
        (("fund", "--viewer-key-env", "DFMI_TEST_UNSET_KEY"), "Error: $DFMI_TEST_UNSET_KEY is not set"),
    ],
)
def test_bad_input_is_one_line_and_a_failure(filled: BooksWorld, args: tuple[str, ...], message: str) -> None:
    result = dfmi(filled, *args)
    assert result.exit_code == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(message)
