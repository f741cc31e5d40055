"""Measured gas turned into capacity: what a market of M members, T trades, U underlyings and R
oracle rounds a day costs a chain, and where one chain's limits lie.

For one grid point ``(M, T, U, R)`` and a :class:`Workload` (what the market does in a day beyond
its size), the gas per day is the sum of:

* **oracle**: ``U * R`` rounds, each ``quorum`` reports (the first, the middle ones, the one that
  finalises the round);
* **settlement**: every live trade settles every round, ``T * R`` settlements in ``settleMany``
  batches at ``settle_per_trade`` gas each (the batch's own cost spread over its trades);
* **margin calls**: a share of those settlements opens a margin call instead, at
  ``margin_call_settle`` gas (the difference is added), and ``defaults_per_day`` close-outs;
* **DvP**: ``dvps_per_member * M`` instructions in ``settleBatch`` batches;
* **netting**: ``netting_rounds`` rounds of ``obligations_per_member * M`` obligations: open,
  register, close, verify the ``M`` nets, settle them (verification and settlement grow with the
  members, not the obligations);
* **identity records**: ``identity_records_per_day`` records written to the registry.

The one-off set-up (onboarding M members with their identity records, opening T trades) is shown
apart, as the first day's extra.

The chain has a block gas limit ``G`` (30M by default) and a block time ``b``: ``86_400 / b``
blocks a day. A day needs ``ceil(gas / G)`` blocks; a round's settlement (oracle and every trade)
needs ``ceil((U * round + T * settle) / G)`` blocks, which must be mined within the round
interval ``86_400 / R``. The single-chain limits: trades per block ``floor(G / settle_per_trade)``;
members per netting settlement (and verification) within one block, from their linear costs; and
the most live trades the chain can settle every round at ``R`` rounds a day once the rest of the
day's gas is served.

Defaults of :class:`GasProfile` are the measured figures of ``bench/results/`` (each cited);
the simulation passes its own measured gas to override them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from itertools import product
from typing import TYPE_CHECKING, Any

from dfmi_py.errors import InputError

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped]

__all__ = [
    "ChainLimits",
    "ChainSpec",
    "GasProfile",
    "GridPoint",
    "Workload",
    "capacity",
    "capacity_markdown",
    "capacity_table",
    "chain_limits",
]

_DAY = 86_400


@dataclass(frozen=True)
class GasProfile:
    """Gas of each operation (``gasUsed``, 21,000 intrinsic included, solc 0.8.37, 1,000 runs).

    Attributes:
        settle_per_trade: A trade's share of a ``settleMany`` batch, the batch's base included:
            31,981 with 10,000 trades over 500 parties (bench/results/keeper_latency.md; 26,944
            with 1,000 trades, 28,148 for a batch of 100 in bench/results/gas.md).
        margin_call_settle: A trade in a batch whose settlement opens a margin call: 60,862
            (bench/results/keeper_latency.md, 10,000 trades).
        default_closeout: ``declareDefault`` with a close-out reaching the survivors' tranche:
            213,481 (bench/results/gas.md, the same for 3, 30 and 100 members).
        oracle_first_submit: The report that opens a round: 43,514 (bench/results/gas.md).
        oracle_middle_submit: A report between the first and the last: 41,702 (gas.md).
        oracle_final_submit: The report that finalises the round (median): 80,107 (gas.md).
        dvp_per_instruction: An instruction in a ``settleBatch`` of 100, steady state: 69,068
            (bench/results/dvp_gas.md).
        netting_open: ``openRound``: 74,000 (bench/results/netting_gas.md).
        netting_register_per_obligation: An obligation registered in batches of 100: 59,219 on
            average (netting_gas.md, "Where the limit of one block lies").
        netting_close: ``close``: 31,873 (netting_gas.md).
        netting_verify_base, netting_verify_per_member: ``submitNets``: 34,468 + 7,479 per
            member (netting_gas.md, fitted from 10 and 200 members).
        netting_settle_base, netting_settle_per_member: ``settle``: 48,086 + 20,522 per member
            (netting_gas.md, fitted from 10 and 200 members).
        onboard_member: Onboarding one account (registry and two subscribed tokens): 110,566
            (bench/results/gas.md).
        identity_record: Recording an account's encrypted identity (a 346-byte envelope): 85,157
            (bench/results/gas.md).
        open_trade: ``propose`` + ``confirm`` with the default fund: 319,506 (gas.md).
    """

    settle_per_trade: int = 31_981
    margin_call_settle: int = 60_862
    default_closeout: int = 213_481
    oracle_first_submit: int = 43_514
    oracle_middle_submit: int = 41_702
    oracle_final_submit: int = 80_107
    dvp_per_instruction: int = 69_068
    netting_open: int = 74_000
    netting_register_per_obligation: int = 59_219
    netting_close: int = 31_873
    netting_verify_base: int = 34_468
    netting_verify_per_member: int = 7_479
    netting_settle_base: int = 48_086
    netting_settle_per_member: int = 20_522
    onboard_member: int = 110_566
    identity_record: int = 85_157
    open_trade: int = 319_506

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value < 0:
                raise InputError(f"gas profile: {name} must be >= 0, got {value}")
        if self.settle_per_trade <= 0 or self.netting_settle_per_member <= 0 or self.netting_verify_per_member <= 0:
            raise InputError("gas profile: settle_per_trade and the netting per-member costs must be > 0")

    def oracle_round(self, quorum: int) -> int:
        """Gas of one oracle round finalised by ``quorum`` reports (>= 2)."""
        if quorum < 2:
            raise InputError(f"an oracle round needs a quorum of at least 2 reports, got {quorum}")
        return self.oracle_first_submit + (quorum - 2) * self.oracle_middle_submit + self.oracle_final_submit

    def netting_verify(self, members: int) -> int:
        """``submitNets`` for ``members`` nets."""
        return self.netting_verify_base + self.netting_verify_per_member * members

    def netting_settle(self, members: int) -> int:
        """``settle`` moving ``members`` nets."""
        return self.netting_settle_base + self.netting_settle_per_member * members


@dataclass(frozen=True)
class Workload:
    """What the market does in a day beyond its size (assumptions; every one overridable).

    Attributes:
        quorum: Reports that finalise an oracle round (the suite's default: 3).
        margin_call_bps: Share of settlements that open a margin call, in basis points (1%).
        defaults_per_day: Default close-outs a day (0: a quiet day; stress days add them).
        dvps_per_member: DvP instructions a member settles a day.
        netting_rounds: Netting rounds a day.
        obligations_per_member: Payment obligations a member registers per netting round (the
            benchmark's 10).
        identity_records_per_day: Identity records written a day (new members, updates).
    """

    quorum: int = 3
    margin_call_bps: int = 100
    defaults_per_day: int = 0
    dvps_per_member: int = 10
    netting_rounds: int = 1
    obligations_per_member: int = 10
    identity_records_per_day: int = 0

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value < 0:
                raise InputError(f"workload: {name} must be >= 0, got {value}")
        if not 0 <= self.margin_call_bps <= 10_000:
            raise InputError(f"workload: margin_call_bps must be within 0..10000, got {self.margin_call_bps}")


@dataclass(frozen=True)
class ChainSpec:
    """The chain: its block gas limit and block time (seconds)."""

    gas_limit: int = 30_000_000
    block_seconds: float = 2.0

    def __post_init__(self) -> None:
        if self.gas_limit <= 0 or self.block_seconds <= 0:
            raise InputError(f"need a gas limit and a block time > 0, got {self.gas_limit} and {self.block_seconds}")

    @property
    def blocks_per_day(self) -> int:
        """Blocks mined in a day."""
        return math.floor(_DAY / self.block_seconds)


@dataclass(frozen=True)
class ChainLimits:
    """One chain's limits, whatever the market.

    Attributes:
        trades_per_block: Trade settlements one block holds.
        members_per_netting_settlement: Members whose nets one ``settle`` can move within a block.
        members_per_netting_verification: Members whose nets one ``submitNets`` can verify.
        obligations_per_block: Netting obligations one block registers.
        dvps_per_block: DvP instructions one block settles.
    """

    trades_per_block: int
    members_per_netting_settlement: int
    members_per_netting_verification: int
    obligations_per_block: int
    dvps_per_block: int


@dataclass(frozen=True)
class GridPoint:
    """One market size and its daily gas, blocks and fit on the chain.

    Gas figures are per day unless named otherwise; ``setup_gas`` is the one-off first day's extra.
    """

    members: int
    trades: int
    underlyings: int
    rounds_per_day: int
    oracle_gas: int
    settlement_gas: int
    margin_call_gas: int
    dvp_gas: int
    netting_gas: int
    identity_gas: int
    total_gas: int
    blocks_per_day: int
    utilisation: float
    round_blocks: int
    round_seconds: float
    round_fits: bool
    netting_fits: bool
    max_live_trades: int
    setup_gas: int
    setup_blocks: int

    @property
    def fits(self) -> bool:
        """Whether one chain carries this market: the day's blocks, each round in its interval,
        and the netting settlement in one block."""
        return self.utilisation <= 1.0 and self.round_fits and self.netting_fits

    def record(self) -> dict[str, Any]:
        """One flat row."""
        row = asdict(self)
        row["fits"] = self.fits
        return row


def chain_limits(profile: GasProfile | None = None, chain: ChainSpec | None = None) -> ChainLimits:
    """The chain's limits for this gas profile (see the module docstring)."""
    g = profile or GasProfile()
    c = chain or ChainSpec()
    return ChainLimits(
        trades_per_block=c.gas_limit // g.settle_per_trade,
        members_per_netting_settlement=max(0, (c.gas_limit - g.netting_settle_base) // g.netting_settle_per_member),
        members_per_netting_verification=max(0, (c.gas_limit - g.netting_verify_base) // g.netting_verify_per_member),
        obligations_per_block=c.gas_limit // max(1, g.netting_register_per_obligation),
        dvps_per_block=c.gas_limit // max(1, g.dvp_per_instruction),
    )


def capacity(
    members: int,
    trades: int,
    underlyings: int,
    rounds_per_day: int,
    profile: GasProfile | None = None,
    workload: Workload | None = None,
    chain: ChainSpec | None = None,
) -> GridPoint:
    """Daily gas, blocks and fit of one market size (formulas in the module docstring).

    Args:
        members: M, the members (> 0).
        trades: T, the live trades (>= 0).
        underlyings: U, the markets (> 0).
        rounds_per_day: R, oracle rounds (and settlements) a day (> 0).
        profile: Gas per operation (default: the measured figures).
        workload: The day's activity beyond the size (default :class:`Workload`).
        chain: Block gas limit and block time (default 30M gas, 2 s).

    Returns:
        The grid point.

    Raises:
        InputError: If a size is out of range.
    """
    if members <= 0 or trades < 0 or underlyings <= 0 or rounds_per_day <= 0:
        raise InputError(
            f"need members > 0, trades >= 0, underlyings > 0 and rounds a day > 0, got "
            f"{members}, {trades}, {underlyings}, {rounds_per_day}"
        )
    g = profile or GasProfile()
    w = workload or Workload()
    c = chain or ChainSpec()

    oracle_round = g.oracle_round(w.quorum)
    settlements = trades * rounds_per_day
    calls = settlements * w.margin_call_bps // 10_000
    oracle_gas = underlyings * rounds_per_day * oracle_round
    settlement_gas = settlements * g.settle_per_trade
    call_extra = max(0, g.margin_call_settle - g.settle_per_trade)
    margin_call_gas = calls * call_extra + w.defaults_per_day * g.default_closeout
    dvp_gas = w.dvps_per_member * members * g.dvp_per_instruction
    netting_round = (
        g.netting_open
        + w.obligations_per_member * members * g.netting_register_per_obligation
        + g.netting_close
        + g.netting_verify(members)
        + g.netting_settle(members)
    )
    netting_gas = w.netting_rounds * netting_round
    identity_gas = w.identity_records_per_day * g.identity_record
    total = oracle_gas + settlement_gas + margin_call_gas + dvp_gas + netting_gas + identity_gas

    blocks = math.ceil(total / c.gas_limit)
    round_gas = underlyings * oracle_round + trades * g.settle_per_trade
    round_blocks = math.ceil(round_gas / c.gas_limit)
    interval = _DAY / rounds_per_day
    round_seconds = round_blocks * c.block_seconds

    # The most trades settled every round once the rest of the day (oracle, DvP, netting,
    # identities, close-outs) is served: each costs R settlements a day, margin_call_bps of them
    # margin calls (integer arithmetic, in ten-thousandths of gas).
    per_trade_day_bps = rounds_per_day * (10_000 * g.settle_per_trade + w.margin_call_bps * call_extra)
    rest = oracle_gas + dvp_gas + netting_gas + identity_gas + w.defaults_per_day * g.default_closeout
    spare = c.blocks_per_day * c.gas_limit - rest
    by_day = max(0, spare * 10_000 // per_trade_day_bps)
    # ... and within each round's interval, next to the oracle's rounds.
    round_capacity = math.floor(interval / c.block_seconds) * c.gas_limit - underlyings * oracle_round
    by_round = max(0, round_capacity // g.settle_per_trade)
    setup = members * (g.onboard_member + g.identity_record) + trades * g.open_trade
    limits = chain_limits(g, c)
    return GridPoint(
        members=members,
        trades=trades,
        underlyings=underlyings,
        rounds_per_day=rounds_per_day,
        oracle_gas=oracle_gas,
        settlement_gas=settlement_gas,
        margin_call_gas=margin_call_gas,
        dvp_gas=dvp_gas,
        netting_gas=netting_gas,
        identity_gas=identity_gas,
        total_gas=total,
        blocks_per_day=blocks,
        utilisation=blocks / c.blocks_per_day,
        round_blocks=round_blocks,
        round_seconds=round_seconds,
        round_fits=round_seconds <= interval,
        netting_fits=members <= min(limits.members_per_netting_settlement, limits.members_per_netting_verification),
        max_live_trades=min(by_day, by_round),
        setup_gas=setup,
        setup_blocks=math.ceil(setup / c.gas_limit),
    )


def capacity_table(
    members: Iterable[int] = (8, 50, 200),
    trades: Iterable[int] = (100, 1_000, 10_000),
    underlyings: Iterable[int] = (1, 3, 10),
    rounds_per_day: Iterable[int] = (24, 96, 288),
    profile: GasProfile | None = None,
    workload: Workload | None = None,
    chain: ChainSpec | None = None,
) -> pd.DataFrame:
    """One row per grid point ``(M, T, U, R)`` (columns of :meth:`GridPoint.record`)."""
    import pandas as pd  # imported on use

    rows = [
        capacity(m, t, u, r, profile, workload, chain).record()
        for m, t, u, r in product(list(members), list(trades), list(underlyings), list(rounds_per_day))
    ]
    return pd.DataFrame(rows)


def _millions(gas: int) -> str:
    return f"{gas / 1e6:,.1f}M"


def capacity_markdown(
    points: Sequence[GridPoint],
    profile: GasProfile | None = None,
    workload: Workload | None = None,
    chain: ChainSpec | None = None,
) -> str:
    """A short markdown section: the chain's limits, then one table row per grid point.

    Args:
        points: Grid points from :func:`capacity` (computed with the same profile, workload, chain).
        profile: The gas profile they used.
        workload: The workload they used.
        chain: The chain they used.
    """
    g = profile or GasProfile()
    w = workload or Workload()
    c = chain or ChainSpec()
    limits = chain_limits(g, c)
    lines = [
        f"On a chain of {c.gas_limit:,}-gas blocks every {c.block_seconds:g} s ({c.blocks_per_day:,} blocks a day):",
        f"- one block settles at most **{limits.trades_per_block:,} trades** "
        f"({g.settle_per_trade:,} gas each in a batch);",
        f"- one netting settlement moves the nets of at most **{limits.members_per_netting_settlement:,} members** "
        f"(verification: {limits.members_per_netting_verification:,});",
        f"- one block registers {limits.obligations_per_block:,} netting obligations "
        f"and settles {limits.dvps_per_block:,} DvP instructions.",
        "",
        f"A day's work assumed: {w.quorum} reports a round, {w.margin_call_bps / 100:g}% of settlements open a "
        f"margin call, {w.defaults_per_day} close-outs, {w.dvps_per_member} DvPs a member, {w.netting_rounds} "
        f"netting round(s) of {w.obligations_per_member} obligations a member, "
        f"{w.identity_records_per_day} identity records.",
        "",
        "| M | T | U | R | gas a day | settlement | oracle | netting | DvP | blocks a day | use | "
        "blocks a round | max trades at R | fits |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for p in points:
        lines.append(
            f"| {p.members:,} | {p.trades:,} | {p.underlyings} | {p.rounds_per_day} | {_millions(p.total_gas)} | "
            f"{_millions(p.settlement_gas + p.margin_call_gas)} | {_millions(p.oracle_gas)} | "
            f"{_millions(p.netting_gas)} | {_millions(p.dvp_gas)} | {p.blocks_per_day:,} | {p.utilisation:.2%} | "
            f"{p.round_blocks} | {p.max_live_trades:,} | {'yes' if p.fits else 'no'} |"
        )
    lines.append("")
    lines.append(
        "Gas per operation from bench/results/ (gas.md, keeper_latency.md, dvp_gas.md, netting_gas.md) unless "
        "the simulation measured its own; the identity record's is an estimate until measured."
    )
    return "\n".join(lines)
