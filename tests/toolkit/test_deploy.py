"""Deployment: manifest contents, reuse on a second run, redeploy when code is missing.

Several markets, the configuration file and manifests per genesis block: test_deploy_config.py."""

import json
import logging

import pytest
from eth_utils import keccak

from dfmi_py.api import Market
from dfmi_py.api.fund import EngineStatus
from dfmi_py.chain import Chain, dev_account
from dfmi_py.deploy import Manifest, MarketParams, RoleConfig, deploy_suite, load_deployment, manifest_path
from dfmi_py.errors import ChainConnectionError, DeploymentError, ManifestError
from dfmi_py.node import AnvilNode, free_port
from tests.helpers import kept_deployment

SUITE = (
    "ComplianceRegistry",
    "CashToken",
    "PriceOracle@ACME",
    "DerivativeEngine@ACME",
    "DefaultFund",
    "SecurityToken",
    "AtomicSettlement",
    "NettingEngine",
)


@pytest.fixture
def fresh(request, setup_cache, tmp_path_factory, chain, tmp_path):
    """A new deployment of the whole suite, its manifest in ``tmp_path`` (deployed once and kept
    between the tests that ask for it: :func:`tests.helpers.kept_deployment`)."""
    return kept_deployment(
        request,
        setup_cache,
        tmp_path_factory,
        tmp_path,
        lambda folder: deploy_suite(chain, dev_account(0), RoleConfig.devnet(), manifest_dir=folder),
    )


def test_manifest_records_every_contract_with_its_onchain_code_hash(chain, fresh, tmp_path):
    genesis = "0x" + bytes(chain.w3.eth.get_block(0)["hash"]).hex()
    path = manifest_path(chain.chain_id, genesis, tmp_path)
    assert path == fresh.manifest_file
    assert path.name == f"{chain.chain_id}-{genesis[2:12]}.json"
    raw = json.loads(path.read_text())
    assert (raw["chain_id"], raw["genesis_hash"]) == (chain.chain_id, genesis)
    assert set(raw["contracts"]) == set(SUITE)
    assert raw["markets"] == [
        {"name": "ACME", "description": "ACME / USD", "oracle": "PriceOracle@ACME", "engine": "DerivativeEngine@ACME"}
    ]
    for key, record in raw["contracts"].items():
        assert record["artifact"] == key.split("@")[0]
        code = chain.w3.eth.get_code(record["address"])
        assert "0x" + keccak(bytes(code)).hex() == record["code_hash"]
        receipt = chain.w3.eth.get_transaction_receipt(record["tx_hash"])
        assert receipt["contractAddress"] == record["address"]
        assert receipt["blockNumber"] == record["block"]


def test_second_deploy_reuses_everything_and_sends_nothing(chain, fresh, tmp_path):
    block = chain.w3.eth.block_number
    again = deploy_suite(chain, dev_account(0), RoleConfig.devnet(), manifest_dir=tmp_path)
    assert chain.w3.eth.block_number == block
    assert again.manifest.contracts == fresh.manifest.contracts


def test_engine_and_fund_point_at_each_other(fresh):
    engine, fund = fresh.engine, fresh.fund
    assert engine.functions.fund().call() == fund.address
    assert fund.functions.engineStatusOf(engine.address).call() == EngineStatus.REGISTERED
    assert fund.functions.cash().call() == fresh.cash.address


def test_a_changed_fund_redeploys_the_engine_with_it(chain, fresh, tmp_path):
    """The engine holds the fund's address: neither can be replaced alone."""
    path = fresh.manifest_file
    raw = json.loads(path.read_text())
    raw["contracts"]["DefaultFund"]["bytecode_hash"] = "0x" + "00" * 32  # as if its sources changed
    path.write_text(json.dumps(raw))
    again = deploy_suite(chain, dev_account(0), RoleConfig.devnet(), manifest_dir=tmp_path)
    for name in ("DerivativeEngine@ACME", "DefaultFund"):
        assert again.manifest.address(name) != fresh.manifest.address(name)
    for name in ("ComplianceRegistry", "CashToken", "PriceOracle@ACME"):
        assert again.manifest.address(name) == fresh.manifest.address(name)
    assert again.engine.functions.fund().call() == again.fund.address
    assert again.fund.functions.engineStatusOf(again.engine.address).call() == EngineStatus.REGISTERED


def test_settlement_and_netting_trust_each_other_and_redeploy_together(chain, fresh, tmp_path):
    """The settlement contract trusts one netting contract, fixed at construction: neither can be
    replaced alone."""
    assert fresh.settlement.functions.netting().call() == fresh.netting.address
    assert fresh.netting.functions.settlement().call() == fresh.settlement.address
    path = fresh.manifest_file
    raw = json.loads(path.read_text())
    raw["contracts"]["NettingEngine"]["bytecode_hash"] = "0x" + "00" * 32  # as if its sources changed
    path.write_text(json.dumps(raw))
    again = deploy_suite(chain, dev_account(0), RoleConfig.devnet(), manifest_dir=tmp_path)
    for name in ("AtomicSettlement", "NettingEngine"):
        assert again.manifest.address(name) != fresh.manifest.address(name)
    for name in ("ComplianceRegistry", "CashToken", "SecurityToken", "DerivativeEngine@ACME", "DefaultFund"):
        assert again.manifest.address(name) == fresh.manifest.address(name)
    assert again.settlement.functions.netting().call() == again.netting.address
    assert again.netting.functions.settlement().call() == again.settlement.address


def test_fresh_flag_deploys_new_contracts(chain, fresh, tmp_path):
    again = deploy_suite(chain, dev_account(0), RoleConfig.devnet(), manifest_dir=tmp_path, fresh=True)
    for name in SUITE:
        assert again.manifest.address(name) != fresh.manifest.address(name)


def test_deploy_grants_one_role_per_actor(fresh):
    market = Market.from_deployment(fresh)
    roles = RoleConfig.devnet()
    assert market.compliance.has_role("COMPLIANCE_ROLE", roles.compliance_officer)
    assert market.compliance.has_role("REGULATOR_ROLE", roles.regulator)
    assert not market.compliance.has_role("COMPLIANCE_ROLE", roles.regulator)
    cash = fresh.cash
    for role, holder in (
        ("MASTER_MINTER_ROLE", roles.master_minter),
        ("BURNER_ROLE", roles.burner),
        ("PAUSER_ROLE", roles.pauser),
    ):
        role_id = cash.functions[role]().call()
        assert cash.functions.hasRole(role_id, holder).call()
        assert not cash.functions.hasRole(role_id, roles.admin).call()
    assert fresh.registry.functions.isSubscriber(cash.address).call()


def test_admin_is_handed_over_when_the_deployer_is_not_the_admin(chain, tmp_path):
    roles = RoleConfig.devnet().model_copy(update={"admin": dev_account(19).address})
    deployment = deploy_suite(chain, dev_account(0), roles, manifest_dir=tmp_path)
    for contract in (deployment.registry, deployment.cash, deployment.engine):
        admin_role = contract.functions.DEFAULT_ADMIN_ROLE().call()
        assert contract.functions.hasRole(admin_role, dev_account(19).address).call()
        assert not contract.functions.hasRole(admin_role, dev_account(0).address).call()


def test_a_new_chain_with_the_same_id_gets_a_new_deployment(tmp_path):
    with AnvilNode() as first:
        deploy_suite(Chain.connect(first.rpc_url), dev_account(0), RoleConfig.devnet(), manifest_dir=tmp_path)
    with AnvilNode() as second:
        chain = Chain.connect(second.rpc_url)
        # Anvils started in the same second share a genesis block (and so a manifest file): then
        # the code check is what catches the restart.
        with pytest.raises(ManifestError, match="run `dfmi deploy`"):
            load_deployment(chain, tmp_path)
        redeployed = deploy_suite(chain, dev_account(0), RoleConfig.devnet(), manifest_dir=tmp_path)
        assert load_deployment(chain, tmp_path).manifest == redeployed.manifest


def test_load_without_a_manifest_says_to_deploy(chain, tmp_path):
    with pytest.raises(ManifestError, match="run `dfmi deploy`"):
        load_deployment(chain, tmp_path)


def test_malformed_manifest_is_reported(tmp_path):
    path = tmp_path / "31337-0123456789.json"
    path.write_text('{"chain_id": "x"}')
    with pytest.raises(ManifestError, match="malformed"):
        Manifest.load(path)


def test_connecting_to_nothing_is_a_clear_error():
    with pytest.raises(ChainConnectionError, match="no Ethereum JSON-RPC node answers"):
        Chain.connect(f"http://127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(ChainConnectionError, match="must start with http"):
        Chain.connect("localhost:8545")


def test_role_config_rejects_bad_addresses():
    with pytest.raises(ValueError, match="not an Ethereum address"):
        RoleConfig.devnet().model_validate({**RoleConfig.devnet().model_dump(), "minter": "0x1234"})


def test_the_oracle_is_deployed_with_the_roles_reporters_and_the_default_settings(fresh):
    oracle = Market.from_deployment(fresh).oracle
    assert oracle.reporters() == RoleConfig.devnet().reporters
    assert len(oracle.reporters()) == 5
    assert not oracle.is_reporter(RoleConfig.devnet().admin)
    defaults = MarketParams().oracle
    assert oracle.config().as_tuple() == defaults.config_tuple()
    assert (defaults.max_faults, defaults.quorum, defaults.jump_quorum) == (1, 3, 4)
    assert (defaults.max_jump_bps, defaults.jump_window) == (2_000, 3_600)


def test_an_oracle_without_enough_reporters_is_refused_before_anything_is_sent(chain, tmp_path):
    roles = RoleConfig.devnet().model_copy(update={"reporters": RoleConfig.devnet().reporters[:4]})
    block = chain.w3.eth.block_number
    with pytest.raises(DeploymentError, match="at least 5 reporters"):
        deploy_suite(chain, dev_account(0), roles, manifest_dir=tmp_path)
    assert chain.w3.eth.block_number == block


def test_a_reused_oracle_keeps_its_reporters_and_a_deploy_with_other_reporters_says_so(chain, fresh, tmp_path, caplog):
    """Only the reporters change their set (their own k-of-n): a second deploy sends nothing for it."""
    devnet = RoleConfig.devnet()
    roles = devnet.model_copy(update={"reporters": (*devnet.reporters[:4], dev_account(13).address)})
    block = chain.w3.eth.block_number
    with caplog.at_level(logging.WARNING, logger="dfmi_py.deploy.suite"):
        again = deploy_suite(chain, dev_account(0), roles, manifest_dir=tmp_path)
    assert chain.w3.eth.block_number == block
    assert again.manifest.address("PriceOracle@ACME") == fresh.manifest.address("PriceOracle@ACME")
    assert Market.from_deployment(again).oracle.reporters() == devnet.reporters
    assert "only the reporters change their set" in caplog.text


def test_the_engine_is_onboarded_only_when_the_officer_signs(chain, tmp_path):
    without = deploy_suite(chain, dev_account(0), RoleConfig.devnet(), manifest_dir=tmp_path / "a")
    assert without.registry.functions.statusOf(without.engine.address).call() == 0
    officer = dev_account(1)
    with_officer = deploy_suite(
        chain, dev_account(0), RoleConfig.devnet(), manifest_dir=tmp_path / "b", officer=officer
    )
    assert with_officer.registry.functions.statusOf(with_officer.engine.address).call() == 1
