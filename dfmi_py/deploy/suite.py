"""Deploy the suite to any chain, or reuse what a manifest says is already there.

Order matters: a contract is redeployed when its sources changed, when its code is not at the
recorded address (a restarted local chain, for instance), or when a contract it depends on was
redeployed. Role grants and subscriptions are checked before they are sent, so a second run on
the same chain sends nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3.contract import Contract
from web3.types import Nonce
from web3.utils.address import get_create_address

from dfmi_py.chain.client import Chain
from dfmi_py.deploy.manifest import ContractRecord, Manifest, manifest_path
from dfmi_py.deploy.params import MarketParams
from dfmi_py.deploy.roles import RoleConfig
from dfmi_py.errors import DeploymentError, ManifestError

logger = logging.getLogger(__name__)


@dataclass
class Deployment:
    """The suite on one chain: its manifest and a contract object per component."""

    chain: Chain
    manifest: Manifest
    manifest_file: Path

    def contract(self, name: str) -> Contract:
        """The deployed contract ``name``."""
        return self.chain.contract(name, self.manifest.address(name))

    @property
    def registry(self) -> Contract:
        """The compliance registry."""
        return self.contract("ComplianceRegistry")

    @property
    def cash(self) -> Contract:
        """The tokenised cash."""
        return self.contract("CashToken")

    @property
    def oracle(self) -> Contract:
        """The price feed."""
        return self.contract("PriceOracle")

    @property
    def engine(self) -> Contract:
        """The derivative engine."""
        return self.contract("DerivativeEngine")

    def underlyings(self) -> dict[str, tuple[Contract, Contract]]:
        """Each underlying's price feed and derivative engine, by market name."""
        return {"default": (self.oracle, self.engine)}

    @property
    def fund(self) -> Contract:
        """The default fund."""
        return self.contract("DefaultFund")

    @property
    def security(self) -> Contract:
        """The tokenised security (the delivery leg of DvP)."""
        return self.contract("SecurityToken")

    @property
    def settlement(self) -> Contract:
        """The atomic DvP/PvP settlement contract."""
        return self.contract("AtomicSettlement")

    @property
    def netting(self) -> Contract:
        """The multilateral netting contract."""
        return self.contract("NettingEngine")


@dataclass(frozen=True)
class _Spec:
    name: str
    depends_on: tuple[str, ...]
    args: Callable[[dict[str, str], LocalAccount, MarketParams, RoleConfig], Sequence[Any]]


SUITE: tuple[_Spec, ...] = (
    _Spec("ComplianceRegistry", (), lambda addr, deployer, p, roles: [deployer.address]),
    _Spec(
        "CashToken",
        ("ComplianceRegistry",),
        lambda addr, deployer, p, roles: [
            p.cash.name,
            p.cash.symbol,
            p.cash.decimals,
            addr["ComplianceRegistry"],
            deployer.address,
        ],
    ),
    _Spec(
        "PriceOracle",
        (),
        lambda addr, deployer, p, roles: _oracle_args(p, roles),
    ),
    _Spec(
        "DerivativeEngine",
        ("ComplianceRegistry", "CashToken", "PriceOracle"),
        lambda addr, deployer, p, roles: [
            addr["ComplianceRegistry"],
            addr["CashToken"],
            addr["PriceOracle"],
            deployer.address,
            p.engine.cure_period,
            p.engine.max_price_age,
            # Predicted: the fund is deployed right after the engine (see PAIRED).
            addr["DefaultFund"],
        ],
    ),
    _Spec(
        "DefaultFund",
        ("ComplianceRegistry", "CashToken", "DerivativeEngine"),
        lambda addr, deployer, p, roles: [
            addr["ComplianceRegistry"],
            addr["CashToken"],
            p.fund.threshold_bps,
            p.fund.requirement_bps,
            p.fund.floor_amount(p.cash.decimals),
            p.fund.replenishment_window,
            [addr["DerivativeEngine"]],
        ],
    ),
    _Spec(
        "SecurityToken",
        ("ComplianceRegistry",),
        lambda addr, deployer, p, roles: [
            p.security.name,
            p.security.symbol,
            p.security.decimals,
            addr["ComplianceRegistry"],
            deployer.address,
        ],
    ),
    # No roles: it holds nothing and nobody governs it. Its one argument is the netting contract
    # it trusts with DvP cash legs (predicted: deployed right after it, see PAIRED).
    _Spec("AtomicSettlement", (), lambda addr, deployer, p, roles: [addr["NettingEngine"]]),
    # No roles either: any onboarded account opens a round; it holds members' pre-funding.
    _Spec(
        "NettingEngine",
        ("ComplianceRegistry", "CashToken", "AtomicSettlement"),
        lambda addr, deployer, p, roles: [addr["ComplianceRegistry"], addr["CashToken"], addr["AtomicSettlement"]],
    ),
)


def _oracle_args(params: MarketParams, roles: RoleConfig) -> list[Any]:
    """The oracle's constructor arguments: its reporters are fixed there, not granted later."""
    return [params.oracle.description, params.oracle.decimals, list(roles.reporters), params.oracle.config_tuple()]


def _check_oracle_roles(params: MarketParams, roles: RoleConfig) -> None:
    """Refuse, before sending anything, roles with too few reporters for the oracle's settings."""
    needed = params.oracle.min_reporters()
    if len(roles.reporters) < needed:
        raise DeploymentError(
            f"the oracle needs at least {needed} reporters (jump_quorum {params.oracle.jump_quorum} + max_faults "
            f"{params.oracle.max_faults}), the roles name {len(roles.reporters)}: list them under `reporters`"
        )


#: Contracts deployed together, the second in the transaction right after the first: the first
#: holds the second's address (immutable, predicted from the deployer's nonce) and the second
#: checks or registers the first in its constructor (it must already have code). Either one
#: redeployed means both are. The engine holds the fund's address; the settlement contract
#: trusts the netting contract's, which checks that it does.
PAIRED = {"DerivativeEngine": "DefaultFund", "AtomicSettlement": "NettingEngine"}


def deploy_suite(
    chain: Chain,
    deployer: LocalAccount,
    roles: RoleConfig,
    *,
    manifest_dir: Path | None = None,
    fresh: bool = False,
    params: MarketParams | None = None,
    officer: LocalAccount | None = None,
) -> Deployment:
    """Deploy (or reuse) every contract, grant roles, and write the manifest.

    Args:
        chain: The chain to deploy to.
        deployer: Pays for and signs the deployment; holds the admin roles until they are handed
            to ``roles.admin``.
        roles: Who gets which role; ``roles.reporters`` become the oracle's reporters (at least
            ``jump_quorum + max_faults`` of them).
        manifest_dir: Folder of manifests (see :func:`manifest_path`).
        fresh: Deploy everything again even if the manifest's contracts are there.
        params: Constructor parameters; :class:`MarketParams` defaults when ``None``.
        officer: The compliance officer's key, to onboard the contracts that hold cash (the
            derivative engine). Without it, the officer must onboard them before use.

    Returns:
        The deployment, with its manifest saved.

    Raises:
        DeploymentError: too few reporters for the oracle's settings (nothing sent), or a paired
            contract did not land where its partner expects it.
    """
    params = params or MarketParams()
    _check_oracle_roles(params, roles)
    path = manifest_path(chain.chain_id, manifest_dir)
    genesis = _genesis_hash(chain)
    previous = None if fresh else _previous_manifest(path, genesis)
    manifest = Manifest(
        chain_id=chain.chain_id,
        genesis_hash=genesis,
        deployer=deployer.address,
        solc_version=chain.artifacts.solc_version,
    )
    redeployed: set[str] = set()
    predicted: dict[str, str] = {}
    specs = {spec.name: spec for spec in SUITE}
    for spec in SUITE:
        record = previous.contracts.get(spec.name) if previous else None
        reason = _why_redeploy(chain, spec, record, redeployed)
        partner = PAIRED.get(spec.name)
        if reason is None and partner is not None:
            partner_record = previous.contracts.get(partner) if previous else None
            if _why_redeploy(chain, specs[partner], partner_record, redeployed) is not None:
                reason = f"{partner} must be redeployed with it"
        if reason is None and record is not None:
            logger.info("reusing %s at %s", spec.name, record.address)
            manifest.contracts[spec.name] = record
            continue
        logger.info("deploying %s (%s)", spec.name, reason)
        addresses = {name: rec.address for name, rec in manifest.contracts.items()}
        if partner is not None:
            # The partner is the deployer's next transaction after this one.
            nonce = chain.w3.eth.get_transaction_count(deployer.address, "pending")
            predicted[partner] = get_create_address(deployer.address, Nonce(nonce + 1))
            addresses[partner] = predicted[partner]
        contract, receipt = chain.deploy(spec.name, spec.args(addresses, deployer, params, roles), deployer)
        if spec.name in predicted and contract.address != predicted[spec.name]:
            raise DeploymentError(
                f"{spec.name} landed at {contract.address}, not at {predicted[spec.name]} where its partner "
                "expects it: another transaction from the deployer came in between; deploy again with --fresh"
            )
        manifest.contracts[spec.name] = ContractRecord(
            address=contract.address,
            block=receipt["blockNumber"],
            tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
            code_hash=_code_hash(chain, contract.address),
            bytecode_hash=_bytecode_hash(chain, spec.name),
        )
        redeployed.add(spec.name)
        manifest.save(path)
    deployment = Deployment(chain=chain, manifest=manifest, manifest_file=path)
    _configure(deployment, deployer, roles)
    _onboard_system_accounts(deployment, officer)
    manifest.save(path)
    logger.info("manifest written to %s", path)
    return deployment


def load_deployment(chain: Chain, manifest_dir: Path | None = None) -> Deployment:
    """Open the deployment recorded for ``chain``, checking the code is really there.

    Raises:
        ManifestError: no manifest for this chain, or its contracts are not on the chain.
    """
    path = manifest_path(chain.chain_id, manifest_dir)
    manifest = Manifest.load(path)
    if manifest.genesis_hash != _genesis_hash(chain):
        raise ManifestError(
            f"the manifest {path} was written for another chain with id {chain.chain_id} "
            "(its genesis block differs): run `dfmi deploy` against this chain"
        )
    for name, record in manifest.contracts.items():
        if _code_hash(chain, record.address) != record.code_hash:
            raise ManifestError(f"{name} is not deployed at {record.address} on this chain: run `dfmi deploy`")
    return Deployment(chain=chain, manifest=manifest, manifest_file=path)


# ---------------------------------------------------------------------- roles


def _configure(deployment: Deployment, deployer: LocalAccount, roles: RoleConfig) -> None:
    chain, registry, cash = deployment.chain, deployment.registry, deployment.cash
    grants = [
        (registry, "COMPLIANCE_ROLE", roles.compliance_officer),
        (registry, "REGULATOR_ROLE", roles.regulator),
        (cash, "MASTER_MINTER_ROLE", roles.master_minter),
        (cash, "BURNER_ROLE", roles.burner),
        (cash, "PAUSER_ROLE", roles.pauser),
        (deployment.security, "PAUSER_ROLE", roles.pauser),
        *(((deployment.security, "ISSUER_ROLE", roles.issuer),) if roles.issuer else ()),
    ]
    for contract, role_name, holder in grants:
        role = contract.functions[role_name]().call()
        if not contract.functions.hasRole(role, holder).call():
            chain.transact(contract.functions.grantRole(role, holder), deployer, f"grant {role_name}")
    _check_reporters(deployment, roles)
    for token in (cash, deployment.security):
        if not registry.functions.isSubscriber(token.address).call():
            chain.transact(registry.functions.addSubscriber(token.address), deployer, "subscribe token")
    if roles.admin != deployer.address:
        for contract in (registry, cash, deployment.engine, deployment.security):
            admin_role = contract.functions.DEFAULT_ADMIN_ROLE().call()
            if not contract.functions.hasRole(admin_role, roles.admin).call():
                chain.transact(contract.functions.grantRole(admin_role, roles.admin), deployer, "grant admin")
            if contract.functions.hasRole(admin_role, deployer.address).call():
                chain.transact(
                    contract.functions.renounceRole(admin_role, deployer.address), deployer, "renounce admin"
                )


def _check_reporters(deployment: Deployment, roles: RoleConfig) -> None:
    """Warn when a reused oracle's reporters are not the roles': nobody but they can change them."""
    on_chain = tuple(deployment.oracle.functions.reporters().call())
    if on_chain != roles.reporters:
        logger.warning(
            "the oracle's reporters are %s, not the roles' %s: only the reporters change their set, by "
            "their own proposal and approvals (Oracle.propose_change / approve_change); --fresh deploys anew",
            ", ".join(on_chain),
            ", ".join(roles.reporters),
        )


#: Contracts that hold cash, or move it as a spender (the settlement contract), and so must be
#: active in the registry.
CASH_HOLDERS = ("DerivativeEngine", "DefaultFund", "AtomicSettlement", "NettingEngine")


def _onboard_system_accounts(deployment: Deployment, officer: LocalAccount | None) -> None:
    registry = deployment.registry
    for name in CASH_HOLDERS:
        address = deployment.manifest.address(name)
        if registry.functions.statusOf(address).call() != 0:
            continue
        if officer is None:
            logger.warning("%s at %s holds cash: the compliance officer must onboard it", name, address)
            continue
        deployment.chain.transact(registry.functions.onboard(address), officer, f"onboard {name}")


# ---------------------------------------------------------------------- reuse checks


def _why_redeploy(chain: Chain, spec: _Spec, record: ContractRecord | None, redeployed: set[str]) -> str | None:
    if record is None:
        return "not in the manifest"
    if record.bytecode_hash != _bytecode_hash(chain, spec.name):
        return "its sources changed"
    if _code_hash(chain, record.address) != record.code_hash:
        return f"its code is not at {record.address}"
    changed = redeployed.intersection(spec.depends_on)
    if changed:
        return f"{', '.join(sorted(changed))} was redeployed"
    return None


def _previous_manifest(path: Path, genesis: str) -> Manifest | None:
    if not path.exists():
        return None
    try:
        manifest = Manifest.load(path)
    except ManifestError as exc:
        logger.warning("ignoring unreadable manifest: %s", exc)
        return None
    if manifest.genesis_hash != genesis:
        logger.info("the manifest at %s belongs to an earlier chain with this id; deploying anew", path)
        return None
    return manifest


def _genesis_hash(chain: Chain) -> str:
    return "0x" + bytes(chain.w3.eth.get_block(0)["hash"]).hex()


def _code_hash(chain: Chain, address: str) -> str:
    return "0x" + keccak(bytes(chain.w3.eth.get_code(chain.w3.to_checksum_address(address)))).hex()


def _bytecode_hash(chain: Chain, name: str) -> str:
    return "0x" + keccak(hexstr=chain.artifacts[name].bytecode).hex()
