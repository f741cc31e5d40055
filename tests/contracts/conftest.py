"""Fixtures of the derivative-engine tests: a feed the test controls, an engine on the session's cash.

The engine is deployed for every test that uses it (:class:`SetupCache` keeps the deployment on the
chain from one such test to the next) on the session's registry and cash, with a
:class:`MockAggregator` as its oracle, onboarded so it may hold cash. The :class:`Market` helper
wraps the engine, the feed and the cash: it proposes and opens trades, posts prices, moves time
and signs amendments and terminations, and it carries the Python model of the engine's arithmetic
(:func:`value`), written from the specification rather than read from the contract.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import astuple, dataclass, replace
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.types import TxReceipt
from web3.utils.address import get_create_address

from dfmi_py.api.derivatives import Side as Side  # re-exported for the test modules
from dfmi_py.api.derivatives import TradeState
from dfmi_py.api.fund import DefaultFund
from dfmi_py.chain import Chain
from dfmi_py.signing import Domain, amendment_message, sign_typed, termination_message
from tests.helpers import MAX_UINT256, Roles, SetupCache, call_at, read_words

#: Oracle decimals (the mock's) and cash decimals (the session's cash).
PRICE_DECIMALS = 8
CASH_DECIMALS = 6
#: value(p) = quantity * p // VALUE_SCALE: 18 quantity decimals + 8 price decimals - 6 cash decimals.
VALUE_SCALE = 10 ** (18 + PRICE_DECIMALS - CASH_DECIMALS)
#: Engine settings of the tests.
CURE_PERIOD = 3 * 24 * 3600
MAX_PRICE_AGE = 3600

USD = 10**CASH_DECIMALS
UNIT = 10**18
#: A typical trade: 10 units at 2,000.00000000, 5,000 cash of IM each.
PRICE = 2_000 * 10**PRICE_DECIMALS
QUANTITY = 10 * UNIT
IM = 5_000 * USD
#: Cash each funded party starts with in its wallet.
FUNDS = 1_000_000 * USD
#: Days a typical trade runs.
TERM = 30 * 24 * 3600

TERMS_TYPES = ["address", "address", "uint96", "int128", "uint40", "uint128", "uint128", "bytes32"]

#: `TradeState` of IDerivativeEngine.sol.
State = TradeState


def value(quantity: int, price: int) -> int:
    """Cash value of ``quantity`` units at ``price``, floored (the specification's formula)."""
    return quantity * price // VALUE_SCALE


def vm_to_buyer(quantity: int, old_price: int, new_price: int) -> int:
    """Variation margin the buyer receives when the price moves from ``old_price`` to ``new_price``."""
    return value(quantity, new_price) - value(quantity, old_price)


@dataclass(frozen=True)
class Terms:
    """`Terms` of IDerivativeEngine.sol, in field order."""

    buyer: str
    seller: str
    quantity: int
    contract_price: int
    maturity: int
    buyer_im: int
    seller_im: int
    salt: bytes

    def as_tuple(self) -> tuple[Any, ...]:
        """The struct as web3 takes it."""
        return astuple(self)

    def as_event(self) -> dict[str, Any]:
        """The struct as a decoded event carries it."""
        return {
            "buyer": self.buyer,
            "seller": self.seller,
            "quantity": self.quantity,
            "contractPrice": self.contract_price,
            "maturity": self.maturity,
            "buyerIm": self.buyer_im,
            "sellerIm": self.seller_im,
            "salt": self.salt,
        }

    def hash(self) -> bytes:
        """``keccak256(abi.encode(terms))``, computed off-chain."""
        return keccak(abi_encode(TERMS_TYPES, list(astuple(self))))

    def but(self, **changes: Any) -> Terms:
        """These terms with ``changes``."""
        return replace(self, **changes)


class Market:
    """One engine, its feed and the session's cash, with the operations tests repeat."""

    def __init__(self, chain: Chain, engine: Contract, aggregator: Contract, cash: Contract, roles: Roles) -> None:
        self.chain = chain
        self.engine = engine
        self.aggregator = aggregator
        self.cash = cash
        self.roles = roles
        self._salt = 0

    # ------------------------------------------------------------------ time and prices

    def now(self) -> int:
        """Timestamp of the latest block."""
        return int(self.chain.w3.eth.get_block("latest")["timestamp"])

    def advance(self, seconds: int) -> None:
        """Move the chain's clock ``seconds`` forward and mine a block there."""
        self.chain.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
        self.chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    def block_time(self, receipt: TxReceipt) -> int:
        """Timestamp of the block that mined ``receipt``."""
        return int(self.chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"])

    def simulate(self, call: ContractFunction, sender: LocalAccount | str, at: int) -> bytes:
        """Run ``call`` from ``sender`` on the latest state as if the block's timestamp were ``at``.

        For exact time boundaries, which a sent transaction cannot hit reliably (its block's
        timestamp follows the wall clock). Returns the raw return data; a revert raises
        :class:`ContractRevertError` as :meth:`Chain.transact` would.
        """
        return call_at(self.chain, call, _address(sender), at)

    def push_price(self, price: int, updated_at: int | None = None) -> int:
        """Post ``price`` as the feed's next round, updated now (or at ``updated_at``); its round id."""
        stamp = self.now() if updated_at is None else updated_at
        self.chain.transact(self.aggregator.functions.pushRound(price, stamp), self.roles.admin)
        return int(self.aggregator.functions.latestRound().call())

    def set_round(self, round_id: int, price: int, updated_at: int) -> None:
        """Write round ``round_id`` without making it the latest."""
        self.chain.transact(self.aggregator.functions.setRound(round_id, price, updated_at), self.roles.admin)

    def set_latest(self, round_id: int) -> None:
        """Make ``round_id`` the feed's latest round."""
        self.chain.transact(self.aggregator.functions.setLatest(round_id), self.roles.admin)

    # ------------------------------------------------------------------ trades

    def terms(self, buyer: LocalAccount, seller: LocalAccount, /, **changes: Any) -> Terms:
        """Typical terms between ``buyer`` and ``seller`` maturing in :data:`TERM`, with ``changes``."""
        self._salt += 1
        base = Terms(
            buyer=buyer.address,
            seller=seller.address,
            quantity=QUANTITY,
            contract_price=PRICE,
            maturity=self.now() + TERM,
            buyer_im=IM,
            seller_im=IM,
            salt=self._salt.to_bytes(32, "big"),
        )
        return base.but(**changes)

    def propose(self, terms: Terms, proposer: LocalAccount) -> tuple[int, TxReceipt]:
        """``proposer`` proposes ``terms``; the new trade id and the receipt."""
        receipt = self.chain.transact(self.engine.functions.propose(terms.as_tuple()), proposer)
        return int(self.engine.functions.tradeCount().call()), receipt

    def confirm(self, trade_id: int, terms: Terms, confirmer: LocalAccount) -> TxReceipt:
        """``confirmer`` confirms ``terms`` of ``trade_id``."""
        return self.chain.transact(self.engine.functions.confirm(trade_id, terms.as_tuple()), confirmer)

    def open(self, buyer: LocalAccount, seller: LocalAccount, /, **changes: Any) -> tuple[int, Terms]:
        """A live trade: ``buyer`` proposes typical terms (with ``changes``), ``seller`` confirms."""
        terms = self.terms(buyer, seller, **changes)
        trade_id, _ = self.propose(terms, buyer)
        self.confirm(trade_id, terms, seller)
        return trade_id, terms

    def settle(self, trade_id: int, sender: LocalAccount | None = None) -> TxReceipt:
        """Anyone (by default the outsider) settles ``trade_id`` to the latest round."""
        return self.chain.transact(self.engine.functions.settle(trade_id), sender or self.roles.outsider)

    def trade(self, trade_id: int) -> dict[str, Any]:
        """``tradeOf(trade_id)`` by field name (the names come from the ABI)."""
        fields = [c["name"] for c in self.engine.functions.tradeOf.abi["outputs"][0]["components"]]
        return dict(zip(fields, self.engine.functions.tradeOf(trade_id).call(), strict=True))

    def state(self, trade_id: int) -> State:
        """The trade's state."""
        return State(self.engine.functions.stateOf(trade_id).call())

    # ------------------------------------------------------------------ money

    def margin(self, account: LocalAccount | str) -> int:
        """Free cash ``account`` holds in the engine."""
        return int(self.engine.functions.marginOf(_address(account)).call())

    def balance(self, account: LocalAccount | str) -> int:
        """Cash in ``account``'s wallet."""
        return int(self.cash.functions.balanceOf(_address(account)).call())

    def deposit(self, account: LocalAccount, amount: int) -> TxReceipt:
        """``account`` moves ``amount`` from its wallet to its margin account."""
        return self.chain.transact(self.engine.functions.depositMargin(amount), account)

    def withdraw(self, account: LocalAccount, amount: int) -> TxReceipt:
        """``account`` moves ``amount`` from its margin account to its wallet."""
        return self.chain.transact(self.engine.functions.withdrawMargin(amount), account)

    def revoke(self, account: LocalAccount) -> None:
        """``account`` withdraws the engine's allowance: the engine can no longer pull its wallet."""
        self.chain.transact(self.cash.functions.approve(self.engine.address, 0), account)

    def books(self, accounts: Sequence[LocalAccount | str]) -> dict[str, int]:
        """Wallets, margin accounts and the engine's totals, in one batch read."""
        addresses = [_address(a) for a in accounts]
        calls = [(self.cash, "balanceOf", (self.engine.address,))]
        calls += [(self.engine, "totalMargin", ()), (self.engine, "totalInitialMargin", ())]
        calls += [(self.cash, "balanceOf", (a,)) for a in addresses]
        calls += [(self.engine, "marginOf", (a,)) for a in addresses]
        words = read_words(self.chain, calls)
        keys = ["engine_cash", "total_margin", "total_im"]
        keys += [f"wallet:{a}" for a in addresses] + [f"margin:{a}" for a in addresses]
        return dict(zip(keys, words, strict=True))

    # ------------------------------------------------------------------ signatures

    def domain(self, *, chain_id: int | None = None, verifying_contract: str | None = None) -> Domain:
        """The engine's EIP-712 domain, or a forged one with another chain id or contract."""
        return Domain(
            "DerivativeEngine",
            "1",
            self.chain.chain_id if chain_id is None else chain_id,
            verifying_contract or self.engine.address,
        )

    def sign_amendment(self, signer: LocalAccount, amendment: dict[str, int], domain: Domain | None = None) -> bytes:
        """``signer``'s packed signature of ``amendment``."""
        return sign_typed(signer, amendment_message(domain or self.domain(), amendment)).packed()

    def sign_termination(
        self, signer: LocalAccount, termination: dict[str, int], domain: Domain | None = None
    ) -> bytes:
        """``signer``'s packed signature of ``termination``."""
        return sign_typed(signer, termination_message(domain or self.domain(), termination)).packed()


def amendment_tuple(a: dict[str, int]) -> tuple[int, ...]:
    """An amendment dict (keys of :data:`dfmi_py.signing.eip712.AMENDMENT_FIELDS`) as the struct."""
    keys = ("tradeId", "quantity", "maturity", "buyerIm", "sellerIm", "payment", "nonce", "deadline")
    return tuple(a[k] for k in keys)


def termination_tuple(x: dict[str, int]) -> tuple[int, ...]:
    """A termination dict as the struct."""
    return (x["tradeId"], x["payment"], x["nonce"], x["deadline"])


def _address(account: LocalAccount | str) -> str:
    return account if isinstance(account, str) else account.address


# ---------------------------------------------------------------------- fast setup

#: Gas limit of every setup transaction (the engine's deployment is the largest).
SETUP_GAS = 6_000_000


def send_setup(chain: Chain, calls: Sequence[tuple[Any, LocalAccount]]) -> list[TxReceipt]:
    """Send fixture setup transactions back to back, then check that every one succeeded.

    :meth:`Chain.transact` estimates, reads the nonce and fees, and polls for each receipt; a
    fixture that sends the same few transactions before every test does not need that. Calls
    (contract functions or constructors) go out with fixed gas, local nonces and one fee read;
    the local chain mines them in order as they arrive.
    """
    fee = 2 * int(chain.w3.eth.gas_price) + 1
    nonces: dict[str, int] = {}
    hashes = []
    for call, sender in calls:
        if sender.address not in nonces:
            nonces[sender.address] = chain.w3.eth.get_transaction_count(sender.address, "pending")
        tx = call.build_transaction(
            {
                "from": sender.address,
                "nonce": nonces[sender.address],
                "chainId": chain.chain_id,
                "gas": SETUP_GAS,
                "maxFeePerGas": fee,
                "maxPriorityFeePerGas": 0,
            }
        )
        nonces[sender.address] += 1
        hashes.append(chain.w3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction))
    receipts = [chain.w3.eth.wait_for_transaction_receipt(h, timeout=30, poll_latency=0.002) for h in hashes]
    failed = [i for i, receipt in enumerate(receipts) if receipt["status"] != 1]
    assert not failed, f"setup transactions {failed} reverted"
    return receipts


def deploy_quickly(chain: Chain, name: str, args: Sequence[Any], sender: LocalAccount) -> Contract:
    """Deploy ``name`` through :func:`send_setup` (a constructor that reverts fails the fixture)."""
    artifact = chain.artifacts[name]
    factory = chain.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    (receipt,) = send_setup(chain, [(factory.constructor(*args), sender)])
    return chain.contract(name, str(receipt["contractAddress"]))


# ---------------------------------------------------------------------- fixtures


@pytest.fixture
def aggregator(request: pytest.FixtureRequest, setup_cache: SetupCache, chain: Chain, roles: Roles) -> Contract:
    """A feed whose rounds the test writes; it has no round yet."""
    return setup_cache.setup(request, lambda: deploy_quickly(chain, "MockAggregator", [], roles.admin))


#: The engine's `fund` argument when it runs without a default fund (IM only).
NO_FUND = "0x" + "00" * 20


def engine_args(registry: Contract, cash: Contract, aggregator: Contract, roles: Roles) -> list[Any]:
    """The engine's constructor arguments but the last (its default fund)."""
    return [registry.address, cash.address, aggregator.address, roles.admin.address, CURE_PERIOD, MAX_PRICE_AGE]


@pytest.fixture
def engine(
    request: pytest.FixtureRequest,
    setup_cache: SetupCache,
    chain: Chain,
    roles: Roles,
    registry: Contract,
    cash: Contract,
    aggregator: Contract,
) -> Contract:
    """A DerivativeEngine on the session's registry and cash, onboarded so it can hold cash."""

    def deploy() -> Contract:
        contract = deploy_quickly(
            chain,
            "DerivativeEngine",
            [*engine_args(registry, cash, aggregator, roles), NO_FUND],
            roles.admin,
        )
        send_setup(chain, [(registry.functions.onboard(contract.address), roles.officer)])
        return contract

    return setup_cache.setup(request, deploy)


@pytest.fixture
def fund_and_approve(
    chain: Chain, cash: Contract, engine: Contract, roles: Roles
) -> Callable[[Sequence[LocalAccount], int], None]:
    """Mint ``amount`` to each account and let the engine pull all of it (max approval)."""

    def _fund_and_approve(accounts: Sequence[LocalAccount], amount: int = FUNDS) -> None:
        calls: list[tuple[Any, LocalAccount]] = [
            (cash.functions.mint(a.address, amount), roles.minter) for a in accounts
        ]
        calls += [(cash.functions.approve(engine.address, MAX_UINT256), a) for a in accounts]
        send_setup(chain, calls)

    return _fund_and_approve


@pytest.fixture
def market(
    request: pytest.FixtureRequest,
    setup_cache: SetupCache,
    chain: Chain,
    engine: Contract,
    aggregator: Contract,
    cash: Contract,
    roles: Roles,
    fund_and_approve: Callable[[Sequence[LocalAccount], int], None],
) -> Market:
    """The engine with the first three members funded with :data:`FUNDS` and the engine approved."""
    setup_cache.setup(request, lambda: fund_and_approve(roles.members[:3], FUNDS))
    return Market(chain, engine, aggregator, cash, roles)


@pytest.fixture
def buyer(roles: Roles) -> LocalAccount:
    """The first member: the long side of the typical trade (funded by :func:`market`)."""
    return roles.members[0]


@pytest.fixture
def seller(roles: Roles) -> LocalAccount:
    """The second member: the short side of the typical trade (funded by :func:`market`)."""
    return roles.members[1]


@pytest.fixture
def third(roles: Roles) -> LocalAccount:
    """The third member, funded by :func:`market`: a bystander, or the party of another trade."""
    return roles.members[2]


# ====================================================================== an engine with its default fund

#: The fund of :func:`linked`: 60% of the members approve an action, 20% of open IM with a floor.
THRESHOLD_BPS = 6_000
FLOOR = 1_000 * USD
REQUIREMENT_BPS = 2_000
WINDOW = 86_400
CALL_PRICE = PRICE - 300 * 10**8
CALL_LOSS = 3_000 * USD


class Linked:
    """An engine and the fund it reports to, with the session's cash."""

    def __init__(self, market: Market, fund: Contract, roles: Roles) -> None:
        self.market = market
        self.contract = fund
        self.fund = DefaultFund(market.chain, fund)
        self.roles = roles

    @property
    def engine(self) -> Contract:
        return self.market.engine

    def join(self, member: LocalAccount, amount: int) -> None:
        self.fund.join(member, amount)

    def margin_call(self, buyer: LocalAccount, seller: LocalAccount, **changes: int) -> int:
        """A typical trade whose buyer cannot pay the fall to CALL_PRICE, past its cure period."""
        trade_id, _ = self.market.open(buyer, seller, **changes)
        self.market.revoke(buyer)
        self.market.push_price(CALL_PRICE)
        self.market.settle(trade_id)
        assert self.market.state(trade_id) == State.MARGIN_CALL
        self.market.advance(CURE_PERIOD + 1)
        self.market.push_price(CALL_PRICE)
        return trade_id

    def declare(self, trade_id: int) -> TxReceipt:
        return self.market.chain.transact(self.engine.functions.declareDefault(trade_id), self.roles.outsider)

    def balances(self, members: Sequence[LocalAccount]) -> list[int]:
        return [self.fund.balance_of(m.address) for m in members]

    def assert_conserved(self, holders: Sequence[LocalAccount]) -> None:
        """Engine and fund hold exactly what they owe; the parties' cash plus theirs is unchanged."""
        cash = self.market.cash.functions
        engine, fund = self.engine.functions, self.contract.functions
        engine_cash = cash.balanceOf(self.engine.address).call()
        assert engine_cash == engine.totalMargin().call() + engine.totalInitialMargin().call()
        fund_cash = cash.balanceOf(self.contract.address).call()
        assert fund_cash == fund.totalAssets().call() + fund.surplus().call()
        wallets = sum(cash.balanceOf(h.address).call() for h in holders)
        assert wallets + engine_cash + fund_cash == FUNDS * len(holders)


@pytest.fixture
def linked(
    chain: Chain,
    roles: Roles,
    registry: Contract,
    cash: Contract,
    aggregator: Contract,
) -> Linked:
    """An engine deployed with the address its fund will have, then the fund that registers it."""
    admin = roles.admin
    predicted = get_create_address(admin.address, chain.w3.eth.get_transaction_count(admin.address) + 1)
    engine = deploy_quickly(
        chain, "DerivativeEngine", [*engine_args(registry, cash, aggregator, roles), predicted], admin
    )
    fund = deploy_quickly(
        chain,
        "DefaultFund",
        [registry.address, cash.address, THRESHOLD_BPS, REQUIREMENT_BPS, FLOOR, WINDOW, [engine.address]],
        admin,
    )
    assert fund.address == predicted
    members = roles.members[:4]
    calls = [(registry.functions.onboard(c.address), roles.officer) for c in (engine, fund)]
    calls += [(cash.functions.mint(m.address, FUNDS), roles.minter) for m in members]
    calls += [(cash.functions.approve(engine.address, MAX_UINT256), m) for m in members]
    send_setup(chain, calls)
    return Linked(Market(chain, engine, aggregator, cash, roles), fund, roles)


@pytest.fixture
def members(roles: Roles) -> tuple[LocalAccount, ...]:
    """Buyer, seller, a third and a fourth member, each funded with FUNDS."""
    return roles.members[:4]
