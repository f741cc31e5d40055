"""Deploy the suite to any chain, or reuse what a manifest says is already there.

The suite is one compliance registry, cash token, default fund, security, settlement and netting
contract, and per market (underlying) a price oracle and a derivative engine; the one default
fund registers every engine. Order matters: a contract is redeployed when its sources changed,
when the settings it cannot change after deployment changed, when its code is not at the
recorded address (a restarted local chain, for instance), or when a contract it depends on was
redeployed. Contracts deployed together (:func:`deployment_plan`) are redeployed together. Role
grants and subscriptions are checked before they are sent, so a second run on the same chain with
the same configuration sends nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3.contract import Contract
from web3.types import Nonce
from web3.utils.address import get_create_address

from dfmi_py.chain.client import Chain
from dfmi_py.deploy.manifest import ContractRecord, Manifest, MarketRecord, manifest_path
from dfmi_py.deploy.params import MarketParams, UnderlyingParams
from dfmi_py.deploy.roles import RoleConfig
from dfmi_py.errors import DeploymentError, ManifestError

logger = logging.getLogger(__name__)

#: A function that shows one step of a long deployment to a person (e.g. ``click.echo``).


def oracle_key(market: str) -> str:
    """The manifest key of market ``market``'s price oracle."""
    return f"PriceOracle@{market}"


def engine_key(market: str) -> str:
    """The manifest key of market ``market``'s derivative engine."""
    return f"DerivativeEngine@{market}"


@dataclass
class Deployment:
    """The suite on one chain: its manifest and a contract object per component."""

    chain: Chain
    manifest: Manifest
    manifest_file: Path

    def contract(self, key: str) -> Contract:
        """The deployed contract recorded under ``key`` (``"CashToken"``, ``"PriceOracle@ACME"``)."""
        record = self.manifest.record(key)
        return self.chain.contract(record.artifact, record.address)

    @property
    def registry(self) -> Contract:
        """The compliance registry."""
        return self.contract("ComplianceRegistry")

    @property
    def cash(self) -> Contract:
        """The tokenised cash."""
        return self.contract("CashToken")

    @property
    def markets(self) -> list[MarketRecord]:
        """The markets (underlyings), in configuration order."""
        if not self.manifest.markets:
            raise ManifestError(f"the manifest {self.manifest_file} lists no market: run `dfmi deploy`")
        return self.manifest.markets

    @property
    def oracle(self) -> Contract:
        """The first market's price feed."""
        return self.contract(self.markets[0].oracle)

    @property
    def engine(self) -> Contract:
        """The first market's derivative engine."""
        return self.contract(self.markets[0].engine)

    def underlyings(self) -> dict[str, tuple[Contract, Contract]]:
        """Each market's price feed and derivative engine, by market name, in configuration order."""
        return {m.name: (self.contract(m.oracle), self.contract(m.engine)) for m in self.markets}

    @property
    def engines(self) -> list[Contract]:
        """Every market's derivative engine, in configuration order."""
        return [self.contract(m.engine) for m in self.markets]

    @property
    def fund(self) -> Contract:
        """The default fund (behind every engine)."""
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


# ---------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class ContractSpec:
    """One contract of the plan.

    Attributes:
        key: Its key in the manifest.
        artifact: The compiled contract's name.
        depends_on: Keys of the contracts whose addresses it holds (it is redeployed with them).
        args: Its constructor arguments, from the addresses of the contracts deployed before it
            (and of the last contract of its group, predicted).
        settings: The constructor parameters it cannot change after deployment: when they differ
            from the recorded ones, it is redeployed.
    """

    key: str
    artifact: str
    depends_on: tuple[str, ...]
    args: Callable[[Mapping[str, str]], Sequence[Any]]
    settings: tuple[Any, ...] = ()


def deployment_plan(params: MarketParams, roles: RoleConfig, deployer: str) -> list[tuple[ContractSpec, ...]]:
    """The contracts in deployment order, in groups deployed together.

    A group of several is deployed in consecutive transactions of the deployer: its earlier
    members hold the last one's address (immutable, predicted from the deployer's nonce) and the
    last one checks or registers them in its constructor (they must already have code), so any
    one of them redeployed means all are. Every market's engine holds the default fund's address
    and the fund registers every engine; the settlement contract trusts the netting contract's
    address, which checks that it does.
    """
    cash, fund, security = params.cash, params.fund, params.security
    registry_key, cash_key = "ComplianceRegistry", "CashToken"
    engine_keys = tuple(engine_key(m.name) for m in params.markets)

    def engine(market: UnderlyingParams) -> ContractSpec:
        settings = market.engine_params(params.engine)
        return ContractSpec(
            engine_key(market.name),
            "DerivativeEngine",
            (registry_key, cash_key, oracle_key(market.name)),
            lambda a: [
                a[registry_key],
                a[cash_key],
                a[oracle_key(market.name)],
                deployer,
                settings.cure_period,  # the admin changes these later (setConfig)
                settings.max_price_age,
                a["DefaultFund"],  # predicted: the fund is deployed right after the engines
            ],
        )

    def oracle(market: UnderlyingParams) -> ContractSpec:
        oracle_params = market.oracle_params()
        reporters = list(market.reporters if market.reporters is not None else roles.reporters)
        return ContractSpec(
            oracle_key(market.name),
            "PriceOracle",
            (),
            # The reporters and the fault settings are the reporters' own to change (k-of-n):
            # a reused oracle keeps them (see _check_oracles), only its feed's identity counts.
            lambda a: [oracle_params.description, oracle_params.decimals, reporters, oracle_params.config_tuple()],
            (oracle_params.description, oracle_params.decimals),
        )

    return [
        (ContractSpec(registry_key, registry_key, (), lambda a: [deployer]),),
        (
            ContractSpec(
                cash_key,
                cash_key,
                (registry_key,),
                lambda a: [cash.name, cash.symbol, cash.decimals, a[registry_key], deployer],
                (cash.name, cash.symbol, cash.decimals),
            ),
        ),
        *((oracle(m),) for m in params.markets),
        (
            *(engine(m) for m in params.markets),
            ContractSpec(
                "DefaultFund",
                "DefaultFund",
                (registry_key, cash_key, *engine_keys),
                lambda a: [
                    a[registry_key],
                    a[cash_key],
                    fund.threshold_bps,  # the members change these later (governance)
                    fund.requirement_bps,
                    fund.floor_amount(cash.decimals),
                    fund.replenishment_window,
                    [a[key] for key in engine_keys],
                ],
                # Registering another engine later needs every member: a new set of markets
                # deploys a new fund (with its engines).
                tuple(sorted(engine_keys)),
            ),
        ),
        (
            ContractSpec(
                "SecurityToken",
                "SecurityToken",
                (registry_key,),
                lambda a: [security.name, security.symbol, security.decimals, a[registry_key], deployer],
                (security.name, security.symbol, security.decimals),
            ),
        ),
        (
            # No roles: it holds nothing and nobody governs it. Its one argument is the netting
            # contract it trusts with DvP cash legs (predicted: deployed right after it).
            ContractSpec("AtomicSettlement", "AtomicSettlement", (), lambda a: [a["NettingEngine"]]),
            # No roles either: any onboarded account opens a round; it holds members' pre-funding.
            ContractSpec(
                "NettingEngine",
                "NettingEngine",
                (registry_key, cash_key, "AtomicSettlement"),
                lambda a: [a[registry_key], a[cash_key], a["AtomicSettlement"]],
            ),
        ),
    ]


#: Artifacts of the suite (each market adds a PriceOracle and a DerivativeEngine).
SUITE_ARTIFACTS = (
    "ComplianceRegistry",
    "CashToken",
    "PriceOracle",
    "DerivativeEngine",
    "DefaultFund",
    "SecurityToken",
    "AtomicSettlement",
    "NettingEngine",
)


def _check_oracle_roles(params: MarketParams, roles: RoleConfig) -> None:
    """Refuse, before sending anything, roles with too few reporters for a market's oracle."""
    for market in params.markets:
        if market.reporters is not None:
            continue  # checked with the configuration
        needed = market.jump_quorum + market.max_faults
        if len(roles.reporters) < needed:
            raise DeploymentError(
                f"market {market.name}: the oracle needs at least {needed} reporters (jump_quorum "
                f"{market.jump_quorum} + max_faults {market.max_faults}), the roles name {len(roles.reporters)}: "
                "list them under `reporters` in the roles, or in the market's configuration"
            )


# ---------------------------------------------------------------------- deploy


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
        roles: Who gets which role; ``roles.reporters`` become the reporters of every market that
            does not name its own (at least ``jump_quorum + max_faults`` of them).
        manifest_dir: Folder of manifests (see :func:`manifest_path`).
        fresh: Deploy everything again even if the manifest's contracts are there.
        params: Constructor parameters and markets; :class:`MarketParams` defaults (one market,
            ``ACME``) when ``None``.
        officer: The compliance officer's key, to onboard the contracts that hold cash (every
            engine, the fund, the settlement and netting contracts). Without it, the officer must
            onboard them before use.

    Returns:
        The deployment, with its manifest saved.

    Raises:
        DeploymentError: too few reporters for a market's settings (nothing sent), or a group's
            last contract did not land where the others expect it.
        ManifestError: the manifest file for this chain records another chain (nothing sent).
    """
    params = params or MarketParams()
    _check_oracle_roles(params, roles)
    genesis = _genesis_hash(chain)
    path = manifest_path(chain.chain_id, genesis, manifest_dir)
    previous = None if fresh else _previous_manifest(path, chain.chain_id, genesis)
    manifest = Manifest(
        chain_id=chain.chain_id,
        genesis_hash=genesis,
        deployer=deployer.address,
        solc_version=chain.artifacts.solc_version,
        markets=[
            MarketRecord(name=m.name, description=m.description, oracle=oracle_key(m.name), engine=engine_key(m.name))
            for m in params.markets
        ],
    )
    redeployed: set[str] = set()
    for group in deployment_plan(params, roles, deployer.address):
        records = [previous.contracts.get(spec.key) if previous else None for spec in group]
        reasons = [_why_redeploy(chain, spec, record, redeployed) for spec, record in zip(group, records, strict=True)]
        if not any(reasons):  # then every one of them is recorded
            for spec, record in zip(group, records, strict=True):
                if record is not None:
                    logger.info("reusing %s at %s", spec.key, record.address)
                    manifest.contracts[spec.key] = record
            continue
        _deploy_group(chain, deployer, group, reasons, manifest)
        redeployed.update(spec.key for spec in group)
        # Saved once the group is complete: a group cut short is deployed again next time.
        manifest.save(path)
    deployment = Deployment(chain=chain, manifest=manifest, manifest_file=path)
    _configure(deployment, deployer, roles, params)
    _onboard_system_accounts(deployment, officer)
    manifest.save(path)
    logger.info("manifest written to %s", path)
    return deployment


def _deploy_group(
    chain: Chain,
    deployer: LocalAccount,
    group: tuple[ContractSpec, ...],
    reasons: list[str | None],
    manifest: Manifest,
) -> None:
    culprit = next(spec.key for spec, reason in zip(group, reasons, strict=True) if reason)
    addresses = {key: record.address for key, record in manifest.contracts.items()}
    last, predicted = group[-1], None
    if len(group) > 1:
        # The last of the group is the deployer's transaction after the others.
        nonce = chain.expected_nonce(deployer.address)
        predicted = get_create_address(deployer.address, Nonce(nonce + len(group) - 1))
        addresses[last.key] = predicted
    for spec, reason in zip(group, reasons, strict=True):
        _say(f"deploying {spec.key} ({reason or f'deployed together with {culprit}'})")
        contract, receipt = chain.deploy(spec.artifact, spec.args(addresses), deployer)
        if spec is last and predicted is not None and contract.address != predicted:
            raise DeploymentError(
                f"{spec.key} landed at {contract.address}, not at {predicted} where the contracts deployed "
                "with it expect it: another transaction from the deployer came in between; deploy again"
            )
        addresses[spec.key] = contract.address
        manifest.contracts[spec.key] = ContractRecord(
            artifact=spec.artifact,
            address=contract.address,
            block=receipt["blockNumber"],
            tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
            code_hash=_code_hash(chain, contract.address),
            bytecode_hash=_bytecode_hash(chain, spec.artifact),
            settings_hash=_settings_hash(spec.settings),
        )


def load_deployment(chain: Chain, manifest_dir: Path | None = None) -> Deployment:
    """Open the deployment recorded for ``chain``, checking the code is really there.

    Raises:
        ManifestError: no manifest for this chain (its id and genesis block), a manifest that
            records another chain, or contracts that are not on the chain.
    """
    genesis = _genesis_hash(chain)
    path = manifest_path(chain.chain_id, genesis, manifest_dir)
    if not path.exists():
        others = sorted(p.name for p in path.parent.glob(f"{chain.chain_id}-*.json"))
        also = f" ({', '.join(others)} {'is' if len(others) == 1 else 'are'} for other chains with this id)"
        raise ManifestError(
            f"no deployment manifest for chain {chain.chain_id} with genesis {genesis[:12]}… at {path}"
            f"{also if others else ''}: run `dfmi deploy` against this chain"
        )
    return open_manifest(chain, path, genesis)


def open_manifest(chain: Chain, path: Path, genesis: str | None = None) -> Deployment:
    """Open the deployment recorded in the manifest file ``path``, checking it is this chain's
    and that the code is really there.

    Raises:
        ManifestError: a missing or malformed file, a manifest of another chain, or contracts
            that are not on the chain.
    """
    manifest = Manifest.load(path)
    manifest.check_chain(chain.chain_id, genesis or _genesis_hash(chain), path)
    for key, record in manifest.contracts.items():
        if _code_hash(chain, record.address) != record.code_hash:
            raise ManifestError(f"{key} is not deployed at {record.address} on this chain: run `dfmi deploy`")
    return Deployment(chain=chain, manifest=manifest, manifest_file=path)


# ---------------------------------------------------------------------- roles and settings


def _configure(deployment: Deployment, deployer: LocalAccount, roles: RoleConfig, params: MarketParams) -> None:
    chain, registry = deployment.chain, deployment.registry
    grants = [
        ("ComplianceRegistry", "COMPLIANCE_ROLE", roles.compliance_officer),
        ("ComplianceRegistry", "REGULATOR_ROLE", roles.regulator),
        ("CashToken", "MASTER_MINTER_ROLE", roles.master_minter),
        ("CashToken", "BURNER_ROLE", roles.burner),
        ("CashToken", "PAUSER_ROLE", roles.pauser),
        ("SecurityToken", "PAUSER_ROLE", roles.pauser),
        *((("SecurityToken", "ISSUER_ROLE", roles.issuer),) if roles.issuer else ()),
    ]
    for key, role_name, holder in grants:
        contract = deployment.contract(key)
        role = contract.functions[role_name]().call()
        if not contract.functions.hasRole(role, holder).call():
            _say(f"granting {role_name} on {key} to {holder}")
            chain.transact(contract.functions.grantRole(role, holder), deployer, f"grant {role_name}")
    _check_oracles(deployment, roles, params)
    _configure_engines(deployment, deployer, params)
    _check_fund(deployment, params)
    for key in ("CashToken", "SecurityToken"):
        token = deployment.contract(key)
        if not registry.functions.isSubscriber(token.address).call():
            _say(f"subscribing {key} to the registry's status changes")
            chain.transact(registry.functions.addSubscriber(token.address), deployer, "subscribe token")
    if roles.admin != deployer.address:
        admin_of = ["ComplianceRegistry", "CashToken", *(m.engine for m in deployment.markets), "SecurityToken"]
        for key in admin_of:
            contract = deployment.contract(key)
            admin_role = contract.functions.DEFAULT_ADMIN_ROLE().call()
            if not contract.functions.hasRole(admin_role, roles.admin).call():
                _say(f"handing the admin role of {key} to {roles.admin}")
                chain.transact(contract.functions.grantRole(admin_role, roles.admin), deployer, "grant admin")
            if contract.functions.hasRole(admin_role, deployer.address).call():
                chain.transact(
                    contract.functions.renounceRole(admin_role, deployer.address), deployer, "renounce admin"
                )


def _check_oracles(deployment: Deployment, roles: RoleConfig, params: MarketParams) -> None:
    """Warn when a reused oracle's reporters or settings are not the configuration's: nobody but
    its reporters can change them."""
    oracles = {name: oracle for name, (oracle, _) in deployment.underlyings().items()}
    for market in params.markets:
        oracle = oracles[market.name]
        wanted = market.reporters if market.reporters is not None else roles.reporters
        on_chain = tuple(oracle.functions.reporters().call())
        if on_chain != wanted:
            logger.warning(
                "market %s: the oracle's reporters are %s, not the configuration's %s: only the reporters "
                "change their set, by their own proposal and approvals (Oracle.propose_change / approve_change); "
                "--fresh deploys anew",
                market.name,
                ", ".join(on_chain),
                ", ".join(wanted),
            )
        config = tuple(oracle.functions.config().call())
        if config != market.oracle_params().config_tuple():
            logger.warning(
                "market %s: the oracle's settings are %s, not the configuration's %s: only the reporters change "
                "them (Oracle.propose_change / approve_change); --fresh deploys anew",
                market.name,
                config,
                market.oracle_params().config_tuple(),
            )


def _configure_engines(deployment: Deployment, deployer: LocalAccount, params: MarketParams) -> None:
    """Give a reused engine the configuration's cure period and price age, as its admin (else warn)."""
    engines = {name: engine for name, (_, engine) in deployment.underlyings().items()}
    for market in params.markets:
        engine, wanted = engines[market.name], market.engine_params(params.engine)
        current = (engine.functions.curePeriod().call(), engine.functions.maxPriceAge().call())
        if current == (wanted.cure_period, wanted.max_price_age):
            continue
        admin_role = engine.functions.DEFAULT_ADMIN_ROLE().call()
        if engine.functions.hasRole(admin_role, deployer.address).call():
            _say(f"setting {engine_key(market.name)}'s cure period and maximum price age")
            deployment.chain.transact(
                engine.functions.setConfig(wanted.cure_period, wanted.max_price_age), deployer, "set engine config"
            )
        else:
            logger.warning(
                "market %s: the engine's cure period and maximum price age are %s, not the configuration's %s: "
                "its admin changes them (setConfig)",
                market.name,
                current,
                (wanted.cure_period, wanted.max_price_age),
            )


def _check_fund(deployment: Deployment, params: MarketParams) -> None:
    """Warn when a reused fund's rules are not the configuration's: only its members change them."""
    fund, rules = deployment.fund.functions, params.fund
    on_chain = (
        fund.thresholdBps().call(),
        fund.requirementBps().call(),
        fund.floorAmount().call(),
        fund.replenishmentWindow().call(),
    )
    wanted = (
        rules.threshold_bps,
        rules.requirement_bps,
        rules.floor_amount(params.cash.decimals),
        rules.replenishment_window,
    )
    if on_chain != wanted:
        logger.warning(
            "the default fund's rules (threshold, requirement, floor in units, replenishment window) are %s, "
            "not the configuration's %s: only its members change them (`dfmi fund propose`); --fresh deploys anew",
            on_chain,
            wanted,
        )


def _system_accounts(deployment: Deployment) -> list[tuple[str, str]]:
    """Contracts that hold cash, or move it as a spender (the settlement contract), and so must be
    active in the registry: ``(key, address)``."""
    keys = [*(m.engine for m in deployment.markets), "DefaultFund", "AtomicSettlement", "NettingEngine"]
    return [(key, deployment.manifest.address(key)) for key in keys]


def _onboard_system_accounts(deployment: Deployment, officer: LocalAccount | None) -> None:
    registry = deployment.registry
    pending = [(key, a) for key, a in _system_accounts(deployment) if registry.functions.statusOf(a).call() == 0]
    if not pending:
        return
    if officer is None:
        for key, address in pending:
            logger.warning("%s at %s holds cash: the compliance officer must onboard it", key, address)
        return
    _say(f"onboarding {', '.join(key for key, _ in pending)}")
    deployment.chain.transact(registry.functions.onboardBatch([a for _, a in pending]), officer, "onboard contracts")


def activate_roles(
    deployment: Deployment,
    roles: RoleConfig,
    *,
    officer: LocalAccount,
    master_minter: LocalAccount,
) -> None:
    """Make the role holders able to act at once: the compliance officer onboards the minter, the
    burner and the security's issuer, and the master minter gives the minter
    ``roles.minter_allowance``. Sends only what is missing: an account already onboarded (or
    frozen) is left as it is, and a minter already configured keeps its allowance.

    On a devnet, ``dfmi deploy`` does this with the development keys, so every role works right
    after it (``dfmi cash mint … --dev-account 4``).
    """
    registry, cash = deployment.registry, deployment.cash
    holders = dict.fromkeys(h for h in (roles.minter, roles.burner, roles.issuer) if h is not None)
    pending = [h for h in holders if registry.functions.statusOf(h).call() == 0]
    if pending:
        _say(f"onboarding the minter, burner and issuer: {', '.join(pending)}")
        deployment.chain.transact(registry.functions.onboardBatch(pending), officer, "onboard role holders")
    minter_role = cash.functions.MINTER_ROLE().call()
    if not cash.functions.hasRole(minter_role, roles.minter).call():
        _say(f"configuring the minter {roles.minter}")
        deployment.chain.transact(
            cash.functions.configureMinter(roles.minter, roles.minter_allowance), master_minter, "configure minter"
        )


# ---------------------------------------------------------------------- reuse checks


def _why_redeploy(chain: Chain, spec: ContractSpec, record: ContractRecord | None, redeployed: set[str]) -> str | None:
    if record is None:
        return "not in the manifest"
    if record.artifact != spec.artifact:
        return f"the manifest records a {record.artifact} under its key"
    if record.bytecode_hash != _bytecode_hash(chain, spec.artifact):
        return "its sources changed"
    if record.settings_hash != _settings_hash(spec.settings):
        return "its settings changed"
    if _code_hash(chain, record.address) != record.code_hash:
        return f"its code is not at {record.address}"
    changed = redeployed.intersection(spec.depends_on)
    if changed:
        return f"{', '.join(sorted(changed))} was redeployed"
    return None


def _previous_manifest(path: Path, chain_id: int, genesis: str) -> Manifest | None:
    if not path.exists():
        return None
    try:
        manifest = Manifest.load(path)
    except ManifestError as exc:
        logger.warning("ignoring unreadable manifest: %s", exc)
        return None
    manifest.check_chain(chain_id, genesis, path)
    return manifest


def _say(message: str) -> None:
    """One step of the deployment, at INFO (the CLI shows these on stderr; library use is silent)."""
    logger.info("%s", message)


def _genesis_hash(chain: Chain) -> str:
    return "0x" + bytes(chain.w3.eth.get_block(0)["hash"]).hex()


def _code_hash(chain: Chain, address: str) -> str:
    return "0x" + keccak(bytes(chain.w3.eth.get_code(chain.w3.to_checksum_address(address)))).hex()


def _bytecode_hash(chain: Chain, artifact: str) -> str:
    return "0x" + keccak(hexstr=chain.artifacts[artifact].bytecode).hex()


def _settings_hash(settings: tuple[Any, ...]) -> str:
    return "0x" + keccak(text=json.dumps(settings, separators=(",", ":"))).hex()
