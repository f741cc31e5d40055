"""Property test: random batches of DvP and PvP instructions against a Python model.

Hypothesis draws a batch of up to eight instructions between members (some funded, some not, one
never onboarded), with random amounts (some beyond the holdings), colliding nonces, expired
deadlines and bad signatures, after freezing some members and revoking some allowances. The
model settles the batch in order as the contracts should: each instruction settles when its
deadline holds, its pair's nonce is unspent, both signatures verify and both legs can move (the
token checks the allowance, then both ends' status, then the balance), and moves exactly its two
legs. Checked for every batch:

- the outcome of every instruction (settled, or the error that stopped it) is the model's;
- for each token, the sum of all balances equals the supply and did not change;
- every balance equals the model's, and the settlement contract holds nothing;
- every settled instruction's frame logged exactly its two ``Transfer``\\ s and nothing else moved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from web3.contract import Contract

from dfmi_py.signing.settlement import Instruction, instruction_id
from tests.helpers import ViewCall, evm_revert, evm_snapshot, examples, read_words
from tests.settlement.conftest import CASH, FUNDED, SHARES, World

#: Accounts the instructions draw from: members 0-5 (0-3 funded) and a newcomer never onboarded.
PARTIES = 7
NEWCOMER = 6


@dataclass(frozen=True)
class Spec:
    """One drawn instruction."""

    a: int
    b: int
    pvp: bool
    amount_a: int
    amount_b: int
    nonce: int
    expired: bool
    bad_signature: bool


specs = st.builds(
    Spec,
    a=st.integers(0, PARTIES - 1),
    b=st.integers(0, PARTIES - 1),
    pvp=st.booleans(),
    amount_a=st.one_of(st.integers(1, SHARES // 4), st.integers(1, 2 * SHARES)),
    amount_b=st.one_of(st.integers(1, CASH // 4), st.integers(1, 2 * CASH)),
    nonce=st.integers(0, 2),
    expired=st.integers(0, 7).map(lambda x: x == 0),
    bad_signature=st.integers(0, 9).map(lambda x: x == 0),
)


class Model:
    """Balances, allowances, statuses and spent nonces, as the contracts should hold them."""

    def __init__(self, balances: dict[tuple[str, str], int], tokens: list[str], parties: list[str]) -> None:
        self.tokens = tokens
        self.parties = parties
        self.balance = {(t, p): balances[(t, p)] for t in tokens for p in parties}
        # Only the funded members approved the settlement contract.
        self.allowance_ok = {(t, p): i < FUNDED for t in self.tokens for i, p in enumerate(parties)}
        self.active = {p: True for p in parties}
        self.spent: set[tuple[frozenset[str], int]] = set()

    def settle(self, ins: Instruction, expired: bool, bad_signature: bool) -> str | None:
        """Apply ``ins`` if it settles; the error name when it does not."""
        if expired:
            return "SettlementExpired"
        if ins.party_a == ins.party_b:
            return "SettlementSameParty"
        key = (frozenset((ins.party_a, ins.party_b)), ins.nonce)
        if key in self.spent:
            return "SettlementNonceUsed"
        if bad_signature:
            return "SettlementUnauthorized"
        for token, sender, receiver, amount in (
            (ins.token_a, ins.party_a, ins.party_b, ins.amount_a),
            (ins.token_b, ins.party_b, ins.party_a, ins.amount_b),
        ):
            if not self.allowance_ok[(token, sender)]:
                return "ERC20InsufficientAllowance"
            if not (self.active[sender] and self.active[receiver]):
                return "ComplianceAccountNotActive"
            if self.balance[(token, sender)] < amount:
                return "ERC20InsufficientBalance"
        # Both legs can move (the legs are in different tokens, so the first does not change the
        # second's balances).
        self.balance[(ins.token_a, ins.party_a)] -= ins.amount_a
        self.balance[(ins.token_a, ins.party_b)] += ins.amount_a
        self.balance[(ins.token_b, ins.party_b)] -= ins.amount_b
        self.balance[(ins.token_b, ins.party_a)] += ins.amount_b
        self.spent.add(key)
        return None


@settings(max_examples=examples(12))
@given(
    batch=st.lists(specs, min_size=1, max_size=8),
    frozen=st.sets(st.integers(0, 5), max_size=2),
    revoked=st.sets(st.tuples(st.integers(0, FUNDED - 1), st.integers(0, 2)), max_size=2),
)
def test_random_batches_conserve_every_token_and_move_exactly_the_settled_legs(
    world: World, eur: Contract, batch: list[Spec], frozen: set[int], revoked: set[tuple[int, int]]
) -> None:
    snapshot = evm_snapshot(world.chain)
    try:
        _check_batch(world, eur, batch, frozen, revoked)
    finally:
        evm_revert(world.chain, snapshot)


def _check_batch(
    world: World, eur: Contract, batch: list[Spec], frozen: set[int], revoked: set[tuple[int, int]]
) -> None:
    tokens = [world.security, world.usd, eur]
    accounts = [*world.roles.members, world.roles.newcomers[0]]
    parties = [a.address for a in accounts]
    holders = [*parties, world.roles.newcomers[1].address, world.issuer.address, world.settlement.address]
    supply_before, before = _read(world, tokens, holders)
    assert [sum(before[(t.address, h)] for h in holders) for t in tokens] == supply_before

    model = Model(before, [t.address for t in tokens], parties)
    model.active[parties[NEWCOMER]] = False
    # Revoke first: a frozen account cannot approve.
    for member, token_index in sorted(revoked):
        token = tokens[token_index]
        world.chain.transact(token.functions.approve(world.settlement.address, 0), accounts[member])
        model.allowance_ok[(token.address, parties[member])] = False
    for index in sorted(frozen):
        world.chain.transact(world.registry.functions.freeze(parties[index]), world.roles.officer)
        model.active[parties[index]] = False

    now = world.now()
    items: list[tuple[Instruction, bytes, bytes]] = []
    expected: list[str | None] = []
    for spec in batch:
        token_a, token_b = (world.usd, eur) if spec.pvp else (world.security, world.usd)
        deadline = now - 1 if spec.expired else now + 3600
        ins = Instruction(
            parties[spec.a], token_a.address, spec.amount_a, parties[spec.b], token_b.address, spec.amount_b,
            deadline, spec.nonce,
        )  # fmt: skip
        sig_a, sig_b = world.signatures(ins) if spec.a != spec.b else (b"", b"")
        if spec.bad_signature:
            sig_b = sig_a  # party A's signature in party B's slot
        items.append((ins, sig_a, sig_b))
        expected.append(model.settle(ins, spec.expired, spec.bad_signature))

    receipt = world.settle_batch(items)

    outcomes = world.outcomes(receipt)
    domain = world.domain()
    assert [id_ for id_, _, _ in outcomes] == [instruction_id(domain, ins) for ins, _, _ in items]
    actual = [None if ok else world.decode(reason)[0] for _, ok, reason in outcomes]
    assert actual == expected

    supply_after, after = _read(world, tokens, holders)
    assert supply_after == supply_before
    assert [sum(after[(t.address, h)] for h in holders) for t in tokens] == supply_before
    for token in tokens:
        assert after[(token.address, world.settlement.address)] == 0
        for party in parties:
            assert after[(token.address, party)] == model.balance[(token.address, party)], (token.address, party)

    _check_legs(world, tokens, receipt, items, expected)


def _read(world: World, tokens: list[Contract], holders: list[str]) -> tuple[list[int], dict[tuple[str, str], int]]:
    """Each token's supply, and every holder's balance by ``(token, holder)``, in one batch."""
    calls: list[ViewCall] = [(t, "totalSupply", ()) for t in tokens]
    calls += [(t, "balanceOf", (h,)) for t in tokens for h in holders]
    words = read_words(world.chain, calls)
    balances = {(t.address, h): w for (t, _, (h,)), w in zip(calls[len(tokens) :], words[len(tokens) :], strict=True)}
    return words[: len(tokens)], balances


def _check_legs(
    world: World,
    tokens: list[Contract],
    receipt: Any,
    items: list[tuple[Instruction, bytes, bytes]],
    expected: list[str | None],
) -> None:
    """Walk the logs: each settled instruction's event is followed by exactly its two transfers."""
    token_addresses = {t.address for t in tokens}
    groups: list[list[tuple[str, str, str, int]]] = []
    for log in receipt["logs"]:
        if log["address"] == world.settlement.address:
            groups.append([])
        elif log["address"] in token_addresses:
            transfer = tokens[0].events.Transfer().process_log(log)
            args = transfer["args"]
            groups[-1].append((log["address"], args["from"], args["to"], args["value"]))
    assert len(groups) == len(items)
    for (ins, _, _), error, group in zip(items, expected, groups, strict=True):
        legs = [
            (ins.token_a, ins.party_a, ins.party_b, ins.amount_a),
            (ins.token_b, ins.party_b, ins.party_a, ins.amount_b),
        ]
        assert group == (legs if error is None else [])
