"""Netting rounds on-chain: the paper's example and its exclusion case, verification of submitted
nets, all-or-nothing settlement, escrow, and every refusal with its error."""

from __future__ import annotations

import pytest

from dfmi_py.api.netting import RoundState, SignedObligation
from dfmi_py.netting import Compression, NetsMismatchError, Obligation
from dfmi_py.signing import Domain
from tests.helpers import events, expect_revert, leaves_unchanged
from tests.netting.conftest import COLLECTION, USD, WALLET, NettingWorld


def paper_round(world: NettingWorld) -> tuple[int, list[Obligation]]:
    """The paper's Figure 2 registered and closed: P1 owes 40 to P2 and 50 to P3, P3 owes 60 to P2.

    The three obligations use the three ways to consent: payer sends with the payee's signature,
    payee sends with the payer's signature, and a third party sends both signatures.
    """
    p1, p2, p3 = world.members[:3]
    n = world.netting
    round_id = world.open(p1)
    o12 = n.obligation(round_id, p1.address, p2.address, 40 * USD)
    o13 = n.obligation(round_id, p1.address, p3.address, 50 * USD)
    o32 = n.obligation(round_id, p3.address, p2.address, 60 * USD)
    n.register(p1, o12, payee_signature=n.sign(p2, o12))
    n.register(p3, o13, payer_signature=n.sign(p1, o13))
    n.register(world.roles.outsider, o32, n.sign(p3, o32), n.sign(p2, o32))
    n.close(p1, round_id)
    return round_id, [o12, o13, o32]


# ---------------------------------------------------------------------- the paper's example


def test_paper_example_settles_net_amounts_only(world: NettingWorld) -> None:
    p1, p2, p3 = world.members[:3]
    n = world.netting
    round_id, _ = paper_round(world)
    assert n.members(round_id) == [p1.address, p2.address, p3.address]
    assert n.nets(round_id) == [-90 * USD, 100 * USD, -10 * USD]
    assert n.compression(round_id) == Compression(gross=150 * USD, net=100 * USD)

    verified = n.submit_nets(world.roles.outsider, round_id)
    assert [(e["member"], e["net"]) for e in events(n.contract, "NetPosition", verified)] == [
        (p1.address, -90 * USD),
        (p2.address, 100 * USD),
        (p3.address, -10 * USD),
    ]
    assert n.state(round_id) == RoundState.VERIFIED

    n.approve(p1, 90 * USD)
    n.approve(p3, 10 * USD)
    before = world.balances([p1, p2, p3])
    receipt = n.settle(world.roles.outsider, round_id)
    after = world.balances([p1, p2, p3])
    assert [a - b for a, b in zip(after, before, strict=True)] == [-90 * USD, 100 * USD, -10 * USD]
    assert world.held() == 0
    settled = events(n.contract, "NetSettled", receipt)
    assert [(e["member"], e["net"], e["fromEscrow"]) for e in settled] == [
        (p1.address, -90 * USD, 0),
        (p2.address, 100 * USD, 0),
        (p3.address, -10 * USD, 0),
    ]
    (summary,) = events(n.contract, "RoundSettled", receipt)
    assert (summary["grossValue"], summary["netValue"], summary["obligations"]) == (150 * USD, 100 * USD, 3)
    # Value moved by the token: 100 in (90 + 10) and 100 out, against 150 of obligations.
    transfers = events(world.cash, "Transfer", receipt)
    assert sum(t["value"] for t in transfers if t["to"] == n.address) == 100 * USD
    assert n.state(round_id) == RoundState.SETTLED
    assert n.round(round_id).compression.ratio == pytest.approx(1 / 3)


def test_paper_example_exclusion_of_p3(world: NettingWorld) -> None:
    """P3 cannot fund its 10: excluded after the deadline, the round settles P1 -> P2 40 only."""
    p1, p2, p3 = world.members[:3]
    n = world.netting
    round_id, _ = paper_round(world)
    n.submit_nets(world.roles.outsider, round_id)
    n.approve(p1, 90 * USD)  # P3 approves nothing and pre-funds nothing.
    with expect_revert("NettingDeadlineNotReached", roundId=round_id):
        n.exclude(world.roles.outsider, round_id, p3.address)
    world.past_deadline(round_id)
    with expect_revert("NettingMemberNotShort", member=p1, required=90 * USD, available=90 * USD):
        n.exclude(world.roles.outsider, round_id, p1.address)

    receipt = n.exclude(world.roles.outsider, round_id, p3.address)
    (excluded,) = events(n.contract, "MemberExcluded", receipt)
    assert excluded["member"] == p3.address
    assert (excluded["obligations"], excluded["owedToOthers"], excluded["owedByOthers"]) == (2, 60 * USD, 50 * USD)
    assert (excluded["required"], excluded["available"]) == (10 * USD, 0)
    removed = events(n.contract, "ObligationRemoved", receipt)
    assert sorted((e["payer"], e["payee"], e["amount"]) for e in removed) == sorted(
        [(p1.address, p3.address, 50 * USD), (p3.address, p2.address, 60 * USD)]
    )
    assert n.state(round_id) == RoundState.CLOSED
    assert n.nets(round_id) == [-40 * USD, 40 * USD, 0]
    assert n.compression(round_id) == Compression(gross=40 * USD, net=40 * USD)
    with expect_revert("NettingInvalidState", expected=RoundState.VERIFIED, actual=RoundState.CLOSED):
        n.settle(world.roles.outsider, round_id)

    n.submit_nets(world.roles.outsider, round_id)
    before = world.balances([p1, p2, p3])
    n.settle(world.roles.outsider, round_id)
    after = world.balances([p1, p2, p3])
    changes = [a - b for a, b in zip(after, before, strict=True)]
    assert changes == [-40 * USD, 40 * USD, 0]
    # P2 was to receive 100; it receives 40: its loss is exactly the 60 P3 owed it.
    assert 100 * USD - changes[1] == 60 * USD
    # P1 pays only what it owed P2; what it owed P3 is outside the round, as is P3's debt to P2.
    assert world.held() == 0


def test_exclusion_of_an_offboarded_creditor(world: NettingWorld) -> None:
    """P2 is frozen after registering: it cannot receive, so it may be excluded; P1 then pays P3 only."""
    p2 = world.members[1]
    n = world.netting
    round_id, _ = paper_round(world)
    world.chain.transact(world.registry.functions.freeze(p2.address), world.roles.officer)
    world.past_deadline(round_id)
    n.exclude(world.roles.outsider, round_id, p2.address)
    assert n.nets(round_id) == [-50 * USD, 0, 50 * USD]


# ---------------------------------------------------------------------- verification


def test_tampered_nets_are_rejected_and_change_nothing(world: NettingWorld) -> None:
    p1, p2 = world.members[:2]
    n = world.netting
    round_id, _ = paper_round(world)
    sender = world.roles.outsider
    with leaves_unchanged(lambda: {"state": int(n.state(round_id)), "nets": hash(tuple(n.nets(round_id)))}):
        with expect_revert("NettingNetMismatch", member=p1, expected=-90 * USD, given=-80 * USD):
            n.submit_nets_unchecked(sender, round_id, [-80 * USD, 90 * USD, -10 * USD])
        with expect_revert("NettingNetMismatch", member=p2, expected=100 * USD, given=110 * USD):
            n.submit_nets_unchecked(sender, round_id, [-90 * USD, 110 * USD, -20 * USD])
        with expect_revert("NettingNetsNotBalanced", sum=1):
            n.submit_nets_unchecked(sender, round_id, [-90 * USD, 100 * USD + 1, -10 * USD])
        with expect_revert("NettingNetsLength", expected=3, given=2):
            n.submit_nets_unchecked(sender, round_id, [-90 * USD, 90 * USD])
        with expect_revert("NettingNetMismatch", member=p1, expected=-90 * USD, given=2**200):
            n.submit_nets_unchecked(sender, round_id, [2**200, 0, 0])
        with pytest.raises(NetsMismatchError):
            n.submit_nets(sender, round_id, [-80 * USD, 90 * USD, -10 * USD])
    assert n.state(round_id) == RoundState.CLOSED
    # Nets are submitted for a Closed round only.
    n.submit_nets(sender, round_id)
    with expect_revert("NettingInvalidState", expected=RoundState.CLOSED, actual=RoundState.VERIFIED):
        n.submit_nets(sender, round_id)


def test_nets_cannot_be_submitted_while_collecting(world: NettingWorld) -> None:
    n = world.netting
    round_id = world.open()
    with expect_revert("NettingInvalidState", expected=RoundState.CLOSED, actual=RoundState.COLLECTING):
        n.submit_nets_unchecked(world.roles.outsider, round_id, [])


# ---------------------------------------------------------------------- settlement


def test_settlement_is_all_or_nothing(world: NettingWorld) -> None:
    """P3 approved 1 unit too little: nothing moves, not even P1's payment."""
    p1, p2, p3 = world.members[:3]
    n = world.netting
    round_id, _ = paper_round(world)
    n.submit_nets(world.roles.outsider, round_id)
    n.approve(p1, 90 * USD)
    n.approve(p3, 10 * USD - 1)
    state = lambda: dict(zip("abc", world.balances([p1, p2, p3]), strict=True)) | {"held": world.held()}  # noqa: E731
    with leaves_unchanged(state), expect_revert("ERC20InsufficientAllowance", needed=10 * USD):
        n.settle(world.roles.outsider, round_id)
    assert n.state(round_id) == RoundState.VERIFIED
    n.approve(p3, 10 * USD)
    n.settle(world.roles.outsider, round_id)
    with expect_revert("NettingInvalidState", expected=RoundState.VERIFIED, actual=RoundState.SETTLED):
        n.settle(world.roles.outsider, round_id)


def test_prefunded_escrow_pays_the_debit_and_the_excess_comes_back(world: NettingWorld) -> None:
    p1, p2, p3 = world.members[:3]
    n = world.netting
    round_id, _ = paper_round(world)
    n.fund(p1, round_id, 100 * USD)  # 10 more than its debit of 90
    n.fund(p3, round_id, 4 * USD)  # 4 of its 10; the rest from its wallet
    n.approve(p3, 6 * USD)
    assert world.held() == 104 * USD
    assert n.free_funding_of(round_id, p1.address) == 10 * USD
    assert n.free_funding_of(round_id, p3.address) == 0
    with expect_revert("NettingWithdrawalExceedsFree", member=p1, free=10 * USD, amount=11 * USD):
        n.withdraw_funding(p1, round_id, 11 * USD)
    assert n.funding_of(round_id, p1.address) == (90 * USD, 100 * USD)

    n.submit_nets(world.roles.outsider, round_id)
    before = world.balances([p1, p2, p3])
    receipt = n.settle(world.roles.outsider, round_id)
    after = world.balances([p1, p2, p3])
    assert [a - b for a, b in zip(after, before, strict=True)] == [0, 100 * USD, -6 * USD]
    assert [e["fromEscrow"] for e in events(n.contract, "NetSettled", receipt)] == [90 * USD, 0, 4 * USD]
    # Only P1's excess is left, and it is P1's.
    assert world.held() == 10 * USD
    assert n.round(round_id).escrowed == 10 * USD
    assert n.position_of(round_id, p1.address).funded == 10 * USD
    n.withdraw_funding(p1, round_id)
    assert world.held() == 0
    assert world.balances([p1])[0] == WALLET - 90 * USD


def test_an_expired_round_settles_nothing_and_returns_every_unit(world: NettingWorld) -> None:
    p1 = world.members[0]
    n = world.netting
    round_id, _ = paper_round(world)
    n.fund(p1, round_id, 90 * USD)
    assert n.free_funding_of(round_id, p1.address) == 0
    n.submit_nets(world.roles.outsider, round_id)
    world.past_deadline(round_id)
    world.advance(int(n.contract.functions.EXPIRY_PERIOD().call()))
    assert n.state(round_id) == RoundState.EXPIRED
    with expect_revert("NettingInvalidState", expected=RoundState.VERIFIED, actual=RoundState.EXPIRED):
        n.settle(world.roles.outsider, round_id)
    with expect_revert("NettingInvalidState", actual=RoundState.EXPIRED):
        n.fund(p1, round_id, 1, approve=False)
    n.withdraw_funding(p1, round_id)
    assert world.balances([p1])[0] == WALLET
    assert world.held() == 0


def test_an_excluded_member_takes_its_funding_back(world: NettingWorld) -> None:
    p3 = world.members[2]
    n = world.netting
    round_id, _ = paper_round(world)
    n.fund(p3, round_id, 3 * USD)  # short of its 10
    world.past_deadline(round_id)
    receipt = n.exclude(world.roles.outsider, round_id, p3.address)
    (excluded,) = events(n.contract, "MemberExcluded", receipt)
    assert (excluded["required"], excluded["available"]) == (10 * USD, 3 * USD)
    assert n.free_funding_of(round_id, p3.address) == 3 * USD
    n.withdraw_funding(p3, round_id)
    assert world.balances([p3])[0] == WALLET


# ---------------------------------------------------------------------- registration


def test_registration_needs_both_parties(world: NettingWorld) -> None:
    p1, p2, p3 = world.members[:3]
    n = world.netting
    round_id = world.open()
    o = n.obligation(round_id, p1.address, p2.address, 5 * USD)
    oid = "0x" + n.id_of(o).hex()
    assert n.contract.functions.hashObligation(o.as_tuple()).call() == n.id_of(o)
    with expect_revert("NettingUnauthorized", id=oid, party=p2):
        n.register(p1, o)
    with expect_revert("NettingUnauthorized", id=oid, party=p1):
        n.register(p2, o)
    # A third party's signature, or the payee's signature of another obligation, is no consent.
    with expect_revert("NettingUnauthorized", id=oid, party=p2):
        n.register(p1, o, payee_signature=n.sign(p3, o.but(payee=p3.address)))
    other = o.but(amount=6 * USD)
    with expect_revert("NettingUnauthorized", id=oid, party=p2):
        n.register(p1, o, payee_signature=n.sign(p2, other))
    # A signature for another chain or another contract does not verify here.
    for domain in (
        Domain("NettingEngine", "1", world.chain.chain_id + 1, n.address),
        Domain("NettingEngine", "1", world.chain.chain_id, world.cash.address),
    ):
        from dfmi_py.netting import sign_obligation

        forged = sign_obligation(p2, domain, o).packed()
        with expect_revert("NettingUnauthorized", id=oid, party=p2):
            n.register(p1, o, payee_signature=forged)
    receipt = n.register(p1, o, payee_signature=n.sign(p2, o))
    (registered,) = events(n.contract, "ObligationRegistered", receipt)
    assert (registered["id"], registered["payer"], registered["payee"], registered["amount"]) == (
        n.id_of(o),
        p1.address,
        p2.address,
        5 * USD,
    )
    # No replay: the same obligation never registers twice; another ref is another obligation.
    with expect_revert("NettingObligationExists", id=oid, state=1):
        n.register(p1, o, payee_signature=n.sign(p2, o))
    n.register(p1, o.but(ref=(1).to_bytes(32, "big")), payee_signature=n.sign(p2, o.but(ref=(1).to_bytes(32, "big"))))
    assert n.nets(round_id) == [-10 * USD, 10 * USD]


def test_registration_refuses_bad_obligations(world: NettingWorld) -> None:
    p1, p2 = world.members[:2]
    n = world.netting
    round_id = world.open()
    call = n.contract.functions.register
    send = world.chain.transact
    bad_amount = Obligation(round_id, p1.address, p2.address, 0)
    with expect_revert("NettingInvalidAmount", amount=0):
        send(call(bad_amount.as_tuple(), b"", n.sign(p2, bad_amount)), p1)
    too_big = Obligation(round_id, p1.address, p2.address, 2**96)
    with expect_revert("NettingInvalidAmount", amount=2**96):
        send(call(too_big.as_tuple(), b"", n.sign(p2, too_big)), p1)
    self_owed = Obligation(round_id, p1.address, p1.address, 1)
    with expect_revert("NettingSameParty", party=p1):
        send(call(self_owed.as_tuple(), b"", b""), p1)
    # A party that is not onboarded cannot owe or be owed.
    newcomer = world.roles.newcomers[0]
    to_newcomer = n.obligation(round_id, p1.address, newcomer.address, USD)
    with expect_revert("ComplianceAccountNotActive", account=newcomer):
        n.register(p1, to_newcomer, payee_signature=n.sign(newcomer, to_newcomer))
    with expect_revert("NettingUnknownRound", roundId=99):
        o = n.obligation(99, p1.address, p2.address, USD)
        n.register(p1, o, payee_signature=n.sign(p2, o))


def test_registration_stops_at_cutoff_and_close(world: NettingWorld) -> None:
    p1, p2, p3 = world.members[:3]
    n = world.netting
    round_id = world.open(p1)
    o = n.obligation(round_id, p1.address, p2.address, USD)
    # Only the opener closes before the cutoff.
    with expect_revert("NettingCutoffNotReached", caller=p2):
        n.close(p2, round_id)
    world.advance(COLLECTION + 1)
    with expect_revert("NettingCutoffPassed", roundId=round_id):
        n.register(p1, o, payee_signature=n.sign(p2, o))
    n.close(p3, round_id)  # anyone, after the cutoff
    with expect_revert("NettingInvalidState", expected=RoundState.COLLECTING, actual=RoundState.CLOSED):
        n.register(p1, o, payee_signature=n.sign(p2, o))
    # An empty round verifies and settles, moving nothing.
    n.submit_nets(p3, round_id)
    n.settle(p3, round_id)
    assert n.state(round_id) == RoundState.SETTLED


def test_a_batch_registers_all_or_nothing(world: NettingWorld) -> None:
    p1, p2, p3 = world.members[:3]
    n = world.netting
    round_id = world.open()
    good = world.signed(n.obligation(round_id, p1.address, p2.address, USD))
    unsigned = world.signed(n.obligation(round_id, p2.address, p3.address, USD), payee=False)
    with expect_revert("NettingUnauthorized", party=p3):
        n.register_batch(world.roles.outsider, [good, unsigned])
    assert n.members(round_id) == []
    with expect_revert("NettingEmptyBatch"):
        world.chain.transact(n.contract.functions.registerBatch([]), p1)
    n.register_batch(world.roles.outsider, [good, world.signed(unsigned.obligation)])
    assert n.nets(round_id) == [-USD, 0, USD]


def test_opening_needs_an_onboarded_opener_and_a_sane_schedule(world: NettingWorld) -> None:
    n = world.netting
    now = world.now()
    with expect_revert("ComplianceAccountNotActive", account=world.roles.outsider):
        n.open_round(world.roles.outsider, now + 100, now + 200)
    with expect_revert("NettingInvalidSchedule", cutoff=now + 100, deadline=now + 99):
        world.chain.transact(n.contract.functions.openRound(now + 100, now + 99), world.members[0])
    with expect_revert("NettingInvalidSchedule", cutoff=now - 1):
        world.chain.transact(n.contract.functions.openRound(now - 1, now + 99), world.members[0])
    assert n.round_count() == 0


# ---------------------------------------------------------------------- exclusion


def test_exclusion_needs_the_complete_list_of_obligations(world: NettingWorld) -> None:
    p3, p4 = world.members[2:4]
    n = world.netting
    round_id, obligations = paper_round(world)
    o12, o13, o32 = obligations
    world.past_deadline(round_id)
    call = n.contract.functions.exclude
    sender = world.roles.outsider
    with expect_revert("NettingExclusionIncomplete", member=p3, remaining=1):
        world.chain.transact(call(round_id, p3.address, [o13.as_tuple()], []), sender)
    with expect_revert("NettingNotObligationOf", member=p3, id="0x" + n.id_of(o12).hex(), state=1):
        world.chain.transact(call(round_id, p3.address, [o12.as_tuple(), o13.as_tuple(), o32.as_tuple()], []), sender)
    # Listing one twice: the second copy was removed by the first, in the same call. (The last
    # argument lists the member's DvP instructions: it has none.)
    with expect_revert("NettingNotObligationOf", member=p3, id="0x" + n.id_of(o13).hex(), state=2):
        world.chain.transact(call(round_id, p3.address, [o13.as_tuple(), o13.as_tuple(), o32.as_tuple()], []), sender)
    with expect_revert("NettingNotMember", member=p4):
        world.chain.transact(call(round_id, p4.address, [], []), sender)
    n.exclude(sender, round_id, p3.address)
    with expect_revert("NettingAlreadyExcluded", member=p3):
        world.chain.transact(call(round_id, p3.address, [], []), sender)
    # The removed obligations are spent: they can never count again.
    assert n.obligation_state(o13) == 2
    assert n.obligation_state(o12) == 1


def test_resolve_excludes_blockers_in_order_and_resubmits(world: NettingWorld) -> None:
    """The API's resolve: the paper's round with P3 unfunded ends Verified without P3."""
    p1, p3 = world.members[0], world.members[2]
    n = world.netting
    round_id, _ = paper_round(world)
    n.approve(p1, 90 * USD)
    world.past_deadline(round_id)
    assert n.blocking_member(round_id) == p3.address
    assert n.resolve(world.roles.outsider, round_id) == [p3.address]
    assert n.state(round_id) == RoundState.VERIFIED
    assert n.blocking_member(round_id) is None
    n.settle(world.roles.outsider, round_id)
    records = n.obligation_records(round_id)
    assert [r["removed"] for r in records] == [False, True, True]
    assert n.exclusions(round_id)[0]["member"] == p3.address
    (row,) = n.compression_records()
    assert (row["state"], row["gross_value"], row["net_value"], row["excluded"]) == ("SETTLED", 40 * USD, 40 * USD, 1)


def test_signed_obligation_struct_matches_the_abi(world: NettingWorld) -> None:
    p1, p2 = world.members[:2]
    o = world.netting.obligation(1, p1.address, p2.address, 1)
    assert SignedObligation(o).as_tuple() == (o.as_tuple(), b"", b"")
