"""DerivativeEngine: every lifecycle path, and every invalid transition with its custom error and values.

Expected amounts come from the Python model in ``conftest`` (``value(p) = quantity * p //
VALUE_SCALE``), never from the contract. Every rejected call is a transaction that would revert
(checked before sending); boundaries in time are probed with :meth:`Market.simulate` at an exact
block timestamp.
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3.contract import Contract

from dfmi_py.chain import Chain
from dfmi_py.signing.eip712 import AMENDMENT_FIELDS, TERMINATION_FIELDS
from tests.contracts.conftest import (
    CURE_PERIOD,
    FUNDS,
    IM,
    MAX_PRICE_AGE,
    PRICE,
    QUANTITY,
    USD,
    VALUE_SCALE,
    Market,
    Side,
    State,
    amendment_tuple,
    termination_tuple,
    value,
    vm_to_buyer,
)
from tests.helpers import ZERO_ADDRESS, Roles, Status, events, expect_revert

#: A quantity whose values do not divide evenly, so flooring shows in every round.
ODD_QUANTITY = 3_333_333_333_333_333_337
ZERO_HASH = b"\x00" * 32


def settled_event(
    trade_id: int, round_id: int, price: int, vm: int, payer: str, paid: int, owed: int
) -> dict[str, Any]:
    """A ``VariationMarginSettled`` event as decoded."""
    return {
        "tradeId": trade_id,
        "roundId": round_id,
        "price": price,
        "vmToBuyer": vm,
        "payer": payer,
        "paid": paid,
        "owed": owed,
    }


def changed(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """What moved between two :meth:`Market.books` reads: key -> after - before (zero deltas left out)."""
    return {key: after[key] - before[key] for key in before if after[key] != before[key]}


def wallet(account: LocalAccount) -> str:
    return f"wallet:{account.address}"


def margin(account: LocalAccount) -> str:
    return f"margin:{account.address}"


# ====================================================================== propose


@pytest.mark.parametrize("proposer_side", ["buyer", "seller"])
def test_propose_records_the_proposal_and_emits_the_full_terms(
    market: Market, buyer: LocalAccount, seller: LocalAccount, third: LocalAccount, proposer_side: str
) -> None:
    proposer = buyer if proposer_side == "buyer" else seller
    terms = market.terms(buyer, seller, buyer_im=3_000 * USD, seller_im=7_000 * USD)
    before = market.books([buyer, seller, third])

    trade_id, receipt = market.propose(terms, proposer)

    assert trade_id == 1
    assert events(market.engine, "TradeProposed", receipt) == [
        {"tradeId": 1, "proposer": proposer.address, "termsHash": terms.hash(), "terms": terms.as_event()}
    ]
    assert market.state(1) == State.PROPOSED
    assert market.engine.functions.proposalOf(1).call() == terms.hash()
    trade = market.trade(1)
    assert (trade["buyer"], trade["seller"], trade["proposer"]) == (
        buyer.address,
        seller.address,
        Side.BUYER if proposer_side == "buyer" else Side.SELLER,
    )
    assert (trade["buyerIm"], trade["sellerIm"], trade["lastRound"], trade["debt"]) == (0, 0, 0, 0)
    assert market.books([buyer, seller, third]) == before, "a proposal moves no cash"
    assert market.engine.functions.totalInitialMargin().call() == 0


def test_trade_ids_run_from_one_and_identical_terms_with_another_salt_are_another_trade(
    market: Market, buyer: LocalAccount, seller: LocalAccount
) -> None:
    first = market.terms(buyer, seller)
    second = first.but(salt=(2**256 - 1).to_bytes(32, "big"))
    assert market.propose(first, buyer)[0] == 1
    assert market.propose(second, buyer)[0] == 2
    assert market.engine.functions.tradeCount().call() == 2
    assert market.engine.functions.proposalOf(1).call() == first.hash()
    assert market.engine.functions.proposalOf(2).call() == second.hash() != first.hash()


def test_a_trade_that_was_never_proposed_is_in_state_none(market: Market) -> None:
    assert market.state(1) == State.NONE
    assert market.engine.functions.proposalOf(1).call() == ZERO_HASH
    assert market.engine.functions.tradeCount().call() == 0


@pytest.mark.parametrize(
    ("change", "error", "args"),
    [
        ("same-parties", "DerivativeInvalidParties", ("buyer", "buyer")),
        ("zero-seller", "DerivativeInvalidParties", ("buyer", "zero")),
        ("zero-quantity", "DerivativeZeroQuantity", ()),
        ("zero-price", "DerivativeNonPositivePrice", (0,)),
        ("negative-price", "DerivativeNonPositivePrice", (-1,)),
        ("most-negative-price", "DerivativeNonPositivePrice", (-(2**127),)),
    ],
)
def test_propose_rejects_invalid_terms(
    market: Market, buyer: LocalAccount, seller: LocalAccount, change: str, error: str, args: tuple[Any, ...]
) -> None:
    changes: dict[str, Any] = {
        "same-parties": {"seller": buyer.address},
        "zero-seller": {"seller": ZERO_ADDRESS},
        "zero-quantity": {"quantity": 0},
        "zero-price": {"contract_price": 0},
        "negative-price": {"contract_price": -1},
        "most-negative-price": {"contract_price": -(2**127)},
    }[change]
    terms = market.terms(buyer, seller, **changes)
    names = {"buyer": buyer.address, "zero": ZERO_ADDRESS}
    if error == "DerivativeInvalidParties":
        expected = {"buyer": names[args[0]], "seller": names[args[1]]}
    elif error == "DerivativeNonPositivePrice":
        expected = {"price": args[0]}
    else:
        expected = {}
    with expect_revert(error, **expected):
        market.propose(terms, buyer)
    assert market.engine.functions.tradeCount().call() == 0


def test_propose_rejects_a_zero_buyer(market: Market, seller: LocalAccount) -> None:
    terms = market.terms(seller, seller).but(buyer=ZERO_ADDRESS)
    with expect_revert("DerivativeInvalidParties", buyer=ZERO_ADDRESS, seller=seller.address):
        market.propose(terms, seller)


def test_propose_rejects_a_maturity_that_is_not_in_the_future(
    market: Market, buyer: LocalAccount, seller: LocalAccount
) -> None:
    at = market.now() + 1_000
    at_block_time = market.terms(buyer, seller, maturity=at)
    with expect_revert("DerivativeMaturityInPast", maturity=at, nowTime=at):
        market.simulate(market.engine.functions.propose(at_block_time.as_tuple()), buyer, at)
    one_second_later = at_block_time.but(maturity=at + 1)
    market.simulate(market.engine.functions.propose(one_second_later.as_tuple()), buyer, at)

    past = market.terms(buyer, seller, maturity=market.now() - 1)
    with expect_revert("DerivativeMaturityInPast", maturity=past.maturity):
        market.propose(past, buyer)


def test_propose_by_someone_who_is_not_a_party_is_rejected(
    market: Market, roles: Roles, buyer: LocalAccount, seller: LocalAccount, third: LocalAccount
) -> None:
    terms = market.terms(buyer, seller)
    for intruder in (third, roles.outsider, roles.admin):
        with expect_revert("DerivativeNotCounterparty", tradeId=0, caller=intruder.address):
            market.propose(terms, intruder)
    assert market.engine.functions.tradeCount().call() == 0


@pytest.mark.parametrize("how", ["never-onboarded", "frozen", "offboarded"])
@pytest.mark.parametrize("proposer_side", ["buyer", "seller"])
def test_a_proposer_who_is_not_active_in_the_registry_cannot_propose(
    market: Market,
    chain: Chain,
    registry: Contract,
    roles: Roles,
    buyer: LocalAccount,
    seller: LocalAccount,
    how: str,
    proposer_side: str,
) -> None:
    proposer = roles.newcomers[0] if how == "never-onboarded" else (buyer if proposer_side == "buyer" else seller)
    if how != "never-onboarded":
        chain.transact(registry.functions["freeze" if how == "frozen" else "offboard"](proposer.address), roles.officer)
    other = seller if proposer_side == "buyer" else buyer
    terms = market.terms(proposer, other) if proposer_side == "buyer" else market.terms(other, proposer)
    status = Status.FROZEN if how == "frozen" else Status.NONE
    with expect_revert("ComplianceAccountNotActive", account=proposer.address, status=status):
        market.propose(terms, proposer)
    assert market.engine.functions.tradeCount().call() == 0


@pytest.mark.parametrize("how", ["never-onboarded", "frozen"])
@pytest.mark.parametrize("counterparty_side", ["buyer", "seller"])
def test_a_counterparty_who_is_not_active_cannot_make_the_proposal_binding(
    market: Market,
    chain: Chain,
    registry: Contract,
    roles: Roles,
    buyer: LocalAccount,
    seller: LocalAccount,
    how: str,
    counterparty_side: str,
) -> None:
    """Only the proposer is checked at proposal; both parties are checked again at confirmation."""
    counterparty = (
        roles.newcomers[0] if how == "never-onboarded" else (buyer if counterparty_side == "buyer" else seller)
    )
    if how == "frozen":
        chain.transact(registry.functions.freeze(counterparty.address), roles.officer)
    proposer = seller if counterparty_side == "buyer" else buyer
    terms = (
        market.terms(counterparty, proposer) if counterparty_side == "buyer" else market.terms(proposer, counterparty)
    )
    trade_id, _ = market.propose(terms, proposer)
    status = Status.FROZEN if how == "frozen" else Status.NONE
    with expect_revert("ComplianceAccountNotActive", account=counterparty.address, status=status):
        market.confirm(trade_id, terms, counterparty)
    assert market.state(trade_id) == State.PROPOSED
    assert market.engine.functions.totalInitialMargin().call() == 0


# ====================================================================== confirm


@pytest.mark.parametrize(("buyer_im", "seller_im"), [(IM, IM), (3_000 * USD, 7_000 * USD), (0, 2_500 * USD)])
def test_confirm_moves_both_initial_margins_from_the_wallets_into_the_engine(
    market: Market,
    buyer: LocalAccount,
    seller: LocalAccount,
    third: LocalAccount,
    buyer_im: int,
    seller_im: int,
) -> None:
    terms = market.terms(buyer, seller, buyer_im=buyer_im, seller_im=seller_im, quantity=ODD_QUANTITY)
    trade_id, _ = market.propose(terms, seller)
    before = market.books([buyer, seller, third])

    receipt = market.confirm(trade_id, terms, buyer)

    assert events(market.engine, "TradeConfirmed", receipt) == [
        {
            "tradeId": trade_id,
            "buyer": buyer.address,
            "seller": seller.address,
            "buyerIm": buyer_im,
            "sellerIm": seller_im,
        }
    ]
    moved = {
        wallet(buyer): -buyer_im,
        wallet(seller): -seller_im,
        "engine_cash": buyer_im + seller_im,
        "total_im": buyer_im + seller_im,
    }
    assert changed(before, market.books([buyer, seller, third])) == {k: v for k, v in moved.items() if v}
    assert market.trade(trade_id) == {
        "buyer": buyer.address,
        "maturity": terms.maturity,
        "state": State.LIVE,
        "debtor": Side.NONE,
        "proposer": Side.SELLER,
        "nonce": 0,
        "seller": seller.address,
        "quantity": ODD_QUANTITY,
        "lastPrice": PRICE,
        "lastRound": 0,
        "cureDeadline": 0,
        "buyerIm": buyer_im,
        "sellerIm": seller_im,
        "debt": 0,
    }
    assert market.engine.functions.proposalOf(trade_id).call() == ZERO_HASH


def test_total_initial_margin_sums_the_initial_margins_of_every_live_trade(
    market: Market, buyer: LocalAccount, seller: LocalAccount, third: LocalAccount
) -> None:
    market.open(buyer, seller, buyer_im=1 * USD, seller_im=2 * USD)
    market.open(third, buyer, buyer_im=40 * USD, seller_im=800 * USD)
    proposed = market.terms(seller, third, buyer_im=16_000 * USD, seller_im=32_000 * USD)
    market.propose(proposed, seller)
    assert market.engine.functions.totalInitialMargin().call() == 843 * USD
    assert market.cash.functions.balanceOf(market.engine.address).call() == 843 * USD


@pytest.mark.parametrize(
    "field", ["buyer", "seller", "quantity", "contract_price", "maturity", "buyer_im", "seller_im", "salt"]
)
def test_confirm_rejects_terms_that_differ_from_the_proposal_in_any_field(
    market: Market, buyer: LocalAccount, seller: LocalAccount, third: LocalAccount, field: str
) -> None:
    terms = market.terms(buyer, seller)
    trade_id, _ = market.propose(terms, buyer)
    other: Any = {
        "buyer": third.address,
        "seller": third.address,
        "quantity": terms.quantity + 1,
        "contract_price": terms.contract_price - 1,
        "maturity": terms.maturity + 1,
        "buyer_im": terms.buyer_im - 1,
        "seller_im": terms.seller_im + 1,
        "salt": b"\x01" * 32,
    }[field]
    tampered = terms.but(**{field: other})
    confirmer = third if field == "seller" else seller
    with expect_revert("DerivativeTermsMismatch", tradeId=trade_id, expected=terms.hash(), given=tampered.hash()):
        market.confirm(trade_id, tampered, confirmer)
    assert market.state(trade_id) == State.PROPOSED


@pytest.mark.parametrize("proposer_side", ["buyer", "seller"])
def test_the_proposer_cannot_confirm_its_own_proposal(
    market: Market, buyer: LocalAccount, seller: LocalAccount, proposer_side: str
) -> None:
    proposer = buyer if proposer_side == "buyer" else seller
    terms = market.terms(buyer, seller)
    trade_id, _ = market.propose(terms, proposer)
    with expect_revert("DerivativeNotCounterparty", tradeId=trade_id, caller=proposer.address):
        market.confirm(trade_id, terms, proposer)


def test_confirm_by_someone_who_is_not_the_counterparty_is_rejected(
    market: Market, roles: Roles, buyer: LocalAccount, seller: LocalAccount, third: LocalAccount
) -> None:
    terms = market.terms(buyer, seller)
    trade_id, _ = market.propose(terms, buyer)
    for intruder in (third, roles.outsider, roles.admin):
        with expect_revert("DerivativeNotCounterparty", tradeId=trade_id, caller=intruder.address):
            market.confirm(trade_id, terms, intruder)
    assert market.state(trade_id) == State.PROPOSED


def test_confirm_needs_a_proposed_trade(market: Market, buyer: LocalAccount, seller: LocalAccount) -> None:
    terms = market.terms(buyer, seller)
    with expect_revert("DerivativeUnexpectedState", tradeId=1, expected=State.PROPOSED, actual=State.NONE):
        market.confirm(1, terms, seller)
    trade_id, _ = market.propose(terms, buyer)
    market.confirm(trade_id, terms, seller)
    with expect_revert("DerivativeUnexpectedState", tradeId=trade_id, expected=State.PROPOSED, actual=State.LIVE):
        market.confirm(trade_id, terms, seller)

    cancelled = market.terms(buyer, seller)
    cancelled_id, _ = market.propose(cancelled, buyer)
    market.chain.transact(market.engine.functions.cancel(cancelled_id), buyer)
    with expect_revert(
        "DerivativeUnexpectedState", tradeId=cancelled_id, expected=State.PROPOSED, actual=State.CANCELLED
    ):
        market.confirm(cancelled_id, cancelled, seller)


def test_confirm_after_the_maturity_has_passed_is_rejected(
    market: Market, buyer: LocalAccount, seller: LocalAccount
) -> None:
    terms = market.terms(buyer, seller, maturity=market.now() + 100)
    trade_id, _ = market.propose(terms, buyer)
    confirm = market.engine.functions.confirm(trade_id, terms.as_tuple())
    market.simulate(confirm, seller, terms.maturity - 1)
    with expect_revert("DerivativeMaturityInPast", maturity=terms.maturity, nowTime=terms.maturity):
        market.simulate(confirm, seller, terms.maturity)
    market.advance(200)
    with expect_revert("DerivativeMaturityInPast", maturity=terms.maturity):
        market.confirm(trade_id, terms, seller)


@pytest.mark.parametrize("side", ["buyer", "seller"])
def test_confirm_rechecks_that_both_parties_are_still_active(
    market: Market,
    chain: Chain,
    registry: Contract,
    roles: Roles,
    buyer: LocalAccount,
    seller: LocalAccount,
    side: str,
) -> None:
    terms = market.terms(buyer, seller)
    trade_id, _ = market.propose(terms, buyer)
    frozen = buyer if side == "buyer" else seller
    chain.transact(registry.functions.freeze(frozen.address), roles.officer)
    with expect_revert("ComplianceAccountNotActive", account=frozen.address, status=Status.FROZEN):
        market.confirm(trade_id, terms, seller)


@pytest.mark.parametrize("short_side", ["buyer", "seller"])
def test_confirm_reverts_whole_when_a_party_cannot_pay_its_initial_margin(
    market: Market, chain: Chain, buyer: LocalAccount, seller: LocalAccount, third: LocalAccount, short_side: str
) -> None:
    terms = market.terms(buyer, seller)
    trade_id, _ = market.propose(terms, buyer)
    short = buyer if short_side == "buyer" else seller
    market.revoke(short)
    before = market.books([buyer, seller, third])
    with expect_revert("ERC20InsufficientAllowance", spender=market.engine.address, allowance=0, needed=IM):
        market.confirm(trade_id, terms, seller)
    assert market.books([buyer, seller, third]) == before
    assert market.state(trade_id) == State.PROPOSED
    assert market.engine.functions.totalInitialMargin().call() == 0


# ====================================================================== cancel


@pytest.mark.parametrize("proposer_side", ["buyer", "seller"])
@pytest.mark.parametrize("canceller_side", ["buyer", "seller"])
def test_either_party_may_cancel_a_proposal(
    market: Market,
    buyer: LocalAccount,
    seller: LocalAccount,
    third: LocalAccount,
    proposer_side: str,
    canceller_side: str,
) -> None:
    terms = market.terms(buyer, seller)
    trade_id, _ = market.propose(terms, buyer if proposer_side == "buyer" else seller)
    canceller = buyer if canceller_side == "buyer" else seller
    before = market.books([buyer, seller, third])

    receipt = market.chain.transact(market.engine.functions.cancel(trade_id), canceller)

    assert events(market.engine, "TradeCancelled", receipt) == [{"tradeId": trade_id, "by": canceller.address}]
    assert market.state(trade_id) == State.CANCELLED
    assert market.engine.functions.proposalOf(trade_id).call() == ZERO_HASH
    assert market.books([buyer, seller, third]) == before
    with expect_revert("DerivativeUnexpectedState", tradeId=trade_id, expected=State.PROPOSED, actual=State.CANCELLED):
        market.chain.transact(market.engine.functions.cancel(trade_id), canceller)


def test_nobody_else_may_cancel_a_proposal(
    market: Market, roles: Roles, buyer: LocalAccount, seller: LocalAccount, third: LocalAccount
) -> None:
    trade_id, _ = market.propose(market.terms(buyer, seller), buyer)
    for intruder in (third, roles.outsider, roles.admin):
        with expect_revert("DerivativeNotCounterparty", tradeId=trade_id, caller=intruder.address):
            market.chain.transact(market.engine.functions.cancel(trade_id), intruder)
    assert market.state(trade_id) == State.PROPOSED


def test_a_live_trade_cannot_be_cancelled(market: Market, buyer: LocalAccount, seller: LocalAccount) -> None:
    trade_id, _ = market.open(buyer, seller)
    for party in (buyer, seller):
        with expect_revert("DerivativeUnexpectedState", tradeId=trade_id, expected=State.PROPOSED, actual=State.LIVE):
            market.chain.transact(market.engine.functions.cancel(trade_id), party)
    with expect_revert("DerivativeUnexpectedState", tradeId=99, expected=State.PROPOSED, actual=State.NONE):
        market.chain.transact(market.engine.functions.cancel(99), buyer)


# ====================================================================== settle


def test_value_scale_is_ten_to_18_plus_oracle_decimals_minus_cash_decimals(market: Market) -> None:
    assert market.cash.functions.decimals().call() == 6
    assert market.aggregator.functions.decimals().call() == 8
    assert market.engine.functions.valueScale().call() == VALUE_SCALE == 10**20


@pytest.mark.parametrize("move", ["up", "down"])
def test_settle_pays_the_change_in_value_from_the_losers_margin_account(
    market: Market, buyer: LocalAccount, seller: LocalAccount, third: LocalAccount, move: str
) -> None:
    trade_id, _ = market.open(buyer, seller, quantity=ODD_QUANTITY)
    market.deposit(buyer, 20_000 * USD)
    market.deposit(seller, 20_000 * USD)
    new_price = PRICE + 37_12345679 if move == "up" else PRICE - 41_87654321
    round_id = market.push_price(new_price)
    vm = vm_to_buyer(ODD_QUANTITY, PRICE, new_price)
    # 3.333... units times a move of 37.12345679 (or -41.87654321), each value floored on its own.
    assert vm == (123_744_856 if move == "up" else -139_588_477)
    loser, winner = (seller, buyer) if move == "up" else (buyer, seller)
    before = market.books([buyer, seller, third])

    receipt = market.settle(trade_id)

    assert events(market.engine, "VariationMarginSettled", receipt) == [
        settled_event(trade_id, round_id, new_price, vm, loser.address, abs(vm), 0)
    ]
    assert events(market.engine, "MarginCalled", receipt) == []
    assert changed(before, market.books([buyer, seller, third])) == {margin(loser): -abs(vm), margin(winner): abs(vm)}
    trade = market.trade(trade_id)
    assert (trade["lastPrice"], trade["lastRound"], trade["state"], trade["debt"]) == (
        new_price,
        round_id,
        State.LIVE,
        0,
    )


@pytest.mark.parametrize("deposit", [0, 100 * USD])
def test_settle_pulls_the_shortfall_of_the_margin_account_from_the_wallet(
    market: Market, buyer: LocalAccount, seller: LocalAccount, deposit: int
) -> None:
    trade_id, _ = market.open(buyer, seller)
    if deposit:
        market.deposit(seller, deposit)
    new_price = PRICE + 150 * 10**8
    vm = vm_to_buyer(QUANTITY, PRICE, new_price)
    assert vm == 1_500 * USD > deposit
    round_id = market.push_price(new_price)
    before = market.books([buyer, seller])

    receipt = market.settle(trade_id)

    assert events(market.engine, "VariationMarginSettled", receipt) == [
        settled_event(trade_id, round_id, new_price, vm, seller.address, vm, 0)
    ]
    moved = {
        wallet(seller): -(vm - deposit),
        margin(seller): -deposit,
        margin(buyer): vm,
        "engine_cash": vm - deposit,
        "total_margin": vm - deposit,
    }
    assert changed(before, market.books([buyer, seller])) == {k: v for k, v in moved.items() if v}


def test_variation_margin_over_many_rounds_telescopes_to_the_change_in_value(
    market: Market, buyer: LocalAccount, seller: LocalAccount
) -> None:
    trade_id, _ = market.open(buyer, seller, quantity=ODD_QUANTITY)
    market.deposit(buyer, 100_000 * USD)
    market.deposit(seller, 100_000 * USD)
    before = market.books([buyer, seller])
    path = [PRICE + 1, PRICE - 99_99999999, PRICE - 99_99999999, PRICE + 250_00000003, 7, 3_000 * 10**8 + 13]
    last = PRICE
    total = 0
    for price in path:
        round_id = market.push_price(price)
        receipt = market.settle(trade_id)
        vm = vm_to_buyer(ODD_QUANTITY, last, price)
        payer = ZERO_ADDRESS if vm == 0 else (seller.address if vm > 0 else buyer.address)
        assert events(market.engine, "VariationMarginSettled", receipt) == [
            settled_event(trade_id, round_id, price, vm, payer, abs(vm), 0)
        ]
        total += vm
        last = price
    assert total == value(ODD_QUANTITY, path[-1]) - value(ODD_QUANTITY, PRICE)
    assert changed(before, market.books([buyer, seller])) == {margin(buyer): total, margin(seller): -total}


def test_a_round_is_settled_at_most_once(market: Market, buyer: LocalAccount, seller: LocalAccount) -> None:
    trade_id, _ = market.open(buyer, seller)
    first = market.push_price(PRICE + 10**8)
    market.settle(trade_id)
    with expect_revert("DerivativeNothingToSettle", tradeId=trade_id, lastRound=first, latestRound=first):
        market.settle(trade_id, buyer)

    # The feed pointing back at an earlier round does not settle it again either.
    second = market.push_price(PRICE + 2 * 10**8)
    market.settle(trade_id)
    market.set_latest(first)
    with expect_revert("DerivativeNothingToSettle", tradeId=trade_id, lastRound=second, latestRound=first):
        market.settle(trade_id)


def test_an_unchanged_price_settles_the_round_without_moving_cash(
    market: Market, buyer: LocalAccount, seller: LocalAccount
) -> None:
    trade_id, _ = market.open(buyer, seller)
    round_id = market.push_price(PRICE)
    before = market.books([buyer, seller])
    receipt = market.settle(trade_id)
    assert events(market.engine, "VariationMarginSettled", receipt) == [
        settled_event(trade_id, round_id, PRICE, 0, ZERO_ADDRESS, 0, 0)
    ]
    assert market.books([buyer, seller]) == before
    assert market.trade(trade_id)["lastRound"] == round_id


def test_settle_refuses_a_stale_price(market: Market, buyer: LocalAccount, seller: LocalAccount) -> None:
    trade_id, _ = market.open(buyer, seller)
    updated_at = market.now() - 10
    round_id = market.push_price(PRICE + 10**8, updated_at)
    settle = market.engine.functions.settle(trade_id)
    market.simulate(settle, buyer, updated_at + MAX_PRICE_AGE)
    with expect_revert(
        "DerivativeStalePrice",
        roundId=round_id,
        updatedAt=updated_at,
        maxAge=MAX_PRICE_AGE,
        nowTime=updated_at + MAX_PRICE_AGE + 1,
    ):
        market.simulate(settle, buyer, updated_at + MAX_PRICE_AGE + 1)

    market.advance(MAX_PRICE_AGE)
    with expect_revert("DerivativeStalePrice", roundId=round_id, updatedAt=updated_at, maxAge=MAX_PRICE_AGE):
        market.settle(trade_id)
    assert market.trade(trade_id)["lastRound"] == 0


@pytest.mark.parametrize("answer", [0, -1, -(2**255), 2**127])
def test_settle_refuses_an_unusable_price(
    market: Market, buyer: LocalAccount, seller: LocalAccount, answer: int
) -> None:
    trade_id, _ = market.open(buyer, seller)
    round_id = market.push_price(answer)
    with expect_revert("DerivativeInvalidPrice", roundId=round_id, answer=answer):
        market.settle(trade_id)


def test_the_largest_int128_price_is_usable(market: Market, buyer: LocalAccount, seller: LocalAccount) -> None:
    near_max = 2**127 - 1 - 10**22
    trade_id, _ = market.open(buyer, seller, quantity=3, contract_price=near_max)
    price = 2**127 - 1
    market.push_price(price)
    receipt = market.settle(trade_id)
    vm = vm_to_buyer(3, near_max, price)
    assert vm == 300
    assert events(market.engine, "VariationMarginSettled", receipt)[0]["vmToBuyer"] == vm


def test_settle_refuses_a_feed_without_any_round(market: Market, buyer: LocalAccount, seller: LocalAccount) -> None:
    trade_id, _ = market.open(buyer, seller)
    with expect_revert("DerivativeInvalidPrice", roundId=0, answer=0):
        market.settle(trade_id)


def test_settle_refuses_a_round_at_or_after_maturity(market: Market, buyer: LocalAccount, seller: LocalAccount) -> None:
    trade_id, terms = market.open(buyer, seller, maturity=market.now() + 1_000)
    market.push_price(PRICE + 10**8, terms.maturity)
    with expect_revert(
        "DerivativeMaturityReached", tradeId=trade_id, maturity=terms.maturity, roundUpdatedAt=terms.maturity
    ):
        market.settle(trade_id)
    round_id = market.push_price(PRICE + 10**8, terms.maturity - 1)
    market.settle(trade_id)
    assert market.trade(trade_id)["lastRound"] == round_id


@pytest.mark.parametrize("call", ["settle", "declareDefault", "cure"])
def test_only_live_trades_are_settled(
    market: Market, buyer: LocalAccount, seller: LocalAccount, roles: Roles, call: str
) -> None:
    proposed_id, _ = market.propose(market.terms(buyer, seller), buyer)
    market.push_price(PRICE + 10**8)
    expected = {"settle": State.LIVE, "declareDefault": State.MARGIN_CALL, "cure": State.MARGIN_CALL}[call]
    for trade_id, actual in ((proposed_id, State.PROPOSED), (42, State.NONE)):
        with expect_revert("DerivativeUnexpectedState", tradeId=trade_id, expected=expected, actual=actual):
            market.chain.transact(market.engine.functions[call](trade_id), roles.outsider)
    if call != "settle":
        live_id, _ = market.open(buyer, seller)
        with expect_revert("DerivativeUnexpectedState", tradeId=live_id, expected=expected, actual=State.LIVE):
            market.chain.transact(market.engine.functions[call](live_id), roles.outsider)


# ====================================================================== settleMany


def test_settle_many_settles_the_due_trades_skips_the_others_and_counts(
    market: Market, roles: Roles, buyer: LocalAccount, seller: LocalAccount, third: LocalAccount
) -> None:
    soon = market.now() + 500
    due_a, _ = market.open(buyer, seller)
    due_b, _ = market.open(third, buyer, quantity=ODD_QUANTITY)
    already, _ = market.open(seller, third)
    proposed, _ = market.propose(market.terms(buyer, third), buyer)
    cancelled, _ = market.propose(market.terms(buyer, third), third)
    market.chain.transact(market.engine.functions.cancel(cancelled), buyer)
    maturing, _ = market.open(seller, buyer, maturity=soon)
    for party in (buyer, seller, third):
        market.deposit(party, 50_000 * USD)
    early = market.push_price(PRICE - 3 * 10**8)
    market.settle(already)
    market.advance(600)
    price = PRICE + 5 * 10**8
    round_id = market.push_price(price)
    market.settle(already)
    trade_ids = [due_a, already, proposed, cancelled, maturing, 99, due_b, due_a]
    frozen = {t: market.trade(t) for t in (already, proposed, cancelled, maturing)}

    call = market.engine.functions.settleMany(trade_ids)
    assert call.call({"from": roles.outsider.address}) == 2
    receipt = market.chain.transact(call, roles.outsider)

    assert events(market.engine, "VariationMarginSettled", receipt) == [
        settled_event(due_a, round_id, price, vm_to_buyer(QUANTITY, PRICE, price), seller.address, 50 * USD, 0),
        settled_event(
            due_b,
            round_id,
            price,
            vm_to_buyer(ODD_QUANTITY, PRICE, price),
            buyer.address,
            vm_to_buyer(ODD_QUANTITY, PRICE, price),
            0,
        ),
    ]
    assert {t: market.trade(t) for t in frozen} == frozen
    assert market.trade(maturing)["lastRound"] == 0 != early
    assert market.trade(due_a)["lastRound"] == market.trade(due_b)["lastRound"] == round_id


def test_settle_many_refuses_a_stale_or_unusable_price_for_the_whole_batch(
    market: Market, buyer: LocalAccount, seller: LocalAccount
) -> None:
    trade_id, _ = market.open(buyer, seller)
    stale = market.push_price(PRICE, market.now() - MAX_PRICE_AGE - 10)
    with expect_revert("DerivativeStalePrice", roundId=stale):
        market.chain.transact(market.engine.functions.settleMany([trade_id]), buyer)
    negative = market.push_price(-5)
    with expect_revert("DerivativeInvalidPrice", roundId=negative, answer=-5):
        market.chain.transact(market.engine.functions.settleMany([trade_id]), buyer)


def test_settle_many_of_nothing_due_settles_nothing(market: Market, buyer: LocalAccount, seller: LocalAccount) -> None:
    trade_id, _ = market.open(buyer, seller)
    market.push_price(PRICE + 1)
    market.settle(trade_id)
    call = market.engine.functions.settleMany([trade_id, trade_id])
    assert call.call({"from": buyer.address}) == 0
    assert call.call({"from": buyer.address}) == 0
    receipt = market.chain.transact(call, buyer)
    assert events(market.engine, "VariationMarginSettled", receipt) == []
    assert market.engine.functions.settleMany([]).call() == 0


# ====================================================================== margin call

#: The typical margin call: the price falls 300.00000000, so the buyer of 10 units owes 3,000.
CALL_PRICE = PRICE - 300 * 10**8
CALL_LOSS = 3_000 * USD


def open_margin_call(market: Market, buyer: LocalAccount, seller: LocalAccount, **changes: Any) -> tuple[int, int]:
    """A typical trade whose buyer cannot pay the first round's loss; the trade id and the deadline."""
    trade_id, _ = market.open(buyer, seller, **changes)
    market.revoke(buyer)
    market.push_price(CALL_PRICE)
    receipt = market.settle(trade_id)
    assert market.state(trade_id) == State.MARGIN_CALL
    return trade_id, market.block_time(receipt) + CURE_PERIOD


@pytest.mark.parametrize("how", ["no-allowance", "empty-wallet", "margin-short-of-the-loss"])
def test_a_loser_who_cannot_pay_is_margin_called(
    market: Market, buyer: LocalAccount, seller: LocalAccount, third: LocalAccount, how: str
) -> None:
    trade_id, _ = market.open(buyer, seller)
    if how == "empty-wallet":
        market.chain.transact(market.cash.functions.transfer(third.address, market.balance(buyer)), buyer)
    else:
        if how == "margin-short-of-the-loss":
            market.deposit(buyer, CALL_LOSS - 1)
        market.revoke(buyer)
    round_id = market.push_price(CALL_PRICE)
    assert vm_to_buyer(QUANTITY, PRICE, CALL_PRICE) == -CALL_LOSS
    before = market.books([buyer, seller, third])

    receipt = market.settle(trade_id)

    deadline = market.block_time(receipt) + CURE_PERIOD
    assert events(market.engine, "VariationMarginSettled", receipt) == [
        settled_event(trade_id, round_id, CALL_PRICE, -CALL_LOSS, buyer.address, 0, CALL_LOSS)
    ]
    assert events(market.engine, "MarginCalled", receipt) == [
        {"tradeId": trade_id, "debtor": buyer.address, "amount": CALL_LOSS, "cureDeadline": deadline}
    ]
    assert market.books([buyer, seller, third]) == before, "nothing is taken when the whole loss cannot be"
    trade = market.trade(trade_id)
    assert (trade["state"], trade["debtor"], trade["debt"], trade["cureDeadline"]) == (
        State.MARGIN_CALL,
        Side.BUYER,
        CALL_LOSS,
        deadline,
    )
    assert (trade["lastPrice"], trade["lastRound"]) == (CALL_PRICE, round_id)


def test_later_rounds_accrue_into_the_debt_and_net_when_the_price_moves_back(
    market: Market, buyer: LocalAccount, seller: LocalAccount, third: LocalAccount
) -> None:
    trade_id, deadline = open_margin_call(market, buyer, seller, quantity=ODD_QUANTITY)
    debt = value(ODD_QUANTITY, PRICE) - value(ODD_QUANTITY, CALL_PRICE)
    before = market.books([buyer, seller, third])
    last = CALL_PRICE
    # Further down (debt grows), partly back up (debt shrinks), down again: one deadline throughout.
    for price in (CALL_PRICE - 123_45678901, CALL_PRICE - 50 * 10**8, PRICE - 10**6):
        market.advance(3_600)
        round_id = market.push_price(price)
        receipt = market.settle(trade_id)
        vm = vm_to_buyer(ODD_QUANTITY, last, price)
        debt -= vm
        assert debt == value(ODD_QUANTITY, PRICE) - value(ODD_QUANTITY, price) > 0
        assert events(market.engine, "VariationMarginSettled", receipt) == [
            settled_event(trade_id, round_id, price, vm, buyer.address, 0, debt)
        ]
        assert events(market.engine, "MarginCalled", receipt) == [
            {"tradeId": trade_id, "debtor": buyer.address, "amount": debt, "cureDeadline": deadline}
        ]
        trade = market.trade(trade_id)
        assert (trade["state"], trade["debtor"], trade["debt"], trade["cureDeadline"]) == (
            State.MARGIN_CALL,
            Side.BUYER,
            debt,
            deadline,
        )
        last = price

    # Back to the contract price: nothing is owed any more, and the call is over.
    round_id = market.push_price(PRICE)
    receipt = market.settle(trade_id)
    vm = vm_to_buyer(ODD_QUANTITY, last, PRICE)
    assert vm == debt
    assert events(market.engine, "VariationMarginSettled", receipt) == [
        settled_event(trade_id, round_id, PRICE, vm, ZERO_ADDRESS, 0, 0)
    ]
    assert events(market.engine, "MarginCallCured", receipt) == [
        {"tradeId": trade_id, "debtor": buyer.address, "amount": 0}
    ]
    trade = market.trade(trade_id)
    assert (trade["state"], trade["debtor"], trade["debt"], trade["cureDeadline"]) == (State.LIVE, Side.NONE, 0, 0)
    assert market.books([buyer, seller, third]) == before, "netted to zero: no cash ever moved"


def test_a_margin_called_seller_accrues_nets_and_is_cured_by_a_round_like_a_buyer(
    market: Market, buyer: LocalAccount, seller: LocalAccount
) -> None:
    trade_id, _ = market.open(buyer, seller, quantity=ODD_QUANTITY)
    market.revoke(seller)
    path = [PRICE + 300 * 10**8, PRICE + 450_12345678, PRICE + 100 * 10**8]
    round_id = market.push_price(path[0])
    receipt = market.settle(trade_id)
    deadline = market.block_time(receipt) + CURE_PERIOD
    last = path[0]
    debt = value(ODD_QUANTITY, path[0]) - value(ODD_QUANTITY, PRICE)
    assert events(market.engine, "MarginCalled", receipt) == [
        {"tradeId": trade_id, "debtor": seller.address, "amount": debt, "cureDeadline": deadline}
    ]
    for price in path[1:]:  # up again (the seller owes more), then partly back down (it owes less)
        round_id = market.push_price(price)
        receipt = market.settle(trade_id)
        vm = vm_to_buyer(ODD_QUANTITY, last, price)
        debt += vm
        assert debt == value(ODD_QUANTITY, price) - value(ODD_QUANTITY, PRICE) > 0
        assert events(market.engine, "VariationMarginSettled", receipt) == [
            settled_event(trade_id, round_id, price, vm, seller.address, 0, debt)
        ]
        trade = market.trade(trade_id)
        assert (trade["state"], trade["debtor"], trade["debt"], trade["cureDeadline"]) == (
            State.MARGIN_CALL,
            Side.SELLER,
            debt,
            deadline,
        )
        last = price

    # The seller funds its margin account; the next round (down a little more) takes the whole debt.
    market.chain.transact(market.cash.functions.approve(market.engine.address, debt), seller)
    market.deposit(seller, debt)
    price = PRICE + 90 * 10**8
    round_id = market.push_price(price)
    before = market.books([buyer, seller])
    receipt = market.settle(trade_id)
    owed = value(ODD_QUANTITY, price) - value(ODD_QUANTITY, PRICE)
    assert events(market.engine, "VariationMarginSettled", receipt) == [
        settled_event(trade_id, round_id, price, vm_to_buyer(ODD_QUANTITY, last, price), seller.address, owed, 0)
    ]
    assert events(market.engine, "MarginCallCured", receipt) == [
        {"tradeId": trade_id, "debtor": seller.address, "amount": owed}
    ]
    assert changed(before, market.books([buyer, seller])) == {margin(seller): -owed, margin(buyer): owed}
    assert market.trade(trade_id)["state"] == State.LIVE


def test_a_price_move_back_past_the_debt_makes_the_other_party_pay_the_net(
    market: Market, buyer: LocalAccount, seller: LocalAccount
) -> None:
    trade_id, _ = open_margin_call(market, buyer, seller)
    before = market.books([buyer, seller])
    price = PRICE + 77 * 10**8
    round_id = market.push_price(price)
    net = value(QUANTITY, price) - value(QUANTITY, PRICE)
    assert net == 770 * USD

    receipt = market.settle(trade_id)

    vm = vm_to_buyer(QUANTITY, CALL_PRICE, price)
    assert events(market.engine, "VariationMarginSettled", receipt) == [
        settled_event(trade_id, round_id, price, vm, seller.address, net, 0)
    ]
    assert events(market.engine, "MarginCallCured", receipt) == [
        {"tradeId": trade_id, "debtor": buyer.address, "amount": net}
    ]
    assert changed(before, market.books([buyer, seller])) == {
        wallet(seller): -net,
        margin(buyer): net,
        "engine_cash": net,
        "total_margin": net,
    }
    trade = market.trade(trade_id)
    assert (trade["state"], trade["debtor"], trade["debt"], trade["cureDeadline"]) == (State.LIVE, Side.NONE, 0, 0)


def test_a_margin_call_changes_sides_with_a_fresh_deadline_when_the_other_party_cannot_pay_the_net(
    market: Market, buyer: LocalAccount, seller: LocalAccount
) -> None:
    trade_id, first_deadline = open_margin_call(market, buyer, seller)
    market.revoke(seller)
    market.advance(7_200)
    price = PRICE + 77 * 10**8
    round_id = market.push_price(price)
    before = market.books([buyer, seller])

    receipt = market.settle(trade_id)

    net = value(QUANTITY, price) - value(QUANTITY, PRICE)
    deadline = market.block_time(receipt) + CURE_PERIOD
    assert deadline > first_deadline
    assert events(market.engine, "VariationMarginSettled", receipt) == [
        settled_event(trade_id, round_id, price, vm_to_buyer(QUANTITY, CALL_PRICE, price), seller.address, 0, net)
    ]
    assert events(market.engine, "MarginCalled", receipt) == [
        {"tradeId": trade_id, "debtor": seller.address, "amount": net, "cureDeadline": deadline}
    ]
    trade = market.trade(trade_id)
    assert (trade["state"], trade["debtor"], trade["debt"], trade["cureDeadline"]) == (
        State.MARGIN_CALL,
        Side.SELLER,
        net,
        deadline,
    )
    assert market.books([buyer, seller]) == before


@pytest.mark.parametrize("means", ["approve-the-wallet", "deposit-margin"])
def test_cure_pays_the_debt_and_returns_the_trade_to_live(
    market: Market, roles: Roles, buyer: LocalAccount, seller: LocalAccount, means: str
) -> None:
    trade_id, _ = open_margin_call(market, buyer, seller)
    if means == "approve-the-wallet":
        market.chain.transact(market.cash.functions.approve(market.engine.address, CALL_LOSS), buyer)
    else:
        market.chain.transact(market.cash.functions.approve(market.engine.address, CALL_LOSS), buyer)
        market.deposit(buyer, CALL_LOSS)
    before = market.books([buyer, seller])

    receipt = market.chain.transact(market.engine.functions.cure(trade_id), roles.outsider)

    assert events(market.engine, "MarginCallCured", receipt) == [
        {"tradeId": trade_id, "debtor": buyer.address, "amount": CALL_LOSS}
    ]
    paid_from = (
        {wallet(buyer): -CALL_LOSS, "engine_cash": CALL_LOSS, "total_margin": CALL_LOSS}
        if means == "approve-the-wallet"
        else {margin(buyer): -CALL_LOSS}
    )
    assert changed(before, market.books([buyer, seller])) == {margin(seller): CALL_LOSS, **paid_from}
    trade = market.trade(trade_id)
    assert (trade["state"], trade["debtor"], trade["debt"], trade["cureDeadline"]) == (State.LIVE, Side.NONE, 0, 0)


def test_cure_fails_while_the_debtor_still_cannot_pay(
    market: Market, roles: Roles, buyer: LocalAccount, seller: LocalAccount
) -> None:
    trade_id, deadline = open_margin_call(market, buyer, seller)
    market.chain.transact(market.cash.functions.approve(market.engine.address, CALL_LOSS - 1), buyer)
    before = market.books([buyer, seller])
    with expect_revert("DerivativePaymentFailed", payer=buyer.address, amount=CALL_LOSS):
        market.chain.transact(market.engine.functions.cure(trade_id), roles.outsider)
    assert market.books([buyer, seller]) == before
    trade = market.trade(trade_id)
    assert (trade["state"], trade["debt"], trade["cureDeadline"]) == (State.MARGIN_CALL, CALL_LOSS, deadline)


def test_a_later_round_the_debtor_can_pay_cures_the_margin_call(
    market: Market, buyer: LocalAccount, seller: LocalAccount
) -> None:
    trade_id, _ = open_margin_call(market, buyer, seller)
    market.chain.transact(market.cash.functions.approve(market.engine.address, 10_000 * USD), buyer)
    market.deposit(buyer, 10_000 * USD)
    price = CALL_PRICE - 25 * 10**8
    round_id = market.push_price(price)
    before = market.books([buyer, seller])

    receipt = market.settle(trade_id)

    vm = vm_to_buyer(QUANTITY, CALL_PRICE, price)
    owed = CALL_LOSS - vm
    assert owed == 3_250 * USD
    assert events(market.engine, "VariationMarginSettled", receipt) == [
        settled_event(trade_id, round_id, price, vm, buyer.address, owed, 0)
    ]
    assert events(market.engine, "MarginCallCured", receipt) == [
        {"tradeId": trade_id, "debtor": buyer.address, "amount": owed}
    ]
    assert changed(before, market.books([buyer, seller])) == {margin(buyer): -owed, margin(seller): owed}
    assert market.state(trade_id) == State.LIVE


# ====================================================================== default


def test_a_default_can_only_be_declared_after_the_cure_period(
    market: Market, roles: Roles, buyer: LocalAccount, seller: LocalAccount
) -> None:
    trade_id, deadline = open_margin_call(market, buyer, seller)
    declare = market.engine.functions.declareDefault(trade_id)
    with expect_revert("DerivativeCurePeriodRunning", tradeId=trade_id, cureDeadline=deadline):
        market.chain.transact(declare, roles.outsider)
    with expect_revert("DerivativeCurePeriodRunning", tradeId=trade_id, cureDeadline=deadline, nowTime=deadline):
        market.simulate(declare, roles.outsider, deadline)
    assert abi_decode(["bool"], market.simulate(declare, roles.outsider, deadline + 1)) == (True,)
    assert market.state(trade_id) == State.MARGIN_CALL


def test_declare_default_pays_the_survivor_from_the_defaulters_im_and_touches_nothing_else(
    market: Market, roles: Roles, buyer: LocalAccount, seller: LocalAccount, third: LocalAccount
) -> None:
    market.deposit(third, 1_000 * USD)
    others = [market.open(third, buyer)[0], market.open(seller, third)[0]]
    trade_id, _ = open_margin_call(market, buyer, seller)
    market.settle(others[1])
    market.advance(CURE_PERIOD + 1)
    untouched = {t: market.trade(t) for t in others}
    before = market.books([buyer, seller, third])
    declare = market.engine.functions.declareDefault(trade_id)
    assert declare.call({"from": roles.outsider.address}) is True

    receipt = market.chain.transact(declare, roles.outsider)

    assert events(market.engine, "DefaultDeclared", receipt) == [
        {
            "tradeId": trade_id,
            "defaulter": buyer.address,
            "survivor": seller.address,
            "loss": CALL_LOSS,
            "paidFromIm": CALL_LOSS,
            "paidFromMargin": 0,
            "paidFromFund": 0,
            "unpaidClaim": 0,
        }
    ]
    assert events(market.engine, "InitialMarginReleased", receipt) == [
        {"tradeId": trade_id, "party": buyer.address, "amount": IM - CALL_LOSS},
        {"tradeId": trade_id, "party": seller.address, "amount": IM},
    ]
    assert events(market.engine, "VariationMarginSettled", receipt) == []
    assert changed(before, market.books([buyer, seller, third])) == {
        margin(seller): CALL_LOSS + IM,
        margin(buyer): IM - CALL_LOSS,
        "total_im": -2 * IM,
        "total_margin": 2 * IM,
    }
    trade = market.trade(trade_id)
    assert (trade["state"], trade["buyerIm"], trade["sellerIm"], trade["debt"]) == (State.DEFAULTED, 0, 0, 0)
    assert market.engine.functions.unpaidClaimOf(trade_id).call() == 0
    assert {t: market.trade(t) for t in others} == untouched
    assert market.engine.functions.totalInitialMargin().call() == 4 * IM

    market.push_price(PRICE)
    for call, expected in (("settle", State.LIVE), ("declareDefault", State.MARGIN_CALL), ("cure", State.MARGIN_CALL)):
        with expect_revert("DerivativeUnexpectedState", tradeId=trade_id, expected=expected, actual=State.DEFAULTED):
            market.chain.transact(market.engine.functions[call](trade_id), roles.outsider)


def test_declare_default_records_what_the_im_does_not_cover_as_the_survivors_claim(
    market: Market, roles: Roles, buyer: LocalAccount, seller: LocalAccount
) -> None:
    buyer_im = 1_000 * USD
    trade_id, _ = open_margin_call(market, buyer, seller, buyer_im=buyer_im)
    market.advance(CURE_PERIOD + 1)
    # A round that would shrink the debt but is stale: declareDefault must not use it.
    stale = market.push_price(PRICE, market.now() - MAX_PRICE_AGE - 1)
    before = market.books([buyer, seller])

    receipt = market.chain.transact(market.engine.functions.declareDefault(trade_id), roles.outsider)

    assert events(market.engine, "DefaultDeclared", receipt) == [
        {
            "tradeId": trade_id,
            "defaulter": buyer.address,
            "survivor": seller.address,
            "loss": CALL_LOSS,
            "paidFromIm": buyer_im,
            "paidFromMargin": 0,
            "paidFromFund": 0,
            "unpaidClaim": CALL_LOSS - buyer_im,
        }
    ]
    assert events(market.engine, "InitialMarginReleased", receipt) == [
        {"tradeId": trade_id, "party": seller.address, "amount": IM}
    ]
    assert changed(before, market.books([buyer, seller])) == {
        margin(seller): buyer_im + IM,
        "total_im": -(buyer_im + IM),
        "total_margin": buyer_im + IM,
    }
    assert market.engine.functions.unpaidClaimOf(trade_id).call() == CALL_LOSS - buyer_im
    trade = market.trade(trade_id)
    assert (trade["state"], trade["debtor"], trade["debt"], trade["lastRound"]) == (
        State.DEFAULTED,
        Side.BUYER,
        CALL_LOSS - buyer_im,
        stale - 1,
    )


def test_declare_default_settles_a_fresh_round_first_and_a_larger_loss_is_closed_out(
    market: Market, roles: Roles, buyer: LocalAccount, seller: LocalAccount
) -> None:
    trade_id, _ = open_margin_call(market, buyer, seller)
    market.advance(CURE_PERIOD + 1)
    price = CALL_PRICE - 100 * 10**8
    round_id = market.push_price(price)
    loss = value(QUANTITY, PRICE) - value(QUANTITY, price)
    assert loss == 4_000 * USD

    receipt = market.chain.transact(market.engine.functions.declareDefault(trade_id), roles.outsider)

    assert events(market.engine, "VariationMarginSettled", receipt) == [
        settled_event(trade_id, round_id, price, -1_000 * USD, buyer.address, 0, loss)
    ]
    assert [
        (e["loss"], e["paidFromIm"], e["paidFromMargin"], e["unpaidClaim"])
        for e in events(market.engine, "DefaultDeclared", receipt)
    ] == [(loss, loss, 0, 0)]
    assert market.margin(seller) == loss + IM
    assert market.margin(buyer) == IM - loss


def test_declare_default_does_not_default_a_debtor_that_a_fresh_round_lets_pay(
    market: Market, roles: Roles, buyer: LocalAccount, seller: LocalAccount
) -> None:
    trade_id, _ = open_margin_call(market, buyer, seller)
    market.advance(CURE_PERIOD + 1)
    market.chain.transact(market.cash.functions.approve(market.engine.address, CALL_LOSS), buyer)
    market.deposit(buyer, CALL_LOSS)
    round_id = market.push_price(CALL_PRICE)
    declare = market.engine.functions.declareDefault(trade_id)
    assert declare.call({"from": roles.outsider.address}) is False
    before = market.books([buyer, seller])

    receipt = market.chain.transact(declare, roles.outsider)

    assert events(market.engine, "DefaultDeclared", receipt) == []
    assert events(market.engine, "VariationMarginSettled", receipt) == [
        settled_event(trade_id, round_id, CALL_PRICE, 0, buyer.address, CALL_LOSS, 0)
    ]
    assert changed(before, market.books([buyer, seller])) == {margin(buyer): -CALL_LOSS, margin(seller): CALL_LOSS}
    assert market.state(trade_id) == State.LIVE


def test_declare_default_gives_a_new_debtor_its_own_cure_period(
    market: Market, roles: Roles, buyer: LocalAccount, seller: LocalAccount
) -> None:
    trade_id, _ = open_margin_call(market, buyer, seller)
    market.revoke(seller)
    market.advance(CURE_PERIOD + 1)
    price = PRICE + 77 * 10**8  # the seller now owes the buyer the net 770
    market.push_price(price)
    net = value(QUANTITY, price) - value(QUANTITY, PRICE)
    declare = market.engine.functions.declareDefault(trade_id)
    assert declare.call({"from": roles.outsider.address}) is False

    receipt = market.chain.transact(declare, roles.outsider)

    assert events(market.engine, "DefaultDeclared", receipt) == [], "the seller was called a moment ago"
    deadline = market.block_time(receipt) + CURE_PERIOD
    assert events(market.engine, "MarginCalled", receipt) == [
        {"tradeId": trade_id, "debtor": seller.address, "amount": net, "cureDeadline": deadline}
    ]
    trade = market.trade(trade_id)
    assert (trade["state"], trade["debtor"], trade["debt"], trade["cureDeadline"]) == (
        State.MARGIN_CALL,
        Side.SELLER,
        net,
        deadline,
    )
    assert market.books([buyer, seller])["total_im"] == 2 * IM

    # The seller's own cure period runs its course; then it is the defaulter.
    with expect_revert("DerivativeCurePeriodRunning", tradeId=trade_id, cureDeadline=deadline):
        market.chain.transact(declare, roles.outsider)
    market.advance(CURE_PERIOD + 1)
    receipt = market.chain.transact(declare, roles.outsider)
    assert events(market.engine, "DefaultDeclared", receipt) == [
        {
            "tradeId": trade_id,
            "defaulter": seller.address,
            "survivor": buyer.address,
            "loss": net,
            "paidFromIm": net,
            "paidFromMargin": 0,
            "paidFromFund": 0,
            "unpaidClaim": 0,
        }
    ]


@pytest.mark.parametrize("means", ["margin-account", "wallet"])
def test_a_debtor_that_can_pay_when_the_default_is_declared_is_cured_late_instead(
    market: Market, roles: Roles, buyer: LocalAccount, seller: LocalAccount, means: str
) -> None:
    trade_id, _ = open_margin_call(market, buyer, seller, buyer_im=1_000 * USD)
    # During the cure period the buyer finds the cash, but nobody calls cure().
    market.chain.transact(market.cash.functions.approve(market.engine.address, 5_000 * USD), buyer)
    if means == "margin-account":
        market.deposit(buyer, 5_000 * USD)
        market.revoke(buyer)
    market.advance(CURE_PERIOD + 1)
    declare = market.engine.functions.declareDefault(trade_id)
    assert declare.call({"from": roles.outsider.address}) is False
    before = market.books([buyer, seller])

    receipt = market.chain.transact(declare, roles.outsider)

    assert events(market.engine, "DefaultDeclared", receipt) == []
    assert events(market.engine, "MarginCallCured", receipt) == [
        {"tradeId": trade_id, "debtor": buyer.address, "amount": CALL_LOSS}
    ]
    paid_from = (
        {margin(buyer): -CALL_LOSS}
        if means == "margin-account"
        else {wallet(buyer): -CALL_LOSS, "engine_cash": CALL_LOSS, "total_margin": CALL_LOSS}
    )
    assert changed(before, market.books([buyer, seller])) == {margin(seller): CALL_LOSS, **paid_from}
    trade = market.trade(trade_id)
    assert (trade["state"], trade["debtor"], trade["debt"], trade["cureDeadline"]) == (State.LIVE, Side.NONE, 0, 0)
    assert market.engine.functions.unpaidClaimOf(trade_id).call() == 0


def test_a_close_out_takes_what_the_im_does_not_cover_from_the_defaulters_margin_account(
    market: Market, roles: Roles, buyer: LocalAccount, seller: LocalAccount
) -> None:
    buyer_im = 1_000 * USD
    trade_id, _ = open_margin_call(market, buyer, seller, buyer_im=buyer_im)
    # Margin arrives, but with the IM it still falls 500 short of the debt: a default.
    in_margin = 1_500 * USD
    market.chain.transact(market.cash.functions.approve(market.engine.address, in_margin), buyer)
    market.deposit(buyer, in_margin)
    market.advance(CURE_PERIOD + 1)
    before = market.books([buyer, seller])

    receipt = market.chain.transact(market.engine.functions.declareDefault(trade_id), roles.outsider)

    unpaid = CALL_LOSS - buyer_im - in_margin
    assert unpaid == 500 * USD
    assert events(market.engine, "DefaultDeclared", receipt) == [
        {
            "tradeId": trade_id,
            "defaulter": buyer.address,
            "survivor": seller.address,
            "loss": CALL_LOSS,
            "paidFromIm": buyer_im,
            "paidFromMargin": in_margin,
            "paidFromFund": 0,
            "unpaidClaim": unpaid,
        }
    ]
    assert changed(before, market.books([buyer, seller])) == {
        margin(buyer): -in_margin,
        margin(seller): buyer_im + in_margin + IM,
        "total_im": -(buyer_im + IM),
        "total_margin": buyer_im + IM,
    }
    assert market.engine.functions.unpaidClaimOf(trade_id).call() == unpaid
    trade = market.trade(trade_id)
    assert (trade["state"], trade["debtor"], trade["debt"]) == (State.DEFAULTED, Side.BUYER, unpaid)


# ====================================================================== amend and terminate (2-of-2, EIP-712)


def amendment_of(market: Market, trade_id: int, **changes: int) -> dict[str, int]:
    """An amendment of ``trade_id`` that keeps its terms, at its current nonce, valid for an hour."""
    trade = market.trade(trade_id)
    base = {
        "tradeId": trade_id,
        "quantity": trade["quantity"],
        "maturity": trade["maturity"],
        "buyerIm": trade["buyerIm"],
        "sellerIm": trade["sellerIm"],
        "payment": 0,
        "nonce": trade["nonce"],
        "deadline": market.now() + 3_600,
    }
    return base | changes


def termination_of(market: Market, trade_id: int, **changes: int) -> dict[str, int]:
    """A termination of ``trade_id`` without payment, at its current nonce, valid for an hour."""
    base = {
        "tradeId": trade_id,
        "payment": 0,
        "nonce": market.trade(trade_id)["nonce"],
        "deadline": market.now() + 3_600,
    }
    return base | changes


def amend_call(market: Market, amendment: dict[str, int], buyer_sig: bytes, seller_sig: bytes) -> Any:
    return market.engine.functions.amend(amendment_tuple(amendment), buyer_sig, seller_sig)


def terminate_call(market: Market, termination: dict[str, int], buyer_sig: bytes, seller_sig: bytes) -> Any:
    return market.engine.functions.terminate(termination_tuple(termination), buyer_sig, seller_sig)


def test_the_typehashes_and_domain_match_what_the_python_signer_signs(market: Market) -> None:
    def type_string(name: str, fields: list[dict[str, str]]) -> bytes:
        members = ",".join(field["type"] + " " + field["name"] for field in fields)
        return f"{name}({members})".encode()

    amendment = (
        b"Amendment(uint256 tradeId,uint96 quantity,uint40 maturity,uint128 buyerIm,uint128 sellerIm,"
        b"int256 payment,uint256 nonce,uint256 deadline)"
    )
    termination = b"Termination(uint256 tradeId,int256 payment,uint256 nonce,uint256 deadline)"
    assert type_string("Amendment", AMENDMENT_FIELDS) == amendment
    assert type_string("Termination", TERMINATION_FIELDS) == termination
    assert market.engine.functions.AMENDMENT_TYPEHASH().call() == keccak(amendment)
    assert market.engine.functions.TERMINATION_TYPEHASH().call() == keccak(termination)
    domain_type = keccak(b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
    expected = keccak(
        abi_encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [domain_type, keccak(b"DerivativeEngine"), keccak(b"1"), market.chain.chain_id, market.engine.address],
        )
    )
    assert market.engine.functions.domainSeparator().call() == expected


def test_amend_with_both_signatures_changes_the_terms_pulls_and_releases_im_and_pays(
    market: Market, roles: Roles, buyer: LocalAccount, seller: LocalAccount
) -> None:
    trade_id, terms = market.open(buyer, seller)
    new_quantity = 2 * QUANTITY + 1
    amendment = amendment_of(
        market,
        trade_id,
        quantity=new_quantity,
        maturity=terms.maturity + 10 * 24 * 3600,
        buyerIm=IM + 2_000 * USD,
        sellerIm=IM - 1_000 * USD,
        payment=300 * USD,
    )
    signatures = (market.sign_amendment(buyer, amendment), market.sign_amendment(seller, amendment))
    before = market.books([buyer, seller])

    receipt = market.chain.transact(amend_call(market, amendment, *signatures), roles.outsider)

    assert events(market.engine, "TradeAmended", receipt) == [
        {
            "tradeId": trade_id,
            "nonce": 0,
            "quantity": new_quantity,
            "maturity": amendment["maturity"],
            "buyerIm": IM + 2_000 * USD,
            "sellerIm": IM - 1_000 * USD,
            "payment": 300 * USD,
        }
    ]
    assert events(market.engine, "InitialMarginReleased", receipt) == [
        {"tradeId": trade_id, "party": seller.address, "amount": 1_000 * USD}
    ]
    # The buyer has no margin account: the payment and the extra IM come from its wallet.
    assert changed(before, market.books([buyer, seller])) == {
        wallet(buyer): -2_300 * USD,
        margin(seller): 1_300 * USD,
        "engine_cash": 2_300 * USD,
        "total_margin": 1_300 * USD,
        "total_im": 1_000 * USD,
    }
    trade = market.trade(trade_id)
    assert (trade["quantity"], trade["maturity"], trade["buyerIm"], trade["sellerIm"], trade["nonce"]) == (
        new_quantity,
        amendment["maturity"],
        IM + 2_000 * USD,
        IM - 1_000 * USD,
        1,
    )
    assert (trade["lastPrice"], trade["state"]) == (PRICE, State.LIVE)

    # Later rounds settle the amended quantity.
    price = PRICE + 10 * 10**8
    market.push_price(price)
    receipt = market.settle(trade_id)
    assert events(market.engine, "VariationMarginSettled", receipt)[0]["vmToBuyer"] == vm_to_buyer(
        new_quantity, PRICE, price
    )


def test_amend_takes_a_seller_payment_and_extra_im_from_the_margin_account(
    market: Market, roles: Roles, buyer: LocalAccount, seller: LocalAccount
) -> None:
    trade_id, _ = market.open(buyer, seller)
    market.deposit(seller, 2_000 * USD)
    amendment = amendment_of(market, trade_id, payment=-700 * USD, sellerIm=IM + 1_000 * USD, buyerIm=0)
    signatures = (market.sign_amendment(buyer, amendment), market.sign_amendment(seller, amendment))
    before = market.books([buyer, seller])

    receipt = market.chain.transact(amend_call(market, amendment, *signatures), buyer)

    assert events(market.engine, "InitialMarginReleased", receipt) == [
        {"tradeId": trade_id, "party": buyer.address, "amount": IM}
    ]
    assert changed(before, market.books([buyer, seller])) == {
        margin(seller): -1_700 * USD,
        margin(buyer): 700 * USD + IM,
        "total_margin": IM - 1_000 * USD,
        "total_im": 1_000 * USD - IM,
    }


def _bad_signatures(
    market: Market, case: str, trade_id: int, other_id: int, message: dict[str, int], kind: str, parties: Any
) -> tuple[dict[str, int], bytes, bytes, str, dict[str, Any]]:
    """A signed message broken as ``case`` says; the message sent, the signatures and the expected error."""
    buyer, seller, outsider = parties
    sign = market.sign_amendment if kind == "amendment" else market.sign_termination

    def both(msg: dict[str, int], **domain: Any) -> tuple[bytes, bytes]:
        d = market.domain(**domain) if domain else None
        return sign(buyer, msg, d), sign(seller, msg, d)

    invalid_buyer = ("DerivativeInvalidSignature", {"tradeId": trade_id, "signer": buyer.address})
    invalid_seller = ("DerivativeInvalidSignature", {"tradeId": trade_id, "signer": seller.address})
    if case == "another-trade":
        return (message, *both(message | {"tradeId": other_id}), *invalid_buyer)
    if case == "another-engine":
        return (message, *both(message, verifying_contract=market.cash.address), *invalid_buyer)
    if case == "another-chain":
        return (message, *both(message, chain_id=market.chain.chain_id + 1), *invalid_buyer)
    if case == "tampered-after-signing":
        b, s = both(message)
        return (message | {"payment": message["payment"] + 1}, b, s, *invalid_buyer)
    if case == "buyer-signed-twice":
        b, _ = both(message)
        return (message, b, b, *invalid_seller)
    if case == "seller-signed-twice":
        _, s = both(message)
        return (message, s, s, *invalid_buyer)
    if case == "swapped":
        b, s = both(message)
        return (message, s, b, *invalid_buyer)
    if case == "outsider-for-the-seller":
        b, _ = both(message)
        return (message, b, sign(outsider, message), *invalid_seller)
    if case == "empty":
        b, _ = both(message)
        return (message, b, b"", *invalid_seller)
    if case == "future-nonce":
        msg = message | {"nonce": message["nonce"] + 1}
        return (msg, *both(msg), "DerivativeInvalidNonce", {"tradeId": trade_id, "expected": 0, "nonce": 1})
    if case == "expired":
        msg = message | {"deadline": market.now() - 1}
        return (msg, *both(msg), "DerivativeSignatureExpired", {"tradeId": trade_id, "deadline": msg["deadline"]})
    raise AssertionError(case)


BAD_SIGNATURES = [
    "another-trade",
    "another-engine",
    "another-chain",
    "tampered-after-signing",
    "buyer-signed-twice",
    "seller-signed-twice",
    "swapped",
    "outsider-for-the-seller",
    "empty",
    "future-nonce",
    "expired",
]


@pytest.mark.parametrize("kind", ["amendment", "termination"])
@pytest.mark.parametrize("case", BAD_SIGNATURES)
def test_amend_and_terminate_reject_anything_but_both_parties_signatures_of_this_message(
    market: Market, roles: Roles, buyer: LocalAccount, seller: LocalAccount, kind: str, case: str
) -> None:
    trade_id, _ = market.open(buyer, seller)
    other_id, _ = market.open(buyer, seller)
    message = (
        amendment_of(market, trade_id, quantity=QUANTITY + 1, payment=5 * USD)
        if kind == "amendment"
        else termination_of(market, trade_id, payment=5 * USD)
    )
    sent, buyer_sig, seller_sig, error, args = _bad_signatures(
        market, case, trade_id, other_id, message, kind, (buyer, seller, roles.outsider)
    )
    call = (
        amend_call(market, sent, buyer_sig, seller_sig)
        if kind == "amendment"
        else terminate_call(market, sent, buyer_sig, seller_sig)
    )
    before = market.books([buyer, seller])
    trade_before = market.trade(trade_id)
    with expect_revert(error, **args):
        market.chain.transact(call, roles.outsider)
    assert market.books([buyer, seller]) == before
    assert market.trade(trade_id) == trade_before


@pytest.mark.parametrize("kind", ["amendment", "termination"])
def test_a_signature_is_valid_up_to_and_including_its_deadline(
    market: Market, roles: Roles, buyer: LocalAccount, seller: LocalAccount, kind: str
) -> None:
    trade_id, _ = market.open(buyer, seller)
    deadline = market.now() + 500
    if kind == "amendment":
        message = amendment_of(market, trade_id, deadline=deadline)
        call = amend_call(
            market, message, market.sign_amendment(buyer, message), market.sign_amendment(seller, message)
        )
    else:
        message = termination_of(market, trade_id, deadline=deadline)
        call = terminate_call(
            market, message, market.sign_termination(buyer, message), market.sign_termination(seller, message)
        )
    market.simulate(call, roles.outsider, deadline)
    with expect_revert("DerivativeSignatureExpired", tradeId=trade_id, deadline=deadline, nowTime=deadline + 1):
        market.simulate(call, roles.outsider, deadline + 1)


def test_a_used_amendment_cannot_be_replayed_nor_an_older_termination_used(
    market: Market, roles: Roles, buyer: LocalAccount, seller: LocalAccount
) -> None:
    trade_id, _ = market.open(buyer, seller)
    termination = termination_of(market, trade_id)
    old_termination = (market.sign_termination(buyer, termination), market.sign_termination(seller, termination))
    amendment = amendment_of(market, trade_id, payment=10 * USD)
    signatures = (market.sign_amendment(buyer, amendment), market.sign_amendment(seller, amendment))
    market.chain.transact(amend_call(market, amendment, *signatures), roles.outsider)
    before = market.books([buyer, seller])

    with expect_revert("DerivativeInvalidNonce", tradeId=trade_id, expected=1, nonce=0):
        market.chain.transact(amend_call(market, amendment, *signatures), roles.outsider)
    with expect_revert("DerivativeInvalidNonce", tradeId=trade_id, expected=1, nonce=0):
        market.chain.transact(terminate_call(market, termination, *old_termination), roles.outsider)
    assert market.books([buyer, seller]) == before

    second = amendment_of(market, trade_id, payment=-10 * USD)
    assert second["nonce"] == 1
    receipt = market.chain.transact(
        amend_call(market, second, market.sign_amendment(buyer, second), market.sign_amendment(seller, second)), seller
    )
    assert events(market.engine, "TradeAmended", receipt)[0]["nonce"] == 1
    assert market.trade(trade_id)["nonce"] == 2


def test_amend_rejects_signed_but_invalid_terms(
    market: Market, roles: Roles, buyer: LocalAccount, seller: LocalAccount
) -> None:
    trade_id, _ = market.open(buyer, seller)
    zero = amendment_of(market, trade_id, quantity=0)
    with expect_revert("DerivativeZeroQuantity"):
        market.chain.transact(
            amend_call(market, zero, market.sign_amendment(buyer, zero), market.sign_amendment(seller, zero)), buyer
        )
    past = amendment_of(market, trade_id, maturity=market.now() - 1)
    with expect_revert("DerivativeMaturityInPast", maturity=past["maturity"]):
        market.chain.transact(
            amend_call(market, past, market.sign_amendment(buyer, past), market.sign_amendment(seller, past)), buyer
        )


@pytest.mark.parametrize("what", ["payment", "extra-im"])
def test_amend_reverts_whole_when_a_party_cannot_pay(
    market: Market, roles: Roles, buyer: LocalAccount, seller: LocalAccount, what: str
) -> None:
    trade_id, _ = market.open(buyer, seller)
    market.revoke(seller)
    changes = {"payment": -400 * USD} if what == "payment" else {"sellerIm": IM + 400 * USD, "buyerIm": IM - 1}
    amendment = amendment_of(market, trade_id, **changes)
    call = amend_call(
        market, amendment, market.sign_amendment(buyer, amendment), market.sign_amendment(seller, amendment)
    )
    before = market.books([buyer, seller])
    with expect_revert("DerivativePaymentFailed", payer=seller.address, amount=400 * USD):
        market.chain.transact(call, buyer)
    assert market.books([buyer, seller]) == before
    assert market.trade(trade_id)["nonce"] == 0


def test_only_a_live_trade_can_be_amended(
    market: Market, roles: Roles, buyer: LocalAccount, seller: LocalAccount
) -> None:
    trade_id, _ = open_margin_call(market, buyer, seller)
    amendment = amendment_of(market, trade_id)
    call = amend_call(
        market, amendment, market.sign_amendment(buyer, amendment), market.sign_amendment(seller, amendment)
    )
    with expect_revert("DerivativeUnexpectedState", tradeId=trade_id, expected=State.LIVE, actual=State.MARGIN_CALL):
        market.chain.transact(call, buyer)
    proposed, _ = market.propose(market.terms(buyer, seller), seller)
    amendment = amendment_of(market, proposed)
    call = amend_call(
        market, amendment, market.sign_amendment(buyer, amendment), market.sign_amendment(seller, amendment)
    )
    with expect_revert("DerivativeUnexpectedState", tradeId=proposed, expected=State.LIVE, actual=State.PROPOSED):
        market.chain.transact(call, buyer)


@pytest.mark.parametrize("payment", [250 * USD, -250 * USD, 0])
def test_terminate_with_both_signatures_pays_the_agreed_amount_and_releases_both_ims(
    market: Market, roles: Roles, buyer: LocalAccount, seller: LocalAccount, payment: int
) -> None:
    trade_id, _ = market.open(buyer, seller, seller_im=IM + 1)
    market.deposit(buyer, 1_000 * USD)
    market.deposit(seller, 1_000 * USD)
    termination = termination_of(market, trade_id, payment=payment)
    signatures = (market.sign_termination(buyer, termination), market.sign_termination(seller, termination))
    before = market.books([buyer, seller])

    receipt = market.chain.transact(terminate_call(market, termination, *signatures), roles.outsider)

    assert events(market.engine, "TradeTerminated", receipt) == [{"tradeId": trade_id, "nonce": 0, "payment": payment}]
    assert events(market.engine, "InitialMarginReleased", receipt) == [
        {"tradeId": trade_id, "party": buyer.address, "amount": IM},
        {"tradeId": trade_id, "party": seller.address, "amount": IM + 1},
    ]
    assert changed(before, market.books([buyer, seller])) == {
        margin(buyer): IM - payment,
        margin(seller): IM + 1 + payment,
        "total_im": -(2 * IM + 1),
        "total_margin": 2 * IM + 1,
    }
    trade = market.trade(trade_id)
    assert (trade["state"], trade["nonce"], trade["buyerIm"], trade["sellerIm"]) == (State.TERMINATED, 1, 0, 0)

    market.push_price(PRICE + 10**8)
    with expect_revert("DerivativeUnexpectedState", tradeId=trade_id, expected=State.LIVE, actual=State.TERMINATED):
        market.settle(trade_id)
    with expect_revert("DerivativeUnexpectedState", tradeId=trade_id, expected=State.LIVE, actual=State.TERMINATED):
        market.chain.transact(terminate_call(market, termination, *signatures), roles.outsider)


def test_terminate_replaces_the_debt_of_an_open_margin_call_with_the_agreed_payment(
    market: Market, roles: Roles, buyer: LocalAccount, seller: LocalAccount
) -> None:
    trade_id, _ = open_margin_call(market, buyer, seller)
    market.deposit(seller, 100 * USD)
    termination = termination_of(market, trade_id, payment=-100 * USD)
    signatures = (market.sign_termination(buyer, termination), market.sign_termination(seller, termination))
    before = market.books([buyer, seller])

    market.chain.transact(terminate_call(market, termination, *signatures), buyer)

    assert changed(before, market.books([buyer, seller])) == {
        margin(buyer): IM + 100 * USD,
        margin(seller): IM - 100 * USD,
        "total_im": -2 * IM,
        "total_margin": 2 * IM,
    }
    trade = market.trade(trade_id)
    assert (trade["state"], trade["debtor"], trade["debt"]) == (State.TERMINATED, Side.NONE, 0)


def test_terminate_reverts_whole_when_the_payer_cannot_pay(
    market: Market, roles: Roles, buyer: LocalAccount, seller: LocalAccount
) -> None:
    trade_id, _ = market.open(buyer, seller)
    market.revoke(buyer)
    termination = termination_of(market, trade_id, payment=1)
    signatures = (market.sign_termination(buyer, termination), market.sign_termination(seller, termination))
    with expect_revert("DerivativePaymentFailed", payer=buyer.address, amount=1):
        market.chain.transact(terminate_call(market, termination, *signatures), buyer)
    assert market.state(trade_id) == State.LIVE


# ====================================================================== maturity


def open_to_maturity(
    market: Market, buyer: LocalAccount, seller: LocalAccount, **changes: Any
) -> tuple[int, int, list[int]]:
    """A trade maturing in 1,000 s, settled once before; then two rounds at/after maturity.

    Returns the trade id, its maturity and the round ids ``[before, first_after, second_after]``
    at prices :data:`MATURITY_PATH`.
    """
    trade_id, terms = market.open(buyer, seller, maturity=market.now() + 1_000, **changes)
    before = market.push_price(MATURITY_PATH[0])
    market.settle(trade_id)
    market.advance(1_100)
    assert market.now() >= terms.maturity
    first = market.push_price(MATURITY_PATH[1])
    second = market.push_price(MATURITY_PATH[2])
    return trade_id, terms.maturity, [before, first, second]


#: Prices of the rounds of :func:`open_to_maturity`.
MATURITY_PATH = [PRICE + 40 * 10**8, PRICE - 60 * 10**8, PRICE + 500 * 10**8]


def test_mature_with_the_first_round_at_maturity_pays_the_final_vm_and_returns_both_ims(
    market: Market, roles: Roles, buyer: LocalAccount, seller: LocalAccount, third: LocalAccount
) -> None:
    market.deposit(buyer, 10_000 * USD)
    trade_id, maturity, rounds = open_to_maturity(market, buyer, seller)
    with expect_revert("DerivativeMaturityReached", tradeId=trade_id, maturity=maturity):
        market.settle(trade_id)
    for wrong in (rounds[2], rounds[0], 0, rounds[2] + 1):
        with expect_revert("DerivativeNotMaturityRound", tradeId=trade_id, roundId=wrong):
            market.chain.transact(market.engine.functions.mature(trade_id, wrong), roles.outsider)
    before = market.books([buyer, seller, third])

    receipt = market.chain.transact(market.engine.functions.mature(trade_id, rounds[1]), roles.outsider)

    vm = vm_to_buyer(QUANTITY, MATURITY_PATH[0], MATURITY_PATH[1])
    assert vm == -1_000 * USD
    assert events(market.engine, "TradeMatured", receipt) == [
        {
            "tradeId": trade_id,
            "roundId": rounds[1],
            "price": MATURITY_PATH[1],
            "vmToBuyer": vm,
            "paidFromFund": 0,
            "unpaidClaim": 0,
        }
    ]
    assert events(market.engine, "InitialMarginReleased", receipt) == [
        {"tradeId": trade_id, "party": buyer.address, "amount": IM},
        {"tradeId": trade_id, "party": seller.address, "amount": IM},
    ]
    assert changed(before, market.books([buyer, seller, third])) == {
        margin(buyer): IM + vm,
        margin(seller): IM - vm,
        "total_im": -2 * IM,
        "total_margin": 2 * IM,
    }
    trade = market.trade(trade_id)
    assert (trade["state"], trade["lastRound"], trade["lastPrice"], trade["buyerIm"], trade["sellerIm"]) == (
        State.MATURED,
        rounds[1],
        MATURITY_PATH[1],
        0,
        0,
    )
    for call in (market.engine.functions.mature(trade_id, rounds[1]), market.engine.functions.settle(trade_id)):
        with expect_revert("DerivativeUnexpectedState", tradeId=trade_id, expected=State.LIVE, actual=State.MATURED):
            market.chain.transact(call, roles.outsider)


def test_a_round_updated_exactly_at_maturity_is_the_maturity_round(
    market: Market, roles: Roles, buyer: LocalAccount, seller: LocalAccount
) -> None:
    trade_id, terms = market.open(buyer, seller, maturity=market.now() + 1_000)
    early = market.push_price(PRICE + 1, terms.maturity - 1)
    market.advance(1_100)
    at = market.push_price(PRICE + 10**8, terms.maturity)
    with expect_revert("DerivativeNotMaturityRound", tradeId=trade_id, roundId=early):
        market.chain.transact(market.engine.functions.mature(trade_id, early), roles.outsider)
    receipt = market.chain.transact(market.engine.functions.mature(trade_id, at), roles.outsider)
    # The unsettled round before maturity is skipped: the final VM runs from the contract price.
    assert events(market.engine, "TradeMatured", receipt)[0]["vmToBuyer"] == vm_to_buyer(QUANTITY, PRICE, PRICE + 10**8)


def test_mature_refuses_an_unusable_maturity_price(
    market: Market, roles: Roles, buyer: LocalAccount, seller: LocalAccount
) -> None:
    trade_id, _terms = market.open(buyer, seller, maturity=market.now() + 1_000)
    market.advance(1_100)
    bad = market.push_price(0)
    with expect_revert("DerivativeInvalidPrice", roundId=bad, answer=0):
        market.chain.transact(market.engine.functions.mature(trade_id, bad), roles.outsider)


def test_mature_during_a_margin_call_pays_the_debt_and_final_vm_from_the_im_and_records_the_rest(
    market: Market, roles: Roles, buyer: LocalAccount, seller: LocalAccount
) -> None:
    buyer_im = 4_000 * USD
    trade_id, _terms = market.open(buyer, seller, maturity=market.now() + 1_000, buyer_im=buyer_im)
    market.revoke(buyer)
    market.push_price(CALL_PRICE)
    market.settle(trade_id)
    market.advance(1_100)
    final_price = CALL_PRICE - 150 * 10**8
    final = market.push_price(final_price)
    owed = value(QUANTITY, PRICE) - value(QUANTITY, final_price)
    assert owed == 4_500 * USD > buyer_im
    before = market.books([buyer, seller])

    receipt = market.chain.transact(market.engine.functions.mature(trade_id, final), roles.outsider)

    assert events(market.engine, "TradeMatured", receipt) == [
        {
            "tradeId": trade_id,
            "roundId": final,
            "price": final_price,
            "vmToBuyer": vm_to_buyer(QUANTITY, CALL_PRICE, final_price),
            "paidFromFund": 0,
            "unpaidClaim": owed - buyer_im,
        }
    ]
    assert events(market.engine, "InitialMarginReleased", receipt) == [
        {"tradeId": trade_id, "party": seller.address, "amount": IM}
    ]
    assert changed(before, market.books([buyer, seller])) == {
        margin(seller): buyer_im + IM,
        "total_im": -(buyer_im + IM),
        "total_margin": buyer_im + IM,
    }
    assert market.engine.functions.unpaidClaimOf(trade_id).call() == owed - buyer_im
    trade = market.trade(trade_id)
    assert (trade["state"], trade["debtor"], trade["debt"]) == (State.MATURED, Side.BUYER, owed - buyer_im)


def test_mature_during_a_margin_call_returns_what_the_im_does_not_need(
    market: Market, roles: Roles, buyer: LocalAccount, seller: LocalAccount
) -> None:
    trade_id, _terms = market.open(buyer, seller, maturity=market.now() + 1_000)
    market.revoke(buyer)
    market.push_price(CALL_PRICE)
    market.settle(trade_id)
    market.advance(1_100)
    final_price = CALL_PRICE + 100 * 10**8
    final = market.push_price(final_price)
    owed = value(QUANTITY, PRICE) - value(QUANTITY, final_price)
    assert owed == 2_000 * USD
    before = market.books([buyer, seller])

    receipt = market.chain.transact(market.engine.functions.mature(trade_id, final), roles.outsider)

    assert events(market.engine, "TradeMatured", receipt)[0]["unpaidClaim"] == 0
    assert events(market.engine, "InitialMarginReleased", receipt) == [
        {"tradeId": trade_id, "party": buyer.address, "amount": IM - owed},
        {"tradeId": trade_id, "party": seller.address, "amount": IM},
    ]
    assert changed(before, market.books([buyer, seller])) == {
        margin(buyer): IM - owed,
        margin(seller): IM + owed,
        "total_im": -2 * IM,
        "total_margin": 2 * IM,
    }
    trade = market.trade(trade_id)
    assert (trade["state"], trade["debtor"], trade["debt"]) == (State.MATURED, Side.NONE, 0)
    assert market.engine.functions.unpaidClaimOf(trade_id).call() == 0


def test_mature_takes_the_final_payment_from_margin_account_and_im_together(
    market: Market, roles: Roles, buyer: LocalAccount, seller: LocalAccount
) -> None:
    trade_id, _ = market.open(buyer, seller, maturity=market.now() + 1_000)
    market.deposit(buyer, 2_000 * USD)
    market.revoke(buyer)
    market.advance(1_100)
    final_price = PRICE - 600 * 10**8
    final = market.push_price(final_price)
    owed = value(QUANTITY, PRICE) - value(QUANTITY, final_price)
    assert owed == 6_000 * USD < 2_000 * USD + IM
    before = market.books([buyer, seller])

    receipt = market.chain.transact(market.engine.functions.mature(trade_id, final), roles.outsider)

    assert events(market.engine, "TradeMatured", receipt)[0]["unpaidClaim"] == 0
    # The IM (5,000) pays first, the margin account the remaining 1,000.
    assert events(market.engine, "InitialMarginReleased", receipt) == [
        {"tradeId": trade_id, "party": seller.address, "amount": IM}
    ]
    assert changed(before, market.books([buyer, seller])) == {
        margin(seller): owed + IM,
        margin(buyer): IM - owed,
        "total_im": -2 * IM,
        "total_margin": 2 * IM,
    }


# ====================================================================== margin accounts


def test_deposit_and_withdraw_move_cash_between_the_wallet_and_the_margin_account(
    market: Market, buyer: LocalAccount, seller: LocalAccount
) -> None:
    before = market.books([buyer, seller])
    receipt = market.deposit(buyer, 1_234 * USD)
    assert events(market.engine, "MarginDeposited", receipt) == [{"party": buyer.address, "amount": 1_234 * USD}]
    receipt = market.withdraw(buyer, 234 * USD)
    assert events(market.engine, "MarginWithdrawn", receipt) == [{"party": buyer.address, "amount": 234 * USD}]
    assert changed(before, market.books([buyer, seller])) == {
        wallet(buyer): -1_000 * USD,
        margin(buyer): 1_000 * USD,
        "engine_cash": 1_000 * USD,
        "total_margin": 1_000 * USD,
    }
    market.withdraw(buyer, 1_000 * USD)
    assert market.books([buyer, seller]) == before


def test_margin_accounts_reject_zero_amounts_and_overdrafts(
    market: Market, roles: Roles, buyer: LocalAccount, seller: LocalAccount
) -> None:
    with expect_revert("DerivativeZeroAmount"):
        market.deposit(buyer, 0)
    with expect_revert("DerivativeZeroAmount"):
        market.withdraw(buyer, 0)
    with expect_revert("DerivativeInsufficientMargin", party=buyer.address, available=0, amount=1):
        market.withdraw(buyer, 1)
    market.deposit(buyer, 500 * USD)
    with expect_revert("DerivativeInsufficientMargin", party=buyer.address, available=500 * USD, amount=500 * USD + 1):
        market.withdraw(buyer, 500 * USD + 1)
    with expect_revert("DerivativeInsufficientMargin", party=seller.address, available=0, amount=1):
        market.withdraw(seller, 1)


def test_a_deposit_needs_the_cash_and_the_allowance(market: Market, buyer: LocalAccount) -> None:
    with expect_revert("ERC20InsufficientBalance", sender=buyer.address, balance=FUNDS, needed=FUNDS + 1):
        market.deposit(buyer, FUNDS + 1)
    market.revoke(buyer)
    with expect_revert("ERC20InsufficientAllowance", spender=market.engine.address, allowance=0, needed=1):
        market.deposit(buyer, 1)
