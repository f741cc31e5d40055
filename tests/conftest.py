"""Session-wide local chain with the suite deployed once, and snapshot/revert isolation per test.

The base scenario, set up once and restored after every test:

- the suite deployed with :meth:`RoleConfig.devnet` roles (development accounts 0-6);
- members (development accounts 7-12), the minter (4) and the burner (5) onboarded;
- the minter configured with :data:`MINTER_ALLOWANCE`;
- nobody holds any cash; the outsider (15) and the newcomers (13, 14) were never onboarded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, settings
from web3.contract import Contract

from dfmi_py.chain import Chain, dev_account
from dfmi_py.deploy.roles import DEV_ROLE_INDEX, FIRST_MEMBER_INDEX, RoleConfig
from dfmi_py.deploy.suite import Deployment, deploy_suite
from dfmi_py.node import AnvilNode
from tests.helpers import Roles, evm_revert, evm_snapshot

#: Units the minter may mint in the base scenario (a trillion dollars at 6 decimals).
MINTER_ALLOWANCE = 10**18
MEMBER_COUNT = 6
OUTSIDER_INDEX = 15

settings.register_profile(
    "dfmi",
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.load_profile("dfmi")


@pytest.fixture(scope="session")
def node() -> Iterator[AnvilNode]:
    """One anvil process for the whole session."""
    with AnvilNode(accounts=20) as anvil:
        yield anvil


@pytest.fixture(scope="session")
def chain(node: AnvilNode) -> Chain:
    """A connection to the session's chain, with the compiled artifacts."""
    return Chain.connect(node.rpc_url)


@pytest.fixture(scope="session")
def roles() -> Roles:
    """The base scenario's accounts by role."""
    return Roles(
        admin=dev_account(DEV_ROLE_INDEX["admin"]),
        officer=dev_account(DEV_ROLE_INDEX["compliance_officer"]),
        regulator=dev_account(DEV_ROLE_INDEX["regulator"]),
        master_minter=dev_account(DEV_ROLE_INDEX["master_minter"]),
        minter=dev_account(DEV_ROLE_INDEX["minter"]),
        burner=dev_account(DEV_ROLE_INDEX["burner"]),
        pauser=dev_account(DEV_ROLE_INDEX["pauser"]),
        members=tuple(dev_account(FIRST_MEMBER_INDEX + i) for i in range(MEMBER_COUNT)),
        outsider=dev_account(OUTSIDER_INDEX),
        newcomers=(dev_account(13), dev_account(14)),
    )


@pytest.fixture(scope="session")
def deployment(chain: Chain, roles: Roles, tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    """The suite deployed once, with the base scenario's accounts onboarded and the minter configured."""
    config = RoleConfig.devnet()
    by_role = {
        "admin": roles.admin,
        "compliance_officer": roles.officer,
        "regulator": roles.regulator,
        "master_minter": roles.master_minter,
        "minter": roles.minter,
        "burner": roles.burner,
        "pauser": roles.pauser,
    }
    for role, account in by_role.items():
        assert getattr(config, role) == account.address, (
            f"the roles fixture disagrees with RoleConfig.devnet() on {role}"
        )
    deployed = deploy_suite(chain, roles.admin, config, manifest_dir=tmp_path_factory.mktemp("deployments"))
    registry, cash = deployed.registry, deployed.cash
    for account in (*roles.members, roles.minter, roles.burner):
        chain.transact(registry.functions.onboard(account.address), roles.officer)
    chain.transact(cash.functions.configureMinter(roles.minter.address, MINTER_ALLOWANCE), roles.master_minter)
    return deployed


@pytest.fixture(scope="session")
def _base_snapshot(chain: Chain, deployment: Deployment) -> dict[str, str]:
    """The id of a snapshot of the base scenario; replaced after every use (ids are single-use)."""
    return {"id": evm_snapshot(chain)}


@pytest.fixture(autouse=True)
def _isolate_chain(request: pytest.FixtureRequest) -> Iterator[None]:
    """Return the chain to the base scenario after every test that touches it."""
    if "chain" not in request.fixturenames:
        yield
        return
    snapshot = request.getfixturevalue("_base_snapshot")
    yield
    chain: Chain = request.getfixturevalue("chain")
    evm_revert(chain, snapshot["id"])
    snapshot["id"] = evm_snapshot(chain)


@pytest.fixture(scope="session")
def registry(deployment: Deployment) -> Contract:
    """The compliance registry."""
    return deployment.registry


@pytest.fixture(scope="session")
def cash(deployment: Deployment) -> Contract:
    """The cash token."""
    return deployment.cash


@pytest.fixture
def fund(chain: Chain, cash: Contract, roles: Roles) -> Callable[[str, int], None]:
    """Mint ``amount`` to ``account`` from the base scenario's minter."""

    def _fund(account: str, amount: int) -> None:
        chain.transact(cash.functions.mint(account, amount), roles.minter)

    return _fund
