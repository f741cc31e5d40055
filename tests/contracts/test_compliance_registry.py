"""ComplianceRegistry: the account status machine, its subscribers, and the CashToken's mirror of it.

Invariants checked (see the header of ComplianceRegistry.sol):

- every status change is one of None->Active, Active->Frozen, Frozen->Active, Active|Frozen->None,
  and emits ``AccountStatusChanged``; every other change reverts ``ComplianceInvalidStatus``;
- after any change, every subscriber's copy of the account's status equals ``statusOf``.
"""

from __future__ import annotations

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st
from web3.contract import Contract

from dfmi_py.chain import Chain
from tests.helpers import (
    ZERO_ADDRESS,
    Roles,
    Status,
    events,
    evm_revert,
    evm_snapshot,
    examples,
    expect_revert,
    read_words,
)

OPERATIONS = ("onboard", "freeze", "unfreeze", "offboard")

#: (status before, operation) -> status after; every pair not listed must revert.
TRANSITIONS: dict[tuple[Status, str], Status] = {
    (Status.NONE, "onboard"): Status.ACTIVE,
    (Status.ACTIVE, "freeze"): Status.FROZEN,
    (Status.FROZEN, "unfreeze"): Status.ACTIVE,
    (Status.ACTIVE, "offboard"): Status.NONE,
    (Status.FROZEN, "offboard"): Status.NONE,
}
INVALID = [(status, op) for status in Status for op in OPERATIONS if (status, op) not in TRANSITIONS]


def account_in(chain: Chain, registry: Contract, roles: Roles, status: Status) -> LocalAccount:
    """An account in ``status``: the never-onboarded outsider, or a member (frozen first if asked)."""
    if status is Status.NONE:
        account = roles.outsider
    else:
        account = roles.member
        if status is Status.FROZEN:
            chain.transact(registry.functions.freeze(account.address), roles.officer)
    assert registry.functions.statusOf(account.address).call() == status
    return account


def deploy_cash(chain: Chain, registry: Contract, admin: LocalAccount, symbol: str = "DSD2") -> Contract:
    """Another CashToken on the same registry, not subscribed to it."""
    token, _ = chain.deploy("CashToken", [f"Second {symbol}", symbol, 6, registry.address, admin.address], admin)
    return token


# ---------------------------------------------------------------------- the status machine


@pytest.mark.parametrize(
    ("start", "operation", "end"),
    [(start, op, end) for (start, op), end in TRANSITIONS.items()],
    ids=[f"{op}-{start.name}-to-{end.name}" for (start, op), end in TRANSITIONS.items()],
)
def test_status_change_updatesTheRegistryEmitsAndIsMirrored(
    chain: Chain, registry: Contract, cash: Contract, roles: Roles, start: Status, operation: str, end: Status
) -> None:
    account = account_in(chain, registry, roles, start)

    receipt = chain.transact(registry.functions[operation](account.address), roles.officer)

    assert events(registry, "AccountStatusChanged", receipt) == [
        {"account": account.address, "previous": start, "current": end, "officer": roles.officer.address}
    ]
    assert registry.functions.statusOf(account.address).call() == end
    assert registry.functions.isActive(account.address).call() is (end is Status.ACTIVE)
    assert cash.functions.mirroredStatusOf(account.address).call() == end
    assert events(cash, "ComplianceStatusMirrored", receipt) == [{"account": account.address, "status": end}]


@pytest.mark.parametrize(("start", "operation"), INVALID, ids=[f"{op}-from-{start.name}" for start, op in INVALID])
def test_status_change_revertsIfNotApplicableToTheCurrentStatus(
    chain: Chain, registry: Contract, cash: Contract, roles: Roles, start: Status, operation: str
) -> None:
    account = account_in(chain, registry, roles, start)

    with expect_revert("ComplianceInvalidStatus", account=account, actual=start):
        chain.transact(registry.functions[operation](account.address), roles.officer)

    assert registry.functions.statusOf(account.address).call() == start
    assert cash.functions.mirroredStatusOf(account.address).call() == start


def test_transition_table_covers_every_status_and_operation() -> None:
    assert len(TRANSITIONS) + len(INVALID) == len(Status) * len(OPERATIONS)
    assert set(TRANSITIONS.values()) == set(Status)


def test_offboarded_account_can_be_onboarded_again(
    chain: Chain, registry: Contract, cash: Contract, roles: Roles
) -> None:
    member = roles.member.address
    chain.transact(registry.functions.freeze(member), roles.officer)
    chain.transact(registry.functions.offboard(member), roles.officer)

    receipt = chain.transact(registry.functions.onboard(member), roles.officer)

    assert events(registry, "AccountStatusChanged", receipt) == [
        {"account": member, "previous": Status.NONE, "current": Status.ACTIVE, "officer": roles.officer.address}
    ]
    assert registry.functions.statusOf(member).call() == Status.ACTIVE
    assert cash.functions.mirroredStatusOf(member).call() == Status.ACTIVE


def test_onboard_revertsForTheZeroAddress(chain: Chain, registry: Contract, roles: Roles) -> None:
    with expect_revert("ComplianceZeroAddress"):
        chain.transact(registry.functions.onboard(ZERO_ADDRESS), roles.officer)
    assert registry.functions.statusOf(ZERO_ADDRESS).call() == Status.NONE


@pytest.mark.parametrize("status", list(Status), ids=[s.name for s in Status])
def test_requireActive_passesOnlyForActiveAccounts(
    chain: Chain, registry: Contract, roles: Roles, status: Status
) -> None:
    account = account_in(chain, registry, roles, status)
    if status is Status.ACTIVE:
        chain.call(registry.functions.requireActive(account.address))
    else:
        with expect_revert("ComplianceAccountNotActive", account=account, status=status):
            chain.call(registry.functions.requireActive(account.address))


# ---------------------------------------------------------------------- onboardBatch


def test_onboardBatch_onboardsEveryAccountInOrder(
    chain: Chain, registry: Contract, cash: Contract, roles: Roles
) -> None:
    accounts = [roles.newcomers[0].address, roles.outsider.address, roles.newcomers[1].address]

    receipt = chain.transact(registry.functions.onboardBatch(accounts), roles.officer)

    assert events(registry, "AccountStatusChanged", receipt) == [
        {"account": a, "previous": Status.NONE, "current": Status.ACTIVE, "officer": roles.officer.address}
        for a in accounts
    ]
    for account in accounts:
        assert registry.functions.statusOf(account).call() == Status.ACTIVE
        assert cash.functions.mirroredStatusOf(account).call() == Status.ACTIVE


def test_onboardBatch_ofNoAccountsChangesNothing(chain: Chain, registry: Contract, roles: Roles) -> None:
    receipt = chain.transact(registry.functions.onboardBatch([]), roles.officer)
    assert events(registry, "AccountStatusChanged", receipt) == []


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("already-active", "ComplianceInvalidStatus"),
        ("duplicate", "ComplianceInvalidStatus"),
        ("zero", "ComplianceZeroAddress"),
    ],
    ids=["already-active", "duplicate", "zero-address"],
)
def test_onboardBatch_revertsAsAWholeIfAnyAccountCannotBeOnboarded(
    chain: Chain, registry: Contract, cash: Contract, roles: Roles, case: str, error: str
) -> None:
    newcomer = roles.newcomers[0].address
    bad, expected_args = {
        "already-active": (roles.member.address, {"account": roles.member, "actual": Status.ACTIVE}),
        "duplicate": (newcomer, {"account": newcomer, "actual": Status.ACTIVE}),
        "zero": (ZERO_ADDRESS, {}),
    }[case]

    with expect_revert(error, **expected_args):
        chain.transact(registry.functions.onboardBatch([newcomer, bad]), roles.officer)

    assert registry.functions.statusOf(newcomer).call() == Status.NONE
    assert cash.functions.mirroredStatusOf(newcomer).call() == Status.NONE
    assert registry.functions.statusOf(roles.member.address).call() == Status.ACTIVE


# ---------------------------------------------------------------------- random sequences


@settings(max_examples=examples(12))
@given(steps=st.lists(st.tuples(st.sampled_from(OPERATIONS), st.integers(0, 2)), min_size=1, max_size=6))
def test_random_status_changes_follow_the_machine_and_stay_mirrored(
    chain: Chain, registry: Contract, cash: Contract, roles: Roles, steps: list[tuple[str, int]]
) -> None:
    accounts = [roles.newcomers[0].address, roles.members[0].address, roles.members[1].address]
    model = [Status.NONE, Status.ACTIVE, Status.ACTIVE]
    snapshot = evm_snapshot(chain)
    try:
        for operation, index in steps:
            account, before = accounts[index], model[index]
            after = TRANSITIONS.get((before, operation))
            if after is None:
                with expect_revert("ComplianceInvalidStatus", account=account, actual=before):
                    chain.transact(registry.functions[operation](account), roles.officer)
            else:
                receipt = chain.transact(registry.functions[operation](account), roles.officer)
                assert events(registry, "AccountStatusChanged", receipt) == [
                    {"account": account, "previous": before, "current": after, "officer": roles.officer.address}
                ]
                model[index] = after
            statuses = read_words(chain, [(registry, "statusOf", (a,)) for a in accounts])
            mirrored = read_words(chain, [(cash, "mirroredStatusOf", (a,)) for a in accounts])
            assert statuses == model
            assert mirrored == model
    finally:
        evm_revert(chain, snapshot)


# ---------------------------------------------------------------------- subscribers


def test_addSubscriber_subscribesANewTokenAndEmits(
    chain: Chain, registry: Contract, cash: Contract, roles: Roles
) -> None:
    token = deploy_cash(chain, registry, roles.admin)
    assert registry.functions.isSubscriber(token.address).call() is False
    suite = registry.functions.subscribers().call()  # the suite's tokens, the cash first
    assert suite[0] == cash.address

    receipt = chain.transact(registry.functions.addSubscriber(token.address), roles.admin)

    assert events(registry, "SubscriberAdded", receipt) == [{"subscriber": token.address}]
    assert registry.functions.isSubscriber(token.address).call() is True
    assert registry.functions.subscribers().call() == [*suite, token.address]


def test_addSubscriber_revertsIfAlreadySubscribed(
    chain: Chain, registry: Contract, cash: Contract, roles: Roles
) -> None:
    suite = registry.functions.subscribers().call()
    with expect_revert("ComplianceSubscriberExists", subscriber=cash.address):
        chain.transact(registry.functions.addSubscriber(cash.address), roles.admin)
    assert registry.functions.subscribers().call() == suite


def test_addSubscriber_revertsForTheZeroAddress(chain: Chain, registry: Contract, cash: Contract, roles: Roles) -> None:
    suite = registry.functions.subscribers().call()
    with expect_revert("ComplianceZeroAddress"):
        chain.transact(registry.functions.addSubscriber(ZERO_ADDRESS), roles.admin)
    assert registry.functions.subscribers().call() == suite


def test_addSubscriber_revertsBeyondMaxSubscribers_andEverySubscriberGetsEveryChange(
    chain: Chain, registry: Contract, cash: Contract, roles: Roles
) -> None:
    limit = registry.functions.MAX_SUBSCRIBERS().call()
    assert limit == 16
    # The suite's tokens (the cash first, then the security) share the mirror's ABI.
    tokens = [chain.contract("CashToken", address) for address in registry.functions.subscribers().call()]
    assert tokens[0].address == cash.address
    for i in range(limit - len(tokens)):
        token = deploy_cash(chain, registry, roles.admin, symbol=f"T{i}")
        chain.transact(registry.functions.addSubscriber(token.address), roles.admin)
        tokens.append(token)
    extra = deploy_cash(chain, registry, roles.admin, symbol="EXTRA")

    with expect_revert("ComplianceTooManySubscribers", max=limit):
        chain.transact(registry.functions.addSubscriber(extra.address), roles.admin)

    assert registry.functions.subscribers().call() == [t.address for t in tokens]
    assert registry.functions.isSubscriber(extra.address).call() is False
    receipt = chain.transact(registry.functions.onboard(roles.outsider.address), roles.officer)
    for token in tokens:
        assert token.functions.mirroredStatusOf(roles.outsider.address).call() == Status.ACTIVE
        assert events(token, "ComplianceStatusMirrored", receipt) == [
            {"account": roles.outsider.address, "status": Status.ACTIVE}
        ]
    assert extra.functions.mirroredStatusOf(roles.outsider.address).call() == Status.NONE


# ---------------------------------------------------------------------- the token's mirror


@pytest.mark.parametrize("caller", ["admin", "officer", "regulator", "member", "outsider"])
def test_complianceStatusChanged_revertsUnlessCalledByTheRegistry(
    chain: Chain, cash: Contract, roles: Roles, caller: str
) -> None:
    sender = roles.named(caller)
    outsider = roles.outsider.address

    with expect_revert("ComplianceMirrorUnauthorized", caller=sender):
        chain.transact(cash.functions.complianceStatusChanged(outsider, Status.ACTIVE), sender)

    assert cash.functions.mirroredStatusOf(outsider).call() == Status.NONE


def test_syncCompliance_revertsOnATokenNotSubscribed(chain: Chain, registry: Contract, roles: Roles) -> None:
    token = deploy_cash(chain, registry, roles.admin)
    member = roles.member.address

    with expect_revert("ComplianceMirrorNotSubscribed", registry=registry.address):
        chain.transact(token.functions.syncCompliance(member), roles.outsider)

    assert token.functions.mirroredStatusOf(member).call() == Status.NONE


def test_unsubscribed_token_receives_no_status_changes(chain: Chain, registry: Contract, roles: Roles) -> None:
    token = deploy_cash(chain, registry, roles.admin)
    chain.transact(registry.functions.onboard(roles.outsider.address), roles.officer)
    assert token.functions.mirroredStatusOf(roles.outsider.address).call() == Status.NONE


@pytest.mark.parametrize("status", [Status.ACTIVE, Status.FROZEN], ids=["ACTIVE", "FROZEN"])
def test_syncCompliance_copiesTheRegistryStatusOnceSubscribed(
    chain: Chain, registry: Contract, roles: Roles, status: Status
) -> None:
    member = account_in(chain, registry, roles, status).address
    token = deploy_cash(chain, registry, roles.admin)
    chain.transact(registry.functions.addSubscriber(token.address), roles.admin)
    assert token.functions.mirroredStatusOf(member).call() == Status.NONE

    receipt = chain.transact(token.functions.syncCompliance(member), roles.outsider)

    assert token.functions.mirroredStatusOf(member).call() == status
    assert events(token, "ComplianceStatusMirrored", receipt) == [{"account": member, "status": status}]
    chain.transact(registry.functions.offboard(member), roles.officer)
    assert token.functions.mirroredStatusOf(member).call() == Status.NONE


# ---------------------------------------------------------------------- roles


def test_role_constants_are_the_hashes_of_their_names(registry: Contract) -> None:
    assert registry.functions.COMPLIANCE_ROLE().call() == keccak(text="COMPLIANCE_ROLE")
    assert registry.functions.REGULATOR_ROLE().call() == keccak(text="REGULATOR_ROLE")
    assert registry.functions.DEFAULT_ADMIN_ROLE().call() == bytes(32)


def test_regulator_holds_only_the_regulator_role(registry: Contract, cash: Contract, roles: Roles) -> None:
    regulator = roles.regulator.address
    assert registry.functions.hasRole(registry.functions.REGULATOR_ROLE().call(), regulator).call() is True
    for role in ("COMPLIANCE_ROLE", "DEFAULT_ADMIN_ROLE"):
        assert registry.functions.hasRole(registry.functions[role]().call(), regulator).call() is False
    for role in ("DEFAULT_ADMIN_ROLE", "MASTER_MINTER_ROLE", "MINTER_ROLE", "BURNER_ROLE", "PAUSER_ROLE"):
        assert cash.functions.hasRole(cash.functions[role]().call(), regulator).call() is False


REGULATOR_ATTEMPTS = {
    "onboard": ("COMPLIANCE_ROLE", lambda r: ("onboard", [r.outsider.address])),
    "onboardBatch": ("COMPLIANCE_ROLE", lambda r: ("onboardBatch", [[r.outsider.address]])),
    "freeze": ("COMPLIANCE_ROLE", lambda r: ("freeze", [r.member.address])),
    "unfreeze": ("COMPLIANCE_ROLE", lambda r: ("unfreeze", [r.member.address])),
    "offboard": ("COMPLIANCE_ROLE", lambda r: ("offboard", [r.member.address])),
    "addSubscriber": ("DEFAULT_ADMIN_ROLE", lambda r: ("addSubscriber", [r.outsider.address])),
    "grantRole": ("DEFAULT_ADMIN_ROLE", lambda r: ("grantRole", ["COMPLIANCE_ROLE", r.regulator.address])),
    "revokeRole": ("DEFAULT_ADMIN_ROLE", lambda r: ("revokeRole", ["COMPLIANCE_ROLE", r.officer.address])),
}


@pytest.mark.parametrize("function", list(REGULATOR_ATTEMPTS))
def test_regulator_cannotCallAnyMutatingFunction(
    chain: Chain, registry: Contract, cash: Contract, roles: Roles, function: str
) -> None:
    needed_role_name, build = REGULATOR_ATTEMPTS[function]
    needed_role = registry.functions[needed_role_name]().call()
    fn_name, args = build(roles)
    args = [registry.functions[a]().call() if isinstance(a, str) and a.endswith("_ROLE") else a for a in args]

    suite = registry.functions.subscribers().call()
    with expect_revert("AccessControlUnauthorizedAccount", account=roles.regulator, neededRole=needed_role):
        chain.transact(registry.functions[fn_name](*args), roles.regulator)

    assert registry.functions.statusOf(roles.outsider.address).call() == Status.NONE
    assert registry.functions.statusOf(roles.member.address).call() == Status.ACTIVE
    assert registry.functions.subscribers().call() == suite
    compliance = registry.functions.COMPLIANCE_ROLE().call()
    assert registry.functions.hasRole(compliance, roles.officer.address).call() is True
    assert registry.functions.hasRole(compliance, roles.regulator.address).call() is False


def test_regulator_cannotRenounceSomeoneElsesRole(chain: Chain, registry: Contract, roles: Roles) -> None:
    compliance = registry.functions.COMPLIANCE_ROLE().call()
    with expect_revert("AccessControlBadConfirmation"):
        chain.transact(registry.functions.renounceRole(compliance, roles.officer.address), roles.regulator)
    assert registry.functions.hasRole(compliance, roles.officer.address).call() is True


@pytest.mark.parametrize("kind", ["wallet", "contract-without-the-interface"])
def test_addSubscriber_revertsForAnAccountThatIsNotASubscriber(
    chain: Chain, registry: Contract, roles: Roles, kind: str
) -> None:
    # A wrong subscriber could never be removed and would make every later status change revert.
    candidate = roles.outsider.address if kind == "wallet" else registry.address
    with expect_revert("ComplianceSubscriberUnsupported", subscriber=candidate):
        chain.transact(registry.functions.addSubscriber(candidate), roles.admin)
    assert registry.functions.isSubscriber(candidate).call() is False
    chain.transact(registry.functions.onboard(roles.outsider.address), roles.officer)


def test_removeSubscriber_liftsABlockingSubscriber_soAFreezeIsNeverPermanent(
    chain: Chain, registry: Contract, cash: Contract, roles: Roles
) -> None:
    member = roles.member.address
    suite = registry.functions.subscribers().call()
    chain.transact(registry.functions.freeze(member), roles.officer)
    blocker, _ = chain.deploy("RevertingSubscriber", [], roles.admin)
    chain.transact(registry.functions.addSubscriber(blocker.address), roles.admin)
    with expect_revert("RevertingSubscriberRefused", account=member):
        chain.transact(registry.functions.unfreeze(member), roles.officer)
    assert registry.functions.statusOf(member).call() == Status.FROZEN

    with expect_revert("AccessControlUnauthorizedAccount", account=roles.officer.address, neededRole=bytes(32)):
        chain.transact(registry.functions.removeSubscriber(blocker.address), roles.officer)
    receipt = chain.transact(registry.functions.removeSubscriber(blocker.address), roles.admin)
    assert events(registry, "SubscriberRemoved", receipt) == [{"subscriber": blocker.address}]
    assert registry.functions.isSubscriber(blocker.address).call() is False
    assert registry.functions.subscribers().call() == suite

    chain.transact(registry.functions.unfreeze(member), roles.officer)
    assert registry.functions.statusOf(member).call() == Status.ACTIVE
    assert cash.functions.mirroredStatusOf(member).call() == Status.ACTIVE


def test_removeSubscriber_keepsTheOthers_andRevertsForANonSubscriber(
    chain: Chain, registry: Contract, cash: Contract, roles: Roles
) -> None:
    first, second = (deploy_cash(chain, registry, roles.admin, symbol=s) for s in ("R1", "R2"))
    suite = registry.functions.subscribers().call()
    for token in (first, second):
        chain.transact(registry.functions.addSubscriber(token.address), roles.admin)
    chain.transact(first.functions.syncCompliance(roles.member.address), roles.outsider)  # a new token's copy
    chain.transact(registry.functions.removeSubscriber(first.address), roles.admin)
    assert registry.functions.subscribers().call() == [*suite, second.address]
    with expect_revert("ComplianceNotSubscriber", subscriber=first.address):
        chain.transact(registry.functions.removeSubscriber(first.address), roles.admin)
    # The removed token keeps its copy (it syncs only while subscribed); the other follows every change.
    chain.transact(registry.functions.freeze(roles.member.address), roles.officer)
    assert second.functions.mirroredStatusOf(roles.member.address).call() == Status.FROZEN
    assert first.functions.mirroredStatusOf(roles.member.address).call() == Status.ACTIVE
    with expect_revert("ComplianceMirrorNotSubscribed", registry=registry.address):
        chain.transact(first.functions.syncCompliance(roles.member.address), roles.outsider)
    # Subscribed again, anyone brings its copy up to date.
    chain.transact(registry.functions.addSubscriber(first.address), roles.admin)
    chain.transact(first.functions.syncCompliance(roles.member.address), roles.outsider)
    assert first.functions.mirroredStatusOf(roles.member.address).call() == Status.FROZEN
