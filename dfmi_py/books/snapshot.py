"""The few view reads the books take besides the events, all at one block (the ledger's head).

Events tell what happened; a handful of current values are simpler to read than to rebuild: each
fund member's requirement and standing (``requirementOf``, ``statusOf``: the fund's rules applied
to its balance, open IM and flags), and constants (decimals, symbols, each engine's
``valueScale``, the netting contract's ``EXPIRY_PERIOD``). :func:`read_snapshot` reads them in
JSON-RPC batches (``eth_call`` at the head block), so a thousand members cost a few round trips.
:class:`Snapshot` is plain data: the views (:mod:`dfmi_py.books.views`) take it as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.abi import function_abi_to_4byte_selector, get_abi_input_types, get_abi_output_types
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.contract import Contract

from dfmi_py.api.fund import MemberStatus
from dfmi_py.books.ledger import BATCH_SIZE, Contracts, RpcBatcher
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
        members: Each fund member's requirement and standing.
        error_texts: Revert data (``0x`` hex) of failed settlements, as a person reads it.
    """

    block: int
    timestamp: int
    constants: Constants
    members: Mapping[str, MemberView] = field(default_factory=dict)
    error_texts: Mapping[str, str] = field(default_factory=dict)

    @property
    def cash(self) -> TokenInfo:
        return self.constants.cash

    @property
    def markets(self) -> dict[str, MarketInfo]:
        return self.constants.markets


#: A view call: the contract, the function's name, its arguments.
Call = tuple[Contract, str, tuple[Any, ...]]


class BatchCaller:
    """Runs many view calls at one block in JSON-RPC batches of ``eth_call``, encoded and decoded
    with eth_abi (each function's selector and types worked out once)."""

    def __init__(self, w3: Web3, batch_size: int = BATCH_SIZE) -> None:
        self.rpc = RpcBatcher(w3, batch_size)
        self._functions: dict[tuple[str, str], tuple[bytes, list[str], list[str]]] = {}

    def call(self, calls: Sequence[Call], block: int) -> list[Any]:
        """Each call's result, in order (a single output unwrapped, addresses checksummed).

        Raises:
            LedgerError: a call reverted.
        """
        params = []
        outputs = []
        for contract, name, args in calls:
            selector, inputs, output = self._function(contract, name)
            data = "0x" + (selector + abi_encode(inputs, list(args))).hex()
            params.append([{"to": contract.address, "data": data}, hex(block)])
            outputs.append(output)
        results = []
        for raw, output in zip(self.rpc.run("eth_call", params), outputs, strict=True):
            values = _checksummed(abi_decode(output, bytes.fromhex(str(raw)[2:])))
            results.append(values[0] if len(values) == 1 else values)
        return results

    def _function(self, contract: Contract, name: str) -> tuple[bytes, list[str], list[str]]:
        key = (contract.address, name)
        found = self._functions.get(key)
        if found is None:
            abi: Any = next(i for i in contract.abi if i.get("type") == "function" and i.get("name") == name)
            found = self._functions[key] = (
                function_abi_to_4byte_selector(abi),
                list(get_abi_input_types(abi)),
                list(get_abi_output_types(abi)),
            )
        return found


def _checksummed(value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(_checksummed(v) for v in value)
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return to_checksum_address(value)
    return value


def read_constants(chain: Chain, contracts: Contracts, caller: BatchCaller) -> Constants:
    """The suite's constants (at the latest block: they do not change)."""
    deployment = contracts.deployment
    cash = contracts["CashToken"]
    security = contracts.get("SecurityToken")
    calls: list[Call] = [(cash, "symbol", ()), (cash, "decimals", ())]
    if security is not None:
        calls += [(security, "symbol", ()), (security, "decimals", ())]
    underlyings = {m.name: (contracts[m.oracle], contracts[m.engine]) for m in deployment.markets}
    for oracle, engine in underlyings.values():
        calls += [(oracle, "decimals", ()), (oracle, "description", ()), (engine, "valueScale", ())]
    netting = contracts.get("NettingEngine")
    if netting is not None:
        calls.append((netting, "EXPIRY_PERIOD", ()))
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
    """The view reads the views need at ``block``: the fund members' requirements and standings,
    and each failed settlement's revert data decoded."""
    members = list(state.fund.members) if constants.fund else []
    calls: list[Call] = []
    if members:
        fund = contracts["DefaultFund"]
        calls = [(fund, name, (m,)) for m in members for name in ("requirementOf", "statusOf")]
    values = caller.call(calls, block)
    views = {
        member: MemberView(int(values[2 * k]), MemberStatus(int(values[2 * k + 1]))) for k, member in enumerate(members)
    }
    texts: dict[str, str] = {}
    for record in state.instructions.values():
        if record.last_reason and record.last_reason not in texts:
            decoded = chain.decode_error(record.last_reason) if len(record.last_reason) >= 10 else None
            texts[record.last_reason] = decoded.text if decoded is not None else f"revert data {record.last_reason}"
    return Snapshot(block, timestamp, constants, views, texts)
