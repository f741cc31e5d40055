"""The default fund's membership, engine reports, waterfall (hand-computed cases) and replenishment."""

from __future__ import annotations

import pytest

from dfmi_py.api.fund import EngineStatus, MemberStatus, amount_to_reach
from dfmi_py.signing.fund import ActionKind
from tests.fund.conftest import FLOOR, USD, WINDOW, FundWorld, deploy_engine
from tests.helpers import events, expect_revert, mine_in_one_block

# ---------------------------------------------------------------------- membership


def test_join_mintsSharesAndHoldsTheCash(world: FundWorld) -> None:
    alice, bob = world.members[:2]
    receipt = world.join(alice, 10_000 * USD)
    assert events(world.contract, "MemberJoined", receipt) == [
        {"member": alice.address, "amount": 10_000 * USD, "shares": 10_000 * USD * 10**6}
    ]
    world.join(bob, 5_000 * USD)
    assert world.balances([alice, bob]) == [10_000 * USD, 5_000 * USD]
    assert world.totals() == (15_000 * USD, 15_000 * USD * 10**6, 15_000 * USD)
    assert world.fund.state().member_count == 2
    assert world.fund.status_of(alice.address) == MemberStatus.GOOD_STANDING
    assert world.fund.is_in_good_standing(bob.address)
    assert world.fund.members() == [alice.address, bob.address]


def test_join_revertsIfNotOnboarded(world: FundWorld) -> None:
    outsider = world.roles.outsider
    with expect_revert("ComplianceAccountNotActive", account=outsider):
        world.fund.join(outsider, FLOOR, approve=False)


def test_join_revertsBelowTheFloor(world: FundWorld) -> None:
    alice = world.members[0]
    with expect_revert("FundBelowRequirement", member=alice, balance=FLOOR - 1, requirement=FLOOR):
        world.join(alice, FLOOR - 1)


def test_join_revertsIfAlreadyMember(world: FundWorld) -> None:
    alice = world.members[0]
    world.join(alice, FLOOR)
    with expect_revert("FundAlreadyMember", account=alice):
        world.join(alice, FLOOR)


def test_contribute_revertsForNonMembersAndZero(world: FundWorld) -> None:
    alice = world.members[0]
    with expect_revert("FundNotMember", account=alice):
        world.contribute(alice, USD)
    world.join(alice, FLOOR)
    with expect_revert("FundZeroAmount"):
        world.chain.transact(world.contract.functions.contribute(0), alice)


def test_join_defaultAmountReachesTheFloorAfterAnUnevenDraw(world: FundWorld) -> None:
    """After a draw the share price is uneven; the toolkit's amount still meets the requirement."""
    alice, bob, carol, dave = world.members[:4]
    world.join_all([3_000 * USD, 7_000 * USD, 11_000 * USD])
    world.claim(alice, bob, 3_000 * USD + 7)  # the survivors lose 7 units over 18,000 USD
    # 7 units over 7,000 and 11,000 USD: 7 * 7/18 = 2.72 and 7 * 11/18 = 4.28, balances rounded down.
    assert world.balances([bob, carol]) == [7_000 * USD - 3, 11_000 * USD - 5]
    world.fund.join(dave, approve=False)
    assert world.fund.balance_of(dave.address) >= FLOOR
    assert world.fund.is_in_good_standing(dave.address)


def test_amountToReach_coversTheRoundingOfAContribution() -> None:
    # 3 shares backing 2 units: a share is worth 2/3 of a unit, contributions lose a fraction.
    assert amount_to_reach(0, 2, 3, 1) in (1, 2)
    for assets, shares, target in [(999, 1_000, 500), (10**9 + 7, 3 * 10**15 + 1, 10**6), (5, 5 * 10**6, 5)]:
        amount = amount_to_reach(0, assets, shares, target)
        minted = amount * shares // assets
        assert minted * (assets + amount) // (shares + minted) >= target
        smaller = amount - 1
        minted = smaller * shares // assets
        assert smaller == 0 or minted * (assets + smaller) // (shares + minted) < target


# ---------------------------------------------------------------------- engine reports


def test_requirement_followsOpenInitialMargin(world: FundWorld) -> None:
    alice = world.members[0]
    world.join(alice, 10_000 * USD)
    assert world.fund.requirement_of(alice.address) == FLOOR
    receipt = world.open(alice, 40_000 * USD)  # 20% of 40,000 = 8,000
    assert events(world.contract, "OpenMarginChanged", receipt) == [
        {
            "engine": world.engine.address,
            "member": alice.address,
            "opened": True,
            "imAmount": 40_000 * USD,
            "openIm": 40_000 * USD,
        }
    ]
    assert world.fund.requirement_of(alice.address) == 8_000 * USD
    # A trade that would take the requirement above the balance cannot open, and changes nothing.
    with expect_revert(
        "FundNotInGoodStanding", member=alice, flagged=False, balance=10_000 * USD, requirement=12_000 * USD
    ):
        world.open(alice, 20_000 * USD)
    assert world.fund.open_im_of(alice.address) == 40_000 * USD
    world.contribute(alice, 2_000 * USD)
    world.open(alice, 20_000 * USD)  # 12,000 of 12,000: exactly met
    assert world.fund.is_in_good_standing(alice.address)
    # A requirement raised by governance leaves a member below it without opening anything.
    world.join(world.members[1], FLOOR)
    world.execute(world.action(ActionKind.SET_REQUIREMENT, 2_500, FLOOR), world.members[:2])
    assert world.fund.status_of(alice.address) == MemberStatus.BELOW_REQUIREMENT
    assert not world.fund.is_in_good_standing(alice.address)
    with expect_revert("FundNotInGoodStanding", member=alice, flagged=False, requirement=15_000 * USD):
        world.open(alice, 0)
    world.close(alice, 20_000 * USD)
    assert world.fund.is_in_good_standing(alice.address)
    world.close(alice, 40_000 * USD)
    assert world.fund.requirement_of(alice.address) == FLOOR


def test_requirement_roundsUp(world: FundWorld) -> None:
    alice = world.members[0]
    world.join(alice, FLOOR + 1)
    world.open(alice, 5_000 * USD + 1)  # 20% = 1,000.0000002 USD: 1,000,000,001 units
    assert world.fund.requirement_of(alice.address) == FLOOR + 1
    with expect_revert("FundNotInGoodStanding", member=alice, balance=FLOOR + 1, requirement=FLOOR + 2):
        world.open(alice, 5)  # 20% of 5,000 USD + 6 units = 1,000,000,001.2 units: 1,000,000,002


def test_onTradeClosed_revertsBeyondWhatWasOpened(world: FundWorld) -> None:
    alice = world.members[0]
    world.join(alice, FLOOR)
    world.open(alice, 100)
    with expect_revert("FundCloseExceedsOpen", member=alice, openIm=100, imAmount=101):
        world.close(alice, 101)


def test_onTradeOpened_revertsForNonMembers(world: FundWorld) -> None:
    with expect_revert("FundNotMember", account=world.members[0]):
        world.open(world.members[0], 100)


def test_engineHooks_revertForUnregisteredCallers(world: FundWorld) -> None:
    alice = world.members[0]
    world.join(alice, FLOOR)
    for call in (
        world.contract.functions.onTradeOpened(alice.address, 1),
        world.contract.functions.onTradeClosed(alice.address, 0),
        world.contract.functions.claim(alice.address, world.members[1].address, 1),
    ):
        with expect_revert("FundNotEngine", caller=alice, status=EngineStatus.NONE):
            world.chain.transact(call, alice)


def test_claim_revertsFromAnUnregisteredEngine(world: FundWorld) -> None:
    alice, bob = world.members[:2]
    world.join_all([FLOOR, FLOOR])
    rogue = deploy_engine(world.chain, world.roles, world.cash, world.registry)
    call = rogue.functions.claim(world.fund.address, alice.address, bob.address, USD)
    with expect_revert("FundNotEngine", caller=rogue.address, status=EngineStatus.NONE):
        world.chain.transact(call, world.roles.admin)


def test_claim_revertsOnZeroLossSamePartyOrNonMemberDefaulter(world: FundWorld) -> None:
    alice, bob = world.members[:2]
    with expect_revert("FundZeroAmount"):
        world.claim(alice, bob, 0)
    with expect_revert("FundInvalidClaim", defaulter=alice, survivor=alice):
        world.claim(alice, alice, 1)
    world.join(bob, FLOOR)
    with expect_revert("FundNotMember", account=alice):
        world.claim(alice, bob, 1)


# ---------------------------------------------------------------------- waterfall: hand-computed


def test_claim_coveredByTheDefaultersContribution(world: FundWorld) -> None:
    """Loss 4,000 against a defaulter holding 10,000: the survivors are untouched."""
    alice, bob, carol, dave = world.join_all([10_000 * USD, 20_000 * USD, 30_000 * USD, 40_000 * USD])
    receipt = world.claim(alice, bob, 4_000 * USD)
    [claimed] = events(world.contract, "DefaultClaimed", receipt)
    assert claimed == {
        "engine": world.engine.address,
        "defaulter": alice.address,
        "survivor": bob.address,
        "loss": 4_000 * USD,
        "fromDefaulter": 4_000 * USD,
        "fromSurvivors": 0,
        "unpaid": 0,
        "defaulterShares": 4_000 * USD * 10**6,
    }
    assert world.balances([alice, bob, carol, dave]) == [6_000 * USD, 20_000 * USD, 30_000 * USD, 40_000 * USD]
    assert world.credit_of(bob) == 4_000 * USD
    assert world.cash.functions.balanceOf(world.engine.address).call() == 4_000 * USD
    assert world.totals()[0] == world.totals()[2] == 96_000 * USD
    assert world.fund.unpaid_claim_of(alice.address, bob.address) == 0


def test_claim_reachesTheSurvivorsProRata(world: FundWorld) -> None:
    """Loss 19,000: the defaulter's 10,000, then 9,000 over 90,000 of survivors (10% each)."""
    alice, bob, carol, dave = world.join_all([10_000 * USD, 20_000 * USD, 30_000 * USD, 40_000 * USD])
    receipt = world.claim(alice, bob, 19_000 * USD)
    [claimed] = events(world.contract, "DefaultClaimed", receipt)
    assert (claimed["fromDefaulter"], claimed["fromSurvivors"], claimed["unpaid"]) == (10_000 * USD, 9_000 * USD, 0)
    assert world.balances([alice, bob, carol, dave]) == [0, 18_000 * USD, 27_000 * USD, 36_000 * USD]
    assert world.fund.shares_of(alice.address) == 0
    assert world.credit_of(bob) == 19_000 * USD
    assert world.totals()[0] == world.totals()[2] == 81_000 * USD
    assert world.fund.status_of(alice.address) == MemberStatus.BELOW_REQUIREMENT
    [draw] = world.fund.draws()
    assert draw.losses == {
        alice.address: 10_000 * USD,
        bob.address: 2_000 * USD,
        carol.address: 3_000 * USD,
        dave.address: 4_000 * USD,
    }


def test_claim_unevenSurvivorLossesArePaidInFull(world: FundWorld) -> None:
    """Loss 10,000 + 1,000 over survivors of 20,000/30,000/40,000: losses 222.22/333.33/444.44."""
    alice, bob, carol, dave = world.join_all([10_000 * USD, 20_000 * USD, 30_000 * USD, 40_000 * USD])
    world.claim(alice, bob, 11_000 * USD)
    survivors = world.balances([bob, carol, dave])
    # Exact values 19,777.777..., 29,666.666..., 39,555.555... rounded down; 1 unit of dust.
    assert survivors == [19_777_777_777, 29_666_666_666, 39_555_555_555]
    assets, _, held = world.totals()
    assert assets == held == 89_000 * USD
    assert assets - sum(survivors) == 2  # dust: below one unit per member, still in the pool


def test_claim_exhaustsTheFundAndRecordsTheResidualClaim(world: FundWorld) -> None:
    """Loss 150,000 against a fund of 100,000: everything is paid out, 50,000 stays a claim."""
    alice, bob, carol, dave = world.join_all([10_000 * USD, 20_000 * USD, 30_000 * USD, 40_000 * USD])
    receipt = world.claim(alice, bob, 150_000 * USD)
    [claimed] = events(world.contract, "DefaultClaimed", receipt)
    assert (claimed["fromDefaulter"], claimed["fromSurvivors"], claimed["unpaid"]) == (
        10_000 * USD,
        90_000 * USD,
        50_000 * USD,
    )
    assert events(world.contract, "FundExhausted", receipt) == [{"epoch": 1}]
    assert world.totals() == (0, 0, 0)
    assert world.balances([alice, bob, carol, dave]) == [0, 0, 0, 0]
    assert world.credit_of(bob) == 100_000 * USD
    assert world.fund.unpaid_claim_of(alice.address, bob.address) == 50_000 * USD
    assert world.contract.functions.totalUnpaidClaimsOn(alice.address).call() == 50_000 * USD
    # A later claim finds nothing to pay and adds to the record.
    receipt = world.claim(alice, carol, 1_000 * USD)
    [claimed] = events(world.contract, "DefaultClaimed", receipt)
    assert (claimed["fromDefaulter"], claimed["fromSurvivors"], claimed["unpaid"]) == (0, 0, 1_000 * USD)
    assert world.contract.functions.totalUnpaidClaimsOn(alice.address).call() == 51_000 * USD
    # Old shares are void: contributions restart the pool at the initial price.
    world.contribute(carol, 5_000 * USD)
    world.contribute(dave, 3_000 * USD)
    assert world.balances([bob, carol, dave]) == [0, 5_000 * USD, 3_000 * USD]
    assert world.fund.shares_of(carol.address) == 5_000 * USD * 10**6


def test_claim_aMemberThatNeverTradedWithTheDefaulterLosesOnlyItsProRataShare(world: FundWorld) -> None:
    """Dave never traded with the defaulter: he bears the survivors' loss in proportion to his
    balance, whichever survivor the claim is for, and no more."""
    alice, bob, carol, dave = world.join_all([5_000 * USD, 25_000 * USD, 30_000 * USD, 40_000 * USD])
    before = world.balances([dave])[0]
    world.claim(alice, bob, 5_000 * USD + 19_000 * USD)  # 19,000 over 95,000 of survivors: 20%
    lost = before - world.balances([dave])[0]
    assert lost == 8_000 * USD  # 20% of 40,000
    survivors_total = 25_000 + 30_000 + 40_000
    assert lost <= 19_000 * USD * 40_000 // survivors_total
    world.claim(alice, carol, 760 * USD)  # the defaulter holds nothing: 1% of 76,000 of survivors
    assert world.balances([bob, carol, dave]) == [19_800 * USD, 23_760 * USD, 31_680 * USD]


def test_claim_twoDefaultsInOneTransaction(world: FundWorld) -> None:
    """Cover 2: Alice and Bob default in the same engine transaction.

    Start: Alice 10,000, Bob/Carol/Dave 30,000 each (100,000).
    1. Alice -> Carol, loss 19,000: Alice's 10,000, then 9,000 over 90,000 (10%): Bob, Carol,
       Dave 27,000 each.
    2. Bob -> Dave, loss 40,000: Bob's 27,000, then 13,000 over Carol and Dave's 54,000: 6,500
       each, leaving 20,500 each.
    """
    alice, bob, carol, dave = world.join_all([10_000 * USD, 30_000 * USD, 30_000 * USD, 30_000 * USD])
    receipt = world.claim_many([(alice, carol, 19_000 * USD), (bob, dave, 40_000 * USD)])
    claimed = events(world.contract, "DefaultClaimed", receipt)
    breakdown = [(c["fromDefaulter"], c["fromSurvivors"], c["unpaid"]) for c in claimed]
    assert breakdown == [(10_000 * USD, 9_000 * USD, 0), (27_000 * USD, 13_000 * USD, 0)]
    assert world.balances([alice, bob, carol, dave]) == [0, 0, 20_500 * USD, 20_500 * USD]
    assert (world.credit_of(carol), world.credit_of(dave)) == (19_000 * USD, 40_000 * USD)
    assert world.totals()[0] == world.totals()[2] == 41_000 * USD


def test_claim_twoDefaultsInOneBlock(world: FundWorld) -> None:
    """Cover 2 with two engine transactions mined in one block: the same books as one transaction."""
    alice, bob, carol, dave = world.join_all([10_000 * USD, 30_000 * USD, 30_000 * USD, 30_000 * USD])
    calls = [
        world.engine.functions.claim(world.fund.address, alice.address, carol.address, 19_000 * USD),
        world.engine.functions.claim(world.fund.address, bob.address, dave.address, 40_000 * USD),
    ]
    receipts = mine_in_one_block(world.chain, [(call, world.roles.admin) for call in calls])
    assert [r["status"] for r in receipts] == [1, 1]
    assert world.balances([alice, bob, carol, dave]) == [0, 0, 20_500 * USD, 20_500 * USD]
    assert world.totals()[0] == world.totals()[2] == 41_000 * USD


def test_claim_costDoesNotDependOnMembers(world: FundWorld) -> None:
    """No loop over members: the same claim costs the same with 2 or 6 members."""
    alice, bob = world.members[:2]
    world.join_all([10_000 * USD, 10_000 * USD])
    snapshot = world.chain.w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    small = world.claim(alice, bob, 15_000 * USD)["gasUsed"]
    world.chain.w3.provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]
    for member in world.members[2:]:
        world.join(member, 10_000 * USD)
    large = world.claim(alice, bob, 15_000 * USD)["gasUsed"]
    assert abs(large - small) <= 100, (small, large)


# ---------------------------------------------------------------------- replenishment


def test_replenishment_flagsMembersThatMissTheWindow(world: FundWorld) -> None:
    alice, bob, carol = world.join_all([FLOOR, 5_000 * USD, FLOOR])
    with expect_revert("FundReplenishmentWindowOpen", deadline=0):
        world.fund.flag_missed_replenishment(world.roles.outsider, carol.address)
    # Loss 1,000 + 700: Alice's 1,000, then 700 over 6,000 -> Bob 4,416.67, Carol 883.33.
    receipt = world.claim(alice, bob, 1_700 * USD)
    block_time = int(world.chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"])
    assert events(world.contract, "ReplenishmentRequested", receipt) == [{"deadline": block_time + WINDOW}]
    assert world.fund.state().replenishment_deadline == block_time + WINDOW
    assert world.fund.status_of(carol.address) == MemberStatus.BELOW_REQUIREMENT
    with expect_revert("FundReplenishmentWindowOpen", deadline=block_time + WINDOW):
        world.fund.flag_missed_replenishment(world.roles.outsider, carol.address)

    world.advance(WINDOW + 1)
    with expect_revert("FundNotShort", member=bob):
        world.fund.flag_missed_replenishment(world.roles.outsider, bob.address)
    with expect_revert("FundNotMember", account=world.members[3]):
        world.fund.flag_missed_replenishment(world.roles.outsider, world.members[3].address)
    receipt = world.fund.flag_missed_replenishment(world.roles.outsider, carol.address)
    [flagged] = events(world.contract, "MemberFlagged", receipt)
    assert (flagged["member"], flagged["requirement"]) == (carol.address, FLOOR)
    assert world.fund.status_of(carol.address) == MemberStatus.FLAGGED
    with expect_revert("FundNotShort", member=carol):
        world.fund.flag_missed_replenishment(world.roles.outsider, carol.address)
    # Flagged, Carol cannot open trades.
    with expect_revert("FundNotInGoodStanding", member=carol, flagged=True, requirement=FLOOR):
        world.open(carol, 0)

    # A top-up that falls short keeps the flag; reaching the requirement lifts it.
    world.contribute(carol, 10 * USD)
    assert world.fund.status_of(carol.address) == MemberStatus.FLAGGED
    receipt = world.fund.top_up(carol)
    assert receipt is not None
    assert [e["member"] for e in events(world.contract, "MemberReinstated", receipt)] == [carol.address]
    assert world.fund.is_in_good_standing(carol.address)


def test_replenishment_flagPersistsWhenTheRequirementFalls(world: FundWorld) -> None:
    """A flagged member stays out of good standing until it contributes, even if its trades close."""
    alice, bob = world.join_all([10_000 * USD, 10_000 * USD])
    world.open(bob, 50_000 * USD)  # requirement 10,000: exactly met
    world.claim(alice, bob, 10_000 * USD + 2_000 * USD)  # Bob loses 2,000
    world.advance(WINDOW + 1)
    world.fund.flag_missed_replenishment(world.roles.outsider, bob.address)
    world.close(bob, 50_000 * USD)  # requirement back to the floor: 8,000 > 1,000
    assert world.fund.status_of(bob.address) == MemberStatus.FLAGGED
    world.contribute(bob, 1)
    assert world.fund.status_of(bob.address) == MemberStatus.GOOD_STANDING


# ---------------------------------------------------------------------- no admin


def test_fund_hasNoAdminEntryPoints(world: FundWorld) -> None:
    """Every state-changing function is a member's, an engine's, anyone's, or governance's."""
    mutating = {
        item["name"]
        for item in world.contract.abi
        if item["type"] == "function" and item["stateMutability"] not in ("view", "pure")
    }
    assert mutating == {
        "join",
        "contribute",
        "flagMissedReplenishment",
        "onTradeOpened",
        "onTradeClosed",
        "claim",
        "execute",
    }


@pytest.mark.parametrize("amount", [1, 10**6])
def test_contribute_ofAnyAmountKeepsTheBooksExact(world: FundWorld, amount: int) -> None:
    alice, bob = world.join_all([FLOOR, FLOOR])
    world.contribute(bob, amount)
    assets, _, held = world.totals()
    assert assets == held == 2 * FLOOR + amount
    assert world.balances([alice, bob]) == [FLOOR, FLOOR + amount]
