"""Properties of rounds mixing DvP instructions and direct obligations, for random trades among
the four members of the DvP fixture (members 0-2 hold shares, member 3 none).

Each example enters random DvPs (each signed by both parties), registers random direct
obligations, and makes some sellers unable to deliver (allowance withdrawn, or fewer shares
than they sell: member 3 starts with none); some DvPs deliver a hostile token instead of the
security, whose views look normal but which refuses every transfer at settlement. Every debtor
approves the netting contract without limit, so cash never blocks.
After the deadline the API's resolve excludes the blockers and the round is settled: the
settlement records the failures of the hostile DvPs still in the round (nothing moves), resolve
removes them, and the round settles. Then:

- the excluded members are exactly the sellers that could not deliver the security, in round
  order, each exclusion releasing its counterparties' instructions with it;
- the recorded failures are exactly the hostile DvPs without an excluded party, and no member
  was excluded for them;
- every instruction with an excluded party, and every hostile one, is pending again, every
  other one settled;
- each member's shares change by exactly what its settled instructions deliver and receive;
- each member's cash changes by exactly its net over the obligations left in the round (DvP cash
  legs included), recomputed off-chain;
- both tokens are conserved: supplies unchanged, neither contract holds any.
"""

from __future__ import annotations

from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from dfmi_py.api.netting import RoundState
from dfmi_py.api.settlement import InstructionState
from dfmi_py.netting import net_positions
from tests.contracts.conftest import send_setup
from tests.helpers import examples
from tests.netting.conftest import SHARES, USD, DvPWorld, HostileMode

MEMBERS = 4
MAX_UINT256 = 2**256 - 1


@st.composite
def trades(draw: st.DrawFn) -> list[tuple[int, int, int, int]]:
    """1 to 5 DvPs ``(seller, buyer, quantity, price)`` between distinct members."""
    trade = st.tuples(
        st.integers(0, MEMBERS - 1), st.integers(0, MEMBERS - 1), st.integers(1, 50), st.integers(1, 10_000 * USD)
    ).filter(lambda t: t[0] != t[1])
    return draw(st.lists(trade, min_size=1, max_size=5))


@st.composite
def edges(draw: st.DrawFn) -> list[tuple[int, int, int]]:
    """0 to 4 direct obligations ``(payer, payee, amount)``."""
    edge = st.tuples(st.integers(0, MEMBERS - 1), st.integers(0, MEMBERS - 1), st.integers(1, 1_000 * USD)).filter(
        lambda e: e[0] != e[1]
    )
    return draw(st.lists(edge, max_size=4))


@settings(max_examples=examples(6))
@given(dvps=trades(), direct=edges(), unwilling=st.sets(st.integers(0, 2)), hostile=st.sets(st.integers(0, 4)))
def test_random_dvp_rounds_deliver_exactly_what_they_net(
    dvp_world: DvPWorld, dvps: list[Any], direct: list[Any], unwilling: set[int], hostile: set[int]
) -> None:
    world = dvp_world
    n, s = world.netting, world.settlement
    accounts = world.members[:MEMBERS]
    outsider = world.roles.outsider
    round_id = world.open(accounts[0])
    host = world.hostile(accounts)
    world.chain.transact(host.functions.setMode(HostileMode.REFUSE, 0), outsider)
    # Examples share the contracts: nonces unique per round, allowances reset every example.
    instructions = [
        world.dvp(accounts[a], q, accounts[b], price, nonce=round_id * 100 + k)
        for k, (a, b, q, price) in enumerate(dvps)
    ]
    instructions = [i.but(token_a=host.address) if k in hostile else i for k, i in enumerate(instructions)]
    refusing = [i for i in instructions if i.token_a == host.address]
    for instruction in instructions:
        n.enter_instruction(outsider, round_id, world.signed_dvp(instruction))
    if direct:
        world.register_all(round_id, [(accounts[p], accounts[q], amount) for p, q, amount in direct])
    n.close(accounts[0], round_id)
    n.submit_nets(outsider, round_id)
    calls: list[tuple[Any, Any]] = [(world.cash.functions.approve(n.address, MAX_UINT256), a) for a in accounts]
    calls += [
        (world.security.functions.approve(s.address, 0 if i in unwilling else MAX_UINT256), a)
        for i, a in enumerate(accounts)
    ]
    send_setup(world.chain, calls)
    before = world.books(accounts)
    # The model: in round order, the first member that sells more than it can deliver (no
    # allowance, or fewer shares than its remaining sales) is excluded, which releases every
    # instruction it is a party to; again until nobody is short.
    unwilling_addresses = {accounts[i].address for i in unwilling}
    remaining = list(instructions)
    expected_excluded: list[str] = []
    while True:
        sales: dict[str, int] = {}
        for instruction in remaining:
            if instruction.token_a == world.security.address:
                sales[instruction.party_a] = sales.get(instruction.party_a, 0) + instruction.amount_a
        short = [
            m
            for m in n.members(round_id)
            if m in sales and (m in unwilling_addresses or before[f"shares:{m}"] < sales[m])
        ]
        if not short:
            break
        expected_excluded.append(short[0])
        remaining = [i for i in remaining if short[0] not in (i.party_a, i.party_b)]
    expected_failed = [i for i in refusing if i in remaining]
    event(f"{len(expected_excluded)} excluded, {len(expected_failed)} failed")

    world.past_deadline(round_id)
    excluded = n.resolve(outsider, round_id)
    assert excluded == expected_excluded
    receipt = n.settle(outsider, round_id)
    assert [f.instruction for f in n.failures_in(receipt)] == expected_failed
    if expected_failed:
        assert world.books(accounts) == before
        assert n.resolve(outsider, round_id) == []
        n.settle(outsider, round_id)
    assert n.state(round_id) == RoundState.SETTLED
    after = world.books(accounts)

    settled = [i for i in remaining if i not in refusing]
    for instruction in instructions:
        expected = InstructionState.SETTLED if instruction in settled else InstructionState.PENDING
        assert s.state_of(instruction) == expected
    shares = dict.fromkeys((a.address for a in accounts), 0)
    for instruction in settled:
        shares[instruction.party_a] -= instruction.amount_a
        shares[instruction.party_b] += instruction.amount_a
    nets = net_positions(n.obligations(round_id))
    for account in accounts:
        address = account.address
        assert host.functions.balanceOf(address).call() == SHARES
        assert after[f"shares:{address}"] - before[f"shares:{address}"] == shares[address]
        assert after[f"cash:{address}"] - before[f"cash:{address}"] == nets.get(address, 0)
        if address in excluded:
            assert nets.get(address, 0) == 0
            assert shares[address] == 0
    for token in ("cash", "shares"):
        assert after[f"{token}:supply"] == before[f"{token}:supply"]
        assert after[f"{token}:{n.address}"] == after[f"{token}:{s.address}"] == 0
