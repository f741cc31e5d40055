"""Fixtures of the attack tests (re-exported by tests/security/conftest.py).

The attack tests' fixtures
--------------------------
The attack tests (``test_attack_*.py``) reuse the fixtures of the contract, settlement, fund and
netting tests (imported below under names that do not clash: each of those folders calls its own
world ``world``), and add two hostile worlds of their own:

- :func:`rogue_market`: a derivative engine and its default fund on :class:`ReentrantCash`, a cash
  token that calls back into any contract the test names whenever it moves. Members 0-3 hold
  :data:`FUNDS` of it and have approved the engine and the fund without limit; members 0-2 joined
  the fund with :data:`CONTRIBUTION` each.
- :func:`rogue_clearing`: a settlement contract and a netting contract wired to each other, on two
  :class:`ReentrantCash` tokens (``cash``, the netting's cash, and ``security``). Three members
  hold both, and have approved the settlement contract (both tokens) and the netting contract
  (cash) without limit.

- :func:`security`: a SecurityToken on the session's registry, members 0-1 holding shares.

A reentrancy attack is run twice from the same state (:func:`run_twice`): once as the honest
call, once with the token armed; both must leave exactly the same balances, and every callback
the armed token made must have been refused. The other attacks send what an attacker would
(:func:`sweep`): each attempt must fail with its error, and the books must not move.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.types import Nonce, TxReceipt
from web3.utils.address import get_create_address

from dfmi_py.api.fund import DefaultFund
from dfmi_py.api.netting import Netting
from dfmi_py.api.settlement import Settlement
from dfmi_py.chain import Chain
from dfmi_py.errors import ContractRevertError
from tests.contracts.conftest import (
    CURE_PERIOD,
    MAX_PRICE_AGE,
    Market,
    deploy_quickly,
    send_setup,
)
from tests.contracts.conftest import aggregator as aggregator  # fixtures, re-exported for the attack tests
from tests.contracts.conftest import buyer as buyer
from tests.contracts.conftest import engine as engine
from tests.contracts.conftest import fund_and_approve as fund_and_approve
from tests.contracts.conftest import market as market
from tests.contracts.conftest import seller as seller
from tests.contracts.conftest import third as third
from tests.fund.conftest import world as fund_world  # noqa: F401
from tests.helpers import MAX_UINT256, Roles, SetupCache, events, evm_revert, evm_snapshot, read_words
from tests.netting.conftest import dvp_world as dvp_world
from tests.netting.conftest import world as netting_world  # noqa: F401
from tests.settlement.conftest import issuer as issuer
from tests.settlement.conftest import world as dvp  # noqa: F401

USD = 10**6
#: Rogue cash each member of the hostile worlds holds.
FUNDS = 1_000_000 * USD
#: What each member of :func:`rogue_market` paid into the fund.
CONTRIBUTION = 20_000 * USD
#: The fund of :func:`rogue_market`: 60% of the members approve an action, 20% of open IM, floor.
THRESHOLD_BPS = 6_000
REQUIREMENT_BPS = 2_000
FLOOR = 1_000 * USD
WINDOW = 86_400

#: A callback's outcome as the token recorded it: (target, success, return or revert data).
Callback = tuple[str, bool, bytes]


class Armed:
    """What a :class:`ReentrantCash` token did in a transaction, and how to arm it."""

    def __init__(self, chain: Chain, roles: Roles) -> None:
        self.chain = chain
        self.roles = roles

    def arm(self, token: Contract, target: str, call: ContractFunction | bytes, *, bubble: bool = False) -> None:
        """On every later movement, ``token`` calls ``target`` with ``call`` (as itself)."""
        data = call if isinstance(call, bytes) else bytes.fromhex(call._encode_transaction_data()[2:])
        send_setup(self.chain, [(token.functions.arm(target, data, bubble), self.roles.admin)])

    def callbacks(self, token: Contract, receipt: TxReceipt) -> list[Callback]:
        """Every callback ``token`` made in ``receipt``."""
        return [
            (e["target"], bool(e["success"]), bytes(e["returnData"]))
            for e in events(token, "CallbackAttempted", receipt)
        ]

    def error_of(self, data: bytes) -> str:
        """The custom error's name in revert ``data``."""
        decoded = self.chain.decode_error_data("0x" + data.hex())
        assert decoded is not None, f"undecodable revert data 0x{data.hex()}"
        return decoded[0]


def run_twice(
    chain: Chain,
    read: Callable[[], dict[str, int]],
    send: Callable[[], TxReceipt],
    arm: Callable[[], None],
) -> tuple[TxReceipt, dict[str, int], dict[str, int]]:
    """``send()`` honestly, read the books, go back, ``arm()``, ``send()`` again: the armed
    receipt, the honest books and the armed books."""
    snapshot = evm_snapshot(chain)
    send()
    honest = read()
    evm_revert(chain, snapshot)
    arm()
    receipt = send()
    return receipt, honest, read()


#: A call an attacker sends, and the custom error it must fail with (``None``: it goes through).
Attempt = tuple[ContractFunction, str | None]


def sweep(chain: Chain, sender: LocalAccount, attempts: Sequence[Attempt], books: Callable[[], dict[str, Any]]) -> None:
    """Send every attempt from ``sender``: each reverts with its error (``None``: goes through,
    as a no-op), and the books read the same after all of them."""
    before = books()
    for call, error in attempts:
        if error is None:
            chain.transact(call, sender)
            continue
        with pytest.raises(ContractRevertError) as refused:
            chain.transact(call, sender)
        assert refused.value.error == error, f"{call.fn_name}{call.args}: {refused.value}"
    after = books()
    assert after == before, {k: (before[k], after[k]) for k in before if before[k] != after[k]}


# ====================================================================== rogue market


@dataclass
class RogueMarket:
    """An engine and its fund on :class:`ReentrantCash`; members 0-2 funded, approved, joined."""

    market: Market
    fund: DefaultFund
    token: Contract
    roles: Roles
    armed: Armed

    @property
    def chain(self) -> Chain:
        return self.market.chain

    @property
    def engine(self) -> Contract:
        return self.market.engine

    @property
    def parties(self) -> tuple[LocalAccount, ...]:
        """Members 0-2 (joined the fund) and member 3 (funded and approved, not joined)."""
        return self.roles.members[:4]

    def books(self) -> dict[str, int]:
        """Every balance: wallets, margin accounts, fund balances, the contracts' totals."""
        holders = [p.address for p in self.parties] + [self.engine.address, self.fund.address, self.token.address]
        calls: list[tuple[Contract, str, tuple[Any, ...]]] = [(self.token, "balanceOf", (h,)) for h in holders]
        calls += [(self.engine, "marginOf", (p.address,)) for p in self.parties]
        calls += [(self.fund.contract, "balanceOf", (p.address,)) for p in self.parties]
        calls += [
            (self.token, "totalSupply", ()),
            (self.engine, "totalMargin", ()),
            (self.engine, "totalInitialMargin", ()),
            (self.fund.contract, "totalAssets", ()),
        ]
        return {
            f"{c.address[:8]}.{fn}{args}": w
            for (c, fn, args), w in zip(calls, read_words(self.chain, calls), strict=True)
        }


@pytest.fixture
def rogue_market(
    request: pytest.FixtureRequest,
    setup_cache: SetupCache,
    chain: Chain,
    roles: Roles,
    registry: Contract,
    aggregator: Contract,
) -> RogueMarket:
    """An engine and its fund on a token that calls back (see the module's docstring)."""

    def setup() -> tuple[Contract, Contract, Contract]:
        admin = roles.admin
        token = deploy_quickly(chain, "ReentrantCash", [], admin)
        nonce = chain.w3.eth.get_transaction_count(admin.address, "pending")
        predicted = get_create_address(admin.address, Nonce(nonce + 1))
        args = [registry.address, token.address, aggregator.address, admin.address, CURE_PERIOD, MAX_PRICE_AGE]
        engine_contract = deploy_quickly(chain, "DerivativeEngine", [*args, predicted], admin)
        fund_args = [registry.address, token.address, THRESHOLD_BPS, REQUIREMENT_BPS, FLOOR, WINDOW]
        fund_contract = deploy_quickly(chain, "DefaultFund", [*fund_args, [engine_contract.address]], admin)
        assert fund_contract.address == predicted
        calls: list[tuple[Any, LocalAccount]] = [
            (registry.functions.onboard(c.address), roles.officer) for c in (engine_contract, fund_contract)
        ]
        for member in roles.members[:4]:
            calls += [
                (token.functions.mint(member.address, FUNDS), admin),
                (token.functions.approve(engine_contract.address, MAX_UINT256), member),
                (token.functions.approve(fund_contract.address, MAX_UINT256), member),
            ]
        calls += [(fund_contract.functions.join(CONTRIBUTION), member) for member in roles.members[:3]]
        send_setup(chain, calls)
        return token, engine_contract, fund_contract

    token, engine_contract, fund_contract = setup_cache.setup(request, setup)
    market_ = Market(chain, engine_contract, aggregator, token, roles)
    return RogueMarket(market_, DefaultFund(chain, fund_contract), token, roles, Armed(chain, roles))


# ====================================================================== rogue clearing


@dataclass
class RogueClearing:
    """A settlement and a netting contract on two :class:`ReentrantCash` tokens."""

    chain: Chain
    roles: Roles
    cash: Contract
    security: Contract
    settlement: Settlement
    netting: Netting
    armed: Armed

    @property
    def parties(self) -> tuple[LocalAccount, ...]:
        return self.roles.members[:3]

    def books(self) -> dict[str, int]:
        """Both tokens' balances of the parties and the two contracts."""
        holders = [p.address for p in self.parties] + [self.settlement.address, self.netting.address]
        calls: list[tuple[Contract, str, tuple[Any, ...]]] = [
            (t, "balanceOf", (h,)) for t in (self.cash, self.security) for h in holders
        ]
        calls += [(self.cash, "totalSupply", ()), (self.security, "totalSupply", ())]
        return {
            f"{c.address[:8]}.{fn}{args}": w
            for (c, fn, args), w in zip(calls, read_words(self.chain, calls), strict=True)
        }


@pytest.fixture
def rogue_clearing(
    request: pytest.FixtureRequest, setup_cache: SetupCache, chain: Chain, roles: Roles, registry: Contract
) -> RogueClearing:
    """A settlement and a netting contract on tokens that call back (see the module's docstring)."""

    def setup() -> tuple[Contract, Contract, Contract, Contract]:
        admin = roles.admin
        cash = deploy_quickly(chain, "ReentrantCash", [], admin)
        security = deploy_quickly(chain, "ReentrantCash", [], admin)
        nonce = chain.w3.eth.get_transaction_count(admin.address, "pending")
        predicted = get_create_address(admin.address, Nonce(nonce + 1))
        settlement = deploy_quickly(chain, "AtomicSettlement", [predicted], admin)
        netting = deploy_quickly(chain, "NettingEngine", [registry.address, cash.address, settlement.address], admin)
        assert netting.address == predicted
        calls: list[tuple[Any, LocalAccount]] = []
        for member in roles.members[:3]:
            calls += [
                (cash.functions.mint(member.address, FUNDS), admin),
                (security.functions.mint(member.address, FUNDS), admin),
                (cash.functions.approve(settlement.address, MAX_UINT256), member),
                (security.functions.approve(settlement.address, MAX_UINT256), member),
                (cash.functions.approve(netting.address, MAX_UINT256), member),
            ]
        send_setup(chain, calls)
        return cash, security, settlement, netting

    cash, security, settlement, netting = setup_cache.setup(request, setup)
    return RogueClearing(
        chain, roles, cash, security, Settlement(chain, settlement), Netting(chain, netting), Armed(chain, roles)
    )


def addresses(accounts: Sequence[LocalAccount]) -> list[str]:
    """The accounts' addresses."""
    return [a.address for a in accounts]


# ====================================================================== a security token

#: Shares members 0 and 1 hold of :func:`security`.
SHARES = 1_000


@pytest.fixture
def security(
    request: pytest.FixtureRequest,
    setup_cache: SetupCache,
    chain: Chain,
    roles: Roles,
    registry: Contract,
    issuer: LocalAccount,
) -> Contract:
    """A SecurityToken on the session's registry (0 decimals): members 0-3 mirrored, members 0 and
    1 holding :data:`SHARES`, the issuer (development account 19) onboarded."""

    def setup() -> Contract:
        admin = roles.admin
        token = deploy_quickly(
            chain, "SecurityToken", ["ACME 5% 2030", "ACME30", 0, registry.address, admin.address], admin
        )
        calls: list[tuple[Any, LocalAccount]] = [
            (registry.functions.addSubscriber(token.address), admin),
            (token.functions.grantRole(token.functions.ISSUER_ROLE().call(), issuer.address), admin),
            (registry.functions.onboard(issuer.address), roles.officer),
        ]
        calls += [(token.functions.syncCompliance(m.address), admin) for m in roles.members[:4]]
        calls += [(token.functions.issue(m.address, SHARES), issuer) for m in roles.members[:2]]
        send_setup(chain, calls)
        return token

    return setup_cache.setup(request, setup)
