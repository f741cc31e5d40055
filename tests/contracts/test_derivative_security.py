"""DerivativeEngine security: who can move what, and what an attacker cannot do.

- A settlement anyone triggers moves exactly the oracle-determined amount, between the two parties.
- Initial margin cannot leave the engine while the trade lives: not by the parties, an outsider or
  the admin, whose only power is the engine's two settings (the whole state-changing ABI is pinned).
- A token that calls back into the engine while it moves cash gets ``ReentrancyGuardReentrantCall``
  and cannot make anything pay twice.
- Signatures are bound to one trade, one engine and one nonce.
- ``setConfig`` is for ``DEFAULT_ADMIN_ROLE`` only.
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3.contract import Contract

from dfmi_py.chain import Chain
from tests.contracts.conftest import (
    CURE_PERIOD,
    IM,
    MAX_PRICE_AGE,
    NO_FUND,
    PRICE,
    QUANTITY,
    USD,
    Market,
    State,
    amendment_tuple,
    engine_args,
    termination_tuple,
    value,
    vm_to_buyer,
)
from tests.helpers import MAX_UINT256, Roles, events, expect_revert

DEFAULT_ADMIN_ROLE = b"\x00" * 32
REENTRANT_CALL = keccak(b"ReentrancyGuardReentrantCall()")[:4]

#: Every function of the engine that can change state. Anything new here must be reviewed for
#: who may call it and what cash it can move.
STATE_CHANGING = {
    "propose",
    "confirm",
    "cancel",
    "depositMargin",
    "withdrawMargin",
    "settle",
    "settleMany",
    "settleInBatch",
    "retryFundClaim",
    "cure",
    "declareDefault",
    "mature",
    "amend",
    "terminate",
    "setConfig",
    "grantRole",
    "revokeRole",
    "renounceRole",
}


# ====================================================================== settlement by anyone


def test_a_settlement_triggered_by_an_outsider_moves_exactly_the_oracle_determined_amount(
    market: Market, roles: Roles, buyer: LocalAccount, seller: LocalAccount, third: LocalAccount
) -> None:
    quantities = [QUANTITY, 7 * 10**17 + 3, 123_456_789_012_345_678_901]
    sides = [(buyer, seller), (seller, third), (third, buyer)]
    trade_ids = [market.open(b, s, quantity=q)[0] for (b, s), q in zip(sides, quantities, strict=True)]
    for party in (buyer, seller, third):
        market.deposit(party, 100_000 * USD)
    accounts = [buyer, seller, third, roles.outsider, roles.admin]
    start = market.books(accounts)
    last = PRICE
    for price in (PRICE - 12_34567891, PRICE + 333_33333333, PRICE + 333_33333334):
        market.push_price(price)
        before = market.books(accounts)
        for trade_id, quantity in zip(trade_ids, quantities, strict=True):
            receipt = market.settle(trade_id, roles.outsider)
            vm = vm_to_buyer(quantity, last, price)
            assert [e["vmToBuyer"] for e in events(market.engine, "VariationMarginSettled", receipt)] == [vm]
        after = market.books(accounts)
        assert {k: v for k, v in after.items() if not k.startswith("margin:")} == {
            k: v for k, v in before.items() if not k.startswith("margin:")
        }, "nothing but margin accounts moves when margin accounts cover the losses"
        last = price
    # Over all rounds each party gained exactly the change in value of its positions.
    expected = {a.address: 0 for a in accounts}
    for (b, s), quantity in zip(sides, quantities, strict=True):
        change = value(quantity, last) - value(quantity, PRICE)
        expected[b.address] += change
        expected[s.address] -= change
    end = market.books(accounts)
    assert {a.address: end[f"margin:{a.address}"] - start[f"margin:{a.address}"] for a in accounts} == expected


def test_no_state_changing_function_takes_an_amount_or_price_from_the_caller_for_settlement(market: Market) -> None:
    inputs = {
        fn["name"]: [i["type"] for i in fn["inputs"]]
        for fn in market.engine.abi
        if fn["type"] == "function"
        and fn["name"]
        in {"settle", "settleMany", "settleInBatch", "cure", "declareDefault", "mature", "retryFundClaim"}
    }
    assert inputs == {
        "settle": ["uint256"],
        "settleMany": ["uint256[]"],
        "settleInBatch": ["uint256"],
        "cure": ["uint256"],
        "declareDefault": ["uint256"],
        "mature": ["uint256", "uint80"],
        "retryFundClaim": ["uint256"],
    }


# ====================================================================== initial margin stays


def test_the_engine_has_no_function_beyond_the_lifecycle_and_its_settings(market: Market) -> None:
    changing = {
        fn["name"]
        for fn in market.engine.abi
        if fn["type"] == "function" and fn["stateMutability"] not in ("view", "pure")
    }
    assert changing == STATE_CHANGING
    payable = [fn["name"] for fn in market.engine.abi if fn.get("stateMutability") == "payable"]
    assert payable == []
    assert not [fn for fn in market.engine.abi if fn["type"] in ("fallback", "receive")]


def test_nobody_can_take_initial_margin_out_while_the_trade_lives(
    market: Market, roles: Roles, buyer: LocalAccount, seller: LocalAccount, third: LocalAccount
) -> None:
    trade_id, _ = market.open(buyer, seller)
    market.deposit(buyer, 100 * USD)
    everyone = [buyer, seller, third, roles.admin, roles.outsider, roles.officer]
    before = market.books(everyone)
    for caller in everyone:
        available = 100 * USD if caller == buyer else 0
        for amount in (available + 1, available + IM):
            with expect_revert(
                "DerivativeInsufficientMargin", party=caller.address, available=available, amount=amount
            ):
                market.withdraw(caller, amount)
    # Still none in a margin call: the debt is not the creditor's to take from the IM either.
    market.revoke(buyer)
    market.push_price(PRICE - 500 * 10**8)
    market.settle(trade_id)
    assert market.state(trade_id) == State.MARGIN_CALL
    for caller in everyone:
        available = 100 * USD if caller == buyer else 0
        with expect_revert("DerivativeInsufficientMargin", party=caller.address, available=available, amount=IM):
            market.withdraw(caller, IM)
    assert market.books(everyone) == before
    assert market.engine.functions.totalInitialMargin().call() == 2 * IM


def test_the_admin_role_moves_no_cash_and_cannot_shorten_a_running_cure_period(
    market: Market, roles: Roles, buyer: LocalAccount, seller: LocalAccount
) -> None:
    trade_id, _ = market.open(buyer, seller)
    market.revoke(buyer)
    market.push_price(PRICE - 100 * 10**8)
    receipt = market.settle(trade_id)
    deadline = market.block_time(receipt) + CURE_PERIOD
    before = market.books([buyer, seller, roles.admin])

    market.chain.transact(market.engine.functions.setConfig(1, 1), roles.admin)

    assert market.trade(trade_id)["cureDeadline"] == deadline
    with expect_revert("DerivativeCurePeriodRunning", tradeId=trade_id, cureDeadline=deadline):
        market.chain.transact(market.engine.functions.declareDefault(trade_id), roles.admin)
    assert market.books([buyer, seller, roles.admin]) == before


# ====================================================================== reentrancy


class Rogue:
    """An engine on :class:`ReentrantCash`, with the buyer and seller funded and the engine approved."""

    def __init__(self, market: Market, token: Contract) -> None:
        self.market = market
        self.token = token
        self.engine = market.engine

    def arm(self, call: Any, bubble: bool) -> None:
        """On its next movement, the token calls ``call`` on the engine (as itself)."""
        data = call._encode_transaction_data()
        self.market.chain.transact(self.token.functions.arm(self.engine.address, data, bubble), self.market.roles.admin)


@pytest.fixture
def rogue(
    chain: Chain, roles: Roles, registry: Contract, aggregator: Contract, buyer: LocalAccount, seller: LocalAccount
) -> Rogue:
    token, _ = chain.deploy("ReentrantCash", [], roles.admin)
    engine, _ = chain.deploy(
        "DerivativeEngine",
        [registry.address, token.address, aggregator.address, roles.admin.address, CURE_PERIOD, MAX_PRICE_AGE, NO_FUND],
        roles.admin,
    )
    chain.transact(registry.functions.onboard(engine.address), roles.officer)
    for party in (buyer, seller):
        chain.transact(token.functions.mint(party.address, 1_000_000 * USD), roles.admin)
        chain.transact(token.functions.approve(engine.address, MAX_UINT256), party)
    return Rogue(Market(chain, engine, aggregator, token, roles), token)


def _reentry(rogue: Rogue, name: str, trade_id: int) -> Any:
    functions = rogue.engine.functions
    return {
        "settle": functions.settle(trade_id),
        "settleMany": functions.settleMany([trade_id, trade_id]),
        "cure": functions.cure(trade_id),
        "declareDefault": functions.declareDefault(trade_id),
        "withdrawMargin": functions.withdrawMargin(1),
        "depositMargin": functions.depositMargin(1),
    }[name]


REENTRIES = ["settle", "settleMany", "cure", "declareDefault", "withdrawMargin", "depositMargin"]


@pytest.mark.parametrize("reentry", REENTRIES)
def test_a_token_calling_back_while_settlement_pulls_cash_is_refused_and_the_pull_counts_as_unpaid(
    rogue: Rogue, roles: Roles, buyer: LocalAccount, seller: LocalAccount, reentry: str
) -> None:
    """The callback hits the guard; the token then refuses the pull, which the engine reads as a
    payer that cannot pay (a margin call): nothing is paid, nothing twice."""
    market = rogue.market
    trade_id, _ = market.open(buyer, seller)
    market.push_price(PRICE - 100 * 10**8)  # the buyer pays from its wallet: the token moves
    rogue.arm(_reentry(rogue, reentry, trade_id), bubble=True)
    before = market.books([buyer, seller, rogue.token.address])
    receipt = market.settle(trade_id)
    assert events(rogue.token, "CallbackAttempted", receipt) == []  # reverted with the refused pull
    loss = -vm_to_buyer(QUANTITY, PRICE, PRICE - 100 * 10**8)
    [called] = events(market.engine, "MarginCalled", receipt)
    assert (called["debtor"], called["amount"]) == (buyer.address, loss)
    assert market.books([buyer, seller, rogue.token.address]) == before
    assert market.state(trade_id) == State.MARGIN_CALL


@pytest.mark.parametrize("reentry", REENTRIES)
def test_a_swallowed_callback_changes_nothing_and_the_settlement_pays_once(
    rogue: Rogue, roles: Roles, buyer: LocalAccount, seller: LocalAccount, reentry: str
) -> None:
    market = rogue.market
    trade_id, _ = market.open(buyer, seller)
    price = PRICE - 100 * 10**8
    market.push_price(price)
    rogue.arm(_reentry(rogue, reentry, trade_id), bubble=False)
    before = market.books([buyer, seller, rogue.token.address])

    receipt = market.settle(trade_id)

    loss = -vm_to_buyer(QUANTITY, PRICE, price)
    assert [e["paid"] for e in events(market.engine, "VariationMarginSettled", receipt)] == [loss]
    assert events(rogue.token, "CallbackAttempted", receipt) == [
        {"target": market.engine.address, "success": False, "returnData": REENTRANT_CALL}
    ]
    after = market.books([buyer, seller, rogue.token.address])
    assert {k: after[k] - before[k] for k in before if after[k] != before[k]} == {
        f"wallet:{buyer.address}": -loss,
        f"margin:{seller.address}": loss,
        "engine_cash": loss,
        "total_margin": loss,
    }


@pytest.mark.parametrize("bubble", [True, False])
def test_a_token_cannot_withdraw_its_margin_twice_by_calling_back(rogue: Rogue, roles: Roles, bubble: bool) -> None:
    market = rogue.market
    token = rogue.token
    amount = 1_000 * USD
    chain = market.chain
    chain.transact(token.functions.mint(token.address, amount), roles.admin)
    chain.transact(
        token.functions.execute(token.address, token.encode_abi("approve", args=[rogue.engine.address, MAX_UINT256])),
        roles.admin,
    )
    chain.transact(
        token.functions.execute(rogue.engine.address, rogue.engine.encode_abi("depositMargin", [amount])), roles.admin
    )
    assert market.margin(token.address) == amount
    withdraw = rogue.engine.functions.withdrawMargin(amount)
    rogue.arm(withdraw, bubble=bubble)
    call = token.functions.execute(rogue.engine.address, rogue.engine.encode_abi("withdrawMargin", [amount]))

    if bubble:
        with expect_revert("ReentrancyGuardReentrantCall"):
            chain.transact(call, roles.admin)
        assert market.margin(token.address) == amount
        assert market.balance(rogue.engine.address) == amount
    else:
        chain.transact(call, roles.admin)
        assert market.margin(token.address) == 0
        assert market.balance(token.address) == amount
        assert market.balance(rogue.engine.address) == 0
        assert token.functions.lastCallbackData().call() == REENTRANT_CALL
    assert market.engine.functions.totalMargin().call() == market.margin(token.address)


def test_a_token_calling_back_while_confirm_pulls_the_im_reverts_the_confirmation(
    rogue: Rogue, roles: Roles, buyer: LocalAccount, seller: LocalAccount
) -> None:
    market = rogue.market
    terms = market.terms(buyer, seller)
    trade_id, _ = market.propose(terms, buyer)
    rogue.arm(rogue.engine.functions.cancel(trade_id), bubble=True)
    with expect_revert("ReentrancyGuardReentrantCall"):
        market.confirm(trade_id, terms, seller)
    assert market.state(trade_id) == State.PROPOSED
    assert market.balance(rogue.engine.address) == 0


# ====================================================================== signatures


def test_an_amendment_binds_one_trade_one_engine_and_one_nonce(
    market: Market,
    chain: Chain,
    roles: Roles,
    registry: Contract,
    cash: Contract,
    aggregator: Contract,
    buyer: LocalAccount,
    seller: LocalAccount,
) -> None:
    twin, _ = chain.deploy(
        "DerivativeEngine",
        [*engine_args(registry, cash, aggregator, roles), NO_FUND],
        roles.admin,
    )
    chain.transact(registry.functions.onboard(twin.address), roles.officer)
    for party in (buyer, seller):
        chain.transact(cash.functions.approve(twin.address, MAX_UINT256), party)
    twin_market = Market(chain, twin, aggregator, cash, roles)
    terms = market.terms(buyer, seller)
    for m in (market, twin_market):  # the same trade id 1, same terms, on two engines
        trade_id, _ = m.propose(terms, buyer)
        m.confirm(trade_id, terms, seller)
        assert trade_id == 1
    sibling, _ = market.open(buyer, seller)
    # A termination the parties signed for the twin engine is no good on this one.
    termination = {"tradeId": 1, "payment": 0, "nonce": 0, "deadline": market.now() + 3_600}
    for_twin = (twin_market.sign_termination(buyer, termination), twin_market.sign_termination(seller, termination))
    with expect_revert("DerivativeInvalidSignature", tradeId=1, signer=buyer.address):
        chain.transact(market.engine.functions.terminate(termination_tuple(termination), *for_twin), roles.outsider)

    amendment = {
        "tradeId": 1,
        "quantity": 2 * QUANTITY,
        "maturity": terms.maturity,
        "buyerIm": IM,
        "sellerIm": IM,
        "payment": 1_000 * USD,
        "nonce": 0,
        "deadline": market.now() + 3_600,
    }
    signatures = (market.sign_amendment(buyer, amendment), market.sign_amendment(seller, amendment))
    market.chain.transact(market.engine.functions.amend(amendment_tuple(amendment), *signatures), roles.outsider)
    before = market.books([buyer, seller])

    with expect_revert("DerivativeInvalidNonce", tradeId=1, expected=1, nonce=0):
        chain.transact(market.engine.functions.amend(amendment_tuple(amendment), *signatures), roles.outsider)
    on_sibling = amendment | {"tradeId": sibling}
    with expect_revert("DerivativeInvalidSignature", tradeId=sibling, signer=buyer.address):
        chain.transact(market.engine.functions.amend(amendment_tuple(on_sibling), *signatures), roles.outsider)
    with expect_revert("DerivativeInvalidSignature", tradeId=1, signer=buyer.address):
        chain.transact(twin.functions.amend(amendment_tuple(amendment), *signatures), roles.outsider)

    assert market.books([buyer, seller]) == before
    assert twin_market.trade(1)["quantity"] == QUANTITY
    assert market.trade(sibling)["quantity"] == QUANTITY
    chain.transact(twin.functions.terminate(termination_tuple(termination), *for_twin), roles.outsider)
    assert twin_market.state(1) == State.TERMINATED


# ====================================================================== setConfig


CONFIG_CALLERS = ("officer", "regulator", "master_minter", "minter", "burner", "pauser", "outsider", "member")


@pytest.mark.parametrize("caller", CONFIG_CALLERS)
def test_set_config_is_only_for_the_default_admin(market: Market, roles: Roles, caller: str) -> None:
    account = roles.named(caller)
    with expect_revert("AccessControlUnauthorizedAccount", account=account.address, neededRole=DEFAULT_ADMIN_ROLE):
        market.chain.transact(market.engine.functions.setConfig(60, 60), account)
    assert market.engine.functions.curePeriod().call() == CURE_PERIOD
    assert market.engine.functions.maxPriceAge().call() == MAX_PRICE_AGE


def test_the_default_admin_sets_the_config_and_can_hand_the_role_over(
    market: Market, roles: Roles, buyer: LocalAccount
) -> None:
    receipt = market.chain.transact(market.engine.functions.setConfig(7_200, 120), roles.admin)
    assert events(market.engine, "ConfigUpdated", receipt) == [{"curePeriod": 7_200, "maxPriceAge": 120}]
    assert (market.engine.functions.curePeriod().call(), market.engine.functions.maxPriceAge().call()) == (7_200, 120)

    market.chain.transact(market.engine.functions.grantRole(DEFAULT_ADMIN_ROLE, buyer.address), roles.admin)
    market.chain.transact(market.engine.functions.renounceRole(DEFAULT_ADMIN_ROLE, roles.admin.address), roles.admin)
    with expect_revert("AccessControlUnauthorizedAccount", account=roles.admin.address, neededRole=DEFAULT_ADMIN_ROLE):
        market.chain.transact(market.engine.functions.setConfig(60, 60), roles.admin)
    market.chain.transact(market.engine.functions.setConfig(60, 60), buyer)
    assert market.engine.functions.curePeriod().call() == 60


@pytest.mark.parametrize(("cure_period", "max_price_age"), [(0, 60), (60, 0), (0, 0)])
def test_a_zero_setting_is_rejected(
    market: Market,
    chain: Chain,
    roles: Roles,
    registry: Contract,
    cash: Contract,
    aggregator: Contract,
    cure_period: int,
    max_price_age: int,
) -> None:
    with expect_revert("DerivativeInvalidConfig", curePeriod=cure_period, maxPriceAge=max_price_age):
        market.chain.transact(market.engine.functions.setConfig(cure_period, max_price_age), roles.admin)
    with expect_revert("DerivativeInvalidConfig", curePeriod=cure_period, maxPriceAge=max_price_age):
        chain.deploy(
            "DerivativeEngine",
            [*engine_args(registry, cash, aggregator, roles)[:4], cure_period, max_price_age, NO_FUND],
            roles.admin,
        )


# ====================================================================== compliance while cash moves


def test_a_frozen_party_still_pays_from_and_is_paid_into_its_margin_account(
    market: Market, chain: Chain, registry: Contract, roles: Roles, buyer: LocalAccount, seller: LocalAccount
) -> None:
    trade_id, _ = market.open(buyer, seller)
    market.deposit(buyer, 10_000 * USD)
    for party in (buyer, seller):
        chain.transact(registry.functions.freeze(party.address), roles.officer)
    for price in (PRICE - 100 * 10**8, PRICE - 50 * 10**8):  # the buyer pays 1,000, then receives 500
        market.push_price(price)
        market.settle(trade_id)
    expected = vm_to_buyer(QUANTITY, PRICE, PRICE - 50 * 10**8)
    assert market.margin(buyer) == 10_000 * USD + expected
    assert market.margin(seller) == -expected
    with expect_revert("ComplianceAccountNotActive", account=seller.address):
        market.withdraw(seller, 1)


def test_a_frozen_loser_who_must_pay_from_its_wallet_cannot_pay_and_gets_a_margin_call(
    market: Market, chain: Chain, registry: Contract, roles: Roles, buyer: LocalAccount, seller: LocalAccount
) -> None:
    """A freeze is the payer's condition, like an empty wallet: the settlement goes through as a
    margin call (its counterparty stays protected) and the other trades of a batch settle."""
    third = roles.members[2]
    trade_id, _ = market.open(buyer, seller)
    other_id, _ = market.open(seller, third)
    chain.transact(registry.functions.freeze(buyer.address), roles.officer)
    round_id = market.push_price(PRICE - 100 * 10**8)
    before = market.books([buyer, seller, third])

    receipt = market.chain.transact(market.engine.functions.settleMany([trade_id, other_id]), roles.outsider)

    assert events(market.engine, "SettlementSkipped", receipt) == []
    loss = -vm_to_buyer(QUANTITY, PRICE, PRICE - 100 * 10**8)
    [called] = events(market.engine, "MarginCalled", receipt)
    assert (called["tradeId"], called["debtor"], called["amount"]) == (trade_id, buyer.address, loss)
    assert market.state(trade_id) == State.MARGIN_CALL
    assert market.trade(trade_id)["lastRound"] == market.trade(other_id)["lastRound"] == round_id
    # Only the other trade moved cash: its long (the seller here) paid its loss from its wallet.
    after = market.books([buyer, seller, third])
    assert {k: after[k] - before[k] for k in after if after[k] != before[k]} == {
        f"wallet:{seller.address}": -loss,
        f"margin:{third.address}": loss,
        "engine_cash": loss,
        "total_margin": loss,
    }
    # Unfrozen within the cure period, the buyer cures from its wallet.
    chain.transact(registry.functions.unfreeze(buyer.address), roles.officer)
    market.chain.transact(market.engine.functions.cure(trade_id), buyer)
    assert market.state(trade_id) == State.LIVE
    assert market.margin(seller) == loss


def test_a_paused_token_skips_the_settlements_that_need_a_pull_and_decides_nothing(
    market: Market, chain: Chain, roles: Roles, buyer: LocalAccount, seller: LocalAccount
) -> None:
    """A pause stops every payer: a settlement that must pull from a wallet reverts (in a batch,
    that trade alone is skipped) instead of reading the payer as unable to pay."""
    third = roles.members[2]
    trade_id, _ = market.open(buyer, seller)
    other_id, _ = market.open(seller, third)
    market.deposit(seller, 10_000 * USD)  # the other trade's loser pays from its margin account
    round_id = market.push_price(PRICE - 100 * 10**8)
    chain.transact(market.cash.functions.pause(), roles.pauser)
    paused_trade = market.trade(trade_id)
    with expect_revert("DerivativeCashPaused"):
        market.settle(trade_id)

    receipt = market.chain.transact(market.engine.functions.settleMany([trade_id, other_id]), roles.outsider)

    [skipped] = events(market.engine, "SettlementSkipped", receipt)
    assert skipped["tradeId"] == trade_id
    assert market.chain.decode_error_data("0x" + skipped["reason"].hex()) == ("DerivativeCashPaused", {})
    assert market.trade(trade_id) == paused_trade
    assert market.trade(other_id)["lastRound"] == round_id
    chain.transact(market.cash.functions.unpause(), roles.pauser)
    market.settle(trade_id)
    assert market.trade(trade_id)["lastRound"] == round_id
    assert market.state(trade_id) == State.LIVE


def test_settle_in_batch_is_the_engines_alone(
    market: Market, roles: Roles, buyer: LocalAccount, seller: LocalAccount
) -> None:
    trade_id, _ = market.open(buyer, seller)
    market.push_price(PRICE + 10**8)
    with expect_revert("DerivativeOnlyEngine", caller=roles.outsider.address):
        market.chain.transact(market.engine.functions.settleInBatch(trade_id), roles.outsider)
    assert market.trade(trade_id)["lastRound"] == 0
