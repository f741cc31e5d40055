"""The books' views as pandas DataFrames: pure functions of the events and a small snapshot.

Each view function takes what :func:`dfmi_py.books.replay.replay` rebuilt from a ledger's events
(or the events themselves), a :class:`~dfmi_py.books.snapshot.Snapshot` of view reads at the
ledger's head, and the reader's :class:`~dfmi_py.identity.disclosure.Disclosure`, and returns a
DataFrame with exactly the columns and dtypes :mod:`dfmi_py.books.columns` lists (amounts as
exact Python ints, times as UTC datetimes, every party column with its ``_lei`` and ``_name``
companions). No view reads the chain.

Every DataFrame's ``attrs`` carry: ``view`` (its name), ``block`` and ``time`` (the head it was
built at), ``disclosure`` (what the reader sees of identities, one line), ``cash_symbol``,
``cash_decimals``, ``price_decimals`` (per market) and ``token_decimals`` (per token symbol), so
values can be shown in whole units.
:func:`write_csv` / :func:`read_csv` round-trip a view through CSV with its dtypes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]

from dfmi_py.api.derivatives import Side
from dfmi_py.api.settlement import InstructionState
from dfmi_py.api.waterfall import Declared, Waterfall, match_draws
from dfmi_py.books import columns as cols
from dfmi_py.books.columns import VIEWS, View
from dfmi_py.books.ledger import LedgerEvent
from dfmi_py.books.replay import InstructionRecord, Replay, TradeRecord, replay
from dfmi_py.books.snapshot import Snapshot
from dfmi_py.errors import InputError
from dfmi_py.identity.disclosure import Disclosure

Events = Sequence[LedgerEvent] | Replay


def _state(events: Events, snapshot: Snapshot) -> Replay:
    return events if isinstance(events, Replay) else replay(events, list(snapshot.markets))


# ---------------------------------------------------------------------- building a frame


class _Rows:
    """A view's rows, column by column."""

    def __init__(self, view: View) -> None:
        self.view = view
        self.data: dict[str, list[Any]] = {c.name: [] for c in view.columns}

    def add(self, **values: Any) -> None:
        for name, column in self.data.items():
            column.append(values[name])


def _frame(rows: _Rows, snapshot: Snapshot, disclosure: Disclosure | None) -> pd.DataFrame:
    """The DataFrame of ``rows``: dtypes from the view's columns, party companions, attrs."""
    view = rows.view
    shown = disclosure or Disclosure()
    data: dict[str, Any] = {}
    for column in view.columns:
        values = rows.data[column.name]
        data[column.name] = _typed(values, column.dtype)
        if column.party:
            identities = {a: shown.identity(a) for a in set(values) if a is not None}
            data[f"{column.name}_lei"] = pd.array(
                [None if (i := identities.get(a)) is None else i.lei for a in values], dtype=cols.STR
            )
            data[f"{column.name}_name"] = pd.array(
                [None if (i := identities.get(a)) is None else i.legal_name for a in values], dtype=cols.STR
            )
    frame = pd.DataFrame(data, columns=view.names())
    frame.attrs.update(
        view=view.name,
        block=snapshot.block,
        time=snapshot.timestamp,
        disclosure=shown.note,
        cash_symbol=snapshot.cash.symbol,
        cash_decimals=snapshot.cash.decimals,
        price_decimals={name: m.decimals for name, m in snapshot.markets.items()},
        token_decimals={t.symbol: t.decimals for t in (snapshot.cash, snapshot.constants.security) if t is not None},
    )
    return frame


def _typed(values: list[Any], dtype: str) -> Any:
    if dtype == cols.INT:
        return np.array(values, dtype=np.int64)
    if dtype == cols.NULLABLE_INT:
        return pd.array(values, dtype=cols.NULLABLE_INT)
    if dtype == cols.TIME:
        return _times(values)
    if dtype == cols.STR:
        return pd.array(values, dtype=cols.STR)
    if dtype == cols.BOOL:
        return np.array(values, dtype=bool)
    if dtype == cols.FLOAT:
        return np.array(values, dtype=np.float64)
    series = np.empty(len(values), dtype=object)
    series[:] = values
    return series


def _times(seconds: Sequence[int | None]) -> Any:
    """Unix seconds (or ``None``) as UTC datetimes (``NaT``)."""
    return pd.to_datetime(pd.array(seconds, dtype=cols.NULLABLE_INT), unit="s", utc=True).astype(cols.TIME)


def _markets(state: Replay, market: str | None) -> list[str]:
    if market is None:
        return list(state.markets)
    if market not in state.markets:
        raise InputError(f"no market {market!r}: the books have {', '.join(state.markets) or 'none'}")
    return [market]


# ---------------------------------------------------------------------- derivatives


def mark_to_market(trade: TradeRecord, latest_price: int | None, value_scale: int) -> int | None:
    """The change in the buyer's value from the trade's last settled price to ``latest_price``,
    as the engine computes variation margin (``q * p / scale``, rounded down, each side);
    ``None`` for a trade that no longer settles or a market without a price."""
    if not trade.open or latest_price is None or value_scale == 0:
        return None
    return trade.quantity * latest_price // value_scale - trade.quantity * trade.last_price // value_scale


def positions(
    events: Events, snapshot: Snapshot, disclosure: Disclosure | None = None, market: str | None = None
) -> pd.DataFrame:
    """Every trade of every market (or of ``market``): see :data:`dfmi_py.books.columns.POSITIONS`."""
    state = _state(events, snapshot)
    rows = _Rows(VIEWS["positions"])
    for name in _markets(state, market):
        book = state.markets[name]
        latest = book.latest_round()
        scale = snapshot.markets[name].value_scale if name in snapshot.markets else 0
        for t in book.trades.values():
            rows.add(
                market=name,
                trade_id=t.trade_id,
                buyer=t.buyer,
                seller=t.seller,
                state=t.state.name,
                quantity=t.quantity,
                contract_price=t.contract_price,
                maturity=t.maturity,
                proposed_block=t.proposed_block,
                proposed_at=t.proposed_at,
                confirmed_block=t.confirmed_block,
                confirmed_at=t.confirmed_at,
                closed_block=t.closed_block,
                closed_at=t.closed_at,
                last_round=t.last_round,
                last_price=t.last_price,
                latest_round=None if latest is None else latest.round_id,
                latest_price=None if latest is None else latest.answer,
                mtm_to_buyer=mark_to_market(t, None if latest is None else latest.answer, scale),
                debtor=t.party(t.debtor),
                debt=t.debt,
                cure_deadline=t.cure_deadline or None,
                buyer_im=t.buyer_im,
                seller_im=t.seller_im,
                nonce=t.nonce,
                settlements=t.settlements,
                unpaid_claim=t.unpaid_claim,
                fund_claim_pending=t.fund_claim_pending,
            )
    return _frame(rows, snapshot, disclosure)


def exposure(
    events: Events, snapshot: Snapshot, disclosure: Disclosure | None = None, market: str | None = None
) -> pd.DataFrame:
    """Each member's exposure, margins and payments: see :data:`dfmi_py.books.columns.EXPOSURE`."""
    state = _state(events, snapshot)
    chosen = _markets(state, market)
    figures: dict[str, dict[str, int]] = {}

    def of(member: str) -> dict[str, int]:
        found = figures.get(member)
        if found is None:
            found = figures[member] = dict.fromkeys(
                ("open_trades", "mtm", "vm_owed", "vm_due", "im_held", "margin_account", "vm_paid", "vm_received"), 0
            )
        return found

    if market is None:
        for member in state.parties:
            of(member)
    for name in chosen:
        book = state.markets[name]
        latest = book.latest_round()
        scale = snapshot.markets[name].value_scale if name in snapshot.markets else 0
        for t in book.trades.values():
            buyer, seller = of(t.buyer), of(t.seller)
            if not t.open:
                continue
            buyer["open_trades"] += 1
            seller["open_trades"] += 1
            mtm = mark_to_market(t, None if latest is None else latest.answer, scale) or 0
            buyer["mtm"] += mtm
            seller["mtm"] -= mtm
            buyer["im_held"] += t.buyer_im
            seller["im_held"] += t.seller_im
            if t.debtor != Side.NONE:
                debtor, creditor = (buyer, seller) if t.debtor == Side.BUYER else (seller, buyer)
                debtor["vm_owed"] += t.debt
                creditor["vm_due"] += t.debt
        for flow in book.flows:
            if flow.payer is not None and flow.receiver is not None and flow.paid:
                of(flow.payer)["vm_paid"] += flow.paid
                of(flow.receiver)["vm_received"] += flow.paid
    for name in chosen:
        for party, amount in state.markets[name].margin.items():
            if amount:
                of(party)["margin_account"] += amount
    rows = _Rows(VIEWS["exposure"])
    fund = state.fund
    for member, f in figures.items():
        is_member = member in fund.members
        view = snapshot.members.get(member)
        rows.add(
            member=member,
            exposure=f["mtm"] + f["vm_due"] - f["vm_owed"],
            fund_balance=fund.books.balance_of(member) if is_member else None,
            fund_requirement=view.requirement if view is not None else None,
            **f,
        )
    return _frame(rows, snapshot, disclosure)


def margin_flows(
    events: Events, snapshot: Snapshot, disclosure: Disclosure | None = None, market: str | None = None
) -> pd.DataFrame:
    """Every payment between the parties of a trade: see :data:`dfmi_py.books.columns.MARGIN_FLOWS`."""
    state = _state(events, snapshot)
    rows = _Rows(VIEWS["margin_flows"])
    flows = [flow for name in _markets(state, market) for flow in state.markets[name].flows]
    flows.sort(key=lambda flow: (flow.block, flow.log_index))
    for flow in flows:
        rows.add(
            market=flow.market,
            trade_id=flow.trade_id,
            kind=flow.kind,
            block=flow.block,
            time=flow.timestamp,
            tx_hash=flow.tx_hash,
            log_index=flow.log_index,
            round_id=flow.round_id,
            price=flow.price,
            vm_to_buyer=flow.vm_to_buyer,
            payer=flow.payer,
            receiver=flow.receiver,
            paid=flow.paid,
            owed=flow.owed,
        )
    return _frame(rows, snapshot, disclosure)


def margin_calls(
    events: Events, snapshot: Snapshot, disclosure: Disclosure | None = None, market: str | None = None
) -> pd.DataFrame:
    """Every margin call and its outcome: see :data:`dfmi_py.books.columns.MARGIN_CALLS`."""
    state = _state(events, snapshot)
    rows = _Rows(VIEWS["margin_calls"])
    calls = [call for name in _markets(state, market) for call in state.markets[name].margin_calls]
    calls.sort(key=lambda call: call.called_block)
    for call in calls:
        rows.add(
            market=call.market,
            trade_id=call.trade_id,
            debtor=call.debtor,
            creditor=call.creditor,
            called_block=call.called_block,
            called_at=call.called_at,
            cure_deadline=call.cure_deadline,
            first_amount=call.first_amount,
            amount=call.amount,
            calls=call.calls,
            outcome=call.outcome,
            resolved_block=call.resolved_block,
            resolved_at=call.resolved_at,
            paid=call.paid,
        )
    return _frame(rows, snapshot, disclosure)


def waterfalls(state: Replay) -> list[tuple[Waterfall, str, int, str]]:
    """Every default of every market with its waterfall, in chain order, as
    ``(waterfall, kind, time, fund claim)`` (:func:`dfmi_py.api.waterfall.match_draws` over the
    replayed defaults and the fund's replayed draws)."""
    records = sorted((d for book in state.markets.values() for d in book.defaults), key=lambda d: d.block)
    declared = [
        Declared(
            engine=d.engine,
            trade_id=d.trade_id,
            block=d.block,
            tx_hashes=tuple(d.tx_hashes),
            defaulter=d.defaulter,
            survivor=d.survivor,
            loss=d.loss,
            from_im=d.from_im,
            from_margin=d.from_margin,
            from_fund=d.claimed,
            unpaid=d.unpaid,
            market=d.market,
        )
        for d in records
    ]
    matched = match_draws(declared, state.fund.books.draws)
    return [(w, d.kind, d.timestamp, d.fund_claim) for w, d in zip(matched, records, strict=True)]


def defaults(
    events: Events, snapshot: Snapshot, disclosure: Disclosure | None = None, market: str | None = None
) -> pd.DataFrame:
    """Every default with its waterfall: see :data:`dfmi_py.books.columns.DEFAULTS`."""
    state = _state(events, snapshot)
    chosen = set(_markets(state, market))
    rows = _Rows(VIEWS["defaults"])
    for w, kind, timestamp, claim in waterfalls(state):
        if w.market not in chosen:
            continue
        rows.add(
            market=w.market,
            trade_id=w.trade_id,
            kind=kind,
            block=w.block,
            time=timestamp,
            tx_hash=w.tx_hash,
            defaulter=w.defaulter,
            survivor=w.survivor,
            loss=w.loss,
            from_im=w.from_im,
            from_margin=w.from_margin,
            from_defaulter_contribution=w.from_defaulter_contribution,
            from_survivors=w.from_survivors,
            unpaid=w.unpaid,
            fund_claim=claim,
        )
    return _frame(rows, snapshot, disclosure)


def default_losses(
    events: Events, snapshot: Snapshot, disclosure: Disclosure | None = None, market: str | None = None
) -> pd.DataFrame:
    """What each default cost each fund member: see :data:`dfmi_py.books.columns.DEFAULT_LOSSES`."""
    state = _state(events, snapshot)
    chosen = set(_markets(state, market))
    rows = _Rows(VIEWS["default_losses"])
    for w, _, timestamp, _ in waterfalls(state):
        if w.market not in chosen:
            continue
        for member, loss in w.member_losses.items():
            rows.add(
                market=w.market,
                trade_id=w.trade_id,
                block=w.block,
                time=timestamp,
                defaulter=w.defaulter,
                member=member,
                role="defaulter" if member == w.defaulter else "survivor",
                loss=loss,
            )
    return _frame(rows, snapshot, disclosure)


# ---------------------------------------------------------------------- the fund


def fund(events: Events, snapshot: Snapshot, disclosure: Disclosure | None = None) -> pd.DataFrame:
    """Every member of the default fund: see :data:`dfmi_py.books.columns.FUND`."""
    state = _state(events, snapshot)
    books = state.fund.books
    rows = _Rows(VIEWS["fund"])
    for member, m in state.fund.members.items():
        view = snapshot.members.get(member)
        balance = books.balance_of(member)
        requirement = view.requirement if view is not None else None
        rows.add(
            member=member,
            status=view.status.name if view is not None else None,
            flagged=m.flagged,
            balance=balance,
            shares=books.shares.get(member, 0),
            requirement=requirement,
            shortfall=None if requirement is None else max(requirement - balance, 0),
            open_im=m.open_im,
            member_requirement=m.member_requirement,
            contributed=m.contributed,
            withdrawn=m.withdrawn,
            lost=m.lost,
            joined_block=m.joined_block,
            joined_at=m.joined_at,
        )
    return _frame(rows, snapshot, disclosure)


# ---------------------------------------------------------------------- settlement and netting


def instruction_state(record: InstructionRecord, spent_nonces: dict[tuple[str, str, int], str], now: int) -> str:
    """An instruction's state as ``stateOf`` reads it at time ``now``: the fate of its nonce
    (``spent_nonces``: every known instruction's, keyed by the unordered pair and the nonce),
    else expired after its deadline, else its on-chain approvals."""
    spent = record.spent
    instruction = record.instruction
    if spent is None and instruction is not None:
        spent = spent_nonces.get(_nonce_key(instruction.party_a, instruction.party_b, instruction.nonce))
    if spent is not None:
        return spent.upper()
    if instruction is not None and now > instruction.deadline:
        return InstructionState.EXPIRED.name
    if record.approved_a and record.approved_b:
        return InstructionState.AFFIRMED.name
    if record.approved_a or record.approved_b:
        return InstructionState.PROPOSED.name
    return InstructionState.PENDING.name


def _nonce_key(party_a: str, party_b: str, nonce: int) -> tuple[str, str, int]:
    low, high = sorted((party_a.lower(), party_b.lower()))
    return low, high, nonce


def instructions(events: Events, snapshot: Snapshot, disclosure: Disclosure | None = None) -> pd.DataFrame:
    """Every DvP/PvP instruction: see :data:`dfmi_py.books.columns.INSTRUCTIONS`."""
    state = _state(events, snapshot)
    constants = snapshot.constants
    symbols = {constants.cash.address: constants.cash.symbol}
    if constants.security is not None:
        symbols[constants.security.address] = constants.security.symbol
    spent: dict[tuple[str, str, int], str] = {}
    for record in state.instructions.values():
        known = record.instruction
        if record.spent is not None and known is not None:
            spent[_nonce_key(known.party_a, known.party_b, known.nonce)] = record.spent
    rows = _Rows(VIEWS["instructions"])
    security = constants.security.address if constants.security is not None else None
    for record in state.instructions.values():
        i = record.instruction
        if i is not None:
            legs: tuple[tuple[str, int], tuple[str, int]] | None = ((i.token_a, i.amount_a), (i.token_b, i.amount_b))
        else:
            legs = record.legs
        state_name = instruction_state(record, spent, snapshot.timestamp)
        rows.add(
            id=record.id,
            kind=_kind(legs, constants.cash.address, security),
            party_a=record.party_a,
            token_a=None if legs is None or not legs[0][0] else symbols.get(legs[0][0], legs[0][0]),
            amount_a=None if legs is None or not legs[0][0] else legs[0][1],
            party_b=record.party_b,
            token_b=None if legs is None or not legs[1][0] else symbols.get(legs[1][0], legs[1][0]),
            amount_b=None if legs is None or not legs[1][0] else legs[1][1],
            deadline=None if i is None else i.deadline,
            nonce=None if i is None else i.nonce,
            state=state_name,
            outcome=_outcome(record, state_name),
            failures=record.failures,
            failure_reason=None if record.last_reason is None else snapshot.error_texts.get(record.last_reason),
            netting_round=record.netted_round,
            first_block=record.first_block,
            first_at=record.first_at,
            last_block=record.last_block,
            last_at=record.last_at,
        )
    return _frame(rows, snapshot, disclosure)


def _kind(legs: tuple[tuple[str, int], tuple[str, int]] | None, cash: str, security: str | None) -> str | None:
    if legs is None:
        return None
    tokens = {legs[0][0], legs[1][0]} - {""}
    if security is not None and security in tokens:
        # A netted DvP's cash leg moves in the round's nets: only its delivery leg is seen.
        return "DvP" if tokens <= {security, cash} else "other"
    return "PvP"


def _outcome(record: InstructionRecord, state_name: str) -> str:
    if record.spent == "settled":
        return "settled_netted" if record.netted else "settled"
    if record.spent is not None:
        return record.spent
    if state_name in ("SETTLED", "CANCELLED", "LOCKED"):
        return "void"  # its nonce was spent by another instruction of the same parties
    if state_name == "EXPIRED":
        return "expired"
    return "failed" if record.failures else "pending"


def netting_rounds(events: Events, snapshot: Snapshot, disclosure: Disclosure | None = None) -> pd.DataFrame:
    """Every netting round: see :data:`dfmi_py.books.columns.NETTING_ROUNDS`."""
    state = _state(events, snapshot)
    rows = _Rows(VIEWS["netting_rounds"])
    for r in state.netting.values():
        rows.add(
            round_id=r.round_id,
            state=r.state(snapshot.timestamp, snapshot.constants.expiry_period),
            opener=r.opener,
            cutoff=r.cutoff,
            deadline=r.deadline,
            members=len(r.nets),
            obligations=r.obligation_count,
            gross_value=r.gross_value,
            net_value=r.net_value,
            saved=r.gross_value - r.net_value,
            compression_pct=100.0 * (1 - r.net_value / r.gross_value) if r.gross_value else 0.0,
            excluded=len(r.excluded),
            excluded_members=";".join(r.excluded) or None,
            instructions=r.instruction_count,
            delivery_failures=r.delivery_failures,
            escrowed=r.escrowed,
            opened_block=r.opened_block,
            opened_at=r.opened_at,
            settled_block=r.settled_block,
            settled_at=r.settled_at,
        )
    return _frame(rows, snapshot, disclosure)


def oracle_rounds(
    events: Events, snapshot: Snapshot, disclosure: Disclosure | None = None, market: str | None = None
) -> pd.DataFrame:
    """Every final oracle round: see :data:`dfmi_py.books.columns.ORACLE_ROUNDS`."""
    state = _state(events, snapshot)
    rows = _Rows(VIEWS["oracle_rounds"])
    for name in _markets(state, market):
        book = state.markets[name]
        for record in book.rounds:
            started_by, started_at, updated_at, finalised_at = book.round_times[record.round_id]
            rows.add(
                market=name,
                round_id=record.round_id,
                answer=record.answer,
                submissions=len(record.submissions),
                reporters=";".join(s.reporter for s in record.submissions),
                started_by=started_by,
                started_at=started_at,
                updated_at=updated_at if updated_at is not None else finalised_at,
                block=record.block,
                jump_detected=record.jump_detected,
                anchor_moved=record.anchor_moved,
            )
    return _frame(rows, snapshot, disclosure)


#: Every view function by name (the ones that take ``market=`` are the per-market views').
BUILDERS: dict[str, Callable[..., pd.DataFrame]] = {
    "positions": positions,
    "exposure": exposure,
    "margin_flows": margin_flows,
    "margin_calls": margin_calls,
    "defaults": defaults,
    "default_losses": default_losses,
    "fund": fund,
    "instructions": instructions,
    "netting_rounds": netting_rounds,
    "oracle_rounds": oracle_rounds,
}


# ---------------------------------------------------------------------- CSV and JSON


def write_csv(frame: pd.DataFrame, target: Path | IO[str]) -> None:
    """Write a view as CSV: integers exact, times ISO 8601 UTC, missing values empty."""
    out = frame.copy()
    for name in out.columns:
        if str(out[name].dtype) == cols.TIME:
            out[name] = out[name].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    out.to_csv(target, index=False)


def read_csv(view: str, source: Path | IO[str]) -> pd.DataFrame:
    """A view written by :func:`write_csv`, read back with its dtypes.

    Raises:
        InputError: an unknown view, or a file whose columns are not the view's.
    """
    if view not in VIEWS:
        raise InputError(f"unknown view {view!r}: one of {', '.join(VIEWS)}")
    spec = VIEWS[view]
    raw = pd.read_csv(source, dtype=str, keep_default_na=False)
    if list(raw.columns) != spec.names():
        raise InputError(f"the CSV's columns are not those of the {view} view")
    data: dict[str, Any] = {}
    for column in spec.all_columns():
        texts = list(raw[column.name])
        data[column.name] = _parse(texts, column.dtype)
    return pd.DataFrame(data, columns=spec.names())


def _parse(texts: list[str], dtype: str) -> Any:
    if dtype == cols.INT:
        return np.array([int(t) for t in texts], dtype=np.int64)
    if dtype == cols.NULLABLE_INT:
        return pd.array([int(t) if t else None for t in texts], dtype=cols.NULLABLE_INT)
    if dtype == cols.TIME:
        return pd.to_datetime(pd.Series([t or None for t in texts], dtype=object), utc=True).astype(cols.TIME)
    if dtype == cols.STR:
        return pd.array([t if t else None for t in texts], dtype=cols.STR)
    if dtype == cols.BOOL:
        return np.array([t == "True" for t in texts], dtype=bool)
    if dtype == cols.FLOAT:
        return np.array([float(t) for t in texts], dtype=np.float64)
    return _typed([int(t) if t else None for t in texts], dtype)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A view's rows as JSON-ready dicts: integers exact, times as Unix seconds, missing as None."""
    out: list[dict[str, Any]] = []
    converters = [(name, _json_value(str(frame[name].dtype))) for name in frame.columns]
    columns = [list(frame[name]) for name in frame.columns]
    for values in zip(*columns, strict=True):
        out.append({name: convert(value) for (name, convert), value in zip(converters, values, strict=True)})
    return out


def _json_value(dtype: str) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if value is None or value is pd.NA or value is pd.NaT:
            return None
        if dtype == cols.TIME:
            return int(value.timestamp())
        if isinstance(value, np.integer):
            return int(value)
        if isinstance(value, np.bool_):
            return bool(value)
        if isinstance(value, np.floating):
            return float(value)
        return value

    return convert


def view_names() -> Iterable[str]:
    """Every view's name."""
    return VIEWS.keys()


__all__ = [
    "BUILDERS",
    "default_losses",
    "defaults",
    "exposure",
    "fund",
    "instructions",
    "margin_calls",
    "margin_flows",
    "netting_rounds",
    "oracle_rounds",
    "positions",
    "read_csv",
    "records",
    "write_csv",
]
