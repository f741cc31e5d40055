"""Fixtures of the default-fund tests: a fund on the session's registry and cash, and a mock engine.

For every test (:class:`SetupCache` keeps this setup on the chain from one such test to the next):
a :class:`MockClaimingEngine` stands in for a derivative engine, and a ``DefaultFund`` is deployed
with it registered in the constructor, a threshold of :data:`THRESHOLD_BPS` of the members
(:data:`THRESHOLD` approvals with three members), requirement
:data:`REQUIREMENT_BPS` of open IM and floor :data:`FLOOR`. Both are onboarded so they may hold
cash. Every member of the base scenario holds :data:`WALLET` cash and has approved the fund for
all of it, but none has joined: each test joins with the amounts its hand computation needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from eth_account.signers.local import LocalAccount
from web3.contract import Contract
from web3.types import TxReceipt

from dfmi_py.api.fund import DefaultFund
from dfmi_py.chain import Chain
from dfmi_py.signing.fund import Action, ActionKind, Approval
from tests.helpers import MAX_UINT256, Roles, SetupCache, read_words

USD = 10**6
#: Fund parameters of the tests: 60% of the members approve an action (2 of 3, 3 of 5).
THRESHOLD_BPS = 6_000
THRESHOLD = 2
REQUIREMENT_BPS = 2_000
FLOOR = 1_000 * USD
WINDOW = 2 * 24 * 3600
#: Cash each member holds before joining.
WALLET = 1_000_000 * USD


@dataclass
class FundWorld:
    """The fund, its mock engine, the session's cash, and the operations tests repeat."""

    chain: Chain
    fund: DefaultFund
    engine: Contract
    cash: Contract
    registry: Contract
    roles: Roles

    @property
    def contract(self) -> Contract:
        """The fund's contract."""
        return self.fund.contract

    @property
    def members(self) -> tuple[LocalAccount, ...]:
        """The base scenario's members (not all have joined)."""
        return self.roles.members

    # ------------------------------------------------------------------ time

    def now(self) -> int:
        """Timestamp of the latest block."""
        return int(self.chain.w3.eth.get_block("latest")["timestamp"])

    def advance(self, seconds: int) -> None:
        """Move the chain's clock ``seconds`` forward and mine a block there."""
        self.chain.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
        self.chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    # ------------------------------------------------------------------ members

    def join(self, member: LocalAccount, amount: int) -> TxReceipt:
        """``member`` joins with ``amount`` (already approved)."""
        return self.fund.join(member, amount, approve=False)

    def join_all(self, amounts: Sequence[int]) -> list[LocalAccount]:
        """The first ``len(amounts)`` members join with ``amounts``; returns them."""
        joined = list(self.members[: len(amounts)])
        for member, amount in zip(joined, amounts, strict=True):
            self.join(member, amount)
        return joined

    def contribute(self, member: LocalAccount, amount: int) -> TxReceipt:
        """``member`` adds ``amount`` (already approved)."""
        return self.fund.contribute(member, amount, approve=False)

    def balances(self, accounts: Sequence[LocalAccount | str]) -> list[int]:
        """Fund balances of ``accounts``, in one batch."""
        addresses = [a if isinstance(a, str) else a.address for a in accounts]
        return read_words(self.chain, [(self.contract, "balanceOf", (a,)) for a in addresses])

    def totals(self) -> tuple[int, int, int]:
        """``(totalAssets, totalShares, cash.balanceOf(fund))``."""
        calls = [
            (self.contract, "totalAssets", ()),
            (self.contract, "totalShares", ()),
            (self.cash, "balanceOf", (self.fund.address,)),
        ]
        assets, shares, held = read_words(self.chain, calls)
        return assets, shares, held

    # ------------------------------------------------------------------ engine

    def open(self, member: LocalAccount, im: int) -> TxReceipt:
        """The engine reports a trade of ``member`` with ``im`` of initial margin opened."""
        return self.chain.transact(self.engine.functions.open(self.fund.address, member.address, im), self.roles.admin)

    def close(self, member: LocalAccount, im: int) -> TxReceipt:
        """The engine reports a trade of ``member`` with ``im`` of initial margin closed."""
        return self.chain.transact(self.engine.functions.close(self.fund.address, member.address, im), self.roles.admin)

    def claim(self, defaulter: LocalAccount | str, survivor: LocalAccount | str, loss: int) -> TxReceipt:
        """The engine claims ``loss`` of a close-out between ``defaulter`` and ``survivor``."""
        call = self.engine.functions.claim(self.fund.address, _address(defaulter), _address(survivor), loss)
        return self.chain.transact(call, self.roles.admin)

    def claim_many(self, claims: Sequence[tuple[LocalAccount, LocalAccount, int]]) -> TxReceipt:
        """Several claims in one engine transaction (defaults in the same block)."""
        batch = [(d.address, s.address, loss) for d, s, loss in claims]
        return self.chain.transact(self.engine.functions.claimMany(self.fund.address, batch), self.roles.admin)

    def credit_of(self, survivor: LocalAccount) -> int:
        """Cash the engine credited ``survivor`` from the fund's payments."""
        return int(self.engine.functions.creditOf(survivor.address).call())

    # ------------------------------------------------------------------ governance

    def action(
        self, kind: ActionKind, *values: object, deadline: int | None = None, nonce: int | None = None
    ) -> Action:
        """An action with the fund's current nonce."""
        return self.fund.action(kind, *values, deadline=deadline, nonce=nonce)

    def approvals(self, action: Action, signers: Sequence[LocalAccount]) -> list[Approval]:
        """Each signer's approval of ``action``."""
        return [self.fund.sign(s, action) for s in signers]

    def execute(self, action: Action, signers: Sequence[LocalAccount]) -> TxReceipt:
        """Sign ``action`` with ``signers`` and submit it (from the outsider: anyone may)."""
        return self.fund.execute(self.roles.outsider, action, self.approvals(action, signers))

    def submit(self, action: Action, approvals: Sequence[Approval]) -> TxReceipt:
        """Submit ``action`` with exactly ``approvals``, in the given order (no sorting)."""
        call = self.contract.functions.execute(action.as_tuple(), [a.as_tuple() for a in approvals])
        return self.chain.transact(call, self.roles.outsider)


def _address(account: LocalAccount | str) -> str:
    return account if isinstance(account, str) else account.address


def deploy_engine(chain: Chain, roles: Roles, cash: Contract, registry: Contract) -> Contract:
    """A mock engine, onboarded so it may receive cash."""
    engine, _ = chain.deploy("MockClaimingEngine", [cash.address], roles.admin)
    chain.transact(registry.functions.onboard(engine.address), roles.officer)
    return engine


def deploy_fund(
    chain: Chain,
    roles: Roles,
    cash: Contract,
    registry: Contract,
    engines: Sequence[str],
    *,
    threshold_bps: int = THRESHOLD_BPS,
    requirement_bps: int = REQUIREMENT_BPS,
    floor: int = FLOOR,
    window: int = WINDOW,
) -> DefaultFund:
    """A fund with ``engines`` registered, onboarded so it may hold cash."""
    args = [registry.address, cash.address, threshold_bps, requirement_bps, floor, window, list(engines)]
    contract, _ = chain.deploy("DefaultFund", args, roles.admin)
    chain.transact(registry.functions.onboard(contract.address), roles.officer)
    return DefaultFund(chain, contract)


@pytest.fixture
def world(
    request: pytest.FixtureRequest,
    setup_cache: SetupCache,
    chain: Chain,
    roles: Roles,
    cash: Contract,
    registry: Contract,
) -> FundWorld:
    """A fresh fund and mock engine; every member funded and approved, none joined."""

    def setup() -> tuple[Contract, Contract]:
        engine = deploy_engine(chain, roles, cash, registry)
        fund = deploy_fund(chain, roles, cash, registry, [engine.address])
        for member in roles.members:
            chain.transact(cash.functions.mint(member.address, WALLET), roles.minter)
            chain.transact(cash.functions.approve(fund.address, MAX_UINT256), member)
        return engine, fund.contract

    engine, fund = setup_cache.setup(request, setup)
    return FundWorld(
        chain=chain, fund=DefaultFund(chain, fund), engine=engine, cash=cash, registry=registry, roles=roles
    )
