"""The capacity model's gas profile measured on the small simulated day (tests/simulate/conftest.py).

The profile is worked out from the record alone (its action table, trades, margin calls,
defaults); these tests count the same things on the chain through the books (each settlement's
event in its transaction, each report's events) and check the figures follow from them. No gas
figure is asserted: they live in bench/results/capacity.md.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest

from dfmi_py.books import Books
from dfmi_py.simulate.capacity import GasProfile
from dfmi_py.simulate.gas_profile import day_check, day_workload, measured_profile
from tests.simulate.conftest import SMALL_RUN_GROUP, Run

pytestmark = pytest.mark.xdist_group(SMALL_RUN_GROUP)


def _per(total: int, count: int) -> int:
    return (2 * total + count) // (2 * count)


def test_settlements_are_measured_over_the_trades_the_chain_settled(small_run: Run) -> None:
    record = small_run.record
    flows = Books(small_run.market).margin_flows()
    settled = Counter(str(tx).lower() for tx in flows.loc[flows["kind"] == "variation_margin", "tx_hash"])
    calls = Counter(c.tx_hash.lower() for c in record.margin_calls)
    batches = [a for a in record.actions if a.operation == "DerivativeEngine.settleMany" and a.status == 1]
    plain = [a for a in batches if not calls[a.tx_hash]]
    called = [a for a in batches if calls[a.tx_hash]]
    assert called, "the small day's shock opens margin calls in a batch"
    trades = sum(settled[a.tx_hash] for a in plain)
    measured = measured_profile(record)
    per_trade = _per(sum(a.gas_used for a in plain), trades)
    assert measured.profile.settle_per_trade == per_trade
    assert measured.sources["settle_per_trade"].startswith(f"{trades:,} trades in ")
    extra = sum(a.gas_used - (settled[a.tx_hash] - calls[a.tx_hash]) * per_trade for a in called)
    assert measured.profile.margin_call_settle == _per(extra, sum(calls[a.tx_hash] for a in called))


def test_reports_are_first_middle_or_final_as_the_oracles_events_say(small_run: Run) -> None:
    """A report that opened its oracle round emitted ``NewRound``, the one that finalised it
    ``RoundFinalised``; the profile, which goes by their order in each round, agrees."""
    books = Books(small_run.market)
    books.refresh()
    events: dict[str, set[str]] = {}
    for e in books.ledger.events():
        if e.contract.startswith("PriceOracle"):
            events.setdefault(e.tx_hash.lower(), set()).add(e.name)
    gas: dict[str, list[int]] = {"first": [], "middle": [], "final": []}
    for a in small_run.record.actions:
        if a.operation == "PriceOracle.submit" and a.status == 1:
            names = events[a.tx_hash]
            kind = "first" if "NewRound" in names else "final" if "RoundFinalised" in names else "middle"
            gas[kind].append(a.gas_used)
    profile = measured_profile(small_run.record).profile
    assert (profile.oracle_first_submit, profile.oracle_middle_submit, profile.oracle_final_submit) == tuple(
        _per(sum(g), len(g)) for g in gas.values()
    )


def test_what_the_day_did_not_measure_keeps_the_benchmarks_figure(small_run: Run) -> None:
    record = small_run.record
    closeouts = "DerivativeEngine.declareDefault"
    quiet = replace(record, actions=tuple(a for a in record.actions if a.operation != closeouts))
    measured = measured_profile(quiet)
    assert measured.profile.default_closeout == GasProfile().default_closeout
    assert measured.sources["default_closeout"] == "benchmark"
    records = [a.gas_used for a in record.actions if a.operation == "ComplianceRegistry.recordIdentity"]
    assert len(records) == len(record.members)
    assert measured.profile.identity_record == _per(sum(records), len(records))


def test_the_capacity_model_at_the_days_size_spends_the_days_gas(small_run: Run) -> None:
    """The identity records the model prices exactly (up to the rounding of a mean); the oracle,
    the settlements and the netting round within 15%: the model settles every trade every round
    (the day closed one out), takes whole obligations per member (the day's 6 payments among 4
    members are 2 each) and no exclusion (the day excluded the defaulter from its netting round)."""
    record = small_run.record
    workload = day_workload(record)
    assert (workload.defaults_per_day, workload.identity_records_per_day) == (len(record.defaults), len(record.members))
    check = day_check(record, measured_profile(record).profile)
    modelled, spent = check.modelled, check.measured
    assert abs(modelled["identity"] - spent["identity"]) < len(record.members)
    for kind in ("oracle", "settlement", "netting"):
        assert modelled[kind] == pytest.approx(spent[kind], rel=0.15), kind
