"""The books checked against the contracts' own views, read directly at the same block."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pandas as pd

from dfmi_py.api.derivatives import Side, TradeState
from dfmi_py.api.fund import MemberStatus
from dfmi_py.api.netting import RoundState
from dfmi_py.api.settlement import InstructionState
from dfmi_py.books import Books
from dfmi_py.books.columns import VIEWS
from tests.books.direct import Call, Direct
from tests.books.scenario import BooksWorld

#: Fields of ``tradeOf`` (the engine's ``Trade`` struct), in order.
TRADE_FIELDS = (
    *("buyer", "maturity", "state", "debtor", "proposer", "nonce", "seller", "quantity", "last_price"),
    *("last_round", "cure_deadline", "buyer_im", "seller_im", "debt"),
)


def assert_views_agree(bw: BooksWorld, books: Books) -> dict[str, pd.DataFrame]:
    """Every view of ``books`` agrees with direct reads of the contracts at its head; returns the views."""
    frames = books.all()
    head = books.ledger.head
    assert head is not None
    for name, frame in frames.items():
        assert list(frame.columns) == VIEWS[name].names(), name
        assert [str(frame[c.name].dtype) for c in VIEWS[name].all_columns()] == [
            c.dtype for c in VIEWS[name].all_columns()
        ], name
        assert frame.attrs["block"] == head
    direct = Direct(bw.w.node.rpc_url)
    trades = _trades(bw, direct, head)
    _positions(bw, direct, head, trades, frames["positions"])
    _exposure(bw, direct, head, trades, frames)
    _margin_calls(trades, frames["margin_calls"])
    _defaults(frames)
    _fund(bw, direct, head, frames["fund"])
    _oracle(bw, direct, head, frames["oracle_rounds"])
    _instructions(bw, books, direct, head, frames["instructions"])
    _netting(bw, direct, head, frames["netting_rounds"])
    for flow in frames["margin_flows"].itertuples():
        assert flow.paid >= 0
        assert flow.owed >= 0
    return frames


def _trades(bw: BooksWorld, direct: Direct, head: int) -> dict[tuple[str, int], dict[str, Any]]:
    """``tradeOf``, ``unpaidClaimOf`` and ``fundClaimPendingOf`` of every trade, by (market, id)."""
    engines = {name: u.derivatives.contract for name, u in bw.market.markets.items()}
    counts = direct.read([(engine, "tradeCount", ()) for engine in engines.values()], head)
    keys = [(name, i) for (name, count) in zip(engines, counts, strict=True) for i in range(1, count + 1)]
    calls: list[Call] = []
    for name, trade_id in keys:
        engine = engines[name]
        calls += [
            (engine, "tradeOf", (trade_id,)),
            (engine, "unpaidClaimOf", (trade_id,)),
            (engine, "fundClaimPendingOf", (trade_id,)),
        ]
    values = direct.read(calls, head)
    trades = {}
    for k, key in enumerate(keys):
        raw, unpaid, pending = values[3 * k : 3 * k + 3]
        trade = dict(zip(TRADE_FIELDS, raw, strict=True))
        trade.update(state=TradeState(trade["state"]), debtor=Side(trade["debtor"]), unpaid=unpaid, pending=pending)
        trades[key] = trade
    return trades


def _is_open(trade: dict[str, Any]) -> bool:
    return trade["state"] in (TradeState.LIVE, TradeState.MARGIN_CALL)


def _debtor(trade: dict[str, Any]) -> str | None:
    return {Side.BUYER: trade["buyer"], Side.SELLER: trade["seller"]}.get(trade["debtor"])


def _positions(
    bw: BooksWorld, direct: Direct, head: int, trades: dict[tuple[str, int], dict[str, Any]], positions: pd.DataFrame
) -> None:
    markets = bw.market.markets
    latest = dict(
        zip(
            markets,
            direct.read([(u.oracle.contract, "latestRoundData", ()) for u in markets.values()], head),
            strict=True,
        )
    )
    scales = dict(
        zip(
            markets,
            direct.read([(u.derivatives.contract, "valueScale", ()) for u in markets.values()], head),
            strict=True,
        )
    )
    rows = positions.set_index(["market", "trade_id"])
    assert sorted(rows.index) == sorted(trades), "one row per trade of every market"
    for (name, trade_id), t in trades.items():
        row = rows.loc[(name, trade_id)]
        where = (name, trade_id)
        assert (row.state, row.buyer, row.seller) == (t["state"].name, t["buyer"], t["seller"]), where
        assert (row.quantity, int(row.maturity.timestamp()), row.nonce) == (t["quantity"], t["maturity"], t["nonce"])
        assert (row.last_price, row.last_round) == (t["last_price"], t["last_round"]), where
        assert (row.buyer_im, row.seller_im, row.debt) == (t["buyer_im"], t["seller_im"], t["debt"]), where
        assert (None if row.debtor is pd.NA else row.debtor) == _debtor(t), where
        deadline = None if row.cure_deadline is pd.NaT else int(row.cure_deadline.timestamp())
        assert deadline == (t["cure_deadline"] or None), where
        assert (row.unpaid_claim, bool(row.fund_claim_pending)) == (t["unpaid"], t["pending"]), where
        round_id, answer = latest[name][:2]
        assert (row.latest_round, row.latest_price) == (round_id, answer), where
        if _is_open(t):
            scale = scales[name]
            assert row.mtm_to_buyer == t["quantity"] * answer // scale - t["quantity"] * t["last_price"] // scale, where
        else:
            assert row.mtm_to_buyer is None, where


def _exposure(
    bw: BooksWorld,
    direct: Direct,
    head: int,
    trades: dict[tuple[str, int], dict[str, Any]],
    frames: dict[str, pd.DataFrame],
) -> None:
    market = bw.market
    exposure = frames["exposure"].set_index("member")
    held: dict[str, int] = defaultdict(int)
    owed: dict[str, int] = defaultdict(int)
    for t in trades.values():
        if _is_open(t):
            held[t["buyer"]] += t["buyer_im"]
            held[t["seller"]] += t["seller_im"]
            if t["debtor"] != Side.NONE:
                owed[_debtor(t) or ""] += t["debt"]
    members = list(exposure.index)
    engines = [u.derivatives.contract for u in market.markets.values()]
    fund = market.fund.contract
    calls: list[Call] = [(engine, "marginOf", (m,)) for m in members for engine in engines]
    calls += [(fund, name, (m,)) for m in members for name in ("isMember", "balanceOf", "requirementOf")]
    values = direct.read(calls, head)
    margins, fund_values = values[: len(members) * len(engines)], values[len(members) * len(engines) :]
    for k, (member, row) in enumerate(exposure.iterrows()):
        assert (row.im_held, row.vm_owed) == (held[member], owed[member]), member
        assert row.margin_account == sum(margins[k * len(engines) : (k + 1) * len(engines)]), member
        is_member, balance, requirement = fund_values[3 * k : 3 * k + 3]
        assert (row.fund_balance, row.fund_requirement) == ((balance, requirement) if is_member else (None, None))
        assert row.exposure == row.mtm + row.vm_due - row.vm_owed
    # what one side of a trade gains the other loses; every payment has a payer and a receiver
    assert sum(exposure.exposure) == 0
    assert sum(exposure.mtm) == 0
    assert sum(exposure.vm_paid) == sum(exposure.vm_received)
    flows = frames["margin_flows"]
    assert sum(exposure.vm_paid) == sum(p for p, who in zip(flows.paid, flows.payer, strict=True) if who is not pd.NA)


def _margin_calls(trades: dict[tuple[str, int], dict[str, Any]], calls: pd.DataFrame) -> None:
    open_calls = calls[calls.outcome == "open"].set_index(["market", "trade_id"])
    called = {key for key, t in trades.items() if t["state"] == TradeState.MARGIN_CALL}
    assert set(open_calls.index) == called, "one open call per trade under a margin call"
    for key in called:
        t, row = trades[key], open_calls.loc[key]
        assert (row.debtor, row.amount) == (_debtor(t), t["debt"]), key
        assert int(row.cure_deadline.timestamp()) == t["cure_deadline"], key


def _defaults(frames: dict[str, pd.DataFrame]) -> None:
    defaults, losses, fund, positions = (
        frames["defaults"],
        frames["default_losses"],
        frames["fund"],
        frames["positions"],
    )
    states = positions.set_index(["market", "trade_id"]).state
    for row in defaults.itertuples():
        tranches = row.from_im + row.from_margin + row.from_defaulter_contribution + row.from_survivors + row.unpaid
        assert tranches == row.loss, row
        assert states[(row.market, row.trade_id)] == ("DEFAULTED" if row.kind == "close-out" else "MATURED")
        charged = losses[(losses.market == row.market) & (losses.trade_id == row.trade_id)]
        # balances are rounded down: each member's loss is within one unit of its exact share
        assert abs(sum(charged.loss) - row.from_defaulter_contribution - row.from_survivors) <= len(fund), row
    lost = losses.groupby("member").loss.sum().to_dict() if len(losses) else {}
    for row in fund.itertuples():
        assert row.lost == lost.get(row.member, 0)


def _fund(bw: BooksWorld, direct: Direct, head: int, fund: pd.DataFrame) -> None:
    contract = bw.market.fund.contract
    assert sorted(fund.member) == sorted(bw.market.fund.members())
    names = ("balanceOf", "sharesOf", "requirementOf", "openImOf", "memberRequirementOf", "statusOf")
    values = direct.read([(contract, name, (m,)) for m in fund.member for name in names], head)
    for k, row in enumerate(fund.itertuples()):
        balance, shares, requirement, open_im, own, status = values[len(names) * k : len(names) * (k + 1)]
        assert (row.balance, row.shares, row.requirement) == (balance, shares, requirement), row.member
        assert (row.open_im, row.member_requirement, row.status) == (open_im, own, MemberStatus(status).name)
        assert row.shortfall == max(requirement - balance, 0)


def _oracle(bw: BooksWorld, direct: Direct, head: int, rounds: pd.DataFrame) -> None:
    for name, underlying in bw.market.markets.items():
        oracle = underlying.oracle.contract
        rows = rounds[rounds.market == name]
        (open_round,) = direct.read([(oracle, "openRound", ())], head)
        assert list(rows.round_id) == list(range(1, open_round)), name
        data = direct.read([(oracle, "getRoundData", (int(r),)) for r in rows.round_id], head)
        for row, (round_id, answer, _, updated_at, _) in zip(rows.itertuples(), data, strict=True):
            assert (row.round_id, row.answer, int(row.updated_at.timestamp())) == (round_id, answer, updated_at)


def _instructions(bw: BooksWorld, books: Books, direct: Direct, head: int, instructions: pd.DataFrame) -> None:
    state, _, _ = books.state()
    settlement = bw.market.settlement.contract
    known = [state.instructions[i].instruction for i in instructions.id]
    assert all(i is not None for i in known), "the books found every instruction's legs"
    calls: list[Call] = []
    for instruction in known:
        assert instruction is not None
        calls += [(settlement, "hashInstruction", (instruction.as_tuple(),))]
        calls += [(settlement, "stateOf", (instruction.as_tuple(),))]
    values = direct.read(calls, head)
    for k, row in enumerate(instructions.itertuples()):
        digest, state_of = values[2 * k : 2 * k + 2]
        assert "0x" + bytes(digest).hex() == row.id
        assert InstructionState(state_of).name == row.state, row


def _netting(bw: BooksWorld, direct: Direct, head: int, rounds: pd.DataFrame) -> None:
    netting = bw.market.netting.contract
    (count,) = direct.read([(netting, "roundCount", ())], head)
    assert list(rounds.round_id) == list(range(1, count + 1))
    infos = direct.read([(netting, "roundOf", (int(r),)) for r in rounds.round_id], head)
    for row, info in zip(rounds.itertuples(), infos, strict=True):
        _, _, _, state, gross, net, obligations, members, excluded, escrowed, instructions = info
        assert row.state == RoundState(state).name
        assert (row.gross_value, row.net_value, row.obligations, row.members) == (gross, net, obligations, members)
        assert (row.excluded, row.escrowed, row.instructions) == (excluded, escrowed, instructions)


def assert_same_views(first: dict[str, pd.DataFrame], second: dict[str, pd.DataFrame]) -> None:
    """Two readers' views are the same tables."""
    assert first.keys() == second.keys()
    for name in first:
        pd.testing.assert_frame_equal(first[name], second[name], obj=name)
