"""k-of-n governance of the default fund: approvals, nonces, deadlines, each action kind."""

from __future__ import annotations

from dataclasses import replace

import pytest
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

from dfmi_py.api.fund import EngineStatus, MemberStatus
from dfmi_py.errors import InputError
from dfmi_py.signing import Domain
from dfmi_py.signing.fund import Action, ActionKind, Approval, action_message, encode_params, sign_action
from tests.fund.conftest import (
    FLOOR,
    REQUIREMENT_BPS,
    THRESHOLD,
    THRESHOLD_BPS,
    USD,
    WINDOW,
    FundWorld,
    deploy_engine,
    deploy_fund,
)
from tests.helpers import ZERO_ADDRESS, events, expect_revert


@pytest.fixture
def members(world: FundWorld) -> list[LocalAccount]:
    """Three members of 10,000 each, sorted by address (the order approvals must come in)."""
    joined = world.join_all([10_000 * USD] * 3)
    return sorted(joined, key=lambda a: int(a.address, 16))


# ---------------------------------------------------------------------- the digest


def test_hashAction_matchesTheToolkitsTypedData(world: FundWorld) -> None:
    action = world.action(ActionKind.SET_THRESHOLD, 3)
    signable = encode_typed_data(full_message=action_message(world.fund.eip712_domain(), action))
    expected = keccak(b"\x19\x01" + signable.header + signable.body)
    assert world.fund.hash_action(action) == expected
    domain = world.fund.eip712_domain()
    assert (domain.name, domain.version, domain.chain_id, domain.verifying_contract) == (
        "DefaultFund",
        "1",
        world.chain.chain_id,
        world.fund.address,
    )


def test_encodeParams_rejectsWrongArity() -> None:
    with pytest.raises(InputError):
        encode_params(ActionKind.WITHDRAW, ZERO_ADDRESS)
    with pytest.raises(InputError):
        encode_params(ActionKind.NONE)


# ---------------------------------------------------------------------- rejected approvals


def test_execute_revertsBelowThreshold(world: FundWorld, members: list[LocalAccount]) -> None:
    action = world.action(ActionKind.SET_REPLENISHMENT_WINDOW, 3600)
    with expect_revert("FundNotEnoughApprovals", given=1, threshold=THRESHOLD):
        world.execute(action, members[:1])
    with expect_revert("FundNotEnoughApprovals", given=0, threshold=THRESHOLD):
        world.execute(action, [])


def test_execute_revertsOnDuplicateApprovals(world: FundWorld, members: list[LocalAccount]) -> None:
    action = world.action(ActionKind.SET_REPLENISHMENT_WINDOW, 3600)
    approval = world.fund.sign(members[0], action)
    with expect_revert("FundDuplicateApproval", signer=members[0]):
        world.submit(action, [approval, approval])


def test_execute_revertsOnUnsortedApprovals(world: FundWorld, members: list[LocalAccount]) -> None:
    action = world.action(ActionKind.SET_REPLENISHMENT_WINDOW, 3600)
    low, high = world.approvals(action, members[:2])
    with expect_revert("FundApprovalsNotSorted", previous=members[1], signer=members[0]):
        world.submit(action, [high, low])


def test_execute_revertsOnNonMemberSigners(world: FundWorld, members: list[LocalAccount]) -> None:
    action = world.action(ActionKind.SET_REPLENISHMENT_WINDOW, 3600)
    outsider = world.roles.outsider
    with expect_revert("FundSignerNotMember", signer=outsider):
        world.execute(action, [members[0], outsider])
    # An onboarded account that has not joined is no member either.
    with expect_revert("FundSignerNotMember", signer=world.members[3]):
        world.execute(action, [members[0], world.members[3]])


def test_execute_revertsOnForgedSignatures(world: FundWorld, members: list[LocalAccount]) -> None:
    action = world.action(ActionKind.SET_REPLENISHMENT_WINDOW, 3600)
    first, second = world.approvals(action, members[:2])
    # The second member's signature presented as the first's.
    with expect_revert("FundInvalidSignature", signer=members[0]):
        world.submit(action, [Approval(first.signer, second.signature), second])
    # A signature of another action.
    other = world.fund.sign(members[1], replace(action, deadline=action.deadline + 1))
    with expect_revert("FundInvalidSignature", signer=members[1]):
        world.submit(action, [first, other])
    with expect_revert("FundInvalidSignature", signer=members[1]):
        world.submit(action, [first, Approval(second.signer, b"\x01" * 65)])


@pytest.mark.parametrize("what", ["chain", "contract"])
def test_execute_revertsOnSignaturesForAnotherDomain(world: FundWorld, members: list[LocalAccount], what: str) -> None:
    action = world.action(ActionKind.SET_REPLENISHMENT_WINDOW, 3600)
    d = world.fund.eip712_domain()
    domain = Domain(d.name, d.version, d.chain_id + 1, d.verifying_contract)
    if what == "contract":
        domain = Domain(d.name, d.version, d.chain_id, world.engine.address)
    approvals = [sign_action(m, domain, action) for m in members[:2]]
    with expect_revert("FundInvalidSignature", signer=members[0]):
        world.fund.execute(world.roles.outsider, action, approvals)


def test_execute_acceptsERC1271ApprovalsOfContractMembers(world: FundWorld, members: list[LocalAccount]) -> None:
    """A member that is a contract (a bank's multisig) approves through ERC-1271."""
    multisig = deploy_engine(world.chain, world.roles, world.cash, world.registry)  # not registered
    world.chain.transact(world.cash.functions.mint(multisig.address, FLOOR), world.roles.minter)
    world.chain.transact(multisig.functions.joinFund(world.fund.address, FLOOR), world.roles.admin)
    action = world.action(ActionKind.SET_REPLENISHMENT_WINDOW, 3600)
    # Four members at 60%: three approvals.
    approvals = [*world.approvals(action, members[:2]), Approval(multisig.address, b"\x00" * 65)]
    with expect_revert("FundInvalidSignature", signer=multisig.address):
        world.fund.execute(world.roles.outsider, action, approvals)
    world.chain.transact(multisig.functions.approveHash(world.fund.hash_action(action)), world.roles.admin)
    world.fund.execute(world.roles.outsider, action, approvals)
    assert world.fund.state().replenishment_window == 3600


def test_execute_revertsOnReplay(world: FundWorld, members: list[LocalAccount]) -> None:
    action = world.action(ActionKind.SET_REPLENISHMENT_WINDOW, 3600)
    approvals = world.approvals(action, members[:2])
    receipt = world.fund.execute(world.roles.outsider, action, approvals)
    [executed] = events(world.contract, "ActionExecuted", receipt)
    assert (executed["nonce"], executed["kind"]) == (0, ActionKind.SET_REPLENISHMENT_WINDOW)
    assert executed["digest"] == world.fund.hash_action(action)
    assert world.fund.state().nonce == 1
    with expect_revert("FundInvalidNonce", expected=1, nonce=0):
        world.fund.execute(world.roles.outsider, action, approvals)


def test_execute_revertsOnAFutureNonce(world: FundWorld, members: list[LocalAccount]) -> None:
    action = world.action(ActionKind.SET_REPLENISHMENT_WINDOW, 3600, nonce=1)
    with expect_revert("FundInvalidNonce", expected=0, nonce=1):
        world.execute(action, members[:2])


def test_execute_revertsWhenExpired(world: FundWorld, members: list[LocalAccount]) -> None:
    deadline = world.now() + 60
    action = world.action(ActionKind.SET_REPLENISHMENT_WINDOW, 3600, deadline=deadline)
    approvals = world.approvals(action, members[:2])
    world.advance(61)
    with expect_revert("FundApprovalExpired", deadline=deadline):
        world.fund.execute(world.roles.outsider, action, approvals)


def test_execute_revertsOnTheNoneKindAndBadParams(world: FundWorld, members: list[LocalAccount]) -> None:
    nonce, deadline = 0, world.now() + 3600
    with expect_revert("FundInvalidAction", kind=ActionKind.NONE):
        world.execute(Action(ActionKind.NONE, b"", nonce, deadline), members[:2])
    with expect_revert("FundInvalidAction", kind=ActionKind.SET_THRESHOLD):
        world.execute(Action(ActionKind.SET_THRESHOLD, b"\x00" * 64, nonce, deadline), members[:2])


def test_execute_moreApprovalsThanTheThresholdAreFine(world: FundWorld, members: list[LocalAccount]) -> None:
    action = world.action(ActionKind.SET_REPLENISHMENT_WINDOW, 3600)
    receipt = world.execute(action, members)
    assert events(world.contract, "ReplenishmentWindowChanged", receipt) == [{"replenishmentWindow": 3600}]
    assert world.fund.state().replenishment_window == 3600


# ---------------------------------------------------------------------- rule changes


def test_setThreshold_changesHowManyApprovalsAreNeeded(world: FundWorld, members: list[LocalAccount]) -> None:
    receipt = world.execute(world.action(ActionKind.SET_THRESHOLD, 10_000), members[:2])
    assert events(world.contract, "ThresholdChanged", receipt) == [{"previous": THRESHOLD_BPS, "thresholdBps": 10_000}]
    action = world.action(ActionKind.SET_REPLENISHMENT_WINDOW, 3600)
    with expect_revert("FundNotEnoughApprovals", given=2, threshold=3):
        world.execute(action, members[:2])
    world.execute(action, members)
    state = world.fund.state()
    assert (state.threshold, state.threshold_bps) == (3, 10_000)


def test_threshold_isAShareOfTheMembers_soItGrowsAsTheyJoin(world: FundWorld) -> None:
    """60%: 2 of 1-3 members (never fewer than two), 3 of 4 and 5, 4 of 6."""
    expected = {1: 2, 2: 2, 3: 2, 4: 3, 5: 3, 6: 4}
    for count, member in enumerate(world.members[:6], start=1):
        world.join(member, 10_000 * USD)
        assert world.fund.state().threshold == expected[count], count


@pytest.mark.parametrize("bps", [0, 1, 5_000, 10_001])
def test_setThreshold_revertsUnlessMoreThanHalfAndAtMostAll(
    world: FundWorld, members: list[LocalAccount], bps: int
) -> None:
    with expect_revert("FundInvalidThreshold", thresholdBps=bps):
        world.execute(world.action(ActionKind.SET_THRESHOLD, bps), members[:2])
    assert world.fund.state().threshold_bps == THRESHOLD_BPS


def test_constructor_rejectsAThresholdOfHalfTheMembers(world: FundWorld) -> None:
    with expect_revert("FundInvalidThreshold", thresholdBps=5_000):
        deploy_fund(world.chain, world.roles, world.cash, world.registry, [], threshold_bps=5_000)


def test_governance_needsThresholdMembersToExist(world: FundWorld) -> None:
    """With one member, nothing can pass: one member never acts alone."""
    alice = world.members[0]
    world.join(alice, 10_000 * USD)
    with expect_revert("FundNotEnoughApprovals", given=1, threshold=2):
        world.execute(world.action(ActionKind.WITHDRAW, alice.address, USD), [alice])


def test_setRequirement_changesStandings(world: FundWorld, members: list[LocalAccount]) -> None:
    world.open(members[0], 40_000 * USD)  # 20%: 8,000 of 10,000
    receipt = world.execute(world.action(ActionKind.SET_REQUIREMENT, 3_000, 500 * USD), members[:2])
    assert events(world.contract, "RequirementChanged", receipt) == [
        {"requirementBps": 3_000, "floorAmount": 500 * USD}
    ]
    assert world.fund.requirement_of(members[0].address) == 12_000 * USD
    assert world.fund.status_of(members[0].address) == MemberStatus.BELOW_REQUIREMENT
    assert world.fund.requirement_of(members[1].address) == 500 * USD
    with expect_revert("FundInvalidRequirement", requirementBps=10_001, floorAmount=0):
        world.execute(world.action(ActionKind.SET_REQUIREMENT, 10_001, 0), members[:2])
    state = world.fund.state()
    assert (state.requirement_bps, state.floor_amount) == (3_000, 500 * USD)


def test_setReplenishmentWindow_rejectsZero(world: FundWorld, members: list[LocalAccount]) -> None:
    with expect_revert("FundInvalidReplenishmentWindow", replenishmentWindow=0):
        world.execute(world.action(ActionKind.SET_REPLENISHMENT_WINDOW, 0), members[:2])
    assert world.fund.state().replenishment_window == WINDOW


def test_engines_registeredByEveryMember_andDeregisteredByTheThreshold(
    world: FundWorld, members: list[LocalAccount]
) -> None:
    newcomer = deploy_engine(world.chain, world.roles, world.cash, world.registry)
    call = newcomer.functions.claim(world.fund.address, members[0].address, members[1].address, USD)
    with expect_revert("FundNotEngine", caller=newcomer.address, status=EngineStatus.NONE):
        world.chain.transact(call, world.roles.admin)

    with expect_revert("FundRegistrationNotUnanimous", given=2, members=3):
        world.execute(world.action(ActionKind.REGISTER_ENGINE, newcomer.address), members[:2])
    receipt = world.execute(world.action(ActionKind.REGISTER_ENGINE, newcomer.address), members)
    assert events(world.contract, "EngineRegistered", receipt) == [{"engine": newcomer.address}]
    assert world.fund.engine_status_of(newcomer.address) == EngineStatus.REGISTERED
    opened = newcomer.functions.open(world.fund.address, members[0].address, 5_000 * USD)
    world.chain.transact(opened, world.roles.admin)
    world.chain.transact(call, world.roles.admin)
    assert newcomer.functions.creditOf(members[1].address).call() == USD

    with expect_revert("FundInvalidEngine", engine=newcomer.address, status=EngineStatus.REGISTERED):
        world.execute(world.action(ActionKind.REGISTER_ENGINE, newcomer.address), members)
    world.execute(world.action(ActionKind.DEREGISTER_ENGINE, newcomer.address), members[:2])
    # Deregistered, it opens nothing more, but winds down what it opened: its trades keep the
    # fund's cover (a majority cannot strip a survivor of it) and it reports their closing.
    with expect_revert("FundNotEngine", caller=newcomer.address, status=EngineStatus.DEREGISTERED):
        world.chain.transact(opened, world.roles.admin)
    world.chain.transact(call, world.roles.admin)
    assert newcomer.functions.creditOf(members[1].address).call() == 2 * USD
    closed = newcomer.functions.close(world.fund.address, members[0].address, 5_000 * USD)
    world.chain.transact(closed, world.roles.admin)
    assert world.fund.open_im_of(members[0].address) == 0
    with expect_revert("FundInvalidEngine", engine=newcomer.address, status=EngineStatus.DEREGISTERED):
        world.execute(world.action(ActionKind.DEREGISTER_ENGINE, newcomer.address), members[:2])
    # An account without code is no engine.
    with expect_revert("FundInvalidEngine", engine=world.roles.outsider, status=EngineStatus.NONE):
        world.execute(world.action(ActionKind.REGISTER_ENGINE, world.roles.outsider.address), members)


def test_a_majority_cannot_register_an_engine_of_its_own_and_drain_the_others(
    world: FundWorld, members: list[LocalAccount]
) -> None:
    """The attack: two of three members (the threshold) register a contract that claims any loss
    naming any defaulter and survivor, and take every member's balance. Registration needs every
    member, so it fails, and no other action reaches the honest member's balance without it."""
    honest, *colluders = members
    rogue = deploy_engine(world.chain, world.roles, world.cash, world.registry)
    before = world.balances(members)
    with expect_revert("FundRegistrationNotUnanimous", given=2, members=3):
        world.execute(world.action(ActionKind.REGISTER_ENGINE, rogue.address), colluders)
    drain = rogue.functions.claim(world.fund.address, colluders[0].address, colluders[1].address, 30_000 * USD)
    with expect_revert("FundNotEngine", caller=rogue.address, status=EngineStatus.NONE):
        world.chain.transact(drain, world.roles.admin)
    # A withdrawal of the honest member's balance needs its own approval.
    with expect_revert("FundWithdrawalNotApprovedByMember", member=honest.address):
        world.execute(world.action(ActionKind.WITHDRAW, honest.address, USD), colluders)
    assert world.balances(members) == before
    assert world.fund.engine_status_of(rogue.address) == EngineStatus.NONE


# ---------------------------------------------------------------------- withdrawals


def test_withdraw_aboveRequirementWithApprovals(world: FundWorld, members: list[LocalAccount]) -> None:
    member = members[0]
    world.open(member, 30_000 * USD)  # requirement 6,000 of 10,000: 4,000 free
    wallet = world.cash.functions.balanceOf(member.address).call()
    action = world.action(ActionKind.WITHDRAW, member.address, 4_000 * USD)
    receipt = world.execute(action, members[:2])
    assert events(world.contract, "Withdrawn", receipt) == [
        {"member": member.address, "amount": 4_000 * USD, "shares": 4_000 * USD * 10**6}
    ]
    assert world.cash.functions.balanceOf(member.address).call() == wallet + 4_000 * USD
    assert world.balances(members) == [6_000 * USD, 10_000 * USD, 10_000 * USD]
    assert world.totals()[0] == world.totals()[2] == 26_000 * USD
    assert world.fund.is_in_good_standing(member.address)


def test_withdraw_revertsBelowRequirement(world: FundWorld, members: list[LocalAccount]) -> None:
    member = members[0]
    world.open(member, 30_000 * USD)
    action = world.action(ActionKind.WITHDRAW, member.address, 4_000 * USD + 1)
    excess = {"balance": 10_000 * USD, "requirement": 6_000 * USD, "amount": 4_000 * USD + 1}
    with expect_revert("FundWithdrawalExceedsExcess", member=member, **excess):
        world.execute(action, members[:2])


def test_withdraw_revertsWithoutTheMembersOwnApproval(world: FundWorld, members: list[LocalAccount]) -> None:
    action = world.action(ActionKind.WITHDRAW, members[0].address, USD)
    with expect_revert("FundWithdrawalNotApprovedByMember", member=members[0]):
        world.execute(action, members[1:])


def test_withdraw_afterADrawPaysOutOnlyTheRemainingExcess(world: FundWorld, members: list[LocalAccount]) -> None:
    """After a 10% survivors' loss a member of 10,000 holds 9,000: 8,000 above the floor."""
    extra = world.members[3]
    world.join(extra, 1_000 * USD)
    world.claim(extra, members[0], 1_000 * USD + 3_000 * USD)
    member = members[1]
    assert world.balances([member]) == [9_000 * USD]
    # The burn rounds up: taking all 8,000 would leave 999.999999 99... USD, one unit short.
    assert world.fund.max_withdrawal(member.address) == 8_000 * USD - 1
    signers = [*members[:2], extra]  # four members at 60%: three approvals
    with expect_revert("FundWithdrawalExceedsExcess", balance=9_000 * USD, requirement=FLOOR):
        world.execute(world.action(ActionKind.WITHDRAW, member.address, 8_000 * USD), signers)
    world.execute(world.action(ActionKind.WITHDRAW, member.address, 8_000 * USD - 1), signers)
    assert world.balances(members) == [9_000 * USD, FLOOR, 9_000 * USD]
    assert world.fund.is_in_good_standing(member.address)
    assert world.totals()[0] == world.totals()[2] == 19_000 * USD + 1


def test_releaseSurplus_returnsCashSentOutsideContributions(world: FundWorld, members: list[LocalAccount]) -> None:
    with expect_revert("FundNoSurplus"):
        world.execute(world.action(ActionKind.RELEASE_SURPLUS, members[0].address), members[:2])
    world.chain.transact(world.cash.functions.transfer(world.fund.address, 123), members[2])
    state = world.fund.state()
    assert (state.surplus, state.total_assets) == (123, 30_000 * USD)
    assert world.balances(members) == [10_000 * USD] * 3  # a gift does not change the balances
    receipt = world.execute(world.action(ActionKind.RELEASE_SURPLUS, members[2].address), members[:2])
    assert events(world.contract, "SurplusReleased", receipt) == [{"to": members[2].address, "amount": 123}]
    assert world.fund.state().surplus == 0


def test_fundParameters_areTheConstructors(world: FundWorld) -> None:
    state = world.fund.state()
    assert (state.threshold_bps, state.requirement_bps, state.floor_amount, state.replenishment_window) == (
        THRESHOLD_BPS,
        REQUIREMENT_BPS,
        FLOOR,
        WINDOW,
    )
    assert world.fund.engine_status_of(world.engine.address) == EngineStatus.REGISTERED
