"""Fixtures of the netting tests: a NettingEngine on the session's registry and cash.

For the tests that ask for it (kept on the chain between them by :class:`SetupCache`) a ``NettingEngine`` is
deployed on the session's registry and cash and onboarded so it may hold cash. Every member of
the base scenario holds :data:`WALLET` cash; none has approved the netting contract: each test
approves or pre-funds what its hand computation needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from web3.contract import Contract
from web3.types import Nonce
from web3.utils.address import get_create_address

from dfmi_py.api.netting import Netting, SignedObligation
from dfmi_py.api.settlement import Settlement, SignedInstruction
from dfmi_py.chain import Chain, dev_account
from dfmi_py.netting import Obligation
from dfmi_py.signing.settlement import Instruction
from tests.contracts.conftest import deploy_quickly, send_setup
from tests.helpers import Roles, SetupCache, read_words

USD = 10**6
#: Cash each member holds at the start of a test.
WALLET = 1_000_000 * USD
#: Seconds a test round collects obligations, then gives members to fund.
COLLECTION = 600
FUNDING = 600
#: The netting contract's settlement contract in the cash-only tests: none.
NO_SETTLEMENT = "0x" + "00" * 20


@dataclass
class NettingWorld:
    """The netting contract, the session's cash and registry, and the steps tests repeat."""

    chain: Chain
    netting: Netting
    cash: Contract
    registry: Contract
    roles: Roles

    @property
    def contract(self) -> Contract:
        return self.netting.contract

    @property
    def members(self) -> tuple[LocalAccount, ...]:
        return self.roles.members

    # ------------------------------------------------------------------ time

    def now(self) -> int:
        return int(self.chain.w3.eth.get_block("latest")["timestamp"])

    def advance(self, seconds: int) -> None:
        """Move the clock ``seconds`` forward and mine a block there."""
        self.chain.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
        self.chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    def past_deadline(self, round_id: int) -> None:
        """Move the clock past the round's funding deadline."""
        deadline = self.netting.round(round_id).deadline
        self.advance(max(deadline - self.now(), 0) + 1)

    # ------------------------------------------------------------------ rounds

    def open(self, opener: LocalAccount | None = None) -> int:
        """A round opened by the first member (its opener), collecting for :data:`COLLECTION` s."""
        cutoff = self.now() + COLLECTION
        return self.netting.open_round(opener or self.members[0], cutoff, cutoff + FUNDING)

    def register_all(self, round_id: int, edges: Sequence[tuple[LocalAccount, LocalAccount, int]]) -> list[Obligation]:
        """Register every ``(payer, payee, amount)`` in one batch signed by both parties."""
        obligations = [
            self.netting.obligation(round_id, payer.address, payee.address, amount, ref)
            for ref, (payer, payee, amount) in enumerate(edges)
        ]
        by_address = {m.address: m for m in self.members}
        batch = [self.netting.signed_by_both(o, by_address[o.payer], by_address[o.payee]) for o in obligations]
        self.netting.register_batch(self.roles.outsider, batch)
        return obligations

    def approve_all(self, accounts: Sequence[LocalAccount], amount: int = WALLET) -> None:
        """Each of ``accounts`` lets the netting contract pull ``amount``."""
        send_setup(self.chain, [(self.cash.functions.approve(self.netting.address, amount), a) for a in accounts])

    def balances(self, accounts: Sequence[LocalAccount | str]) -> list[int]:
        """Cash wallets of ``accounts``, in one batch."""
        addresses = [a if isinstance(a, str) else a.address for a in accounts]
        return read_words(self.chain, [(self.cash, "balanceOf", (a,)) for a in addresses])

    def held(self) -> int:
        """Cash the netting contract holds."""
        return int(self.cash.functions.balanceOf(self.netting.address).call())

    def signed(self, obligation: Obligation, *, payer: bool = True, payee: bool = True) -> SignedObligation:
        """``obligation`` with the chosen parties' signatures."""
        by_address = {m.address: m for m in (*self.members, *self.roles.newcomers, self.roles.outsider)}
        return SignedObligation(
            obligation,
            self.netting.sign(by_address[obligation.payer], obligation) if payer else b"",
            self.netting.sign(by_address[obligation.payee], obligation) if payee else b"",
        )


@pytest.fixture
def world(
    request: pytest.FixtureRequest,
    setup_cache: SetupCache,
    chain: Chain,
    registry: Contract,
    cash: Contract,
    roles: Roles,
) -> NettingWorld:
    """A fresh netting contract, onboarded; every member holds :data:`WALLET` (set up once and kept
    for the next test that asks for it: :class:`SetupCache`)."""
    return setup_cache.setup(request, lambda: _set_up_world(chain, registry, cash, roles))


def _set_up_world(chain: Chain, registry: Contract, cash: Contract, roles: Roles) -> NettingWorld:
    contract = deploy_quickly(chain, "NettingEngine", [registry.address, cash.address, NO_SETTLEMENT], roles.admin)
    calls: list[tuple[Any, LocalAccount]] = [(registry.functions.onboard(contract.address), roles.officer)]
    calls += [(cash.functions.mint(m.address, WALLET), roles.minter) for m in roles.members]
    send_setup(chain, calls)
    return NettingWorld(chain, Netting(chain, contract), cash, registry, roles)


# ---------------------------------------------------------------------- DvP cash legs in rounds

#: Development account of the security's issuer in the DvP tests (free in the base scenario).
ISSUER_INDEX = 19
#: Shares each of the first :data:`SHAREHOLDERS` members holds at the start of a DvP test.
SHARES = 10_000
SHAREHOLDERS = 3
#: Seconds a DvP test instruction stays valid (well past a test round's funding deadline).
INSTRUCTION_TTL = 3 * 3600


class HostileMode(IntEnum):
    """``HostileSecurity.Mode``: how the hostile token's transfers behave."""

    COMPLY = 0
    REFUSE = 1
    BURN_GAS = 2
    REVERT_BLOB = 3
    HEAVY = 4


@dataclass
class DvPWorld(NettingWorld):
    """A settlement contract and a netting contract that trust each other, and a security.

    Members 0..SHAREHOLDERS-1 hold :data:`SHARES` shares; member SHAREHOLDERS holds none. Every
    member holds :data:`WALLET` cash and has approved the settlement contract on the security
    without limit; none has approved the netting contract on cash.
    """

    security: Contract = field(kw_only=True)
    settlement: Settlement = field(kw_only=True)

    def dvp(self, seller: LocalAccount, quantity: int, buyer: LocalAccount, price: int, nonce: int = 0) -> Instruction:
        """``seller`` delivers ``quantity`` shares to ``buyer`` against ``price`` cash units."""
        return self.settlement.dvp(
            seller.address,
            self.security.address,
            quantity,
            buyer.address,
            self.cash.address,
            price,
            deadline=self.now() + INSTRUCTION_TTL,
            nonce=nonce,
        )

    def signed_dvp(self, instruction: Instruction) -> SignedInstruction:
        """``instruction`` signed by both parties (members)."""
        by_address = {m.address: m for m in self.members}
        return self.settlement.signed(instruction, by_address[instruction.party_a], by_address[instruction.party_b])

    def decoded(self, reason: bytes) -> tuple[str, dict[str, Any]] | None:
        """The custom error of revert data ``reason`` (a failed delivery's), with its arguments."""
        return self.chain.decode_error_data("0x" + reason.hex())

    def hostile(self, holders: Sequence[LocalAccount], amount: int = SHARES) -> Contract:
        """A new :class:`HostileSecurity` (complying for now): each of ``holders`` holds ``amount``
        and has approved the settlement contract on it without limit."""
        admin = self.roles.admin
        token = deploy_quickly(self.chain, "HostileSecurity", [], admin)
        calls: list[tuple[Any, LocalAccount]] = [(token.functions.mint(h.address, amount), admin) for h in holders]
        calls += [(token.functions.approve(self.settlement.address, 2**256 - 1), h) for h in holders]
        send_setup(self.chain, calls)
        return token

    def books(self, accounts: Sequence[LocalAccount | str]) -> dict[str, int]:
        """Both tokens' balances of ``accounts`` and of both contracts, and both supplies."""
        holders = [a if isinstance(a, str) else a.address for a in accounts]
        holders += [self.netting.address, self.settlement.address]
        calls: list[tuple[Contract, str, tuple[Any, ...]]] = []
        keys = []
        for token, symbol in ((self.cash, "cash"), (self.security, "shares")):
            calls.append((token, "totalSupply", ()))
            keys.append(f"{symbol}:supply")
            for holder in holders:
                calls.append((token, "balanceOf", (holder,)))
                keys.append(f"{symbol}:{holder}")
        return dict(zip(keys, read_words(self.chain, calls), strict=True))


@pytest.fixture
def dvp_world(
    request: pytest.FixtureRequest,
    setup_cache: SetupCache,
    chain: Chain,
    registry: Contract,
    cash: Contract,
    roles: Roles,
) -> DvPWorld:
    """The settlement contract deployed with the netting contract's predicted address (the
    admin's transaction after next), the netting contract right after it; a fresh security;
    shares and cash as :class:`DvPWorld` says (kept between tests as :func:`world`)."""
    return setup_cache.setup(request, lambda: _set_up_dvp_world(chain, registry, cash, roles))


def _set_up_dvp_world(chain: Chain, registry: Contract, cash: Contract, roles: Roles) -> DvPWorld:
    admin = roles.admin
    nonce = chain.w3.eth.get_transaction_count(admin.address, "pending")
    predicted = get_create_address(admin.address, Nonce(nonce + 2))
    security_factory = _factory(chain, "SecurityToken")
    settlement_factory = _factory(chain, "AtomicSettlement")
    netting_factory = _factory(chain, "NettingEngine")
    security_receipt, settlement_receipt = send_setup(
        chain,
        [
            (security_factory.constructor("ACME 5% 2030", "ACME30", 0, registry.address, admin.address), admin),
            (settlement_factory.constructor(predicted), admin),
        ],
    )
    settlement_address = str(settlement_receipt["contractAddress"])
    netting_args = (registry.address, cash.address, settlement_address)
    (netting_receipt,) = send_setup(chain, [(netting_factory.constructor(*netting_args), admin)])
    security = chain.contract("SecurityToken", str(security_receipt["contractAddress"]))
    settlement = chain.contract("AtomicSettlement", settlement_address)
    netting = chain.contract("NettingEngine", str(netting_receipt["contractAddress"]))
    assert netting.address == predicted
    issuer = dev_account(ISSUER_INDEX)
    calls: list[tuple[Any, LocalAccount]] = [
        (registry.functions.addSubscriber(security.address), admin),
        (security.functions.grantRole(security.functions.ISSUER_ROLE().call(), issuer.address), admin),
        (registry.functions.onboard(issuer.address), roles.officer),
        (registry.functions.onboard(settlement.address), roles.officer),
        (registry.functions.onboard(netting.address), roles.officer),
    ]
    calls += [(security.functions.syncCompliance(m.address), admin) for m in roles.members]
    calls += [(cash.functions.mint(m.address, WALLET), roles.minter) for m in roles.members]
    calls += [(security.functions.issue(m.address, SHARES), issuer) for m in roles.members[:SHAREHOLDERS]]
    calls += [(security.functions.approve(settlement.address, 2**256 - 1), m) for m in roles.members]
    send_setup(chain, calls)
    api = Settlement(chain, settlement)
    return DvPWorld(chain, Netting(chain, netting), cash, registry, roles, security=security, settlement=api)


def _factory(chain: Chain, name: str) -> Any:
    artifact = chain.artifacts[name]
    return chain.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
