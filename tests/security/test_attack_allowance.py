"""Draining a party through an allowance it granted the system.

The victim (member 2) has approved the engine, the fund, the settlement contract (cash and
shares) and the netting contract without limit, and holds cash and shares. A member that trades
with it (the attacker, member 0) and the outsider try every way to make one of those contracts
pull from the victim's wallet: trades, amendments and terminations it never agreed to, deposits
and contributions, governance actions of the other members, DvP instructions and netting
obligations naming it without its consent (or with its consent to something else), and rounds it
has no part in. Nothing moves. Then the victim agrees to one thing in each contract, and exactly
that is pulled, though every allowance is still unlimited.
"""

from __future__ import annotations

from typing import Any

from eth_account.signers.local import LocalAccount
from web3.contract import Contract

from dfmi_py.api.settlement import SignedInstruction
from dfmi_py.netting import Obligation
from dfmi_py.signing.fund import ActionKind
from tests.contracts.conftest import IM, PRICE, QUANTITY, Market, amendment_tuple, termination_tuple, vm_to_buyer
from tests.fund.conftest import FundWorld
from tests.helpers import MAX_UINT256, Roles, read_words
from tests.netting.conftest import COLLECTION, DvPWorld
from tests.security.attack_world import Attempt, sweep

USD = 10**6


def _wallets(chain: Any, tokens: list[Contract], accounts: list[str]) -> dict[str, int]:
    calls = [(t, "balanceOf", (a,)) for t in tokens for a in accounts]
    return {f"{t.address[:8]}:{a}": w for (t, _, (a,)), w in zip(calls, read_words(chain, calls), strict=True)}


def test_the_engine_and_the_fund_pull_from_an_unlimited_allowance_only_what_the_party_agreed(
    market: Market, fund_world: FundWorld, roles: Roles, buyer: LocalAccount, seller: LocalAccount, third: LocalAccount
) -> None:
    attacker, victim, outsider = buyer, third, roles.outsider
    engine = market.engine.functions
    fund = fund_world.contract.functions
    # The victim and the attacker are members of the fund; the victim's allowances are unlimited.
    members = fund_world.join_all([5_000 * USD] * 3)
    assert victim in members
    for spender in (market.engine.address, fund_world.fund.address):
        assert market.cash.functions.allowance(victim.address, spender).call() == MAX_UINT256

    # A live trade between the attacker and the victim, the victim's own agreement.
    live, terms = market.open(attacker, victim)
    deadline = market.now() + 3_600
    # Terms naming the victim that it never confirmed: a large IM, proposed by the attacker.
    greedy = market.terms(attacker, victim, seller_im=900_000 * USD)
    greedy_id, _ = market.propose(greedy, attacker)
    # An amendment raising the victim's IM and a termination making it pay: the attacker's signature only.
    amendment = {
        "tradeId": live,
        "quantity": QUANTITY,
        "maturity": terms.maturity,
        "buyerIm": IM,
        "sellerIm": 500_000 * USD,
        "payment": -100_000 * USD,
        "nonce": 0,
        "deadline": deadline,
    }
    termination = {"tradeId": live, "payment": -100_000 * USD, "nonce": 0, "deadline": deadline}
    own_amendment = market.sign_amendment(attacker, amendment)
    own_termination = market.sign_termination(attacker, termination)
    # The other members of the fund (a threshold without the victim) act on it.
    others = [m for m in members if m != victim]
    raise_requirement = fund_world.action(ActionKind.SET_REQUIREMENT, 10_000, 1_000_000 * USD)
    take = fund_world.action(ActionKind.WITHDRAW, victim.address, 1_000 * USD, nonce=0)

    def approved(action: Any, signers: list[LocalAccount]) -> Any:
        ordered = sorted((fund_world.fund.sign(s, action) for s in signers), key=lambda a: int(a.signer, 16))
        return fund.execute(action.as_tuple(), [a.as_tuple() for a in ordered])

    by_attacker: list[Attempt] = [
        (engine.confirm(greedy_id, greedy.as_tuple()), "DerivativeNotCounterparty"),
        (engine.propose(market.terms(victim, victim).as_tuple()), "DerivativeInvalidParties"),
        (engine.amend(amendment_tuple(amendment), own_amendment, own_amendment), "DerivativeInvalidSignature"),
        (
            engine.terminate(termination_tuple(termination), own_termination, own_termination),
            "DerivativeInvalidSignature",
        ),
        (approved(take, others), "FundWithdrawalNotApprovedByMember"),
    ]
    by_outsider: list[Attempt] = [
        (engine.confirm(greedy_id, greedy.as_tuple()), "DerivativeNotCounterparty"),
        (engine.propose(greedy.as_tuple()), "DerivativeNotCounterparty"),
        (engine.settle(live), "DerivativeInvalidPrice"),  # no round yet: nothing is due
        (engine.cure(live), "DerivativeUnexpectedState"),
    ]
    accounts = [victim.address, attacker.address, outsider.address]

    def books() -> dict[str, Any]:
        return market.books(accounts) | {"fund": fund_world.balances(accounts)}

    sweep(market.chain, attacker, by_attacker, books)
    sweep(market.chain, outsider, by_outsider, books)
    # A rule change by the others pulls nothing either: the victim is only asked to top up.
    before = books()
    market.chain.transact(approved(raise_requirement, others), outsider)
    assert books() == before
    assert not fund_world.fund.is_in_good_standing(victim.address)

    # What the victim agreed: the live trade's variation margin, and nothing besides.
    market.push_price(PRICE + 100 * 10**8)  # the victim is the seller: it pays the rise
    before = books()
    market.chain.transact(engine.settle(live), outsider)
    after = books()
    vm = vm_to_buyer(QUANTITY, PRICE, PRICE + 100 * 10**8)
    assert after[f"wallet:{victim.address}"] - before[f"wallet:{victim.address}"] == -vm
    assert after[f"margin:{attacker.address}"] - before[f"margin:{attacker.address}"] == vm
    assert after["fund"] == before["fund"]


def test_settlement_and_netting_pull_from_an_unlimited_allowance_only_what_the_party_signed(
    dvp_world: DvPWorld, roles: Roles
) -> None:
    world = dvp_world
    attacker, bystander, victim = world.members[:3]
    outsider = roles.outsider
    chain = world.chain
    settlement, netting = world.settlement, world.netting
    # Unlimited allowances: shares to the settlement contract (the fixture's), cash to both.
    for spender in (settlement.address, netting.address):
        chain.transact(world.cash.functions.approve(spender, MAX_UINT256), victim)
    start = chain.w3.eth.block_number
    round_id = world.open(attacker)
    shares = world.security.functions.balanceOf(victim.address).call()

    # The victim delivers every share for 1 unit of cash, the attacker's signature alone.
    theft = world.dvp(victim, shares, attacker, 1)
    own_side = settlement.signed(theft, attacker)
    # The victim's real consent, to something else: 10 shares for 1,000.
    agreed = world.dvp(victim, 10, attacker, 1_000 * USD, nonce=1)
    victims_signature = settlement.sign(victim, agreed)
    altered = agreed.but(amount_a=shares)
    # An obligation making the victim pay the attacker, signed by the attacker (the payee) only.
    owed = Obligation(round_id, victim.address, attacker.address, 900_000 * USD, b"\x01" * 32)
    owed_by_attacker = netting.sign(attacker, owed)
    s, n = settlement.contract.functions, netting.contract.functions
    attempts: list[Attempt] = [
        (s.settle(theft.as_tuple(), own_side.signature_a, own_side.signature_b), "SettlementUnauthorized"),
        (s.settle(altered.as_tuple(), victims_signature, settlement.sign(attacker, altered)), "SettlementUnauthorized"),
        (s.settleBatch([SignedInstruction(altered, victims_signature, b"").as_tuple()]), None),
        (n.register(owed.as_tuple(), b"", owed_by_attacker), "NettingUnauthorized"),
        (n.register(owed.as_tuple(), owed_by_attacker, owed_by_attacker), "NettingUnauthorized"),
        (n.enterInstruction(round_id, theft.as_tuple(), b"", own_side.signature_b), "SettlementUnauthorized"),
    ]
    accounts = [victim.address, attacker.address, bystander.address, outsider.address]

    def books() -> dict[str, Any]:
        return _wallets(chain, [world.cash, world.security], [*accounts, settlement.address, netting.address])

    sweep(chain, attacker, attempts, books)
    settlement.propose(attacker, theft)  # the attacker's on-chain consent is one of two
    sweep(chain, outsider, [(s.settle(theft.as_tuple(), b"", b""), "SettlementUnauthorized")], books)

    # The round: the attacker and the bystander owe each other a lot; the victim signed one
    # payment of 100 to the bystander. Settlement pulls the victim's net, 100, nothing more.
    edges = [(attacker, bystander, 700_000 * USD), (bystander, attacker, 650_000 * USD), (victim, bystander, 100 * USD)]
    world.register_all(round_id, edges)
    world.approve_all([attacker, bystander])
    world.advance(COLLECTION + 1)
    netting.close(outsider, round_id)
    netting.submit_nets(outsider, round_id, from_block=start)
    before = books()
    netting.settle(outsider, round_id, from_block=start)
    after = books()
    cash = world.cash.address[:8]
    assert {k: after[k] - before[k] for k in after if after[k] != before[k]} == {
        f"{cash}:{victim.address}": -100 * USD,
        f"{cash}:{attacker.address}": -50_000 * USD,
        f"{cash}:{bystander.address}": 50_100 * USD,
    }
    # And the DvP it agreed to settles exactly as signed.
    chain.transact(world.cash.functions.approve(settlement.address, 1_000 * USD), attacker)
    before = books()
    settlement.settle(outsider, SignedInstruction(agreed, victims_signature, settlement.sign(attacker, agreed)))
    after = books()
    security = world.security.address[:8]
    assert {k: after[k] - before[k] for k in after if after[k] != before[k]} == {
        f"{security}:{victim.address}": -10,
        f"{security}:{attacker.address}": 10,
        f"{cash}:{victim.address}": 1_000 * USD,
        f"{cash}:{attacker.address}": -1_000 * USD,
    }
