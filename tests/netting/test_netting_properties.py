"""Properties of netting rounds on-chain, for random obligation graphs among the six members.

Each example registers a random graph in one signed batch, closes the round, checks that a
tampered vector of nets is rejected and the computed one accepted, funds every debtor in a random
way (allowance, pre-funding, both, or short), excludes whoever cannot pay after the deadline and
settles. Then:

- the nets sum to zero and the net value moved never exceeds the gross value;
- every member's wallet-plus-escrow changes by exactly its final net (from dfmi_py.netting's
  recomputation), excluded members by nothing;
- a remaining member's shortfall against its first net is exactly what the excluded members owed
  it minus what it owed them: nobody else is touched;
- cash is conserved: the supply is unchanged and the contract holds exactly the escrow it books.
"""

from __future__ import annotations

from typing import Any

from eth_account.signers.local import LocalAccount
from hypothesis import event, given, settings
from hypothesis import strategies as st

from dfmi_py.netting import exclude, member_order, net_positions, resolve_round
from tests.contracts.conftest import send_setup
from tests.helpers import examples, expect_revert, read_words
from tests.netting.conftest import USD, NettingWorld

MEMBERS = 6
#: How a debtor covers its net debit: approve it, pre-fund it, half of each, or fall one unit short.
FUNDING = st.sampled_from(["approve", "prefund", "split", "short"])


@st.composite
def graphs(draw: st.DrawFn) -> list[tuple[int, int, int]]:
    """Up to 12 obligations ``(payer index, payee index, amount)`` among the six members."""
    edge = st.tuples(st.integers(0, MEMBERS - 1), st.integers(0, MEMBERS - 1), st.integers(1, 1_000 * USD)).filter(
        lambda e: e[0] != e[1]
    )
    return draw(st.lists(edge, min_size=1, max_size=12))


@settings(max_examples=examples(8))
@given(edges=graphs(), data=st.data())
def test_random_rounds_settle_exactly_their_nets(world: NettingWorld, edges: list[Any], data: st.DataObject) -> None:
    n = world.netting
    accounts = world.members
    outsider = world.roles.outsider
    round_id = world.open(accounts[0])
    obligations = world.register_all(round_id, [(accounts[p], accounts[q], a) for p, q, a in edges])
    n.close(accounts[0], round_id)

    members = n.members(round_id)
    assert members == member_order(obligations)
    first = net_positions(obligations)
    assert n.nets(round_id) == [first[m] for m in members]
    assert sum(first.values()) == 0
    c = n.compression(round_id)
    gross, net = c.gross, c.net
    assert gross == sum(o.amount for o in obligations)
    assert net == sum(v for v in first.values() if v > 0) <= gross

    # A tampered vector is always rejected, whether or not it still sums to zero.
    index = data.draw(st.integers(0, len(members) - 1), label="tampered entry")
    delta = data.draw(st.integers(-(10**9), 10**9).filter(bool), label="delta")
    tampered = [first[m] for m in members]
    tampered[index] += delta
    if data.draw(st.booleans(), label="rebalanced"):
        tampered[(index + 1) % len(members)] -= delta
        expected_error = "NettingNetMismatch"
    else:
        expected_error = "NettingNetsNotBalanced"
    with expect_revert(expected_error):
        n.submit_nets_unchecked(outsider, round_id, tampered)
    n.submit_nets(outsider, round_id)

    # Fund the debtors.
    by_address: dict[str, LocalAccount] = {a.address: a for a in accounts}
    available: dict[str, int] = {}
    calls: list[tuple[Any, LocalAccount]] = []
    for member in members:
        debit = max(-first[member], 0)
        if debit == 0:
            # Examples share the contract: clear any allowance an earlier example left.
            calls.append((world.cash.functions.approve(n.address, 0), by_address[member]))
            continue
        how = data.draw(FUNDING, label=f"funding of {member}")
        account = by_address[member]
        prefund = {"approve": 0, "prefund": debit, "split": debit // 2, "short": debit // 2}[how]
        allowance = {"approve": debit, "prefund": 0, "split": debit - debit // 2, "short": debit - debit // 2 - 1}[how]
        if prefund:
            calls.append((world.cash.functions.approve(n.address, prefund), account))
            calls.append((n.contract.functions.fund(round_id, prefund), account))
        calls.append((world.cash.functions.approve(n.address, allowance), account))
        available[member] = prefund + allowance
    send_setup(world.chain, calls)
    supply = int(world.cash.functions.totalSupply().call())
    before = dict(zip(members, world.balances(members), strict=True))
    funded_before = {m: n.position_of(round_id, m).funded for m in members}

    model = resolve_round(obligations, available, members=members)
    event(f"{len(model.excluded)} excluded")
    if model.excluded:
        world.past_deadline(round_id)
        assert n.resolve(outsider, round_id) == model.excluded
    n.settle(outsider, round_id)

    after = dict(zip(members, world.balances(members), strict=True))
    funded_after = {m: n.position_of(round_id, m).funded for m in members}
    for member in members:
        change = (after[member] + funded_after[member]) - (before[member] + funded_before[member])
        assert change == model.nets[member], member
        if member in model.excluded:
            assert change == 0
            continue
        dropped = [o for o in obligations if o.involves(member) and not exclude([o], model.excluded)]
        owed_by_excluded = sum(o.amount for o in dropped if o.payee == member)
        owed_to_excluded = sum(o.amount for o in dropped if o.payer == member)
        assert first[member] - model.nets[member] == owed_by_excluded - owed_to_excluded
        assert model.losses.get(member, 0) == owed_by_excluded
    assert sum(model.nets.values()) == 0
    assert n.compression(round_id) == model.compression
    assert model.compression.net <= model.compression.gross
    # Conservation: no unit created or destroyed, and the contract holds exactly its escrow books.
    assert int(world.cash.functions.totalSupply().call()) == supply
    (held,) = read_words(world.chain, [(world.cash, "balanceOf", (n.address,))])
    assert held == sum(n.round(r).escrowed for r in range(1, n.round_count() + 1))
    assert n.round(round_id).escrowed == sum(funded_after.values())
