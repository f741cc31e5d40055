"""Every table the report shows, gathered from the books, the record and the comparison.

The report's figures come from the chain through the books (:class:`dfmi_py.books.Books`: the
oracle rounds, every margin flow, the margin calls, each default's waterfall and what it took from
each member, the fund, the DvP instructions, the netting round); the record adds only what the
chain does not say (who is who, which round each block belongs to, what the plan meant each DvP
to do, the gas of every transaction), and the comparison (:mod:`dfmi_py.simulate.ccp`) the CCP
counterfactual beside the dFMI replay.

Every table is a DataFrame whose amounts are integers in the cash token's smallest unit (prices in
the feed's integers, times in Unix seconds), written to CSV as they are: two runs with the same
seed write the same tables. :data:`CASH_COLUMNS` names the columns shown as cash amounts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd  # type: ignore[import-untyped]

from dfmi_py.books import Books
from dfmi_py.risk.backtest import BacktestReport, BreachCount, TradeMargin, VmFlow, backtest, kupiec
from dfmi_py.simulate.capacity import ChainLimits, ChainSpec, GasProfile, GridPoint, Workload, capacity, chain_limits
from dfmi_py.simulate.ccp import CcpAssumptions, Comparison
from dfmi_py.simulate.compare import comparison_of
from dfmi_py.simulate.exposure import settlement_exposures
from dfmi_py.simulate.gas_profile import measured_profile
from dfmi_py.simulate.record import SimulationRecord
from dfmi_py.simulate.run import SimulationResult
from dfmi_py.simulate.summary import gas_kind

__all__ = [
    "CASH_COLUMNS",
    "TABLES",
    "ReportData",
    "Scale",
    "comparison_for",
    "gather",
]

#: Columns holding cash amounts (the HTML shows them in whole tokens), in any table.
CASH_COLUMNS = frozenset(
    {
        "contribution",
        "im_posted",
        "wallet",
        "paid",
        "received",
        "net",
        "cumulative_net",
        "before",
        "after",
        "loss",
        "from_im",
        "from_margin",
        "from_defaulter_contribution",
        "from_survivors",
        "unpaid",
        "amount",
        "contributed",
        "balance",
        "exposure_peak_dfmi",
        "exposure_peak_ccp",
        "exposure_at_default_dfmi",
        "exposure_at_default_ccp",
        "loss_dfmi",
        "loss_ccp",
        "fund_loss_dfmi",
        "fund_loss_ccp",
        "assessment_ccp",
        "unpaid_claim_dfmi",
        "im_dfmi",
        "im_ccp",
        "worst_excess",
        "cash",
        "principal_at_risk",
        "gross_value",
        "net_value",
        "saved",
    }
)

#: The tables, in the order the report shows them: file stem -> title.
TABLES = {
    "members": "Members",
    "prices": "Price paths and oracle rounds",
    "vm": "Variation margin paid and received, per member and round",
    "exposure": "Exposure per member before and after each settlement",
    "closeouts": "Close-outs and their waterfalls",
    "waterfall": "The waterfall, tranche by tranche",
    "default_losses": "What each member's fund balance lost",
    "comparison": "dFMI and a CCP side by side, per member",
    "comparison_tranches": "Both waterfalls, tranche by tranche",
    "im": "Initial margin under each model",
    "backtest": "Backtest of the initial margin against the variation margin settled",
    "dvps": "Delivery-versus-payment instructions",
    "netting": "Netting rounds",
    "gas": "Gas per operation type",
    "capacity": "Scale, on paper: capacity of one chain",
}


@dataclass(frozen=True)
class Scale:
    """The capacity section: the gas measured in the run, the chain, its limits and the grid."""

    profile: GasProfile
    workload: Workload
    chain: ChainSpec
    limits: ChainLimits
    points: tuple[GridPoint, ...]
    #: Which of the profile's figures the run measured (the rest are bench/results' figures).
    measured: tuple[str, ...]


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows.

    Attributes:
        record: The run's record.
        names: Address -> the name the report gives it (a member's ``M01``, a role).
        legal_names: Address -> legal name, where the books disclosed it to this reader.
        disclosure: The books' one line on what this reader sees of identities.
        tables: The tables (:data:`TABLES` order), amounts in cash units.
        comparison: The CCP counterfactual beside the dFMI replay (``None``: nobody defaulted).
        scale: The capacity section.
        head_block: The block the books were read at.
        settlements: Trade settlements the keeper made (the books' variation-margin flows).
    """

    record: SimulationRecord
    names: Mapping[str, str]
    legal_names: Mapping[str, str]
    disclosure: str
    tables: Mapping[str, pd.DataFrame]
    comparison: Comparison | None
    scale: Scale
    head_block: int
    settlements: int

    def name(self, address: str) -> str:
        """The report's name for ``address``."""
        return self.names.get(address, self.record.name_of(address))

    def cash(self, units: int) -> str:
        """An amount in cash tokens to the cent, with the symbol (the tables hold the exact units)."""
        return f"{units / 10**self.record.cash_decimals:,.2f} {self.record.cash_symbol}"

    def comparison_sentence(self) -> str:
        """The comparison in one sentence, members by name (``""`` without a comparison)."""
        if self.comparison is None:
            return ""
        text = self.comparison.summary(self.record.cash_decimals, self.record.cash_symbol)
        for address, name in self.names.items():
            text = text.replace(address, name)
        return text


def _seconds(value: Any) -> int | None:
    """A view's time (a pandas Timestamp, ``NaT`` for none) as Unix seconds."""
    if value is None or pd.isna(value):
        return None
    return int(pd.Timestamp(value).timestamp())


def _int(value: Any) -> int:
    return 0 if value is None or pd.isna(value) else int(value)


# ---------------------------------------------------------------------- the comparison


def comparison_for(
    result: SimulationResult, books: Books, assumptions: CcpAssumptions | None = None
) -> Comparison | None:
    """The CCP counterfactual of this run beside the dFMI replay
    (:func:`dfmi_py.simulate.compare.comparison_of`); ``None`` when nobody defaulted."""
    if books.defaults().empty:
        return None
    return comparison_of(result, books, assumptions)


# ---------------------------------------------------------------------- gas and capacity


#: The capacity grid: members, live trades, underlyings, rounds a day.
GRID_MEMBERS = (8, 50, 200, 1_000)
GRID_TRADES = (1_000, 10_000, 100_000, 1_000_000)
GRID_ROUNDS = (24, 96, 288)


def _scale(record: SimulationRecord, block_seconds: float) -> Scale:
    found = measured_profile(record)
    profile = found.profile
    measured = tuple(name for name, source in found.sources.items() if source != "benchmark")
    workload = Workload()  # the assumed day of bench/results/capacity.md
    chain = ChainSpec(block_seconds=block_seconds)
    underlyings = sorted({1, len(record.markets), 10})
    points = tuple(
        capacity(m, t, u, r, profile, workload, chain)
        for m in GRID_MEMBERS
        for t in GRID_TRADES
        for u in underlyings
        for r in GRID_ROUNDS
    )
    return Scale(profile, workload, chain, chain_limits(profile, chain), points, measured)


# ---------------------------------------------------------------------- the tables


def _members(record: SimulationRecord, fund: pd.DataFrame, legal: Mapping[str, str]) -> pd.DataFrame:
    contributed = {str(m): int(c) for m, c in zip(fund["member"], fund["contributed"], strict=True)}
    rows = [
        {
            "member": m.name,
            "address": m.address,
            "legal_name": legal.get(m.address, ""),
            "defaulter": m.defaulter,
            "contribution": contributed.get(m.address, 0),
            "im_posted": m.im,
            "wallet": m.wallet,
        }
        for m in record.members
    ]
    return pd.DataFrame(rows)


def _prices(record: SimulationRecord, rounds: pd.DataFrame) -> pd.DataFrame:
    made = {(o.market, o.oracle_round): o.round for o in record.oracle_rounds if o.oracle_round is not None}
    planned = {(p.market, p.round): p for p in record.prices if p.round >= 0}
    rows = []
    for row in rounds.itertuples(index=False):
        day_round = made.get((str(row.market), int(row.round_id)))
        plan = planned.get((str(row.market), day_round)) if day_round is not None else None
        rows.append(
            {
                "market": str(row.market),
                "round": day_round,
                "oracle_round": int(row.round_id),
                "updated_at": _seconds(row.updated_at),
                "answer": int(row.answer),
                "submissions": int(row.submissions),
                "generated": plan.price if plan is not None else None,
                "shock": bool(plan.shock) if plan is not None else False,
            }
        )
    frame = pd.DataFrame(rows)
    frame["round"] = frame["round"].astype("Int64")
    frame["generated"] = frame["generated"].astype(object)
    return frame


def _flows(record: SimulationRecord, flows: pd.DataFrame) -> list[dict[str, Any]]:
    """The margin flows with their day's round, as plain rows."""
    out = []
    for row in flows.itertuples(index=False):
        out.append(
            {
                "market": str(row.market),
                "trade_id": int(row.trade_id),
                "kind": str(row.kind),
                "round": record.round_of_block(int(row.block)),
                "payer": None if pd.isna(row.payer) else str(row.payer),
                "receiver": None if pd.isna(row.receiver) else str(row.receiver),
                "paid": _int(row.paid),
                "owed": _int(row.owed),
            }
        )
    return out


def _vm(record: SimulationRecord, flows: Sequence[Mapping[str, Any]], names: Mapping[str, str]) -> pd.DataFrame:
    members = [m.address for m in record.members]
    day = [r.round for r in record.rounds]
    paid = {(a, r): 0 for a in members for r in day}
    received = dict(paid)
    for f in flows:
        if f["round"] is None or f["payer"] is None:
            continue
        paid[(f["payer"], f["round"])] += f["paid"]
        received[(f["receiver"], f["round"])] += f["paid"]
    times = {r.round: r.time for r in record.rounds}
    rows = []
    for a in members:
        running = 0
        for r in day:
            net = received[(a, r)] - paid[(a, r)]
            running += net
            rows.append(
                {
                    "round": r,
                    "time": times[r],
                    "member": names[a],
                    "paid": paid[(a, r)],
                    "received": received[(a, r)],
                    "net": net,
                    "cumulative_net": running,
                }
            )
    return pd.DataFrame(rows)


def _exposure(record: SimulationRecord, books: Books, names: Mapping[str, str]) -> pd.DataFrame:
    """Per member and round: what it was owed (positive) or owed (negative) just before the round's
    settlement and what was left just after (:func:`dfmi_py.simulate.exposure.settlement_exposures`)."""
    found = settlement_exposures(record, books)
    return pd.DataFrame(
        {
            "round": [int(r) for r in found["round"]],
            "time": [_seconds(t) for t in found["time"]],
            "member": [names.get(str(m), str(m)) for m in found["member"]],
            "before": [int(v) for v in found["before"]],
            "after": [int(v) for v in found["after"]],
        }
    )


def _closeouts(record: SimulationRecord, defaults: pd.DataFrame, names: Mapping[str, str]) -> pd.DataFrame:
    rows = [
        {
            "market": str(row.market),
            "trade_id": int(row.trade_id),
            "kind": str(row.kind),
            "round": record.round_of_block(int(row.block)),
            "block": int(row.block),
            "defaulter": names.get(str(row.defaulter), str(row.defaulter)),
            "survivor": names.get(str(row.survivor), str(row.survivor)),
            "loss": int(row.loss),
            "from_im": int(row.from_im),
            "from_margin": int(row.from_margin),
            "from_defaulter_contribution": int(row.from_defaulter_contribution),
            "from_survivors": int(row.from_survivors),
            "unpaid": int(row.unpaid),
            "fund_claim": str(row.fund_claim),
            "tx_hash": str(row.tx_hash),
        }
        for row in defaults.itertuples(index=False)
    ]
    columns = ["market", "trade_id", "kind", "round", "block", "defaulter", "survivor", "loss", "from_im"]
    columns += ["from_margin", "from_defaulter_contribution", "from_survivors", "unpaid", "fund_claim", "tx_hash"]
    return pd.DataFrame(rows, columns=columns)


#: The dFMI waterfall's tranches: the books' column -> the report's words.
WATERFALL_TRANCHES = {
    "from_im": "the defaulter's initial margin",
    "from_margin": "the defaulter's margin account",
    "from_defaulter_contribution": "the defaulter's fund contribution",
    "from_survivors": "the other members' contributions, pro rata",
    "unpaid": "left unpaid: the survivors' claim on the defaulter",
}


def _waterfall(closeouts: pd.DataFrame) -> pd.DataFrame:
    rows = [{"tranche": "owed by the defaulter", "column": "loss", "amount": int(closeouts["loss"].sum())}]
    rows += [
        {"tranche": words, "column": column, "amount": int(closeouts[column].sum())}
        for column, words in WATERFALL_TRANCHES.items()
    ]
    return pd.DataFrame(rows)


def _default_losses(losses: pd.DataFrame, fund: pd.DataFrame, names: Mapping[str, str]) -> pd.DataFrame:
    by: dict[tuple[str, str], int] = {}
    for row in losses.itertuples(index=False):
        key = (str(row.member), str(row.role))
        by[key] = by.get(key, 0) + int(row.loss)
    contributed = {str(m): int(c) for m, c in zip(fund["member"], fund["contributed"], strict=True)}
    balance = {str(m): int(b) for m, b in zip(fund["member"], fund["balance"], strict=True)}
    rows = [
        {
            "member": names.get(member, member),
            "role": role,
            "loss": loss,
            "contributed": contributed.get(member, 0),
            "balance": balance.get(member, 0),
        }
        for (member, role), loss in sorted(by.items(), key=lambda item: (item[0][1], names.get(item[0][0], "")))
    ]
    return pd.DataFrame(rows, columns=["member", "role", "loss", "contributed", "balance"])


def _comparison_tables(
    comparison: Comparison | None, names: Mapping[str, str]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    if comparison is None:
        empty = pd.DataFrame()
        return empty, empty, empty
    rows = []
    im_rows = []
    for d, c in zip(comparison.dfmi.members, comparison.ccp.members, strict=True):
        rows.append(
            {
                "member": names.get(d.member, d.member),
                "defaulter": d.defaulter,
                "exposure_peak_dfmi": d.exposure_peak,
                "exposure_peak_ccp": c.exposure_peak,
                "exposure_at_default_dfmi": d.exposure_at_default,
                "exposure_at_default_ccp": c.exposure_at_default,
                "loss_dfmi": d.loss,
                "loss_ccp": c.loss,
                "fund_loss_dfmi": d.fund_loss,
                "fund_loss_ccp": c.fund_loss,
                "assessment_ccp": c.assessment,
                "unpaid_claim_dfmi": d.unpaid_claim,
            }
        )
        im_rows.append({"member": names.get(d.member, d.member), "im_dfmi": d.im_required, "im_ccp": c.im_required})
    tranches = [
        {"model": outcome.model, "tranche": t.name, "amount": t.amount}
        for outcome in (comparison.dfmi, comparison.ccp)
        for t in outcome.tranches
    ]
    return pd.DataFrame(rows), pd.DataFrame(tranches), pd.DataFrame(im_rows)


def _im_without_comparison(record: SimulationRecord, names: Mapping[str, str]) -> pd.DataFrame:
    return pd.DataFrame([{"member": names[m.address], "im_dfmi": m.im, "im_ccp": None} for m in record.members])


def backtest_from_books(
    record: SimulationRecord, positions: pd.DataFrame, flows: pd.DataFrame, mpor_seconds: int, confidence: float
) -> tuple[BacktestReport, dict[str, BacktestReport]]:
    """The IM backtest (:func:`dfmi_py.risk.backtest.backtest`) from the books, market by market
    (trade ids are per market), and the markets added up (Kupiec's test over every side-window).

    Each trade holds the IMs it was confirmed with (the run amends none) from its confirmation to
    its end (one second after the books' head while it lives); its marks are every settlement's
    and every maturity's variation margin, paid or owed.
    """
    now = int(positions.attrs["time"])  # the books' head
    opened = {(t.market, t.trade_id): t for t in record.trades}
    per_market: dict[str, BacktestReport] = {}
    for market in dict.fromkeys(str(m) for m in positions["market"]):
        trades = []
        for row in positions[positions["market"] == market].itertuples(index=False):
            start = _seconds(row.confirmed_at)
            if start is None:
                continue
            end = _seconds(row.closed_at)
            t = opened[(market, int(row.trade_id))]
            trades.append(
                TradeMargin(
                    int(row.trade_id),
                    market,
                    str(row.buyer),
                    str(row.seller),
                    t.buyer_im,
                    t.seller_im,
                    start,
                    (end if end is not None else now) + 1,
                )
            )
        mine = flows[(flows["market"] == market) & flows["kind"].isin(["variation_margin", "final"])]
        marks = [
            VmFlow(int(row.trade_id), _seconds(row.time) or 0, int(row.vm_to_buyer), market)
            for row in mine.itertuples(index=False)
        ]
        per_market[market] = backtest(trades, marks, mpor_seconds, confidence)
    total = BreachCount()
    by_member: dict[str, BreachCount] = {}
    by_market: dict[str, BreachCount] = {}
    for market, report in per_market.items():
        total = _added(total, report.total)
        by_market[market] = report.total
        for member, count in report.by_member.items():
            by_member[member] = _added(by_member.get(member, BreachCount()), count)
    combined = BacktestReport(
        confidence,
        total,
        by_member=by_member,
        by_market=by_market,
        kupiec=kupiec(total.observations, total.breaches, confidence) if total.observations else None,
    )
    return combined, per_market


def _added(a: BreachCount, b: BreachCount) -> BreachCount:
    return BreachCount(a.observations + b.observations, a.breaches + b.breaches, max(a.worst_excess, b.worst_excess))


def _by_name(counts: Mapping[str, BreachCount], names: Mapping[str, str]) -> list[tuple[str, BreachCount]]:
    return sorted(counts.items(), key=lambda item: names.get(item[0], item[0]))


def _backtest_table(report: BacktestReport, names: Mapping[str, str]) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    groups: Iterable[tuple[str, Mapping[str, BreachCount]]] = (
        ("all", {"every market": report.total}),
        ("market", report.by_market),
        ("member", {names.get(k, k): v for k, v in _by_name(report.by_member, names)}),
    )
    for level, counts in groups:
        for key, count in counts.items():
            test = count.kupiec(report.confidence)
            rows.append(
                {
                    "level": level,
                    "key": key,
                    "observations": count.observations,
                    "breaches": count.breaches,
                    "worst_excess": count.worst_excess,
                    "kupiec_p_value": None if test is None else round(test.p_value, 6),
                }
            )
    return pd.DataFrame(rows)


def _dvps(record: SimulationRecord, instructions: pd.DataFrame, names: Mapping[str, str]) -> pd.DataFrame:
    planned = {d.id: d for d in record.dvps}
    rows = []
    for row in instructions.itertuples(index=False):
        plan = planned.get(str(row.id))
        reason = None if pd.isna(row.failure_reason) else str(row.failure_reason).split("(", 1)[0]
        settled = str(row.outcome) in ("settled", "settled_netted")
        rows.append(
            {
                "number": plan.number if plan is not None else None,
                "planned": plan.kind if plan is not None else None,
                "round": plan.round if plan is not None else None,
                "seller": names.get(str(row.party_a), str(row.party_a)),
                "buyer": names.get(str(row.party_b), str(row.party_b)),
                "bonds": _int(row.amount_a),
                "cash": _int(row.amount_b),
                "state": str(row.state),
                "outcome": str(row.outcome),
                "failure": reason,
                "failures": int(row.failures),
                # Both legs in one transaction or neither: a settled DvP delivered both, a failed
                # one moved nothing. What one side delivered without the other's leg is zero.
                "principal_at_risk": 0,
                "delivered": settled,
            }
        )
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame = frame.sort_values("number", kind="stable").reset_index(drop=True)
        frame["number"] = frame["number"].astype("Int64")
        frame["round"] = frame["round"].astype("Int64")
    return frame


def _netting(rounds: pd.DataFrame, names: Mapping[str, str]) -> pd.DataFrame:
    rows = []
    for row in rounds.itertuples(index=False):
        excluded = "" if pd.isna(row.excluded_members) else str(row.excluded_members)
        rows.append(
            {
                "round_id": int(row.round_id),
                "state": str(row.state),
                "members": int(row.members),
                "obligations": int(row.obligations),
                "gross_value": int(row.gross_value),
                "net_value": int(row.net_value),
                "saved": int(row.saved),
                "compression_pct": round(float(row.compression_pct), 4),
                "excluded": ";".join(names.get(a, a) for a in excluded.split(";") if a),
            }
        )
    return pd.DataFrame(rows)


def _gas(record: SimulationRecord) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "operation": row.operation,
                "kind": gas_kind(row.operation),
                "transactions": row.transactions,
                "gas_total": row.gas_total,
                "gas_mean": row.gas_mean,
                "gas_min": row.gas_min,
                "gas_max": row.gas_max,
            }
            for row in record.gas_by_operation()
        ]
    )


def _capacity(scale: Scale) -> pd.DataFrame:
    return pd.DataFrame([p.record() for p in scale.points])


# ---------------------------------------------------------------------- gathering


def _names(record: SimulationRecord) -> dict[str, str]:
    names = {p.address: p.role for p in record.participants}
    names.update({m.address: m.name for m in record.members})
    return names


def _legal_names(fund: pd.DataFrame) -> dict[str, str]:
    """Legal names the books disclosed to this reader (none without the regulator's key)."""
    if "member_name" not in fund.columns:
        return {}
    return {str(m): str(n) for m, n in zip(fund["member"], fund["member_name"], strict=True) if not pd.isna(n)}


def gather(
    result: SimulationResult,
    books: Books,
    comparison: Comparison | None = None,
    *,
    block_seconds: float = 2.0,
) -> ReportData:
    """Every table of the report, from the books (read once), the record and the comparison.

    Args:
        result: The finished run.
        books: The run's books (a regulator's key shows legal names).
        comparison: The CCP counterfactual; ``None``: built with :func:`comparison_for`.
        block_seconds: The block time of the chain the capacity section sizes.
    """
    record = result.record
    views = books.all()
    head = int(views["positions"].attrs.get("block", 0))
    names = _names(record)
    legal = _legal_names(views["fund"])
    if comparison is None:
        comparison = comparison_for(result, books)
    flows = _flows(record, views["margin_flows"])
    closeouts = _closeouts(record, views["defaults"], names)
    compared, tranches, im = _comparison_tables(comparison, names)
    if comparison is None:
        im = _im_without_comparison(record, names)
    margin = record.config.get("margin", {})
    report, _ = backtest_from_books(
        record,
        views["positions"],
        views["margin_flows"],
        int(margin.get("mpor", 7_200)),
        float(margin.get("confidence", 0.99)),
    )
    scale = _scale(record, block_seconds)
    tables = {
        "members": _members(record, views["fund"], legal),
        "prices": _prices(record, views["oracle_rounds"]),
        "vm": _vm(record, flows, names),
        "exposure": _exposure(record, books, names),
        "closeouts": closeouts,
        "waterfall": _waterfall(closeouts),
        "default_losses": _default_losses(views["default_losses"], views["fund"], names),
        "comparison": compared,
        "comparison_tranches": tranches,
        "im": im,
        "backtest": _backtest_table(report, names),
        "dvps": _dvps(record, views["instructions"], names),
        "netting": _netting(views["netting_rounds"], names),
        "gas": _gas(record),
        "capacity": _capacity(scale),
    }
    return ReportData(
        record=record,
        names=names,
        legal_names=legal,
        disclosure=str(views["fund"].attrs.get("disclosure", "")),
        tables=tables,
        comparison=comparison,
        scale=scale,
        head_block=head,
        settlements=sum(1 for f in flows if f["kind"] == "variation_margin"),
    )
