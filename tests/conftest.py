"""Session-wide local chain with the suite deployed once, and snapshot/revert isolation per test.

The base scenario, set up once and restored after every test (fixtures that set up more for every
test, such as contracts of their own, can keep that setup between tests with :class:`SetupCache`):

- the suite deployed with :meth:`RoleConfig.devnet` roles (development accounts 0-6);
- members (development accounts 7-12), the minter (4) and the burner (5) onboarded;
- the minter configured with :data:`MINTER_ALLOWANCE`;
- nobody holds any cash; the outsider (15) and the newcomers (13, 14) were never onboarded.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, settings
from web3 import Web3
from web3.contract import Contract

from dfmi_py.build import compile_contracts
from dfmi_py.chain import Chain, dev_account
from dfmi_py.deploy.roles import DEV_ACCOUNT_COUNT, DEV_ROLE_INDEX, FIRST_MEMBER_INDEX, RoleConfig
from dfmi_py.deploy.suite import Deployment, deploy_suite
from dfmi_py.node import AnvilNode, HardhatNode
from tests.helpers import HYPOTHESIS_PROFILE, LONG_EXAMPLES, Roles, SetupCache

#: Units the minter may mint in the base scenario (a trillion dollars at 6 decimals).
MINTER_ALLOWANCE = 10**18
MEMBER_COUNT = 6
OUTSIDER_INDEX = 15

# Two Hypothesis profiles: "dfmi", the test command's (a property without its own count runs 30
# examples; the others run the count given with `examples()`, chosen for what one example costs),
# and "long" (DFMI_HYPOTHESIS_PROFILE=long: every property at least LONG_EXAMPLES). No example
# database: every run draws afresh (a clean clone has none), and a failure prints its example.
_PROFILE = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}
settings.register_profile("dfmi", max_examples=30, **_PROFILE)
settings.register_profile("long", max_examples=LONG_EXAMPLES, **_PROFILE)
if HYPOTHESIS_PROFILE not in ("dfmi", "long"):
    raise pytest.UsageError(f"DFMI_HYPOTHESIS_PROFILE must be dfmi or long, not {HYPOTHESIS_PROFILE!r}")
settings.load_profile(HYPOTHESIS_PROFILE)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_setupnodes(config: pytest.Config, specs: Any) -> None:
    """Under pytest-xdist, compile (or load the cache) once on the controller before the workers start.

    Every worker's ``chain`` fixture then reads the cached artifacts instead of running the
    compiler at the same time as the others. A compiler error is left for the workers to report
    as test errors.
    """
    with contextlib.suppress(Exception):
        compile_contracts()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep the ape tests on one xdist worker (``--dist loadgroup``): they share ape's build folders."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        if item.path.name == "test_ape.py":
            item.add_marker(pytest.mark.xdist_group("ape"))


@pytest.fixture(scope="session")
def node() -> Iterator[AnvilNode]:
    """One anvil process for the whole session."""
    with AnvilNode(accounts=DEV_ACCOUNT_COUNT) as anvil:
        yield anvil


@pytest.fixture(scope="module")
def anvil() -> Iterator[AnvilNode]:
    """An Anvil of the module's own, for tests that mine, make faults or follow a chain over many
    blocks (the session's ``chain`` reverts to a snapshot after every test)."""
    with AnvilNode(accounts=DEV_ACCOUNT_COUNT) as node:
        yield node


@pytest.fixture(scope="module")
def direct(anvil: AnvilNode) -> Chain:
    """A connection straight to the module's own Anvil: setting up, making faults, reading the truth."""
    return Chain(Web3(Web3.HTTPProvider(anvil.rpc_url)))


@pytest.fixture(scope="session")
def hardhat_node() -> Iterator[HardhatNode]:
    """One Hardhat node for the session: a second, independent JSON-RPC implementation (nothing deployed)."""
    with HardhatNode(accounts=DEV_ACCOUNT_COUNT) as hardhat:
        yield hardhat


@pytest.fixture(scope="session")
def chain(node: AnvilNode) -> Iterator[Chain]:
    """A connection to the session's chain, with the compiled artifacts.

    The transport is tuned for tens of thousands of requests to a local node: requests does not
    scan the environment for proxy settings on every request, and web3 caches the chain id it
    otherwise fetches again to validate every transaction and call.
    """
    session = requests.Session()
    session.trust_env = False
    provider = Web3.HTTPProvider(
        node.rpc_url, session=session, cache_allowed_requests=True, cacheable_requests={"eth_chainId"}
    )
    yield Chain(Web3(provider))
    session.close()


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
def setup_cache(chain: Chain, deployment: Deployment) -> SetupCache:
    """The base scenario's snapshot, and the setups of fixtures kept on top of it between tests."""
    return SetupCache(chain)


_ACTIVE_CACHE = pytest.StashKey[SetupCache]()


@pytest.fixture(autouse=True)
def _isolate_chain(request: pytest.FixtureRequest) -> Iterator[None]:
    """Return the chain to the base scenario, plus the setups kept for the next test, after every test
    that touches it; before it, revert the kept setups that it does not ask for."""
    if "chain" not in request.fixturenames:
        yield
        return
    cache: SetupCache = request.getfixturevalue("setup_cache")
    cache.begin(request.node)
    request.node.stash[_ACTIVE_CACHE] = cache
    yield
    cache.end()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    """Before the test body: the chain holds only setups the test asked for."""
    cache = item.stash.get(_ACTIVE_CACHE, None)
    if cache is not None:
        cache.check()


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
