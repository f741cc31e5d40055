"""Access-control matrix: every privileged function, called by every account lacking its role, reverts.

Each row of :data:`PRIVILEGED` names a function, the role it needs and who holds that role in the
base scenario. The matrix calls the function from every other account and expects
``AccessControlUnauthorizedAccount(caller, role)``; a control test calls it from the holder and
expects it to go through, so a row that names the wrong role fails.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from web3.contract import Contract

from dfmi_py.chain import Chain
from dfmi_py.deploy.suite import Deployment
from tests.helpers import Roles, expect_revert

#: Everyone in the base scenario who could try: role holders, a member and a never-onboarded outsider.
CALLERS = ("admin", "officer", "regulator", "master_minter", "minter", "burner", "pauser", "member", "outsider")

Args = Callable[[Roles, Contract], list[Any]]
Prepare = Callable[[Chain, Deployment, Roles], None]


def _nothing(chain: Chain, deployment: Deployment, roles: Roles) -> None:
    """No preparation needed."""


def _freeze_second_member(chain: Chain, deployment: Deployment, roles: Roles) -> None:
    chain.transact(deployment.registry.functions.freeze(roles.members[1].address), roles.officer)


def _hand_cash_to_burner(chain: Chain, deployment: Deployment, roles: Roles) -> None:
    chain.transact(deployment.cash.functions.mint(roles.burner.address, 10), roles.minter)


def _pause(chain: Chain, deployment: Deployment, roles: Roles) -> None:
    chain.transact(deployment.cash.functions.pause(), roles.pauser)


#: A compliance subscriber deployed by `_deploy_spare_token`: `addSubscriber` needs a contract that
#: declares IComplianceSubscriber. Unauthorised callers are refused before that is checked.
SPARE: dict[str, str] = {}


def _deploy_spare_token(chain: Chain, deployment: Deployment, roles: Roles) -> None:
    token, _ = chain.deploy(
        "CashToken", ["Spare", "SPR", 6, deployment.registry.address, roles.admin.address], roles.admin
    )
    SPARE["token"] = token.address


#: A compressed secp256k1 key (the curve's generator) for the regulator to publish.
DISCLOSURE_KEY = bytes.fromhex("0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
#: An identity envelope naming key epoch 1 (the registry reads its version and epoch only).
ENVELOPE = bytes([1]) + (1).to_bytes(4, "big") + bytes(200)


def _publish_disclosure_key(chain: Chain, deployment: Deployment, roles: Roles) -> None:
    chain.transact(deployment.registry.functions.publishRegulatorKey(DISCLOSURE_KEY), roles.regulator)


def _role(name: str) -> Callable[[Contract], bytes]:
    return lambda contract: bytes(contract.functions[name]().call())


@dataclass(frozen=True)
class Privileged:
    """A privileged function: where it lives, what it needs, who holds that, and valid arguments.

    ``prepare`` puts the chain in a state where the holder's call succeeds (e.g. pause before
    unpause), so the control test proves the row's role is the one that matters.
    """

    contract: str
    function: str
    role: str
    holder: str
    args: Args
    prepare: Prepare = field(default=_nothing)
    label: str = ""

    @property
    def id(self) -> str:
        return f"{self.contract}.{self.function}{self.label}"


PRIVILEGED = (
    Privileged("registry", "onboard", "COMPLIANCE_ROLE", "officer", lambda r, c: [r.outsider.address]),
    Privileged("registry", "onboardBatch", "COMPLIANCE_ROLE", "officer", lambda r, c: [[r.outsider.address]]),
    Privileged("registry", "freeze", "COMPLIANCE_ROLE", "officer", lambda r, c: [r.members[1].address]),
    Privileged(
        "registry",
        "unfreeze",
        "COMPLIANCE_ROLE",
        "officer",
        lambda r, c: [r.members[1].address],
        prepare=_freeze_second_member,
    ),
    Privileged("registry", "offboard", "COMPLIANCE_ROLE", "officer", lambda r, c: [r.members[1].address]),
    Privileged("registry", "publishRegulatorKey", "REGULATOR_ROLE", "regulator", lambda r, c: [DISCLOSURE_KEY]),
    Privileged(
        "registry",
        "recordIdentity",
        "COMPLIANCE_ROLE",
        "officer",
        lambda r, c: [r.members[1].address, ENVELOPE],
        prepare=_publish_disclosure_key,
    ),
    Privileged(
        "registry",
        "addSubscriber",
        "DEFAULT_ADMIN_ROLE",
        "admin",
        lambda r, c: [SPARE.get("token", r.outsider.address)],
        prepare=_deploy_spare_token,
    ),
    Privileged(
        "registry",
        "grantRole",
        "DEFAULT_ADMIN_ROLE",
        "admin",
        lambda r, c: [_role("COMPLIANCE_ROLE")(c), r.outsider.address],
        label="(COMPLIANCE_ROLE)",
    ),
    Privileged(
        "registry",
        "revokeRole",
        "DEFAULT_ADMIN_ROLE",
        "admin",
        lambda r, c: [_role("COMPLIANCE_ROLE")(c), r.officer.address],
        label="(COMPLIANCE_ROLE)",
    ),
    Privileged(
        "cash", "configureMinter", "MASTER_MINTER_ROLE", "master_minter", lambda r, c: [r.members[1].address, 1_000]
    ),
    Privileged("cash", "removeMinter", "MASTER_MINTER_ROLE", "master_minter", lambda r, c: [r.minter.address]),
    Privileged("cash", "mint", "MINTER_ROLE", "minter", lambda r, c: [r.members[1].address, 1]),
    Privileged("cash", "burn", "BURNER_ROLE", "burner", lambda r, c: [1], prepare=_hand_cash_to_burner),
    Privileged("cash", "pause", "PAUSER_ROLE", "pauser", lambda r, c: []),
    Privileged("cash", "unpause", "PAUSER_ROLE", "pauser", lambda r, c: [], prepare=_pause),
    Privileged(
        "cash",
        "grantRole",
        "DEFAULT_ADMIN_ROLE",
        "admin",
        lambda r, c: [_role("PAUSER_ROLE")(c), r.outsider.address],
        label="(PAUSER_ROLE)",
    ),
    Privileged(
        "cash",
        "revokeRole",
        "DEFAULT_ADMIN_ROLE",
        "admin",
        lambda r, c: [_role("PAUSER_ROLE")(c), r.pauser.address],
        label="(PAUSER_ROLE)",
    ),
    Privileged(
        "cash",
        "grantRole",
        "MASTER_MINTER_ROLE",
        "master_minter",
        lambda r, c: [_role("MINTER_ROLE")(c), r.members[1].address],
        label="(MINTER_ROLE)",
    ),
    Privileged(
        "cash",
        "revokeRole",
        "MASTER_MINTER_ROLE",
        "master_minter",
        lambda r, c: [_role("MINTER_ROLE")(c), r.minter.address],
        label="(MINTER_ROLE)",
    ),
)

MATRIX = [(entry, caller) for entry in PRIVILEGED for caller in CALLERS if caller != entry.holder]


@pytest.mark.parametrize(("entry", "caller"), MATRIX, ids=[f"{e.id}-by-{caller}" for e, caller in MATRIX])
def test_privileged_function_revertsForEveryCallerWithoutTheRole(
    chain: Chain, deployment: Deployment, roles: Roles, entry: Privileged, caller: str
) -> None:
    contract: Contract = getattr(deployment, entry.contract)
    entry.prepare(chain, deployment, roles)
    sender = roles.named(caller)
    role = _role(entry.role)(contract)
    assert contract.functions.hasRole(role, sender.address).call() is False, f"{caller} holds {entry.role}"

    with expect_revert("AccessControlUnauthorizedAccount", account=sender, neededRole=role):
        chain.transact(contract.functions[entry.function](*entry.args(roles, contract)), sender)


@pytest.mark.parametrize("entry", PRIVILEGED, ids=[e.id for e in PRIVILEGED])
def test_privileged_function_succeedsForTheRoleHolder(
    chain: Chain, deployment: Deployment, roles: Roles, entry: Privileged
) -> None:
    contract: Contract = getattr(deployment, entry.contract)
    entry.prepare(chain, deployment, roles)
    holder = roles.named(entry.holder)
    assert contract.functions.hasRole(_role(entry.role)(contract), holder.address).call() is True

    receipt = chain.transact(contract.functions[entry.function](*entry.args(roles, contract)), holder)

    assert receipt["status"] == 1


def test_minter_role_is_administered_by_the_master_minter_and_the_others_by_the_admin(cash: Contract) -> None:
    admin_role = _role("DEFAULT_ADMIN_ROLE")(cash)
    assert cash.functions.getRoleAdmin(_role("MINTER_ROLE")(cash)).call() == _role("MASTER_MINTER_ROLE")(cash)
    for name in ("DEFAULT_ADMIN_ROLE", "MASTER_MINTER_ROLE", "BURNER_ROLE", "PAUSER_ROLE"):
        assert cash.functions.getRoleAdmin(_role(name)(cash)).call() == admin_role, name


def test_registry_roles_are_administered_by_the_admin(registry: Contract) -> None:
    admin_role = _role("DEFAULT_ADMIN_ROLE")(registry)
    for name in ("DEFAULT_ADMIN_ROLE", "COMPLIANCE_ROLE", "REGULATOR_ROLE"):
        assert registry.functions.getRoleAdmin(_role(name)(registry)).call() == admin_role, name


@pytest.mark.parametrize("contract_name", ["registry", "cash"])
def test_renounceRole_revertsForAnotherAccountsRole(
    chain: Chain, deployment: Deployment, roles: Roles, contract_name: str
) -> None:
    contract: Contract = getattr(deployment, contract_name)
    admin_role = _role("DEFAULT_ADMIN_ROLE")(contract)

    with expect_revert("AccessControlBadConfirmation"):
        chain.transact(contract.functions.renounceRole(admin_role, roles.admin.address), roles.outsider)

    assert contract.functions.hasRole(admin_role, roles.admin.address).call() is True
