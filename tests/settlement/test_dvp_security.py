"""Replay, cancellation, expiry and the contract's other guards.

- Replay: a settled instruction, another with the same nonce, its signatures on another chain,
  another contract or another instruction.
- Cancellation by either party, and its races with settlement (in one block, both orders).
- Expiry exactly at the deadline (a settlement in the deadline's own second is valid).
- On-chain consent misuse, contract parties (ERC-1271), reentrancy through a token.
"""

from __future__ import annotations

from typing import Any

from eth_account.signers.local import LocalAccount
from web3.contract import Contract

from dfmi_py.chain import Chain
from dfmi_py.signing import sign_typed
from dfmi_py.signing.settlement import Instruction, instruction_message
from tests.helpers import MAX_UINT256, events, expect_revert, leaves_unchanged, mine_in_one_block, send_unmined
from tests.settlement.conftest import NO_NETTING, PRICE, QUANTITY, State, World, deploy

# ---------------------------------------------------------------------- replay


def test_a_settled_instruction_cannot_settle_again(world: World, books) -> None:
    instruction = world.dvp()
    signatures = world.signatures(instruction)
    world.settle(instruction, *signatures)
    with leaves_unchanged(books), expect_revert("SettlementNonceUsed", nonce=0, state=State.SETTLED):
        world.settle(instruction, *signatures)
    receipt = world.settle_batch([(instruction, *signatures), (instruction, *signatures)])
    assert [ok for _, ok, _ in world.outcomes(receipt)] == [False, False]


def test_a_batch_settles_a_duplicated_instruction_once(world: World, books) -> None:
    item = world.signed(world.dvp())
    before = books()
    receipt = world.settle_batch([item, item])
    outcomes = world.outcomes(receipt)
    assert [ok for _, ok, _ in outcomes] == [True, False]
    assert world.decode(outcomes[1][2])[0] == "SettlementNonceUsed"
    after = books()
    assert after[f"ACME30:{world.buyer.address}"] - before[f"ACME30:{world.buyer.address}"] == QUANTITY


def test_the_pair_shares_one_nonce_space_in_both_directions(world: World) -> None:
    world.settle(world.dvp(world.seller, world.buyer, nonce=5))
    reverse = world.dvp(world.buyer, world.seller, nonce=5, quantity=1, price=1)
    with expect_revert("SettlementNonceUsed", id=world.id_of(reverse), nonce=5, state=State.SETTLED):
        world.settle(reverse)
    assert world.state(reverse) == State.SETTLED  # the nonce's fate, shared by every instruction carrying it
    # Another pair's nonce 5 is untouched.
    other = world.dvp(world.roles.members[2], world.roles.members[3], nonce=5)
    world.settle(other)


def test_signatures_for_another_chain_do_not_verify(world: World, books) -> None:
    instruction = world.dvp()
    forged = world.domain(chain_id=world.chain.chain_id + 1)
    sig_a, sig_b = world.sign(world.seller, instruction, forged), world.sign(world.buyer, instruction, forged)
    with leaves_unchanged(books), expect_revert("SettlementUnauthorized", party=world.seller):
        world.settle(instruction, sig_a, sig_b)


def test_signatures_for_another_settlement_contract_do_not_verify(world: World, books, chain: Chain, roles) -> None:
    twin = deploy(chain, roles, "AtomicSettlement", [NO_NETTING])
    chain.transact(world.registry.functions.onboard(twin.address), roles.officer)
    for token in (world.security, world.usd):
        for party in (world.seller, world.buyer):
            chain.transact(token.functions.approve(twin.address, MAX_UINT256), party)
    instruction = world.dvp()
    signatures = world.signatures(instruction)  # for `world.settlement`
    world.settle(instruction, *signatures)
    replay = twin.functions.settle(instruction.as_tuple(), *signatures)
    with leaves_unchanged(books), expect_revert("SettlementUnauthorized", party=world.seller):
        chain.transact(replay, world.keeper)
    # The other way round: signatures for the twin do not settle here.
    fresh = world.dvp(nonce=1)
    twin_domain = world.domain(verifying_contract=twin.address)
    sigs = world.sign(world.seller, fresh, twin_domain), world.sign(world.buyer, fresh, twin_domain)
    with leaves_unchanged(books), expect_revert("SettlementUnauthorized", party=world.seller):
        world.settle(fresh, *sigs)


def test_signatures_of_one_instruction_do_not_settle_another(world: World, books) -> None:
    signed = world.dvp()
    sig_a, sig_b = world.signatures(signed)
    for change in (
        {"amount_a": QUANTITY + 1},
        {"amount_b": PRICE - 1},
        {"deadline": signed.deadline + 1},
        {"nonce": 1},
        {"token_b": world.roles.members[5].address},
        {"party_b": world.roles.members[2].address},
    ):
        altered = signed.but(**change)
        with leaves_unchanged(books), expect_revert("SettlementUnauthorized", id=world.id_of(altered)):
            world.settle(altered, sig_a, sig_b)


def test_swapping_the_two_signatures_does_not_verify(world: World, books) -> None:
    instruction = world.dvp()
    sig_a, sig_b = world.signatures(instruction)
    with leaves_unchanged(books), expect_revert("SettlementUnauthorized", party=world.seller):
        world.settle(instruction, sig_b, sig_a)


# ---------------------------------------------------------------------- cancellation


def test_either_party_cancels_and_the_instruction_never_settles(world: World, books) -> None:
    for nonce, party in ((0, world.seller), (1, world.buyer)):
        instruction = world.dvp(nonce=nonce)
        signatures = world.signatures(instruction)
        receipt = world.cancel(instruction, party)
        assert events(world.settlement, "InstructionCancelled", receipt) == [
            {"id": world.id_of(instruction), "party": party.address}
        ]
        assert world.state(instruction) == State.CANCELLED
        with leaves_unchanged(books), expect_revert("SettlementNonceUsed", state=State.CANCELLED):
            world.settle(instruction, *signatures)


def test_only_a_party_cancels(world: World) -> None:
    instruction = world.dvp()
    with expect_revert("SettlementNotParty", id=world.id_of(instruction), caller=world.keeper):
        world.cancel(instruction, world.keeper)


def test_a_settled_instruction_cannot_be_cancelled(world: World) -> None:
    instruction = world.dvp()
    world.settle(instruction)
    with expect_revert("SettlementNonceUsed", state=State.SETTLED):
        world.cancel(instruction, world.buyer)
    assert world.state(instruction) == State.SETTLED


def test_cancelling_a_proposal_clears_it_and_blocks_the_affirmation(world: World, books) -> None:
    instruction = world.dvp()
    world.propose(instruction, world.seller)
    world.cancel(instruction, world.seller)
    assert world.settlement.functions.approvalsOf(world.id_of(instruction)).call() == [False, False]
    with leaves_unchanged(books), expect_revert("SettlementNonceUsed", state=State.CANCELLED):
        world.affirm(instruction, world.buyer)


def test_a_cancellation_voids_every_instruction_of_the_pair_with_that_nonce(world: World) -> None:
    instruction = world.dvp(nonce=3)
    world.cancel(instruction, world.buyer)
    sibling = world.dvp(nonce=3, quantity=1)
    with expect_revert("SettlementNonceUsed", state=State.CANCELLED):
        world.settle(sibling)


def _race(world: World, first: tuple[Any, LocalAccount], second: tuple[Any, LocalAccount]) -> list[int]:
    """Mine ``first`` and ``second`` in one block, ``first`` ahead (higher tip); their statuses."""
    return [int(r["status"]) for r in mine_in_one_block(world.chain, [first, second])]


def test_a_cancellation_mined_just_before_the_settlement_wins(world: World, books) -> None:
    instruction = world.dvp()
    settle = world.settlement.functions.settle(instruction.as_tuple(), *world.signatures(instruction))
    cancel = world.settlement.functions.cancel(instruction.as_tuple())
    with leaves_unchanged(books):
        assert _race(world, (cancel, world.buyer), (settle, world.keeper)) == [1, 0]
    assert world.state(instruction) == State.CANCELLED


def test_a_settlement_mined_just_before_the_cancellation_wins(world: World, books) -> None:
    instruction = world.dvp()
    settle = world.settlement.functions.settle(instruction.as_tuple(), *world.signatures(instruction))
    cancel = world.settlement.functions.cancel(instruction.as_tuple())
    before = books()
    assert _race(world, (settle, world.keeper), (cancel, world.seller)) == [1, 0]
    after = books()
    assert after[f"ACME30:{world.buyer.address}"] - before[f"ACME30:{world.buyer.address}"] == QUANTITY
    assert world.state(instruction) == State.SETTLED


# ---------------------------------------------------------------------- expiry


def test_an_instruction_settles_in_its_deadlines_second_and_not_one_second_later(world: World) -> None:
    deadline = world.now() + 600
    instruction = world.dvp(deadline=deadline)
    call = world.settlement.functions.settle(instruction.as_tuple(), *world.signatures(instruction))
    assert world.simulate(call, world.keeper, deadline) == world.id_of(instruction)
    with expect_revert("SettlementExpired", id=world.id_of(instruction), deadline=deadline, timestamp=deadline + 1):
        world.simulate(call, world.keeper, deadline + 1)
    state_call = world.settlement.functions.stateOf(instruction.as_tuple())
    assert int.from_bytes(world.simulate(state_call, world.keeper, deadline), "big") == State.PENDING
    assert int.from_bytes(world.simulate(state_call, world.keeper, deadline + 1), "big") == State.EXPIRED


def test_a_settlement_mined_exactly_at_the_deadline_is_valid(world: World, books) -> None:
    deadline = world.now() + 600
    instruction = world.dvp(deadline=deadline)
    call = world.settlement.functions.settle(instruction.as_tuple(), *world.signatures(instruction))
    world.chain.w3.provider.make_request("evm_setNextBlockTimestamp", [deadline])  # type: ignore[list-item]
    tx_hash = send_unmined(world.chain, call, world.keeper, tip=1, gas=400_000)
    receipt = world.chain.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.005)
    assert world.chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"] == deadline
    assert receipt["status"] == 1
    assert world.state(instruction) == State.SETTLED


def test_a_settlement_mined_one_second_after_the_deadline_fails_and_moves_nothing(world: World, books) -> None:
    deadline = world.now() + 600
    instruction = world.dvp(deadline=deadline)
    call = world.settlement.functions.settle(instruction.as_tuple(), *world.signatures(instruction))
    world.chain.w3.provider.make_request("evm_setNextBlockTimestamp", [deadline + 1])  # type: ignore[list-item]
    with leaves_unchanged(books):
        tx_hash = send_unmined(world.chain, call, world.keeper, tip=1, gas=400_000)
        receipt = world.chain.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.005)
    assert receipt["status"] == 0
    assert world.state(instruction) == State.EXPIRED


def test_an_expired_proposal_cannot_be_affirmed(world: World) -> None:
    instruction = world.dvp(deadline=world.now() + 60)
    world.propose(instruction, world.seller)
    world.advance(61)
    with expect_revert("SettlementExpired", id=world.id_of(instruction)):
        world.affirm(instruction, world.buyer)
    assert world.state(instruction) == State.EXPIRED


# ---------------------------------------------------------------------- on-chain consent


def test_propose_and_affirm_refuse_misuse(world: World) -> None:
    instruction = world.dvp()
    id_ = world.id_of(instruction)
    with expect_revert("SettlementNotParty", id=id_, caller=world.keeper):
        world.propose(instruction, world.keeper)
    with expect_revert("SettlementNotProposed", id=id_, caller=world.buyer):
        world.affirm(instruction, world.buyer)
    world.propose(instruction, world.seller)
    with expect_revert("SettlementAlreadyProposed", id=id_, approvedA=True, approvedB=False):
        world.propose(instruction, world.buyer)
    with expect_revert("SettlementNotProposed", id=id_, caller=world.seller):
        world.affirm(instruction, world.seller)
    with expect_revert("SettlementNotParty", id=id_, caller=world.keeper):
        world.affirm(instruction, world.keeper)
    with expect_revert("SettlementZeroAmount"):
        world.propose(instruction.but(amount_b=0), world.seller)


def test_one_on_chain_approval_is_not_both(world: World, books) -> None:
    instruction = world.dvp()
    world.propose(instruction, world.seller)
    with leaves_unchanged(books), expect_revert("SettlementUnauthorized", party=world.buyer):
        world.settle(instruction, b"", b"")


def test_only_the_contract_itself_runs_an_instruction_frame(world: World, books) -> None:
    instruction = world.dvp()
    call = world.settlement.functions.executeSelf(instruction.as_tuple(), world.id_of(instruction), False)
    with leaves_unchanged(books), expect_revert("SettlementOnlySelf", caller=world.keeper):
        world.chain.transact(call, world.keeper)


# ---------------------------------------------------------------------- contract parties, reentrancy


def test_a_contract_party_consents_through_erc1271(world: World, books, chain: Chain, roles) -> None:
    owner = roles.members[5]
    wallet = deploy(chain, roles, "SettlementWallet", [owner.address])
    chain.transact(world.registry.functions.onboard(wallet.address), roles.officer)
    chain.transact(world.usd.functions.mint(wallet.address, PRICE), roles.minter)
    chain.transact(wallet.functions.approve(world.usd.address, world.settlement.address, PRICE), owner)
    instruction = world.dvp(buyer=owner).but(party_b=wallet.address)
    owner_signature = world.sign(owner, instruction.but(party_b=owner.address))  # not this instruction
    with expect_revert("SettlementUnauthorized", party=wallet.address):
        world.settle(instruction, world.sign(world.seller, instruction), owner_signature)
    wallet_signature = sign_typed(owner, instruction_message(world.domain(), instruction)).packed()
    before = books()
    world.settle(instruction, world.sign(world.seller, instruction), wallet_signature)
    assert world.balance(world.security, wallet.address) == QUANTITY
    assert world.balance(world.usd, wallet.address) == 0
    after = books()
    assert after[f"DSD:{world.seller.address}"] - before[f"DSD:{world.seller.address}"] == PRICE


def _reentrant_world(world: World, chain: Chain, roles) -> tuple[Contract, Instruction]:
    """A DvP whose first leg is in a malicious token that calls back into the settlement contract."""
    rogue = deploy(chain, roles, "ReentrantCash", [])
    chain.transact(rogue.functions.mint(world.seller.address, 1_000), roles.admin)
    chain.transact(rogue.functions.approve(world.settlement.address, MAX_UINT256), world.seller)
    return rogue, world.dvp().but(token_a=rogue.address, amount_a=10)


def test_a_token_cannot_reenter_to_settle_twice(world: World, chain: Chain, roles) -> None:
    rogue, instruction = _reentrant_world(world, chain, roles)
    signatures = world.signatures(instruction)
    replay = world.settlement.functions.settle(instruction.as_tuple(), *signatures)._encode_transaction_data()
    chain.transact(rogue.functions.arm(world.settlement.address, replay, False), roles.admin)
    world.settle(instruction, *signatures)
    assert rogue.functions.callbackCount().call() == 1
    assert rogue.functions.lastCallbackSucceeded().call() is False
    revert_data = bytes(rogue.functions.lastCallbackData().call())
    assert chain.decode_error_data("0x" + revert_data.hex()) == ("ReentrancyGuardReentrantCall", {})
    assert rogue.functions.balanceOf(world.buyer.address).call() == 10
    assert world.state(instruction) == State.SETTLED


def test_a_token_cannot_run_an_instruction_frame(world: World, chain: Chain, roles) -> None:
    rogue, instruction = _reentrant_world(world, chain, roles)
    other = world.dvp(nonce=1)
    frame = world.settlement.functions.executeSelf(other.as_tuple(), world.id_of(other), False)
    chain.transact(rogue.functions.arm(world.settlement.address, frame._encode_transaction_data(), False), roles.admin)
    world.settle(instruction)
    revert_data = bytes(rogue.functions.lastCallbackData().call())
    assert chain.decode_error_data("0x" + revert_data.hex()) == (
        "SettlementOnlySelf",
        {"caller": rogue.address},
    )
    assert world.state(other) == State.PENDING


def test_a_token_that_reverts_without_a_reason_fails_its_instruction_only(world: World, chain: Chain, roles) -> None:
    rogue, bad = _reentrant_world(world, chain, roles)
    # The callback calls the token itself with an unknown selector: it reverts with no data, and
    # the token bubbles that up, so the first leg fails without a reason.
    chain.transact(rogue.functions.arm(rogue.address, b"\xde\xad\xbe\xef", True), roles.admin)
    good = world.dvp(world.roles.members[2], world.roles.members[3])
    receipt = world.settle_batch([world.signed(bad), world.signed(good)])
    assert world.outcomes(receipt) == [(world.id_of(bad), False, b""), (world.id_of(good), True, b"")]
    assert rogue.functions.balanceOf(world.buyer.address).call() == 0
