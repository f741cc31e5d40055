"""Each member's exposure just before and after every settlement of the small simulated day
(tests/simulate/conftest.py), from the chain's payments: checked against the same figures worked
from the record alone (the generated prices the oracle finalised, the trades, the keeper's margin
calls and defaults) and against the dFMI model's uncollected margin at each keeper step."""

from __future__ import annotations

from collections import Counter

import pytest

from dfmi_py.books import Books
from dfmi_py.risk.forward import variation_margin
from dfmi_py.simulate.ccp import dfmi_model
from dfmi_py.simulate.compare import simulation_inputs
from dfmi_py.simulate.exposure import EXPOSURE_COLUMNS, settlement_exposures
from dfmi_py.simulate.record import SimulationRecord
from tests.simulate.conftest import SMALL_RUN_GROUP, Run

pytestmark = pytest.mark.xdist_group(SMALL_RUN_GROUP)


def worked_from_the_record(record: SimulationRecord) -> tuple[Counter[tuple[int, str]], Counter[tuple[int, str]]]:
    """Before and after each round's settlement, per (round, member), from the record: each trade
    settles from its last price to the round's oracle answer (the first time from its contract
    price), the buyer owed the change in value plus any margin call the seller still owes it (less
    one it owes); after, a margin call the keeper opened or renewed in the round is still owed,
    unless the trade was closed out in that round (its waterfall paid it all: nothing left)."""
    scales = {m.name: m.value_scale for m in record.markets}
    answers = {(o.market, o.round): o.answer for o in record.oracle_rounds if o.answer is not None}
    closed = {(d.market, d.trade_id): d.round for d in record.defaults}
    calls = {(c.market, c.trade_id, c.round): (c.debtor, c.amount) for c in record.margin_calls}
    before: Counter[tuple[int, str]] = Counter()
    after: Counter[tuple[int, str]] = Counter()
    for t in record.trades:
        key = (t.market, t.trade_id)
        price, debtor, debt = t.contract_price, None, 0
        for r in (r.round for r in record.rounds):
            answer = answers.get((t.market, r))
            if answer is None or r > closed.get(key, r):
                continue
            carried = debt if debtor == t.seller else -debt if debtor == t.buyer else 0
            to_buyer = variation_margin(t.quantity, price, answer, scales[t.market]) + carried
            price = answer
            before[(r, t.buyer)] += to_buyer
            before[(r, t.seller)] -= to_buyer
            debtor, debt = calls.get((t.market, t.trade_id, r), (None, 0))
            if debtor is not None and closed.get(key) != r:
                creditor = t.seller if debtor == t.buyer else t.buyer
                after[(r, debtor)] -= debt
                after[(r, creditor)] += debt
    return before, after


def test_exposure_resets_every_round_except_what_a_margin_call_leaves(small_run: Run) -> None:
    record = small_run.record
    frame = settlement_exposures(record, Books(small_run.market))
    assert {name: str(dtype) for name, dtype in frame.dtypes.items()} == EXPOSURE_COLUMNS
    assert len(frame) == len(record.rounds) * len(record.members)
    before, after = worked_from_the_record(record)
    for row in frame.itertuples(index=False):
        assert (row.before, row.after) == (before[(row.round, row.member)], after[(row.round, row.member)]), (
            f"round {row.round}, {row.name}"
        )
    # every payment has a payer and a receiver: each round's figures add up to zero
    sums = frame.groupby("round")[["before", "after"]].sum()
    assert (sums["before"] == 0).all()
    assert (sums["after"] == 0).all()
    # after a settlement only the defaulter's unpaid margin call remains, owed to its counterparty, until
    # the round it was closed out
    defaulter = next(m for m in record.members if m.defaulter)
    called = sorted({c.round for c in record.margin_calls})
    closed = max(d.round for d in record.defaults)
    left = frame[frame["after"] != 0]
    assert set(left["round"]) == set(range(called[0], closed))
    assert set(left["member"]) == {defaulter.address, *_creditors(record)}
    assert (frame.loc[frame["member"] == defaulter.address, "after"] <= 0).all()
    assert any(frame["before"] != 0)


def test_before_each_settlement_is_the_dfmi_models_uncollected_margin(small_run: Run) -> None:
    """The dFMI model measures each member's uncollected margin just before each keeper step: the
    chain's exposure before that step's settlement."""
    record = small_run.record
    books = Books(small_run.market)
    frame = settlement_exposures(record, books)
    model = dfmi_model(simulation_inputs(record, books))
    steps = {r.keeper_time: r.round for r in record.rounds}
    points = {(steps[e.time], e.member): e.uncollected for e in model.exposures}
    assert {(row.round, row.member): row.before for row in frame.itertuples(index=False)} == points


def _creditors(record: SimulationRecord) -> set[str]:
    """The counterparties of the trades the keeper called margin on."""
    called = {(c.market, c.trade_id): c.debtor for c in record.margin_calls}
    return {
        t.seller if called[(t.market, t.trade_id)] == t.buyer else t.buyer
        for t in record.trades
        if (t.market, t.trade_id) in called
    }
