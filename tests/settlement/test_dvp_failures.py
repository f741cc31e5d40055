"""Every reason a settlement cannot happen: nothing moves, alone or in a batch, and the batch settles the rest.

Each case signs a valid-looking instruction first and breaks the world afterwards where it can
(allowances, statuses, pauses), so the checks are shown to run at settlement time, not at
agreement time. "Nothing moves" is asserted on every balance of both tokens (members, newcomers,
the outsider and the settlement contract) and on each token's supply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from web3.contract import Contract

from dfmi_py.signing import sign_typed
from dfmi_py.signing.settlement import Instruction, instruction_message
from tests.helpers import expect_revert, leaves_unchanged
from tests.settlement.conftest import CASH, PRICE, QUANTITY, SHARES, State, World


@dataclass(frozen=True)
class Case:
    """A settlement that must fail: how to set it up, and the error it fails with."""

    name: str
    #: Builds the instruction and its signatures, and breaks whatever must be broken.
    prepare: Callable[[World], tuple[Instruction, bytes, bytes]]
    error: str
    #: The error's arguments that the case pins down (given the instruction's id).
    args: Callable[[World, Instruction, bytes], dict[str, Any]]
    #: The state the instruction is left in.
    state: State = State.PENDING
    #: False when the cause stops every instruction in the same tokens (a frozen settlement
    #: contract, a paused token): see the tests at the end for those in a batch.
    local: bool = True


def _signed(world: World, instruction: Instruction) -> tuple[Instruction, bytes, bytes]:
    return (instruction, *world.signatures(instruction))


def _signed_by_another_key(world: World, instruction: Instruction) -> tuple[Instruction, bytes, bytes]:
    """The seller's slot holds member 2's valid signature of the very same instruction."""
    other = sign_typed(world.roles.members[2], instruction_message(world.domain(), instruction)).packed()
    return instruction, other, world.sign(world.buyer, instruction)


def _then(action: Callable[[World], Any]) -> Callable[[World], tuple[Instruction, bytes, bytes]]:
    """Sign the typical DvP, then do ``action``."""

    def prepare(world: World) -> tuple[Instruction, bytes, bytes]:
        signed = _signed(world, world.dvp())
        action(world)
        return signed

    return prepare


def _status(world: World, name: str, account: str) -> None:
    world.chain.transact(world.registry.functions[name](account), world.roles.officer)


def _approve(world: World, token: str, owner: Any, amount: int) -> None:
    contract = world.security if token == "security" else world.usd
    world.chain.transact(contract.functions.approve(world.settlement.address, amount), owner)


def _pause(world: World, token: str) -> None:
    contract = world.security if token == "security" else world.usd
    world.chain.transact(contract.functions.pause(), world.roles.pauser)


CASES = [
    Case(
        "seller lacks the security",
        lambda w: _signed(w, w.dvp(quantity=SHARES + 1)),
        "ERC20InsufficientBalance",
        lambda w, i, id_: {"sender": w.seller, "balance": SHARES, "needed": SHARES + 1},
    ),
    Case(
        "buyer lacks the cash (the second leg fails after the first moved)",
        lambda w: _signed(w, w.dvp(price=CASH + 1)),
        "ERC20InsufficientBalance",
        lambda w, i, id_: {"sender": w.buyer, "balance": CASH, "needed": CASH + 1},
    ),
    Case(
        "seller revoked its allowance after signing",
        _then(lambda w: _approve(w, "security", w.seller, 0)),
        "ERC20InsufficientAllowance",
        lambda w, i, id_: {"spender": w.settlement.address, "allowance": 0, "needed": QUANTITY},
    ),
    Case(
        "buyer's allowance falls one unit short",
        _then(lambda w: _approve(w, "cash", w.buyer, PRICE - 1)),
        "ERC20InsufficientAllowance",
        lambda w, i, id_: {"spender": w.settlement.address, "allowance": PRICE - 1, "needed": PRICE},
    ),
    Case(
        "buyer never onboarded",
        lambda w: _signed(w, w.dvp(buyer=w.roles.newcomers[0])),
        "ComplianceAccountNotActive",
        lambda w, i, id_: {"account": w.roles.newcomers[0], "status": 0},
    ),
    Case(
        "seller frozen after signing",
        _then(lambda w: _status(w, "freeze", w.seller.address)),
        "ComplianceAccountNotActive",
        lambda w, i, id_: {"account": w.seller, "status": 2},
    ),
    Case(
        "buyer frozen after signing",
        _then(lambda w: _status(w, "freeze", w.buyer.address)),
        "ComplianceAccountNotActive",
        lambda w, i, id_: {"account": w.buyer, "status": 2},
    ),
    Case(
        "buyer offboarded after signing",
        _then(lambda w: _status(w, "offboard", w.buyer.address)),
        "ComplianceAccountNotActive",
        lambda w, i, id_: {"account": w.buyer, "status": 0},
    ),
    Case(
        "settlement contract frozen (it is the tokens' spender)",
        _then(lambda w: _status(w, "freeze", w.settlement.address)),
        "ComplianceAccountNotActive",
        lambda w, i, id_: {"account": w.settlement.address, "status": 2},
        local=False,
    ),
    Case(
        "security paused",
        _then(lambda w: _pause(w, "security")),
        "EnforcedPause",
        lambda w, i, id_: {},
        local=False,
    ),
    Case(
        "cash paused (the second leg fails after the first moved)",
        _then(lambda w: _pause(w, "cash")),
        "EnforcedPause",
        lambda w, i, id_: {},
        local=False,
    ),
    Case(
        "deadline passed",
        lambda w: _signed(w, w.dvp(deadline=w.now() - 1)),
        "SettlementExpired",
        lambda w, i, id_: {"id": id_, "deadline": i.deadline},
        State.EXPIRED,
    ),
    Case(
        "buyer's signature missing",
        lambda w: (lambda i: (i, w.sign(w.seller, i), b""))(w.dvp()),
        "SettlementUnauthorized",
        lambda w, i, id_: {"id": id_, "party": w.buyer},
    ),
    Case(
        "seller's signature made by another key",
        lambda w: _signed_by_another_key(w, w.dvp()),
        "SettlementUnauthorized",
        lambda w, i, id_: {"id": id_, "party": w.seller},
    ),
    Case(
        "a malformed signature",
        lambda w: (lambda i: (i, w.sign(w.seller, i)[:64], w.sign(w.buyer, i)))(w.dvp()),
        "SettlementUnauthorized",
        lambda w, i, id_: {"id": id_, "party": w.seller},
    ),
    Case(
        "a zero amount",
        lambda w: _signed(w, w.dvp(quantity=0)),
        "SettlementZeroAmount",
        lambda w, i, id_: {"id": id_},
    ),
    Case(
        "one party on both sides",
        lambda w: _signed(w, w.dvp(buyer=w.seller)),
        "SettlementSameParty",
        lambda w, i, id_: {"id": id_, "party": w.seller},
    ),
    Case(
        "one token on both legs",
        lambda w: _signed(w, w.dvp().but(token_b=w.security.address)),
        "SettlementSameToken",
        lambda w, i, id_: {"id": id_, "token": w.security.address},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_settlement_that_cannot_happen_moves_nothing(world: World, books, case: Case) -> None:
    instruction, sig_a, sig_b = case.prepare(world)
    id_ = world.id_of(instruction)
    with leaves_unchanged(books), expect_revert(case.error, **case.args(world, instruction, id_)):
        world.settle(instruction, sig_a, sig_b)
    assert world.state(instruction) == case.state


LOCAL_CASES = [c for c in CASES if c.local]


@pytest.mark.parametrize("case", LOCAL_CASES, ids=[c.name for c in LOCAL_CASES])
def test_a_batch_reports_the_failure_and_settles_the_rest(world: World, books, case: Case) -> None:
    bad, sig_a, sig_b = case.prepare(world)
    m = world.roles.members
    # Two good instructions between members the cases leave alone, before and after the bad one.
    first, last = world.dvp(m[2], m[3], nonce=100), world.dvp(m[3], m[2], nonce=101, quantity=7, price=9)
    before = books()
    receipt = world.settle_batch([world.signed(first), (bad, sig_a, sig_b), world.signed(last)])
    outcomes = world.outcomes(receipt)
    assert [(id_, ok) for id_, ok, _ in outcomes] == [
        (world.id_of(first), True),
        (world.id_of(bad), False),
        (world.id_of(last), True),
    ]
    error, args = world.decode(outcomes[1][2])
    assert error == case.error
    expected = case.args(world, bad, world.id_of(bad))
    plain = {k: ("0x" + v.hex() if isinstance(v, bytes) else getattr(v, "address", v)) for k, v in expected.items()}
    assert {k: args[k] for k in plain} == plain
    after = books()
    changed = {k: after[k] - before[k] for k in before if after[k] != before[k]}
    assert changed == {
        f"ACME30:{m[2].address}": -QUANTITY + 7,
        f"ACME30:{m[3].address}": QUANTITY - 7,
        f"DSD:{m[2].address}": PRICE - 9,
        f"DSD:{m[3].address}": -PRICE + 9,
    }
    assert world.state(bad) == case.state


def test_a_failed_instruction_stays_pending_and_settles_once_the_cause_is_gone(world: World, books) -> None:
    instruction, sig_a, sig_b = _then(lambda w: _status(w, "freeze", w.seller.address))(world)
    receipt = world.settle_batch([(instruction, sig_a, sig_b)])
    assert [ok for _, ok, _ in world.outcomes(receipt)] == [False]
    assert world.state(instruction) == State.PENDING
    _status(world, "unfreeze", world.seller.address)
    before = books()
    world.settle(instruction, sig_a, sig_b)
    after = books()
    assert after[f"ACME30:{world.buyer.address}"] - before[f"ACME30:{world.buyer.address}"] == QUANTITY
    assert world.state(instruction) == State.SETTLED


def test_compliance_is_checked_at_settlement_not_at_agreement(world: World, books) -> None:
    """A party frozen when the instruction was agreed and unfrozen before settlement settles."""
    _status(world, "freeze", world.buyer.address)
    instruction = world.dvp()
    world.propose(instruction, world.seller)
    world.chain.transact(world.settlement.functions.affirm(instruction.as_tuple()), world.buyer)
    assert world.state(instruction) == State.AFFIRMED
    _status(world, "unfreeze", world.buyer.address)
    world.settle(instruction, b"", b"")
    assert world.state(instruction) == State.SETTLED


def test_a_paused_security_fails_its_dvps_while_a_pvp_in_the_batch_settles(world: World, eur: Contract, books) -> None:
    m = world.roles.members
    dvp = world.dvp(m[0], m[1])
    pvp = world.dvp(m[2], m[3]).but(token_a=eur.address, amount_a=11, amount_b=13)
    _pause(world, "security")
    before = books(eur)
    receipt = world.settle_batch([world.signed(dvp), world.signed(pvp)])
    outcomes = world.outcomes(receipt)
    assert [ok for _, ok, _ in outcomes] == [False, True]
    assert world.decode(outcomes[0][2]) == ("EnforcedPause", {})
    after = books(eur)
    assert {k: after[k] - before[k] for k in before if after[k] != before[k]} == {
        f"DSE:{m[2].address}": -11,
        f"DSE:{m[3].address}": 11,
        f"DSD:{m[2].address}": 13,
        f"DSD:{m[3].address}": -13,
    }


def test_a_frozen_settlement_contract_fails_every_instruction_of_a_batch_and_moves_nothing(world: World, books) -> None:
    m = world.roles.members
    items = [world.signed(world.dvp(m[0], m[1])), world.signed(world.dvp(m[2], m[3]))]
    _status(world, "freeze", world.settlement.address)
    with leaves_unchanged(books):
        receipt = world.settle_batch(items)
    outcomes = world.outcomes(receipt)
    assert [ok for _, ok, _ in outcomes] == [False, False]
    assert {world.decode(reason)[0] for _, _, reason in outcomes} == {"ComplianceAccountNotActive"}
