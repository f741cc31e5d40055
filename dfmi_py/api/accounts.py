"""Who holds what across the suite: each account's roles, the markets it reports prices for,
its default-fund membership and its compliance status (``dfmi accounts``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from web3.contract import Contract

from dfmi_py.api.compliance import AccountStatus
from dfmi_py.chain.client import checksum
from dfmi_py.deploy.suite import Deployment
from dfmi_py.display import role_name


@dataclass(frozen=True)
class HeldRole:
    """One role on one contract.

    Attributes:
        contract: The contract's key in the manifest (``"CashToken"``, ``"DerivativeEngine@ACME"``).
        role: The role's name (``"MINTER_ROLE"``).
    """

    contract: str
    role: str


@dataclass(frozen=True)
class AccountRoles:
    """What one account is in the suite.

    Attributes:
        address: The account.
        status: Its status in the compliance registry.
        roles: Every access-control role it holds, by contract in manifest order.
        reporter_of: The markets whose oracle it reports prices to, in configuration order.
        fund_member: Whether it is a member of the default fund.
        index: Its development-account index on a devnet, else ``None``.
    """

    address: str
    status: AccountStatus
    roles: tuple[HeldRole, ...]
    reporter_of: tuple[str, ...]
    fund_member: bool
    index: int | None = None


def account_roles(
    deployment: Deployment, addresses: Sequence[str], indices: Sequence[int] | None = None
) -> list[AccountRoles]:
    """What each of ``addresses`` is in the suite (``indices``: their devnet indices, if any).

    Role holders are found from the ``RoleGranted`` events of each access-controlled contract
    since its deployment and confirmed with ``hasRole``, so a revoked or renounced role is not
    shown.
    """
    wanted = [checksum(a) for a in addresses]
    held: dict[str, list[HeldRole]] = {a: [] for a in wanted}
    for key, contract in _access_controlled(deployment):
        block = deployment.manifest.record(key).block
        for role, account in sorted(_grants(contract, block)):
            if account in held and contract.functions.hasRole(role, account).call():
                held[account].append(HeldRole(key, role_name(role)))
    oracles = deployment.underlyings()
    reporters = {name: set(oracle.functions.reporters().call()) for name, (oracle, _) in oracles.items()}
    registry, fund = deployment.registry.functions, deployment.fund.functions
    return [
        AccountRoles(
            address=address,
            status=AccountStatus(registry.statusOf(address).call()),
            roles=tuple(held[address]),
            reporter_of=tuple(name for name, members in reporters.items() if address in members),
            fund_member=bool(fund.isMember(address).call()),
            index=None if indices is None else indices[position],
        )
        for position, address in enumerate(wanted)
    ]


def _access_controlled(deployment: Deployment) -> list[tuple[str, Contract]]:
    contracts = [(key, deployment.contract(key)) for key in deployment.manifest.contracts]
    return [(key, c) for key, c in contracts if any(item.get("name") == "hasRole" for item in c.abi)]


def _grants(contract: Contract, from_block: int) -> set[tuple[bytes, str]]:
    """Every (role, account) ever granted on ``contract`` (some may have been revoked since)."""
    logs = contract.events.RoleGranted().get_logs(from_block=from_block)
    return {(bytes(log["args"]["role"]), checksum(log["args"]["account"])) for log in logs}
