"""The whole market on the module's own Anvil, set up once, and the model of its starting state.

Two markets (XAU and EURUSD) behind one default fund; five members (development accounts 7-11),
each with a million cash, 10,000 in the fund, 1,000 bonds, every engine and the settlement
contract approved without limit; a first price in each market. A second cash token ("EUR", a
CashToken on the same registry, for PvP) holds a million of each member's, approved to the
settlement contract without limit. Account 12 is a newcomer (never
onboarded until a rule does it) and 13 an outsider who sends settlements, defaults and batches
(anyone may). Every block's time is the previous block's plus one second (Anvil's timestamp
interval), so the model knows the time of the next transaction; jumps go through
``evm_setNextBlockTimestamp``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import pytest
import requests
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from dfmi_py.api import Market
from dfmi_py.chain import Chain, dev_account
from dfmi_py.deploy.params import EngineParams, MarketParams, UnderlyingParams
from dfmi_py.deploy.roles import DEV_ACCOUNT_COUNT, DEV_ROLE_INDEX, RoleConfig
from dfmi_py.deploy.suite import Deployment, deploy_suite
from dfmi_py.node import AnvilNode
from tests.helpers import read_words
from tests.system.model import ACTIVE, MAX_UINT, Engine, Fund, FundMember, Model, Oracle, Token

USD = 10**6
MARKETS = ("XAU", "EURUSD")
FIRST_PRICES = {"XAU": 2_000 * 10**8, "EURUSD": 110_000_000}
PARTIES = tuple(dev_account(i) for i in range(7, 12))
NEWCOMER = dev_account(12)
OUTSIDER = dev_account(13)
ADMIN = dev_account(DEV_ROLE_INDEX["admin"])
OFFICER = dev_account(DEV_ROLE_INDEX["compliance_officer"])
MASTER_MINTER = dev_account(DEV_ROLE_INDEX["master_minter"])
MINTER = dev_account(DEV_ROLE_INDEX["minter"])
BURNER = dev_account(DEV_ROLE_INDEX["burner"])
PAUSER = dev_account(DEV_ROLE_INDEX["pauser"])
ISSUER = dev_account(DEV_ROLE_INDEX["issuer"])
WALLET = 1_000_000 * USD
FUND_SHARE = 10_000 * USD
BONDS = 1_000

PARAMS = MarketParams(
    engine=EngineParams(cure_period=3_600, max_price_age=3_600),
    markets=(
        UnderlyingParams(name="XAU", description="Gold / USD", decimals=8, min_price="100", max_price="100000"),
        UnderlyingParams(name="EURUSD", description="EUR / USD", decimals=8, min_price="0.1", max_price="10"),
    ),
)


@dataclass
class World:
    """The chain, the suite, its contracts by name and the model of where it starts."""

    chain: Chain
    rpc_url: str
    deployment: Deployment
    market: Market
    model: Model
    reporters: dict[str, LocalAccount]
    #: Every account a token may have moved to: people and contracts.
    holders: tuple[str, ...]

    @property
    def cash(self) -> Contract:
        return self.market.cash.contract

    @property
    def bond(self) -> Contract:
        return self.deployment.security

    @cached_property
    def eur(self) -> Contract:
        return self.chain.contract("CashToken", self.model.eur_address)

    def engine(self, name: str) -> Contract:
        return self.market.markets[name].derivatives.contract

    def oracle(self, name: str) -> Contract:
        return self.market.markets[name].oracle.contract

    def rpc(self, method: str, params: list[object]) -> object:
        response = self.chain.w3.provider.make_request(method, params)  # type: ignore[arg-type]
        assert "error" not in response, response
        return response["result"]

    def latest_time(self) -> int:
        return int(self.chain.w3.eth.get_block("latest")["timestamp"])


def _post(world_chain: Chain, oracle: Contract, reporters: list[LocalAccount], price: int) -> None:
    round_id = oracle.functions.openRound().call()
    for reporter in reporters:
        world_chain.transact(oracle.functions.submit(round_id, price), reporter)
        if oracle.functions.openRound().call() != round_id:
            return
    raise AssertionError("the first round did not finalise")


@pytest.fixture(scope="package")
def system_node() -> Iterator[AnvilNode]:
    """An Anvil of this folder's own: its clock steps one second a block, and deploying the world
    once serves every module here."""
    with AnvilNode(accounts=DEV_ACCOUNT_COUNT) as node:
        yield node


@pytest.fixture(scope="package")
def world(system_node: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The world, set up once for the folder; every test and example returns it to this state."""
    session = requests.Session()
    session.trust_env = False
    provider = Web3.HTTPProvider(
        system_node.rpc_url, session=session, cache_allowed_requests=True, cacheable_requests={"eth_chainId"}
    )
    chain = Chain(Web3(provider))
    chain.w3.provider.make_request("anvil_setBlockTimestampInterval", [1])  # type: ignore[arg-type]
    deployment = deploy_suite(
        chain,
        ADMIN,
        RoleConfig.devnet(),
        manifest_dir=tmp_path_factory.mktemp("system"),
        params=PARAMS,
        officer=OFFICER,
    )
    market = Market.from_deployment(deployment)
    cash, bond, fund = market.cash.contract, deployment.security, market.fund.contract
    engines = {name: market.markets[name].derivatives.contract for name in MARKETS}
    settlement, netting = market.settlement.address, market.netting.address
    market.compliance.onboard(OFFICER, [p.address for p in (*PARTIES, MINTER, BURNER, ISSUER)])
    chain.transact(cash.functions.configureMinter(MINTER.address, 10**30), MASTER_MINTER)
    for party in PARTIES:
        chain.transact(cash.functions.mint(party.address, WALLET), MINTER)
        chain.transact(bond.functions.issue(party.address, BONDS), ISSUER)
        chain.transact(cash.functions.approve(fund.address, FUND_SHARE), party)
        chain.transact(fund.functions.join(FUND_SHARE), party)
        for spender in (*[e.address for e in engines.values()], settlement):
            chain.transact(cash.functions.approve(spender, MAX_UINT), party)
        chain.transact(bond.functions.approve(settlement, MAX_UINT), party)
    eur = _deploy_eur(
        chain, market, deployment.registry, [p.address for p in (*PARTIES, MINTER, BURNER, ISSUER)], settlement
    )
    accounts = {a.address: a for a in (dev_account(i) for i in (16, 17, 18, 20, 21))}
    for name in MARKETS:
        oracle = market.markets[name].oracle.contract
        _post(chain, oracle, [accounts[r] for r in oracle.functions.reporters().call()], FIRST_PRICES[name])

    people = [a.address for a in (*PARTIES, NEWCOMER, OUTSIDER, MINTER, BURNER, ISSUER)]
    contract_addresses = [fund.address, settlement, netting, *[e.address for e in engines.values()]]
    holders = (*people, *contract_addresses)
    model = _read_model(chain, market, deployment, holders, contract_addresses, eur)
    yield World(chain, system_node.rpc_url, deployment, market, model, accounts, holders)
    session.close()


def _deploy_eur(chain: Chain, market: Market, registry: Contract, people: list[str], settlement: str) -> Contract:
    """The second cash token: subscribed to the registry, every onboarded account and contract
    synced, a million to each member, approved to the settlement contract."""
    eur, _ = chain.deploy("CashToken", ["Digital Settlement Euro", "DSE", 6, registry.address, ADMIN.address], ADMIN)
    f = eur.functions
    chain.transact(registry.functions.addSubscriber(eur.address), ADMIN)
    chain.transact(f.grantRole(f.MASTER_MINTER_ROLE().call(), MASTER_MINTER.address), ADMIN)
    chain.transact(f.grantRole(f.PAUSER_ROLE().call(), PAUSER.address), ADMIN)
    contracts = [market.fund.address, settlement, market.netting.address]
    contracts += [market.markets[n].derivatives.address for n in MARKETS]
    for account in (*people, *contracts):
        chain.transact(f.syncCompliance(account), ADMIN)
    chain.transact(f.configureMinter(MINTER.address, 10**30), MASTER_MINTER)
    for party in PARTIES:
        chain.transact(f.mint(party.address, WALLET), MINTER)
        chain.transact(f.approve(settlement, MAX_UINT), party)
    return eur


def _read_model(
    chain: Chain,
    market: Market,
    deployment: Deployment,
    holders: tuple[str, ...],
    contracts: list[str],
    eur: Contract,
) -> Model:
    """The model of the chain as set up: read once, before any rule runs."""
    cash, bond = market.cash.contract, deployment.security
    status = {a: int(market.compliance.status(a)) for a in holders}
    for c in contracts:
        assert status[c] == ACTIVE, "the deployment onboards every contract that holds cash"
    tokens = []
    for contract, name in ((cash, "cash"), (bond, "bond"), (eur, "eur")):
        balances = dict(zip(holders, read_words(chain, [(contract, "balanceOf", (a,)) for a in holders]), strict=True))
        supply = int(contract.functions.totalSupply().call())
        assert sum(balances.values()) == supply
        tokens.append(Token(name, balances, {}, supply, supply, 0))
    cash_token, bond_token, eur_token = tokens
    spenders = [market.settlement.address, *[market.markets[n].derivatives.address for n in MARKETS]]
    for party in PARTIES:
        for spender in spenders:
            cash_token.allowances[(party.address, spender)] = MAX_UINT
        bond_token.allowances[(party.address, market.settlement.address)] = MAX_UINT
        eur_token.allowances[(party.address, market.settlement.address)] = MAX_UINT
    f = market.fund.contract.functions
    fund = Fund(
        market.fund.address,
        threshold_bps=f.thresholdBps().call(),
        requirement_bps=f.requirementBps().call(),
        floor=f.floorAmount().call(),
        window=f.replenishmentWindow().call(),
        assets=f.totalAssets().call(),
        shares=f.totalShares().call(),
        engines={market.markets[n].derivatives.address for n in MARKETS},
    )
    for party in PARTIES:
        fund.members[party.address] = FundMember(shares=f.sharesOf(party.address).call())
    engines = {}
    for name in MARKETS:
        o = market.markets[name].oracle
        config = o.config()
        latest = o.latest()
        oracle = Oracle(
            reporters=list(o.reporters()),
            quorum=config.quorum,
            jump_quorum=config.jump_quorum,
            max_jump_bps=config.max_jump_bps,
            jump_window=config.jump_window,
            min_answer=config.min_answer,
            max_answer=config.max_answer,
            open_round=o.open_round(),
            anchor=o.anchor().round_id,
            rounds={latest.round_id: (latest.answer, latest.updated_at)},
        )
        d = market.markets[name].derivatives
        engines[name] = Engine(d.address, d.value_scale, d.cure_period(), d.max_price_age(), oracle)
    return Model(
        status=status,
        cash=cash_token,
        bond=bond_token,
        engines=engines,
        fund=fund,
        settlement=market.settlement.address,
        netting=market.netting.address,
        contracts=frozenset(contracts),
        cash_address=cash.address,
        eur=eur_token,
        eur_address=eur.address,
    )
