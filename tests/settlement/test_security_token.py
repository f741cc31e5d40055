"""SecurityToken: issuance and redemption by the issuer, compliance on every movement, pause,
custom errors, and the supply invariant (``totalSupply == sum of balances``) under random operations.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dfmi_py.errors import ContractRevertError
from tests.helpers import events, evm_revert, evm_snapshot, examples, expect_revert, leaves_unchanged
from tests.settlement.conftest import SHARES, World


def _supply_state(world: World):
    def read() -> dict[str, int]:
        return world.books([world.security], [*world.roles.members, *world.roles.newcomers, world.issuer])

    return read


def test_the_issuer_issues_to_an_active_account(world: World) -> None:
    member = world.roles.members[4]
    receipt = world.chain.transact(world.security.functions.issue(member.address, 250), world.issuer)
    assert events(world.security, "Issued", receipt) == [
        {"issuer": world.issuer.address, "to": member.address, "amount": 250}
    ]
    assert world.balance(world.security, member) == 250
    assert world.security.functions.totalSupply().call() == 4 * SHARES + 250
    assert world.security.functions.decimals().call() == 0


@pytest.mark.parametrize("caller", ["member", "admin", "minter"])
def test_only_the_issuer_issues_and_redeems(world: World, caller: str) -> None:
    account = world.roles.named(caller)
    role = world.security.functions.ISSUER_ROLE().call()
    with leaves_unchanged(_supply_state(world)):
        with expect_revert("AccessControlUnauthorizedAccount", account=account, neededRole=role):
            world.chain.transact(world.security.functions.issue(account.address, 1), account)
        with expect_revert("AccessControlUnauthorizedAccount", account=account, neededRole=role):
            world.chain.transact(world.security.functions.redeem(1), account)


def test_issuance_refuses_zero_and_inactive_accounts(world: World) -> None:
    issue = world.security.functions.issue
    with leaves_unchanged(_supply_state(world)):
        with expect_revert("SecurityZeroAmount"):
            world.chain.transact(issue(world.seller.address, 0), world.issuer)
        with expect_revert("ComplianceAccountNotActive", account=world.roles.newcomers[0], status=0):
            world.chain.transact(issue(world.roles.newcomers[0].address, 1), world.issuer)
        world.chain.transact(world.registry.functions.freeze(world.issuer.address), world.roles.officer)
        with expect_revert("ComplianceAccountNotActive", account=world.issuer, status=2):
            world.chain.transact(issue(world.seller.address, 1), world.issuer)


def test_units_handed_back_are_redeemed(world: World) -> None:
    world.chain.transact(world.security.functions.transfer(world.issuer.address, 40), world.seller)
    receipt = world.chain.transact(world.security.functions.redeem(40), world.issuer)
    assert events(world.security, "Redeemed", receipt) == [{"issuer": world.issuer.address, "amount": 40}]
    assert world.security.functions.totalSupply().call() == 4 * SHARES - 40
    with expect_revert("ERC20InsufficientBalance", sender=world.issuer, balance=0, needed=1):
        world.chain.transact(world.security.functions.redeem(1), world.issuer)
    with expect_revert("SecurityZeroAmount"):
        world.chain.transact(world.security.functions.redeem(0), world.issuer)


def test_transfers_need_both_ends_and_the_spender_active(world: World) -> None:
    token, seller, buyer = world.security, world.seller, world.buyer
    newcomer = world.roles.newcomers[0]
    with leaves_unchanged(_supply_state(world)):
        with expect_revert("ComplianceAccountNotActive", account=newcomer, status=0):
            world.chain.transact(token.functions.transfer(newcomer.address, 1), seller)
        world.chain.transact(world.registry.functions.freeze(buyer.address), world.roles.officer)
        with expect_revert("ComplianceAccountNotActive", account=buyer, status=2):
            world.chain.transact(token.functions.transfer(buyer.address, 1), seller)
        with expect_revert("ComplianceAccountNotActive", account=newcomer, status=0):
            world.chain.transact(token.functions.approve(newcomer.address, 1), seller)
        # A spender that the registry no longer holds active cannot spend an allowance it was given.
        third = world.roles.members[2]
        world.chain.transact(token.functions.approve(third.address, 5), seller)
        world.chain.transact(world.registry.functions.freeze(third.address), world.roles.officer)
        with expect_revert("ComplianceAccountNotActive", account=third, status=2):
            world.chain.transact(token.functions.transferFrom(seller.address, world.roles.members[3].address, 5), third)


def test_pause_stops_every_movement_until_unpaused(world: World) -> None:
    token = world.security
    with expect_revert("AccessControlUnauthorizedAccount", account=world.seller):
        world.chain.transact(token.functions.pause(), world.seller)
    world.chain.transact(token.functions.pause(), world.roles.pauser)
    with leaves_unchanged(_supply_state(world)):
        with expect_revert("EnforcedPause"):
            world.chain.transact(token.functions.transfer(world.buyer.address, 1), world.seller)
        with expect_revert("EnforcedPause"):
            world.chain.transact(token.functions.issue(world.buyer.address, 1), world.issuer)
    world.chain.transact(token.functions.unpause(), world.roles.pauser)
    world.chain.transact(token.functions.transfer(world.buyer.address, 1), world.seller)
    assert world.balance(token, world.buyer) == SHARES + 1


def test_the_constructor_refuses_a_zero_admin(world: World) -> None:
    zero = "0x" + "00" * 20
    with pytest.raises(ContractRevertError) as info:
        world.chain.deploy("SecurityToken", ["X", "X", 0, world.registry.address, zero], world.roles.admin)
    assert info.value.error == "SecurityZeroAddress"


operations = st.lists(
    st.tuples(st.sampled_from(["issue", "transfer", "redeem"]), st.integers(0, 5), st.integers(0, 5),
              st.integers(1, 3 * SHARES)),
    min_size=1,
    max_size=12,
)  # fmt: skip


@settings(max_examples=examples(10))
@given(ops=operations)
def test_supply_always_equals_the_sum_of_balances(world: World, ops: list[tuple[str, int, int, int]]) -> None:
    snapshot = evm_snapshot(world.chain)
    try:
        holders = [*world.roles.members, world.issuer]
        token = world.security
        model = {h.address: world.balance(token, h) for h in holders}
        for name, i, j, amount in ops:
            sender, receiver = holders[i], holders[j]
            payer = sender if name == "transfer" else world.issuer
            if name == "issue":
                world.chain.transact(token.functions.issue(receiver.address, amount), world.issuer)
                model[receiver.address] += amount
            elif model[payer.address] < amount:
                call = token.functions.transfer(receiver.address, amount) if name == "transfer" else None
                with expect_revert("ERC20InsufficientBalance", sender=payer, needed=amount):
                    world.chain.transact(call or token.functions.redeem(amount), payer)
            else:
                call = token.functions.transfer(receiver.address, amount) if name == "transfer" else None
                world.chain.transact(call or token.functions.redeem(amount), payer)
                model[payer.address] -= amount
                if name == "transfer":
                    model[receiver.address] += amount
            balances = {h.address: world.balance(token, h) for h in holders}
            assert balances == model
            assert token.functions.totalSupply().call() == sum(balances.values())
    finally:
        evm_revert(world.chain, snapshot)
