"""DvP cash legs in netting rounds: instructions of the settlement contract enter a round, only net
cash moves while every security leg moves with it in the same transaction; a locked instruction
cannot be settled or cancelled separately; a seller that cannot deliver blocks the settlement
until it is excluded after the deadline (its instruction released); an expired round releases
its instructions; only the netting contract locks, delivers and releases; both tokens conserved.

Hand computation of the main round (members P0, P1, P2; amounts in USD):
DvP1: P0 sells 100 shares to P1 for 500 (P1 owes P0 500); DvP2: P1 sells 40 shares to P2 for
300 (P2 owes P1 300); direct obligation: P0 owes P2 200. Nets: P0 +500 - 200 = +300, P1 -500 +
300 = -200, P2 -300 + 200 = -100 (sum 0); gross 1,000, net 300. Shares: P0 -100, P1 +100 - 40 =
+60, P2 +40.
"""

from __future__ import annotations

from dfmi_py.api.netting import ObligationState, RoundState
from dfmi_py.api.settlement import InstructionState, SignedInstruction
from dfmi_py.netting import Compression, Obligation
from dfmi_py.signing.settlement import Instruction
from tests.contracts.conftest import deploy_quickly, send_setup
from tests.helpers import events, expect_revert, leaves_unchanged
from tests.netting.conftest import SHARES, USD, WALLET, DvPWorld, NettingWorld

EXPIRY = 7 * 24 * 3600


def diff(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """The entries that changed, as after - before."""
    return {key: after[key] - before[key] for key in before if after[key] != before[key]}


def main_round(world: DvPWorld) -> tuple[int, Instruction, Instruction, Obligation]:
    """The module's round, collecting: DvP1 entered with both signatures, DvP2 with the seller's
    on-chain proposal and the buyer's signature, and the direct obligation P0 -> P2 of 200."""
    p0, p1, p2 = world.members[:3]
    n = world.netting
    round_id = world.open(p0)
    dvp1 = world.dvp(p0, 100, p1, 500 * USD)
    dvp2 = world.dvp(p1, 40, p2, 300 * USD)
    n.enter_instruction(world.roles.outsider, round_id, world.signed_dvp(dvp1))
    world.settlement.propose(p1, dvp2)
    n.enter_instruction(world.roles.outsider, round_id, world.settlement.signed(dvp2, p2))
    (direct,) = world.register_all(round_id, [(p0, p2, 200 * USD)])
    return round_id, dvp1, dvp2, direct


def test_only_net_cash_moves_and_every_security_leg_moves_with_it(dvp_world: DvPWorld) -> None:
    world = dvp_world
    p0, p1, p2 = world.members[:3]
    n, s = world.netting, world.settlement
    round_id, dvp1, dvp2, direct = main_round(world)

    # The cash legs are ordinary obligations in the events: buyer owes seller, ref = the instruction id.
    id1, id2 = (bytes.fromhex(s.instruction_id(i)[2:]) for i in (dvp1, dvp2))
    assert n.obligations(round_id) == [
        Obligation(round_id, p1.address, p0.address, 500 * USD, id1),
        Obligation(round_id, p2.address, p1.address, 300 * USD, id2),
        direct,
    ]
    assert n.instructions(round_id) == [dvp1, dvp2]
    assert n.obligation_state(Obligation(round_id, p1.address, p0.address, 500 * USD, id1)) == ObligationState.DELIVERY
    assert n.obligation_state(direct) == ObligationState.REGISTERED
    assert [s.state_of(i) for i in (dvp1, dvp2)] == [InstructionState.LOCKED] * 2
    info = n.round(round_id)
    assert (info.obligation_count, info.instruction_count, info.member_count) == (3, 2, 3)
    assert n.members(round_id) == [p1.address, p0.address, p2.address]
    assert n.compute_nets(round_id) == n.nets(round_id) == [-200 * USD, 300 * USD, -100 * USD]
    assert n.compression(round_id) == Compression(gross=1_000 * USD, net=300 * USD)

    n.close(p0, round_id)
    n.submit_nets(world.roles.outsider, round_id)
    n.approve(p1, 200 * USD)
    n.approve(p2, 100 * USD)
    accounts = world.members
    before = world.books(accounts)
    receipt = n.settle(world.roles.outsider, round_id)
    after = world.books(accounts)

    assert diff(before, after) == {
        f"cash:{p0.address}": 300 * USD,
        f"cash:{p1.address}": -200 * USD,
        f"cash:{p2.address}": -100 * USD,
        f"shares:{p0.address}": -100,
        f"shares:{p1.address}": 60,
        f"shares:{p2.address}": 40,
    }
    # Conservation: supplies unchanged, nothing left in either contract.
    for token in ("cash", "shares"):
        holders = [key for key in after if key.startswith(f"{token}:0x")]
        assert sum(after[key] for key in holders) == sum(before[key] for key in holders)
        assert after[f"{token}:supply"] == before[f"{token}:supply"]
        assert after[f"{token}:{n.address}"] == after[f"{token}:{s.address}"] == 0

    # Only net cash moved: 300 in, 300 out, against 1,000 of obligations; each security leg once.
    cash_moves = events(world.cash, "Transfer", receipt)
    assert sum(t["value"] for t in cash_moves if t["to"] == n.address) == 300 * USD
    assert sum(t["value"] for t in cash_moves if t["from"] == n.address) == 300 * USD
    assert [(t["from"], t["to"], t["value"]) for t in events(world.security, "Transfer", receipt)] == [
        (p0.address, p1.address, 100),
        (p1.address, p2.address, 40),
    ]
    netted = events(s.contract, "InstructionSettledNetted", receipt)
    assert [(e["id"], e["partyA"], e["partyB"], e["roundId"]) for e in netted] == [
        (id1, p0.address, p1.address, round_id),
        (id2, p1.address, p2.address, round_id),
    ]
    assert not events(s.contract, "InstructionSettled", receipt)
    assert [s.state_of(i) for i in (dvp1, dvp2)] == [InstructionState.SETTLED] * 2
    # Every delivery moved: no failure recorded, both cash legs still plain deliveries.
    assert not events(n.contract, "DeliveryFailed", receipt)
    assert n.failures_in(receipt) == []
    legs = [Obligation(round_id, p1.address, p0.address, 500 * USD, id1), n.obligations(round_id)[1]]
    assert [n.obligation_state(leg) for leg in legs] == [ObligationState.DELIVERY] * 2
    # The proposal of DvP2 is cleared with its settlement, as in a bilateral one.
    assert s.approvals_of(dvp2) == (False, False)
    assert n.state(round_id) == RoundState.SETTLED
    # The settlement contract's history tells the netted settlement from a bilateral one.
    assert [e.kind for e in s.history(instruction=dvp1)] == ["locked", "settled_netted"]
    assert [e.kind for e in s.history(instruction=dvp2)] == ["proposed", "locked", "settled_netted"]
    # Settled through the round: it can never settle or enter again.
    with expect_revert("SettlementNonceUsed", state=InstructionState.SETTLED):
        s.settle(world.roles.outsider, world.signed_dvp(dvp1))
    other = world.open(p0)
    with expect_revert("SettlementNonceUsed", state=InstructionState.SETTLED):
        n.enter_instruction(world.roles.outsider, other, world.signed_dvp(dvp1))


def test_a_locked_instruction_cannot_settle_or_be_cancelled_separately(dvp_world: DvPWorld) -> None:
    world = dvp_world
    p0, p1 = world.members[:2]
    n, s = world.netting, world.settlement
    round_id = world.open(p0)
    dvp = world.dvp(p0, 100, p1, 500 * USD, nonce=7)
    signed = world.signed_dvp(dvp)
    receipt = world.chain.transact(
        n.contract.functions.enterInstruction(round_id, dvp.as_tuple(), signed.signature_a, signed.signature_b),
        world.roles.outsider,
    )
    instruction_id = bytes.fromhex(s.instruction_id(dvp)[2:])
    (locked,) = events(s.contract, "InstructionLocked", receipt)
    assert (locked["id"], locked["partyA"], locked["partyB"], locked["roundId"]) == (
        instruction_id,
        p0.address,
        p1.address,
        round_id,
    )
    (entered,) = events(n.contract, "InstructionEntered", receipt)
    assert (entered["roundId"], entered["instructionId"]) == (round_id, instruction_id)
    assert Instruction.from_message(dict(entered["instruction"])) == dvp
    assert s.state_of(dvp) == InstructionState.LOCKED
    assert s.contract.functions.nonceState(p0.address, p1.address, 7).call() == InstructionState.LOCKED

    # The buyer has approved the settlement contract on cash: the legs could move bilaterally.
    world.chain.transact(world.cash.functions.approve(s.address, 2**256 - 1), p1)
    locked_error = {"id": "0x" + instruction_id.hex(), "nonce": 7, "state": InstructionState.LOCKED}
    with leaves_unchanged(lambda: world.books(world.members)):
        with expect_revert("SettlementNonceUsed", **locked_error):
            s.settle(world.roles.outsider, signed)
        with expect_revert("SettlementNonceUsed", **locked_error):
            s.settle(p0, SignedInstruction(dvp, b"", signed.signature_b))
        with expect_revert("SettlementNonceUsed", **locked_error):
            s.cancel(p0, dvp)
        with expect_revert("SettlementNonceUsed", **locked_error):
            s.cancel(p1, dvp)
        with expect_revert("SettlementNonceUsed", **locked_error):
            s.propose(p1, dvp)
        (outcome,) = s.settle_batch(world.roles.outsider, [signed])
        assert (outcome.settled, outcome.error) == (False, "SettlementNonceUsed")
        assert outcome.error_args is not None
        assert (outcome.error_args["nonce"], outcome.error_args["state"]) == (7, InstructionState.LOCKED)
        # Another instruction of the pair with the same nonce is blocked as well.
        twin = dvp.but(amount_b=400 * USD)
        with expect_revert("SettlementNonceUsed", id=s.instruction_id(twin), nonce=7, state=InstructionState.LOCKED):
            s.settle(world.roles.outsider, world.signed_dvp(twin))
        # Entering it again, into this round or another: the nonce is locked.
        with expect_revert("SettlementNonceUsed", **locked_error):
            n.enter_instruction(world.roles.outsider, round_id, signed)
        other = world.open(p1)
        with expect_revert("SettlementNonceUsed", **locked_error):
            n.enter_instruction(world.roles.outsider, other, signed)
    assert s.state_of(dvp) == InstructionState.LOCKED


def test_entry_checks_consent_cash_leg_deadline_and_round(dvp_world: DvPWorld) -> None:
    world = dvp_world
    p0, p1, p3 = world.members[0], world.members[1], world.members[3]
    n, s = world.netting, world.settlement
    round_id = world.open(p0)
    dvp = world.dvp(p0, 100, p1, 500 * USD)
    dvp_id = s.instruction_id(dvp)
    with leaves_unchanged(lambda: {"count": n.round(round_id).obligation_count}):
        # One party's consent is not enough, and the sender's own consent does not count: the
        # netting contract calls the settlement contract.
        with expect_revert("SettlementUnauthorized", id=dvp_id, party=p1):
            n.enter_instruction(p1, round_id, s.signed(dvp, p0))
        with expect_revert("SettlementUnauthorized", id=dvp_id, party=p0):
            n.enter_instruction(p0, round_id, s.signed(dvp, p1))
        # A signature of another instruction.
        forged = SignedInstruction(dvp, s.sign(p0, dvp.but(amount_b=1)), s.sign(p1, dvp))
        with expect_revert("SettlementUnauthorized", id=dvp_id, party=p0):
            n.enter_instruction(p0, round_id, forged)
        # The payment leg in another token than the round's cash (a PvP or a reversed DvP).
        reversed_ = s.instruction(
            p1.address, world.cash.address, 500 * USD, p0.address, world.security.address, 100, nonce=3
        )
        with expect_revert("NettingNotCashLeg", roundId=round_id, token=world.security.address):
            world.chain.transact(
                n.contract.functions.enterInstruction(round_id, reversed_.as_tuple(), b"", b""), world.roles.outsider
            )
        # A deadline before the round's funding deadline.
        deadline = n.round(round_id).deadline
        early = dvp.but(deadline=deadline - 1, nonce=4)
        with expect_revert("NettingInstructionDeadline", roundId=round_id, deadline=deadline - 1):
            n.enter_instruction(p0, round_id, world.signed_dvp(early))
        # A party not onboarded.
        world.chain.transact(world.registry.functions.freeze(p3.address), world.roles.officer)
        with expect_revert("ComplianceAccountNotActive", account=p3):
            n.enter_instruction(p0, round_id, world.signed_dvp(world.dvp(p0, 1, p3, 1)))
    # After the cutoff, and into a round that does not exist.
    n.close(p0, round_id)
    with expect_revert("NettingInvalidState", expected=RoundState.COLLECTING, actual=RoundState.CLOSED):
        n.enter_instruction(p0, round_id, world.signed_dvp(dvp))
    with expect_revert("NettingUnknownRound", roundId=99):
        n.enter_instruction(p0, 99, world.signed_dvp(dvp))
    assert s.state_of(dvp) == InstructionState.PENDING


def test_a_seller_without_the_security_blocks_until_excluded_then_its_dvp_is_pending_again(
    dvp_world: DvPWorld,
) -> None:
    """P3 holds no shares: the settlement reverts with nothing moved; after the deadline P3 is
    excluded, its DvP released, and the round settles P0's DvP and the direct obligation."""
    world = dvp_world
    p0, p1, p2, p3 = world.members[:4]
    n, s = world.netting, world.settlement
    round_id = world.open(p0)
    short = world.dvp(p3, 100, p1, 500 * USD)  # P1 owes P3 500
    good = world.dvp(p0, 30, p2, 200 * USD)  # P2 owes P0 200
    for instruction in (short, good):
        n.enter_instruction(world.roles.outsider, round_id, world.signed_dvp(instruction))
    world.register_all(round_id, [(p3, p2, 50 * USD)])
    # Nets: P3 +500 - 50 = +450, P1 -500, P0 +200, P2 -200 + 50 = -150.
    n.close(p0, round_id)
    n.submit_nets(world.roles.outsider, round_id)
    n.approve(p1, 500 * USD)
    n.approve(p2, 200 * USD)  # its 150, and the 50 P3 owes it if P3 drops out
    short_id = bytes.fromhex(s.instruction_id(short)[2:])
    # Before the deadline the failed delivery is reported, not recorded: P3 may still get shares.
    with (
        leaves_unchanged(lambda: world.books(world.members)),
        expect_revert("NettingDeliveriesFailed", roundId=round_id, indices=(0,), instructionIds=(short_id,)) as info,
    ):
        n.settle(world.roles.outsider, round_id)
    (reason,) = info.value.args_by_name["reasons"]
    assert world.decoded(reason) == ("ERC20InsufficientBalance", {"sender": p3.address, "balance": 0, "needed": 100})
    assert n.state(round_id) == RoundState.VERIFIED
    assert n.delivery_failures(round_id) == []
    assert [s.state_of(i) for i in (short, good)] == [InstructionState.LOCKED] * 2

    # The cash of every member is there, so only the delivery rule can exclude P3; not yet.
    with expect_revert("NettingDeadlineNotReached", roundId=round_id):
        n.exclude(world.roles.outsider, round_id, p3.address)
    world.past_deadline(round_id)
    assert n.blocking_member(round_id) == p3.address
    # P0 can deliver and fund: it cannot be excluded.
    with expect_revert("NettingMemberNotShort", member=p0):
        n.exclude(world.roles.outsider, round_id, p0.address)
    # The exclusion needs P3's instruction as well as its direct obligation.
    direct = [o.as_tuple() for o in n.obligations(round_id) if o.payer == p3.address]
    with expect_revert("NettingMemberNotShort", member=p3):
        world.chain.transact(n.contract.functions.exclude(round_id, p3.address, direct, []), world.roles.outsider)
    with expect_revert("NettingNotObligationOf", member=p3):
        world.chain.transact(
            n.contract.functions.exclude(round_id, p3.address, direct, [short.as_tuple(), good.as_tuple()]),
            world.roles.outsider,
        )

    receipt = n.exclude(world.roles.outsider, round_id, p3.address)
    (excluded,) = events(n.contract, "MemberExcluded", receipt)
    assert (excluded["obligations"], excluded["owedToOthers"], excluded["owedByOthers"]) == (2, 50 * USD, 500 * USD)
    assert [e["instructionId"] for e in events(n.contract, "InstructionReleased", receipt)] == [short_id]
    assert [(e["id"], e["roundId"]) for e in events(s.contract, "InstructionReleased", receipt)] == [
        (short_id, round_id)
    ]
    assert s.state_of(short) == InstructionState.PENDING
    assert n.instructions(round_id) == [good]
    assert n.round(round_id).instruction_count == 1
    # Members in order of joining: P1, P3, P2, P0.
    assert n.nets(round_id) == [0, 0, -200 * USD, 200 * USD]
    assert n.blocking_member(round_id) is None

    n.submit_nets(world.roles.outsider, round_id)
    before = world.books(world.members)
    n.settle(world.roles.outsider, round_id)
    after = world.books(world.members)
    assert diff(before, after) == {
        f"cash:{p0.address}": 200 * USD,
        f"cash:{p2.address}": -200 * USD,
        f"shares:{p0.address}": -30,
        f"shares:{p2.address}": 30,
    }
    assert s.state_of(good) == InstructionState.SETTLED
    # Released, P3's DvP is P3's and P1's again: here P3 cancels it.
    s.cancel(p3, short)
    assert s.state_of(short) == InstructionState.CANCELLED


def test_a_seller_that_has_not_approved_the_settlement_contract_is_excludable(dvp_world: DvPWorld) -> None:
    """Shares enough, but an allowance below the sum of its deliveries of that security."""
    world = dvp_world
    p0, p1, p2 = world.members[:3]
    n, s = world.netting, world.settlement
    round_id = world.open(p0)
    first = world.dvp(p0, 60, p1, 100 * USD, nonce=1)
    second = world.dvp(p0, 60, p2, 100 * USD)
    for instruction in (first, second):
        n.enter_instruction(world.roles.outsider, round_id, world.signed_dvp(instruction))
    world.chain.transact(world.security.functions.approve(s.address, 100), p0)  # 100 < 60 + 60
    n.close(p0, round_id)
    n.submit_nets(world.roles.outsider, round_id)
    n.approve(p1, 100 * USD)
    n.approve(p2, 100 * USD)
    world.past_deadline(round_id)
    assert n.blocking_member(round_id) == p0.address
    excluded = n.resolve(world.roles.outsider, round_id)
    assert excluded == [p0.address]
    assert [s.state_of(i) for i in (first, second)] == [InstructionState.PENDING] * 2
    assert n.round(round_id).instruction_count == 0
    assert n.nets(round_id) == [0, 0, 0]
    assert n.state(round_id) == RoundState.VERIFIED
    before = world.books(world.members)
    n.settle(world.roles.outsider, round_id)
    assert world.books(world.members) == before


def test_an_expired_round_releases_its_instructions(dvp_world: DvPWorld) -> None:
    world = dvp_world
    p0, p1 = world.members[:2]
    n, s = world.netting, world.settlement
    round_id = world.open(p0)
    dvp = s.dvp(
        p0.address,
        world.security.address,
        100,
        p1.address,
        world.cash.address,
        500 * USD,
        deadline=world.now() + EXPIRY + 30 * 24 * 3600,
    )
    n.enter_instruction(world.roles.outsider, round_id, world.signed_dvp(dvp))
    with expect_revert("NettingInvalidState", expected=RoundState.EXPIRED, actual=RoundState.COLLECTING):
        n.release_instructions(world.roles.outsider, round_id)
    n.close(p0, round_id)
    world.past_deadline(round_id)
    world.advance(EXPIRY)
    assert n.state(round_id) == RoundState.EXPIRED
    with expect_revert("NettingInvalidState", expected=RoundState.VERIFIED, actual=RoundState.EXPIRED):
        n.settle(world.roles.outsider, round_id)
    assert s.state_of(dvp) == InstructionState.LOCKED

    receipt = n.release_instructions(world.roles.outsider, round_id)
    dvp_id = bytes.fromhex(s.instruction_id(dvp)[2:])
    assert [(e["id"], e["roundId"]) for e in events(s.contract, "InstructionReleased", receipt)] == [(dvp_id, round_id)]
    assert s.state_of(dvp) == InstructionState.PENDING
    leg = Obligation(round_id, p1.address, p0.address, 500 * USD, dvp_id)
    assert n.obligation_state(leg) == ObligationState.REMOVED
    info = n.round(round_id)
    assert (info.instruction_count, info.obligation_count, info.gross_value, info.net_value) == (0, 0, 0, 0)
    assert n.instructions(round_id) == []
    # Released once: the round no longer holds it.
    with expect_revert("NettingNotInstructionOf", roundId=round_id, state=ObligationState.REMOVED):
        world.chain.transact(n.contract.functions.releaseInstructions(round_id, [dvp.as_tuple()]), world.roles.outsider)
    # Pending again: it settles bilaterally.
    world.chain.transact(world.cash.functions.approve(s.address, 500 * USD), p1)
    before = world.books([p0, p1])
    assert s.settle(world.roles.outsider, world.signed_dvp(dvp)).settled
    assert diff(before, world.books([p0, p1])) == {
        f"cash:{p0.address}": 500 * USD,
        f"cash:{p1.address}": -500 * USD,
        f"shares:{p0.address}": -100,
        f"shares:{p1.address}": 100,
    }


def test_only_the_netting_contract_locks_delivers_and_releases(dvp_world: DvPWorld) -> None:
    world = dvp_world
    p0, p1 = world.members[:2]
    n, s = world.netting, world.settlement
    assert s.contract.functions.netting().call() == n.address
    assert n.contract.functions.settlement().call() == s.address
    dvp = world.dvp(p0, 100, p1, 500 * USD)
    signed = world.signed_dvp(dvp)
    functions = s.contract.functions
    calls = [
        functions.lockForNetting(dvp.as_tuple(), signed.signature_a, signed.signature_b, 1),
        functions.deliverNetted(dvp.as_tuple(), 1),
        functions.releaseFromNetting(dvp.as_tuple(), 1),
    ]
    for caller in (p0, p1, world.roles.outsider, world.roles.admin):
        for call in calls:
            with expect_revert("SettlementOnlyNetting", caller=caller):
                world.chain.transact(call, caller)
    # Locked by its round, still nobody else delivers or releases it.
    round_id = world.open(p0)
    n.enter_instruction(world.roles.outsider, round_id, signed)
    for call in calls[1:]:
        with expect_revert("SettlementOnlyNetting", caller=p0):
            world.chain.transact(call, p0)
    assert s.state_of(dvp) == InstructionState.LOCKED


def test_settlement_lists_exactly_the_rounds_instructions(dvp_world: DvPWorld) -> None:
    world = dvp_world
    p0, p1, p2 = world.members[:3]
    n = world.netting
    round_id = world.open(p0)
    one = world.dvp(p0, 10, p1, 100 * USD)
    two = world.dvp(p0, 20, p2, 200 * USD)
    for instruction in (one, two):
        n.enter_instruction(world.roles.outsider, round_id, world.signed_dvp(instruction))
    stranger = world.dvp(p1, 5, p2, 50 * USD)  # never entered
    n.close(p0, round_id)
    n.submit_nets(world.roles.outsider, round_id)
    n.approve(p1, 100 * USD)
    n.approve(p2, 200 * USD)
    settle = n.contract.functions.settle
    sender = world.roles.outsider
    with leaves_unchanged(lambda: world.books(world.members)):
        with expect_revert("NettingInstructionsIncomplete", roundId=round_id, expected=2, given=1):
            world.chain.transact(settle(round_id, [one.as_tuple()]), sender)
        with expect_revert("NettingNotInstructionOf", roundId=round_id, state=ObligationState.NONE):
            world.chain.transact(settle(round_id, [one.as_tuple(), stranger.as_tuple()]), sender)
        # A duplicate leaves one out (and its second delivery would fail): refused as such.
        with expect_revert(
            "NettingDuplicateInstruction", roundId=round_id, instructionId=world.settlement.instruction_id(one)
        ):
            world.chain.transact(settle(round_id, [one.as_tuple(), one.as_tuple()]), sender)
        # The body of a settlement runs only as the contract's call to itself.
        with expect_revert("NettingOnlySelf", caller=sender):
            world.chain.transact(n.contract.functions.settleSelf(round_id, [one.as_tuple(), two.as_tuple()]), sender)
    before = world.books(world.members)
    n.settle(sender, round_id)
    assert diff(before, world.books(world.members)) == {
        f"cash:{p0.address}": 300 * USD,
        f"cash:{p1.address}": -100 * USD,
        f"cash:{p2.address}": -200 * USD,
        f"shares:{p0.address}": -30,
        f"shares:{p1.address}": 10,
        f"shares:{p2.address}": 20,
    }


def test_a_netting_contract_without_settlement_takes_no_instruction(world: NettingWorld) -> None:
    n = world.netting
    p0, p1 = world.members[:2]
    round_id = world.open(p0)
    instruction = Instruction(p0.address, world.registry.address, 1, p1.address, world.cash.address, 1, 2**40, 0)
    with expect_revert("NettingNoSettlement"):
        world.chain.transact(
            n.contract.functions.enterInstruction(round_id, instruction.as_tuple(), b"", b""), world.roles.outsider
        )


def test_starting_balances(dvp_world: DvPWorld) -> None:
    """The fixture's set-up the hand computations rely on."""
    world = dvp_world
    books = world.books(world.members)
    for index, member in enumerate(world.members):
        assert books[f"cash:{member.address}"] == WALLET
        assert books[f"shares:{member.address}"] == (SHARES if index < 3 else 0)


def test_a_security_that_calls_back_during_its_delivery_cannot_reenter(dvp_world: DvPWorld) -> None:
    """The delivery leg is in a malicious token that calls back while it moves: into the netting
    contract's settlement (swallowed: the guard refuses it, the round settles once) and, bubbling,
    into an exclusion or into the settlement's body (refused: the delivery fails with the refusal
    as its reason, and nothing moves)."""
    world = dvp_world
    p0, p1, p2 = world.members[:3]
    n, s = world.netting, world.settlement
    admin = world.roles.admin
    rogue = deploy_quickly(world.chain, "ReentrantCash", [], admin)
    send_setup(
        world.chain,
        [(rogue.functions.mint(p0.address, 1_000), admin), (rogue.functions.approve(s.address, 2**256 - 1), p0)],
    )
    round_id = world.open(p0)
    bad = world.dvp(p0, 100, p1, 500 * USD).but(token_a=rogue.address, amount_a=10)
    good = world.dvp(p2, 5, p1, 50 * USD)
    for instruction in (bad, good):
        n.enter_instruction(world.roles.outsider, round_id, world.signed_dvp(instruction))
    n.close(p0, round_id)
    n.submit_nets(world.roles.outsider, round_id)
    n.approve(p1, 550 * USD)
    listed = [bad.as_tuple(), good.as_tuple()]

    def books() -> dict[str, int]:
        return world.books(world.members) | {"rogue": rogue.functions.balanceOf(p1.address).call()}

    bad_id = bytes.fromhex(s.instruction_id(bad)[2:])
    exclusion = n.contract.functions.exclude(round_id, p1.address, [], listed)._encode_transaction_data()
    body = n.contract.functions.settleSelf(round_id, listed)._encode_transaction_data()
    for callback, refusal in (
        (exclusion, ("ReentrancyGuardReentrantCall", {})),
        (body, ("NettingOnlySelf", {"caller": rogue.address})),
    ):
        world.chain.transact(rogue.functions.arm(n.address, callback, True), admin)
        with (
            leaves_unchanged(books),
            expect_revert("NettingDeliveriesFailed", roundId=round_id, indices=(0,), instructionIds=(bad_id,)) as info,
        ):
            n.settle(world.roles.outsider, round_id)
        (reason,) = info.value.args_by_name["reasons"]
        assert world.decoded(reason) == refusal

    twice = n.contract.functions.settle(round_id, listed)._encode_transaction_data()
    world.chain.transact(rogue.functions.arm(n.address, twice, False), admin)
    before = world.books(world.members)
    n.settle(world.roles.outsider, round_id)
    assert rogue.functions.callbackCount().call() == 1
    assert rogue.functions.lastCallbackSucceeded().call() is False
    revert_data = bytes(rogue.functions.lastCallbackData().call())
    assert world.chain.decode_error_data("0x" + revert_data.hex()) == ("ReentrancyGuardReentrantCall", {})
    assert rogue.functions.balanceOf(p1.address).call() == 10
    assert diff(before, world.books(world.members)) == {
        f"cash:{p0.address}": 500 * USD,
        f"cash:{p1.address}": -550 * USD,
        f"cash:{p2.address}": 50 * USD,
        f"shares:{p1.address}": 5,
        f"shares:{p2.address}": -5,
    }
    assert [s.state_of(i) for i in (bad, good)] == [InstructionState.SETTLED] * 2
