"""DefaultFund invariants over random contributions, withdrawals and claims (Hypothesis).

Each example has four members join with random (deliberately uneven) amounts, then runs a random
sequence of contributions, governance withdrawals, claims (some reaching the survivors, some
exhausting the fund), trades opened and members' own requirements adopted. After every step:

- cash.balanceOf(fund) == totalAssets (no cash is sent to the fund outside join/contribute here);
- totalShares == the sum of the members' shares;
- the members' balances sum to totalAssets less the rounding dust, and the dust is below one unit
  per member holding shares (it stays in the pool: see the contract's header);
- a claim pays at most what the fund holds and at most the loss, and paid + unpaid == loss; the
  defaulter's tranche is min(loss, its balance); the engine receives exactly what was paid;
- every surviving member loses the survivors' tranche in proportion to its balance (within the
  rounding of the balances), and a member with nothing loses nothing;
- a member's requirement is ``max(floor, ceil(bps x open IM), own if IM is open)``; a trade opens
  exactly when the member's balance meets the requirement with the new IM, and is refused with
  ``FundNotInGoodStanding`` and those values otherwise; adopting requirements moves no balance;
- the books rebuilt from the events (:class:`FundBooks`) agree with the chain at the end.

The chain is reset between examples (the ``world`` fixture is set up once per test, not once per
example).
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from hypothesis import event, given, settings
from hypothesis import strategies as st

from dfmi_py.signing.fund import ActionKind
from tests.fund.conftest import FLOOR, REQUIREMENT_BPS, USD, FundWorld
from tests.helpers import events, evm_revert, evm_snapshot, examples, expect_revert, read_words

MEMBERS = 4
#: Units of rounding a survivor's loss may differ from its exact pro-rata share.
PRO_RATA_TOLERANCE = 3

amounts = st.integers(FLOOR, 40_000 * USD)


@dataclass(frozen=True)
class Contribute:
    member: int
    amount: int


@dataclass(frozen=True)
class Withdraw:
    member: int
    #: Fraction (in percent) of the most the member may withdraw.
    percent: int


@dataclass(frozen=True)
class Claim:
    defaulter: int
    survivor: int
    loss: int


@dataclass(frozen=True)
class Open:
    member: int
    im: int


@dataclass(frozen=True)
class Adopt:
    """Governance sets one member's own requirement (``SetMemberRequirements``)."""

    member: int
    amount: int


def _claims() -> st.SearchStrategy[Claim]:
    pairs = st.permutations(range(MEMBERS)).map(lambda p: p[:2])
    losses = st.one_of(st.integers(1, 30_000 * USD), st.integers(30_000 * USD, 250_000 * USD))
    return st.builds(lambda pair, loss: Claim(pair[0], pair[1], loss), pairs, losses)


operations = st.lists(
    st.one_of(
        st.builds(Contribute, st.integers(0, MEMBERS - 1), st.integers(1, 20_000 * USD)),
        st.builds(Withdraw, st.integers(0, MEMBERS - 1), st.integers(1, 100)),
        _claims(),
        _claims(),
        st.builds(Open, st.integers(0, MEMBERS - 1), st.integers(1, 150_000 * USD)),
        st.builds(Adopt, st.integers(0, MEMBERS - 1), st.integers(0, 50_000 * USD)),
    ),
    min_size=1,
    max_size=8,
)


class Checker:
    """Reads the fund's books in one batch and checks the invariants."""

    def __init__(self, world: FundWorld) -> None:
        self.world = world
        self.members = world.members[:MEMBERS]

    def read(self) -> tuple[list[int], list[int], int, int, int]:
        """``(balances, shares, totalAssets, totalShares, cash held)``."""
        c = self.world.contract
        calls = [(c, "balanceOf", (m.address,)) for m in self.members]
        calls += [(c, "sharesOf", (m.address,)) for m in self.members]
        calls += [(c, "totalAssets", ()), (c, "totalShares", ()), (self.world.cash, "balanceOf", (c.address,))]
        words = read_words(self.world.chain, calls)
        n = len(self.members)
        return words[:n], words[n : 2 * n], words[2 * n], words[2 * n + 1], words[2 * n + 2]

    def check(self) -> list[int]:
        balances, shares, assets, supply, held = self.read()
        assert held == assets, "the fund's cash must equal what it owes its members"
        assert supply == sum(shares)
        holders = sum(1 for s in shares if s > 0)
        dust = assets - sum(balances)
        assert 0 <= dust < max(holders, 1), f"dust {dust} with {holders} holders"
        return balances


@settings(max_examples=examples(10))
@given(initial=st.lists(amounts, min_size=MEMBERS, max_size=MEMBERS), ops=operations)
def test_fund_conservesCashAndSharesLossesProRata(
    world: FundWorld, initial: list[int], ops: list[Contribute | Withdraw | Claim | Open | Adopt]
) -> None:
    snapshot = evm_snapshot(world.chain)
    try:
        _run(world, initial, ops)
    finally:
        evm_revert(world.chain, snapshot)


def _run(world: FundWorld, initial: list[int], ops: list[Contribute | Withdraw | Claim | Open | Adopt]) -> None:
    checker = Checker(world)
    members = checker.members
    for member, amount in zip(members, initial, strict=True):
        world.join(member, amount)
    balances = checker.check()
    assert balances == initial  # a first epoch at the initial price: no rounding yet
    paid_total = 0
    for op in ops:
        if isinstance(op, Contribute):
            member = members[op.member]
            before = balances[op.member]
            world.contribute(member, op.amount)
            balances = checker.check()
            # Rounding in the pool's favour costs the contributor at most one unit.
            assert before + op.amount - 1 <= balances[op.member] <= before + op.amount
        elif isinstance(op, Withdraw):
            member = members[op.member]
            amount = world.fund.max_withdrawal(member.address) * op.percent // 100
            if amount == 0:
                continue
            others = [m for m in members if m != member][: world.fund.state().threshold - 1]
            wallet = world.cash.functions.balanceOf(member.address).call()
            world.execute(world.action(ActionKind.WITHDRAW, member.address, amount), [member, *others])
            assert world.cash.functions.balanceOf(member.address).call() == wallet + amount
            before = balances
            balances = checker.check()
            assert balances[op.member] >= world.fund.requirement_of(member.address)
            for i, (b, a) in enumerate(zip(before, balances, strict=True)):
                if i != op.member:
                    assert a >= b, "a withdrawal never lowers another member's balance"
        elif isinstance(op, Open):
            _open(world, members[op.member], balances[op.member], op.im)
        elif isinstance(op, Adopt):
            member = members[op.member]
            signers = [m for m in members if m != member][: world.fund.state().threshold]
            totals = world.totals()
            world.execute(world.fund.member_requirements_action({member.address: op.amount}), signers)
            assert checker.check() == balances, "adopting a requirement moves no balance"
            assert world.totals() == totals
            assert world.fund.member_requirement_of(member.address) == op.amount
            assert world.fund.requirement_of(member.address) == _expected_requirement(world, member.address, 0)
        else:
            paid_total += _claim(world, checker, balances, op)
            balances = checker.check()
    assert world.credit_of(members[0]) + sum(world.credit_of(m) for m in members[1:]) == paid_total
    books = world.fund.books()
    assert books.total_assets == world.totals()[0]
    assert [books.balance_of(m.address) for m in members] == balances


def _expected_requirement(world: FundWorld, member: str, extra_im: int) -> int:
    """``max(floor, ceil(bps x open IM), own while IM is open)`` with ``extra_im`` more open IM."""
    open_im = world.fund.open_im_of(member) + extra_im
    own = world.fund.member_requirement_of(member) if open_im > 0 else 0
    return max(FLOOR, -(-open_im * REQUIREMENT_BPS // 10_000), own)


def _open(world: FundWorld, member: LocalAccount, balance: int, im: int) -> None:
    """The engine opens ``im`` for ``member``: accepted exactly when its balance meets the requirement."""
    required = _expected_requirement(world, member.address, im)
    before = world.fund.open_im_of(member.address)
    if balance >= required:
        event("open: accepted")
        world.open(member, im)
        assert world.fund.open_im_of(member.address) == before + im
        assert world.fund.requirement_of(member.address) == required
    else:
        event("open: refused")
        with expect_revert(
            "FundNotInGoodStanding", member=member, flagged=False, balance=balance, requirement=required
        ):
            world.open(member, im)
        assert world.fund.open_im_of(member.address) == before


def _claim(world: FundWorld, checker: Checker, balances: list[int], op: Claim) -> int:
    members = checker.members
    defaulter, survivor = members[op.defaulter], members[op.survivor]
    _, _, assets_before, _, _ = checker.read()
    engine_before = world.cash.functions.balanceOf(world.engine.address).call()

    receipt = world.claim(defaulter, survivor, op.loss)
    [claimed] = events(world.contract, "DefaultClaimed", receipt)
    from_defaulter, from_survivors, unpaid = claimed["fromDefaulter"], claimed["fromSurvivors"], claimed["unpaid"]
    paid = from_defaulter + from_survivors
    event("claim: " + ("exhausted the fund" if unpaid else "reached survivors" if from_survivors else "defaulter only"))

    assert paid <= assets_before, "the fund never pays more than it holds"
    assert paid + unpaid == op.loss
    assert from_defaulter == min(op.loss, balances[op.defaulter])
    assert from_survivors == min(op.loss - from_defaulter, assets_before - from_defaulter)
    assert world.cash.functions.balanceOf(world.engine.address).call() == engine_before + paid
    if unpaid:
        assert world.fund.unpaid_claim_of(defaulter.address, survivor.address) >= unpaid

    after, _, assets_after, _, _ = checker.read()
    assert assets_after == assets_before - paid
    assert after[op.defaulter] <= balances[op.defaulter] - from_defaulter + 1
    survivors = [i for i in range(len(members)) if i != op.defaulter]
    pool = sum(balances[i] for i in survivors)
    for i in survivors:
        lost = balances[i] - after[i]
        if assets_after == 0:
            assert after[i] == 0
            continue
        expected = from_survivors * balances[i] / pool if pool else 0
        assert abs(lost - expected) <= PRO_RATA_TOLERANCE, (i, lost, expected)
        assert lost <= balances[i]
    return paid
