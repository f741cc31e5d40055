"""The report's charts, drawn with matplotlib into SVG files (no display, no pyplot state).

Each function takes the gathered :class:`~dfmi_py.simulate.report.data.ReportData` and a folder,
draws one figure and returns a :class:`Chart` naming its file. Text is drawn as paths and the
files carry no date, so the same run draws the same files and the page needs no font.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib as mpl
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from dfmi_py.simulate.report.data import ReportData

__all__ = ["CHARTS", "Chart", "draw_all"]

#: dFMI and the CCP, the same colours in every chart.
DFMI_COLOUR = "#1b7f5f"
CCP_COLOUR = "#b23a48"
PAID_COLOUR = "#c8553d"
RECEIVED_COLOUR = "#2a7fb8"
#: Most members a per-member chart shows (the largest first; the tables hold every member).
MOST_MEMBERS = 12

_STYLE: dict[Any, Any] = {
    "svg.hashsalt": "dfmi-report",  # stable element ids
    "svg.fonttype": "path",  # text as paths: no font needed by the page
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "legend.fontsize": 8,
    "legend.frameon": False,
}


@dataclass(frozen=True)
class Chart:
    """A drawn chart: its file (relative to the report's folder), title and description."""

    file: str
    title: str
    description: str


def _save(figure: Figure, folder: Path, name: str) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(folder / f"{name}.svg", format="svg", metadata={"Date": None})
    return f"{folder.name}/{name}.svg"


def _money(data: ReportData) -> Callable[[int], float]:
    scale = 10**data.record.cash_decimals
    return lambda units: units / scale


def _thousands(axis: Any) -> None:
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))


def _top(values: dict[str, int], count: int = MOST_MEMBERS) -> list[str]:
    """The ``count`` names with the largest values, in name order."""
    chosen = sorted(values, key=lambda name: (-values[name], name))[:count]
    return sorted(chosen)


def _shown(names: Sequence[str], total: int) -> str:
    return "" if len(names) >= total else f" The {len(names)} members with the largest figures of {total} are shown."


# ---------------------------------------------------------------------- the charts


def prices(data: ReportData, folder: Path) -> Chart:
    """Each market's oracle answers per round, the shock marked."""
    table = data.tables["prices"]
    markets = list(data.record.markets)
    figure = Figure(figsize=(9, 2.2 * len(markets)))
    axes = figure.subplots(len(markets), 1, sharex=True, squeeze=False)[:, 0]
    for ax, market in zip(axes, markets, strict=True):
        mine = table[(table["market"] == market.name) & table["round"].notna()]
        scale = 10**market.decimals
        ax.plot(mine["round"].astype(int), [int(a) / scale for a in mine["answer"]], marker="o", markersize=3)
        ax.set_ylabel(market.name)
        if market.shock_round is not None:
            ax.axvline(market.shock_round, color=CCP_COLOUR, linestyle="--", linewidth=1)
            ax.annotate(
                f"shock {market.shock_bps / 100:+.0f}%",
                (market.shock_round, 1),
                xycoords=("data", "axes fraction"),
                xytext=(4, -12),
                textcoords="offset points",
                color=CCP_COLOUR,
            )
        ax.set_title(f"{market.name}: {market.description}", loc="left")
    axes[-1].set_xlabel("round (each an oracle round, settled by the keeper)")
    file = _save(figure, folder, "prices")
    return Chart(file, "Price paths", "Each market's final oracle answer per round; the dashed line is the shock.")


def vm(data: ReportData, folder: Path) -> Chart:
    """Per member, variation margin received (up) and paid (down) each round."""
    table = data.tables["vm"]
    money = _money(data)
    volume = {str(m): int(g["paid"].sum() + g["received"].sum()) for m, g in table.groupby("member")}
    members = _top(volume)
    columns = 3 if len(members) > 4 else 2
    rows = -(-len(members) // columns)
    figure = Figure(figsize=(9, 1.9 * rows))
    axes = figure.subplots(rows, columns, sharex=True, sharey=True, squeeze=False).ravel()
    for ax, member in zip(axes, members, strict=False):
        mine = table[table["member"] == member]
        rounds = mine["round"].astype(int)
        ax.bar(rounds, [money(int(v)) for v in mine["received"]], color=RECEIVED_COLOUR, label="received")
        ax.bar(rounds, [-money(int(v)) for v in mine["paid"]], color=PAID_COLOUR, label="paid")
        ax.axhline(0, color="black", linewidth=0.5)
        ax.set_title(member, loc="left")
        _thousands(ax.yaxis)
    for ax in axes[len(members) :]:
        ax.set_visible(False)
    axes[0].legend(loc="upper right")
    figure.supylabel(f"variation margin ({data.record.cash_symbol})")
    figure.supxlabel("round")
    file = _save(figure, folder, "vm")
    return Chart(
        file,
        "Variation margin paid and received",
        "Cash each member received (above the line) and paid (below) at each round's settlement."
        + _shown(members, len(volume)),
    )


def exposure(data: ReportData, folder: Path) -> Chart:
    """Per member, exposure just before each settlement and just after it: a saw-tooth."""
    table = data.tables["exposure"]
    money = _money(data)
    peak = {str(m): int(g["before"].abs().max()) for m, g in table.groupby("member")}
    members = _top(peak)
    figure = Figure(figsize=(9, 4.2))
    ax = figure.subplots()
    for member in members:
        mine = table[table["member"] == member]
        xs: list[float] = [int(mine["round"].min()) - 0.5]  # nothing owed before the first settlement
        ys: list[float] = [0.0]
        for r, before, after in zip(mine["round"], mine["before"], mine["after"], strict=True):
            xs += [int(r), int(r)]  # built up since the last settlement, then settled
            ys += [money(int(before)), money(int(after))]
        ax.plot(xs, ys, linewidth=1.2, label=member)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xlabel("round")
    ax.set_ylabel(f"owed to the member (+) / by it (-), {data.record.cash_symbol}")
    _thousands(ax.yaxis)
    ax.legend(ncol=min(6, len(members)), loc="lower left", bbox_to_anchor=(0, 1.0))
    file = _save(figure, folder, "exposure")
    return Chart(
        file,
        "Exposure before and after each settlement",
        "Each tooth rises to what a member is owed (or owes) at the new price just before the round's "
        "settlement and drops to what is left after it: zero, unless a margin call leaves the debt open "
        "until it is paid or closed out." + _shown(members, len(peak)),
    )


#: The waterfall's tranches in the chart, by the books' column.
_TRANCHE_LABELS = {
    "loss": "owed by the defaulter",
    "from_im": "its initial margin",
    "from_margin": "its margin account",
    "from_defaulter_contribution": "its fund contribution",
    "from_survivors": "the others' contributions",
    "unpaid": "left unpaid (a claim)",
}


def waterfall(data: ReportData, folder: Path) -> Chart:
    """The default's waterfall: what the defaulter owed and what each tranche paid; the survivors' shares."""
    tranches = data.tables["waterfall"]
    losses = data.tables["default_losses"]
    money = _money(data)
    figure = Figure(figsize=(9, 5.6))
    top, bottom = figure.subplots(2, 1, gridspec_kw={"height_ratios": [3, 2]})
    columns = [str(c) for c in tranches["column"]]
    amounts = [money(int(a)) for a in tranches["amount"]]
    starts: list[float] = []
    paid = 0.0
    for column, amount in zip(columns, amounts, strict=True):
        starts.append(0.0 if column == "loss" else paid)
        paid += 0.0 if column == "loss" else amount
    labels = [_TRANCHE_LABELS.get(c, c) for c in columns]
    colours = ["#555555" if c == "loss" else DFMI_COLOUR for c in columns]
    top.barh(labels[::-1], amounts[::-1], left=starts[::-1], color=colours[::-1])
    top.set_xlabel(data.record.cash_symbol)
    _thousands(top.xaxis)
    top.set_title("What the defaulter owed, and which tranche paid it, in the fund's order", loc="left")
    survivors = losses[losses["role"] == "survivor"] if not losses.empty else losses
    if not survivors.empty:
        names = [str(m) for m in survivors["member"]]
        bottom.bar(names, [money(int(v)) for v in survivors["loss"]], color=DFMI_COLOUR)
        bottom.tick_params(axis="x", labelrotation=45 if len(names) > 12 else 0)
        bottom.set_ylabel(data.record.cash_symbol)
        _thousands(bottom.yaxis)
    bottom.set_title("Each other member's share, pro rata to its contribution", loc="left")
    file = _save(figure, folder, "waterfall")
    return Chart(
        file,
        "The default's waterfall",
        "Top: the loss the close-outs left and the tranches that paid it, in the order the fund's rules "
        "take them. Bottom: what each other member's fund balance paid, in proportion to its contribution.",
    )


def comparison(data: ReportData, folder: Path) -> Chart:
    """dFMI and the CCP side by side: exposure built up before the default, and loss, per member."""
    table = data.tables["comparison"]
    money = _money(data)
    figure = Figure(figsize=(9, 4.0))
    top, bottom = figure.subplots(2, 1, sharex=True)
    members = [str(m) for m in table["member"]]
    xs = list(range(len(members)))
    width = 0.38
    for ax, field, title in (
        (top, "exposure_peak", "Largest uncollateralised exposure up to the default"),
        (bottom, "loss", "What each member lost to the default"),
    ):
        ax.bar(
            [x - width / 2 for x in xs],
            [money(int(v)) for v in table[f"{field}_dfmi"]],
            width,
            color=DFMI_COLOUR,
            label="dFMI (settled every round)",
        )
        ax.bar(
            [x + width / 2 for x in xs],
            [money(int(v)) for v in table[f"{field}_ccp"]],
            width,
            color=CCP_COLOUR,
            label="CCP (novated, margined daily, paid a day later)",
        )
        ax.set_title(title, loc="left")
        ax.set_ylabel(data.record.cash_symbol)
        _thousands(ax.yaxis)
    top.legend(loc="upper right")
    bottom.set_xticks(xs, members, rotation=45 if len(members) > 12 else 0)
    file = _save(figure, folder, "comparison")
    return Chart(
        file,
        "dFMI and a CCP, the same trades, prices and default",
        "Top: the exposure each member carried, uncollateralised, before the default. Bottom: its loss "
        "(the defaulter's collateral and contribution; the others' fund shares, assessments and unpaid claims).",
    )


def im(data: ReportData, folder: Path) -> Chart:
    """Initial margin per member under each model."""
    table = data.tables["im"]
    money = _money(data)
    figure = Figure(figsize=(9, 3.0))
    ax = figure.subplots()
    members = [str(m) for m in table["member"]]
    xs = list(range(len(members)))
    width = 0.38
    ax.bar([x - width / 2 for x in xs], [money(int(v)) for v in table["im_dfmi"]], width, color=DFMI_COLOUR)
    ccp = [0.0 if v is None or v != v else money(int(v)) for v in table["im_ccp"]]
    ax.bar([x + width / 2 for x in xs], ccp, width, color=CCP_COLOUR)
    ax.legend(["dFMI: each trade's IM", "CCP: net positions at its margin period"], loc="upper right")
    ax.set_xticks(xs, members, rotation=45 if len(members) > 12 else 0)
    ax.set_ylabel(data.record.cash_symbol)
    _thousands(ax.yaxis)
    file = _save(figure, folder, "im")
    return Chart(file, "Initial margin under each model", "The IM each member posts under each model.")


def settlement(data: ReportData, folder: Path) -> Chart:
    """DvP outcomes, and the netting round's gross and net."""
    dvps = data.tables["dvps"]
    netting = data.tables["netting"]
    money = _money(data)
    figure = Figure(figsize=(9, 2.8))
    left, right = figure.subplots(1, 2)
    if not dvps.empty:
        outcome = ["settled" if d else f"failed: {r}" for d, r in zip(dvps["delivered"], dvps["failure"], strict=True)]
        counts: dict[str, int] = {}
        for o in outcome:
            counts[o] = counts.get(o, 0) + 1
        names = sorted(counts, key=lambda o: (o != "settled", o))
        left.barh(
            names[::-1],
            [counts[n] for n in names][::-1],
            color=[DFMI_COLOUR if n == "settled" else PAID_COLOUR for n in names][::-1],
        )
    left.set_title("DvPs (principal at risk: 0)", loc="left")
    left.set_xlabel("instructions")
    if not netting.empty:
        labels = [f"round {r}" for r in netting["round_id"]]
        xs = list(range(len(labels)))
        right.bar([x - 0.2 for x in xs], [money(int(v)) for v in netting["gross_value"]], 0.4, color="#888888")
        right.bar([x + 0.2 for x in xs], [money(int(v)) for v in netting["net_value"]], 0.4, color=DFMI_COLOUR)
        right.set_xticks(xs, labels)
        _thousands(right.yaxis)
    right.set_title("Netting: gross (grey) against net (green)", loc="left")
    file = _save(figure, folder, "settlement")
    return Chart(
        file,
        "DvP outcomes and netting",
        "Left: each DvP instruction's outcome (a failed one moved neither leg). Right: the netting round's "
        "gross payments against what moved net.",
    )


def gas(data: ReportData, folder: Path) -> Chart:
    """Gas per kind of work."""
    table = data.tables["gas"]
    by: dict[str, int] = {}
    for kind, total in zip(table["kind"], table["gas_total"], strict=True):
        by[str(kind)] = by.get(str(kind), 0) + int(total)
    kinds = sorted(by, key=lambda k: by[k])
    figure = Figure(figsize=(9, 0.4 * len(kinds) + 1.0))
    ax = figure.subplots()
    ax.barh(kinds, [by[k] / 1e6 for k in kinds], color=DFMI_COLOUR)
    ax.set_xlabel("gas, millions")
    file = _save(figure, folder, "gas")
    return Chart(file, "Gas per kind of work", "The run's gas by kind of work; the table gives every operation type.")


def scale(data: ReportData, folder: Path) -> Chart:
    """Share of a chain's daily blocks a market uses, against its live trades, per rounds a day."""
    found = data.scale
    underlyings = len(data.record.markets)
    members = 50
    figure = Figure(figsize=(9, 3.4))
    ax = figure.subplots()
    for rounds in sorted({p.rounds_per_day for p in found.points}):
        points = sorted(
            (p for p in found.points if (p.members, p.underlyings, p.rounds_per_day) == (members, underlyings, rounds)),
            key=lambda p: p.trades,
        )
        shares = [100 * p.utilisation for p in points]
        ax.plot([p.trades for p in points], shares, marker="o", label=f"{rounds} rounds a day")
    ax.axhline(100, color=CCP_COLOUR, linestyle="--", linewidth=1)
    ax.annotate(
        "one chain's limit",
        (0.01, 100),
        xycoords=("axes fraction", "data"),
        xytext=(0, 4),
        textcoords="offset points",
        color=CCP_COLOUR,
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("live trades")
    ax.set_ylabel("% of the chain's blocks a day")
    ax.legend(loc="upper left")
    ax.set_title(
        f"{members} members, {underlyings} underlyings, {found.chain.gas_limit / 1e6:g}M-gas blocks every "
        f"{found.chain.block_seconds:g} s",
        loc="left",
    )
    file = _save(figure, folder, "scale")
    return Chart(
        file,
        "Scale, on paper",
        "The share of one chain's daily block space a market's settlement, margin calls, oracle rounds, DvPs "
        "and netting take, from the gas this run measured.",
    )


#: Every chart, by key, in the order the report shows them.
CHARTS: dict[str, Callable[[ReportData, Path], Chart]] = {
    "prices": prices,
    "vm": vm,
    "exposure": exposure,
    "waterfall": waterfall,
    "comparison": comparison,
    "im": im,
    "settlement": settlement,
    "gas": gas,
    "scale": scale,
}


def draw_all(data: ReportData, folder: Path) -> dict[str, Chart]:
    """Draw every chart the data has into ``folder``; by key (a chart without data is left out)."""
    drawn: dict[str, Chart] = {}
    with mpl.rc_context(_STYLE):
        for key, draw in CHARTS.items():
            if key in ("waterfall",) and data.tables["closeouts"].empty:
                continue
            if key == "comparison" and data.comparison is None:
                continue
            drawn[key] = draw(data, folder)
    return drawn
