"""Defects the state machine found, each pinned by a test of its own on the machine's world."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import dfmi_py
from dfmi_py.api import Terms
from tests.helpers import evm_revert, evm_snapshot
from tests.system.conftest import OUTSIDER, PARTIES, USD, World

#: One xdist worker runs this folder (``--dist loadgroup``): its world is deployed once.
pytestmark = pytest.mark.xdist_group("system")


@pytest.fixture
def fresh(world: World) -> Iterator[World]:
    """The world as set up, restored after the test."""
    snapshot = evm_snapshot(world.chain)
    yield world
    evm_revert(world.chain, snapshot)


def test_books_apply_an_amendments_payment_before_the_im_it_releases(fresh: World) -> None:
    """An amendment that lowers both IMs and makes the buyer pay: the engine takes the payment
    (the buyer's margin account is empty: from its wallet), then releases both IMs into the
    margin accounts. The books once credited the buyer's released IM first and took the payment
    out of it, so the buyer's margin account read the payment short."""
    chain, market = fresh.chain, fresh.market
    engine = market.markets["XAU"].derivatives
    buyer, seller = PARTIES[0], PARTIES[1]
    price = market.markets["XAU"].oracle.latest().answer
    terms = Terms(buyer.address, seller.address, 10**18, price, chain.now() + 30 * 86_400, 500 * USD, 400 * USD)
    trade_id = engine.propose(buyer, terms)
    engine.confirm(seller, trade_id, terms)
    assert engine.margin_of(buyer.address) == 0
    amendment = engine.amendment(trade_id, buyer_im=100 * USD, seller_im=100 * USD, payment=311 * USD)
    amendment["deadline"] = chain.now() + 600
    signatures = engine.sign_amendment(buyer, amendment), engine.sign_amendment(seller, amendment)
    engine.amend(OUTSIDER, amendment, *signatures)
    assert engine.margin_of(buyer.address) == 400 * USD  # its IM released, the payment from its wallet
    assert engine.margin_of(seller.address) == 611 * USD  # its IM released, and the payment

    books = dfmi_py.connect(fresh.rpc_url, fresh.deployment.manifest_file)
    accounts = {r.member: int(r.margin_account) for r in books.exposure(market="XAU").itertuples()}
    assert accounts[buyer.address] == 400 * USD
    assert accounts[seller.address] == 611 * USD
