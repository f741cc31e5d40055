"""Attacks on the price oracle by its own reporters: reporting twice in a round, an extreme value,
and colluding reporters.

The oracle here has seven reporters and tolerates ``maxFaults = 2`` (quorum 5, jump quorum 5):
the five devnet reporters and two more development accounts given ether for the purpose. Round 1
is final at :data:`PRICE` (the anchor). Every attack is run as the attacking reporters would:
they report first, in between or last, at the bounds or at the edge of the jump limit. Up to
``maxFaults`` of them never move an answer outside the range of the honest reports of the round.
One more than ``maxFaults`` (fewer than the quorum still) names the answer, anywhere within the
bounds: the oracle's stated fault model (``quorum >= 2f + 1``) tolerates ``maxFaults`` dishonest
reporters and no more, and
:func:`test_one_colluder_beyond_max_faults_sets_the_answer_which_is_the_fault_models_limit` pins
that limit for the threat model.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from eth_account.signers.local import LocalAccount
from web3.contract import Contract

from dfmi_py.api.oracle import OracleConfig
from dfmi_py.chain import Chain, dev_account
from dfmi_py.deploy.roles import DEV_REPORTER_INDICES
from tests.contracts.conftest import deploy_quickly, send_setup
from tests.helpers import Roles, SetupCache, expect_revert, leaves_unchanged

DECIMALS = 8
PRICE = 2_000 * 10**DECIMALS
MIN_ANSWER = 1 * 10**DECIMALS
MAX_ANSWER = 1_000_000 * 10**DECIMALS
MAX_JUMP_BPS = 2_000
CONFIG = OracleConfig(
    max_faults=2,
    quorum=5,
    jump_quorum=5,
    max_jump_bps=MAX_JUMP_BPS,
    heartbeat=3_600,
    jump_window=3_600,
    min_answer=MIN_ANSWER,
    max_answer=MAX_ANSWER,
)
#: Development accounts that report besides the devnet reporters (unfunded by default).
EXTRA_REPORTERS = (22, 23)
#: What the honest reporters of a round see (each within a few dollars of PRICE).
HONEST = (PRICE - 3 * 10**DECIMALS, PRICE + 2 * 10**DECIMALS, PRICE + 5 * 10**DECIMALS)


@pytest.fixture
def reporters() -> tuple[LocalAccount, ...]:
    return tuple(dev_account(i) for i in (*DEV_REPORTER_INDICES, *EXTRA_REPORTERS))


@pytest.fixture
def oracle(
    request: pytest.FixtureRequest,
    setup_cache: SetupCache,
    chain: Chain,
    roles: Roles,
    reporters: tuple[LocalAccount, ...],
) -> Contract:
    """Seven reporters, ``maxFaults`` 2; round 1 final at PRICE."""

    def setup() -> Contract:
        for index in EXTRA_REPORTERS:
            chain.w3.provider.make_request("anvil_setBalance", [dev_account(index).address, hex(10**20)])  # type: ignore[list-item]
        args = ["EUR / USD", DECIMALS, [r.address for r in reporters], CONFIG.as_tuple()]
        contract = deploy_quickly(chain, "PriceOracle", args, roles.admin)
        send_setup(chain, [(contract.functions.submit(1, PRICE), r) for r in reporters[:5]])
        return contract

    return setup_cache.setup(request, setup)


def _round(chain: Chain, oracle: Contract, reports: Sequence[tuple[LocalAccount, int]]) -> int:
    """Send the open round's reports in order; the round's final answer."""
    round_id = int(oracle.functions.openRound().call())
    send_setup(chain, [(oracle.functions.submit(round_id, answer), r) for r, answer in reports])
    final_id, answer, _, _, _ = oracle.functions.latestRoundData().call()
    assert final_id == round_id, "the round did not finalise"
    return int(answer)


def _state(oracle: Contract) -> dict[str, object]:
    round_id = oracle.functions.openRound().call()
    return {
        "open": round_id,
        "reports": oracle.functions.submissionsOf(round_id).call(),
        "latest": oracle.functions.latestRoundData().call(),
    }


def test_a_reporter_reporting_twice_in_a_round_is_refused_and_counted_once(
    chain: Chain, oracle: Contract, reporters: tuple[LocalAccount, ...]
) -> None:
    liar, honest = reporters[0], reporters[1:5]
    send_setup(chain, [(oracle.functions.submit(2, MAX_ANSWER), liar)])
    with leaves_unchanged(lambda: {"state": hash(repr(_state(oracle)))}):
        for answer in (MAX_ANSWER, PRICE, MIN_ANSWER):
            with expect_revert("OracleAlreadyReported", roundId=2, reporter=liar):
                chain.transact(oracle.functions.submit(2, answer), liar)
        for wrong in (1, 3, 2**80 - 1):  # the final round before, the next one, the last possible
            with expect_revert("OracleWrongRound", expected=2, given=wrong):
                chain.transact(oracle.functions.submit(wrong, MAX_ANSWER), liar)
    answer = _round(chain, oracle, [(r, h) for r, h in zip(honest, (*HONEST, PRICE), strict=True)])
    assert answer == sorted([MAX_ANSWER, *HONEST, PRICE])[2]
    assert min(HONEST) <= answer <= max(HONEST)


def test_an_extreme_value_is_refused_or_outvoted(
    chain: Chain, oracle: Contract, reporters: tuple[LocalAccount, ...]
) -> None:
    liar = reporters[0]
    refused = {
        0: "OracleAnswerNotPositive",
        -1: "OracleAnswerNotPositive",
        -(2**255): "OracleAnswerNotPositive",
        MIN_ANSWER - 1: "OracleAnswerOutOfBounds",
        MAX_ANSWER + 1: "OracleAnswerOutOfBounds",
        2**255 - 1: "OracleAnswerOutOfBounds",
    }
    with leaves_unchanged(lambda: {"state": hash(repr(_state(oracle)))}):
        for answer, error in refused.items():
            with expect_revert(error, answer=answer):
                chain.transact(oracle.functions.submit(2, answer), liar)
    # Within the bounds, the most extreme values are outvoted, first or last.
    for extreme in (MAX_ANSWER, MIN_ANSWER):
        first = _round(chain, oracle, [(liar, extreme), *zip(reporters[1:5], (*HONEST, PRICE), strict=True)])
        last = _round(chain, oracle, [*zip(reporters[1:5], (*HONEST, PRICE), strict=True), (liar, extreme)])
        for answer in (first, last):
            assert min(HONEST) <= answer <= max(*HONEST, PRICE)


#: Where the two colluders report among the five reports of a round.
POSITIONS = {"first": (0, 1), "apart": (0, 3), "last": (3, 4)}
#: What they report.
LIES = {
    "both at the top bound": (MAX_ANSWER, MAX_ANSWER),
    "both at the bottom bound": (MIN_ANSWER, MIN_ANSWER),
    "at the jump limit": (PRICE * (10_000 + MAX_JUMP_BPS) // 10_000,) * 2,
}


@pytest.mark.parametrize("where", list(POSITIONS))
def test_colluding_reporters_up_to_max_faults_cannot_move_the_answer_outside_the_honest_range(
    chain: Chain, oracle: Contract, reporters: tuple[LocalAccount, ...], where: str
) -> None:
    colluders, honest = reporters[5:], reporters[:3]
    for lie in LIES.values():
        reports: list[tuple[LocalAccount, int]] = list(zip(honest, HONEST, strict=True))
        for position, (colluder, value) in zip(POSITIONS[where], zip(colluders, lie, strict=True), strict=True):
            reports.insert(position, (colluder, value))
        answer = _round(chain, oracle, reports)
        assert min(HONEST) <= answer <= max(HONEST), (where, lie, answer)


def test_one_colluder_beyond_max_faults_sets_the_answer_which_is_the_fault_models_limit(
    chain: Chain, oracle: Contract, reporters: tuple[LocalAccount, ...]
) -> None:
    """Three colluders (``maxFaults + 1``, still fewer than the quorum of five) reporting first
    name the answer, within the jump limit or far beyond it (five reports are the jump quorum
    too): the oracle's guarantee is for up to ``maxFaults`` dishonest reporters."""
    colluders, honest = reporters[4:], reporters[:2]
    for lie in (PRICE * (10_000 + MAX_JUMP_BPS) // 10_000, 500 * PRICE):
        answer = _round(chain, oracle, [*((c, lie) for c in colluders), *zip(honest, HONEST, strict=False)])
        assert answer == lie
