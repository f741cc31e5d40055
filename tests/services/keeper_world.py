"""A three-market suite on a node of its own (Anvil; Hardhat for the second-node test), for the
services' tests (keeper reader and service, faults, the second node).

The session ``chain`` fixture reverts between tests and serves the contract tests; the keeper
follows a chain over many blocks, so its tests start their own node and deployment (once per
module) and snapshot/revert around each test themselves.
"""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from eth_account.signers.local import LocalAccount
from web3 import Web3

from dfmi_py.api import Market, Terms
from dfmi_py.api.derivatives import TradeState
from dfmi_py.chain import Chain, dev_account
from dfmi_py.deploy.config import load_config
from dfmi_py.deploy.roles import DEV_ACCOUNT_COUNT, DEV_ROLE_INDEX, RoleConfig
from dfmi_py.deploy.suite import deploy_suite, load_deployment
from dfmi_py.node import AnvilNode, HardhatNode
from dfmi_py.services.runtime import Head

PROJECT_ROOT = Path(__file__).resolve().parents[2]
THREE_MARKETS = PROJECT_ROOT / "examples" / "three-markets.toml"
MARKETS = ("XAU", "EURUSD", "IDX50")
#: Members 7-11 trade; 13 and 14 run keepers (never onboarded: anyone may settle).
PARTIES = tuple(dev_account(i) for i in range(7, 12))
KEEPERS = (dev_account(13), dev_account(14))
ADMIN = dev_account(DEV_ROLE_INDEX["admin"])
OFFICER = dev_account(DEV_ROLE_INDEX["compliance_officer"])
MASTER_MINTER = dev_account(DEV_ROLE_INDEX["master_minter"])
MINTER = dev_account(DEV_ROLE_INDEX["minter"])
DAY = 86_400
UNLIMITED = 2**256 - 1


@dataclass
class World:
    """The node, the suite and helpers to move it."""

    node: AnvilNode | HardhatNode
    chain: Chain
    market: Market
    manifest_dir: Path
    #: The HTTP session every request to the node goes through (tests count on it).
    session: requests.Session

    @property
    def w3(self) -> Web3:
        return self.chain.w3

    def rpc(self, method: str, params: list[Any]) -> Any:
        response = self.w3.provider.make_request(method, params)  # type: ignore[arg-type]
        assert "error" not in response, response
        return response["result"]

    def snapshot(self) -> str:
        return str(self.rpc("evm_snapshot", []))

    def revert(self, snapshot: str) -> None:
        assert self.rpc("evm_revert", [snapshot]) is True

    def advance(self, seconds: int) -> None:
        self.rpc("evm_increaseTime", [seconds])
        self.rpc("evm_mine", [])

    def head(self) -> Head:
        block = self.w3.eth.get_block("latest")
        return Head(int(block["number"]), "0x" + bytes(block["hash"]).hex(), int(block["timestamp"]))

    def unit(self, market: str) -> int:
        return int(10 ** self.market.markets[market].oracle.decimals)

    def post(self, market: str, price: int) -> int:
        """Reporters submit ``price`` (oracle units) until the round is final; its id."""
        oracle = self.market.markets[market].oracle
        round_id = oracle.open_round()
        for reporter in oracle.reporters():
            oracle.submit(_reporter(reporter), price)
            if oracle.open_round() != round_id:
                return round_id
        raise AssertionError(f"{market}: round {round_id} did not finalise")

    def open_trade(
        self,
        market: str,
        buyer: LocalAccount,
        seller: LocalAccount,
        price: int,
        *,
        quantity: int = 10**18,
        maturity_in: int = 30 * DAY,
        im: int = 100 * 10**6,
    ) -> int:
        engine = self.market.markets[market].derivatives
        terms = Terms(buyer.address, seller.address, quantity, price, self.chain.now() + maturity_in, im, im)
        trade_id = engine.propose(buyer, terms)
        engine.confirm(seller, trade_id, terms)
        return trade_id

    def trade_ids(self, market: str) -> range:
        return range(1, self.market.markets[market].derivatives.trade_count() + 1)

    def settlements(self, market: str) -> list[tuple[int, int]]:
        """``(trade, round)`` of every ``VariationMarginSettled`` of ``market``, in chain order."""
        return [(f.trade_id, f.round_id) for f in self.market.markets[market].derivatives.margin_history()]

    def cash_total(self) -> int:
        """Wallets of every party and keeper, every engine's margin and IM, and the fund's cash:
        what conservation keeps constant (nobody else holds or moves cash in these tests)."""
        cash = self.market.cash
        total = sum(cash.balance_of(a.address) for a in (*PARTIES, *KEEPERS))
        for underlying in self.market.markets.values():
            engine = underlying.derivatives
            held = cash.balance_of(engine.address)
            assert held == engine.total_margin() + engine.total_initial_margin(), "an engine's books disagree"
            total += held
        return total + cash.balance_of(self.market.fund.address)

    def states(self, market: str) -> dict[int, TradeState]:
        engine = self.market.markets[market].derivatives
        return {i: engine.trade(i).state for i in self.trade_ids(market)}


def _reporter(address: str) -> LocalAccount:
    for index in range(DEV_ACCOUNT_COUNT):
        account = dev_account(index)
        if account.address == address:
            return account
    raise AssertionError(f"{address} is not a development account")


#: The world as this process first built it (under pytest-xdist: once per worker), a node state file
#: and the manifests folder: every later :func:`start_world` starts its node from that state, the
#: same chain block for block, in a fraction of a second instead of deploying and funding again.
_BUILT: list[tuple[Path, Path]] = []


def start_world(tmp: Path) -> Iterator[World]:
    """Start a node, deploy the three-market suite, fund and onboard the parties, post a first
    price in every market (XAU 2,000, EURUSD 1.10, IDX50 5,000).

    The first call in a process builds it; later calls start a node from the state the first
    saved (its manifests copied to ``tmp``)."""
    if not _BUILT:
        with AnvilNode(accounts=DEV_ACCOUNT_COUNT) as node:
            yield from world_on(node, tmp, save=tmp.with_name(f"{tmp.name}-state.json"))
        return
    state, manifests = _BUILT[0]
    shutil.copytree(manifests, tmp, dirs_exist_ok=True)
    with AnvilNode(accounts=DEV_ACCOUNT_COUNT, load_state=state) as node:
        chain, session = _connect(node)
        yield World(node, chain, Market.from_deployment(load_deployment(chain, tmp)), tmp, session)
        session.close()


def _connect(node: AnvilNode | HardhatNode) -> tuple[Chain, requests.Session]:
    session = requests.Session()
    session.trust_env = False
    provider = Web3.HTTPProvider(
        node.rpc_url, session=session, cache_allowed_requests=True, cacheable_requests={"eth_chainId"}
    )
    return Chain(Web3(provider)), session


def world_on(node: AnvilNode | HardhatNode, tmp: Path, save: Path | None = None) -> Iterator[World]:
    """:func:`start_world` on a running ``node``; ``save``: write the node's state there once the
    world is built, for the next :func:`start_world` of this process."""
    chain, session = _connect(node)
    deployment = deploy_suite(
        chain, ADMIN, RoleConfig.devnet(), manifest_dir=tmp, params=load_config(THREE_MARKETS), officer=OFFICER
    )
    market = Market.from_deployment(deployment)
    market.compliance.onboard(OFFICER, [p.address for p in (*PARTIES, MINTER)])
    market.cash.configure_minter(MASTER_MINTER, MINTER.address, 10**18)
    for party in PARTIES:
        market.cash.mint(MINTER, party.address, 1_000_000 * 10**6)
        market.fund.join(party, 10_000 * 10**6)
        for underlying in market.markets.values():
            market.cash.approve(party, underlying.derivatives.address, UNLIMITED)
    world = World(node, chain, market, tmp, session)
    for name, price in (("XAU", 2_000), ("EURUSD", 1.10), ("IDX50", 5_000)):
        world.post(name, round(price * world.unit(name)))
    if save is not None:
        dumped = world.rpc("anvil_dumpState", [])  # gzipped JSON, hex-encoded
        save.write_bytes(gzip.decompress(bytes.fromhex(dumped.removeprefix("0x"))))
        _BUILT.append((save, shutil.copytree(tmp, save.with_suffix(".manifests"))))
    yield world
    session.close()


# ---------------------------------------------------------------------- what the services' tests end with


def latest_rounds(world: World) -> dict[str, int]:
    return {name: world.market.markets[name].oracle.latest().round_id for name in MARKETS}


def settled_to(world: World, rounds: dict[str, int]) -> bool:
    """Every trade of every market settled to ``rounds``."""
    return all(
        {trade for trade, round_id in world.settlements(name) if round_id == rounds[name]} == set(world.trade_ids(name))
        for name in MARKETS
    )


def assert_settled_exactly_once(world: World, rounds_seen: list[dict[str, int]]) -> None:
    """No (trade, round) settled twice, and every trade settled to every round the test waited for."""
    for name in MARKETS:
        settlements = world.settlements(name)
        assert len(settlements) == len(set(settlements)), f"{name}: a (trade, round) settled twice: {settlements}"
        for rounds in rounds_seen:
            for trade_id in world.trade_ids(name):
                assert (trade_id, rounds[name]) in settlements, f"{name}: trade {trade_id} missed round {rounds[name]}"


def new_rounds(world: World, before: dict[str, int]) -> dict[str, int] | None:
    """The markets' latest rounds once every one moved past ``before``."""
    now = latest_rounds(world)
    return now if all(now[name] > before[name] for name in MARKETS) else None
