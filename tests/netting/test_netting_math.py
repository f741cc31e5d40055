"""The off-chain netting arithmetic (dfmi_py.netting), without a chain: the paper's example,
exclusions, and properties of random obligation graphs."""

from __future__ import annotations

from fractions import Fraction

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from dfmi_py.errors import InputError
from dfmi_py.netting import (
    Compression,
    NetsMismatchError,
    Obligation,
    compression,
    credit_losses,
    exclude,
    member_order,
    net_positions,
    net_vector,
    resolve_round,
    verify_nets,
)
from tests.helpers import examples

#: Fixed addresses for the graphs (no keys needed off-chain).
PARTIES = [Account.from_key(i.to_bytes(32, "big")).address for i in range(1, 13)]
P1, P2, P3 = PARTIES[:3]


def paper_example() -> list[Obligation]:
    """The paper's Figure 2: P1 owes 40 to P2 and 50 to P3, P3 owes 60 to P2."""
    return [Obligation(1, P1, P2, 40), Obligation(1, P1, P3, 50), Obligation(1, P3, P2, 60)]


# ---------------------------------------------------------------------- the paper's vector


def test_paper_example_nets() -> None:
    nets = net_positions(paper_example())
    assert nets == {P1: -90, P2: 100, P3: -10}
    assert member_order(paper_example()) == [P1, P2, P3]
    assert net_vector(paper_example(), [P1, P2, P3]) == [-90, 100, -10]


def test_paper_example_compression() -> None:
    c = compression(paper_example())
    assert c == Compression(gross=150, net=100)
    assert c.saved == 50
    assert c.ratio == Fraction(1, 3)


def test_paper_example_exclusion_of_p3() -> None:
    """P3 cannot fund its 10: without it only P1 -> P2 40 remains; P2 loses exactly P3's 60."""
    outcome = resolve_round(paper_example(), available={P1: 90, P2: 0, P3: 9})
    assert outcome.excluded == [P3]
    assert outcome.obligations == [Obligation(1, P1, P2, 40)]
    assert outcome.nets == {P1: -40, P2: 40, P3: 0}
    assert outcome.compression == Compression(gross=40, net=40)
    assert outcome.losses == {P2: 60}


def test_resolve_round_settles_everyone_when_funded() -> None:
    outcome = resolve_round(paper_example(), available={P1: 90, P3: 10})
    assert outcome.excluded == []
    assert outcome.nets == {P1: -90, P2: 100, P3: -10}
    assert outcome.losses == {}


def test_resolve_round_excludes_an_inactive_creditor() -> None:
    """P2 cannot receive (not onboarded): it goes, and then nobody owes anything but P1 -> P3."""
    outcome = resolve_round(paper_example(), available={P1: 90, P3: 10}, inactive=[P2])
    assert outcome.excluded == [P2]
    assert outcome.nets == {P1: -50, P2: 0, P3: 50}
    assert outcome.losses == {}


def test_exclusion_can_cascade() -> None:
    """B pays C only what A pays it: A's default makes B short, and B goes too."""
    a, b, c, d = PARTIES[:4]
    obligations = [Obligation(1, a, b, 100), Obligation(1, b, c, 100), Obligation(1, d, c, 5)]
    outcome = resolve_round(obligations, available={a: 0, b: 0, d: 5})
    assert outcome.excluded == [a, b]
    assert outcome.nets == {a: 0, b: 0, c: 5, d: -5}
    # Losses are counted for the members that remain: C is not paid the 100 B owed it.
    assert outcome.losses == {c: 100}


def test_verify_nets_names_the_first_wrong_member() -> None:
    members = [P1, P2, P3]
    verify_nets(paper_example(), members, [-90, 100, -10])
    with pytest.raises(NetsMismatchError) as info:
        verify_nets(paper_example(), members, [-80, 90, -10])
    assert (info.value.member, info.value.expected, info.value.given) == (P1, -90, -80)
    with pytest.raises(NetsMismatchError, match="sum to 1"):
        verify_nets(paper_example(), members, [-90, 100, -9])
    with pytest.raises(NetsMismatchError, match="2 nets for a round of 3"):
        verify_nets(paper_example(), members, [-90, 90])


def test_obligation_rejects_bad_input() -> None:
    with pytest.raises(InputError, match="payer is not an Ethereum address"):
        Obligation(1, "0x123", P2, 1)
    with pytest.raises(InputError, match="ref must be 32 bytes"):
        Obligation(1, P1, P2, 1, b"short")
    with pytest.raises(InputError, match="amount must be an integer"):
        Obligation(1, P1, P2, -1)
    with pytest.raises(InputError, match="cannot owe itself"):
        Obligation(1, P1, P1, 1).validate()
    with pytest.raises(InputError, match=r"\[1, 2\*\*96 - 1\]"):
        Obligation(1, P1, P2, 2**96).validate()
    with pytest.raises(InputError, match="outside the round's members"):
        net_vector(paper_example(), [P1, P2])
    assert Obligation(1, P1, P2, 1, 7).ref == (7).to_bytes(32, "big")


# ---------------------------------------------------------------------- properties

amounts = st.integers(min_value=1, max_value=10**12)


@st.composite
def graphs(draw: st.DrawFn, max_members: int = 12, max_obligations: int = 60) -> list[Obligation]:
    """A random obligation graph among up to ``max_members`` parties."""
    size = draw(st.integers(min_value=2, max_value=max_members))
    parties = PARTIES[:size]
    edges = draw(
        st.lists(
            st.tuples(st.sampled_from(parties), st.sampled_from(parties), amounts).filter(lambda e: e[0] != e[1]),
            min_size=1,
            max_size=max_obligations,
        )
    )
    return [Obligation(1, payer, payee, amount, i) for i, (payer, payee, amount) in enumerate(edges)]


@settings(max_examples=examples(100))
@given(graphs())
def test_nets_sum_to_zero_and_net_value_never_exceeds_gross(obligations: list[Obligation]) -> None:
    nets = net_positions(obligations)
    assert sum(nets.values()) == 0
    c = compression(obligations)
    assert c.gross == sum(o.amount for o in obligations)
    assert 0 <= c.net <= c.gross
    # A ratio of 1 is full compression: every obligation cancels (e.g. A owes B what B owes A).
    assert 0 <= c.ratio <= 1
    assert (c.ratio == 1) == (c.net == 0)
    # Each member's net is what it is owed minus what it owes.
    for member, net in nets.items():
        incoming = sum(o.amount for o in obligations if o.payee == member)
        outgoing = sum(o.amount for o in obligations if o.payer == member)
        assert net == incoming - outgoing


@settings(max_examples=examples(100))
@given(graphs(), st.data())
def test_a_tampered_vector_is_always_rejected(obligations: list[Obligation], data: st.DataObject) -> None:
    members = member_order(obligations)
    nets = net_vector(obligations, members)
    verify_nets(obligations, members, nets)
    index = data.draw(st.integers(min_value=0, max_value=len(nets) - 1))
    delta = data.draw(st.integers(min_value=-(10**12), max_value=10**12).filter(bool))
    tampered = list(nets)
    tampered[index] += delta
    if data.draw(st.booleans()):
        # Keep the sum at zero: the per-member check alone must catch it.
        other = (index + 1) % len(nets)
        tampered[other] -= delta
    with pytest.raises(NetsMismatchError):
        verify_nets(obligations, members, tampered)


@settings(max_examples=examples(100))
@given(graphs(), st.data())
def test_exclusion_costs_only_direct_counterparties(obligations: list[Obligation], data: st.DataObject) -> None:
    """After any exclusions, a member's net changes by exactly its dropped obligations with them."""
    members = member_order(obligations)
    out = data.draw(st.lists(st.sampled_from(members), unique=True, max_size=len(members) - 1))
    before = net_positions(obligations)
    remaining = exclude(obligations, out)
    after = net_positions(remaining, members)
    assert sum(after.values()) == 0
    losses = credit_losses(obligations, out)
    for member in members:
        if member in out:
            assert after[member] == 0
            continue
        dropped = [o for o in obligations if o.involves(member) and (o.payer in out or o.payee in out)]
        owed_by_them = sum(o.amount for o in dropped if o.payee == member)
        owed_to_them = sum(o.amount for o in dropped if o.payer == member)
        assert after[member] == before[member] - owed_by_them + owed_to_them
        assert losses.get(member, 0) == owed_by_them
        if not dropped:
            assert after[member] == before[member]


@settings(max_examples=examples(100))
@given(graphs(), st.data())
def test_resolved_round_leaves_nobody_short(obligations: list[Obligation], data: st.DataObject) -> None:
    members = member_order(obligations)
    available = {m: data.draw(st.integers(min_value=0, max_value=3 * 10**12)) for m in members}
    outcome = resolve_round(obligations, available)
    assert sum(outcome.nets.values()) == 0
    for member in members:
        net = outcome.nets[member]
        if member in outcome.excluded:
            assert net == 0
        else:
            assert net >= 0 or available[member] >= -net
    assert outcome.nets == net_positions(exclude(obligations, outcome.excluded), members)
    assert outcome.compression.net <= outcome.compression.gross
