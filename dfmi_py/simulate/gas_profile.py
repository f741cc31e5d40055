"""The gas a simulated day measured, as the capacity model's profile and the day's own workload.

:func:`measured_profile` turns a :class:`~dfmi_py.simulate.record.SimulationRecord` into a
:class:`~dfmi_py.simulate.capacity.GasProfile`: each figure is the day's own ``gasUsed`` (read
back from the chain into the record's action table), divided by what the transactions did, known
from the record alone:

- **settle_per_trade**: the keeper's ``settleMany`` transactions of each round and market that
  opened no margin call, their gas over the trades they settled (every live trade of the market:
  the trades not closed out before, nor in that round, which a ``declareDefault`` of its own
  settles);
- **margin_call_settle**: in the batches that did open (or renew) margin calls, what the batch
  cost beyond its other trades at ``settle_per_trade``, over the calls;
- **default_closeout**: the mean ``declareDefault``;
- **oracle_first_submit**, **oracle_middle_submit**, **oracle_final_submit**: each market's
  reports in each round in chain order: the first opened the oracle round, the last finalised it,
  those between are the middle ones (a round with a jump waits for more of them);
- **dvp_per_instruction**: ``settleBatch`` gas over the instructions attempted in it (settled and
  failed; a small batch carries its base cost over fewer instructions than the benchmark's 100);
- **netting_open**, **netting_close**: the day's ``openRound`` and ``close``;
  **netting_register_per_obligation**: ``registerBatch`` gas over the obligations registered;
  **netting_verify_per_member**, **netting_settle_per_member**: the last ``submitNets`` and the
  ``settle``, less the benchmark's base cost (:class:`GasProfile`'s, fitted over 10 and 200
  members: one day gives one point), over the members whose nets they carried (the parties of
  the obligations left after any exclusion);
- **onboard_member**: the members' ``onboardBatch`` over the members onboarded;
- **identity_record**: the mean ``recordIdentity``;
- **open_trade**: the mean ``propose`` plus the mean ``confirm``.

A figure the day did not measure (no default, no DvP, no netting round) keeps the benchmark's
value, and :attr:`MeasuredProfile.sources` says which. :func:`day_workload` is the day's own
activity as a :class:`~dfmi_py.simulate.capacity.Workload`, so the capacity model can be checked
against the day it came from (:func:`day_check`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields, replace

from dfmi_py.simulate.capacity import GasProfile, GridPoint, Workload, capacity
from dfmi_py.simulate.record import ActionRecord, SimulationRecord

__all__ = ["DayCheck", "MeasuredProfile", "day_check", "day_workload", "measured_profile"]

_BPS = 10_000
#: The keeper's settling transactions (a close-out settles its trade first).
_SETTLING = ("DerivativeEngine.settleMany", "DerivativeEngine.declareDefault")
#: Where a measured figure goes: its field, its value (``None``: not measured), what it was measured over.
_Put = Callable[[str, int | None, str], None]


@dataclass(frozen=True)
class MeasuredProfile:
    """A gas profile and where each of its figures came from.

    Attributes:
        profile: The figures.
        sources: Per field of :class:`GasProfile`: what the day measured it over (``"312 trades
            in 18 batches"``), or ``"benchmark"`` where the day did not measure it.
    """

    profile: GasProfile
    sources: dict[str, str]


def measured_profile(record: SimulationRecord, base: GasProfile | None = None) -> MeasuredProfile:
    """The day's gas per operation (see the module's text).

    Args:
        record: A finished day's record.
        base: The figures the day does not measure come from it (default: the benchmarks').
    """
    start = base or GasProfile()
    found: dict[str, int] = {}
    sources = {f.name: "benchmark" for f in fields(GasProfile)}
    mined = [a for a in record.actions if a.status == 1]

    def put(name: str, value: int | None, source: str) -> None:
        if value is not None and value > 0:
            found[name] = value
            sources[name] = source

    _settlements(record, mined, start, put)
    closeouts = _of(mined, "DerivativeEngine.declareDefault")
    put("default_closeout", _mean(a.gas_used for a in closeouts), f"{len(closeouts)} close-outs")
    _oracle(mined, put)
    _dvps(record, mined, put)
    _netting(record, mined, start, put)
    onboard = [a for a in _of(mined, "ComplianceRegistry.onboardBatch") if a.phase == "onboard"]
    put(
        "onboard_member",
        _per(sum(a.gas_used for a in onboard), len(record.members)) if onboard else None,
        f"{len(record.members)} members in {len(onboard)} batch{'es' if len(onboard) != 1 else ''}",
    )
    identities = _of(mined, "ComplianceRegistry.recordIdentity")
    put("identity_record", _mean(a.gas_used for a in identities), f"{len(identities)} records")
    proposals, confirmations = _of(mined, "DerivativeEngine.propose"), _of(mined, "DerivativeEngine.confirm")
    if proposals and confirmations:
        opened = _per(sum(a.gas_used for a in proposals), len(proposals))
        opened += _per(sum(a.gas_used for a in confirmations), len(confirmations))
        put("open_trade", opened, f"{len(proposals)} proposals and {len(confirmations)} confirmations")
    return MeasuredProfile(replace(start, **found), sources)


def day_workload(record: SimulationRecord) -> Workload:
    """The day's own activity as a :class:`Workload`: reports per oracle round, the share of
    settlements that opened a margin call, its close-outs, DvPs per member, its netting round and
    obligations per member, its identity records (rounded to whole numbers per member)."""
    mined = [a for a in record.actions if a.status == 1]
    submits = _of(mined, "PriceOracle.submit")
    made = [o for o in record.oracle_rounds if o.oracle_round is not None]
    settled = sum(n for n, _, _ in _batches(record, mined).values())
    members = len(record.members)
    payments = len(record.netting.obligations) if record.netting is not None else 0
    return Workload(
        quorum=max(2, round(len(submits) / max(1, len(made)))),
        margin_call_bps=min(_BPS, len(record.margin_calls) * _BPS // max(1, settled)),
        defaults_per_day=len(_of(mined, "DerivativeEngine.declareDefault")),
        dvps_per_member=round(len(record.dvps) / members),
        netting_rounds=0 if record.netting is None else 1,
        obligations_per_member=round(payments / members),
        identity_records_per_day=len(_of(mined, "ComplianceRegistry.recordIdentity")),
    )


@dataclass(frozen=True)
class DayCheck:
    """The capacity model against the day it was measured on.

    Attributes:
        point: The model's figures for the day's size, profile and workload.
        measured: The day's own gas, by the model's kinds (``oracle``, ``settlement``, ``DvP``,
            ``netting``, ``identity``), its set-up apart.
    """

    point: GridPoint
    measured: dict[str, int]

    @property
    def modelled(self) -> dict[str, int]:
        """The model's gas, by the same kinds."""
        p = self.point
        return {
            "oracle": p.oracle_gas,
            "settlement": p.settlement_gas + p.margin_call_gas,
            "DvP": p.dvp_gas,
            "netting": p.netting_gas,
            "identity": p.identity_gas,
        }


def day_check(record: SimulationRecord, profile: GasProfile) -> DayCheck:
    """The capacity model for the day's size (members, trades, markets, rounds after the opening
    one) with ``profile`` and :func:`day_workload`, beside the gas the day spent on the same work."""
    rounds = len(record.rounds) - 1
    workload = day_workload(record)
    point = capacity(len(record.members), len(record.trades), len(record.markets), rounds, profile, workload)
    mined = [a for a in record.actions if a.status == 1]
    day = [a for a in mined if a.round is not None and a.round > 0]  # the opening round sets prices only

    def gas(actions: Iterable[ActionRecord], test: Callable[[ActionRecord], bool]) -> int:
        return sum(a.gas_used for a in actions if test(a))

    measured = {
        "oracle": gas(day, lambda a: a.operation == "PriceOracle.submit"),
        "settlement": gas(day, lambda a: a.operation in _SETTLING),
        "DvP": gas(day, lambda a: a.operation == "AtomicSettlement.settleBatch"),
        "netting": gas(mined, lambda a: a.phase == "netting" and a.operation.startswith("NettingEngine.")),
        "identity": gas(mined, lambda a: a.operation == "ComplianceRegistry.recordIdentity"),
    }
    return DayCheck(point, measured)


# ---------------------------------------------------------------------- internals


def _of(actions: Sequence[ActionRecord], operation: str) -> list[ActionRecord]:
    return [a for a in actions if a.operation == operation]


def _mean(values: Iterable[int]) -> int | None:
    listed = list(values)
    return _per(sum(listed), len(listed)) if listed else None


def _per(total: int, count: int) -> int:
    """``total / count`` rounded to the nearest unit."""
    return (2 * total + count) // (2 * count)


def _batches(record: SimulationRecord, mined: Sequence[ActionRecord]) -> dict[tuple[int, str], tuple[int, int, int]]:
    """Per (round, market) of the keeper's ``settleMany``: trades settled, margin calls opened or
    renewed, gas."""
    closed = {(d.market, d.trade_id): d.round for d in record.defaults}
    live: dict[tuple[int, str], int] = {}
    for r in (r.round for r in record.rounds):
        for t in record.trades:
            if closed.get((t.market, t.trade_id), r + 1) > r:
                live[(r, t.market)] = live.get((r, t.market), 0) + 1
    calls: dict[str, int] = {}
    for c in record.margin_calls:
        calls[c.tx_hash.lower()] = calls.get(c.tx_hash.lower(), 0) + 1
    out: dict[tuple[int, str], tuple[int, int, int]] = {}
    for a in _of(mined, "DerivativeEngine.settleMany"):
        if a.round is None:
            continue
        key = (a.round, a.market)
        _, k, gas = out.get(key, (0, 0, 0))
        out[key] = (live.get(key, 0), k + calls.get(a.tx_hash.lower(), 0), gas + a.gas_used)
    return out


def _settlements(record: SimulationRecord, mined: Sequence[ActionRecord], start: GasProfile, put: _Put) -> None:
    batches = _batches(record, mined).values()
    plain = [(n, gas) for n, k, gas in batches if k == 0 and n > 0]
    trades = sum(n for n, _ in plain)
    per_trade = _per(sum(gas for _, gas in plain), trades) if trades else None
    put("settle_per_trade", per_trade, f"{trades:,} trades in {len(plain)} batches")
    each = per_trade or start.settle_per_trade
    called = [(n, k, gas) for n, k, gas in batches if k > 0]
    calls = sum(k for _, k, _ in called)
    if calls:
        extra = sum(gas - (n - k) * each for n, k, gas in called)
        put("margin_call_settle", _per(extra, calls), f"{calls} margin calls in {len(called)} batches")


def _oracle(mined: Sequence[ActionRecord], put: _Put) -> None:
    groups: dict[tuple[int | None, str], list[int]] = {}
    for a in _of(mined, "PriceOracle.submit"):
        groups.setdefault((a.round, a.market), []).append(a.gas_used)
    first = [g[0] for g in groups.values() if len(g) >= 2]
    final = [g[-1] for g in groups.values() if len(g) >= 2]
    middle = [gas for g in groups.values() for gas in g[1:-1]]
    rounds = f"{len(first)} rounds"
    put("oracle_first_submit", _mean(first), rounds)
    put("oracle_middle_submit", _mean(middle), f"{len(middle)} reports in {len(first)} rounds")
    put("oracle_final_submit", _mean(final), rounds)


def _dvps(record: SimulationRecord, mined: Sequence[ActionRecord], put: _Put) -> None:
    batches = _of(mined, "AtomicSettlement.settleBatch")
    hashes = {a.tx_hash.lower() for a in batches}
    attempts = sum(1 for d in record.dvps for t in d.attempts if t.tx_hash.lower() in hashes)
    if attempts:
        total = sum(a.gas_used for a in batches)
        put("dvp_per_instruction", _per(total, attempts), f"{attempts} instructions in {len(batches)} batches")


def _netting(record: SimulationRecord, mined: Sequence[ActionRecord], start: GasProfile, put: _Put) -> None:
    netting = record.netting
    if netting is None:
        return
    opened, closed = _of(mined, "NettingEngine.openRound"), _of(mined, "NettingEngine.close")
    put("netting_open", _mean(a.gas_used for a in opened), "the day's round")
    put("netting_close", _mean(a.gas_used for a in closed), "the day's round")
    registered = _of(mined, "NettingEngine.registerBatch")
    count = len(netting.obligations)
    if registered and count:
        total = sum(a.gas_used for a in registered)
        put("netting_register_per_obligation", _per(total, count), f"{count} obligations")
    excluded = set(netting.excluded)
    kept = [o for o in netting.obligations if o.payer not in excluded and o.payee not in excluded]
    members = len({p for o in kept for p in (o.payer, o.payee)})
    if not members:
        return
    verified, settled = _of(mined, "NettingEngine.submitNets"), _of(mined, "NettingEngine.settle")
    over = f"{members} members' nets (the base cost from the benchmark)"
    if verified:
        put("netting_verify_per_member", _per(max(0, verified[-1].gas_used - start.netting_verify_base), members), over)
    if settled:
        put("netting_settle_per_member", _per(max(0, settled[-1].gas_used - start.netting_settle_base), members), over)
