"""Fixtures of the netting tests: a NettingEngine on the session's registry and cash.

Per test (the chain returns to the base scenario after every test anyway) a ``NettingEngine`` is
deployed on the session's registry and cash and onboarded so it may hold cash. Every member of
the base scenario holds :data:`WALLET` cash; none has approved the netting contract: each test
approves or pre-funds what its hand computation needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from web3.contract import Contract

from dfmi_py.api.netting import Netting, SignedObligation
from dfmi_py.chain import Chain
from dfmi_py.netting import Obligation
from tests.contracts.conftest import deploy_quickly, send_setup
from tests.helpers import Roles, read_words

USD = 10**6
#: Cash each member holds at the start of a test.
WALLET = 1_000_000 * USD
#: Seconds a test round collects obligations, then gives members to fund.
COLLECTION = 600
FUNDING = 600


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
def world(chain: Chain, registry: Contract, cash: Contract, roles: Roles) -> NettingWorld:
    """A fresh netting contract, onboarded; every member holds :data:`WALLET`."""
    contract = deploy_quickly(chain, "NettingEngine", [registry.address, cash.address], roles.admin)
    calls: list[tuple[Any, LocalAccount]] = [(registry.functions.onboard(contract.address), roles.officer)]
    calls += [(cash.functions.mint(m.address, WALLET), roles.minter) for m in roles.members]
    send_setup(chain, calls)
    return NettingWorld(chain, Netting(chain, contract), cash, registry, roles)
