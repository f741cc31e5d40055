"""``dfmi simulate`` end to end on Anvil, a small day: 4 members, 10 forwards in two markets, six
rounds with a 25% fall of gold in round 2, four DvPs (one buyer frozen, one expired) and a netting
round from which the defaulter is excluded.

One run (the small day of tests/simulate/conftest.py, on an Anvil of its own) is checked against
its chain through ``dfmi_py.api``: cash conserved and every holder accounted for, every trade in a known state and
settled to the last round, each default's waterfall adding up, the record's figures equal to the
chain's, failed DvPs moving nothing, the members' identities open for the regulator's key and the
member's own only. A second run of the same settings through the command, on a
fresh Anvil, writes the same tables.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from hexbytes import HexBytes

from dfmi_py.api.compliance import AccountStatus
from dfmi_py.api.derivatives import TradeState
from dfmi_py.api.netting import RoundState
from dfmi_py.api.settlement import InstructionState
from dfmi_py.books import Books
from dfmi_py.chain.events import EventLog, event_specs, fetch_logs
from dfmi_py.cli.main import cli
from dfmi_py.identity.disclosure import latest_envelopes
from dfmi_py.identity.keys import account_public_key
from dfmi_py.netting.obligation import Obligation
from dfmi_py.netting.positions import compression
from dfmi_py.signing.settlement import Instruction
from dfmi_py.simulate.plan import member_account
from dfmi_py.simulate.raw import Receipt, hex_int, rpc, rpc_batch
from dfmi_py.simulate.record import DEVNET_DISCLOSURE_KEY, RECORD_FILE, SimulationRecord
from tests.simulate.conftest import SMALL as SMALL  # the small day's settings, still importable from here
from tests.simulate.conftest import SMALL_RUN_GROUP, Run

ZERO = "0x0000000000000000000000000000000000000000"

#: The worker that runs the small day runs the module (one run per worker).
pytestmark = pytest.mark.xdist_group(SMALL_RUN_GROUP)


@pytest.fixture
def run(small_run: Run) -> Run:
    """The small day (tests/simulate/conftest.py)."""
    return small_run


def _transfers(run: Run, token: str) -> list[tuple[str, str, int]]:
    """Every ``Transfer`` of ``token`` in the run: (from, to, value)."""
    specs = event_specs(run.chain.contract("CashToken", token), ("Transfer",))
    topics = ["0x" + topic.hex() for topic in specs]
    last = int(run.chain.w3.eth.block_number)
    found = []
    for chunk in fetch_logs(run.chain.w3, [token], topics, run.record.chain.first_block, last, 2_000):
        for log in chunk:
            args = EventLog(specs[bytes(log["topics"][0])], log).args
            found.append((str(args["from"]), str(args["to"]), int(args["value"])))
    return found


# ---------------------------------------------------------------------------------- the books balance


def test_cash_is_conserved_and_every_holder_adds_up(run: Run) -> None:
    market, record = run.market, run.record
    cash = market.cash
    transfers = _transfers(run, cash.address)
    minted = sum(value for sender, _, value in transfers if sender == ZERO)
    assert not [t for t in transfers if t[1] == ZERO], "no cash is burned in a simulation"
    assert minted == sum(m.wallet for m in record.members)
    assert cash.total_supply() == minted
    holders = sorted({to for _, to, _ in transfers})
    assert sum(cash.balance_of(holder) for holder in holders) == cash.total_supply()
    for underlying in market.markets.values():
        engine = underlying.derivatives
        assert cash.balance_of(engine.address) == engine.total_margin() + engine.total_initial_margin()
    fund = market.fund.state()
    assert fund.surplus == 0
    balances = [market.fund.balance_of(m.address) for m in record.members]
    assert 0 <= fund.total_assets - sum(balances) < len(balances)  # rounding dust, under a unit each
    assert cash.balance_of(market.settlement.address) == 0  # the settlement contract never holds cash
    assert cash.balance_of(market.netting.address) == 0  # the settled round's escrow is empty
    bonds = market.deployment.security.functions
    assert int(bonds.totalSupply().call()) == sum(m.bonds for m in record.members) > 0
    assert sum(int(bonds.balanceOf(m.address).call()) for m in record.members) == sum(m.bonds for m in record.members)


def test_every_trade_is_accounted_for_and_settled_to_the_last_round(run: Run) -> None:
    market, record = run.market, run.record
    defaulted = {(d.market, d.trade_id) for d in record.defaults}
    assert defaulted, "the shock should have brought a default"
    for name, underlying in market.markets.items():
        engine = underlying.derivatives
        mine = [t for t in record.trades if t.market == name]
        assert [t.trade_id for t in mine] == list(range(1, engine.trade_count() + 1))
        latest = underlying.oracle.latest().round_id
        open_im = 0
        for trade in mine:
            info = engine.trade(trade.trade_id)
            if (name, trade.trade_id) in defaulted:
                assert info.state is TradeState.DEFAULTED
                continue
            assert info.state in (TradeState.LIVE, TradeState.MARGIN_CALL)
            assert info.last_round == latest, f"{name} trade {trade.trade_id} not settled to round {latest}"
            open_im += info.buyer_im + info.seller_im
        assert engine.total_initial_margin() == open_im


def test_each_default_waterfall_adds_up(run: Run) -> None:
    market, record = run.market, run.record
    waterfalls = market.waterfalls(from_block=record.chain.first_block)
    assert [(w.market, w.trade_id, w.tx_hash, w.loss) for w in waterfalls] == [
        (d.market, d.trade_id, d.tx_hash, d.loss) for d in record.defaults
    ]
    defaulter = next(m for m in record.members if m.defaulter)
    survivors_paid = 0
    from_contribution = 0
    for w in waterfalls:
        assert w.defaulter == defaulter.address
        assert w.from_im + w.from_margin + w.from_defaulter_contribution + w.from_survivors + w.unpaid == w.loss
        assert w.loss > w.from_im  # the fund was drawn
        shares = {name: lost for name, lost in w.member_losses.items() if name != defaulter.address}
        assert abs(sum(shares.values()) - w.from_survivors) < max(1, len(shares))
        survivors_paid += w.from_survivors
        from_contribution += w.from_defaulter_contribution
    assert survivors_paid > 0, "the survivors' tranche should have been used"
    # the defaulter's own contribution went first, and all of it
    assert from_contribution == defaulter.contribution
    assert market.fund.balance_of(defaulter.address) == 0


# ---------------------------------------------------------------------------------- the record


def test_the_record_figures_equal_the_chains(run: Run) -> None:
    market, record = run.market, run.record
    for trade in record.trades:
        engine = market.markets[trade.market].derivatives
        info = engine.trade(trade.trade_id)
        assert (info.buyer, info.seller, info.quantity) == (trade.buyer, trade.seller, trade.quantity)
        terms = engine.proposed_terms(trade.trade_id)
        assert (terms.contract_price, terms.maturity, terms.buyer_im, terms.seller_im) == (
            trade.contract_price,
            trade.maturity,
            trade.buyer_im,
            trade.seller_im,
        )
    # the feeders replayed the path: every oracle round of the day is the generated price
    prices = {(p.market, p.round): p for p in record.prices}
    for made in record.oracle_rounds:
        assert made.oracle_round is not None, f"{made.market}: no oracle round in round {made.round}"
        final = market.markets[made.market].oracle.round(made.oracle_round)
        assert (final.answer, final.updated_at) == (made.answer, made.updated_at)
        assert final.answer == prices[(made.market, made.round)].price
    # every transaction of the run is in the action table, with its gas
    w3 = run.chain.w3
    first, last = record.chain.first_block, record.chain.last_block
    assert last == hex_int(rpc(w3, "eth_blockNumber", []))
    blocks = rpc_batch(w3, [("eth_getBlockByNumber", [hex(n), False]) for n in range(first, last + 1)])
    assert len(record.actions) == sum(len(b["transactions"]) for b in blocks)
    assert sum(a.gas_used for a in record.actions) == sum(hex_int(b["gasUsed"]) for b in blocks)
    by_operation = {row.operation: row for row in record.gas_by_operation()}
    assert by_operation["PriceOracle.submit"].transactions == sum(o.reports for o in record.oracle_rounds)
    # margin calls and defaults as the engine's events say
    for name, underlying in market.markets.items():
        events = underlying.derivatives.events()
        calls = [(e.trade_id, e.args["amount"]) for e in events if e.name == "MarginCalled"]
        assert calls == [(c.trade_id, c.amount) for c in record.margin_calls if c.market == name]
    # the netting round: its obligations, the defaulter excluded, settled
    netting = record.netting
    assert netting is not None
    defaulter = next(m for m in record.members if m.defaulter)
    assert netting.excluded == (defaulter.address,)
    assert market.netting.state(netting.round_id) is RoundState.SETTLED
    kept = [
        Obligation(netting.round_id, o.payer, o.payee, o.amount, o.number.to_bytes(32, "big"))
        for o in netting.obligations
        if defaulter.address not in (o.payer, o.payee)
    ]
    assert sorted(market.netting.obligations(netting.round_id), key=lambda o: o.ref) == kept
    assert market.netting.compression(netting.round_id) == compression(kept)


def test_the_record_places_chain_events_in_their_round_and_market(run: Run) -> None:
    market, record = run.market, run.record
    for action in record.actions:
        assert record.round_of_block(action.block) == action.round
    for name, underlying in market.markets.items():
        assert (record.market(name).engine, record.market(name).oracle) == (
            underlying.derivatives.address,
            underlying.oracle.address,
        )
        settled = [e for e in underlying.derivatives.events() if e.name == "VariationMarginSettled"]
        rounds = {o.oracle_round: o.round for o in record.oracle_rounds if o.market == name}
        for event in settled:  # each settlement in the day's round that made its oracle round
            assert record.round_of_block(event.block) == rounds[event.args["roundId"]]


def test_the_record_reads_back_from_its_file(run: Run) -> None:
    assert SimulationRecord.load(run.out) == run.record
    assert SimulationRecord.load(run.out / RECORD_FILE).gas_by_operation() == run.record.gas_by_operation()


def test_the_members_identities_open_for_the_regulator_and_each_member_only(run: Run) -> None:
    market, record = run.market, run.record
    compliance = market.compliance
    disclosure = record.disclosure
    assert disclosure is not None
    assert disclosure.key == DEVNET_DISCLOSURE_KEY
    published = compliance.regulator_key()
    assert published is not None
    assert disclosure.key_epoch == published.epoch
    assert disclosure.public_key == HexBytes(published.public_key).to_0x_hex()
    assert disclosure.regulator == next(p.address for p in record.participants if p.role == "regulator")
    assert disclosure.accounts == tuple(m.address for m in record.members)
    events = compliance.identity_events()
    # the regulator's key (the one the record names) opens every member's identity, as planned
    regulator = compliance.disclosure(record.regulator_viewer_key(), events)
    assert regulator.note == "identities shown: 4 of 4 accounts"
    assert {address: identity.as_dict() for address, identity in regulator.identities.items()} == {
        m.address: {"legal_name": m.legal_name, "lei": m.lei, "jurisdiction": m.jurisdiction} for m in record.members
    }
    # a member's own key opens its own record only; the public reads addresses only
    first = record.members[0]
    assert list(compliance.disclosure(bytes(member_account(first.number).key), events).identities) == [first.address]
    public = Books(market).fund()
    assert public["member_name"].isna().all()
    assert "addresses only" in public.attrs["disclosure"]
    seen = Books(market, viewer_key=record.regulator_viewer_key()).fund()
    assert dict(zip(seen["member"], seen["member_lei"], strict=True)) == {m.address: m.lei for m in record.members}
    # sealed with keys drawn from the seed: sealing again gives the envelope on the chain (the run
    # repeats); without the seed's draws the same record seals to another envelope
    planned = run.result.plan.members[0]
    key = account_public_key(bytes(planned.account.key))
    draws = planned.identity_entropy(record.seed)
    again = compliance.seal_identity(planned.address, planned.identity, key, entropy=draws)
    assert again == latest_envelopes(events, compliance.address)[planned.address]
    assert compliance.seal_identity(planned.address, planned.identity, key) != again


def test_failed_dvps_moved_nothing(run: Run) -> None:
    market, record = run.market, run.record
    security, cash = market.deployment.security.address, market.cash.address
    kinds = Counter((d.kind, d.attempts[-1].settled, d.attempts[-1].error) for d in record.dvps)
    assert kinds == Counter(
        {
            ("settles", True, None): 2,
            ("frozen", False, "ComplianceAccountNotActive"): 1,
            ("expired", False, "SettlementExpired"): 1,
        }
    )
    transfer = "0x" + next(iter(event_specs(market.cash.contract, ("Transfer",)))).hex()
    for dvp in record.dvps:
        instruction = Instruction(
            dvp.seller, security, dvp.quantity, dvp.buyer, cash, dvp.amount, dvp.deadline, dvp.nonce
        )
        assert market.settlement.instruction_id(instruction) == dvp.id
        state = market.settlement.state_of(instruction)
        attempt = dvp.attempts[-1]
        assert (state is InstructionState.SETTLED) == attempt.settled
        # the attempt's transaction moved exactly the legs of the instructions it settled
        raw = rpc(run.chain.w3, "eth_getTransactionReceipt", [attempt.tx_hash])
        moved = Counter(
            (
                log.address,
                "0x" + log.topics[1][-20:].hex(),
                "0x" + log.topics[2][-20:].hex(),
                int.from_bytes(log.data, "big"),
            )
            for log in Receipt.parse(raw).logs
            if log.topics and "0x" + log.topics[0].hex() == transfer
        )
        legs: Counter[tuple[str, str, str, int]] = Counter()
        for other in record.dvps:
            if other.attempts[-1].tx_hash == attempt.tx_hash and other.attempts[-1].settled:
                legs[(security.lower(), other.seller.lower(), other.buyer.lower(), other.quantity)] += 1
                legs[(cash.lower(), other.buyer.lower(), other.seller.lower(), other.amount)] += 1
        assert moved == legs
        if dvp.kind == "frozen":  # frozen for the attempt only
            assert market.compliance.status(dvp.buyer) is AccountStatus.ACTIVE


# ---------------------------------------------------------------------------------- the command


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--members", "1"], "members.count: input should be greater than or equal to 2"),
        (["--shock", "XAU=-25%"], "--shock: 'XAU=-25%' is not [MARKET=]BPS"),
        (["--shock", "BTC=-500"], "shock.market: no market 'BTC'"),
        (["--rounds", "2"], "path.rounds: must leave room for a default after the shock"),
    ],
)
def test_bad_input_is_refused_before_a_chain_starts(arguments: list[str], message: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["simulate", "--out", str(tmp_path / "out"), *arguments])
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert "started a local Anvil" not in result.output
    assert not (tmp_path / "out").exists()
