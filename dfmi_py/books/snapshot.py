"""The few view reads the books take besides the events, all at one block (the ledger's head).

Events tell what happened; a handful of current values are simpler to read than to rebuild:
each party's margin account in each engine (``marginOf``), each fund member's requirement and
standing (``requirementOf``, ``statusOf``), and constants (decimals, symbols, each engine's
``valueScale``, the netting contract's ``EXPIRY_PERIOD``). :func:`read_snapshot` reads them in
JSON-RPC batches (``eth_call`` at the head block), so a thousand members cost a few round trips.
:class:`Snapshot` is plain data: the views (:mod:`dfmi_py.books.views`) take it as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from web3 import Web3
from web3.contract.contract import ContractFunction

from dfmi_py.api.fund import MemberStatus
from dfmi_py.books.ledger import BATCH_ERRORS, BATCH_SIZE, Contracts
from dfmi_py.books.replay import Replay
from dfmi_py.chain.client import Chain

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TokenInfo:
    """A token of the suite."""

    address: str
    symbol: str
    decimals: int


@dataclass(frozen=True)
class MarketInfo:
    """A market's constants.

    Attributes:
        decimals: Decimals of its oracle's answers (prices).
        value_scale: Its engine's ``valueScale``: a position's value is ``quantity * price /
            value_scale`` cash units.
    """

    name: str
    description: str
    decimals: int
    value_scale: int
    engine: str
    oracle: str


@dataclass(frozen=True)
class MemberView:
    """A fund member's requirement and standing, as the fund computes them."""

    requirement: int
    status: MemberStatus


@dataclass(frozen=True)
class Constants:
    """What never changes after deployment (read once per :class:`~dfmi_py.books.Books`)."""

    chain_id: int
    cash: TokenInfo
    security: TokenInfo | None
    markets: dict[str, MarketInfo]
    fund: str
    settlement: str
    expiry_period: int


@dataclass(frozen=True)
class Snapshot:
    """The view reads of one block, with the suite's constants.

    Attributes:
        block: The block read (the ledger's head); timestamp: its time (Unix seconds).
        margin: ``(market, party) -> marginOf(party)`` in that market's engine, for every party
            of its trades.
        members: Each fund member's requirement and standing.
        error_texts: Revert data (``0x`` hex) of failed settlements, as a person reads it.
    """

    block: int
    timestamp: int
    constants: Constants
    margin: Mapping[tuple[str, str], int] = field(default_factory=dict)
    members: Mapping[str, MemberView] = field(default_factory=dict)
    error_texts: Mapping[str, str] = field(default_factory=dict)

    @property
    def cash(self) -> TokenInfo:
        return self.constants.cash

    @property
    def markets(self) -> dict[str, MarketInfo]:
        return self.constants.markets


@dataclass
class CallStats:
    """Round trips and calls :class:`BatchCaller` made."""

    requests: int = 0
    calls: int = 0


class BatchCaller:
    """Runs many ``eth_call`` at one block in JSON-RPC batches (one by one if the node refuses)."""

    def __init__(self, w3: Web3, batch_size: int = BATCH_SIZE) -> None:
        self.w3 = w3
        self.batch_size = batch_size
        self.batching = True
        self.stats = CallStats()

    def call(self, calls: Sequence[ContractFunction], block: int) -> list[Any]:
        """Each call's result, in order."""
        results: list[Any] = []
        for start in range(0, len(calls), self.batch_size):
            part = calls[start : start + self.batch_size]
            self.stats.calls += len(part)
            if self.batching and len(part) > 1:
                try:
                    with self.w3.batch_requests() as batch:
                        for call in part:
                            batch.add(call.call(block_identifier=block))
                        self.stats.requests += 1
                        results.extend(batch.execute())
                    continue
                except BATCH_ERRORS as exc:  # a node without batch support answers in many ways
                    logger.warning("the node refused a batch request (%s): calling one by one", exc)
                    self.batching = False
            for call in part:
                self.stats.requests += 1
                results.append(call.call(block_identifier=block))
        return results


def read_constants(chain: Chain, contracts: Contracts, caller: BatchCaller) -> Constants:
    """The suite's constants (at the latest block: they do not change)."""
    deployment = contracts.deployment
    cash = contracts["CashToken"]
    security = contracts.get("SecurityToken")
    calls: list[ContractFunction] = [cash.functions.symbol(), cash.functions.decimals()]
    if security is not None:
        calls += [security.functions.symbol(), security.functions.decimals()]
    underlyings = {m.name: (contracts[m.oracle], contracts[m.engine]) for m in deployment.markets}
    for oracle, engine in underlyings.values():
        calls += [oracle.functions.decimals(), oracle.functions.description(), engine.functions.valueScale()]
    netting = contracts.get("NettingEngine")
    if netting is not None:
        calls.append(netting.functions.EXPIRY_PERIOD())
    block = int(chain.w3.eth.block_number)
    values = iter(caller.call(calls, block))
    cash_info = TokenInfo(cash.address, str(next(values)), int(next(values)))
    security_info = TokenInfo(security.address, str(next(values)), int(next(values))) if security is not None else None
    markets = {}
    for name, (oracle, engine) in underlyings.items():
        decimals, description, scale = int(next(values)), str(next(values)), int(next(values))
        markets[name] = MarketInfo(name, description, decimals, scale, engine.address, oracle.address)
    expiry = int(next(values)) if netting is not None else 0
    return Constants(
        chain_id=chain.chain_id,
        cash=cash_info,
        security=security_info,
        markets=markets,
        fund=contracts["DefaultFund"].address if "DefaultFund" in contracts else "",
        settlement=contracts["AtomicSettlement"].address if "AtomicSettlement" in contracts else "",
        expiry_period=expiry,
    )


def read_snapshot(
    chain: Chain,
    contracts: Contracts,
    constants: Constants,
    state: Replay,
    block: int,
    timestamp: int,
    caller: BatchCaller,
) -> Snapshot:
    """The view reads the views need at ``block``: margin accounts of every trade's parties in
    its engine, the fund members' requirements and standings, and each failed settlement's revert
    data decoded."""
    keys: list[tuple[str, str]] = []
    calls: list[ContractFunction] = []
    for name, book in state.markets.items():
        if not book.trades or name not in constants.markets:
            continue
        engine = contracts[f"DerivativeEngine@{name}"]
        parties = dict.fromkeys(p for t in book.trades.values() for p in (t.buyer, t.seller))
        for party in parties:
            keys.append((name, party))
            calls.append(engine.functions.marginOf(party))
    members = list(state.fund.members)
    if members and constants.fund:
        fund = contracts["DefaultFund"]
        for member in members:
            calls += [fund.functions.requirementOf(member), fund.functions.statusOf(member)]
    values = caller.call(calls, block)
    margin = {key: int(value) for key, value in zip(keys, values, strict=False)}
    rest = values[len(keys) :]
    views = {
        member: MemberView(int(rest[2 * k]), MemberStatus(int(rest[2 * k + 1]))) for k, member in enumerate(members)
    }
    texts: dict[str, str] = {}
    for record in state.instructions.values():
        if record.last_reason and record.last_reason not in texts:
            decoded = chain.decode_error(record.last_reason) if len(record.last_reason) >= 10 else None
            texts[record.last_reason] = decoded.text if decoded is not None else f"revert data {record.last_reason}"
    return Snapshot(block, timestamp, constants, margin, views, texts)
