"""What a simulation came to, read back from the chain, in figures and in plain words.

:func:`summarize` reads the chain through :mod:`dfmi_py.api` (each default's waterfall, the
netting round, the cash supply) and the books (the trades' states, who is who), and takes from
the record only what the chain does not say (what the plan meant each DvP to do, the shock);
:func:`describe` turns it into the lines ``dfmi simulate`` prints.

Members are named as the regulator sees them: their identities are on the chain, encrypted to
the regulator's disclosure key, and the books (:class:`dfmi_py.books.Books`) open them with the
key the record names (:meth:`SimulationRecord.regulator_viewer_key`); the summary says so. Without
a key that opens them, the run's short names (``M01``) stand in, and it says that too.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dfmi_py.api.derivatives import TradeState
from dfmi_py.api.market import Market
from dfmi_py.api.waterfall import Waterfall
from dfmi_py.simulate.record import DEVNET_DISCLOSURE_KEY, SimulationRecord
from dfmi_py.units import format_units, from_units

if TYPE_CHECKING:
    from dfmi_py.books.books import Books

#: The gas line's kinds of work, by contract function (anything else is set-up).
_GAS_KINDS = {
    "PriceOracle.submit": "price reports",
    "DerivativeEngine.settleMany": "settlements and margin calls",
    "DerivativeEngine.declareDefault": "defaults and close-outs",
    "DerivativeEngine.propose": "opening trades",
    "DerivativeEngine.confirm": "opening trades",
}
_GAS_CONTRACTS = {"AtomicSettlement": "DvPs", "NettingEngine": "netting"}
_DEPLOYMENT = frozenset({"grantRole", "renounceRole", "addSubscriber", "configureMinter", "setConfig"})


def gas_kind(operation: str) -> str:
    """The kind of work an operation type (``Contract.function``) is, for the gas line."""
    if operation.startswith("deploy "):
        return "deployment"
    contract, _, function = operation.partition(".")
    if operation in _GAS_KINDS:
        return _GAS_KINDS[operation]
    if contract in _GAS_CONTRACTS:
        return _GAS_CONTRACTS[contract]
    return "deployment" if function in _DEPLOYMENT else "set-up (gas money, onboarding, cash, approvals, the fund)"


@dataclass(frozen=True)
class DefaulterLoss:
    """One defaulter's close-outs added up, tranche by tranche (from the chain's waterfalls)."""

    defaulter: str
    name: str
    trades: tuple[str, ...]
    loss: int
    from_im: int
    from_margin: int
    from_contribution: int
    from_survivors: int
    unpaid: int


@dataclass(frozen=True)
class Summary:
    """The run's outcome (see the module's text).

    Attributes:
        waterfalls: Every default's waterfall, in chain order.
        defaulters: Per defaulter, its close-outs added up.
        member_losses: What each member's fund balance lost to the defaults, by name.
        trade_states: Trades per state name, every market together.
        dvp_settled: DvPs that settled.
        dvp_failed: DvPs whose last attempt failed, per custom error.
        dvp_unattempted: DvPs never attempted.
        netting_gross: The netting round's gross value (0 without a round).
        netting_net: What moved net.
        netting_excluded: Names of the members excluded from it.
        transactions: Transactions mined in the run.
        gas: Their gas.
        total_supply: The cash token's supply at the end.
        gas_by_kind: Gas per kind of work (:func:`gas_kind`), dearest first.
        names: Each member's name as the regulator reads it (``legal name (M01)``), by address;
            the run's short name where its identity is not disclosed to the reader.
        disclosure: Whose eyes the names are seen through, in one line.
    """

    waterfalls: tuple[Waterfall, ...]
    defaulters: tuple[DefaulterLoss, ...]
    member_losses: dict[str, int]
    trade_states: dict[str, int]
    dvp_settled: int
    dvp_failed: dict[str, int]
    dvp_unattempted: int
    netting_gross: int
    netting_net: int
    netting_excluded: tuple[str, ...]
    transactions: int
    gas: int
    total_supply: int
    gas_by_kind: dict[str, int] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    disclosure: str = ""


def regulator_names(books: Books, record: SimulationRecord) -> tuple[dict[str, str], str]:
    """Each member's name as ``books``' reader sees it, by address, and how it is seen, in one line.

    Through the books' fund view (every member joined the fund): a disclosed member is
    ``legal name (M01)``, any other its short name (``M01``) from the record.
    """
    fund = books.fund()
    disclosed = {
        str(address): str(name)
        for address, name in zip(fund["member"], fund["member_name"], strict=True)
        if isinstance(name, str)
    }
    names = {}
    for m in record.members:
        legal = disclosed.get(m.address)
        names[m.address] = f"{legal} ({m.name})" if legal is not None else m.name
    opened = sum(1 for m in record.members if m.address in disclosed)
    note = str(fund.attrs.get("disclosure", ""))
    if opened and record.disclosure is not None:
        key = "the devnet regulator key" if record.disclosure.key == DEVNET_DISCLOSURE_KEY else "the regulator's key"
        seen = (
            f"Names as the regulator reads them: the members' identities are on the chain encrypted to the "
            f"regulator's disclosure key and to each member's own, opened here through the books with {key} "
            f"({note}); the public sees addresses only."
        )
    else:
        seen = f"Members by their short names: no identity is disclosed to this reader ({note or 'no key given'})."
    return names, seen


def summarize(market: Market, record: SimulationRecord, books: Books | None = None) -> Summary:
    """Read the outcome of the run ``record`` describes from ``market``'s chain.

    Args:
        market: The suite the run used.
        record: The run's record.
        books: The books to name members through (default: the suite's books read with the key
            the record names, :meth:`SimulationRecord.regulator_viewer_key`).
    """
    if books is None:
        from dfmi_py.books.books import Books  # pandas, on use

        books = Books(market, viewer_key=record.regulator_viewer_key())
    names, seen = regulator_names(books, record)

    def name_of(address: str) -> str:
        return names.get(address) or record.name_of(address)

    waterfalls = tuple(market.waterfalls(from_block=record.chain.first_block))
    by_defaulter: dict[str, list[Waterfall]] = {}
    member_losses: Counter[str] = Counter()
    for waterfall in waterfalls:
        by_defaulter.setdefault(waterfall.defaulter, []).append(waterfall)
        for member, lost in waterfall.member_losses.items():
            member_losses[name_of(member)] += lost
    defaulters = tuple(
        DefaulterLoss(
            defaulter=address,
            name=name_of(address),
            trades=tuple(f"{w.market} {w.trade_id}" for w in found),
            loss=sum(w.loss for w in found),
            from_im=sum(w.from_im for w in found),
            from_margin=sum(w.from_margin for w in found),
            from_contribution=sum(w.from_defaulter_contribution for w in found),
            from_survivors=sum(w.from_survivors for w in found),
            unpaid=sum(w.unpaid for w in found),
        )
        for address, found in by_defaulter.items()
    )
    positions = books.positions()
    rows = zip(positions["market"], positions["trade_id"], positions["state"], strict=True)
    state_of = {(str(m), int(i)): str(s) for m, i, s in rows}
    states: Counter[str] = Counter(state_of[(t.market, t.trade_id)] for t in record.trades)
    failed: Counter[str] = Counter()
    settled = unattempted = 0
    for dvp in record.dvps:
        if not dvp.attempts:
            unattempted += 1
        elif dvp.attempts[-1].settled:
            settled += 1
        else:
            failed[dvp.attempts[-1].error or "no known error"] += 1
    gross = net = 0
    excluded: tuple[str, ...] = ()
    if record.netting is not None:
        compression = market.netting.compression(record.netting.round_id)
        gross, net = compression.gross, compression.net
        excluded = tuple(name_of(a) for a in record.netting.excluded)
    gas_by_kind: Counter[str] = Counter()
    for action in record.actions:
        gas_by_kind[gas_kind(action.operation)] += action.gas_used
    return Summary(
        waterfalls=waterfalls,
        defaulters=defaulters,
        member_losses=dict(member_losses),
        trade_states=dict(sorted(states.items(), key=lambda item: TradeState[item[0]].value)),
        dvp_settled=settled,
        dvp_failed=dict(failed),
        dvp_unattempted=unattempted,
        netting_gross=gross,
        netting_net=net,
        netting_excluded=excluded,
        transactions=len(record.actions),
        gas=sum(a.gas_used for a in record.actions),
        total_supply=market.cash.total_supply(),
        gas_by_kind=dict(gas_by_kind.most_common()),
        names=names,
        disclosure=seen,
    )


def describe(summary: Summary, record: SimulationRecord) -> list[str]:
    """The run in plain words, a few lines."""
    unit, symbol = record.cash_decimals, record.cash_symbol

    def cash(units: int) -> str:
        return format_units(units, unit, symbol)

    markets = ", ".join(m.name for m in record.markets)
    lines = [
        f"A day of {len(record.rounds) - 1} rounds in {len(record.markets)} markets ({markets}): "
        f"{len(record.members)} members, {len(record.trades)} forwards, seed {record.seed}."
    ]
    if summary.disclosure:
        lines.append(summary.disclosure)
    for m in record.markets:
        if m.shock_round is None:
            continue
        before = next(p.price for p in record.prices if p.market == m.name and p.round == m.shock_round - 1)
        after = next(p.price for p in record.prices if p.market == m.name and p.round == m.shock_round)
        lines.append(
            f"{m.name} moved {m.shock_bps / 100:+.1f}% in round {m.shock_round} "
            f"({from_units(before, m.decimals):f} to {from_units(after, m.decimals):f})."
        )
    if not summary.defaulters:
        lines.append("Nobody defaulted: every margin call was paid (or none was made).")
    for d in summary.defaulters:
        rounds = sorted({x.round for x in record.defaults if x.defaulter == d.defaulter})
        when = ", ".join(str(r) for r in rounds)
        lines.append(
            f"{d.name} could not pay its margin calls and was declared in default on {len(d.trades)} "
            f"trade{'s' if len(d.trades) != 1 else ''} (round {when}). What it owed, {cash(d.loss)}, was paid by "
            f"its initial margin {cash(d.from_im)}, its margin account {cash(d.from_margin)}, its fund "
            f"contribution {cash(d.from_contribution)} and the other members' contributions "
            f"{cash(d.from_survivors)}; left unpaid: {cash(d.unpaid)}."
        )
    survivors = {
        name: lost for name, lost in summary.member_losses.items() if name not in {d.name for d in summary.defaulters}
    }
    if survivors:
        shown = ", ".join(f"{name} {cash(lost)}" for name, lost in sorted(survivors.items()))
        lines.append(f"The survivors' fund balances paid, pro rata: {shown}.")
    failed = sum(summary.dvp_failed.values())
    reasons = ", ".join(f"{count} {error}" for error, count in summary.dvp_failed.items())
    lines.append(
        f"DvPs: {len(record.dvps)} agreed, {summary.dvp_settled} settled, {failed} failed and moved nothing"
        + (f" ({reasons})" if reasons else "")
        + "; principal at risk: none (both legs or neither)."
    )
    if record.netting is not None:
        saved = 0.0 if summary.netting_gross == 0 else 1 - summary.netting_net / summary.netting_gross
        excluded = ", ".join(summary.netting_excluded) or "nobody"
        lines.append(
            f"Netting: {len(record.netting.obligations)} payments of {cash(summary.netting_gross)} settled by moving "
            f"{cash(summary.netting_net)} ({saved:.0%} less); excluded: {excluded}."
        )
    kinds = ", ".join(f"{kind} {gas:,}" for kind, gas in summary.gas_by_kind.items())
    lines.append(f"Gas: {summary.transactions:,} transactions, {summary.gas:,} in all ({kinds}).")
    states = ", ".join(f"{count} {state.lower().replace('_', ' ')}" for state, count in summary.trade_states.items())
    lines.append(f"Trades at the end: {states}. Cash in circulation: {cash(summary.total_supply)}.")
    return lines
