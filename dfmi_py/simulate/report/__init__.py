"""The simulation's report: one HTML page people would rather look at than read.

:func:`write_report` gathers every table from the run's books, record and CCP comparison
(:mod:`.data`), draws the charts (:mod:`.charts`), writes the plain-language summary (:mod:`.text`)
and the page (:mod:`.html`)::

    out/index.html        the page (inline CSS, no script, works offline)
    out/charts/*.svg      its charts
    out/tables/*.csv      every table it shows, amounts in the cash token's smallest unit
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dfmi_py.books import Books
from dfmi_py.simulate.ccp import Comparison
from dfmi_py.simulate.report.charts import Chart, draw_all
from dfmi_py.simulate.report.data import ReportData, gather
from dfmi_py.simulate.report.html import page
from dfmi_py.simulate.run import SimulationResult

__all__ = ["CHARTS_DIR", "PAGE", "TABLES_DIR", "Report", "write_report"]

#: The page, and its folders, in the output folder.
PAGE = "index.html"
CHARTS_DIR = "charts"
TABLES_DIR = "tables"


@dataclass(frozen=True)
class Report:
    """A written report: its page, charts, tables and the data they show."""

    page: Path
    charts: dict[str, Chart]
    tables: dict[str, Path]
    data: ReportData


def write_report(
    result: SimulationResult,
    folder: Path,
    *,
    books: Books | None = None,
    comparison: Comparison | None = None,
    block_seconds: float = 2.0,
) -> Report:
    """Write the report of ``result`` (its chain still running) to ``folder``.

    Args:
        result: The finished run.
        folder: The output folder (the page, ``charts/`` and ``tables/`` go there).
        books: The run's books (default: read with the regulator's key the record names, so
            the members' legal names show; addresses only when the run recorded no identity).
        comparison: The CCP counterfactual (default: built from the run and its books).
        block_seconds: The block time of the chain the "Scale, on paper" section sizes.

    Returns:
        The written report.
    """
    if books is None:  # members' identities as the regulator reads them, where the run recorded them
        books = Books(result.market, viewer_key=result.record.regulator_viewer_key())
    data = gather(result, books, comparison, block_seconds=block_seconds)
    folder.mkdir(parents=True, exist_ok=True)
    tables_dir = folder / TABLES_DIR
    tables_dir.mkdir(exist_ok=True)
    tables = {}
    for name, frame in data.tables.items():
        path = tables_dir / f"{name}.csv"
        frame.to_csv(path, index=False, lineterminator="\n")
        tables[name] = path
    charts = draw_all(data, folder / CHARTS_DIR)
    target = folder / PAGE
    target.write_text(page(data, charts), encoding="utf-8")
    return Report(target, charts, tables, data)
