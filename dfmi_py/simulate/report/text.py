"""The report's summary in plain language: what happened, who lost what, and the comparison.

Every figure comes from the gathered tables (the chain, through the books); the sentences are
short and name members as the report's tables do.
"""

from __future__ import annotations

from dfmi_py.simulate.report.data import ReportData
from dfmi_py.units import from_units

__all__ = ["headline", "summary"]


def _list(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def headline(data: ReportData) -> str:
    """One line: the day in numbers."""
    record = data.record
    markets = ", ".join(m.name for m in record.markets)
    return (
        f"A trading day of {len(record.rounds) - 1} rounds in {len(record.markets)} markets ({markets}): "
        f"{len(record.members)} members, {len(record.trades)} forwards, seed {record.seed}."
    )


def _what_happened(data: ReportData) -> str:
    record = data.record
    prices = data.tables["prices"]
    parts = []
    for m in record.markets:
        if m.shock_round is None:
            continue
        mine = prices[(prices["market"] == m.name) & prices["round"].notna()]
        at = {int(r): int(a) for r, a in zip(mine["round"], mine["answer"], strict=True)}
        before, after = at.get(m.shock_round - 1), at.get(m.shock_round)
        if before is None or after is None:
            continue
        parts.append(
            f"In round {m.shock_round} {m.name} moved {100 * (after - before) / before:+.1f}% "
            f"(from {from_units(before, m.decimals):,.2f} to {from_units(after, m.decimals):,.2f})."
        )
    parts.append(
        "Feeders posted every round's prices to each market's oracle, and the keeper settled every live trade "
        f"at every round ({data.settlements:,} settlements), so no member's exposure outlived a round unless a "
        "margin call left it open."
    )
    return " ".join(parts)


def _who_lost_what(data: ReportData) -> str:
    closeouts = data.tables["closeouts"]
    if closeouts.empty:
        return "Nobody defaulted: every margin call was paid, and nobody lost anything."
    tranches = data.tables["waterfall"]
    waterfall = {str(c): int(a) for c, a in zip(tranches["column"], tranches["amount"], strict=True)}
    defaulters = sorted(set(closeouts["defaulter"]))
    rounds = sorted({int(r) for r in closeouts["round"] if r is not None})
    trades = len(closeouts)
    legal = {data.names.get(a, a): name for a, name in data.legal_names.items()}
    who = _list([f"{d} ({legal[d]})" if d in legal else d for d in defaulters])
    text = (
        f"{who} could not pay {'its' if len(defaulters) == 1 else 'their'} margin calls and "
        f"{'was' if len(defaulters) == 1 else 'were'} closed out on {trades} trade{'s' if trades != 1 else ''} "
        f"(round {_list([str(r) for r in rounds])}). "
        f"It owed {data.cash(waterfall['loss'])}: its initial margin paid {data.cash(waterfall['from_im'])}, "
        f"its margin account {data.cash(waterfall['from_margin'])}, its own fund contribution "
        f"{data.cash(waterfall['from_defaulter_contribution'])}, and the other members' contributions "
        f"{data.cash(waterfall['from_survivors'])}"
    )
    losses = data.tables["default_losses"]
    survivors = losses[losses["role"] == "survivor"]
    if not survivors.empty:
        shares = [f"{m} {data.cash(int(v))}" for m, v in zip(survivors["member"], survivors["loss"], strict=True)]
        text += f" ({_list(shares)}, in proportion to what each put in)"
    unpaid = waterfall["unpaid"]
    text += (
        f"; {data.cash(unpaid)} is left unpaid, the survivors' claim on the defaulter."
        if unpaid
        else "; nothing is left unpaid."
    )
    return text + " Nobody outside the fund paid anything: no assessment, no third party."


def summary(data: ReportData) -> list[str]:
    """The summary's paragraphs, in order."""
    paragraphs = [headline(data), _what_happened(data), _who_lost_what(data)]
    if data.comparison is not None:
        paragraphs.append(data.comparison_sentence())
    dvps = data.tables["dvps"]
    if not dvps.empty:
        settled = int(dvps["delivered"].sum())
        failed = dvps[~dvps["delivered"]]
        reasons: dict[str, int] = {}
        for reason in failed["failure"]:
            key = str(reason) if reason else "not attempted"
            reasons[key] = reasons.get(key, 0) + 1
        why = _list([f"{n} {r}" for r, n in sorted(reasons.items())])
        paragraphs.append(
            f"Bond sales delivery-versus-payment: {len(dvps)} agreed, {settled} settled"
            + (f", {len(failed)} failed ({why}) and moved nothing" if len(failed) else "")
            + "; principal at risk: zero, both legs or neither."
        )
    netting = data.tables["netting"]
    for row in netting.itertuples(index=False):
        excluded = f", {row.excluded} excluded for not funding its debit" if row.excluded else ""
        paragraphs.append(
            f"Netting round {row.round_id}: {row.obligations} payments worth {data.cash(int(row.gross_value))} "
            f"settled by moving {data.cash(int(row.net_value))} ({float(row.compression_pct):.0f}% less){excluded}."
        )
    return paragraphs
