"""The derivative API end to end on the session chain, and the pure valuation it shares with the engine."""

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dfmi_py.api import Market, Terms, TradeState
from dfmi_py.chain import dev_account
from dfmi_py.deploy.roles import DEV_REPORTER_INDICES
from dfmi_py.errors import ContractRevertError, InputError
from dfmi_py.risk import position_value, value_scale, variation_margin

PRICE = 100 * 10**8
QUANTITY = 5 * 10**18
IM = 1_000 * 10**6


@pytest.fixture
def market(deployment, roles, chain):
    market = Market.from_deployment(deployment)
    market.compliance.onboard(roles.officer, market.derivatives.address)
    market.compliance.onboard(roles.officer, market.fund.address)
    for member in roles.members[:2]:
        market.cash.mint(roles.minter, member.address, 1_000_000 * 10**6)
        market.cash.approve(member, market.derivatives.address, 2**256 - 1)
        market.fund.join(member)  # the floor: enough for the trades here
    return market


def _now(chain) -> int:
    return int(chain.w3.eth.get_block("latest")["timestamp"])


def _advance(chain, seconds: int) -> None:
    chain.w3.provider.make_request("evm_increaseTime", [seconds])
    chain.w3.provider.make_request("evm_mine", [])


def _post(market, price: int) -> int:
    round_id = market.oracle.open_round()
    for index in DEV_REPORTER_INDICES:
        if market.oracle.open_round() != round_id:
            break
        market.oracle.submit(dev_account(index), price)
    assert market.oracle.open_round() == round_id + 1
    return round_id


def _open(market, roles, chain, maturity_in: int = 86_400) -> tuple[int, Terms]:
    buyer, seller = roles.members[:2]
    terms = Terms(buyer.address, seller.address, QUANTITY, PRICE, _now(chain) + maturity_in, IM, IM)
    trade_id = market.derivatives.propose(buyer, terms)
    market.derivatives.confirm(seller, trade_id, terms)
    return trade_id, terms


def test_terms_hash_is_the_one_the_engine_matches(market, roles, chain):
    buyer, seller = roles.members[:2]
    terms = Terms(buyer.address, seller.address, QUANTITY, PRICE, _now(chain) + 3_600, IM, IM)
    trade_id = market.derivatives.propose(seller, terms)
    assert market.derivatives.contract.functions.proposalOf(trade_id).call() == terms.hash()


@pytest.mark.parametrize("field", ["quantity", "contract_price"])
def test_terms_refuse_zero_and_negative_values(roles, field):
    buyer, seller = roles.members[:2]
    values = {"quantity": QUANTITY, "contract_price": PRICE, field: 0}
    with pytest.raises(InputError):
        Terms(buyer.address, seller.address, maturity=1, buyer_im=0, seller_im=0, **values)
    values[field] = -1
    with pytest.raises(InputError):
        Terms(buyer.address, seller.address, maturity=1, buyer_im=0, seller_im=0, **values)


def test_settlement_pays_what_the_pure_valuation_says_and_history_records_it(market, roles, chain):
    trade_id, _ = _open(market, roles, chain)
    buyer, seller = roles.members[:2]
    scale = market.derivatives.value_scale
    assert scale == value_scale(market.oracle.decimals, market.cash.decimals)
    round_id = _post(market, PRICE + 7 * 10**8 + 123)
    wallets = market.cash.balances([buyer.address, seller.address])
    market.derivatives.settle(dev_account(19), trade_id)
    expected = variation_margin(QUANTITY, PRICE, PRICE + 7 * 10**8 + 123, scale)
    assert expected > 0
    # The seller had no margin account: the VM came from its wallet, to the buyer's margin account.
    assert market.cash.balance_of(seller.address) == wallets[seller.address] - expected
    assert market.derivatives.margin_of(buyer.address) == expected
    [flow] = market.derivatives.margin_history(trade_id)
    assert (flow.round_id, flow.vm_to_buyer, flow.payer, flow.paid, flow.owed) == (
        round_id,
        expected,
        seller.address,
        expected,
        0,
    )
    assert market.derivatives.trade(trade_id).last_round == round_id


def test_amendment_and_termination_signed_by_both_parties(market, roles, chain):
    trade_id, _ = _open(market, roles, chain)
    buyer, seller = roles.members[:2]
    derivatives = market.derivatives
    amendment = derivatives.amendment(trade_id, quantity=2 * QUANTITY, buyer_im=2 * IM)
    derivatives.amend(
        dev_account(19),
        amendment,
        derivatives.sign_amendment(buyer, amendment),
        derivatives.sign_amendment(seller, amendment),
    )
    trade = derivatives.trade(trade_id)
    assert (trade.quantity, trade.buyer_im, trade.nonce) == (2 * QUANTITY, 2 * IM, 1)

    replay = derivatives.sign_amendment(buyer, amendment), derivatives.sign_amendment(seller, amendment)
    with pytest.raises(ContractRevertError) as info:
        derivatives.amend(dev_account(19), amendment, *replay)
    assert info.value.error == "DerivativeInvalidNonce"

    termination = derivatives.termination(trade_id, payment=250 * 10**6)
    margin_before = derivatives.margin_of(seller.address)
    derivatives.terminate(
        buyer,
        termination,
        derivatives.sign_termination(buyer, termination),
        derivatives.sign_termination(seller, termination),
    )
    assert derivatives.trade(trade_id).state is TradeState.TERMINATED
    # The seller gets the agreed payment and its initial margin back in its margin account.
    assert derivatives.margin_of(seller.address) == margin_before + 250 * 10**6 + IM


def test_maturity_uses_the_first_round_at_or_after_it(market, roles, chain):
    trade_id, terms = _open(market, roles, chain, maturity_in=600)
    _post(market, PRICE + 10**8)
    _advance(chain, 601)
    first = _post(market, PRICE + 2 * 10**8)
    _post(market, PRICE + 3 * 10**8)
    assert market.oracle.first_round_at_or_after(terms.maturity) == first
    market.derivatives.mature(dev_account(19), trade_id, first)
    trade = market.derivatives.trade(trade_id)
    assert trade.state is TradeState.MATURED
    assert trade.last_price == PRICE + 2 * 10**8
    assert (trade.buyer_im, trade.seller_im) == (0, 0)


@given(
    quantity=st.integers(min_value=1, max_value=2**96 - 1),
    prices=st.lists(st.integers(min_value=1, max_value=2**100), min_size=2, max_size=12),
    oracle_decimals=st.integers(min_value=0, max_value=18),
    cash_decimals=st.integers(min_value=0, max_value=18),
)
def test_variation_margin_telescopes_to_the_change_in_value(quantity, prices, oracle_decimals, cash_decimals):
    scale = value_scale(oracle_decimals, cash_decimals)
    paid = sum(variation_margin(quantity, a, b, scale) for a, b in itertools.pairwise(prices))
    assert paid == position_value(quantity, prices[-1], scale) - position_value(quantity, prices[0], scale)
