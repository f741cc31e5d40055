"""The report as one self-contained HTML page: inline CSS, no script, no font, no CDN.

The charts are SVG files beside the page (``charts/``) and every table is a CSV beside it
(``tables/``); the page links them by relative paths, so the folder can be opened offline,
copied or archived as it is.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pandas as pd  # type: ignore[import-untyped]

from dfmi_py.display import duration, iso
from dfmi_py.simulate.ccp import assumptions_text
from dfmi_py.simulate.report.charts import Chart
from dfmi_py.simulate.report.data import CASH_COLUMNS, TABLES, ReportData
from dfmi_py.simulate.report.text import summary

__all__ = ["page"]

#: The members of the market the limits are stated for.
_SCALE_MEMBERS = 50

_CSS = """
body { font: 15px/1.5 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1d2330;
       max-width: 1000px; margin: 0 auto; padding: 1.5em 1.2em 4em; background: #fcfcfa; }
h1 { font-size: 1.7em; margin-bottom: 0.2em; }
h2 { font-size: 1.3em; margin-top: 2.2em; border-bottom: 2px solid #1b7f5f; padding-bottom: 0.2em; }
h3 { font-size: 1.05em; margin-top: 1.4em; }
.meta { color: #5a6270; font-size: 0.9em; }
.summary { background: #eef6f2; border-left: 4px solid #1b7f5f; padding: 0.6em 1.2em; }
.summary p { margin: 0.6em 0; }
figure { margin: 1.2em 0; }
figure img { width: 100%; height: auto; border: 1px solid #e2e4e8; background: white; }
figcaption { color: #5a6270; font-size: 0.9em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.6em 0; }
th, td { padding: 0.25em 0.7em; border-bottom: 1px solid #e2e4e8; text-align: left; white-space: nowrap; }
th { background: #f1f2f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.scroll { overflow-x: auto; }
details { margin: 0.6em 0; }
summary { cursor: pointer; color: #1b5f8f; }
ul.assumptions li, ul.limits li { margin: 0.2em 0; }
a { color: #1b5f8f; }
nav a { margin-right: 0.9em; white-space: nowrap; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _cell(data: ReportData, column: str, value: Any, formats: Mapping[str, Callable[[Any], str]]) -> tuple[str, bool]:
    """A cell's text and whether it is a number."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "", False
    if column in formats:
        return formats[column](value), True
    if column in CASH_COLUMNS:
        units = int(value)
        return f"{units / 10**data.record.cash_decimals:,.2f}", True
    if isinstance(value, bool):
        return ("yes" if value else ""), False
    if isinstance(value, int):
        return f"{value:,}", True
    if isinstance(value, float):
        return f"{value:,.4g}", True
    return str(value), False


def _table(
    data: ReportData,
    frame: pd.DataFrame,
    *,
    columns: Iterable[str] | None = None,
    formats: Mapping[str, Callable[[Any], str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> str:
    shown = list(columns) if columns is not None else list(frame.columns)
    formats = formats or {}
    headers = headers or {}
    head = "".join(f"<th>{_e(headers.get(c, c.replace('_', ' ')))}</th>" for c in shown)
    rows = []
    for record in frame[shown].itertuples(index=False, name=None):
        cells = []
        for column, value in zip(shown, record, strict=True):
            text, number = _cell(data, column, value, formats)
            cells.append(f'<td class="num">{_e(text)}</td>' if number else f"<td>{_e(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'


def _csv_link(name: str) -> str:
    return f'<a href="tables/{_e(name)}.csv">{_e(name)}.csv</a>'


def _table_block(data: ReportData, name: str, *, folded: bool = False, note: str = "", **options: Any) -> str:
    frame = data.tables[name]
    if frame.empty:
        return f"<p>{_e(TABLES[name])}: none.</p>"
    body = _table(data, frame, **options)
    link = f'<p class="meta">{_e(note)} All of it: {_csv_link(name)}.</p>'
    if folded:
        return f"<details><summary>{_e(TABLES[name])} ({len(frame):,} rows)</summary>{body}</details>{link}"
    return f"<h3>{_e(TABLES[name])}</h3>{body}{link}"


def _figure(chart: Chart | None) -> str:
    if chart is None:
        return ""
    return (
        f'<figure><img src="{_e(chart.file)}" alt="{_e(chart.title)}">'
        f"<figcaption><strong>{_e(chart.title)}.</strong> {_e(chart.description)}</figcaption></figure>"
    )


def page(data: ReportData, charts: Mapping[str, Chart]) -> str:
    """The report's HTML page."""
    record = data.record
    cash_symbol = record.cash_symbol
    times = {"updated_at": lambda v: iso(int(v)), "time": lambda v: iso(int(v))}
    decimals = {m.name: m.decimals for m in record.markets}
    sections: list[tuple[str, str, str]] = []

    summary_html = "".join(f"<p>{_e(p)}</p>" for p in summary(data))
    sections.append(("summary", "Summary", f'<div class="summary">{summary_html}</div>' + _members(data)))

    prices = data.tables["prices"].copy()
    prices["price"] = [
        f"{int(a) / 10 ** decimals[m]:,.{min(decimals[m], 6)}f}"
        for m, a in zip(prices["market"], prices["answer"], strict=True)
    ]
    price_table = _table(
        data,
        prices,
        columns=["market", "round", "oracle_round", "updated_at", "price", "submissions", "shock"],
        formats=times,
    )
    sections.append(
        (
            "prices",
            "Price paths and oracle rounds",
            _figure(charts.get("prices"))
            + f"<details><summary>{_e(TABLES['prices'])} ({len(prices):,} rows)</summary>{price_table}</details>"
            + f'<p class="meta">Answers in each feed\'s decimals: {_csv_link("prices")}.</p>',
        )
    )
    sections.append(
        (
            "vm",
            "Variation margin",
            _figure(charts.get("vm")) + _table_block(data, "vm", folded=True, formats=times),
        )
    )
    sections.append(
        (
            "exposure",
            "Exposure, reset every round",
            _figure(charts.get("exposure"))
            + _table_block(
                data,
                "exposure",
                folded=True,
                formats=times,
                note="Before: what the member was owed (+) or owed (-) at the new price, debts carried included; "
                "after: what the round's settlement and any close-out left.",
            ),
        )
    )
    sections.append(("default", "The default", _default(data, charts)))
    sections.append(("ccp", "The same day under a central counterparty", _ccp(data, charts)))
    sections.append(("im", "Initial margin and its backtest", _im(data, charts)))
    sections.append(("settlement", "DvP, netting and gas", _settlement(data, charts)))
    sections.append(("scale", "Scale, on paper", _scale(data, charts)))
    files = "".join(f"<li>{_csv_link(name)}: {_e(title)}</li>" for name, title in TABLES.items())
    sections.append(
        (
            "files",
            "Files",
            f'<ul>{files}</ul><p class="meta">Amounts in the CSV files are integers in the cash token\'s smallest '
            f"unit ({record.cash_decimals} decimals, {_e(cash_symbol)}), prices the feeds' integers, times Unix "
            "seconds. The run's own record (record.json and its tables) is one folder up.</p>",
        )
    )

    nav = "\n".join(f'<a href="#{key}">{_e(title)}</a>' for key, title, _ in sections)
    body = "".join(f'<section id="{key}"><h2>{_e(title)}</h2>{content}</section>' for key, title, content in sections)
    meta = (
        f"Chain {record.chain.chain_id}, blocks {record.chain.first_block:,} to {data.head_block:,}; seed "
        f"{record.seed}; amounts in {_e(cash_symbol)}. {_e(data.disclosure)}."
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>dfmi simulate: the report</title>"
        f"<style>{_CSS}</style></head><body>"
        f'<h1>A day of dFMI, and the same day under a CCP</h1><p class="meta">{meta}</p><nav>{nav}</nav>'
        f"{body}</body></html>\n"
    )


def _members(data: ReportData) -> str:
    note = (
        "Legal names as the regulator sees them (opened with its key)."
        if data.legal_names
        else "Members are named M01, M02, ... by the run; their legal names are disclosed to the regulator only."
    )
    columns = ["member", "address", "legal_name", "defaulter", "contribution", "im_posted", "wallet"]
    if not data.legal_names:
        columns.remove("legal_name")
    return _table_block(
        data,
        "members",
        folded=True,
        columns=columns,
        note=note,
        headers={"im_posted": "IM posted", "contribution": "fund contribution"},
    )


def _default(data: ReportData, charts: Mapping[str, Chart]) -> str:
    if data.tables["closeouts"].empty:
        return "<p>Nobody defaulted: every margin call was paid.</p>"
    return (
        _figure(charts.get("waterfall"))
        + _table_block(data, "waterfall", columns=["tranche", "amount"])
        + _table_block(
            data,
            "closeouts",
            columns=[
                "market",
                "trade_id",
                "round",
                "defaulter",
                "survivor",
                "loss",
                "from_im",
                "from_margin",
                "from_defaulter_contribution",
                "from_survivors",
                "unpaid",
            ],
        )
        + _table_block(
            data,
            "default_losses",
            note="Contributed: what each member put in the fund; balance: what it holds now.",
        )
    )


def _ccp(data: ReportData, charts: Mapping[str, Chart]) -> str:
    comparison = data.comparison
    if comparison is None:
        return "<p>Nobody defaulted: there is no default to compare.</p>"
    stated = assumptions_text(comparison.assumptions, comparison.round_seconds)
    assumptions = "".join(f"<li>{_e(line)}</li>" for line in stated.splitlines())
    notes = [*comparison.dfmi.notes, *comparison.ccp.notes]
    noted = "".join(f"<li>{_e(n)}</li>" for n in notes)
    dfmi_mpor = duration(comparison.dfmi.mpor_seconds)
    ccp_mpor = duration(comparison.ccp.mpor_seconds)
    return (
        f'<div class="summary"><p>{_e(data.comparison_sentence())}</p></div>'
        + _figure(charts.get("comparison"))
        + _table_block(
            data,
            "comparison",
            columns=[
                "member",
                "defaulter",
                "exposure_peak_dfmi",
                "exposure_peak_ccp",
                "loss_dfmi",
                "loss_ccp",
                "fund_loss_dfmi",
                "fund_loss_ccp",
                "assessment_ccp",
                "unpaid_claim_dfmi",
            ],
            headers={
                "exposure_peak_dfmi": "exposure dFMI",
                "exposure_peak_ccp": "exposure CCP",
                "loss_dfmi": "loss dFMI",
                "loss_ccp": "loss CCP",
                "fund_loss_dfmi": "fund share dFMI",
                "fund_loss_ccp": "fund share CCP",
                "assessment_ccp": "assessment CCP",
                "unpaid_claim_dfmi": "unpaid claim dFMI",
            },
            note="Exposure: the largest uncollateralised exposure up to the default.",
        )
        + _table_block(data, "comparison_tranches")
        + "<h3>The CCP model's assumptions</h3>"
        + f'<ul class="assumptions">{assumptions}</ul>'
        + f"<p>dFMI's margin period of risk here is {_e(dfmi_mpor)} (a round and the cure period); the CCP's "
        f"{_e(ccp_mpor)}. The dFMI side replays the engines and the fund as the contracts run them; the "
        "default section above is the chain's own waterfall.</p>" + (f"<ul>{noted}</ul>" if noted else "")
    )


def _im(data: ReportData, charts: Mapping[str, Chart]) -> str:
    backtest = data.tables["backtest"]
    margin = data.record.config.get("margin", {})
    overall = backtest[backtest["level"] == "all"]
    text = ""
    if not overall.empty:
        row = overall.iloc[0]
        p_value = row["kupiec_p_value"]
        verdict = (
            "no observation"
            if p_value is None or pd.isna(p_value)
            else f"Kupiec's p-value {float(p_value):.3f}: "
            + ("the coverage is rejected at 5%" if float(p_value) < 0.05 else "the coverage is not rejected at 5%")
        )
        text = (
            f"<p>Backtest over windows of {_e(duration(int(margin.get('mpor', 7_200))))} (the margin model's period): "
            f"{int(row['observations']):,} side-windows, {int(row['breaches']):,} where the variation margin marked "
            f"exceeded the IM held; {_e(verdict)}.</p>"
        )
    return (
        _figure(charts.get("im"))
        + _table_block(
            data,
            "im",
            headers={"im_dfmi": "IM dFMI (posted in its trades)", "im_ccp": "IM CCP (net, its margin period)"},
        )
        + text
        + _table_block(data, "backtest")
    )


def _settlement(data: ReportData, charts: Mapping[str, Chart]) -> str:
    return (
        _figure(charts.get("settlement"))
        + _table_block(
            data,
            "dvps",
            columns=[
                "number",
                "planned",
                "round",
                "seller",
                "buyer",
                "bonds",
                "cash",
                "outcome",
                "failure",
                "principal_at_risk",
            ],
            note="Planned: what the run meant the DvP to do (settle; fail on a frozen buyer; fail after its "
            "deadline). A failed DvP moved neither leg.",
        )
        + _table_block(data, "netting", headers={"compression_pct": "compression %"})
        + _figure(charts.get("gas"))
        + _table_block(data, "gas", folded=True)
    )


def _scale(data: ReportData, charts: Mapping[str, Chart]) -> str:
    scale = data.scale
    limits = scale.limits
    chain = scale.chain
    measured = ", ".join(scale.measured) or "none"
    items = [
        f"one block settles at most {limits.trades_per_block:,} trades "
        f"({scale.profile.settle_per_trade:,} gas each, as measured here);",
        f"one netting settlement moves the nets of at most {limits.members_per_netting_settlement:,} members "
        f"(their verification: {limits.members_per_netting_verification:,});",
        f"one block registers {limits.obligations_per_block:,} netting obligations and settles "
        f"{limits.dvps_per_block:,} DvP instructions;",
    ]
    grid = data.tables["capacity"]
    underlyings = len(data.record.markets)
    shown = grid[grid["underlyings"] == underlyings]
    for rounds in sorted(set(shown["rounds_per_day"])):
        row = shown[(shown["rounds_per_day"] == rounds) & (shown["members"] == _SCALE_MEMBERS)]
        if row.empty:
            continue
        items.append(
            f"settling every trade {int(rounds)} times a day ({_e(duration(86_400 // int(rounds)))} rounds), "
            f"{_SCALE_MEMBERS} members in {underlyings} markets: at most {int(row['max_live_trades'].iloc[0]):,} "
            "live trades on one chain;"
        )
    items[-1] = items[-1].rstrip(";") + "."
    columns = [
        "members",
        "trades",
        "underlyings",
        "rounds_per_day",
        "total_gas",
        "blocks_per_day",
        "utilisation",
        "round_blocks",
        "max_live_trades",
        "fits",
    ]
    return (
        f"<p>On a chain of {chain.gas_limit:,}-gas blocks every {chain.block_seconds:g} s "
        f"({chain.blocks_per_day:,} blocks a day):</p>"
        + '<ul class="limits">'
        + "".join(f"<li>{_e(i)}</li>" for i in items)
        + "</ul>"
        + _figure(charts.get("scale"))
        + f"<details><summary>The grid, {underlyings} markets ({len(shown):,} rows)</summary>"
        + _table(
            data,
            shown,
            columns=columns,
            formats={"utilisation": lambda v: f"{100 * float(v):.2f}%"},
            headers={"rounds_per_day": "rounds a day", "total_gas": "gas a day", "max_live_trades": "max trades at R"},
        )
        + "</details>"
        + f'<p class="meta">Gas measured by this run: {_e(measured)}; the other figures from bench/results/. '
        "A market fits when its day's gas fits the day's blocks, each round's settlement fits the round's "
        f"interval and the netting settlement one block. Every grid point: {_csv_link('capacity')}.</p>"
    )
