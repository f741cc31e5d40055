"""PriceOracle: rounds, medians, bounds, large moves, config, Chainlink compatibility, and the typed API.

Every test deploys its own oracle (``oracle`` fixture: quorum 3, jump quorum 5, 10 % maximum jump)
with five reporters, development accounts 13, 14, 16, 17 and 18. The invariants of the header of
PriceOracle.sol are checked here: rounds finalise in order and never change
(:func:`test_final_round_never_changes`), one submission per reporter and round, the final answer
is the median of the round's answers and lies between their extremes, and a large move needs
``jumpQuorum`` answers (the Hypothesis property :func:`test_fuzz_final_answer_is_the_median`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from hypothesis import given, settings
from hypothesis import strategies as st
from web3.contract import Contract
from web3.types import TxReceipt

from dfmi_py.api.oracle import Oracle, OracleConfig, RoundData
from dfmi_py.chain import Chain, dev_account
from dfmi_py.errors import ContractRevertError, InputError
from tests.helpers import ZERO_ADDRESS, Roles, events, evm_revert, evm_snapshot, expect_revert, latest_timestamp

#: Development accounts of the reporters: none of them plays a role in the base scenario.
REPORTER_INDICES = (13, 14, 16, 17, 18)
DECIMALS = 8
#: 2,000.00000000 (the feed's 8 decimals).
PRICE = 2_000 * 10**DECIMALS
CONFIG = OracleConfig(
    quorum=3,
    jump_quorum=5,
    heartbeat=3_600,
    min_answer=1 * 10**DECIMALS,
    max_answer=1_000_000 * 10**DECIMALS,
    max_jump_bps=1_000,
)
EVEN_CONFIG = replace(CONFIG, quorum=4)

NONE, COLLECTING, AWAITING_CONFIRMATION, FINAL = range(4)


# ---------------------------------------------------------------------- helpers


def median(values: Sequence[int]) -> int:
    """The oracle's median: the middle value, or the mean of the middle two rounded toward zero."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    total = ordered[mid - 1] + ordered[mid]
    return abs(total) // 2 * (1 if total >= 0 else -1)


def is_jump(answer: int, previous: int, max_jump_bps: int) -> bool:
    return abs(answer - previous) * 10_000 > previous * max_jump_bps


def deploy_oracle(
    chain: Chain, admin: LocalAccount, reporters: Sequence[LocalAccount], config: OracleConfig = CONFIG
) -> Contract:
    oracle, _ = chain.deploy("PriceOracle", ["EUR / USD", DECIMALS, admin.address, config.as_tuple()], admin)
    grant_reporters(chain, oracle, admin, reporters)
    return oracle


def grant_reporters(chain: Chain, oracle: Contract, admin: LocalAccount, reporters: Sequence[LocalAccount]) -> None:
    """Grant ``REPORTER_ROLE`` to every reporter in one burst of transactions.

    Every test deploys its own oracle, so this runs before nearly every test: the grants go out
    with a fixed gas limit (no estimate each) and only the receipts are awaited.
    """
    role = oracle.functions.REPORTER_ROLE().call()
    nonce = chain.w3.eth.get_transaction_count(admin.address, "pending")
    hashes = []
    for offset, reporter in enumerate(reporters):
        tx = oracle.functions.grantRole(role, reporter.address).build_transaction(
            {"from": admin.address, "nonce": nonce + offset, "gas": 100_000, "chainId": chain.chain_id}
        )
        hashes.append(chain.w3.eth.send_raw_transaction(admin.sign_transaction(tx).raw_transaction))
    for tx_hash in hashes:
        assert chain.w3.eth.wait_for_transaction_receipt(tx_hash, poll_latency=0.005)["status"] == 1
    assert all(oracle.functions.hasRole(role, r.address).call() for r in reporters)


def submit(chain: Chain, oracle: Contract, reporter: LocalAccount, answer: int, round_id: int = 1) -> TxReceipt:
    return chain.transact(oracle.functions.submit(round_id, answer), reporter)


def submit_all(
    chain: Chain, oracle: Contract, reporters: Sequence[LocalAccount], answers: Sequence[int], round_id: int = 1
) -> list[TxReceipt]:
    return [submit(chain, oracle, r, a, round_id) for r, a in zip(reporters, answers, strict=False)]


def round_data(oracle: Contract, round_id: int) -> RoundData:
    return RoundData.from_call(oracle.functions.getRoundData(round_id).call())


def increase_time(chain: Chain, seconds: int) -> None:
    """Move the chain's clock forward and mine a block at the new time."""
    provider = chain.w3.provider
    assert "result" in provider.make_request("evm_increaseTime", [seconds])
    assert "result" in provider.make_request("evm_mine", [])


# ---------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def reporters() -> tuple[LocalAccount, ...]:
    return tuple(dev_account(i) for i in REPORTER_INDICES)


@pytest.fixture
def oracle(chain: Chain, roles: Roles, reporters: tuple[LocalAccount, ...]) -> Contract:
    """A fresh oracle (:data:`CONFIG`) with the five reporters and no round yet."""
    return deploy_oracle(chain, roles.admin, reporters)


@pytest.fixture
def seeded(chain: Chain, oracle: Contract, reporters: tuple[LocalAccount, ...]) -> Contract:
    """The oracle with round 1 final at :data:`PRICE`."""
    submit_all(chain, oracle, reporters[:3], [PRICE] * 3)
    return oracle


@pytest.fixture
def api(chain: Chain, oracle: Contract) -> Oracle:
    return Oracle(chain, oracle)


# ---------------------------------------------------------------------- deployment and reads


def test_deploy_sets_description_decimals_version_config_and_emits_config(
    chain: Chain, roles: Roles, reporters: tuple[LocalAccount, ...]
):
    oracle, receipt = chain.deploy(
        "PriceOracle", ["EUR / USD", DECIMALS, roles.admin.address, CONFIG.as_tuple()], roles.admin
    )
    assert oracle.functions.description().call() == "EUR / USD"
    assert oracle.functions.decimals().call() == DECIMALS
    assert oracle.functions.version().call() == 1
    assert OracleConfig.from_call(oracle.functions.config().call()) == CONFIG
    assert oracle.functions.openRound().call() == 1
    assert oracle.functions.isStale().call() is True
    assert [OracleConfig.from_call(e["config"]) for e in events(oracle, "ConfigSet", receipt)] == [CONFIG]
    admin_role = oracle.functions.DEFAULT_ADMIN_ROLE().call()
    assert oracle.functions.hasRole(admin_role, roles.admin.address).call()


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
    assert not oracle.functions.hasReported(1, reporters[2].address).call()
    assert oracle.functions.roundState(1).call() == COLLECTING
    assert oracle.functions.roundState(2).call() == NONE
    assert oracle.functions.openRound().call() == 1


def test_odd_quorum_finalises_with_the_middle_answer(
    chain: Chain, oracle: Contract, reporters: tuple[LocalAccount, ...]
):
    receipts = submit_all(chain, oracle, reporters, [2_100 * 10**8, 1_900 * 10**8, 2_000 * 10**8])
    last = receipts[-1]
    updated_at = chain.w3.eth.get_block(last["blockNumber"])["timestamp"]
    started_at = chain.w3.eth.get_block(receipts[0]["blockNumber"])["timestamp"]

    assert events(oracle, "RoundFinalised", last) == [{"roundId": 1, "answer": PRICE, "submissions": 3}]
    assert events(oracle, "AnswerUpdated", last) == [{"current": PRICE, "roundId": 1, "updatedAt": updated_at}]
    assert all(events(oracle, "RoundFinalised", r) == [] for r in receipts[:-1])
    assert round_data(oracle, 1) == RoundData(1, PRICE, started_at, updated_at, 1)
    assert RoundData.from_call(oracle.functions.latestRoundData().call()) == round_data(oracle, 1)
    assert oracle.functions.roundState(1).call() == FINAL
    assert oracle.functions.openRound().call() == 2
    assert oracle.functions.isStale().call() is False


def test_even_quorum_finalises_with_the_mean_of_the_middle_two_rounded_toward_zero(
    chain: Chain, roles: Roles, reporters: tuple[LocalAccount, ...]
):
    oracle = deploy_oracle(chain, roles.admin, reporters, EVEN_CONFIG)
    answers = [PRICE + 300, PRICE + 1, PRICE - 500, PRICE + 2]  # middle two: PRICE + 1, PRICE + 2
    receipts = submit_all(chain, oracle, reporters, answers)

    assert round_data(oracle, 1).answer == PRICE + 1  # (2 * PRICE + 3) / 2, rounded down
    assert events(oracle, "RoundFinalised", receipts[-1]) == [{"roundId": 1, "answer": PRICE + 1, "submissions": 4}]


def test_quorum_finalises_and_later_submissions_to_that_round_are_rejected(
    chain: Chain, oracle: Contract, reporters: tuple[LocalAccount, ...]
):
    submit_all(chain, oracle, reporters[:3], [PRICE] * 3)
    with expect_revert("OracleWrongRound", expected=2, given=1):
        submit(chain, oracle, reporters[3], PRICE, round_id=1)
    assert oracle.functions.submissionsOf(1).call() == [PRICE] * 3


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
    role = oracle.functions.REPORTER_ROLE().call()
    for account in (roles.admin, roles.member, roles.outsider):
        with expect_revert("AccessControlUnauthorizedAccount", account=account, neededRole=role):
            submit(chain, oracle, account, PRICE)


def test_a_revoked_reporter_can_no_longer_submit(
    chain: Chain, oracle: Contract, roles: Roles, reporters: tuple[LocalAccount, ...]
):
    role = oracle.functions.REPORTER_ROLE().call()
    chain.transact(oracle.functions.revokeRole(role, reporters[0].address), roles.admin)
    with expect_revert("AccessControlUnauthorizedAccount", account=reporters[0], neededRole=role):
        submit(chain, oracle, reporters[0], PRICE)


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
    assert seeded.functions.submissionsOf(1).call() == [PRICE] * 3
    assert RoundData.from_call(seeded.functions.latestRoundData().call()) == round_data(seeded, 3)


# ---------------------------------------------------------------------- large moves


def test_a_move_of_exactly_max_jump_finalises_at_quorum(
    chain: Chain, seeded: Contract, reporters: tuple[LocalAccount, ...]
):
    up = PRICE * (10_000 + CONFIG.max_jump_bps) // 10_000
    receipts = submit_all(chain, seeded, reporters[:3], [up] * 3, round_id=2)
    assert events(seeded, "JumpDetected", receipts[-1]) == []
    assert round_data(seeded, 2).answer == up


def test_a_jump_waits_for_jump_quorum_then_finalises_with_the_median_of_all(
    chain: Chain, seeded: Contract, reporters: tuple[LocalAccount, ...]
):
    up = PRICE * (10_000 + CONFIG.max_jump_bps) // 10_000 + 1  # one unit beyond the limit
    answers = [up, up + 5, up + 2, PRICE, up + 1]
    receipts = submit_all(chain, seeded, reporters[:3], answers[:3], round_id=2)

    assert events(seeded, "JumpDetected", receipts[-1]) == [
        {"roundId": 2, "median": up + 2, "previousAnswer": PRICE, "submissions": 3, "jumpQuorum": 5}
    ]
    assert events(seeded, "RoundFinalised", receipts[-1]) == []
    assert seeded.functions.roundState(2).call() == AWAITING_CONFIRMATION
    assert seeded.functions.openRound().call() == 2
    assert round_data(seeded, 1).answer == PRICE  # the latest answer is still round 1's
    with expect_revert("OracleNoData", roundId=2):
        chain.call(seeded.functions.getRoundData(2))

    # A fourth answer that would pull the median back within bounds does not finalise it.
    fourth = submit(chain, seeded, reporters[3], answers[3], round_id=2)
    assert events(seeded, "RoundFinalised", fourth) == []
    assert seeded.functions.roundState(2).call() == AWAITING_CONFIRMATION

    fifth = submit(chain, seeded, reporters[4], answers[4], round_id=2)
    assert events(seeded, "RoundFinalised", fifth) == [{"roundId": 2, "answer": median(answers), "submissions": 5}]
    assert round_data(seeded, 2).answer == median(answers) == up + 1
    assert seeded.functions.openRound().call() == 3


def test_a_downward_jump_needs_jump_quorum_too(chain: Chain, seeded: Contract, reporters: tuple[LocalAccount, ...]):
    crash = PRICE // 2
    receipts = submit_all(chain, seeded, reporters, [crash] * 5, round_id=2)
    assert events(seeded, "JumpDetected", receipts[2])[0]["median"] == crash
    assert all(events(seeded, "RoundFinalised", r) == [] for r in receipts[:4])
    assert round_data(seeded, 2).answer == crash


def test_the_first_round_has_no_jump_limit(chain: Chain, oracle: Contract, reporters: tuple[LocalAccount, ...]):
    submit_all(chain, oracle, reporters[:3], [CONFIG.max_answer] * 3)
    assert round_data(oracle, 1).answer == CONFIG.max_answer


# ---------------------------------------------------------------------- config


def test_admin_sets_the_config_with_an_event(chain: Chain, oracle: Contract, roles: Roles):
    new = replace(CONFIG, quorum=2, heartbeat=60, max_jump_bps=50)
    receipt = chain.transact(oracle.functions.setConfig(new.as_tuple()), roles.admin)
    assert [OracleConfig.from_call(e["config"]) for e in events(oracle, "ConfigSet", receipt)] == [new]
    assert OracleConfig.from_call(oracle.functions.config().call()) == new


def test_only_the_admin_sets_the_config(chain: Chain, oracle: Contract, reporters: tuple[LocalAccount, ...]):
    admin_role = oracle.functions.DEFAULT_ADMIN_ROLE().call()
    with expect_revert("AccessControlUnauthorizedAccount", account=reporters[0], neededRole=admin_role):
        chain.transact(oracle.functions.setConfig(replace(CONFIG, quorum=1).as_tuple()), reporters[0])


def test_lowering_jump_quorum_lets_a_held_round_finalise_at_the_next_submission(
    chain: Chain, seeded: Contract, roles: Roles, reporters: tuple[LocalAccount, ...]
):
    answers = [PRICE * 2, PRICE * 2 + 4, PRICE * 2 + 2, PRICE * 2 + 1]
    submit_all(chain, seeded, reporters[:3], answers[:3], round_id=2)
    chain.transact(seeded.functions.setConfig(replace(CONFIG, jump_quorum=4).as_tuple()), roles.admin)
    submit(chain, seeded, reporters[3], answers[3], round_id=2)
    assert round_data(seeded, 2).answer == median(answers)


BAD_CONFIGS = [
    (replace(CONFIG, quorum=0), "OracleQuorumInvalid", {"quorum": 0, "jumpQuorum": 5, "max": 32}),
    (replace(CONFIG, quorum=4, jump_quorum=3), "OracleQuorumInvalid", {"quorum": 4, "jumpQuorum": 3}),
    (replace(CONFIG, jump_quorum=33), "OracleQuorumInvalid", {"quorum": 3, "jumpQuorum": 33, "max": 32}),
    (replace(CONFIG, min_answer=0), "OracleBoundsInvalid", {"minAnswer": 0, "maxAnswer": CONFIG.max_answer}),
    (replace(CONFIG, min_answer=-5), "OracleBoundsInvalid", {"minAnswer": -5}),
    (replace(CONFIG, max_answer=CONFIG.min_answer), "OracleBoundsInvalid", {"maxAnswer": CONFIG.min_answer}),
    (replace(CONFIG, heartbeat=0), "OracleHeartbeatInvalid", {"heartbeat": 0}),
]


@pytest.mark.parametrize(("config", "error", "args"), BAD_CONFIGS)
def test_invalid_configs_are_rejected_at_deployment(
    chain: Chain, roles: Roles, config: OracleConfig, error: str, args: dict[str, int]
):
    with expect_revert(error, **args):
        chain.deploy("PriceOracle", ["X / Y", DECIMALS, roles.admin.address, config.as_tuple()], roles.admin)


def test_invalid_configs_are_rejected_by_set_config(chain: Chain, oracle: Contract, roles: Roles):
    for config, error, args in BAD_CONFIGS:  # one oracle for every case: each rejection changes nothing
        with expect_revert(error, **args):
            chain.transact(oracle.functions.setConfig(config.as_tuple()), roles.admin)
        assert OracleConfig.from_call(oracle.functions.config().call()) == CONFIG


def test_the_admin_cannot_be_the_zero_address(chain: Chain, roles: Roles):
    with expect_revert("OracleZeroAddress"):
        chain.deploy("PriceOracle", ["X / Y", DECIMALS, ZERO_ADDRESS, CONFIG.as_tuple()], roles.admin)


# ---------------------------------------------------------------------- property


#: Answers near the previous price (mostly within the 10 % jump limit) or far from it.
near = st.integers(PRICE * 85 // 100, PRICE * 115 // 100)
far = st.integers(PRICE // 4, PRICE * 4)


@pytest.fixture
def seeded_pair(
    chain: Chain, roles: Roles, reporters: tuple[LocalAccount, ...]
) -> dict[str, tuple[Contract, OracleConfig]]:
    """Two oracles, odd quorum (3) and even quorum (4), each with round 1 final at :data:`PRICE`."""
    pair = {}
    for name, config in (("odd", CONFIG), ("even", EVEN_CONFIG)):
        oracle = deploy_oracle(chain, roles.admin, reporters, config)
        submit_all(chain, oracle, reporters, [PRICE] * config.quorum)
        pair[name] = (oracle, config)
    return pair


@settings(max_examples=20)
@given(which=st.sampled_from(["odd", "even"]), answers=st.lists(st.one_of(near, far), min_size=5, max_size=5))
def test_fuzz_final_answer_is_the_median(
    chain: Chain,
    seeded_pair: dict[str, tuple[Contract, OracleConfig]],
    reporters: tuple[LocalAccount, ...],
    which: str,
    answers: list[int],
):
    oracle, config = seeded_pair[which]
    jump = is_jump(median(answers[: config.quorum]), PRICE, config.max_jump_bps)
    needed = config.jump_quorum if jump else config.quorum
    expected = median(answers[:needed])

    snapshot = evm_snapshot(chain)
    try:
        for count, (reporter, answer) in enumerate(zip(reporters, answers, strict=True), start=1):
            receipt = submit(chain, oracle, reporter, answer, round_id=2)
            state = oracle.functions.roundState(2).call()
            if count == config.quorum:
                assert len(events(oracle, "JumpDetected", receipt)) == int(jump)
            if count < config.quorum:
                assert state == COLLECTING
            elif count < needed:
                assert state == AWAITING_CONFIRMATION
            else:
                assert state == FINAL
                assert events(oracle, "RoundFinalised", receipt) == [
                    {"roundId": 2, "answer": expected, "submissions": needed}
                ]
                break
        final = round_data(oracle, 2)
        assert final.answer == expected
        assert min(answers[:needed]) <= final.answer <= max(answers[:needed])
        assert RoundData.from_call(oracle.functions.latestRoundData().call()) == final
        assert oracle.functions.submissionsOf(2).call() == answers[:needed]
        assert oracle.functions.openRound().call() == 3
        assert round_data(oracle, 1).answer == PRICE
    finally:
        evm_revert(chain, snapshot)


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
    assert consumer.functions.feedInfo().call() == ["EUR / USD", DECIMALS, 1]
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


# ---------------------------------------------------------------------- gas


def test_gas_of_submit_and_of_latest_round_data_stays_small(
    chain: Chain, seeded: Contract, consumer: Contract, reporters: tuple[LocalAccount, ...]
):
    receipts = submit_all(chain, seeded, reporters[:3], [PRICE + 1, PRICE - 1, PRICE], round_id=2)
    first, second, finalising = (r["gasUsed"] for r in receipts)
    assert first < 110_000  # starts the round: every slot it writes is fresh (measured 102.5k)
    assert second < 75_000  # measured 66.5k
    assert finalising < 105_000  # median of 3 and the latest slot (measured 95.1k)
    # A contract reading the latest price: one storage read in the oracle.
    assert chain.w3.eth.estimate_gas({"to": consumer.address, "data": consumer.encode_abi("latestPrice")}) < 30_000


# ---------------------------------------------------------------------- typed API


def test_api_submit_defaults_to_the_open_round(api: Oracle, oracle: Contract, reporters: tuple[LocalAccount, ...]):
    assert api.open_round() == 1
    receipts = [api.submit(r, PRICE) for r in reporters[:3]]
    assert [events(oracle, "AnswerSubmitted", r)[0]["roundId"] for r in receipts] == [1, 1, 1]
    assert api.open_round() == 2
    receipt = api.submit(reporters[0], PRICE + 1)
    assert events(oracle, "AnswerSubmitted", receipt)[0]["roundId"] == 2
    assert api.submissions(2) == [PRICE + 1]
    assert api.has_reported(2, reporters[0].address)


def test_api_reads_rounds_and_config(api: Oracle, reporters: tuple[LocalAccount, ...]):
    assert api.decimals == DECIMALS
    assert api.description == "EUR / USD"
    assert api.config() == CONFIG
    with pytest.raises(ContractRevertError, match="OracleNoData"):
        api.latest()
    for reporter in reporters[:3]:
        api.submit(reporter, PRICE, round_id=1)
    latest = api.latest()
    assert latest == api.round(1)
    assert (latest.round_id, latest.answer, latest.answered_in_round) == (1, PRICE, 1)
    assert latest.started_at <= latest.updated_at
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
    assert api.submissions(1) == []


def test_api_set_config(api: Oracle, roles: Roles):
    new = replace(CONFIG, jump_quorum=4, max_jump_bps=250)
    api.set_config(roles.admin, new)
    assert api.config() == new


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
