"""The small simulated day (tests/simulate/conftest.py) under dFMI's rules and under a CCP.

The models' inputs come from the day's chain through the books and from its record
(:func:`dfmi_py.simulate.compare.comparison_of`): the dFMI replay must give the chain's waterfall
to the unit, and the CCP side must follow the assumptions it states. A figure of each is worked
from the record alone (prices, trades, margin calls), without the models or the books.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from dfmi_py.books import Books
from dfmi_py.risk.forward import variation_margin
from dfmi_py.simulate.ccp import CcpAssumptions, Comparison, assumptions_text, ccp_model, dfmi_model
from dfmi_py.simulate.compare import cash_held, comparison_of, replay_differences, simulation_inputs
from dfmi_py.simulate.record import MemberRecord, SimulationRecord
from tests.simulate.conftest import SMALL_RUN_GROUP, Run

pytestmark = pytest.mark.xdist_group(SMALL_RUN_GROUP)

DAY = 86_400


@pytest.fixture(scope="module")
def books(small_run: Run) -> Books:
    return Books(small_run.market)


@pytest.fixture(scope="module")
def both(small_run: Run, books: Books) -> Comparison:
    return comparison_of(small_run.result, books)


def _defaulter(record: SimulationRecord) -> MemberRecord:
    return next(m for m in record.members if m.defaulter)


def test_the_dfmi_models_waterfall_equals_the_chains(small_run: Run, books: Books, both: Comparison) -> None:
    """Every close-out, tranche by tranche, and every member's share of each fund draw."""
    chain = books.defaults()
    assert len(chain) > 0, "the small day has a default"
    ours = [c for c in both.dfmi.closeouts if c.kind == "default"]
    assert [
        (
            c.market,
            c.trade_id,
            c.defaulter,
            c.survivor,
            c.loss,
            c.from_im,
            c.from_margin,
            c.from_defaulter_contribution,
            c.from_survivors,
            c.unpaid,
        )
        for c in ours
    ] == [
        (
            r.market,
            r.trade_id,
            r.defaulter,
            r.survivor,
            r.loss,
            r.from_im,
            r.from_margin,
            r.from_defaulter_contribution,
            r.from_survivors,
            r.unpaid,
        )
        for r in chain.itertuples(index=False)
        if r.kind == "close-out"
    ]
    shares = books.default_losses()
    for c in ours:
        mine = shares[(shares["market"] == c.market) & (shares["trade_id"] == c.trade_id)]
        assert dict(c.member_losses) == dict(zip(mine["member"], mine["loss"], strict=True))
    # the tranches add up to the chain's, and each member's fund loss is what the fund's books say it lost
    assert both.dfmi.tranche("survivors' contributions") == sum(chain["from_survivors"])
    assert both.dfmi.tranche("defaulter's contribution") == _defaulter(small_run.record).contribution
    fund = books.fund()
    lost = dict(zip(fund["member"], fund["lost"], strict=True))
    assert {m.member: m.fund_loss for m in both.dfmi.members} == lost


def test_a_replay_that_differs_from_the_chain_says_where(books: Books, both: Comparison) -> None:
    assert replay_differences(both.dfmi, books) == ()
    assert not any("differ" in note for note in both.dfmi.notes)
    (closeout,) = both.dfmi.closeouts
    where = f"{closeout.market} trade {closeout.trade_id} (close-out)"
    off = replace(closeout, from_survivors=closeout.from_survivors + 1, unpaid=closeout.unpaid - 1)
    assert replay_differences(replace(both.dfmi, closeouts=(off,)), books) == (
        f"{where}: from_survivors {off.from_survivors} against {closeout.from_survivors} on the chain, "
        f"unpaid {off.unpaid} against {closeout.unpaid} on the chain",
    )
    assert replay_differences(replace(both.dfmi, closeouts=()), books) == (f"{where}: on the chain only",)


def test_the_inputs_are_the_days_trades_prices_fund_and_keeper(small_run: Run, books: Books) -> None:
    record = small_run.record
    inputs = simulation_inputs(record, books)
    defaulter = _defaulter(record)
    first_call = min(c.round for c in record.margin_calls if c.debtor == defaulter.address)
    assert inputs.default.member == defaulter.address
    assert inputs.default.at == record.rounds[first_call].keeper_time
    assert inputs.keeper_steps == tuple(r.keeper_time for r in record.rounds)
    assert inputs.contributions == {m.address: m.contribution for m in record.members}
    assert inputs.cure_periods == {m.name: m.cure_period for m in record.markets}
    assert sorted((t.market, t.trade_id, t.buyer, t.seller, t.buyer_im, t.seller_im) for t in inputs.trades) == sorted(
        (t.market, t.trade_id, t.buyer, t.seller, t.buyer_im, t.seller_im) for t in record.trades
    )
    for market in record.markets:
        made = [o for o in record.oracle_rounds if o.market == market.name and o.oracle_round is not None]
        assert [(p.timestamp, p.price) for p in inputs.paths[market.name].rounds] == [
            (o.updated_at, o.answer) for o in made
        ]
        assert len(inputs.im_history[market.name]) == record.config["margin"]["history_rounds"]


def test_the_ccp_side_follows_its_stated_assumptions(small_run: Run, both: Comparison) -> None:
    """The default CCP: margin called daily from the first round and paid a day later (T+1), a
    missed payment a default, the positions closed out three days later: a margin period of
    1 + 1 + 3 = 5 days.

    Worked from the record: the defaulter's trades moved against it between their contract
    prices and the day's opening prices, so it owes the CCP at the first call (round 0), due a
    day later; the default is declared then and the close-out comes three days after, past the
    six-hour day, at its last prices. It paid no call: it owes the change in value of each of its
    positions from the contract price to the last price, netted over its trades, which its
    initial margin at a 5-day margin period covers with room to spare.
    """
    record = small_run.record
    defaulter = _defaulter(record)
    text = assumptions_text(both.assumptions, round_seconds=record.chain.interval)
    for fact in ("called every 1 d and paid 1 d later", "closed out 3 d after it", "margin period of 5 d"):
        assert fact in text
    scales = {m.name: m.value_scale for m in record.markets}
    last_round = len(record.rounds) - 1
    last = {p.market: p.price for p in record.prices if p.round == last_round}
    opening = {p.market: p.price for p in record.prices if p.round == 0}
    owed_at_opening = owed_at_close = 0
    for t in record.trades:
        if defaulter.address not in (t.buyer, t.seller):
            continue
        sign = 1 if t.seller == defaulter.address else -1  # what it owes when the buyer gains
        owed_at_opening += sign * variation_margin(t.quantity, t.contract_price, opening[t.market], scales[t.market])
        owed_at_close += sign * variation_margin(t.quantity, t.contract_price, last[t.market], scales[t.market])
    assert owed_at_opening > 0, "the defaulter owes at the first call"
    ccp = both.ccp
    first_step = record.rounds[0].keeper_time
    assert (ccp.mpor_seconds, ccp.declared_at, ccp.closed_out_at) == (5 * DAY, first_step + DAY, first_step + 4 * DAY)
    assert ccp.notes == ("the CCP closes the defaulter out after the price path ends: at its last prices",)
    assert ccp.shortfall == owed_at_close
    assert ccp.member(defaulter.address).im_required > owed_at_close
    assert [(t.name, t.amount) for t in ccp.tranches] == [
        ("initial margin", owed_at_close),
        ("defaulter's contribution", 0),
        ("CCP skin in the game", 0),
        ("survivors' contributions", 0),
        ("assessments", 0),
        ("uncovered residual", 0),
    ]


def test_a_ccp_calling_every_round_at_once_carries_dfmis_exposure_before_the_default(
    small_run: Run, books: Books
) -> None:
    """With dFMI's timing (called every round, paid at once, closed out after the cure period) the
    CCP's members carry exactly dFMI's uncollected margin before the default, on the day's data."""
    inputs = simulation_inputs(small_run.record, books)
    cure = max(inputs.cure_periods.values())
    same = CcpAssumptions(vm_interval_rounds=1, settlement_lag_seconds=0, closeout_seconds=cure)
    ccp, dfmi = ccp_model(inputs, same), dfmi_model(inputs, same)
    before = inputs.default.at
    assert [(e.time, e.member, e.uncollected) for e in ccp.exposures if e.time < before] == [
        (e.time, e.member, e.uncollected) for e in dfmi.exposures if e.time < before
    ]
    assert any(e.uncollected for e in dfmi.exposures if e.time < before)


def test_cash_held_is_each_members_balance(small_run: Run, books: Books) -> None:
    """From the cash token's transfers in the books' ledger, at the last block: each member's balance
    as the token reads it now; before the day's first block, nothing."""
    record = small_run.record
    head = int(small_run.chain.w3.eth.block_number)
    cash = small_run.market.cash
    for m in record.members:
        assert cash_held(books, m.address, head) == cash.balance_of(m.address)
        assert cash_held(books, m.address, record.chain.first_block - 1) == 0
