"""Gas turned into capacity: one grid point worked by hand, the chain's limits, monotonicity."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dfmi_py.errors import InputError
from dfmi_py.simulate.capacity import (
    ChainSpec,
    GasProfile,
    Workload,
    capacity,
    capacity_markdown,
    capacity_table,
    chain_limits,
)
from tests.helpers import examples

EXAMPLES = examples(25, "DFMI_CCP_EXAMPLES")


def test_capacity_handWorked_eightMembersHundredTradesThreeMarketsHourly():
    """M = 8, T = 100, U = 3, R = 24 with the measured profile, on 30M-gas blocks every 2 s.

    oracle: 3 * 24 rounds of 43,514 + 41,702 + 80,107 = 165,323 -> 11,903,256
    settlement: 100 * 24 = 2,400 settlements * 31,981 -> 76,754,400
    margin calls: 1% of 2,400 = 24, each 60,862 - 31,981 = 28,881 more -> 693,144
    DvP: 10 * 8 = 80 instructions * 69,068 -> 5,525,440
    netting: open 74,000 + 80 obligations * 59,219 (4,737,520) + close 31,873
             + verify 34,468 + 8 * 7,479 (94,300) + settle 48,086 + 8 * 20,522 (212,262) -> 5,149,955
    total 100,026,195: ceil(/ 30M) = 4 blocks of the day's 86,400 / 2 = 43,200.
    A round: 3 * 165,323 + 100 * 31,981 = 3,694,069, one block, 2 s of its 3,600.
    Most live trades at 24 rounds: the day's 43,200 * 30M = 1,296,000,000,000 gas less the rest
    (oracle + DvP + netting = 22,578,651) over 24 * (31,981 + 1% * 28,881) = 774,475.44 a trade:
    1,673,361; a round's 1,800 blocks hold (54,000,000,000 - 495,969) // 31,981 = 1,688,487.
    Set-up: 8 * (110,566 + 85,157) + 100 * 319,506 = 33,516,384, 2 blocks.
    """
    p = capacity(8, 100, 3, 24)
    assert (p.oracle_gas, p.settlement_gas, p.margin_call_gas) == (11_903_256, 76_754_400, 693_144)
    assert (p.dvp_gas, p.netting_gas, p.identity_gas) == (5_525_440, 5_149_955, 0)
    assert (p.total_gas, p.blocks_per_day) == (100_026_195, 4)
    assert p.utilisation == pytest.approx(4 / 43_200)
    assert (p.round_blocks, p.round_seconds, p.round_fits, p.netting_fits, p.fits) == (1, 2.0, True, True, True)
    assert p.max_live_trades == 1_673_361
    assert (p.setup_gas, p.setup_blocks) == (33_516_384, 2)


def test_chainLimits_matchTheBenchReports():
    """netting_gas.md: one settlement moves at most about 1,459 members' nets, one verification
    checks 4,006, one block registers 506 obligations; 30M / 31,981 = 938 trades a block."""
    limits = chain_limits()
    assert (limits.trades_per_block, limits.members_per_netting_settlement) == (938, 1_459)
    assert (limits.members_per_netting_verification, limits.obligations_per_block) == (4_006, 506)
    assert limits.dvps_per_block == 434
    assert chain_limits(chain=ChainSpec(gas_limit=15_000_000)).trades_per_block == 469


def test_capacity_whereOneChainStops():
    """2,000 members: one netting settlement cannot move their nets in a block. 200,000 trades
    every 5 minutes: a round needs ceil((495,969 + 6,396,200,000) / 30M) = 214 blocks, 428 s."""
    assert not capacity(2_000, 100, 3, 24).netting_fits
    crowded = capacity(50, 200_000, 3, 288)
    assert (crowded.round_blocks, crowded.round_seconds, crowded.round_fits) == (214, 428.0, False)
    assert not crowded.fits
    assert crowded.max_live_trades < 200_000


def test_capacity_measuredGasOverridesTheProfile():
    measured = GasProfile(settle_per_trade=25_000, margin_call_settle=25_000)
    p = capacity(8, 100, 3, 24, profile=measured, workload=Workload(identity_records_per_day=2))
    assert (p.settlement_gas, p.margin_call_gas, p.identity_gas) == (60_000_000, 0, 2 * 85_157)


def test_capacity_refusesImpossibleSizes():
    with pytest.raises(InputError, match="need members > 0"):
        capacity(0, 10, 1, 24)
    with pytest.raises(InputError, match="quorum of at least 2"):
        capacity(8, 10, 1, 24, workload=Workload(quorum=1))
    with pytest.raises(InputError, match="settle_per_trade must be >= 0"):
        GasProfile(settle_per_trade=-1)


def test_capacityTable_andMarkdown():
    table = capacity_table(members=(8, 50), trades=(100,), underlyings=(3,), rounds_per_day=(24, 96))
    assert len(table) == 4
    assert {"members", "trades", "underlyings", "rounds_per_day", "total_gas", "max_live_trades", "fits"} <= set(
        table.columns
    )
    text = capacity_markdown([capacity(8, 100, 3, 24)])
    assert "at most **938 trades**" in text
    assert "**1,459 members**" in text
    assert "| 8 | 100 | 3 | 24 | 100.0M |" in text


sizes = st.tuples(st.integers(1, 500), st.integers(0, 50_000), st.integers(1, 20), st.integers(1, 1_440))


@settings(max_examples=EXAMPLES)
@given(size=sizes, which=st.integers(0, 3), more=st.integers(1, 100))
def test_capacity_growsWithEverySize(size: tuple[int, int, int, int], which: int, more: int):
    """More members, trades, markets or rounds never cost less gas or fewer blocks, never leave
    room for more live trades, and never turn a market that does not fit into one that does."""
    bigger = list(size)
    bigger[which] += more
    small, large = capacity(*size), capacity(*bigger)
    assert large.total_gas >= small.total_gas
    assert large.blocks_per_day >= small.blocks_per_day
    assert large.round_blocks >= small.round_blocks
    assert large.max_live_trades <= small.max_live_trades
    assert not (large.fits and not small.fits)
