"""Happy paths of atomic settlement: DvP and PvP, single and batch, signed and propose/affirm."""

from __future__ import annotations

from web3.contract import Contract

from dfmi_py.signing.settlement import instruction_id
from tests.helpers import events, expect_revert
from tests.settlement.conftest import PRICE, QUANTITY, State, World


def _moved(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Every key whose value changed, with the change."""
    return {key: after[key] - before[key] for key in before if after[key] != before[key]}


def _dvp_legs(world: World, seller: str, buyer: str, quantity: int, price: int) -> dict[str, int]:
    return {
        f"ACME30:{seller}": -quantity,
        f"ACME30:{buyer}": quantity,
        f"DSD:{seller}": price,
        f"DSD:{buyer}": -price,
    }


def test_signed_dvp_settled_by_an_outsider_moves_exactly_both_legs(world: World, books) -> None:
    instruction = world.dvp()
    before = books()
    receipt = world.settle(instruction)
    assert _moved(before, books()) == _dvp_legs(world, world.seller.address, world.buyer.address, QUANTITY, PRICE)
    assert world.state(instruction) == State.SETTLED
    (settled,) = events(world.settlement, "InstructionSettled", receipt)
    assert settled == {"id": world.id_of(instruction), "partyA": world.seller.address, "partyB": world.buyer.address}
    assert world.transfers(world.security, receipt) == [(world.seller.address, world.buyer.address, QUANTITY)]
    assert world.transfers(world.usd, receipt) == [(world.buyer.address, world.seller.address, PRICE)]


def test_the_off_chain_id_is_the_contracts(world: World) -> None:
    instruction = world.dvp(nonce=7)
    assert instruction_id(world.domain(), instruction) == world.id_of(instruction)


def test_a_party_that_sends_the_settlement_needs_no_signature(world: World, books) -> None:
    instruction = world.dvp()
    before = books()
    world.settle(instruction, world.sign(world.seller, instruction), b"", sender=world.buyer)
    assert _moved(before, books()) == _dvp_legs(world, world.seller.address, world.buyer.address, QUANTITY, PRICE)


def test_propose_then_affirm_settles_in_the_affirming_transaction(world: World, books) -> None:
    instruction = world.dvp()
    receipt = world.propose(instruction, world.seller)
    (proposed,) = events(world.settlement, "InstructionProposed", receipt)
    assert proposed["proposer"] == world.seller.address
    assert tuple(proposed["instruction"].values()) == instruction.as_tuple()
    assert world.state(instruction) == State.PROPOSED
    assert world.settlement.functions.approvalsOf(world.id_of(instruction)).call() == [True, False]

    before = books()
    receipt = world.affirm(instruction, world.buyer)
    assert _moved(before, books()) == _dvp_legs(world, world.seller.address, world.buyer.address, QUANTITY, PRICE)
    assert [e["affirmer"] for e in events(world.settlement, "InstructionAffirmed", receipt)] == [world.buyer.address]
    assert len(events(world.settlement, "InstructionSettled", receipt)) == 1
    assert world.state(instruction) == State.SETTLED
    assert world.settlement.functions.approvalsOf(world.id_of(instruction)).call() == [False, False]


def test_the_buyer_may_propose_and_the_seller_affirm(world: World, books) -> None:
    instruction = world.dvp()
    world.propose(instruction, world.buyer)
    before = books()
    world.affirm(instruction, world.seller)
    assert _moved(before, books()) == _dvp_legs(world, world.seller.address, world.buyer.address, QUANTITY, PRICE)


def test_an_affirmation_that_cannot_settle_stands_and_anyone_settles_later(world: World, books) -> None:
    poor = world.roles.members[4]  # onboarded, holds no cash
    instruction = world.dvp(buyer=poor)
    world.propose(instruction, world.seller)
    world.chain.transact(world.usd.functions.approve(world.settlement.address, PRICE), poor)
    before = books()
    receipt = world.affirm(instruction, poor)
    assert books() == before
    (failed,) = events(world.settlement, "SettlementFailed", receipt)
    assert world.decode(failed["reason"]) == (
        "ERC20InsufficientBalance",
        {"sender": poor.address, "balance": 0, "needed": PRICE},
    )
    assert world.state(instruction) == State.AFFIRMED

    world.chain.transact(world.usd.functions.mint(poor.address, PRICE), world.roles.minter)
    before = books()
    world.settle(instruction, b"", b"")  # the keeper, on the strength of both on-chain approvals
    assert _moved(before, books()) == _dvp_legs(world, world.seller.address, poor.address, QUANTITY, PRICE)
    assert world.state(instruction) == State.SETTLED


def test_an_on_chain_proposal_and_an_off_chain_signature_combine(world: World, books) -> None:
    instruction = world.dvp()
    world.propose(instruction, world.seller)
    before = books()
    world.settle(instruction, b"", world.sign(world.buyer, instruction))
    assert _moved(before, books()) == _dvp_legs(world, world.seller.address, world.buyer.address, QUANTITY, PRICE)


def test_signed_pvp_swaps_two_currencies(world: World, eur: Contract, books) -> None:
    a, b = world.roles.members[2], world.roles.members[3]
    usd_amount, eur_amount = 1_085_000 * 10**6, 1_000_000 * 10**6
    instruction = world.dvp(a, b).but(token_a=world.usd.address, amount_a=usd_amount, token_b=eur.address)
    instruction = instruction.but(amount_b=eur_amount)
    before = books(eur)
    receipt = world.settle(instruction)
    assert _moved(before, books(eur)) == {
        f"DSD:{a.address}": -usd_amount,
        f"DSD:{b.address}": usd_amount,
        f"DSE:{a.address}": eur_amount,
        f"DSE:{b.address}": -eur_amount,
    }
    assert world.transfers(eur, receipt) == [(b.address, a.address, eur_amount)]


def test_pvp_by_propose_and_affirm(world: World, eur: Contract, books) -> None:
    a, b = world.roles.members[2], world.roles.members[3]
    instruction = world.dvp(a, b).but(token_a=eur.address, amount_a=5 * 10**6, amount_b=6 * 10**6)
    world.propose(instruction, b)
    before = books(eur)
    world.affirm(instruction, a)
    assert _moved(before, books(eur)) == {
        f"DSE:{a.address}": -5 * 10**6,
        f"DSE:{b.address}": 5 * 10**6,
        f"DSD:{a.address}": 6 * 10**6,
        f"DSD:{b.address}": -6 * 10**6,
    }


def test_a_batch_settles_every_instruction_with_its_own_legs(world: World, eur: Contract, books) -> None:
    m = world.roles.members
    items = [
        world.dvp(m[0], m[1], quantity=10, price=1_000, nonce=0),
        world.dvp(m[2], m[3], quantity=20, price=2_000, nonce=0),
        world.dvp(m[1], m[0], quantity=5, price=700, nonce=1),  # same pair, other direction: shared space
        world.dvp(m[0], m[2]).but(token_a=eur.address, amount_a=30, amount_b=40),  # PvP in the same batch
    ]
    before = books(eur)
    receipt = world.settle_batch([world.signed(i) for i in items])
    assert [ok for _, ok, _ in world.outcomes(receipt)] == [True] * 4
    assert [id_ for id_, _, _ in world.outcomes(receipt)] == [world.id_of(i) for i in items]
    moved = _moved(before, books(eur))
    assert moved == {
        f"ACME30:{m[0].address}": -10 + 5,
        f"ACME30:{m[1].address}": 10 - 5,
        f"ACME30:{m[2].address}": -20,
        f"ACME30:{m[3].address}": 20,
        f"DSD:{m[0].address}": 1_000 - 700 + 40,
        f"DSD:{m[1].address}": -1_000 + 700,
        f"DSD:{m[2].address}": 2_000 - 40,
        f"DSD:{m[3].address}": -2_000,
        f"DSE:{m[0].address}": -30,
        f"DSE:{m[2].address}": 30,
    }
    assert all(world.state(i) == State.SETTLED for i in items)


def test_the_batch_returns_which_instructions_settled(world: World) -> None:
    good = world.dvp(nonce=0)
    expired = world.dvp(nonce=1, deadline=world.now() - 1)
    batch = [(i.as_tuple(), *world.signatures(i)) for i in (good, expired)]
    result = world.settlement.functions.settleBatch(batch).call({"from": world.keeper.address})
    assert result == [True, False]


def test_an_empty_batch_is_refused(world: World) -> None:
    with expect_revert("SettlementEmptyBatch"):
        world.settle_batch([])


def test_the_settlement_contract_never_holds_tokens(world: World, eur: Contract, books) -> None:
    m = world.roles.members
    world.settle(world.dvp(m[0], m[1], nonce=0))
    world.settle_batch([world.signed(world.dvp(m[2], m[3], nonce=n)) for n in range(3)])
    instruction = world.dvp(m[0], m[1], nonce=9)
    world.propose(instruction, m[0])
    world.affirm(instruction, m[1])
    for token in (world.security, world.usd, eur):
        assert world.balance(token, world.settlement.address) == 0
