"""Members' own requirements (``SetMemberRequirements``): adopted k-of-n, the requirement becomes
``max(floor, bps x open IM, own)`` while a member has open IM, new trades and withdrawals honour
it, and raising it moves no money and locks no balance for good."""

from __future__ import annotations

from dataclasses import replace

import pytest
from eth_abi.abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

from dfmi_py.api.fund import MemberStatus
from dfmi_py.errors import InputError
from dfmi_py.signing import Domain
from dfmi_py.signing.fund import Action, ActionKind, member_requirements_values, sign_action
from tests.fund.conftest import FLOOR, THRESHOLD, USD, WINDOW, FundWorld
from tests.helpers import ZERO_ADDRESS, events, expect_revert

KIND = ActionKind.SET_MEMBER_REQUIREMENTS


@pytest.fixture
def members(world: FundWorld) -> list[LocalAccount]:
    """Three members of 10,000 each, sorted by address (the order the action lists them in)."""
    joined = world.join_all([10_000 * USD] * 3)
    return sorted(joined, key=lambda a: int(a.address, 16))


def adopt(world: FundWorld, signers: list[LocalAccount], requirements: dict[str, int]) -> dict[str, object]:
    """Adopt ``requirements`` with ``signers``' approvals; the receipt's events by name."""
    action = world.fund.member_requirements_action(requirements)
    receipt = world.execute(action, signers)
    return {
        "executed": events(world.contract, "ActionExecuted", receipt),
        "changed": events(world.contract, "MemberRequirementChanged", receipt),
    }


def raw_action(world: FundWorld, members: list[str], amounts: list[int]) -> Action:
    """The action with exactly these lists (no sorting, no checks)."""
    return world.action(KIND, members, amounts)


# ---------------------------------------------------------------------- adoption


def test_setMemberRequirements_adoptedByTheThreshold_emitsOneEventPerChange(
    world: FundWorld, members: list[LocalAccount]
) -> None:
    a, b, c = members
    action = world.fund.member_requirements_action({b.address: 7_000 * USD, a.address: 4_000 * USD})
    assert action.values() == ((a.address, b.address), (4_000 * USD, 7_000 * USD))  # sorted for the fund
    with expect_revert("FundNotEnoughApprovals", given=1, threshold=THRESHOLD):
        world.execute(action, [c])
    receipt = world.execute(action, [b, c])  # neither approver needs to be a member it names
    [executed] = events(world.contract, "ActionExecuted", receipt)
    assert (executed["nonce"], executed["kind"]) == (0, KIND)
    assert events(world.contract, "MemberRequirementChanged", receipt) == [
        {"member": a.address, "previous": 0, "amount": 4_000 * USD},
        {"member": b.address, "previous": 0, "amount": 7_000 * USD},
    ]
    assert [world.fund.member_requirement_of(m.address) for m in members] == [4_000 * USD, 7_000 * USD, 0]

    # Unchanged amounts are not announced; zero removes one.
    result = adopt(world, [a, b], {a.address: 4_000 * USD, b.address: 0})
    assert result["changed"] == [{"member": b.address, "previous": 7_000 * USD, "amount": 0}]
    assert world.fund.member_requirement_of(b.address) == 0
    assert world.fund.member(a.address).member_requirement == 4_000 * USD


def test_requirement_isTheLargestOfFloorShareOfImAndOwn_whileImIsOpen(
    world: FundWorld, members: list[LocalAccount]
) -> None:
    a, b, c = members
    adopt(world, [a, b], {a.address: 5_000 * USD, b.address: 5_000 * USD, c.address: 500 * USD})
    # No open IM: the floor alone, whatever the own requirement.
    assert [world.fund.requirement_of(m.address) for m in members] == [FLOOR] * 3
    world.open(a, 10_000 * USD)  # 20%: 2,000 < own 5,000
    world.open(b, 40_000 * USD)  # 20%: 8,000 > own 5,000
    world.open(c, 2_000 * USD)  # 20%: 400; own 500; floor 1,000
    assert [world.fund.requirement_of(m.address) for m in members] == [5_000 * USD, 8_000 * USD, FLOOR]
    assert [world.fund.status_of(m.address) for m in members] == [MemberStatus.GOOD_STANDING] * 3
    world.close(a, 10_000 * USD)
    assert world.fund.requirement_of(a.address) == FLOOR


# ---------------------------------------------------------------------- what it does to a member


def test_raisedRequirement_blocksNewTrades_untilTheMemberContributes(
    world: FundWorld, members: list[LocalAccount]
) -> None:
    a, b, _ = members
    world.open(a, 10_000 * USD)
    before_balances, before_totals = world.balances(members), world.totals()
    adopt(world, [a, b], {a.address: 12_000 * USD})
    # No money moved, no share burnt: only the standing changed.
    assert (world.balances(members), world.totals()) == (before_balances, before_totals)
    assert world.fund.status_of(a.address) == MemberStatus.BELOW_REQUIREMENT
    with expect_revert(
        "FundNotInGoodStanding", member=a, flagged=False, balance=10_000 * USD, requirement=12_000 * USD
    ):
        world.open(a, USD)
    # Its open trade still closes (closing needs no standing); without open IM the floor alone counts.
    world.close(a, 10_000 * USD)
    assert world.fund.status_of(a.address) == MemberStatus.GOOD_STANDING
    # A new trade brings the own requirement back: it must be covered first.
    with expect_revert("FundNotInGoodStanding", member=a, balance=10_000 * USD, requirement=12_000 * USD):
        world.open(a, 10_000 * USD)
    world.contribute(a, 2_000 * USD)
    world.open(a, 10_000 * USD)
    assert world.fund.status_of(a.address) == MemberStatus.GOOD_STANDING


def test_withdrawal_keepsTheOwnRequirement_whileImIsOpen_andTheFloorAfter(
    world: FundWorld, members: list[LocalAccount]
) -> None:
    a, b, _ = members
    world.open(a, 10_000 * USD)  # 20%: 2,000
    adopt(world, [a, b], {a.address: 6_000 * USD})
    excess = {"balance": 10_000 * USD, "requirement": 6_000 * USD, "amount": 4_000 * USD + 1}
    with expect_revert("FundWithdrawalExceedsExcess", member=a, **excess):
        world.execute(world.action(ActionKind.WITHDRAW, a.address, 4_000 * USD + 1), [a, b])
    assert world.fund.max_withdrawal(a.address) == 4_000 * USD
    world.execute(world.action(ActionKind.WITHDRAW, a.address, 4_000 * USD), [a, b])
    assert world.balances([a]) == [6_000 * USD]
    # Its trades closed, the own requirement no longer counts: down to the floor.
    world.close(a, 10_000 * USD)
    world.execute(world.action(ActionKind.WITHDRAW, a.address, 5_000 * USD), [a, b])
    assert world.balances([a]) == [FLOOR]


def test_a_majority_cannot_lock_a_members_balance_by_raising_its_requirement(
    world: FundWorld, members: list[LocalAccount]
) -> None:
    """The attack: two of three members set the third's requirement to the largest the fund takes,
    hoping to freeze its balance for good (no withdrawal ever meets it) or take it. The action
    moves nothing, and once the victim's trades close it withdraws all above the floor."""
    victim, *others = members
    world.open(victim, 10_000 * USD)
    adopt(world, others, {victim.address: 2**96 - 1})
    assert world.balances(members) == [10_000 * USD] * 3
    with expect_revert("FundWithdrawalExceedsExcess", member=victim, requirement=2**96 - 1):
        world.execute(world.action(ActionKind.WITHDRAW, victim.address, USD), [victim, others[0]])
    world.close(victim, 10_000 * USD)
    wallet = world.cash.functions.balanceOf(victim.address).call()
    world.execute(world.action(ActionKind.WITHDRAW, victim.address, 9_000 * USD), [victim, others[0]])
    assert world.cash.functions.balanceOf(victim.address).call() == wallet + 9_000 * USD
    assert world.balances(members) == [FLOOR, 10_000 * USD, 10_000 * USD]


def test_memberBelowItsRaisedRequirement_isFlaggedOnlyUnderTheReplenishmentRules(
    world: FundWorld, members: list[LocalAccount]
) -> None:
    a, b, c = members
    world.open(a, 10_000 * USD)
    adopt(world, [b, c], {a.address: 12_000 * USD})
    # No draw yet: nobody may flag it, it is only refused new trades.
    with expect_revert("FundReplenishmentWindowOpen", deadline=0):
        world.fund.flag_missed_replenishment(world.roles.outsider, a.address)
    # A draw on another member opens a window; within it, still no flag.
    world.claim(c, b, 500 * USD)
    with expect_revert("FundReplenishmentWindowOpen"):
        world.fund.flag_missed_replenishment(world.roles.outsider, a.address)
    world.advance(WINDOW + 1)
    world.fund.flag_missed_replenishment(world.roles.outsider, a.address)
    assert world.fund.status_of(a.address) == MemberStatus.FLAGGED
    assert world.balances([a]) == [10_000 * USD]  # flagged, it keeps its balance
    world.contribute(a, 2_000 * USD)
    assert world.fund.status_of(a.address) == MemberStatus.GOOD_STANDING


def test_aMemberWithNothingLeft_canBeGivenARequirement(world: FundWorld, members: list[LocalAccount]) -> None:
    """A member whose balance a default took keeps its membership: it may be named, and its
    requirement counts if it still has open IM (it cannot open more until it contributes)."""
    a, b, c = members
    world.open(a, 10_000 * USD)
    world.claim(a, b, 10_000 * USD)  # takes a's whole balance
    assert world.balances([a]) == [0]
    adopt(world, [b, c], {a.address: 3_000 * USD})
    assert world.fund.requirement_of(a.address) == 3_000 * USD
    assert world.fund.status_of(a.address) == MemberStatus.BELOW_REQUIREMENT


# ---------------------------------------------------------------------- refusals


def test_setMemberRequirements_refusesMismatchedOrEmptyLists(world: FundWorld, members: list[LocalAccount]) -> None:
    a, b, _ = members
    with expect_revert("FundInvalidRequirementList", members=2, amounts=1):
        world.execute(raw_action(world, [a.address, b.address], [USD]), [a, b])
    with expect_revert("FundInvalidRequirementList", members=1, amounts=2):
        world.execute(raw_action(world, [a.address], [USD, USD]), [a, b])
    with expect_revert("FundInvalidRequirementList", members=0, amounts=0):
        world.execute(raw_action(world, [], []), [a, b])


def test_setMemberRequirements_refusesNonMembers(world: FundWorld, members: list[LocalAccount]) -> None:
    a, b, _ = members
    outsider = world.members[3]  # onboarded, never joined
    ordered = sorted([a.address, outsider.address], key=lambda x: int(x, 16))
    with expect_revert("FundNotMember", account=outsider):
        world.execute(raw_action(world, ordered, [USD, USD]), [a, b])
    with expect_revert("FundNotMember", account=ZERO_ADDRESS):
        world.execute(raw_action(world, [ZERO_ADDRESS, a.address], [USD, USD]), [a, b])
    assert world.fund.member_requirement_of(a.address) == 0
    with pytest.raises(InputError, match=outsider.address):
        world.fund.member_requirements_action({outsider.address: USD})


def test_setMemberRequirements_refusesDuplicatesAndUnsortedMembers(
    world: FundWorld, members: list[LocalAccount]
) -> None:
    a, b, c = members
    with expect_revert("FundDuplicateMember", member=b):
        world.execute(raw_action(world, [a.address, b.address, b.address], [USD, USD, 2 * USD]), [a, b])
    with expect_revert("FundMembersNotSorted", previous=c, member=b):
        world.execute(raw_action(world, [a.address, c.address, b.address], [USD, USD, USD]), [a, b])
    assert [world.fund.member_requirement_of(m.address) for m in members] == [0, 0, 0]


def test_setMemberRequirements_refusesAmountsBeyond96Bits(world: FundWorld, members: list[LocalAccount]) -> None:
    a, b, _ = members
    with expect_revert("FundInvalidMemberRequirement", member=b, amount=2**96):
        world.execute(raw_action(world, [a.address, b.address], [USD, 2**96]), [a, b])
    assert world.fund.member_requirement_of(a.address) == 0


def test_setMemberRequirements_refusesParamsThatAreNotTheCanonicalEncoding(
    world: FundWorld, members: list[LocalAccount]
) -> None:
    a, b, _ = members
    canonical = bytes(abi_encode(["address[]", "uint256[]"], [[a.address], [USD]]))
    nonce, deadline = 0, world.now() + 3600
    word = 32
    # The same values with the two lists in the other order (heads 128 and 64): decodes, but a
    # second encoding of one action would be a second digest to approve.
    swapped = (
        (128).to_bytes(word, "big")
        + (64).to_bytes(word, "big")
        + canonical[4 * word :]
        + canonical[2 * word : 4 * word]
    )
    for params in (canonical[:96], canonical + b"\x00" * 32, swapped):
        with expect_revert("FundInvalidAction", kind=KIND):
            world.execute(Action(KIND, params, nonce, deadline), [a, b])
    world.execute(Action(KIND, canonical, nonce, deadline), [a, b])
    assert world.fund.member_requirement_of(a.address) == USD


def test_setMemberRequirements_refusesReplayedAndOtherChainApprovals(
    world: FundWorld, members: list[LocalAccount]
) -> None:
    a, b, _ = members
    action = world.fund.member_requirements_action({a.address: 5_000 * USD})
    d = world.fund.eip712_domain()
    elsewhere = Domain(d.name, d.version, d.chain_id + 1, d.verifying_contract)
    with expect_revert("FundInvalidSignature", signer=a):
        world.fund.execute(world.roles.outsider, action, [sign_action(m, elsewhere, action) for m in (a, b)])
    approvals = world.approvals(action, [a, b])
    world.fund.execute(world.roles.outsider, action, approvals)
    # Lowered since, the old approvals cannot bring 5,000 back.
    adopt(world, [a, b], {a.address: 0})
    with expect_revert("FundInvalidNonce", expected=2, nonce=0):
        world.fund.execute(world.roles.outsider, action, approvals)
    with expect_revert("FundInvalidSignature", signer=a):
        world.fund.execute(world.roles.outsider, replace(action, nonce=2), approvals)
    assert world.fund.member_requirement_of(a.address) == 0


# ---------------------------------------------------------------------- the toolkit's encoding


def test_memberRequirementsValues_sortsAndRefusesDuplicatesAndNegatives() -> None:
    low, high = "0x" + "11" * 20, "0x" + "ab" * 20
    assert member_requirements_values({high: 2, low: 1}) == ([low, to_checksum_address(high)], [1, 2])
    with pytest.raises(InputError, match="twice"):
        member_requirements_values({high: 1, high.upper().replace("0X", "0x"): 2})
    with pytest.raises(InputError, match="non-negative"):
        member_requirements_values({low: -1})
    with pytest.raises(InputError, match="at least one"):
        member_requirements_values({})
    action = Action.build(KIND, [low], [5], nonce=0, deadline=1)
    assert action.describe() == f"SET_MEMBER_REQUIREMENTS({low}=5) nonce=0 deadline=1"
