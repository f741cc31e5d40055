"""Freezes and pauses around a default: what is the payer's condition, what is a temporary one.

The attacks of the security review, run as they were found, and the behaviour that replaced them:

- a debtor frozen while it still has an allowance made ``declareDefault`` and ``mature`` revert
  with ``ComplianceAccountNotActive``, locking the survivor's IM and the fund's cover as long as the
  freeze lasted. A close-out and a maturity now need only the engine's books: a frozen payer cannot
  pay, like an empty wallet, and its collateral (then the fund) pays;
- a default declared while the cash token was paused went through, the fund's claim failed with
  ``EnforcedPause`` and the trade ended ``Defaulted`` for good with the fund's tranche never paid.
  Now nothing is decided during a pause (``DerivativeCashPaused``), the debtor has a full cure
  period after the unpause, and a fund claim that reverts (the fund frozen) stays pending until
  anyone retries it;
- a keeper cannot starve the wallet pull of gas to make a solvent party look unable to pay.

Every case is the typical trade of :mod:`tests.contracts.test_derivative_default_fund` (the price
falls 300: the buyer owes 3,000 on an IM of 1,000) and ends with the engine's and the fund's books
checked against the cash they hold.
"""

from __future__ import annotations

import pytest
from eth_account.signers.local import LocalAccount
from web3.contract import Contract

from dfmi_py.api.derivatives import Derivatives
from dfmi_py.chain import Chain
from tests.contracts.conftest import (
    CALL_PRICE,
    CURE_PERIOD,
    FLOOR,
    PRICE,
    QUANTITY,
    USD,
    Linked,
    State,
    vm_to_buyer,
)
from tests.helpers import MAX_UINT256, Roles, events, evm_revert, evm_snapshot, expect_revert

IM_1000 = 1_000 * USD


def _three_members(linked: Linked, members: tuple[LocalAccount, ...]) -> tuple[LocalAccount, ...]:
    buyer, seller, third, *_ = members
    for member in (buyer, seller, third):
        linked.join(member, FLOOR)
    return buyer, seller, third


def _fund_books(linked: Linked, members: tuple[LocalAccount, ...]) -> tuple[int, ...]:
    fund = linked.fund
    return (fund.state().total_assets, *(fund.balance_of(m.address) for m in members))


# ====================================================================== a frozen debtor


def test_a_debtor_frozen_with_an_allowance_is_closed_out_from_its_collateral(
    linked: Linked, members: tuple[LocalAccount, ...], registry: Contract, roles: Roles
) -> None:
    """The attack: a margin call, then the debtor re-approves the engine and is frozen. The pull
    from its wallet used to revert the close-out; now the freeze reads as "cannot pay"."""
    buyer, seller, third = _three_members(linked, members)
    trade_id = linked.margin_call(buyer, seller, buyer_im=IM_1000)
    chain = linked.market.chain
    chain.transact(linked.market.cash.functions.approve(linked.engine.address, MAX_UINT256), buyer)
    chain.transact(registry.functions.freeze(buyer.address), roles.officer)
    wallet = linked.market.balance(buyer)

    receipt = linked.declare(trade_id)

    [declared] = events(linked.engine, "DefaultDeclared", receipt)
    assert (declared["loss"], declared["paidFromIm"], declared["paidFromFund"], declared["unpaidClaim"]) == (
        3_000 * USD,
        IM_1000,
        2_000 * USD,
        0,
    )
    assert linked.market.state(trade_id) == State.DEFAULTED
    assert linked.market.balance(buyer) == wallet  # its frozen wallet was not touched
    # The buyer's contribution (1,000), then the survivors' 1,000 pro rata.
    assert linked.balances([buyer, seller, third]) == [0, FLOOR // 2, FLOOR // 2]
    assert linked.market.margin(seller) == 3_000 * USD + 5_000 * USD  # the loss and its own IM back
    linked.assert_conserved(members)


def test_a_payer_frozen_at_maturity_pays_the_final_margin_from_its_collateral(
    linked: Linked, members: tuple[LocalAccount, ...], registry: Contract, roles: Roles
) -> None:
    buyer, seller, third = _three_members(linked, members)
    trade_id, terms = linked.market.open(buyer, seller, buyer_im=IM_1000)
    chain = linked.market.chain
    chain.transact(registry.functions.freeze(buyer.address), roles.officer)
    linked.market.advance(terms.maturity - linked.market.now() + 1)
    final = linked.market.push_price(CALL_PRICE)

    receipt = chain.transact(linked.engine.functions.mature(trade_id, final), roles.outsider)

    [matured] = events(linked.engine, "TradeMatured", receipt)
    assert matured["vmToBuyer"] == vm_to_buyer(QUANTITY, PRICE, CALL_PRICE) == -3_000 * USD
    assert (matured["paidFromFund"], matured["unpaidClaim"]) == (2_000 * USD, 0)
    assert linked.market.state(trade_id) == State.MATURED
    assert linked.balances([buyer, seller, third]) == [0, FLOOR // 2, FLOOR // 2]
    linked.assert_conserved(members)


# ====================================================================== a paused token


@pytest.mark.parametrize("cured", [True, False], ids=["cured-after-unpause", "defaulted-after-unpause"])
def test_no_default_while_the_token_is_paused_and_a_full_cure_period_after(
    linked: Linked, members: tuple[LocalAccount, ...], roles: Roles, cured: bool
) -> None:
    """The attack: the token paused and the debtor's allowance short, the default went through and
    the fund's claim failed for good. Now the default waits; after the unpause the debtor has a full
    cure period (nobody could pay during the pause); then the default runs with the fund's cover."""
    buyer, seller, third = _three_members(linked, members)
    trade_id = linked.margin_call(buyer, seller, buyer_im=IM_1000)
    market, chain = linked.market, linked.market.chain
    chain.transact(market.cash.functions.pause(), roles.pauser)
    books = market.books([buyer, seller])
    with expect_revert("DerivativeCashPaused"):
        linked.declare(trade_id)
    market.advance(CURE_PERIOD)
    with expect_revert("DerivativeCashPaused"):
        linked.declare(trade_id)
    assert market.books([buyer, seller]) == books
    assert market.state(trade_id) == State.MARGIN_CALL

    receipt = chain.transact(market.cash.functions.unpause(), roles.pauser)
    deadline = market.block_time(receipt) + CURE_PERIOD
    assert Derivatives(chain, linked.engine).cure_deadline_of(trade_id) == deadline
    with expect_revert("DerivativeCurePeriodRunning", tradeId=trade_id, cureDeadline=deadline):
        linked.declare(trade_id)

    if cured:
        chain.transact(market.cash.functions.approve(linked.engine.address, MAX_UINT256), buyer)
        chain.transact(linked.engine.functions.cure(trade_id), buyer)
        assert market.state(trade_id) == State.LIVE
        assert market.margin(seller) == 3_000 * USD
        assert linked.balances([buyer, seller, third]) == [FLOOR] * 3
    else:
        market.advance(deadline - market.now() + 1)
        receipt = linked.declare(trade_id)
        assert events(linked.engine, "FundClaimFailed", receipt) == []
        [declared] = events(linked.engine, "DefaultDeclared", receipt)
        assert (declared["paidFromFund"], declared["unpaidClaim"]) == (2_000 * USD, 0)
        assert linked.balances([buyer, seller, third]) == [0, FLOOR // 2, FLOOR // 2]
    linked.assert_conserved(members)


def test_a_pause_before_the_margin_call_leaves_the_cure_deadline_alone(
    linked: Linked, members: tuple[LocalAccount, ...], roles: Roles
) -> None:
    """Only a pause that overlaps the cure period moves its end."""
    buyer, seller, _ = _three_members(linked, members)
    market, chain = linked.market, linked.market.chain
    chain.transact(market.cash.functions.pause(), roles.pauser)
    chain.transact(market.cash.functions.unpause(), roles.pauser)
    market.advance(CURE_PERIOD + 1)
    trade_id, _ = market.open(buyer, seller, buyer_im=IM_1000)
    market.revoke(buyer)
    market.push_price(CALL_PRICE)
    receipt = market.settle(trade_id)
    [called] = events(linked.engine, "MarginCalled", receipt)
    assert linked.engine.functions.cureDeadlineOf(trade_id).call() == called["cureDeadline"]


# ====================================================================== the fund or the engine frozen


def test_a_claim_on_a_frozen_fund_stays_pending_and_is_paid_once_it_is_unfrozen(
    linked: Linked, members: tuple[LocalAccount, ...], registry: Contract, roles: Roles
) -> None:
    """The close-out goes on with the IM; the fund's part waits, retriable by anyone, and is paid
    in full (the defaulter's contribution first) once the fund may move cash again."""
    buyer, seller, third = _three_members(linked, members)
    trade_id = linked.market.open(buyer, seller, buyer_im=IM_1000)[0]
    linked.market.revoke(buyer)
    linked.market.push_price(CALL_PRICE)
    linked.market.settle(trade_id)
    linked.market.advance(CURE_PERIOD + 1)
    chain, engine = linked.market.chain, linked.engine
    chain.transact(registry.functions.freeze(linked.contract.address), roles.officer)
    fund_before = _fund_books(linked, (buyer, seller, third))

    receipt = linked.declare(trade_id)

    [failed] = events(engine, "FundClaimFailed", receipt)
    assert chain.decode_error_data("0x" + failed["reason"].hex()) == (
        "ComplianceAccountNotActive",
        {"account": linked.contract.address, "status": 2},
    )
    [declared] = events(engine, "DefaultDeclared", receipt)
    assert (declared["paidFromIm"], declared["paidFromFund"], declared["unpaidClaim"]) == (
        IM_1000,
        0,
        2_000 * USD,
    )
    assert engine.functions.fundClaimPendingOf(trade_id).call()
    assert engine.functions.unpaidClaimOf(trade_id).call() == 2_000 * USD
    assert _fund_books(linked, (buyer, seller, third)) == fund_before  # the claim reverted whole
    linked.assert_conserved(members)

    with expect_revert("ComplianceAccountNotActive", account=linked.contract.address):
        chain.transact(engine.functions.retryFundClaim(trade_id), roles.outsider)
    assert engine.functions.fundClaimPendingOf(trade_id).call()

    chain.transact(registry.functions.unfreeze(linked.contract.address), roles.officer)
    margin = linked.market.margin(seller)
    api = Derivatives(chain, engine)
    assert api.fund_claim_pending(trade_id)
    receipt = api.retry_fund_claim(roles.outsider, trade_id)
    assert not api.fund_claim_pending(trade_id)

    assert events(engine, "FundClaimPaid", receipt) == [
        {
            "tradeId": trade_id,
            "defaulter": buyer.address,
            "survivor": seller.address,
            "paid": 2_000 * USD,
            "unpaid": 0,
        }
    ]
    assert linked.market.margin(seller) == margin + 2_000 * USD
    assert linked.balances([buyer, seller, third]) == [0, FLOOR // 2, FLOOR // 2]
    assert not engine.functions.fundClaimPendingOf(trade_id).call()
    assert engine.functions.unpaidClaimOf(trade_id).call() == 0
    with expect_revert("DerivativeNoPendingFundClaim", tradeId=trade_id):
        chain.transact(engine.functions.retryFundClaim(trade_id), roles.outsider)
    linked.assert_conserved(members)


def test_a_frozen_engine_decides_no_default_until_it_is_unfrozen(
    linked: Linked, members: tuple[LocalAccount, ...], registry: Contract, roles: Roles
) -> None:
    """With the engine itself frozen no payer could pay it: the close-out waits rather than read
    every debtor as unable to pay."""
    buyer, seller, _ = _three_members(linked, members)
    trade_id = linked.margin_call(buyer, seller, buyer_im=IM_1000)
    chain = linked.market.chain
    chain.transact(linked.market.cash.functions.approve(linked.engine.address, MAX_UINT256), buyer)
    chain.transact(registry.functions.freeze(linked.engine.address), roles.officer)
    with expect_revert("ComplianceAccountNotActive", account=linked.engine.address):
        linked.declare(trade_id)
    assert linked.market.state(trade_id) == State.MARGIN_CALL
    chain.transact(registry.functions.unfreeze(linked.engine.address), roles.officer)
    # Solvent and approved again, the debtor is pulled and the call is cured late: no default.
    receipt = linked.declare(trade_id)
    assert events(linked.engine, "DefaultDeclared", receipt) == []
    assert linked.market.state(trade_id) == State.LIVE
    assert linked.market.margin(seller) == 3_000 * USD
    linked.assert_conserved(members)


# ====================================================================== gas


def test_no_gas_limit_makes_a_solvent_payer_look_unable_to_pay(
    linked: Linked, members: tuple[LocalAccount, ...], chain: Chain, roles: Roles
) -> None:
    """Scan every gas limit around the settlement's need: each transaction either fails whole or
    pays the variation margin from the buyer's wallet; none opens a margin call."""
    buyer, seller, _ = _three_members(linked, members)
    trade_id = linked.market.open(buyer, seller, buyer_im=IM_1000)[0]
    linked.market.push_price(CALL_PRICE)
    settle = linked.engine.functions.settle(trade_id)
    sender = roles.outsider
    w3 = chain.w3
    needed = settle.estimate_gas({"from": sender.address})
    outcomes: dict[str, int] = {"failed": 0, "paid": 0}
    for gas in range(needed - 40_000, needed + 1, 1_000):
        snapshot = evm_snapshot(chain)
        tx = settle.build_transaction({"from": sender.address, "gas": gas, "chainId": chain.chain_id})
        tx["nonce"] = w3.eth.get_transaction_count(sender.address)
        receipt = w3.eth.wait_for_transaction_receipt(
            w3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction)
        )
        if receipt["status"] == 0:
            outcomes["failed"] += 1
        else:
            assert events(linked.engine, "MarginCalled", receipt) == [], gas
            [settled] = events(linked.engine, "VariationMarginSettled", receipt)
            assert settled["paid"] == 3_000 * USD, gas
            outcomes["paid"] += 1
        evm_revert(chain, snapshot)
    assert outcomes["failed"] > 0, outcomes
    assert outcomes["paid"] > 0, outcomes
