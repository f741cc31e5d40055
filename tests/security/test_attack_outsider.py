"""Settlement by an outsider with data of its choosing.

Every entry point anyone may call (:data:`PERMISSIONLESS`, held to the ABIs) is attacked by the
outsider (development account 15, never onboarded) with arguments of its choosing: ids that do
not exist, are not due, are listed twice or at the extremes of their type, rounds that are not
the maturity round, nets that balance but are wrong, members that are not short, signatures of
its own. Each attempt is refused or does nothing, and the books do not move; then the outsider
runs the due step honestly and every party's balance changes by exactly what the rules say (the
oracle's price, the round's nets, the members' approvals) while the outsider gains nothing.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

from eth_account.signers.local import LocalAccount
from web3.contract import Contract
from web3.contract.contract import ContractFunction

from dfmi_py.chain import Chain
from dfmi_py.signing.fund import ActionKind, Approval
from tests.contracts.conftest import IM, PRICE, QUANTITY, Market, State, amendment_tuple, termination_tuple, vm_to_buyer
from tests.fund.conftest import FundWorld
from tests.helpers import Roles, events, expect_revert
from tests.netting.conftest import COLLECTION, USD, NettingWorld
from tests.security.attack_world import Attempt, sweep

ENGINE = "tests.contracts.test_derivative_security"
LIFECYCLE = "tests.contracts.test_derivative_lifecycle"
DVP = "tests.settlement.test_dvp_security"
NETTING = "tests.netting.test_netting_round"
NETTING_DVP = "tests.netting.test_netting_dvp"
HERE = "tests.security.test_attack_outsider"
_ENGINE_SWEEP = (
    f"{HERE}::test_an_outsider_sweeping_the_engine_moves_nothing_and_then_settles_exactly_the_oracles_amount"
)
_NETTING_SWEEP = f"{HERE}::test_an_outsider_sweeping_a_netting_round_moves_nothing_and_then_settles_exactly_the_nets"
_FUND_SWEEP = f"{HERE}::test_an_outsider_can_submit_the_members_approved_action_and_nothing_else"

#: Every function anyone may call (no role, no party, no membership of the caller), and the
#: tests in which the outsider attacks it with arguments of its choosing.
PERMISSIONLESS: dict[str, dict[str, list[str]]] = {
    "DerivativeEngine": {
        "settle": [
            _ENGINE_SWEEP,
            f"{ENGINE}::test_a_settlement_triggered_by_an_outsider_moves_exactly_the_oracle_determined_amount",
        ],
        "settleMany": [
            _ENGINE_SWEEP,
            f"{LIFECYCLE}::test_settle_many_settles_the_due_trades_skips_the_others_and_counts",
        ],
        "cure": [_ENGINE_SWEEP, f"{LIFECYCLE}::test_cure_pays_the_debt_and_returns_the_trade_to_live"],
        "declareDefault": [_ENGINE_SWEEP, f"{LIFECYCLE}::test_a_default_can_only_be_declared_after_the_cure_period"],
        "mature": [
            _ENGINE_SWEEP,
            f"{LIFECYCLE}::test_mature_with_the_first_round_at_maturity_pays_the_final_vm_and_returns_both_ims",
        ],
        "retryFundClaim": [_ENGINE_SWEEP],
        "amend": [_ENGINE_SWEEP, f"{ENGINE}::test_an_amendment_binds_one_trade_one_engine_and_one_nonce"],
        "terminate": [_ENGINE_SWEEP],
    },
    "DefaultFund": {
        "execute": [_FUND_SWEEP],
        "flagMissedReplenishment": [_FUND_SWEEP],
    },
    "AtomicSettlement": {
        "settle": [f"{DVP}::test_signatures_of_one_instruction_do_not_settle_another"],
        "settleBatch": [f"{DVP}::test_a_batch_settles_a_duplicated_instruction_once"],
    },
    "NettingEngine": {
        "register": [f"{NETTING}::test_registration_needs_both_parties"],
        "registerBatch": [f"{NETTING}::test_a_batch_registers_all_or_nothing"],
        "enterInstruction": [f"{NETTING_DVP}::test_entry_checks_consent_cash_leg_deadline_and_round"],
        "close": [_NETTING_SWEEP],
        "submitNets": [_NETTING_SWEEP, f"{NETTING}::test_tampered_nets_are_rejected_and_change_nothing"],
        "settle": [_NETTING_SWEEP, f"{NETTING_DVP}::test_settlement_lists_exactly_the_rounds_instructions"],
        "exclude": [_NETTING_SWEEP, f"{NETTING}::test_exclusion_needs_the_complete_list_of_obligations"],
        "releaseInstructions": [_NETTING_SWEEP, f"{NETTING_DVP}::test_an_expired_round_releases_its_instructions"],
        "removeFailed": [_NETTING_SWEEP],
    },
}


_ROLES = {name: "a role's holder (AccessControl)" for name in ("grantRole", "revokeRole", "renounceRole")}
_OWN = "the sender, over its own tokens"

#: Every other state-changing function, and who alone may call it (the access matrices of the
#: threat model prove these); with :data:`PERMISSIONLESS`, every function of the ABIs.
RESTRICTED: dict[str, dict[str, str]] = {
    "DerivativeEngine": {
        "propose": "a party of the terms",
        "confirm": "the counterparty of the proposer",
        "cancel": "a party of the proposal",
        "depositMargin": "the sender, from its own wallet",
        "withdrawMargin": "the sender, from its own margin account",
        "settleInBatch": "the engine itself (DerivativeOnlyEngine)",
        "setConfig": "DEFAULT_ADMIN_ROLE",
        **_ROLES,
    },
    "DefaultFund": {
        "join": "an onboarded account, with its own cash",
        "contribute": "a member, with its own cash",
        "claim": "a registered engine",
        "onTradeOpened": "a registered engine",
        "onTradeClosed": "a registered or deregistered engine",
    },
    "AtomicSettlement": {
        "propose": "a party",
        "affirm": "the other party",
        "cancel": "a party",
        "executeSelf": "the contract itself (SettlementOnlySelf)",
        "lockForNetting": "the netting contract",
        "deliverNetted": "the netting contract",
        "releaseFromNetting": "the netting contract",
    },
    "NettingEngine": {
        "openRound": "an onboarded account",
        "fund": "the sender, with its own cash",
        "withdrawFunding": "the sender, its own free funding",
        "settleSelf": "the contract itself (NettingOnlySelf)",
    },
    "PriceOracle": {"submit": "a reporter", "propose": "a reporter", "approve": "a reporter"},
    "CashToken": {
        **{name: _OWN for name in ("transfer", "approve")},
        "transferFrom": "a spender within its allowance",
        "permit": "anyone, with the owner's signature (tests/security/test_attack_replay.py)",
        "syncCompliance": "anyone: copies the registry's status (test_syncing_a_status_copies_the_registry)",
        "complianceStatusChanged": "the registry",
        "mint": "a minter within its allowance",
        "burn": "BURNER_ROLE",
        "configureMinter": "MASTER_MINTER_ROLE",
        "removeMinter": "MASTER_MINTER_ROLE",
        "pause": "PAUSER_ROLE",
        "unpause": "PAUSER_ROLE",
        **_ROLES,
    },
    "SecurityToken": {
        **{name: _OWN for name in ("transfer", "approve")},
        "transferFrom": "a spender within its allowance",
        "permit": "anyone, with the owner's signature (tests/security/test_attack_replay.py)",
        "syncCompliance": "anyone: copies the registry's status (test_syncing_a_status_copies_the_registry)",
        "complianceStatusChanged": "the registry",
        "issue": "ISSUER_ROLE",
        "redeem": "ISSUER_ROLE",
        "pause": "PAUSER_ROLE",
        "unpause": "PAUSER_ROLE",
        **_ROLES,
    },
    "ComplianceRegistry": {
        **{name: "COMPLIANCE_ROLE" for name in ("onboard", "onboardBatch", "freeze", "unfreeze", "offboard")},
        "recordIdentity": "COMPLIANCE_ROLE",
        "publishRegulatorKey": "REGULATOR_ROLE",
        "addSubscriber": "DEFAULT_ADMIN_ROLE",
        "removeSubscriber": "DEFAULT_ADMIN_ROLE",
        **_ROLES,
    },
}


def test_every_permissionless_function_is_attacked_by_an_outsider(chain: Chain) -> None:
    for contract in PERMISSIONLESS.keys() | RESTRICTED.keys():
        abi = chain.artifacts[contract].abi
        changing = {f["name"] for f in abi if f["type"] == "function" and f["stateMutability"] not in ("view", "pure")}
        open_, closed = PERMISSIONLESS.get(contract, {}), RESTRICTED.get(contract, {})
        assert not open_.keys() & closed.keys(), f"{contract}: both {open_.keys() & closed.keys()}"
        listed = open_.keys() | closed.keys()
        assert changing == listed, f"{contract}: unlisted {changing - listed}, gone {listed - changing}"
        for function, tests in open_.items():
            for where in tests:
                module, test = where.split("::")
                assert callable(getattr(importlib.import_module(module), test, None)), f"{contract}.{function}: {where}"


def test_syncing_a_status_copies_the_registry(
    security: Contract, chain: Chain, roles: Roles, registry: Contract
) -> None:
    """Anyone may ask a token to copy an account's status from the registry: the outsider cannot
    make a frozen, offboarded or unknown account (itself included) active by it."""
    holder, frozen, offboarded = roles.members[:3]
    chain.transact(registry.functions.freeze(frozen.address), roles.officer)
    chain.transact(registry.functions.offboard(offboarded.address), roles.officer)
    for account in (frozen, offboarded, roles.outsider, roles.newcomers[0]):
        chain.transact(security.functions.syncCompliance(account.address), roles.outsider)
        mirrored = security.functions.mirroredStatusOf(account.address).call()
        assert mirrored == registry.functions.statusOf(account.address).call()
        assert not registry.functions.isActive(account.address).call()
        with expect_revert("ComplianceAccountNotActive", account=account):
            chain.transact(security.functions.transfer(account.address, 1), holder)


# ====================================================================== engine


def test_an_outsider_sweeping_the_engine_moves_nothing_and_then_settles_exactly_the_oracles_amount(
    market: Market, roles: Roles, buyer: LocalAccount, seller: LocalAccount, third: LocalAccount
) -> None:
    outsider = roles.outsider
    live, terms = market.open(buyer, seller)
    called, _ = market.open(third, seller)
    proposal = market.terms(buyer, third)
    proposed, _ = market.propose(proposal, buyer)
    market.revoke(third)
    first = market.push_price(PRICE - 100 * 10**8)
    market.chain.transact(market.engine.functions.settleMany([live, called]), outsider)
    assert (market.state(live), market.state(called)) == (State.LIVE, State.MARGIN_CALL)
    f = market.engine.functions
    deadline = market.now() + 3_600
    own = outsider.address
    termination = {"tradeId": live, "payment": -IM, "nonce": 0, "deadline": deadline}
    amendment = {
        "tradeId": live,
        "quantity": QUANTITY,
        "maturity": terms.maturity,
        "buyerIm": 0,
        "sellerIm": 0,
        "payment": 0,
        "nonce": 0,
        "deadline": deadline,
    }
    by_outsider = (market.sign_termination(outsider, termination), market.sign_termination(outsider, termination))
    amended_by_outsider = (market.sign_amendment(outsider, amendment), market.sign_amendment(outsider, amendment))
    ids = [0, live, called, proposed, 99, 2**256 - 1]
    attempts: list[Attempt] = [
        (f.settle(0), "DerivativeUnexpectedState"),
        (f.settle(live), "DerivativeNothingToSettle"),
        (f.settle(called), "DerivativeNothingToSettle"),
        (f.settle(proposed), "DerivativeUnexpectedState"),
        (f.settle(2**256 - 1), "DerivativeUnexpectedState"),
        (f.settleMany([*ids, live, called, live]), None),
        (f.settleMany([]), None),
        (f.cure(live), "DerivativeUnexpectedState"),
        (f.cure(called), "DerivativePaymentFailed"),  # the debtor cannot pay: nobody else pays for it
        (f.declareDefault(called), "DerivativeCurePeriodRunning"),
        (f.declareDefault(live), "DerivativeUnexpectedState"),
        (f.mature(live, first), "DerivativeNotMaturityRound"),
        (f.mature(live, 0), "DerivativeNotMaturityRound"),
        (f.mature(live, 2**80 - 1), "DerivativeNotMaturityRound"),
        (f.mature(proposed, first), "DerivativeUnexpectedState"),
        *((f.retryFundClaim(i), "DerivativeNoPendingFundClaim") for i in ids),
        (f.terminate(termination_tuple(termination), *by_outsider), "DerivativeInvalidSignature"),
        (f.amend(amendment_tuple(amendment), *amended_by_outsider), "DerivativeInvalidSignature"),
        (f.confirm(proposed, proposal.as_tuple()), "DerivativeNotCounterparty"),
        (f.confirm(proposed, proposal.but(seller=own).as_tuple()), "DerivativeTermsMismatch"),
        (f.cancel(proposed), "DerivativeNotCounterparty"),
        (f.withdrawMargin(1), "DerivativeInsufficientMargin"),
    ]
    parties = [buyer, seller, third, outsider]
    sweep(
        market.chain, outsider, attempts, lambda: market.books(parties) | {"states": [market.trade(i) for i in ids[:4]]}
    )

    # The due step, by the outsider: exactly the oracle's variation margin, between the parties.
    price = PRICE + 250 * 10**8
    market.push_price(price)
    before = market.books(parties)
    held = market.margin(seller)  # what the seller gained in the first round pays first
    receipt = market.chain.transact(f.settle(live), outsider)
    vm = vm_to_buyer(QUANTITY, PRICE - 100 * 10**8, price)
    assert [e["vmToBuyer"] for e in events(market.engine, "VariationMarginSettled", receipt)] == [vm]
    after = market.books(parties)
    assert {k: after[k] - before[k] for k in after if after[k] != before[k]} == {
        f"wallet:{seller.address}": -(vm - held),
        f"margin:{seller.address}": -held,
        f"margin:{buyer.address}": vm,
        "engine_cash": vm - held,
        "total_margin": vm - held,
    }


# ====================================================================== netting


def test_an_outsider_sweeping_a_netting_round_moves_nothing_and_then_settles_exactly_the_nets(
    netting_world: NettingWorld, roles: Roles
) -> None:
    """The paper's round (P1 owes 40 to P2 and 50 to P3, P3 owes 60 to P2), attacked while it
    collects, once closed, and once verified; then the outsider closes, verifies and settles it."""
    world = netting_world
    outsider = roles.outsider
    p1, p2, p3 = world.members[:3]
    start = world.chain.w3.eth.block_number
    round_id = world.open(p1)
    world.register_all(round_id, [(p1, p2, 40 * USD), (p1, p3, 50 * USD), (p3, p2, 60 * USD)])
    world.approve_all([p1, p2, p3])
    f = world.contract.functions
    n = world.netting
    nets = [-90 * USD, 100 * USD, -10 * USD]  # the contract's member order: first seen
    assert n.members(round_id) == [p1.address, p2.address, p3.address]

    def books() -> dict[str, Any]:
        wallets = world.balances([p1, p2, p3, outsider])
        return {"wallets": wallets, "held": world.held(), "round": f.roundOf(round_id).call()}

    everyone = [p1.address, p2.address, p3.address, outsider.address]
    excluding = [(f.exclude(round_id, m, [], []), "NettingInvalidState") for m in everyone]
    collecting: list[Attempt] = [
        (f.close(round_id), "NettingCutoffNotReached"),
        (f.submitNets(round_id, nets), "NettingInvalidState"),
        (f.settle(round_id, []), "NettingInvalidState"),
        (f.withdrawFunding(round_id, 1), "NettingWithdrawalExceedsFree"),
        (f.fund(round_id, 1), "ERC20InsufficientAllowance"),  # its own cash, had it any
        (f.releaseInstructions(round_id, []), "NettingInvalidState"),
        (f.removeFailed(round_id, []), "NettingNoSettlement"),
        (f.openRound(world.now() + 60, world.now() + 120), "ComplianceAccountNotActive"),
        *excluding,
    ]
    sweep(world.chain, outsider, collecting, books)
    world.advance(COLLECTION + 1)
    world.chain.transact(f.close(round_id), outsider)  # past the cutoff anyone closes
    wrong = [
        [-100 * USD, 100 * USD, 0],
        [0, 0, 0],
        [-90 * USD, -10 * USD, 100 * USD],
        [100 * USD, -90 * USD, -10 * USD],
    ]
    closed: list[Attempt] = [(f.submitNets(round_id, v), "NettingNetMismatch") for v in wrong]
    closed += [(f.settle(round_id, []), "NettingInvalidState")]
    closed += [(f.exclude(round_id, m, [], []), "NettingDeadlineNotReached") for m in everyone]
    sweep(world.chain, outsider, closed, books)
    n.submit_nets(outsider, round_id, from_block=start)
    world.past_deadline(round_id)  # exclusions are open now: nobody is short
    verified: list[Attempt] = [(f.submitNets(round_id, nets), "NettingInvalidState")]
    verified += [
        (
            f.settle(round_id, [(outsider.address, outsider.address, 1, p1.address, world.cash.address, 1, 0, 0)]),
            "NettingInstructionsIncomplete",
        )
    ]
    verified += [(f.exclude(round_id, m, [], []), "NettingMemberNotShort") for m in everyone[:3]]
    verified += [(f.exclude(round_id, outsider.address, [], []), "NettingNotMember")]
    sweep(world.chain, outsider, verified, books)

    before = books()
    world.chain.transact(f.settle(round_id, []), outsider)
    after = books()
    assert [a - b for a, b in zip(after["wallets"], before["wallets"], strict=True)] == [*nets, 0]
    assert after["held"] == before["held"]


# ====================================================================== fund


def test_an_outsider_can_submit_the_members_approved_action_and_nothing_else(
    fund_world: FundWorld, roles: Roles
) -> None:
    world = fund_world
    outsider = roles.outsider
    members = world.join_all([5_000 * USD] * 3)
    f = world.contract.functions
    withdraw = world.action(ActionKind.WITHDRAW, members[0].address, 1_000 * USD)
    to_outsider = world.action(ActionKind.WITHDRAW, outsider.address, 1_000 * USD)
    surplus = world.action(ActionKind.RELEASE_SURPLUS, outsider.address)
    approvals = world.approvals(withdraw, members[:2])
    own = Approval(outsider.address, world.fund.sign(outsider, withdraw).signature)

    def books() -> dict[str, Any]:
        wallets = [world.cash.functions.balanceOf(a.address).call() for a in (*members, outsider)]
        return {"balances": world.balances(members), "wallets": wallets, "totals": world.totals()}

    def execute(action: Any, given: Sequence[Approval]) -> ContractFunction:
        ordered = sorted(given, key=lambda a: int(a.signer, 16))
        return f.execute(action.as_tuple(), [a.as_tuple() for a in ordered])

    attempts: list[Attempt] = [
        (execute(to_outsider, world.approvals(to_outsider, members[:2])), "FundWithdrawalNotApprovedByMember"),
        (execute(withdraw, [approvals[0], own]), "FundSignerNotMember"),
        (execute(withdraw, [approvals[0]]), "FundNotEnoughApprovals"),
        (execute(surplus, world.approvals(surplus, members[:2])), "FundNoSurplus"),
        (f.claim(members[0].address, outsider.address, 1), "FundNotEngine"),
        (f.onTradeOpened(members[0].address, 10**12), "FundNotEngine"),
        (f.onTradeClosed(members[0].address, 1), "FundNotEngine"),
        *((f.flagMissedReplenishment(m.address), "FundReplenishmentWindowOpen") for m in (*members, outsider)),
        (f.join(1_000 * USD), "ComplianceAccountNotActive"),
        (f.contribute(1), "FundNotMember"),
    ]
    sweep(world.chain, outsider, attempts, books)
    # The action the members approved, sent by the outsider: the member is paid, nobody else.
    before = books()
    world.chain.transact(execute(withdraw, approvals), outsider)
    after = books()
    assert after["wallets"][0] - before["wallets"][0] == 1_000 * USD
    assert after["wallets"][1:] == before["wallets"][1:]
    assert after["balances"][1:] == before["balances"][1:]
    with expect_revert("FundInvalidNonce", expected=1, nonce=0):
        world.chain.transact(execute(withdraw, approvals), outsider)
