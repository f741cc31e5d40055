"""The derivative engine with its default fund: membership at opening, IM reported, the waterfall at close-out.

Hand-computed cases on the typical trade (10 units at 2,000; the price falls 300, so the buyer owes
the seller 3,000 and cannot pay). The fund's requirement is 20% of a member's open IM with a
floor of 1,000. Every test ends by checking that no cash was created or lost anywhere.
"""

from __future__ import annotations

from eth_account.signers.local import LocalAccount

from dfmi_py.api.derivatives import Derivatives
from dfmi_py.api.waterfall import waterfalls
from dfmi_py.signing.fund import ActionKind
from tests.contracts.conftest import (
    CALL_LOSS,
    CALL_PRICE,
    CURE_PERIOD,
    FLOOR,
    IM,
    PRICE,
    QUANTITY,
    USD,
    Linked,
    State,
    amendment_tuple,
    termination_tuple,
    vm_to_buyer,
)
from tests.helpers import events, expect_revert, mine_in_one_block

# ====================================================================== opening


def test_confirm_needs_both_parties_to_be_members_in_good_standing(
    linked: Linked, members: tuple[LocalAccount, ...]
) -> None:
    buyer, seller, *_ = members
    market = linked.market
    terms = market.terms(buyer, seller)
    trade_id, _ = market.propose(terms, buyer)
    linked.join(buyer, 2 * FLOOR)
    confirm = market.engine.functions.confirm(trade_id, terms.as_tuple())
    with expect_revert("FundNotMember", account=seller):
        market.chain.transact(confirm, seller)
    # 20% of a 5,000 IM is 1,000: the floor. A 10,000 IM needs 2,000.
    linked.join(seller, FLOOR)
    big = market.terms(buyer, seller, seller_im=2 * IM)
    big_id, _ = market.propose(big, buyer)
    before = market.books([buyer, seller])
    with expect_revert("FundNotInGoodStanding", member=seller, flagged=False, balance=FLOOR, requirement=2 * FLOOR):
        market.confirm(big_id, big, seller)
    assert market.books([buyer, seller]) == before
    assert market.state(big_id) == State.PROPOSED
    assert linked.fund.open_im_of(seller.address) == 0

    receipt = market.chain.transact(confirm, seller)

    assert [
        (e["member"], e["imAmount"], e["openIm"]) for e in events(linked.contract, "OpenMarginChanged", receipt)
    ] == [
        (buyer.address, IM, IM),
        (seller.address, IM, IM),
    ]
    linked.fund.contribute(seller, 2 * FLOOR)  # 15,000 of IM in all: 3,000
    market.confirm(big_id, big, seller)
    assert linked.fund.open_im_of(seller.address) == 3 * IM
    linked.assert_conserved(members)


def test_open_im_follows_amendments_and_returns_to_zero_when_trades_end(
    linked: Linked, members: tuple[LocalAccount, ...]
) -> None:
    buyer, seller, *_ = members
    market = linked.market
    linked.join(buyer, 3 * FLOOR)
    linked.join(seller, FLOOR)
    trade_id, _ = market.open(buyer, seller)
    amendment = {
        "tradeId": trade_id,
        "quantity": QUANTITY,
        "maturity": market.now() + 86_400,
        "buyerIm": 3 * IM,  # 15,000: requirement 3,000, exactly the buyer's balance
        "sellerIm": IM // 2,
        "payment": 0,
        "nonce": 0,
        "deadline": market.now() + 3_600,
    }
    signatures = [market.sign_amendment(p, amendment) for p in (buyer, seller)]
    market.chain.transact(market.engine.functions.amend(amendment_tuple(amendment), *signatures), linked.roles.outsider)
    assert (linked.fund.open_im_of(buyer.address), linked.fund.open_im_of(seller.address)) == (3 * IM, IM // 2)
    too_much = {**amendment, "buyerIm": 3 * IM + 10, "nonce": 1}
    signatures = [market.sign_amendment(p, too_much) for p in (buyer, seller)]
    with expect_revert("FundNotInGoodStanding", member=buyer, requirement=3 * FLOOR + 2):
        market.chain.transact(market.engine.functions.amend(amendment_tuple(too_much), *signatures), buyer)

    termination = {"tradeId": trade_id, "payment": 0, "nonce": 1, "deadline": market.now() + 3_600}
    signatures = [market.sign_termination(p, termination) for p in (buyer, seller)]
    market.chain.transact(
        market.engine.functions.terminate(termination_tuple(termination), *signatures), linked.roles.outsider
    )
    assert (linked.fund.open_im_of(buyer.address), linked.fund.open_im_of(seller.address)) == (0, 0)
    linked.assert_conserved(members)


# ====================================================================== the waterfall, by hand


def test_a_default_the_im_covers_leaves_the_fund_untouched(linked: Linked, members: tuple[LocalAccount, ...]) -> None:
    buyer, seller, third, _ = members
    for member in (buyer, seller, third):
        linked.join(member, 2 * FLOOR)
    trade_id = linked.margin_call(buyer, seller)
    fund_before = linked.fund.state()

    receipt = linked.declare(trade_id)

    [declared] = events(linked.engine, "DefaultDeclared", receipt)
    assert (declared["paidFromIm"], declared["paidFromFund"], declared["unpaidClaim"]) == (CALL_LOSS, 0, 0)
    assert events(linked.contract, "DefaultClaimed", receipt) == []
    assert linked.fund.state() == fund_before
    assert linked.balances([buyer, seller, third]) == [2 * FLOOR] * 3
    # Both trades' IM left the fund's count, the defaulter's before any of it was spent.
    assert (linked.fund.open_im_of(buyer.address), linked.fund.open_im_of(seller.address)) == (0, 0)
    linked.assert_conserved(members)


def test_the_defaulters_contribution_pays_what_its_im_did_not(
    linked: Linked, members: tuple[LocalAccount, ...]
) -> None:
    buyer, seller, third, _ = members
    linked.join(buyer, 2_500 * USD)
    linked.join(seller, 3 * FLOOR)
    linked.join(third, FLOOR)
    trade_id = linked.margin_call(buyer, seller, buyer_im=1_000 * USD)
    seller_margin = linked.market.margin(seller)

    receipt = linked.declare(trade_id)

    # Loss 3,000: IM 1,000, then 2,000 of the buyer's 2,500; the survivors pay nothing.
    [declared] = events(linked.engine, "DefaultDeclared", receipt)
    assert (declared["paidFromIm"], declared["paidFromMargin"], declared["paidFromFund"]) == (
        1_000 * USD,
        0,
        2_000 * USD,
    )
    assert declared["unpaidClaim"] == 0
    [claimed] = events(linked.contract, "DefaultClaimed", receipt)
    assert (claimed["fromDefaulter"], claimed["fromSurvivors"], claimed["unpaid"]) == (2_000 * USD, 0, 0)
    assert linked.balances([buyer, seller, third]) == [500 * USD, 3 * FLOOR, FLOOR]
    assert linked.market.margin(seller) - seller_margin == CALL_LOSS + IM
    linked.assert_conserved(members)


def test_the_survivors_pay_the_rest_pro_rata_and_the_breakdown_says_who_paid_what(
    linked: Linked, members: tuple[LocalAccount, ...]
) -> None:
    """Loss 3,000: IM 1,000; the buyer's 1,000; then 1,000 over the seller's 3,000 and the third's
    1,000 (who never traded with the buyer): 750 and 250."""
    buyer, seller, third, _ = members
    linked.join(buyer, FLOOR)
    linked.join(seller, 3 * FLOOR)
    linked.join(third, FLOOR)
    trade_id = linked.margin_call(buyer, seller, buyer_im=1_000 * USD)

    receipt = linked.declare(trade_id)

    [claimed] = events(linked.contract, "DefaultClaimed", receipt)
    assert (claimed["fromDefaulter"], claimed["fromSurvivors"], claimed["unpaid"]) == (FLOOR, 1_000 * USD, 0)
    assert linked.balances([buyer, seller, third]) == [0, 2_250 * USD, 750 * USD]
    assert linked.engine.functions.unpaidClaimOf(trade_id).call() == 0
    [waterfall] = waterfalls(Derivatives(linked.market.chain, linked.engine), linked.fund)
    assert waterfall.tranches() == {
        "initial margin": 1_000 * USD,
        "margin account": 0,
        "defaulter's contribution": FLOOR,
        "survivors' contributions": 1_000 * USD,
        "unpaid claim": 0,
    }
    assert sum(waterfall.tranches().values()) == waterfall.loss == CALL_LOSS
    assert waterfall.member_losses == {buyer.address: FLOOR, seller.address: 750 * USD, third.address: 250 * USD}
    linked.assert_conserved(members)


def test_a_loss_beyond_the_fund_exhausts_it_and_stays_the_survivors_claim(
    linked: Linked, members: tuple[LocalAccount, ...]
) -> None:
    """Loss 3,000, no IM, a margin account of 200: the fund's 2,000 pays, 800 stays a claim."""
    buyer, seller, *_ = members
    linked.join(buyer, FLOOR)
    linked.join(seller, FLOOR)
    linked.market.deposit(buyer, 200 * USD)
    trade_id = linked.margin_call(buyer, seller, buyer_im=0)

    receipt = linked.declare(trade_id)

    [declared] = events(linked.engine, "DefaultDeclared", receipt)
    assert (
        declared["paidFromIm"],
        declared["paidFromMargin"],
        declared["paidFromFund"],
        declared["unpaidClaim"],
    ) == (0, 200 * USD, 2 * FLOOR, 800 * USD)
    assert len(events(linked.contract, "FundExhausted", receipt)) == 1
    assert linked.fund.state().total_assets == 0
    assert linked.engine.functions.unpaidClaimOf(trade_id).call() == 800 * USD
    assert linked.fund.unpaid_claim_of(buyer.address, seller.address) == 800 * USD
    trade = linked.market.trade(trade_id)
    assert (trade["state"], trade["debt"]) == (State.DEFAULTED, 800 * USD)
    linked.assert_conserved(members)


def test_two_members_defaulting_in_one_block_are_covered_in_turn(
    linked: Linked, members: tuple[LocalAccount, ...]
) -> None:
    """Cover 2. Start: buyer 1,000, third 1,000, seller 2,000, fourth 2,000 (6,000).
    1. buyer -> seller, 2,000 beyond IM: buyer's 1,000, then 1,000 over 5,000 (20%): third 800,
       seller 1,600, fourth 1,600.
    2. third -> fourth, 2,000 beyond IM: third's 800, then 1,200 over seller's and fourth's 3,200:
       seller 1,000, fourth 1,000."""
    buyer, seller, third, fourth = members
    for member, amount in ((buyer, FLOOR), (seller, 2 * FLOOR), (third, FLOOR), (fourth, 2 * FLOOR)):
        linked.join(member, amount)
    market = linked.market
    first, _ = market.open(buyer, seller, buyer_im=1_000 * USD)
    second, _ = market.open(third, fourth, buyer_im=1_000 * USD)
    market.revoke(buyer)
    market.revoke(third)
    market.push_price(CALL_PRICE)
    market.chain.transact(market.engine.functions.settleMany([first, second]), linked.roles.outsider)
    market.advance(CURE_PERIOD + 1)
    market.push_price(CALL_PRICE)
    declare = market.engine.functions.declareDefault
    receipts = mine_in_one_block(market.chain, [(declare(t), linked.roles.outsider) for t in (first, second)])
    assert [r["status"] for r in receipts] == [1, 1]

    claimed = [events(linked.contract, "DefaultClaimed", r)[0] for r in receipts]
    assert [(c["fromDefaulter"], c["fromSurvivors"]) for c in claimed] == [
        (FLOOR, 1_000 * USD),
        (800 * USD, 1_200 * USD),
    ]
    assert linked.balances([buyer, seller, third, fourth]) == [0, FLOOR, 0, FLOOR]
    assert [market.state(t) for t in (first, second)] == [State.DEFAULTED, State.DEFAULTED]
    linked.assert_conserved(members)


def test_a_shortfall_at_maturity_is_claimed_from_the_fund_too(
    linked: Linked, members: tuple[LocalAccount, ...]
) -> None:
    buyer, seller, third, _ = members
    for member in (buyer, seller, third):
        linked.join(member, 2 * FLOOR)
    market = linked.market
    trade_id, terms = market.open(buyer, seller, buyer_im=1_000 * USD)
    market.revoke(buyer)
    market.advance(terms.maturity - market.now() + 1)
    final = market.push_price(CALL_PRICE)

    receipt = market.chain.transact(market.engine.functions.mature(trade_id, final), linked.roles.outsider)

    [matured] = events(market.engine, "TradeMatured", receipt)
    assert matured["vmToBuyer"] == vm_to_buyer(QUANTITY, PRICE, CALL_PRICE) == -CALL_LOSS
    # IM 1,000, then the buyer's 2,000 contribution: nothing reaches the survivors.
    assert (matured["paidFromFund"], matured["unpaidClaim"]) == (2 * FLOOR, 0)
    assert linked.balances([buyer, seller, third]) == [0, 2 * FLOOR, 2 * FLOOR]
    linked.assert_conserved(members)


# ====================================================================== the fund cannot block a close-out


def test_a_deregistered_engine_keeps_the_funds_cover_for_the_trades_it_opened(
    linked: Linked, members: tuple[LocalAccount, ...]
) -> None:
    """Deregistering stops new trades, not the cover of open ones: a majority of members cannot
    strip a survivor of the fund's tranche by deregistering the engine before a close-out."""
    buyer, seller, third, *_ = members
    for member in (buyer, seller, third):
        linked.join(member, FLOOR)
    trade_id = linked.margin_call(buyer, seller, buyer_im=1_000 * USD)
    action = linked.fund.action(ActionKind.DEREGISTER_ENGINE, linked.engine.address)
    linked.fund.approve_and_execute(action, [buyer, third])  # 2 of 3: the threshold
    with expect_revert("FundNotEngine", caller=linked.engine.address):
        linked.market.open(seller, third)

    receipt = linked.declare(trade_id)

    assert events(linked.engine, "FundClaimFailed", receipt) == []
    [declared] = events(linked.engine, "DefaultDeclared", receipt)
    # IM 1,000, then the buyer's 1,000 contribution, then the survivors' 1,000 pro rata.
    assert (declared["paidFromFund"], declared["unpaidClaim"]) == (2_000 * USD, 0)
    assert linked.market.state(trade_id) == State.DEFAULTED
    assert (linked.fund.open_im_of(buyer.address), linked.fund.open_im_of(seller.address)) == (0, 0)
    linked.assert_conserved(members)


def test_too_little_gas_never_lets_the_close_out_skip_the_fund(
    linked: Linked, members: tuple[LocalAccount, ...]
) -> None:
    """With every gas limit, the close-out either reverts whole or includes the fund's payment: a
    keeper cannot make the fund's call fail by gas alone and close out without it."""
    buyer, seller, *_ = members
    linked.join(buyer, FLOOR)
    linked.join(seller, 3 * FLOOR)
    trade_id = linked.margin_call(buyer, seller, buyer_im=1_000 * USD)
    declare = linked.engine.functions.declareDefault(trade_id)
    sender = linked.roles.outsider.address
    w3 = linked.market.chain.w3
    needed = declare.estimate_gas({"from": sender})
    outcomes: dict[int, str] = {}
    for gas in [*range(needed // 2, needed, 2_000), needed]:
        tx = {"from": sender, "to": linked.engine.address, "data": declare._encode_transaction_data(), "gas": hex(gas)}
        response = w3.provider.make_request("eth_call", [tx, "latest"])  # type: ignore[list-item]
        outcomes[gas] = "ok" if "result" in response else str(response["error"].get("data", "out of gas"))
    guard = w3.keccak(text="DerivativeFundClaimOutOfGas(uint256,uint256,uint256)")[:4].hex()
    assert any(guard in outcome for outcome in outcomes.values()), "the guard never fired in the scanned range"
    assert outcomes[needed] == "ok", outcomes
    lowest = min(gas for gas, outcome in outcomes.items() if outcome == "ok")
    tx = declare.build_transaction({"from": sender, "gas": lowest, "chainId": linked.market.chain.chain_id})
    tx["nonce"] = w3.eth.get_transaction_count(sender)
    tx_hash = w3.eth.send_raw_transaction(linked.roles.outsider.sign_transaction(tx).raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)

    assert receipt["status"] == 1
    assert events(linked.engine, "FundClaimFailed", receipt) == []
    [declared] = events(linked.engine, "DefaultDeclared", receipt)
    assert (declared["paidFromFund"], declared["unpaidClaim"]) == (2_000 * USD, 0)
    linked.assert_conserved(members)
