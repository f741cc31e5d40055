"""The deployment configuration file, several markets behind one default fund, manifests per
chain id and genesis block, and devnet roles that work right after `dfmi deploy`."""

import json
import logging
import time

import pytest
from click.testing import CliRunner

from dfmi_py.api import AccountStatus, Market, Terms
from dfmi_py.api.fund import EngineStatus
from dfmi_py.chain import Chain, dev_account
from dfmi_py.cli.main import cli
from dfmi_py.deploy import (
    CashParams,
    EngineParams,
    FundParams,
    MarketParams,
    OracleParams,
    RoleConfig,
    SecurityParams,
    UnderlyingParams,
    activate_roles,
    deploy_suite,
    load_config,
    load_deployment,
    parse_config,
)
from dfmi_py.deploy.roles import DEV_REPORTER_INDICES, DEV_ROLE_INDEX
from dfmi_py.errors import ConfigError, InputError, ManifestError
from dfmi_py.node import AnvilNode
from dfmi_py.paths import PROJECT_ROOT
from tests.helpers import cli_runner, kept_deployment, one_line_error

EXAMPLES = PROJECT_ROOT / "examples"
THREE_MARKETS = EXAMPLES / "three-markets.toml"
XAU_REPORTERS = tuple(dev_account(i).address for i in (16, 17, 18, 20))


def _config_error(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "market.toml")
    return str(caught.value)


# ---------------------------------------------------------------------- the file


def test_without_a_file_the_defaults_are_one_acme_market_as_before():
    params = MarketParams()
    (acme,) = params.markets
    assert (acme.name, acme.description) == ("ACME", "ACME / USD")
    # The oracle's constructor parameters are those of the defaults before markets were listed.
    assert acme.oracle_params() == OracleParams()
    assert acme.oracle_params().config_tuple() == (1, 3, 4, 2_000, 3_600, 3_600, 1, 10**18)
    assert parse_config("") == params


def test_the_documented_example_deploys_exactly_the_defaults_and_shows_every_key():
    example, defaults = load_config(EXAMPLES / "market.toml"), MarketParams()
    assert example.model_dump(exclude={"markets"}) == defaults.model_dump(exclude={"markets"})
    (market,), (default,) = example.markets, defaults.markets
    assert market.oracle_params() == default.oracle_params()
    assert market.engine_params(example.engine) == default.engine_params(defaults.engine)
    assert (market.name, market.reporters) == (default.name, default.reporters)
    text = (EXAMPLES / "market.toml").read_text()
    sections = {"cash": CashParams, "fund": FundParams, "engine": EngineParams, "security": SecurityParams}
    for section, model in [*sections.items(), ("[markets]", UnderlyingParams)]:
        body = "\n" + text.split(f"[{section}]\n")[1].split("\n[")[0]
        for key in model.model_fields:
            assert f"\n{key} = " in body or f"\n# {key} = " in body, f"{section}.{key} is not documented"


def test_an_unknown_key_is_refused_by_its_path():
    assert _config_error("[cash]\ndecimal = 6") == "market.toml: unknown key 'cash.decimal'"
    message = _config_error('[[markets]]\nname = "A"\n[[markets]]\nname = "B"\nquorom = 3')
    assert message == "market.toml: unknown key 'markets[1].quorom'"
    assert "unknown key 'oracle'" in _config_error("[oracle]\nquorum = 3")


def test_a_value_of_the_wrong_type_is_refused_by_its_key():
    message = _config_error('[cash]\ndecimals = "six"')
    assert message.startswith("market.toml: cash.decimals: input should be a valid integer")
    assert "(got 'six')" in message
    assert _config_error("[[markets]]\nreporters = [1]").startswith("market.toml: markets[0].reporters[0]: ")
    assert "fund.threshold_bps: input should be greater than 5000" in _config_error("[fund]\nthreshold_bps = 5000")


def test_oracle_settings_the_contract_would_refuse_are_named():
    three = '[[markets]]\nname = "A"\n[[markets]]\nname = "B"\n[[markets]]\nname = "C"\n'
    assert _config_error(three + "quorum = 4") == "market.toml: markets[2].quorum: must be odd (got 4)"
    assert _config_error("[[markets]]\njump_quorum = 2") == (
        "market.toml: markets[0].jump_quorum: must be at least quorum = 3 (got 2)"
    )
    assert _config_error("[[markets]]\nmax_faults = 2") == (
        "market.toml: markets[0].quorum: must be at least 2 * max_faults + 1 = 5 (got 3)"
    )
    reporters = json.dumps(list(XAU_REPORTERS))
    assert _config_error(f"[[markets]]\nreporters = {reporters}") == (
        "market.toml: markets[0].reporters: need at least jump_quorum + max_faults = 5 (got 4)"
    )
    assert _config_error('[[markets]]\nmin_price = "5"\nmax_price = "4"') == (
        "market.toml: markets[0].min_price: must be below max_price = 4 (got 5)"
    )


def test_every_problem_is_reported_in_one_line():
    message = _config_error('[cash]\ndecimal = 6\n[[markets]]\nquorum = 2\nname = "a b"')
    assert "\n" not in message
    assert "unknown key 'cash.decimal'" in message
    assert "markets[0].name: must be 1 to 32 letters, digits, '-' or '_' (got 'a b')" in message


def test_duplicate_market_names_are_refused_whatever_their_case():
    message = _config_error('[[markets]]\nname = "EURUSD"\n[[markets]]\nname = "eurusd"')
    assert message == "market.toml: markets[1].name: 'eurusd' is already the name of another market"
    assert _config_error("markets = []") == "market.toml: markets: list at least one market ([[markets]])"


def test_a_bad_reporter_address_is_named():
    bad = XAU_REPORTERS[0].lower()[:-1] + "x"
    message = _config_error(f'[[markets]]\nreporters = ["{bad}"]')
    assert message == f"market.toml: markets[0].reporters: {bad!r} is not an Ethereum address"
    wrong_case = XAU_REPORTERS[0][:2] + XAU_REPORTERS[0][2:].swapcase()
    assert "has a wrong checksum" in _config_error(f'[[markets]]\nreporters = ["{wrong_case}"]')
    repeated = json.dumps([XAU_REPORTERS[0]] * 5)
    assert "is listed twice" in _config_error(f"[[markets]]\nreporters = {repeated}")


def test_prices_are_written_in_the_feeds_units_and_must_fit_its_decimals():
    params = parse_config('[[markets]]\ndecimals = 4\nmin_price = "0.0001"\nmax_price = 2500.5')
    assert (params.markets[0].min_answer, params.markets[0].max_answer) == (1, 25_005_000)
    # A TOML float is read as written, not as its binary value.
    assert parse_config("[[markets]]\nmin_price = 0.0001").markets[0].min_answer == 10_000
    assert _config_error('[[markets]]\ndecimals = 4\nmin_price = "0.00001"') == (
        "market.toml: markets[0].min_price: 0.00001 has more than decimals = 4 decimal places"
    )
    assert "markets[0].max_price: must be positive (got -1)" in _config_error("[[markets]]\nmax_price = -1")


def test_a_file_that_is_not_toml_is_one_error(tmp_path):
    path = tmp_path / "market.toml"
    path.write_text("[cash\n")
    with pytest.raises(ConfigError, match=r"market.toml: not valid TOML: "):
        load_config(path)


def test_dfmi_deploy_with_a_bad_file_prints_the_key_and_sends_nothing(chain, node, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[markets]]\nname = "A"\n[[markets]]\nname = "B"\n[[markets]]\nname = "C"\nquorum = 4\n')
    block = chain.w3.eth.block_number
    run = cli_runner(node.rpc_url, tmp_path / "deployments")
    line = one_line_error(run("deploy", "--config", str(bad), "--dev-account", "0"))
    assert line == f"Error: {bad}: markets[2].quorum: must be odd (got 4)"
    assert chain.w3.eth.block_number == block
    assert not (tmp_path / "deployments").exists()


# ---------------------------------------------------------------------- several markets


@pytest.fixture
def three(request, setup_cache, tmp_path_factory, chain, tmp_path):
    """The three-market example deployed on the session chain, its role holders ready, its manifest
    in ``tmp_path`` (deployed once and kept between the tests that ask for it:
    :func:`tests.helpers.kept_deployment`)."""
    roles, officer = RoleConfig.devnet(), dev_account(DEV_ROLE_INDEX["compliance_officer"])

    def deploy(folder):
        deployment = deploy_suite(
            chain, dev_account(0), roles, manifest_dir=folder, params=load_config(THREE_MARKETS), officer=officer
        )
        activate_roles(deployment, roles, officer=officer, master_minter=dev_account(DEV_ROLE_INDEX["master_minter"]))
        return deployment

    return kept_deployment(request, setup_cache, tmp_path_factory, tmp_path, deploy)


def test_each_market_has_its_own_oracle_and_engine_all_registered_with_the_one_fund(three):
    registry, fund = three.registry.functions, three.fund
    underlyings = three.underlyings()
    assert list(underlyings) == ["XAU", "EURUSD", "IDX50"]
    oracles = [oracle.address for oracle, _ in underlyings.values()]
    engines = [engine.address for _, engine in underlyings.values()]
    assert len(set(oracles)) == len(set(engines)) == 3
    for oracle, engine in underlyings.values():
        assert engine.functions.oracle().call() == oracle.address
        assert engine.functions.fund().call() == fund.address
        assert engine.functions.cash().call() == three.cash.address
        assert fund.functions.engineStatusOf(engine.address).call() == EngineStatus.REGISTERED
        assert registry.statusOf(engine.address).call() == AccountStatus.ACTIVE  # it holds cash
    assert (three.oracle.address, three.engine.address) == (oracles[0], engines[0])
    keys = [key for key in three.manifest.contracts if "@" in key]
    kinds = ("PriceOracle", "DerivativeEngine")
    assert sorted(keys) == sorted(f"{kind}@{name}" for kind in kinds for name in underlyings)


def test_each_market_is_deployed_with_its_own_settings(three):
    market = Market.from_deployment(three)
    eur, xau, idx = (market.underlying(name) for name in ("EURUSD", "XAU", "IDX50"))
    assert (eur.description, eur.oracle.decimals) == ("EUR / USD", 8)
    assert eur.oracle.contract.functions.description().call() == "EUR / USD"
    config = eur.oracle.config()
    assert (config.min_answer, config.max_answer, config.max_jump_bps) == (10**6, 100 * 10**8, 500)
    assert eur.oracle.reporters() == RoleConfig.devnet().reporters
    assert xau.oracle.reporters() == XAU_REPORTERS
    assert (xau.oracle.config().quorum, xau.oracle.config().jump_quorum) == (3, 3)
    assert idx.oracle.decimals == 2
    assert idx.oracle.config().heartbeat == 86_400
    engines = {u.name: u.derivatives.contract.functions for u in (eur, xau, idx)}
    assert {n: (e.curePeriod().call(), e.maxPriceAge().call()) for n, e in engines.items()} == {
        "EURUSD": (3_600, 3_600),
        "XAU": (1_800, 3_600),
        "IDX50": (3_600, 86_400),
    }


def test_market_gives_every_underlying_by_name_and_refuses_an_unknown_one(three):
    market = Market.from_deployment(three)
    assert list(market.markets) == ["XAU", "EURUSD", "IDX50"]
    assert market.underlying().name == "XAU"
    assert market.oracle.address == market.underlying("XAU").oracle.address
    assert market.derivatives.address == market.underlying("XAU").derivatives.address
    assert market.underlying("xau") is market.underlying("XAU")
    assert market.underlying("XAU").oracle.address == three.underlyings()["XAU"][0].address
    with pytest.raises(InputError, match="no market 'ACME': this deployment has XAU, EURUSD, IDX50"):
        market.underlying("ACME")


def test_trades_on_two_markets_count_against_the_members_one_fund_requirement(three, chain):
    market = Market.from_deployment(three)
    buyer, seller = dev_account(7), dev_account(8)
    market.compliance.onboard(dev_account(DEV_ROLE_INDEX["compliance_officer"]), [buyer.address, seller.address])
    im = 1_000 * 10**6
    now = int(chain.w3.eth.get_block("latest")["timestamp"])
    for member in (buyer, seller):
        market.cash.mint(dev_account(DEV_ROLE_INDEX["minter"]), member.address, 100_000 * 10**6)
        market.fund.join(member)
    for name, price in (("XAU", 2_400 * 10**8), ("IDX50", 5_000 * 10**2)):
        derivatives = market.underlying(name).derivatives
        for member in (buyer, seller):
            market.cash.approve(member, derivatives.address, im)
        terms = Terms(buyer.address, seller.address, 10**18, price, now + 86_400, im, im)
        derivatives.confirm(seller, derivatives.propose(buyer, terms), terms)
    assert market.fund.open_im_of(buyer.address) == market.fund.open_im_of(seller.address) == 2 * im
    assert market.cash.balance_of(market.underlying("XAU").derivatives.address) == 2 * im
    assert market.cash.balance_of(market.underlying("EURUSD").derivatives.address) == 0


def test_a_second_run_with_the_same_configuration_sends_nothing(three, chain, tmp_path, caplog):
    block = chain.w3.eth.block_number
    with caplog.at_level(logging.WARNING, logger="dfmi_py.deploy.suite"):
        again = deploy_suite(
            chain,
            dev_account(0),
            RoleConfig.devnet(),
            manifest_dir=tmp_path,
            params=load_config(THREE_MARKETS),
            officer=dev_account(1),
        )
        activate_roles(again, RoleConfig.devnet(), officer=dev_account(1), master_minter=dev_account(3))
    assert chain.w3.eth.block_number == block
    assert again.manifest == three.manifest
    assert caplog.text == ""  # every setting on the chain is the configuration's


def test_settings_only_governance_changes_are_kept_with_a_warning_and_nothing_sent(chain, tmp_path, caplog):
    first = deploy_suite(chain, dev_account(0), RoleConfig.devnet(), manifest_dir=tmp_path)
    block = chain.w3.eth.block_number
    changed = parse_config("[fund]\nthreshold_bps = 7000\n[[markets]]\nmax_jump_bps = 1000")
    with caplog.at_level(logging.WARNING, logger="dfmi_py.deploy.suite"):
        again = deploy_suite(chain, dev_account(0), RoleConfig.devnet(), manifest_dir=tmp_path, params=changed)
    assert chain.w3.eth.block_number == block
    assert again.manifest.contracts == first.manifest.contracts
    assert "market ACME: the oracle's settings are" in caplog.text
    assert "only the reporters change them" in caplog.text
    assert "the default fund's rules" in caplog.text
    assert "only its members change them" in caplog.text
    assert again.fund.functions.thresholdBps().call() == 6_000


def test_a_new_market_redeploys_the_engines_and_the_fund_and_nothing_else(chain, tmp_path):
    one = deploy_suite(chain, dev_account(0), RoleConfig.devnet(), manifest_dir=tmp_path)
    params = parse_config('[[markets]]\nname = "ACME"\n[[markets]]\nname = "OIL"\ndescription = "Brent / USD"')
    two = deploy_suite(chain, dev_account(0), RoleConfig.devnet(), manifest_dir=tmp_path, params=params)
    for key in ("ComplianceRegistry", "CashToken", "PriceOracle@ACME", "SecurityToken", "NettingEngine"):
        assert two.manifest.address(key) == one.manifest.address(key)
    assert two.manifest.address("DefaultFund") != one.manifest.address("DefaultFund")
    assert two.manifest.address("DerivativeEngine@ACME") != one.manifest.address("DerivativeEngine@ACME")
    for _, engine in two.underlyings().values():
        assert two.fund.functions.engineStatusOf(engine.address).call() == EngineStatus.REGISTERED
    # Dropping the market again: the fund must no longer cover an engine left out of the manifest.
    three = deploy_suite(chain, dev_account(0), RoleConfig.devnet(), manifest_dir=tmp_path)
    assert three.manifest.address("DefaultFund") not in (one.manifest.address("DefaultFund"), two.fund.address)
    old_oil = two.underlyings()["OIL"][1].address
    assert three.fund.functions.engineStatusOf(old_oil).call() == EngineStatus.NONE


def test_a_changed_immutable_setting_redeploys_and_a_changed_engine_setting_is_applied(chain, tmp_path):
    first = deploy_suite(chain, dev_account(0), RoleConfig.devnet(), manifest_dir=tmp_path)
    longer_cure = parse_config("[engine]\ncure_period = 7200")
    second = deploy_suite(chain, dev_account(0), RoleConfig.devnet(), manifest_dir=tmp_path, params=longer_cure)
    assert second.manifest.contracts == first.manifest.contracts  # the admin set it: nothing redeployed
    assert second.engine.functions.curePeriod().call() == 7_200
    other_decimals = parse_config("[engine]\ncure_period = 7200\n[[markets]]\ndecimals = 6")
    third = deploy_suite(chain, dev_account(0), RoleConfig.devnet(), manifest_dir=tmp_path, params=other_decimals)
    for key in ("PriceOracle@ACME", "DerivativeEngine@ACME", "DefaultFund"):
        assert third.manifest.address(key) != second.manifest.address(key)
    assert third.oracle.functions.decimals().call() == 6
    assert third.manifest.address("CashToken") == second.manifest.address("CashToken")


# ---------------------------------------------------------------------- manifests per chain


def _genesis(chain: Chain) -> str:
    return "0x" + bytes(chain.w3.eth.get_block(0)["hash"]).hex()


def test_two_devnets_with_one_chain_id_keep_two_manifests(tmp_path):
    with AnvilNode() as first:
        chain_a = Chain.connect(first.rpc_url)
        started = int(chain_a.w3.eth.get_block(0)["timestamp"])
        while time.time() < started + 1:  # Anvil's genesis block carries its start time (seconds)
            time.sleep(0.05)
        with AnvilNode() as second:
            chain_b = Chain.connect(second.rpc_url)
            assert chain_a.chain_id == chain_b.chain_id == 31337
            assert _genesis(chain_a) != _genesis(chain_b)
            a = deploy_suite(chain_a, dev_account(0), RoleConfig.devnet(), manifest_dir=tmp_path)
            b = deploy_suite(chain_b, dev_account(0), RoleConfig.devnet(), manifest_dir=tmp_path)
            assert a.manifest_file != b.manifest_file
            assert sorted(p.name for p in tmp_path.iterdir()) == sorted([a.manifest_file.name, b.manifest_file.name])
            # Each still opens its own: the second deployment overwrote nothing.
            assert load_deployment(chain_a, tmp_path).manifest == a.manifest
            assert load_deployment(chain_b, tmp_path).manifest == b.manifest
            assert a.manifest_file.name.startswith(f"31337-{_genesis(chain_a)[2:12]}")


def test_a_manifest_whose_genesis_disagrees_is_refused(chain, tmp_path):
    deployed = deploy_suite(chain, dev_account(0), RoleConfig.devnet(), manifest_dir=tmp_path)
    raw = json.loads(deployed.manifest_file.read_text())
    raw["genesis_hash"] = "0x" + "ab" * 32
    deployed.manifest_file.write_text(json.dumps(raw))
    with pytest.raises(ManifestError, match=r"records chain 31337 with genesis 0xabab.*belongs to another chain"):
        load_deployment(chain, tmp_path)
    block = chain.w3.eth.block_number
    with pytest.raises(ManifestError, match="belongs to another chain"):
        deploy_suite(chain, dev_account(0), RoleConfig.devnet(), manifest_dir=tmp_path)
    assert chain.w3.eth.block_number == block
    assert json.loads(deployed.manifest_file.read_text()) == raw  # left as it was


def test_loading_names_the_manifests_of_other_chains_with_the_same_id(chain, tmp_path):
    (tmp_path / "31337-0123456789.json").write_text("{}")
    with pytest.raises(ManifestError, match=r"31337-0123456789.json is for other chains with this id.*dfmi deploy"):
        load_deployment(chain, tmp_path)


# ---------------------------------------------------------------------- devnet roles


def test_after_dfmi_deploy_on_a_devnet_every_role_works_at_once(chain, node, tmp_path):
    run = cli_runner(node.rpc_url, tmp_path)
    deployed = run("deploy", "--dev-account", "0")
    assert deployed.exit_code == 0, deployed.output
    deployment = load_deployment(chain, tmp_path)
    member = dev_account(7).address
    # The README's first steps, right after deploy: onboard a member, mint to it.
    assert run("compliance", "onboard", member, "--dev-account", "1").exit_code == 0
    minted = run("cash", "mint", member, "1000.50", "--dev-account", "4")
    assert minted.exit_code == 0, minted.output
    assert "1,000.500000 DSD" in run("cash", "balance", member).output
    # The issuer issues, the burner redeems what it is handed, the reporters report.
    issuer = dev_account(DEV_ROLE_INDEX["issuer"])
    chain.transact(deployment.security.functions.issue(member, 10), issuer)
    assert deployment.security.functions.balanceOf(member).call() == 10
    burner = dev_account(DEV_ROLE_INDEX["burner"])
    chain.transact(deployment.cash.functions.transfer(burner.address, 500_000), dev_account(7))
    chain.transact(deployment.cash.functions.burn(500_000), burner)
    market = Market.from_deployment(deployment)
    assert market.oracle.reporters() == tuple(dev_account(i).address for i in DEV_REPORTER_INDICES)
    market.oracle.submit(dev_account(DEV_REPORTER_INDICES[0]), 100 * 10**8)
    # A second deploy finds everything in place and sends nothing.
    block = chain.w3.eth.block_number
    assert run("deploy", "--dev-account", "0").exit_code == 0
    assert chain.w3.eth.block_number == block


def test_dfmi_deploy_with_the_three_market_example(chain, node, tmp_path):
    run = cli_runner(node.rpc_url, tmp_path)
    result = run("deploy", "--config", str(THREE_MARKETS), "--dev-account", "0")
    assert result.exit_code == 0, result.output
    for key in ("PriceOracle@EURUSD", "DerivativeEngine@XAU", "PriceOracle@IDX50", "DefaultFund"):
        assert key in result.output
    status = run("status")
    assert "market XAU: Gold / USD per troy ounce" in status.output


# ---------------------------------------------------------------------- dfmi accounts and dfmi node


def test_accounts_lists_the_devnet_accounts_with_their_roles_and_statuses(run, deployment, roles):
    market = Market.from_deployment(deployment)
    market.compliance.onboard(roles.officer, market.fund.address)
    market.cash.mint(roles.minter, roles.members[0].address, 5_000 * 10**6)
    market.fund.join(roles.members[0])
    result = run("accounts")
    assert result.exit_code == 0, result.output
    lines = {int(line.split()[0]): line for line in result.output.splitlines()[1:]}
    assert sorted(lines) == list(range(22))
    assert lines[0].split()[1:3] == [dev_account(0).address, "NONE"]
    assert "DEFAULT_ADMIN_ROLE on ComplianceRegistry, CashToken, DerivativeEngine@ACME, SecurityToken" in lines[0]
    assert "COMPLIANCE_ROLE on ComplianceRegistry" in lines[1]
    assert "REGULATOR_ROLE on ComplianceRegistry" in lines[2]
    assert lines[4].split()[2] == "ACTIVE"
    assert lines[4].endswith("MINTER_ROLE on CashToken")
    assert "PAUSER_ROLE on CashToken, SecurityToken" in lines[6]
    assert lines[7].split()[2:] == ["ACTIVE", "fund", "member"]
    assert lines[16].endswith("reporter of ACME")
    assert "ISSUER_ROLE on SecurityToken" in lines[19]
    assert lines[15].split()[2:] == ["NONE", "-"]


def test_accounts_json_for_given_addresses(run, roles):
    result = run("accounts", roles.minter.address, dev_account(16).address.lower(), "--json")
    assert result.exit_code == 0, result.output
    minter, reporter = json.loads(result.output)
    assert minter == {
        "address": roles.minter.address,
        "status": "ACTIVE",
        "roles": [{"contract": "CashToken", "role": "MINTER_ROLE"}],
        "reporter_of": [],
        "fund_member": False,
        "index": None,
    }
    assert (reporter["address"], reporter["reporter_of"], reporter["roles"]) == (dev_account(16).address, ["ACME"], [])


def test_accounts_refuses_a_bad_address_and_a_chain_without_development_accounts(run, monkeypatch):
    assert "'0x1234' is not an Ethereum address" in one_line_error(run("accounts", "0x1234"))
    monkeypatch.setattr("dfmi_py.cli.accounts._node_accounts", lambda market: set())
    assert "not a devnet" in one_line_error(run("accounts"))


def test_accounts_shows_a_revoked_role_no_more(run, deployment, roles, chain):
    cash = deployment.cash
    pauser_role = cash.functions.PAUSER_ROLE().call()
    chain.transact(cash.functions.revokeRole(pauser_role, roles.pauser.address), roles.admin)
    line = run("accounts", roles.pauser.address).output.splitlines()[1]
    assert line.endswith("PAUSER_ROLE on SecurityToken")


def test_node_lists_the_development_accounts_and_their_intended_roles(monkeypatch):
    monkeypatch.setattr("dfmi_py.cli.suite.wait_for_interrupt", lambda node: None)
    result = CliRunner().invoke(cli, ["node"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f" 4  {dev_account(4).address}  minter" in result.output
    assert f"19  {dev_account(19).address}  security issuer" in result.output
    assert f"16  {dev_account(16).address}  oracle reporter" in result.output
    assert f" 7  {dev_account(7).address}  member" in result.output


def test_a_default_on_the_second_market_is_in_the_markets_waterfalls(three, chain):
    market = Market.from_deployment(three)
    officer, minter, keeper = dev_account(1), dev_account(DEV_ROLE_INDEX["minter"]), dev_account(15)
    buyer, seller = dev_account(7), dev_account(8)
    market.compliance.onboard(officer, [buyer.address, seller.address])
    xau = market.underlying("XAU")
    im = 100 * 10**6
    for member in (buyer, seller):
        market.cash.mint(minter, member.address, 10_000 * 10**6)
        market.fund.join(member)
        market.cash.approve(member, xau.derivatives.address, im)  # the IM only: no variation margin from the wallet
    now = int(chain.w3.eth.get_block("latest")["timestamp"])
    terms = Terms(buyer.address, seller.address, 10**18, 2_400 * 10**8, now + 86_400, im, im)
    trade_id = xau.derivatives.propose(buyer, terms)
    xau.derivatives.confirm(seller, trade_id, terms)
    for index in (16, 17, 18):  # XAU's quorum of its four reporters
        xau.oracle.submit(dev_account(index), 2_600 * 10**8)
    xau.derivatives.settle(keeper, trade_id)  # the seller owes 200 it cannot pay: a margin call
    chain.w3.provider.make_request("evm_increaseTime", [1_801])  # XAU's cure period is 1,800 s
    chain.w3.provider.make_request("evm_mine", [])
    xau.derivatives.declare_default(keeper, trade_id)
    (waterfall,) = market.waterfalls()
    assert (waterfall.market, waterfall.trade_id, waterfall.defaulter) == ("XAU", trade_id, seller.address)
    assert waterfall.loss == 200 * 10**6
    assert market.waterfalls(market="EURUSD") == []
    assert market.waterfalls(market="XAU") == [waterfall]
