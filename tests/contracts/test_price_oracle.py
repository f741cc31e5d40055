"""PriceOracle: rounds, medians, bounds, the anchor, the reporters' own governance, the fault model,
Chainlink compatibility, and the typed API.

Every test deploys its own oracle (``oracle`` fixture: the deploy defaults of
:class:`OracleParams` with tighter bounds: five reporters, ``f = 1``, quorum 3, jump quorum 4,
20 % maximum jump, one-hour jump window) with the devnet reporters, development accounts 16, 17,
18, 20 and 21. The invariants of the header of PriceOracle.sol are checked here: rounds finalise in
order and never change (:func:`test_final_round_never_changes`), one submission per reporter and
round, the final answer is the median of its round's reports and lies between honest ones when at
most ``f`` reporters lie (the Hypothesis property :func:`test_fuzz_final_answer_lies_between_honest_reports`),
a move beyond ``maxJumpBps`` from the anchor needs ``jumpQuorum`` reports, and nothing but
``jumpQuorum`` reporters approving one proposal changes the reporters or the settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st
from web3.contract import Contract
from web3.types import TxReceipt

from dfmi_py.api.oracle import Anchor, Oracle, OracleConfig, RoundData, RoundState, Submission
from dfmi_py.chain import Chain, dev_account
from dfmi_py.deploy.params import OracleParams
from dfmi_py.deploy.roles import DEV_REPORTER_INDICES
from dfmi_py.errors import ContractRevertError, InputError
from tests.helpers import (
    ZERO_ADDRESS,
    Roles,
    events,
    evm_revert,
    evm_snapshot,
    examples,
    expect_revert,
    latest_timestamp,
)

DECIMALS = 8
#: 2,000.00000000 (the feed's 8 decimals).
PRICE = 2_000 * 10**DECIMALS
_DEFAULTS = OracleParams()
#: The deploy defaults, with bounds around PRICE.
CONFIG = OracleConfig(
    max_faults=_DEFAULTS.max_faults,
    quorum=_DEFAULTS.quorum,
    jump_quorum=_DEFAULTS.jump_quorum,
    max_jump_bps=_DEFAULTS.max_jump_bps,
    heartbeat=_DEFAULTS.heartbeat,
    jump_window=_DEFAULTS.jump_window,
    min_answer=1 * 10**DECIMALS,
    max_answer=1_000_000 * 10**DECIMALS,
)
#: Just beyond the jump limit from PRICE, and exactly on it.
LIMIT_UP = PRICE * (10_000 + CONFIG.max_jump_bps) // 10_000
BEYOND_UP = LIMIT_UP + 1

NONE, COLLECTING, AWAITING_CONFIRMATION, FINAL = range(4)


# ---------------------------------------------------------------------- helpers


def median(values: Sequence[int]) -> int:
    """The oracle's median: the middle value, or the mean of the middle two rounded toward zero
    (all answers are positive)."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) // 2


def is_jump(answer: int, anchor: int, max_jump_bps: int) -> bool:
    return abs(answer - anchor) * 10_000 > anchor * max_jump_bps


def deploy_oracle(
    chain: Chain, deployer: LocalAccount, reporters: Sequence[LocalAccount], config: OracleConfig = CONFIG
) -> tuple[Contract, TxReceipt]:
    addresses = [r.address for r in reporters]
    return chain.deploy("PriceOracle", ["EUR / USD", DECIMALS, addresses, config.as_tuple()], deployer)


def submit(chain: Chain, oracle: Contract, reporter: LocalAccount, answer: int, round_id: int = 1) -> TxReceipt:
    return chain.transact(oracle.functions.submit(round_id, answer), reporter)


def submit_all(
    chain: Chain, oracle: Contract, reporters: Sequence[LocalAccount], answers: Sequence[int], round_id: int = 1
) -> list[TxReceipt]:
    return [submit(chain, oracle, r, a, round_id) for r, a in zip(reporters, answers, strict=False)]


def round_data(oracle: Contract, round_id: int) -> RoundData:
    return RoundData.from_call(oracle.functions.getRoundData(round_id).call())


def latest(oracle: Contract) -> RoundData:
    return RoundData.from_call(oracle.functions.latestRoundData().call())


def anchor(oracle: Contract) -> tuple[int, int]:
    """The anchor's round and answer."""
    round_id, answer, _ = oracle.functions.anchor().call()
    return round_id, answer


def increase_time(chain: Chain, seconds: int) -> None:
    """Move the chain's clock forward and mine a block at the new time."""
    provider = chain.w3.provider
    assert "result" in provider.make_request("evm_increaseTime", [seconds])
    assert "result" in provider.make_request("evm_mine", [])


def propose(chain: Chain, oracle: Contract, proposer: LocalAccount, reporters: Sequence[str], config: OracleConfig):
    receipt = chain.transact(oracle.functions.propose(list(reporters), config.as_tuple()), proposer)
    [proposed] = events(oracle, "ChangeProposed", receipt)
    return proposed["id"], receipt


def addresses(accounts: Sequence[LocalAccount]) -> list[str]:
    return [a.address for a in accounts]


def address_of(number: int) -> str:
    """An address nobody holds a key to (a reporter list only needs addresses)."""
    return to_checksum_address(f"0x{number:040x}")


def set_next_timestamp(chain: Chain, timestamp: int) -> None:
    """Make the next block's timestamp ``timestamp``."""
    assert "result" in chain.w3.provider.make_request("evm_setNextBlockTimestamp", [timestamp])


# ---------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def reporters() -> tuple[LocalAccount, ...]:
    """The devnet reporters (none plays another role in the base scenario)."""
    return tuple(dev_account(i) for i in DEV_REPORTER_INDICES)


@pytest.fixture
def oracle(chain: Chain, roles: Roles, reporters: tuple[LocalAccount, ...]) -> Contract:
    """A fresh oracle (:data:`CONFIG`) with the five reporters and no round yet, deployed by the admin account."""
    contract, _ = deploy_oracle(chain, roles.admin, reporters)
    return contract


@pytest.fixture
def seeded(chain: Chain, oracle: Contract, reporters: tuple[LocalAccount, ...]) -> Contract:
    """The oracle with round 1 final at :data:`PRICE` (the anchor)."""
    submit_all(chain, oracle, reporters[:3], [PRICE] * 3)
    return oracle


@pytest.fixture
def api(chain: Chain, oracle: Contract) -> Oracle:
    return Oracle(chain, oracle)


# ---------------------------------------------------------------------- deployment and reads


def test_deploy_sets_description_decimals_version_reporters_and_config_with_events(
    chain: Chain, roles: Roles, reporters: tuple[LocalAccount, ...]
):
    oracle, receipt = deploy_oracle(chain, roles.admin, reporters)
    assert oracle.functions.description().call() == "EUR / USD"
    assert oracle.functions.decimals().call() == DECIMALS
    assert oracle.functions.version().call() == 2
    assert OracleConfig.from_call(oracle.functions.config().call()) == CONFIG
    assert oracle.functions.reporters().call() == addresses(reporters)
    assert all(oracle.functions.isReporter(r.address).call() for r in reporters)
    assert oracle.functions.changeNonce().call() == 0
    assert oracle.functions.openRound().call() == 1
    assert oracle.functions.anchor().call() == [0, 0, 0]
    assert oracle.functions.isStale().call() is True
    assert [OracleConfig.from_call(e["config"]) for e in events(oracle, "ConfigSet", receipt)] == [CONFIG]
    assert [e["reporters"] for e in events(oracle, "ReportersSet", receipt)] == [addresses(reporters)]


def test_there_is_no_admin_and_the_deployer_is_nobody(chain: Chain, oracle: Contract, roles: Roles):
    """Nobody can set a price: no admin role, no setter, and the deployer holds nothing."""
    functions = {f["name"] for f in oracle.abi if f["type"] == "function"}
    for name in ("grantRole", "revokeRole", "hasRole", "DEFAULT_ADMIN_ROLE", "setConfig", "owner", "REPORTER_ROLE"):
        assert name not in functions
    assert not oracle.functions.isReporter(roles.admin.address).call()
    with expect_revert("OracleNotReporter", account=roles.admin):
        submit(chain, oracle, roles.admin, PRICE)
    with expect_revert("OracleNotReporter", account=roles.admin):
        propose(chain, oracle, roles.admin, [roles.admin.address], replace(CONFIG, quorum=1))


def test_latest_round_data_reverts_before_any_final_round(chain: Chain, oracle: Contract):
    with expect_revert("OracleNoData", roundId=0):
        chain.call(oracle.functions.latestRoundData())


@pytest.mark.parametrize("round_id", [0, 1, 2, 999])
def test_get_round_data_reverts_for_a_round_that_is_not_final(
    chain: Chain, oracle: Contract, reporters: tuple[LocalAccount, ...], round_id: int
):
    submit(chain, oracle, reporters[0], PRICE)  # round 1 open, one answer in
    with expect_revert("OracleNoData", roundId=round_id):
        chain.call(oracle.functions.getRoundData(round_id))


# ---------------------------------------------------------------------- submissions and medians


def test_first_submission_opens_the_round_and_later_ones_do_not(
    chain: Chain, oracle: Contract, reporters: tuple[LocalAccount, ...]
):
    first = submit(chain, oracle, reporters[0], PRICE)
    second = submit(chain, oracle, reporters[1], PRICE + 1)

    started_at = chain.w3.eth.get_block(first["blockNumber"])["timestamp"]
    assert events(oracle, "NewRound", first) == [
        {"roundId": 1, "startedBy": reporters[0].address, "startedAt": started_at}
    ]
    assert events(oracle, "AnswerSubmitted", first) == [
        {"roundId": 1, "reporter": reporters[0].address, "answer": PRICE}
    ]
    assert events(oracle, "NewRound", second) == []
    assert events(oracle, "AnswerSubmitted", second) == [
        {"roundId": 1, "reporter": reporters[1].address, "answer": PRICE + 1}
    ]
    assert oracle.functions.submissionsOf(1).call() == [PRICE, PRICE + 1]
    assert oracle.functions.hasReported(1, reporters[0].address).call()
    assert oracle.functions.hasReported(1, reporters[1].address).call()
    assert not oracle.functions.hasReported(1, reporters[2].address).call()
    assert oracle.functions.roundState(1).call() == COLLECTING
    assert oracle.functions.roundState(2).call() == NONE
    assert oracle.functions.openRound().call() == 1


def test_odd_quorum_finalises_with_the_middle_answer_and_the_first_round_becomes_the_anchor(
    chain: Chain, oracle: Contract, reporters: tuple[LocalAccount, ...]
):
    receipts = submit_all(chain, oracle, reporters, [2_100 * 10**8, 1_900 * 10**8, 2_000 * 10**8])
    last = receipts[-1]
    updated_at = chain.w3.eth.get_block(last["blockNumber"])["timestamp"]
    started_at = chain.w3.eth.get_block(receipts[0]["blockNumber"])["timestamp"]

    assert events(oracle, "RoundFinalised", last) == [{"roundId": 1, "answer": PRICE, "submissions": 3}]
    assert events(oracle, "AnswerUpdated", last) == [{"current": PRICE, "roundId": 1, "updatedAt": updated_at}]
    assert events(oracle, "AnchorMoved", last) == [{"roundId": 1, "answer": PRICE}]
    assert all(events(oracle, "RoundFinalised", r) == [] for r in receipts[:-1])
    assert round_data(oracle, 1) == RoundData(1, PRICE, started_at, updated_at, 1)
    assert latest(oracle) == round_data(oracle, 1)
    assert oracle.functions.anchor().call() == [1, PRICE, updated_at]
    assert oracle.functions.roundState(1).call() == FINAL
    assert oracle.functions.openRound().call() == 2
    assert oracle.functions.roundState(2).call() == NONE
    assert oracle.functions.submissionsOf(2).call() == []
    assert oracle.functions.isStale().call() is False


def test_an_even_jump_quorum_finalises_with_the_mean_of_the_middle_two_rounded_toward_zero(
    chain: Chain, seeded: Contract, reporters: tuple[LocalAccount, ...]
):
    far = PRICE * 2
    answers = [far + 300, far + 1, far - 500, far + 2]  # a jump; middle two of four: far + 1, far + 2
    receipts = submit_all(chain, seeded, reporters, answers, round_id=2)
    assert round_data(seeded, 2).answer == far + 1  # (2 * far + 3) / 2, rounded down
    assert events(seeded, "RoundFinalised", receipts[-1]) == [{"roundId": 2, "answer": far + 1, "submissions": 4}]


def test_quorum_finalises_and_later_submissions_to_that_round_are_rejected(
    chain: Chain, oracle: Contract, reporters: tuple[LocalAccount, ...]
):
    submit_all(chain, oracle, reporters[:3], [PRICE] * 3)
    with expect_revert("OracleWrongRound", expected=2, given=1):
        submit(chain, oracle, reporters[3], PRICE, round_id=1)
    assert round_data(oracle, 1).answer == PRICE


def test_only_the_open_round_accepts_submissions(chain: Chain, oracle: Contract, reporters: tuple[LocalAccount, ...]):
    for given_round in (0, 2, 7):
        with expect_revert("OracleWrongRound", expected=1, given=given_round):
            submit(chain, oracle, reporters[0], PRICE, round_id=given_round)


def test_a_reporter_submits_once_per_round(chain: Chain, oracle: Contract, reporters: tuple[LocalAccount, ...]):
    submit(chain, oracle, reporters[0], PRICE)
    with expect_revert("OracleAlreadyReported", roundId=1, reporter=reporters[0]):
        submit(chain, oracle, reporters[0], PRICE + 1)
    assert oracle.functions.submissionsOf(1).call() == [PRICE]


def test_non_reporters_cannot_submit(chain: Chain, oracle: Contract, roles: Roles):
    for account in (roles.admin, roles.member, roles.outsider):
        with expect_revert("OracleNotReporter", account=account):
            submit(chain, oracle, account, PRICE)
    assert oracle.functions.submissionsOf(1).call() == []


@pytest.mark.parametrize(
    ("answer", "error", "args"),
    [
        (0, "OracleAnswerNotPositive", {"answer": 0}),
        (-PRICE, "OracleAnswerNotPositive", {"answer": -PRICE}),
        (
            CONFIG.min_answer - 1,
            "OracleAnswerOutOfBounds",
            {"answer": CONFIG.min_answer - 1, "minAnswer": CONFIG.min_answer, "maxAnswer": CONFIG.max_answer},
        ),
        (
            CONFIG.max_answer + 1,
            "OracleAnswerOutOfBounds",
            {"answer": CONFIG.max_answer + 1, "minAnswer": CONFIG.min_answer, "maxAnswer": CONFIG.max_answer},
        ),
        (2**255 - 1, "OracleAnswerOutOfBounds", {"answer": 2**255 - 1}),
    ],
)
def test_implausible_answers_are_rejected_and_change_nothing(
    chain: Chain, oracle: Contract, reporters: tuple[LocalAccount, ...], answer: int, error: str, args: dict[str, int]
):
    submit(chain, oracle, reporters[0], PRICE)

    def state() -> tuple[Any, ...]:
        return (
            oracle.functions.submissionsOf(1).call(),
            oracle.functions.hasReported(1, reporters[1].address).call(),
            oracle.functions.roundState(1).call(),
            oracle.functions.openRound().call(),
        )

    before = state()
    with expect_revert(error, **args):
        submit(chain, oracle, reporters[1], answer)
    assert state() == before


def test_answers_on_the_bounds_are_accepted(chain: Chain, oracle: Contract, reporters: tuple[LocalAccount, ...]):
    submit_all(chain, oracle, reporters[:3], [CONFIG.min_answer, CONFIG.max_answer, CONFIG.min_answer])
    assert round_data(oracle, 1).answer == CONFIG.min_answer


def test_final_round_never_changes(chain: Chain, seeded: Contract, reporters: tuple[LocalAccount, ...]):
    first = round_data(seeded, 1)
    for round_id, price in ((2, PRICE + 10**8), (3, PRICE - 10**8)):
        submit_all(chain, seeded, reporters[:3], [price] * 3, round_id=round_id)
        assert round_data(seeded, round_id).answer == price
    with expect_revert("OracleWrongRound", expected=4, given=1):
        submit(chain, seeded, reporters[4], PRICE * 2, round_id=1)
    assert round_data(seeded, 1) == first
    assert latest(seeded) == round_data(seeded, 3)


def test_only_the_open_rounds_reports_are_stored(chain: Chain, seeded: Contract, reporters: tuple[LocalAccount, ...]):
    """A past round's answers are in its events; asking the contract for them says which round is open."""
    submit(chain, seeded, reporters[3], PRICE + 5, round_id=2)
    assert seeded.functions.submissionsOf(2).call() == [PRICE + 5]
    assert seeded.functions.hasReported(2, reporters[3].address).call()
    assert not seeded.functions.hasReported(2, reporters[0].address).call()  # it reported in round 1
    for round_id in (1, 3):
        with expect_revert("OracleWrongRound", expected=2, given=round_id):
            chain.call(seeded.functions.submissionsOf(round_id))
        with expect_revert("OracleWrongRound", expected=2, given=round_id):
            chain.call(seeded.functions.hasReported(round_id, reporters[0].address))


# ---------------------------------------------------------------------- large moves and the anchor


def test_a_move_of_exactly_max_jump_from_the_anchor_finalises_at_quorum(
    chain: Chain, seeded: Contract, reporters: tuple[LocalAccount, ...]
):
    receipts = submit_all(chain, seeded, reporters[:3], [LIMIT_UP] * 3, round_id=2)
    assert events(seeded, "JumpDetected", receipts[-1]) == []
    assert events(seeded, "AnchorMoved", receipts[-1]) == []  # a quorum round within the window
    assert round_data(seeded, 2).answer == LIMIT_UP
    assert anchor(seeded) == (1, PRICE)


def test_a_jump_waits_for_jump_quorum_then_finalises_with_the_median_of_all_and_moves_the_anchor(
    chain: Chain, seeded: Contract, reporters: tuple[LocalAccount, ...]
):
    answers = [BEYOND_UP, BEYOND_UP + 5, BEYOND_UP + 2, PRICE]
    receipts = submit_all(chain, seeded, reporters[:3], answers[:3], round_id=2)

    assert events(seeded, "JumpDetected", receipts[-1]) == [
        {"roundId": 2, "median": BEYOND_UP + 2, "anchorAnswer": PRICE, "submissions": 3, "jumpQuorum": 4}
    ]
    assert events(seeded, "RoundFinalised", receipts[-1]) == []
    assert seeded.functions.roundState(2).call() == AWAITING_CONFIRMATION
    assert seeded.functions.openRound().call() == 2
    assert latest(seeded).round_id == 1
    with expect_revert("OracleNoData", roundId=2):
        chain.call(seeded.functions.getRoundData(2))

    fourth = submit(chain, seeded, reporters[3], answers[3], round_id=2)
    expected = median(answers)  # mean of BEYOND_UP and BEYOND_UP + 2
    assert expected == BEYOND_UP + 1
    assert events(seeded, "RoundFinalised", fourth) == [{"roundId": 2, "answer": expected, "submissions": 4}]
    assert events(seeded, "AnchorMoved", fourth) == [{"roundId": 2, "answer": expected}]
    assert round_data(seeded, 2).answer == expected
    assert anchor(seeded) == (2, expected)
    assert seeded.functions.openRound().call() == 3


def test_once_a_jump_is_detected_a_median_back_within_the_limit_still_waits(
    chain: Chain, seeded: Contract, reporters: tuple[LocalAccount, ...]
):
    """Three answers far up, then nothing a later answer does to the median finalises the round
    before the fourth report; the fourth finalises it whatever it is."""
    submit_all(chain, seeded, reporters[:3], [PRICE * 3, PRICE * 3, PRICE], round_id=2)
    assert seeded.functions.roundState(2).call() == AWAITING_CONFIRMATION
    receipt = submit(chain, seeded, reporters[3], PRICE, round_id=2)
    assert events(seeded, "RoundFinalised", receipt) == [{"roundId": 2, "answer": PRICE * 2, "submissions": 4}]


def test_a_downward_jump_needs_jump_quorum_too(chain: Chain, seeded: Contract, reporters: tuple[LocalAccount, ...]):
    crash = PRICE // 2
    receipts = submit_all(chain, seeded, reporters, [crash] * 4, round_id=2)
    assert events(seeded, "JumpDetected", receipts[2])[0]["median"] == crash
    assert all(events(seeded, "RoundFinalised", r) == [] for r in receipts[:3])
    assert round_data(seeded, 2).answer == crash


def test_the_first_round_has_no_jump_limit(chain: Chain, oracle: Contract, reporters: tuple[LocalAccount, ...]):
    receipts = submit_all(chain, oracle, reporters[:3], [CONFIG.max_answer] * 3)
    assert events(oracle, "JumpDetected", receipts[-1]) == []
    assert round_data(oracle, 1).answer == CONFIG.max_answer
    assert anchor(oracle) == (1, CONFIG.max_answer)


def test_quorum_rounds_walking_up_step_by_step_are_held_at_the_anchor(
    chain: Chain, seeded: Contract, reporters: tuple[LocalAccount, ...]
):
    """The walk-up attack, by quorum-many colluders (three: beyond f = 1) who report first each
    round: each step is within the jump limit of the previous answer, but the anchor stays at
    round 1 within the jump window, so the second step (32 % above it) waits for jumpQuorum."""
    colluders = reporters[:3]
    step = PRICE * 115 // 100
    receipts = submit_all(chain, seeded, colluders, [step] * 3, round_id=2)
    assert events(seeded, "RoundFinalised", receipts[-1]) == [{"roundId": 2, "answer": step, "submissions": 3}]
    assert anchor(seeded) == (1, PRICE)

    second = step * 115 // 100  # within 20 % of round 2, not of the anchor
    receipts = submit_all(chain, seeded, colluders, [second] * 3, round_id=3)
    assert events(seeded, "JumpDetected", receipts[-1]) == [
        {"roundId": 3, "median": second, "anchorAnswer": PRICE, "submissions": 3, "jumpQuorum": 4}
    ]
    assert seeded.functions.roundState(3).call() == AWAITING_CONFIRMATION
    assert latest(seeded).answer == step  # the feed still says round 2
    assert anchor(seeded) == (1, PRICE)


def test_without_jump_quorum_the_price_moves_at_most_max_jump_per_window(
    chain: Chain, seeded: Contract, reporters: tuple[LocalAccount, ...]
):
    """Quorum rounds within the limit move the anchor only once it is older than the window: each
    window, a quorum of colluders gains one more jump at most."""
    colluders = reporters[:3]
    submit_all(chain, seeded, colluders, [LIMIT_UP] * 3, round_id=2)  # within the window: anchor stays
    assert anchor(seeded) == (1, PRICE)
    anchored_at = round_data(seeded, 1).updated_at

    submit_all(chain, seeded, colluders[:2], [LIMIT_UP] * 2, round_id=3)
    snapshot = evm_snapshot(chain)
    set_next_timestamp(chain, anchored_at + CONFIG.jump_window)  # exactly jump_window old: not older
    receipt = submit(chain, seeded, colluders[2], LIMIT_UP, round_id=3)
    assert events(seeded, "RoundFinalised", receipt) != []
    assert events(seeded, "AnchorMoved", receipt) == []
    assert anchor(seeded) == (1, PRICE)
    evm_revert(chain, snapshot)

    set_next_timestamp(chain, anchored_at + CONFIG.jump_window + 1)
    receipt = submit(chain, seeded, colluders[2], LIMIT_UP, round_id=3)
    assert events(seeded, "AnchorMoved", receipt) == [{"roundId": 3, "answer": LIMIT_UP}]
    assert anchor(seeded) == (3, LIMIT_UP)

    # A second jump's worth, measured from the new anchor, finalises at quorum ...
    higher = LIMIT_UP * (10_000 + CONFIG.max_jump_bps) // 10_000
    submit_all(chain, seeded, colluders, [higher] * 3, round_id=4)
    assert latest(seeded).answer == higher
    # ... and a third in the same window does not.
    receipts = submit_all(chain, seeded, colluders, [higher * 12 // 10] * 3, round_id=5)
    assert len(events(seeded, "JumpDetected", receipts[-1])) == 1
    assert seeded.functions.roundState(5).call() == AWAITING_CONFIRMATION


# ---------------------------------------------------------------------- the fault model


@pytest.mark.parametrize("direction", [+1, -1])
def test_a_dishonest_reporter_reporting_first_cannot_steer_the_answer(
    chain: Chain, oracle: Contract, reporters: tuple[LocalAccount, ...], direction: int
):
    """The attack on the old oracle: one dishonest reporter reports first every round, at the jump
    limit from the previous answer, while the honest ones post the true price. Six rounds moved
    the old feed to 2.99x the honest price; here every answer is the honest price."""
    dishonest, honest = reporters[0], reporters[1:]
    submit_all(chain, oracle, [dishonest, *honest[:2]], [PRICE * (10_000 + direction * 2_000) // 10_000, PRICE, PRICE])
    for round_id in range(2, 8):
        previous = latest(oracle).answer
        lie = previous * (10_000 + direction * CONFIG.max_jump_bps) // 10_000
        receipts = [submit(chain, oracle, dishonest, lie, round_id)]
        receipts += submit_all(chain, oracle, honest[:2], [PRICE, PRICE], round_id)
        assert events(oracle, "RoundFinalised", receipts[-1]) == [
            {"roundId": round_id, "answer": PRICE, "submissions": 3}
        ]
        assert all(events(oracle, "JumpDetected", r) == [] for r in receipts)
    assert latest(oracle).answer == PRICE


def test_one_silent_reporter_does_not_stall_quorum_rounds_or_jump_rounds(
    chain: Chain, seeded: Contract, reporters: tuple[LocalAccount, ...]
):
    """f = 1: with reporters[4] silent, the four others still make quorum and jumpQuorum."""
    active = reporters[:4]
    submit_all(chain, seeded, active, [PRICE + 1] * 3, round_id=2)
    assert latest(seeded) == round_data(seeded, 2)
    submit_all(chain, seeded, active, [PRICE * 3] * 4, round_id=3)
    assert round_data(seeded, 3).answer == PRICE * 3
    assert seeded.functions.openRound().call() == 4


def test_a_dishonest_and_a_silent_reporter_at_once_cannot_stall_or_steer_a_jump(
    chain: Chain, seeded: Contract, reporters: tuple[LocalAccount, ...]
):
    """f dishonest and f silent together: a real crash is confirmed by the three honest reporters
    and the dishonest one, whose lie stays outside the answer."""
    dishonest, honest = reporters[0], reporters[1:4]  # reporters[4] is silent
    crash = PRICE // 2
    submit(chain, seeded, dishonest, CONFIG.max_answer, round_id=2)
    receipts = submit_all(chain, seeded, honest, [crash - 3, crash, crash + 3], round_id=2)
    assert events(seeded, "JumpDetected", receipts[1])[0]["median"] == crash
    assert events(seeded, "RoundFinalised", receipts[2]) == [
        {"roundId": 2, "answer": crash + 1, "submissions": 4}  # mean of crash and crash + 3
    ]
    assert crash - 3 <= round_data(seeded, 2).answer <= crash + 3


#: Honest prices anywhere from a crash to a spike around PRICE, a lie anywhere in bounds.
honest_price = st.integers(PRICE // 3, PRICE * 3)


@settings(max_examples=examples(10))
@given(
    center=honest_price,
    spreads=st.lists(st.integers(-PRICE // 50, PRICE // 50), min_size=4, max_size=4),
    lie=st.integers(CONFIG.min_answer, CONFIG.max_answer),
    order=st.permutations(range(5)),
    silent=st.booleans(),
)
def test_fuzz_final_answer_lies_between_honest_reports(
    chain: Chain,
    seeded: Contract,
    reporters: tuple[LocalAccount, ...],
    center: int,
    spreads: list[int],
    lie: int,
    order: list[int],
    silent: bool,
):
    """Reporter 0 lies (any value in bounds), reporter 4 may be silent, the others report near the
    true price; they report in a random order. The round finalises (liveness), with the median of
    its reports (quorum, or jumpQuorum when that median is too far from the anchor), which lies
    between the honest reports counted (safety)."""
    values = {0: lie, **{i: center + spreads[i - 1] for i in range(1, 5)}}
    sequence = [i for i in order if not (silent and i == 4)]
    snapshot = evm_snapshot(chain)
    try:
        counted: list[int] = []
        jump = False
        for index in sequence:
            receipt = submit(chain, seeded, reporters[index], values[index], round_id=2)
            counted.append(index)
            if len(counted) == CONFIG.quorum:
                jump = is_jump(median([values[i] for i in counted]), PRICE, CONFIG.max_jump_bps)
                assert len(events(seeded, "JumpDetected", receipt)) == int(jump)
            if seeded.functions.openRound().call() == 3:
                break
            # Still open: it holds exactly the reports made, one per reporter who made one.
            assert seeded.functions.submissionsOf(2).call() == [values[i] for i in counted]
            reported = [i for i in range(5) if seeded.functions.hasReported(2, reporters[i].address).call()]
            assert reported == sorted(counted)
        assert seeded.functions.roundState(2).call() == FINAL
        needed = CONFIG.jump_quorum if jump else CONFIG.quorum
        assert len(counted) == needed
        answers = [values[i] for i in counted]
        honest = [values[i] for i in counted if i != 0]
        final = round_data(seeded, 2)
        assert final.answer == median(answers)
        assert min(honest) <= final.answer <= max(honest)
        assert latest(seeded) == final
        assert round_data(seeded, 1).answer == PRICE
    finally:
        evm_revert(chain, snapshot)


# ---------------------------------------------------------------------- settings refused

#: Six reporters, so that a bad list and a bad config can be told apart from "too few reporters".
SIX = tuple(dev_account(i) for i in (*DEV_REPORTER_INDICES, 13))

BAD_CONFIGS = [
    (replace(CONFIG, max_faults=0), "OracleMaxFaultsInvalid", {"maxFaults": 0}),
    (replace(CONFIG, quorum=4), "OracleQuorumEven", {"quorum": 4}),
    (replace(CONFIG, quorum=0), "OracleQuorumEven", {"quorum": 0}),
    (replace(CONFIG, quorum=1, jump_quorum=1), "OracleQuorumTooSmall", {"quorum": 1, "maxFaults": 1}),
    (replace(CONFIG, max_faults=2), "OracleQuorumTooSmall", {"quorum": 3, "maxFaults": 2}),
    (
        replace(CONFIG, jump_quorum=6),
        "OracleJumpQuorumInvalid",
        {"jumpQuorum": 6, "quorum": 3, "reporters": 6, "maxFaults": 1},
    ),
    (
        replace(CONFIG, jump_quorum=2),
        "OracleJumpQuorumInvalid",
        {"jumpQuorum": 2, "quorum": 3, "reporters": 6, "maxFaults": 1},
    ),
    (replace(CONFIG, min_answer=0), "OracleBoundsInvalid", {"minAnswer": 0, "maxAnswer": CONFIG.max_answer}),
    (replace(CONFIG, min_answer=-5), "OracleBoundsInvalid", {"minAnswer": -5}),
    (replace(CONFIG, max_answer=CONFIG.min_answer), "OracleBoundsInvalid", {"maxAnswer": CONFIG.min_answer}),
    (replace(CONFIG, heartbeat=0), "OracleHeartbeatInvalid", {"heartbeat": 0}),
    (replace(CONFIG, jump_window=0), "OracleJumpWindowInvalid", {"jumpWindow": 0}),
]

BAD_LISTS = [
    # jumpQuorum 4 + f 1 needs five reporters.
    (addresses(SIX[:4]), "OracleJumpQuorumInvalid", {"jumpQuorum": 4, "quorum": 3, "reporters": 4, "maxFaults": 1}),
    ([], "OracleJumpQuorumInvalid", {"reporters": 0}),
    ([*addresses(SIX[:4]), SIX[1].address], "OracleReporterDuplicate", {"reporter": SIX[1].address}),
    ([*addresses(SIX[:3]), ZERO_ADDRESS, SIX[3].address], "OracleReporterZeroAddress", {"index": 3}),
    ([address_of(i) for i in range(1, 34)], "OracleTooManyReporters", {"count": 33, "max": 32}),
]


@pytest.mark.parametrize(("config", "error", "args"), BAD_CONFIGS)
def test_configs_that_cannot_tolerate_f_faults_are_refused_at_deployment(
    chain: Chain, roles: Roles, config: OracleConfig, error: str, args: dict[str, int]
):
    with expect_revert(error, **args):
        deploy_oracle(chain, roles.admin, SIX, config)


@pytest.mark.parametrize(("reporter_list", "error", "args"), BAD_LISTS)
def test_bad_reporter_lists_are_refused_at_deployment(
    chain: Chain, roles: Roles, reporter_list: list[str], error: str, args: dict[str, Any]
):
    with expect_revert(error, **args):
        chain.deploy("PriceOracle", ["X / Y", DECIMALS, reporter_list, CONFIG.as_tuple()], roles.admin)


def test_the_largest_feeds_are_accepted(chain: Chain, roles: Roles):
    """32 reporters with f = 10 (quorum 21, jumpQuorum 22 = n - f), and the smallest: 3f + 1."""
    many = [address_of(i) for i in range(1, 33)]
    big = replace(CONFIG, max_faults=10, quorum=21, jump_quorum=22)
    oracle, _ = chain.deploy("PriceOracle", ["X / Y", DECIMALS, many, big.as_tuple()], roles.admin)
    assert oracle.functions.reporters().call() == many
    small = replace(CONFIG, jump_quorum=3)
    oracle, _ = chain.deploy("PriceOracle", ["X / Y", DECIMALS, many[:4], small.as_tuple()], roles.admin)
    assert OracleConfig.from_call(oracle.functions.config().call()) == small


def test_bad_proposals_are_refused_and_change_nothing(
    chain: Chain, oracle: Contract, reporters: tuple[LocalAccount, ...]
):
    cases = [([*addresses(reporters), SIX[5].address], c, e, a) for c, e, a in BAD_CONFIGS]
    cases += [(list(lst), CONFIG, e, a) for lst, e, a in BAD_LISTS]
    for reporter_list, config, error, args in cases:  # one oracle for every case: each refusal changes nothing
        with expect_revert(error, **args):
            propose(chain, oracle, reporters[0], reporter_list, config)
    assert OracleConfig.from_call(oracle.functions.config().call()) == CONFIG
    assert oracle.functions.reporters().call() == addresses(reporters)
    assert oracle.functions.changeNonce().call() == 0


def test_no_configuration_lets_one_reporter_set_the_price(
    chain: Chain, oracle: Contract, reporters: tuple[LocalAccount, ...]
):
    """The old admin's move: itself as the only reporter, both quorums 1. The reporters cannot
    even propose it: one reporter tolerates no fault."""
    solo = [reporters[0].address]
    with expect_revert("OracleQuorumTooSmall", quorum=1, maxFaults=1):
        propose(chain, oracle, reporters[0], solo, replace(CONFIG, quorum=1, jump_quorum=1))
    with expect_revert("OracleMaxFaultsInvalid", maxFaults=0):
        propose(chain, oracle, reporters[0], solo, replace(CONFIG, max_faults=0, quorum=1, jump_quorum=1))


# ---------------------------------------------------------------------- governance


@pytest.fixture
def newcomer() -> LocalAccount:
    """An account that is not a reporter (a newcomer of the base scenario)."""
    return dev_account(13)


def test_a_change_needs_jump_quorum_approvals_and_one_silent_reporter_cannot_block_it(
    chain: Chain, oracle: Contract, reporters: tuple[LocalAccount, ...], newcomer: LocalAccount
):
    """Replace reporters[4] (silent throughout) by the newcomer and widen the bounds."""
    new_list = [*addresses(reporters[:4]), newcomer.address]
    new_config = replace(CONFIG, max_answer=CONFIG.max_answer * 2, jump_window=600)
    change_id, receipt = propose(chain, oracle, reporters[0], new_list, new_config)
    [proposed] = events(oracle, "ChangeProposed", receipt)
    assert (proposed["proposer"], proposed["nonce"], proposed["reporters"]) == (reporters[0].address, 0, new_list)
    assert OracleConfig.from_call(proposed["config"]) == new_config
    assert events(oracle, "ChangeApproved", receipt) == [
        {"id": change_id, "reporter": reporters[0].address, "approvals": 1, "required": 4}
    ]
    for count, approver in enumerate(reporters[1:3], start=2):
        receipt = chain.transact(oracle.functions.approve(change_id), approver)
        assert events(oracle, "ChangeApproved", receipt) == [
            {"id": change_id, "reporter": approver.address, "approvals": count, "required": 4}
        ]
        assert events(oracle, "ChangeApplied", receipt) == []
        assert oracle.functions.reporters().call() == addresses(reporters)  # nothing changes before the 4th
        assert OracleConfig.from_call(oracle.functions.config().call()) == CONFIG

    receipt = chain.transact(oracle.functions.approve(change_id), reporters[3])
    assert events(oracle, "ChangeApplied", receipt) == [{"id": change_id, "nonce": 1}]
    assert [e["reporters"] for e in events(oracle, "ReportersSet", receipt)] == [new_list]
    assert [OracleConfig.from_call(e["config"]) for e in events(oracle, "ConfigSet", receipt)] == [new_config]
    assert oracle.functions.reporters().call() == new_list
    assert OracleConfig.from_call(oracle.functions.config().call()) == new_config
    assert oracle.functions.changeNonce().call() == 1
    assert not oracle.functions.isReporter(reporters[4].address).call()
    assert oracle.functions.isReporter(newcomer.address).call()

    with expect_revert("OracleNotReporter", account=reporters[4]):
        submit(chain, oracle, reporters[4], PRICE)
    submit_all(chain, oracle, [newcomer, *reporters[:2]], [PRICE] * 3)
    assert latest(oracle).answer == PRICE


def test_a_change_can_only_be_approved_by_reporters_once_each(
    chain: Chain, oracle: Contract, reporters: tuple[LocalAccount, ...], roles: Roles
):
    change_id, _ = propose(chain, oracle, reporters[0], addresses(reporters), replace(CONFIG, heartbeat=60))
    with expect_revert("OracleChangeAlreadyApproved", id=change_id, reporter=reporters[0]):
        chain.transact(oracle.functions.approve(change_id), reporters[0])  # proposing approved it
    chain.transact(oracle.functions.approve(change_id), reporters[1])
    with expect_revert("OracleChangeAlreadyApproved", id=change_id, reporter=reporters[1]):
        chain.transact(oracle.functions.approve(change_id), reporters[1])
    for outsider in (roles.admin, roles.outsider):
        with expect_revert("OracleNotReporter", account=outsider):
            chain.transact(oracle.functions.approve(change_id), outsider)
        with expect_revert("OracleNotReporter", account=outsider):
            propose(chain, oracle, outsider, addresses(reporters), CONFIG)
    _, _, _, approvals = oracle.functions.proposal(change_id).call()
    assert approvals == 0b11
    assert oracle.functions.changeNonce().call() == 0


def test_unknown_and_duplicate_proposals_are_refused(
    chain: Chain, oracle: Contract, reporters: tuple[LocalAccount, ...]
):
    unknown = b"\x01" * 32
    with expect_revert("OracleChangeUnknown", id=unknown):
        chain.transact(oracle.functions.approve(unknown), reporters[0])
    with expect_revert("OracleChangeUnknown", id=unknown):
        chain.call(oracle.functions.proposal(unknown))
    change_id, _ = propose(chain, oracle, reporters[0], addresses(reporters), replace(CONFIG, heartbeat=60))
    with expect_revert("OracleChangeAlreadyProposed", id=change_id):
        propose(chain, oracle, reporters[1], addresses(reporters), replace(CONFIG, heartbeat=60))


def test_a_stale_proposal_cannot_be_applied_and_old_approvals_do_not_carry_over(
    chain: Chain, oracle: Contract, reporters: tuple[LocalAccount, ...]
):
    config_a, config_b = replace(CONFIG, heartbeat=60), replace(CONFIG, heartbeat=120)
    change_a, _ = propose(chain, oracle, reporters[0], addresses(reporters), config_a)
    for approver in reporters[1:3]:
        chain.transact(oracle.functions.approve(change_a), approver)  # three approvals of four
    change_b, _ = propose(chain, oracle, reporters[4], addresses(reporters), config_b)
    for approver in reporters[1:4]:
        chain.transact(oracle.functions.approve(change_b), approver)
    assert OracleConfig.from_call(oracle.functions.config().call()) == config_b

    with expect_revert("OracleChangeStale", id=change_a, nonce=0, currentNonce=1):
        chain.transact(oracle.functions.approve(change_a), reporters[3])
    assert OracleConfig.from_call(oracle.functions.config().call()) == config_b

    # The same contents proposed again are a new change, with only its proposer's approval.
    again, receipt = propose(chain, oracle, reporters[0], addresses(reporters), config_a)
    assert again != change_a
    assert events(oracle, "ChangeApproved", receipt)[0]["approvals"] == 1
    assert oracle.functions.proposal(again).call()[2] == 1  # proposed under nonce 1


def test_applying_a_change_clears_the_open_round(
    chain: Chain, seeded: Contract, reporters: tuple[LocalAccount, ...], newcomer: LocalAccount
):
    submit_all(chain, seeded, reporters[:2], [PRICE * 5, PRICE * 5], round_id=2)
    new_list = [newcomer.address, *addresses(reporters[1:])]  # reporters[0] leaves
    change_id, _ = propose(chain, seeded, reporters[1], new_list, CONFIG)
    for approver in reporters[2:4]:
        chain.transact(seeded.functions.approve(change_id), approver)
    receipt = chain.transact(seeded.functions.approve(change_id), reporters[4])
    assert events(seeded, "OpenRoundCleared", receipt) == [{"roundId": 2, "submissions": 2}]
    assert seeded.functions.openRound().call() == 2
    assert seeded.functions.roundState(2).call() == NONE
    assert seeded.functions.submissionsOf(2).call() == []
    assert not seeded.functions.hasReported(2, reporters[1].address).call()
    assert anchor(seeded) == (1, PRICE)  # the anchor stays

    # The round restarts under the same id; who reported before may report again.
    first = submit(chain, seeded, reporters[1], PRICE + 1, round_id=2)
    assert events(seeded, "NewRound", first)[0]["roundId"] == 2
    submit_all(chain, seeded, [newcomer, reporters[2]], [PRICE + 1, PRICE + 1], round_id=2)
    assert round_data(seeded, 2).answer == PRICE + 1


def test_applying_a_change_with_no_report_in_the_open_round_clears_nothing(
    chain: Chain, seeded: Contract, reporters: tuple[LocalAccount, ...]
):
    change_id, _ = propose(chain, seeded, reporters[0], addresses(reporters), replace(CONFIG, heartbeat=60))
    receipts = [chain.transact(seeded.functions.approve(change_id), r) for r in reporters[1:4]]
    assert events(seeded, "ChangeApplied", receipts[-1]) != []
    assert events(seeded, "OpenRoundCleared", receipts[-1]) == []


# ---------------------------------------------------------------------- Chainlink compatibility


MAX_AGE = 3_600


@pytest.fixture
def consumer(chain: Chain, oracle: Contract, roles: Roles) -> Contract:
    """A Chainlink consumer, written only against AggregatorV3Interface, reading the oracle."""
    contract, _ = chain.deploy("ChainlinkConsumer", [oracle.address, MAX_AGE], roles.admin)
    return contract


def test_a_chainlink_consumer_reads_the_oracle(
    chain: Chain, oracle: Contract, consumer: Contract, reporters: tuple[LocalAccount, ...]
):
    assert consumer.functions.feedInfo().call() == ["EUR / USD", DECIMALS, 2]
    with expect_revert("OracleNoData", roundId=0):
        chain.call(consumer.functions.latestPrice())

    submit_all(chain, oracle, reporters[:3], [PRICE - 1, PRICE, PRICE + 1])
    updated_at = round_data(oracle, 1).updated_at
    assert consumer.functions.latestPrice().call() == [PRICE, updated_at]
    assert consumer.functions.latestPriceE18().call() == PRICE * 10 ** (18 - DECIMALS)
    assert consumer.functions.priceAt(1).call() == [PRICE, updated_at]
    with expect_revert("OracleNoData", roundId=2):
        chain.call(consumer.functions.priceAt(2))


def test_a_chainlink_consumer_refuses_a_stale_answer(
    chain: Chain, seeded: Contract, consumer: Contract, reporters: tuple[LocalAccount, ...]
):
    updated_at = round_data(seeded, 1).updated_at
    increase_time(chain, MAX_AGE + 1)
    now = latest_timestamp(chain)
    assert now - updated_at > MAX_AGE
    with expect_revert("ConsumerStaleAnswer", roundId=1, updatedAt=updated_at, maxAge=MAX_AGE, blockTimestamp=now):
        chain.call(consumer.functions.latestPrice())
    assert seeded.functions.isStale().call() is True  # heartbeat == MAX_AGE

    # History stays readable, and a fresh round makes the feed usable again.
    assert consumer.functions.priceAt(1).call()[0] == PRICE
    submit_all(chain, seeded, reporters[:3], [PRICE + 7] * 3, round_id=2)
    assert consumer.functions.latestPrice().call()[0] == PRICE + 7
    assert seeded.functions.isStale().call() is False


def test_the_latest_answer_is_stale_only_after_a_full_heartbeat(chain: Chain, seeded: Contract):
    updated_at = round_data(seeded, 1).updated_at
    provider = chain.w3.provider
    for offset, stale in ((CONFIG.heartbeat, False), (CONFIG.heartbeat + 1, True)):
        assert "result" in provider.make_request("evm_setNextBlockTimestamp", [updated_at + offset])
        assert "result" in provider.make_request("evm_mine", [])
        assert seeded.functions.isStale().call() is stale, f"{offset} s after the update"


# ---------------------------------------------------------------------- typed API


def test_api_submit_defaults_to_the_open_round(api: Oracle, oracle: Contract, reporters: tuple[LocalAccount, ...]):
    assert api.open_round() == 1
    receipts = [api.submit(r, PRICE) for r in reporters[:3]]
    assert [events(oracle, "AnswerSubmitted", r)[0]["roundId"] for r in receipts] == [1, 1, 1]
    assert api.open_round() == 2
    receipt = api.submit(reporters[0], PRICE + 1)
    assert events(oracle, "AnswerSubmitted", receipt)[0]["roundId"] == 2
    assert api.submissions() == [PRICE + 1]
    assert api.has_reported(reporters[0].address)
    assert not api.has_reported(reporters[1].address)
    assert api.round_state(2) is RoundState.COLLECTING
    assert api.round_state(1) is RoundState.FINAL
    with pytest.raises(ContractRevertError, match="OracleWrongRound"):
        api.submissions(1)


def test_api_reads_rounds_config_reporters_and_anchor(
    chain: Chain, api: Oracle, reporters: tuple[LocalAccount, ...], roles: Roles
):
    assert api.decimals == DECIMALS
    assert api.description == "EUR / USD"
    assert api.config() == CONFIG
    assert api.reporters() == tuple(addresses(reporters))
    assert api.is_reporter(reporters[0].address)
    assert not api.is_reporter(roles.admin.address)
    assert api.anchor() == Anchor(0, 0, 0)
    with pytest.raises(ContractRevertError, match="OracleNoData"):
        api.latest()
    for reporter in reporters[:3]:
        api.submit(reporter, PRICE, round_id=1)
    latest_round = api.latest()
    assert latest_round == api.round(1)
    assert (latest_round.round_id, latest_round.answer, latest_round.answered_in_round) == (1, PRICE, 1)
    assert latest_round.started_at <= latest_round.updated_at
    assert api.anchor() == Anchor(1, PRICE, latest_round.updated_at)
    with pytest.raises(ContractRevertError, match="OracleNoData"):
        api.round(2)


def test_api_submit_for_a_round_that_moved_on_is_refused_by_the_oracle(
    api: Oracle, reporters: tuple[LocalAccount, ...]
):
    for reporter in reporters[:3]:
        api.submit(reporter, PRICE)
    with expect_revert("OracleWrongRound", expected=2, given=1):
        api.submit(reporters[3], PRICE, round_id=1)


@pytest.mark.parametrize(
    ("answer", "round_id"), [(0, None), (-1, None), (True, None), (1.5, None), (2**127, None), (PRICE, 0)]
)
def test_api_rejects_bad_input_before_sending(
    api: Oracle, reporters: tuple[LocalAccount, ...], answer: Any, round_id: Any
):
    with pytest.raises(InputError):
        api.submit(reporters[0], answer, round_id)
    assert api.submissions() == []


def test_api_proposes_and_approves_a_change(api: Oracle, reporters: tuple[LocalAccount, ...], newcomer: LocalAccount):
    new_list = (*addresses(reporters[:4]), newcomer.address)
    new_config = replace(CONFIG, max_jump_bps=500, jump_window=7_200)
    expected_id = api.change_id(new_list, new_config)
    change_id = api.propose_change(reporters[0], new_list, new_config)
    assert change_id == expected_id
    assert api.approve_change(reporters[1], change_id) is False
    proposal = api.proposal(change_id)
    assert (proposal.reporters, proposal.config, proposal.nonce) == (new_list, new_config, 0)
    assert (proposal.approvals, proposal.required, proposal.stale) == (2, 4, False)
    assert proposal.approvers == (reporters[0].address, reporters[1].address)
    assert api.approve_change(reporters[2], change_id) is False
    assert api.approve_change(reporters[3], change_id) is True
    assert api.config() == new_config
    assert api.reporters() == new_list
    assert api.change_nonce() == 1
    stale = api.proposal(change_id)
    assert (stale.stale, stale.approvals, stale.approvers) == (True, 4, ())
    with pytest.raises(InputError):
        api.propose_change(reporters[0], ["0x1234"], new_config)


def test_api_history_rebuilds_each_round_from_the_events(
    chain: Chain, api: Oracle, reporters: tuple[LocalAccount, ...], newcomer: LocalAccount
):
    for reporter, answer in zip(reporters[:3], (PRICE, PRICE + 2, PRICE + 1), strict=True):
        api.submit(reporter, answer)
    api.submit(reporters[0], PRICE * 2)  # round 2: discarded by the change below
    change_id = api.propose_change(reporters[1], (*addresses(reporters[:4]), newcomer.address), CONFIG)
    for approver in reporters[2:5]:
        api.approve_change(approver, change_id)
    jump_answers = [(reporters[1], PRICE * 2), (newcomer, PRICE * 2 + 2), (reporters[2], PRICE * 2 + 4)]
    jump_answers.append((reporters[3], PRICE * 2 + 6))
    for reporter, answer in jump_answers:
        api.submit(reporter, answer)

    history = api.history()
    assert [(r.round_id, r.answer, r.jump_detected, r.anchor_moved) for r in history] == [
        (1, PRICE + 1, False, True),
        (2, PRICE * 2 + 3, True, True),
    ]
    assert history[0].submissions == (
        Submission(reporters[0].address, PRICE),
        Submission(reporters[1].address, PRICE + 2),
        Submission(reporters[2].address, PRICE + 1),
    )
    assert history[1].submissions == tuple(Submission(r.address, a) for r, a in jump_answers)
    assert history[1].block == chain.w3.eth.block_number


def test_api_first_round_at_or_after(chain: Chain, api: Oracle, reporters: tuple[LocalAccount, ...]):
    assert api.first_round_at_or_after(0) is None  # no final round yet
    updated = []
    for _ in range(5):
        increase_time(chain, 100)
        for reporter in reporters[:3]:
            api.submit(reporter, PRICE)
        updated.append(api.latest().updated_at)
    assert updated == sorted(updated)
    assert updated[1] - updated[0] >= 100

    assert api.first_round_at_or_after(0) == 1
    assert api.first_round_at_or_after(updated[0]) == 1
    for index, at in enumerate(updated):
        assert api.first_round_at_or_after(at) == index + 1
        assert api.first_round_at_or_after(at - 1) == index + 1
        expected_after = index + 2 if index + 1 < len(updated) else None
        assert api.first_round_at_or_after(at + 1) == expected_after
    with pytest.raises(InputError):
        api.first_round_at_or_after(-1)
