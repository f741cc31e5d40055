"""Stateful property test: the CashToken against a Python model, through random operation sequences.

Hypothesis drives random sequences of mint, burn (of cash first handed to the burner by transfer),
transfer, approve, transferFrom, permit (and permit replays), minter reconfiguration, movements
attempted while paused, and compliance status changes (freeze, unfreeze, offboard, onboard) of
members. For every action the model predicts the outcome, including which custom error a rejection
carries, following the order in which the contract checks; a rejected action must also leave the
chain state exactly as it was.

Invariants checked after every step (see the header of CashToken.sol):

- ``totalSupply() == sum of balanceOf`` over every account that can hold cash;
- balances, allowances, nonces, the minter's allowance and the pause flag equal the model's;
- an account that is not ``Active`` neither sends nor receives: its balance stays what it was when
  it stopped being active (a ghost value, kept apart from the model);
- the token's mirrored status of every account equals the registry's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from eth_account.signers.local import LocalAccount
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.types import TxReceipt

from dfmi_py.chain import Chain
from dfmi_py.errors import ContractRevertError
from tests.helpers import (
    PermitDomain,
    Roles,
    Status,
    ViewCall,
    events,
    evm_revert,
    evm_snapshot,
    examples,
    expect_revert,
    latest_timestamp,
    read_words,
)

#: Slots of the accounts that can hold cash: members 0-5, then the minter, burner and outsider.
MEMBER_COUNT = 6
MINTER, BURNER, OUTSIDER = 6, 7, 8
SLOTS = 9

#: (status before, registry function) -> status after; every other pair reverts.
TRANSITIONS = {
    (Status.NONE, "onboard"): Status.ACTIVE,
    (Status.ACTIVE, "freeze"): Status.FROZEN,
    (Status.FROZEN, "unfreeze"): Status.ACTIVE,
    (Status.ACTIVE, "offboard"): Status.NONE,
    (Status.FROZEN, "offboard"): Status.NONE,
}

slot = st.integers(0, SLOTS - 1)
member = st.integers(0, MEMBER_COUNT - 1)
#: How much of an available amount to use: a percentage of it, all of it, or more than it.
share = st.one_of(st.integers(0, 100), st.just("all"), st.tuples(st.just("over"), st.integers(1, 1_000)))
MAX_AMOUNT = 2_000_000
amounts = st.integers(0, MAX_AMOUNT)
Portion = int | str | tuple[str, int]

#: An expected rejection: (custom error name, its arguments); None means the call must succeed.
Expected = tuple[str, dict[str, Any]] | None


def amount_of(available: int, portion: Portion) -> int:
    """``portion`` of ``available``, as drawn by :data:`share`."""
    if portion == "all":
        return available
    if isinstance(portion, tuple):
        return available + portion[1]
    assert isinstance(portion, int)
    return available * portion // 100


@dataclass(frozen=True)
class Scene:
    """The chain and contracts a machine runs against (the session's fixtures)."""

    chain: Chain
    registry: Contract
    cash: Contract
    roles: Roles
    domain: PermitDomain


@dataclass(frozen=True)
class SignedPermit:
    """A permit as signed, kept to be replayed."""

    owner: int
    spender: int
    value: int
    nonce: int
    deadline: int
    signature: tuple[int, bytes, bytes]


class CashTokenModel(RuleBasedStateMachine):
    """Random operations on the deployed CashToken, each checked against a model of its state."""

    scene: ClassVar[Scene]

    def __init__(self) -> None:
        super().__init__()
        scene = self.scene
        self.chain, self.cash, self.registry, roles = scene.chain, scene.cash, scene.registry, scene.roles
        self.snapshot = evm_snapshot(self.chain)
        assert len(roles.members) == MEMBER_COUNT
        self.accounts: list[LocalAccount] = [*roles.members, roles.minter, roles.burner, roles.outsider]
        self.addresses = [a.address for a in self.accounts]
        self.views = self._views()
        start = self._read()
        assert start["totalSupply"] == 0, "the base scenario has no cash"
        self.balance = list(start["balanceOf"])
        self.allowance = dict(start["allowance"])
        self.nonce = list(start["nonces"])
        self.status = [Status(s) for s in start["statusOf"]]
        self.minter_allowance = start["minterAllowance"]
        self.paused = bool(start["paused"])
        self.supply = 0
        #: Ghost: balance of each account that is not Active, as it was when it stopped being active.
        self.locked = {i: self.balance[i] for i in range(SLOTS) if self.status[i] is not Status.ACTIVE}
        self.last_permit: SignedPermit | None = None
        self.last_rejection: ContractRevertError | None = None
        self._observed: dict[str, Any] | None = None

    def teardown(self) -> None:
        evm_revert(self.chain, self.snapshot)

    # ------------------------------------------------------------------ reading the chain

    def _views(self) -> list[tuple[str, ViewCall]]:
        cash, registry, addresses = self.cash, self.registry, self.addresses
        views: list[tuple[str, ViewCall]] = [
            ("totalSupply", (cash, "totalSupply", ())),
            ("paused", (cash, "paused", ())),
            ("minterAllowance", (cash, "minterAllowance", (addresses[MINTER],))),
        ]
        views += [("balanceOf", (cash, "balanceOf", (a,))) for a in addresses]
        views += [("nonces", (cash, "nonces", (a,))) for a in addresses]
        views += [("statusOf", (registry, "statusOf", (a,))) for a in addresses]
        views += [("mirroredStatusOf", (cash, "mirroredStatusOf", (a,))) for a in addresses]
        views += [("allowance", (cash, "allowance", (o, s))) for o in addresses for s in addresses]
        return views

    def _read(self) -> dict[str, Any]:
        """Every value the model tracks, read from the chain in one batch."""
        words = read_words(self.chain, [call for _, call in self.views])
        state: dict[str, Any] = {"balanceOf": [], "nonces": [], "statusOf": [], "mirroredStatusOf": [], "allowance": {}}
        for (key, (_, _, args)), word in zip(self.views, words, strict=True):
            if key == "allowance":
                state[key][(self.addresses.index(args[0]), self.addresses.index(args[1]))] = word
            elif isinstance(state.get(key), list):
                state[key].append(word)
            else:
                state[key] = word
        return state

    def observed(self) -> dict[str, Any]:
        """The chain state after the last step (read once per step, shared by the invariants)."""
        if self._observed is None:
            self._observed = self._read()
        return self._observed

    # ------------------------------------------------------------------ acting

    def _attempt(self, call: ContractFunction, sender: LocalAccount, expected: Expected) -> TxReceipt | None:
        """Send ``call``; when the model expects a rejection, check its error and that nothing changed."""
        if expected is None:
            self._observed = None
            return self.chain.transact(call, sender)
        error, args = expected
        before = self.observed()
        with expect_revert(error, **args) as raised:
            self.chain.transact(call, sender)
        self.last_rejection = raised.value
        self._observed = None
        changed = [key for key, value in self.observed().items() if value != before[key]]
        assert not changed, f"the rejected {call.fn_name} changed {changed}"
        return None

    def _not_active(self, *slots: int) -> Expected:
        """The rejection for the first of ``slots`` that is not Active, if any."""
        for i in slots:
            if self.status[i] is not Status.ACTIVE:
                return "ComplianceAccountNotActive", {"account": self.addresses[i], "status": self.status[i]}
        return None

    def _move(self, source: int, receiver: int, amount: int) -> None:
        self.balance[source] -= amount
        self.balance[receiver] += amount

    # ------------------------------------------------------------------ choosing accounts

    def _draw_source(self, data: st.DataObject) -> int:
        """An account to move cash from: one that holds some, half of the time."""
        funded = [i for i in range(SLOTS) if self.balance[i] > 0]
        return data.draw(st.one_of(st.sampled_from(funded), slot) if funded else slot, label="source")

    def _draw_owner_and_spender(self, data: st.DataObject) -> tuple[int, int]:
        """An (owner, spender) pair: one with an allowance, half of the time."""
        approved = sorted(pair for pair, value in self.allowance.items() if value > 0)
        pairs = st.tuples(slot, slot)
        return data.draw(st.one_of(st.sampled_from(approved), pairs) if approved else pairs, label="owner, spender")

    # ------------------------------------------------------------------ issuance and redemption

    def _mint(self, to: int, amount: int) -> None:
        expected: Expected = None
        if amount == 0:
            expected = "CashZeroAmount", {}
        elif (inactive := self._not_active(MINTER)) is not None:
            expected = inactive
        elif amount > self.minter_allowance:
            expected = (
                "CashMinterAllowanceExceeded",
                {
                    "minter": self.addresses[MINTER],
                    "allowance": self.minter_allowance,
                    "amount": amount,
                },
            )
        elif self.paused:
            expected = "EnforcedPause", {}
        else:
            expected = self._not_active(to)
        receipt = self._attempt(self.cash.functions.mint(self.addresses[to], amount), self.accounts[MINTER], expected)
        if receipt is not None:
            assert events(self.cash, "Minted", receipt) == [
                {"minter": self.addresses[MINTER], "to": self.addresses[to], "amount": amount}
            ]
            self.balance[to] += amount
            self.supply += amount
            self.minter_allowance -= amount

    def _burn(self, portion: Portion) -> None:
        amount = amount_of(self.balance[BURNER], portion)
        expected: Expected = None
        if amount == 0:
            expected = "CashZeroAmount", {}
        elif self.paused:
            expected = "EnforcedPause", {}
        elif (inactive := self._not_active(BURNER)) is not None:
            expected = inactive
        elif amount > self.balance[BURNER]:
            expected = (
                "ERC20InsufficientBalance",
                {
                    "sender": self.addresses[BURNER],
                    "balance": self.balance[BURNER],
                    "needed": amount,
                },
            )
        receipt = self._attempt(self.cash.functions.burn(amount), self.accounts[BURNER], expected)
        if receipt is not None:
            assert events(self.cash, "Burned", receipt) == [{"burner": self.addresses[BURNER], "amount": amount}]
            self.balance[BURNER] -= amount
            self.supply -= amount

    @rule(to=slot, amount=amounts)
    def mint(self, to: int, amount: int) -> None:
        self._mint(to, amount)

    @rule(allowance=st.integers(0, 3 * MAX_AMOUNT))
    def configure_minter(self, allowance: int) -> None:
        call = self.cash.functions.configureMinter(self.addresses[MINTER], allowance)
        self._attempt(call, self.scene.roles.master_minter, None)
        self.minter_allowance = allowance

    @rule(data=st.data(), portion=share)
    def hand_cash_to_the_burner(self, data: st.DataObject, portion: Portion) -> None:
        self._transfer(self._draw_source(data), BURNER, portion)

    @precondition(lambda self: self.balance[BURNER] > 0)
    @rule(portion=share)
    def burn(self, portion: Portion) -> None:
        self._burn(portion)

    # ------------------------------------------------------------------ movements

    def _transfer_rejection(self, source: int, receiver: int, amount: int) -> Expected:
        """What `_update` rejects a movement of ``amount`` from ``source`` to ``receiver`` with."""
        if self.paused:
            return "EnforcedPause", {}
        inactive = self._not_active(source, receiver)
        if inactive is not None:
            return inactive
        if amount > self.balance[source]:
            return "ERC20InsufficientBalance", {
                "sender": self.addresses[source],
                "balance": self.balance[source],
                "needed": amount,
            }
        return None

    def _transfer(self, source: int, receiver: int, portion: Portion) -> None:
        amount = amount_of(self.balance[source], portion)
        expected = self._transfer_rejection(source, receiver, amount)
        call = self.cash.functions.transfer(self.addresses[receiver], amount)
        receipt = self._attempt(call, self.accounts[source], expected)
        if receipt is not None:
            assert events(self.cash, "Transfer", receipt) == [
                {"from": self.addresses[source], "to": self.addresses[receiver], "value": amount}
            ]
            self._move(source, receiver, amount)

    def _approval_rejection(self, owner: int, spender: int) -> Expected:
        """What `_approve` rejects a new approval (approve or permit) with."""
        if self.paused:
            return "EnforcedPause", {}
        return self._not_active(owner, spender)

    def _approve(self, owner: int, spender: int, value: int) -> None:
        expected = self._approval_rejection(owner, spender)
        call = self.cash.functions.approve(self.addresses[spender], value)
        receipt = self._attempt(call, self.accounts[owner], expected)
        if receipt is not None:
            assert events(self.cash, "Approval", receipt) == [
                {"owner": self.addresses[owner], "spender": self.addresses[spender], "value": value}
            ]
            self.allowance[(owner, spender)] = value

    def _transfer_from(self, owner: int, spender: int, receiver: int, portion: Portion) -> None:
        allowance = self.allowance[(owner, spender)]
        amount = amount_of(min(allowance, self.balance[owner]), portion)
        expected = self._not_active(spender)
        if expected is None and amount > allowance:
            expected = (
                "ERC20InsufficientAllowance",
                {
                    "spender": self.addresses[spender],
                    "allowance": allowance,
                    "needed": amount,
                },
            )
        if expected is None:
            expected = self._transfer_rejection(owner, receiver, amount)
        call = self.cash.functions.transferFrom(self.addresses[owner], self.addresses[receiver], amount)
        receipt = self._attempt(call, self.accounts[spender], expected)
        if receipt is not None:
            assert events(self.cash, "Transfer", receipt) == [
                {"from": self.addresses[owner], "to": self.addresses[receiver], "value": amount}
            ]
            self._move(owner, receiver, amount)
            self.allowance[(owner, spender)] -= amount

    @rule(data=st.data(), receiver=slot, portion=share)
    def transfer(self, data: st.DataObject, receiver: int, portion: Portion) -> None:
        self._transfer(self._draw_source(data), receiver, portion)

    @rule(owner=slot, spender=slot, value=amounts)
    def approve(self, owner: int, spender: int, value: int) -> None:
        self._approve(owner, spender, value)

    @rule(data=st.data(), receiver=slot, portion=share)
    def transfer_from(self, data: st.DataObject, receiver: int, portion: Portion) -> None:
        owner, spender = self._draw_owner_and_spender(data)
        self._transfer_from(owner, spender, receiver, portion)

    # ------------------------------------------------------------------ permits

    def _submit_permit(self, permit: SignedPermit) -> None:
        v, r, s = permit.signature
        owner, spender = self.addresses[permit.owner], self.addresses[permit.spender]
        call = self.cash.functions.permit(owner, spender, permit.value, permit.deadline, v, r, s)
        expected: Expected
        if permit.deadline < latest_timestamp(self.chain):
            expected = "ERC2612ExpiredSignature", {"deadline": permit.deadline}
        elif permit.nonce != self.nonce[permit.owner]:
            expected = "ERC2612InvalidSigner", {"owner": owner}
        else:
            expected = self._approval_rejection(permit.owner, permit.spender)
        if self._attempt(call, self.accounts[permit.spender], expected) is not None:
            self.allowance[(permit.owner, permit.spender)] = permit.value
            self.nonce[permit.owner] += 1
        elif expected is not None and expected[0] == "ERC2612InvalidSigner":
            # A stale nonce makes the signature recover to some unrelated address.
            assert self.last_rejection is not None
            assert self.last_rejection.args_by_name["signer"] != owner

    def _permit(self, owner: int, spender: int, value: int, expired: bool) -> None:
        now = latest_timestamp(self.chain)
        deadline = now - 1 if expired else now + 3_600
        nonce = self.nonce[owner]
        signature = self.scene.domain.sign(self.accounts[owner], self.addresses[spender], value, nonce, deadline)
        self.last_permit = SignedPermit(owner, spender, value, nonce, deadline, signature)
        self._submit_permit(self.last_permit)

    @rule(owner=slot, spender=slot, value=amounts, expired=st.booleans())
    def permit(self, owner: int, spender: int, value: int, expired: bool) -> None:
        self._permit(owner, spender, value, expired)

    @precondition(lambda self: self.last_permit is not None)
    @rule()
    def replay_the_last_permit(self) -> None:
        assert self.last_permit is not None
        self._submit_permit(self.last_permit)

    # ------------------------------------------------------------------ compliance and pause

    @rule(index=member, operation=st.sampled_from(["freeze", "unfreeze", "offboard", "onboard"]))
    def change_status(self, index: int, operation: str) -> None:
        before = self.status[index]
        after = TRANSITIONS.get((before, operation))
        expected: Expected = None
        if after is None:
            expected = "ComplianceInvalidStatus", {"account": self.addresses[index], "actual": before}
        call = self.registry.functions[operation](self.addresses[index])
        if self._attempt(call, self.scene.roles.officer, expected) is not None:
            assert after is not None
            self.status[index] = after
            if after is Status.ACTIVE:
                self.locked.pop(index, None)
            else:
                self.locked.setdefault(index, self.balance[index])

    @rule(data=st.data(), action=st.sampled_from(["mint", "burn", "transfer", "approve", "transfer_from", "permit"]))
    def try_while_paused(self, data: st.DataObject, action: str) -> None:
        """Pause, attempt one movement (which must be rejected), unpause."""
        self._attempt(self.cash.functions.pause(), self.scene.roles.pauser, None)
        self.paused = True
        if action == "mint":
            self._mint(data.draw(slot), data.draw(amounts))
        elif action == "burn":
            self._burn(data.draw(share))
        elif action == "transfer":
            self._transfer(self._draw_source(data), data.draw(slot), data.draw(share))
        elif action == "approve":
            self._approve(data.draw(slot), data.draw(slot), data.draw(amounts))
        elif action == "transfer_from":
            self._transfer_from(*self._draw_owner_and_spender(data), data.draw(slot), data.draw(share))
        else:
            self._permit(data.draw(slot), data.draw(slot), data.draw(amounts), data.draw(st.booleans()))
        self._attempt(self.cash.functions.unpause(), self.scene.roles.pauser, None)
        self.paused = False

    # ------------------------------------------------------------------ invariants

    @invariant()
    def total_supply_equals_the_sum_of_balances(self) -> None:
        observed = self.observed()
        assert observed["totalSupply"] == sum(observed["balanceOf"])
        assert observed["totalSupply"] == self.supply

    @invariant()
    def balances_match_the_model(self) -> None:
        assert self.observed()["balanceOf"] == self.balance

    @invariant()
    def accounts_that_are_not_active_neither_send_nor_receive(self) -> None:
        balances = self.observed()["balanceOf"]
        for index, locked in self.locked.items():
            assert balances[index] == locked, f"{self.addresses[index]} moved cash while not active"

    @invariant()
    def allowances_nonces_and_minter_allowance_match_the_model(self) -> None:
        observed = self.observed()
        assert observed["allowance"] == self.allowance
        assert observed["nonces"] == self.nonce
        assert observed["minterAllowance"] == self.minter_allowance
        assert bool(observed["paused"]) is self.paused

    @invariant()
    def the_mirror_equals_the_registry(self) -> None:
        observed = self.observed()
        assert observed["statusOf"] == self.status
        assert observed["mirroredStatusOf"] == observed["statusOf"]


def test_cash_token_follows_its_model_through_random_operation_sequences(
    chain: Chain, registry: Contract, cash: Contract, roles: Roles
) -> None:
    scene = Scene(chain=chain, registry=registry, cash=cash, roles=roles, domain=PermitDomain.of(cash))
    machine = type("CashTokenOnChain", (CashTokenModel,), {"scene": scene})
    run_state_machine_as_test(machine, settings=settings(max_examples=examples(8), stateful_step_count=18))
