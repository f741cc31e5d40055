"""Failed deliveries: no instruction or member can hold a netting round hostage.

The attack: a colluding pair (P3 sells, P4 buys) enters into a round with honest obligations a
DvP whose delivery token is of their own making. At settlement the token refuses the transfer
while its ``balanceOf`` and ``allowance`` look normal, so no exclusion rule (which reads views)
applies to either colluder. The settlement proves the failure by attempting it: after the
funding deadline it records the failure and returns, anyone removes that one instruction, the
nets are submitted again and the rest of the round settles.

Hand computation of the attack round (amounts in USD): direct obligations P0 owes P1 100, P1
owes P2 70, P2 owes P0 40, P3 owes P1 60; honest DvP: P0 sells 30 shares to P2 for 300 (P2 owes
P0 300); hostile DvP: P3 sells 5 HOST to P4 for 400 (P4 owes P3 400). Nets: P0 -100 + 40 + 300
= +240, P1 +100 - 70 + 60 = +90, P2 +70 - 40 - 300 = -270, P3 +400 - 60 = +340, P4 -400 (sum 0;
gross 970). Without the hostile DvP: P3 -60, P4 0, the others unchanged (gross 570, net 330).
"""

from __future__ import annotations

from typing import Any

import pytest
from web3.contract import Contract

from dfmi_py.api.netting import DeliveryFailure, ObligationState, RoundState
from dfmi_py.api.settlement import InstructionState
from dfmi_py.errors import InputError
from dfmi_py.netting import Obligation
from dfmi_py.signing.settlement import Instruction
from tests.contracts.conftest import deploy_quickly, send_setup
from tests.helpers import events, expect_revert, leaves_unchanged, send_unmined
from tests.netting.conftest import NO_SETTLEMENT, USD, DvPWorld
from tests.netting.conftest import HostileMode as Mode

MAX_REASON_BYTES = 256


def diff(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """The entries that changed, as after - before."""
    return {key: after[key] - before[key] for key in before if after[key] != before[key]}


def id_of(world: DvPWorld, instruction: Instruction) -> bytes:
    return bytes.fromhex(world.settlement.instruction_id(instruction)[2:])


def cash_leg(world: DvPWorld, round_id: int, instruction: Instruction) -> Obligation:
    """The obligation an entered instruction's cash leg is."""
    return Obligation(
        round_id, instruction.party_b, instruction.party_a, instruction.amount_b, id_of(world, instruction)
    )


def hostile_round(world: DvPWorld, mode: Mode, blob_size: int = 0) -> tuple[int, Contract, Instruction, Instruction]:
    """The module's attack round, Verified, every member approved on cash: the hostile DvP is
    entered first (so every delivery after it is tried too), then the honest DvP and the direct
    obligations; then the colluders switch their token to ``mode``."""
    p0, p1, p2, p3, p4 = world.members[:5]
    n = world.netting
    round_id = world.open(p0)
    host = world.hostile([p3])
    bad = world.dvp(p3, 5, p4, 400 * USD).but(token_a=host.address)
    good = world.dvp(p0, 30, p2, 300 * USD)
    for instruction in (bad, good):
        n.enter_instruction(world.roles.outsider, round_id, world.signed_dvp(instruction))
    world.register_all(round_id, [(p0, p1, 100 * USD), (p1, p2, 70 * USD), (p2, p0, 40 * USD), (p3, p1, 60 * USD)])
    n.close(p0, round_id)
    n.submit_nets(world.roles.outsider, round_id)
    world.approve_all(world.members[:5])
    world.chain.transact(host.functions.setMode(mode, blob_size), p3)
    return round_id, host, bad, good


def all_books(world: DvPWorld, host: Contract) -> dict[str, int]:
    """Both tokens of every member and contract, and the hostile token of the colluders."""
    p3, p4 = world.members[3:5]
    books = world.books(world.members)
    books |= {f"host:{m.address}": host.functions.balanceOf(m.address).call() for m in (p3, p4)}
    return books


def settle_recording(world: DvPWorld, round_id: int, bad: Instruction) -> tuple[Any, DeliveryFailure]:
    """After the deadline: a settlement that records the hostile DvP's failure alone, moves
    nothing and does not revert."""
    n = world.netting
    host = world.chain.contract("HostileSecurity", bad.token_a)
    world.past_deadline(round_id)
    with leaves_unchanged(lambda: all_books(world, host)):
        receipt = n.settle(world.roles.outsider, round_id)
    (failure,) = n.failures_in(receipt)
    (logged,) = events(n.contract, "DeliveryFailed", receipt)
    assert (logged["roundId"], logged["instructionId"], logged["seller"]) == (round_id, id_of(world, bad), bad.party_a)
    assert failure.reason == bytes(logged["reason"])
    assert (failure.round_id, failure.instruction, failure.instruction_id, failure.seller) == (
        round_id,
        bad,
        id_of(world, bad),
        bad.party_a,
    )
    assert not events(n.contract, "RoundSettled", receipt)
    assert n.state(round_id) == RoundState.VERIFIED
    assert n.obligation_state(cash_leg(world, round_id, bad)) == ObligationState.FAILED
    assert n.delivery_failures(round_id) == [failure]
    assert world.settlement.state_of(bad) == InstructionState.LOCKED
    return receipt, failure


def test_a_token_that_refuses_at_settlement_cannot_hold_the_round_hostage(dvp_world: DvPWorld) -> None:
    world = dvp_world
    p0, p1, p2, p3, p4 = world.members[:5]
    n, s = world.netting, world.settlement
    round_id, host, bad, good = hostile_round(world, Mode.REFUSE)
    outsider = world.roles.outsider
    bad_id = id_of(world, bad)

    # The views look normal: the colluders have the tokens, the allowances, the cash.
    assert host.functions.balanceOf(p3.address).call() == 10_000
    assert host.functions.allowance(p3.address, s.address).call() == 2**256 - 1
    assert n.blocking_member(round_id) is None

    # Before the deadline the failure is reported and nothing is recorded or moved.
    with (
        leaves_unchanged(lambda: all_books(world, host)),
        expect_revert("NettingDeliveriesFailed", roundId=round_id, indices=(0,), instructionIds=(bad_id,)) as info,
    ):
        n.settle(outsider, round_id)
    (reason,) = info.value.args_by_name["reasons"]
    refused = ("HostileSecurityRefused", {"from": p3.address, "to": p4.address, "value": 5})
    assert world.decoded(reason) == refused
    assert n.obligation_state(cash_leg(world, round_id, bad)) == ObligationState.DELIVERY
    assert n.delivery_failures(round_id) == []

    # After it, neither colluder can be excluded: exclusion judges from the views.
    world.past_deadline(round_id)
    for colluder in (p3, p4):
        with expect_revert("NettingMemberNotShort", roundId=round_id, member=colluder):
            n.exclude(outsider, round_id, colluder.address)

    # The settlement proves the failure instead: recorded, nothing moved, no revert.
    _, failure = settle_recording(world, round_id, bad)
    assert failure.error == "HostileSecurityRefused"
    assert world.decoded(failure.reason) == refused

    # Anyone removes that instruction alone: its cash leg leaves both nets, it is pending again.
    receipt = n.remove_failed(outsider, round_id)
    leg = cash_leg(world, round_id, bad)
    assert [
        (e["id"], e["payer"], e["payee"], e["amount"]) for e in events(n.contract, "ObligationRemoved", receipt)
    ] == [(n.id_of(leg), p4.address, p3.address, 400 * USD)]
    assert [e["instructionId"] for e in events(n.contract, "InstructionReleased", receipt)] == [bad_id]
    assert [(e["id"], e["roundId"]) for e in events(s.contract, "InstructionReleased", receipt)] == [(bad_id, round_id)]
    assert n.obligation_state(leg) == ObligationState.REMOVED
    assert s.state_of(bad) == InstructionState.PENDING
    assert n.state(round_id) == RoundState.CLOSED
    assert n.instructions(round_id) == [good]
    assert n.delivery_failures(round_id) == []
    info_after = n.round(round_id)
    assert (info_after.instruction_count, info_after.obligation_count, info_after.excluded_count) == (1, 5, 0)
    assert (info_after.gross_value, info_after.net_value) == (570 * USD, 330 * USD)
    nets = dict(zip(n.members(round_id), n.nets(round_id), strict=True))
    assert nets == {
        p3.address: -60 * USD,
        p4.address: 0,
        p0.address: 240 * USD,
        p2.address: -270 * USD,
        p1.address: 90 * USD,
    }
    # The colluders are not excluded: P3's honest debt to P1 stays in the round.
    assert not n.position_of(round_id, p3.address).excluded

    # Nets again, and the round settles: every honest obligation and the honest DvP.
    n.submit_nets(outsider, round_id)
    before = all_books(world, host)
    receipt = n.settle(outsider, round_id)
    after = all_books(world, host)
    assert diff(before, after) == {
        f"cash:{p0.address}": 240 * USD,
        f"cash:{p1.address}": 90 * USD,
        f"cash:{p2.address}": -270 * USD,
        f"cash:{p3.address}": -60 * USD,
        f"shares:{p0.address}": -30,
        f"shares:{p2.address}": 30,
    }
    for token in ("cash", "shares"):
        assert after[f"{token}:supply"] == before[f"{token}:supply"]
        assert after[f"{token}:{n.address}"] == after[f"{token}:{s.address}"] == 0
    assert n.state(round_id) == RoundState.SETTLED
    assert s.state_of(good) == InstructionState.SETTLED
    assert not events(n.contract, "DeliveryFailed", receipt)
    # The colluders' DvP moved nothing and is theirs again: here the buyer cancels it.
    s.cancel(p4, bad)
    assert s.state_of(bad) == InstructionState.CANCELLED


def test_a_token_that_burns_all_gas_costs_one_capped_attempt(dvp_world: DvPWorld) -> None:
    """Listed first, the gas burner is cut at its cap and the honest delivery after it still
    moves in the attempt (only index 0 failed); the round then settles without it."""
    world = dvp_world
    p0, p2 = world.members[0], world.members[2]
    n = world.netting
    round_id, host, bad, _ = hostile_round(world, Mode.BURN_GAS)
    with (
        leaves_unchanged(lambda: all_books(world, host)),
        expect_revert("NettingDeliveriesFailed", indices=(0,), instructionIds=(id_of(world, bad),), reasons=(b"",)),
    ):
        n.settle(world.roles.outsider, round_id)

    _, failure = settle_recording(world, round_id, bad)
    assert (failure.reason, failure.error) == (b"", None)
    assert n.resolve(world.roles.outsider, round_id) == []
    assert n.state(round_id) == RoundState.VERIFIED
    before = all_books(world, host)
    n.settle(world.roles.outsider, round_id)
    changed = diff(before, all_books(world, host))
    assert (changed[f"shares:{p0.address}"], changed[f"shares:{p2.address}"]) == (-30, 30)
    assert n.state(round_id) == RoundState.SETTLED


def test_a_huge_revert_blob_is_cut_to_its_head(dvp_world: DvPWorld) -> None:
    """A 128 KiB revert blob: the failure keeps its first MAX_REASON_BYTES, no more."""
    world = dvp_world
    round_id, host, bad, _ = hostile_round(world, Mode.REVERT_BLOB, blob_size=128 * 1024)
    assert world.netting.contract.functions.MAX_REASON_BYTES().call() == MAX_REASON_BYTES
    _, failure = settle_recording(world, round_id, bad)
    head = bytes(host.functions.BLOB_HEAD().call())
    assert failure.reason == head + bytes(MAX_REASON_BYTES - 32)
    assert failure.error is None


def test_a_failed_delivery_that_can_move_again_settles_with_the_round(dvp_world: DvPWorld) -> None:
    """A recorded failure is not a sentence: while the instruction is still in the round, a
    settlement that delivers it settles everything, and it is a plain delivery again."""
    world = dvp_world
    p3, p4 = world.members[3:5]
    n = world.netting
    round_id, host, bad, good = hostile_round(world, Mode.REFUSE)
    settle_recording(world, round_id, bad)
    world.chain.transact(host.functions.setMode(Mode.COMPLY, 0), p3)
    before = all_books(world, host)
    receipt = n.settle(world.roles.outsider, round_id)
    changed = diff(before, all_books(world, host))
    assert (changed[f"host:{p3.address}"], changed[f"host:{p4.address}"]) == (-5, 5)
    assert (changed[f"cash:{p3.address}"], changed[f"cash:{p4.address}"]) == (340 * USD, -400 * USD)
    assert not events(n.contract, "DeliveryFailed", receipt)
    assert n.state(round_id) == RoundState.SETTLED
    assert n.obligation_state(cash_leg(world, round_id, bad)) == ObligationState.DELIVERY
    assert world.settlement.state_of(bad) == world.settlement.state_of(good) == InstructionState.SETTLED
    assert n.delivery_failures(round_id) == []


def _eth_call_error(world: DvPWorld, call: Any, gas: int) -> str | None:
    """The custom error ``call`` reverts with when sent with ``gas`` ("" for a revert without
    known data, None when it succeeds)."""
    tx = {"from": world.roles.outsider.address, "to": call.address, "data": call._encode_transaction_data()}
    response = world.chain.w3.provider.make_request("eth_call", [tx | {"gas": hex(gas)}, "latest"])  # type: ignore[list-item]
    if "error" not in response:
        return None
    data = response["error"].get("data")
    decoded = world.decoded(bytes.fromhex(data[2:])) if isinstance(data, str) and len(data) >= 10 else None
    return "" if decoded is None else decoded[0]


#: Gas the heavy (honest but expensive) token burns in each transfer: well inside DELIVERY_GAS.
HEAVY_LOAD = 200_000


@pytest.mark.parametrize("token", ["compliant", "heavy"])
def test_too_little_gas_cannot_fake_a_failure(dvp_world: DvPWorld, token: str) -> None:
    """An honest round after its deadline, settled with every gas limit from well below to just
    above the least that works: each attempt reverts and records nothing, or settles the round;
    in between, the starved delivery is refused by name (NettingInsufficientGas). With the
    compliant security, one DvP; with an honest token that burns 200,000 gas per transfer, three
    (the last one starved while the first two leave the settlement 1/64 of a large budget: the
    case where, without the check, what is left would suffice to record a failure)."""
    world = dvp_world
    p0, p1, p2, p3, p4, p5 = world.members[:6]
    n = world.netting
    round_id = world.open(p0)
    if token == "compliant":
        dvps = [world.dvp(p0, 30, p2, 300 * USD)]
    else:
        heavy = world.hostile([p0, p1, p2])
        world.chain.transact(heavy.functions.setMode(Mode.HEAVY, HEAVY_LOAD), p0)
        dvps = [world.dvp(a, 10, b, 100 * USD).but(token_a=heavy.address) for a, b in ((p0, p3), (p1, p4), (p2, p5))]
    for dvp in dvps:
        n.enter_instruction(world.roles.outsider, round_id, world.signed_dvp(dvp))
    world.register_all(round_id, [(p1, p0, 50 * USD)])
    n.close(p0, round_id)
    n.submit_nets(world.roles.outsider, round_id)
    world.approve_all(world.members)
    world.past_deadline(round_id)
    call = n.contract.functions.settle(round_id, [dvp.as_tuple() for dvp in dvps])

    low, high = 50_000, 5_000_000
    assert _eth_call_error(world, call, high) is None
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if _eth_call_error(world, call, middle) is None else (middle, high)
    least = high

    refusals = set()
    legs = [cash_leg(world, round_id, dvp) for dvp in dvps]
    for gas in [*range(least - 80_000, least, 2_000), least]:
        expected = _eth_call_error(world, call, gas)
        receipt = world.chain.w3.eth.wait_for_transaction_receipt(
            send_unmined(world.chain, call, world.roles.outsider, tip=0, gas=gas)
        )
        assert not events(n.contract, "DeliveryFailed", receipt)
        assert [n.obligation_state(leg) for leg in legs] == [ObligationState.DELIVERY] * len(legs)
        if gas < least:
            assert receipt["status"] == 0, gas
            assert n.state(round_id) == RoundState.VERIFIED
            refusals.add(expected)
        else:
            assert (expected, receipt["status"]) == (None, 1)
    assert "NettingInsufficientGas" in refusals
    assert n.state(round_id) == RoundState.SETTLED
    assert [world.settlement.state_of(dvp) for dvp in dvps] == [InstructionState.SETTLED] * len(dvps)


def test_removal_takes_only_failed_instructions_of_the_round(dvp_world: DvPWorld) -> None:
    world = dvp_world
    p0 = world.members[0]
    n = world.netting
    outsider = world.roles.outsider
    round_id, _, bad, good = hostile_round(world, Mode.REFUSE)
    other = world.open(p0)
    remove = n.contract.functions.removeFailed
    bad_id, good_id = id_of(world, bad), id_of(world, good)

    # Nothing failed yet.
    with expect_revert(
        "NettingDeliveryNotFailed", roundId=round_id, instructionId=bad_id, state=ObligationState.DELIVERY
    ):
        world.chain.transact(remove(round_id, [bad.as_tuple()]), outsider)
    settle_recording(world, round_id, bad)
    # An instruction whose delivery did not fail, one of another round, none at all.
    with expect_revert(
        "NettingDeliveryNotFailed", roundId=round_id, instructionId=good_id, state=ObligationState.DELIVERY
    ):
        world.chain.transact(remove(round_id, [bad.as_tuple(), good.as_tuple()]), outsider)
    with expect_revert(
        "NettingInvalidState", roundId=other, expected=RoundState.VERIFIED, actual=RoundState.COLLECTING
    ):
        world.chain.transact(remove(other, [bad.as_tuple()]), outsider)
    n.close(p0, other)
    with expect_revert("NettingDeliveryNotFailed", roundId=other, instructionId=bad_id, state=ObligationState.NONE):
        world.chain.transact(remove(other, [bad.as_tuple()]), outsider)
    with expect_revert("NettingEmptyBatch"):
        world.chain.transact(remove(round_id, []), outsider)
    with expect_revert("NettingUnknownRound", roundId=99):
        world.chain.transact(remove(99, [bad.as_tuple()]), outsider)
    assert n.obligation_state(cash_leg(world, round_id, bad)) == ObligationState.FAILED

    # Removed once; not twice.
    world.chain.transact(remove(round_id, [bad.as_tuple()]), outsider)
    with expect_revert(
        "NettingDeliveryNotFailed", roundId=round_id, instructionId=bad_id, state=ObligationState.REMOVED
    ):
        world.chain.transact(remove(round_id, [bad.as_tuple()]), outsider)
    with pytest.raises(InputError, match=f"round {round_id} has no failed delivery to remove"):
        n.remove_failed(outsider, round_id)


def test_an_expired_round_releases_a_failed_instruction_like_any_other(dvp_world: DvPWorld) -> None:
    world = dvp_world
    n = world.netting
    round_id, _, bad, good = hostile_round(world, Mode.REFUSE)
    settle_recording(world, round_id, bad)
    world.advance(7 * 24 * 3600)
    assert n.state(round_id) == RoundState.EXPIRED
    with expect_revert(
        "NettingInvalidState", roundId=round_id, expected=RoundState.VERIFIED, actual=RoundState.EXPIRED
    ):
        world.chain.transact(n.contract.functions.removeFailed(round_id, [bad.as_tuple()]), world.roles.outsider)
    n.release_instructions(world.roles.outsider, round_id)
    # Unlocked: their nonces are unspent (the instructions' own deadlines have passed meanwhile).
    for instruction in (bad, good):
        state = world.settlement.contract.functions.nonceState(instruction.party_a, instruction.party_b, 0).call()
        assert state == InstructionState.PENDING
    assert n.round(round_id).instruction_count == 0


def test_a_netting_contract_without_settlement_removes_nothing(dvp_world: DvPWorld) -> None:
    world = dvp_world
    contract = deploy_quickly(
        world.chain, "NettingEngine", [world.registry.address, world.cash.address, NO_SETTLEMENT], world.roles.admin
    )
    instruction = world.dvp(world.members[0], 1, world.members[1], 1)
    with expect_revert("NettingNoSettlement"):
        world.chain.transact(contract.functions.removeFailed(1, [instruction.as_tuple()]), world.roles.outsider)


def test_a_hostile_token_calling_back_during_its_attempt_is_refused(dvp_world: DvPWorld) -> None:
    """After the deadline, the token's delivery calls back into the netting contract (to remove
    its own instruction, to settle again) with the refusal bubbling: the guard refuses each, the
    failure is recorded with that refusal as its reason, and nothing moves."""
    world = dvp_world
    p0, p1, p2, p3 = world.members[:4]
    n, s = world.netting, world.settlement
    admin = world.roles.admin
    rogue = deploy_quickly(world.chain, "ReentrantCash", [], admin)
    send_setup(
        world.chain,
        [(rogue.functions.mint(p3.address, 1_000), admin), (rogue.functions.approve(s.address, 2**256 - 1), p3)],
    )
    round_id = world.open(p0)
    bad = world.dvp(p3, 10, p1, 100 * USD).but(token_a=rogue.address)
    good = world.dvp(p0, 5, p2, 50 * USD)
    for instruction in (good, bad):
        n.enter_instruction(world.roles.outsider, round_id, world.signed_dvp(instruction))
    n.close(p0, round_id)
    n.submit_nets(world.roles.outsider, round_id)
    world.approve_all([p1, p2])
    world.past_deadline(round_id)
    listed = [good.as_tuple(), bad.as_tuple()]
    for callback in (
        n.contract.functions.removeFailed(round_id, [bad.as_tuple()]),
        n.contract.functions.settle(round_id, listed),
    ):
        world.chain.transact(rogue.functions.arm(n.address, callback._encode_transaction_data(), True), admin)
        with leaves_unchanged(lambda: world.books(world.members)):
            receipt = n.settle(world.roles.outsider, round_id)
        (failure,) = n.failures_in(receipt)
        assert (failure.instruction, failure.error) == (bad, "ReentrancyGuardReentrantCall")
    assert rogue.functions.balanceOf(p1.address).call() == 0
    n.remove_failed(world.roles.outsider, round_id)
    assert s.state_of(bad) == InstructionState.PENDING
