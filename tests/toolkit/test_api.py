"""The Python API: errors a user can act on, nothing sent on bad input."""

import pytest

from dfmi_py.api import AccountStatus, Market
from dfmi_py.chain import dev_account
from dfmi_py.errors import InputError, InsufficientBalanceError, NotOnboardedError


@pytest.fixture
def market(deployment):
    return Market.from_deployment(deployment)


def test_market_connects_through_the_manifest(node, deployment):
    market = Market.connect(node.rpc_url, manifest_dir=deployment.manifest_file.parent)
    assert market.cash.address == deployment.cash.address
    assert market.cash.symbol == "DSD"
    assert market.cash.decimals == 6


@pytest.mark.parametrize("amount", [0, -5, 1.5, True, "10", 2**256])
def test_mint_rejects_bad_amounts_before_sending(market, chain, amount):
    block = chain.w3.eth.block_number
    with pytest.raises(InputError):
        market.cash.mint(dev_account(4), dev_account(7).address, amount)
    assert chain.w3.eth.block_number == block


def test_bad_address_is_an_input_error(market):
    with pytest.raises(InputError, match="not an Ethereum address"):
        market.cash.balance_of("0xnot-an-address")


def test_paying_a_non_onboarded_account_raises_not_onboarded_with_a_hint(market, roles):
    payer = roles.members[0]
    market.cash.mint(roles.minter, payer.address, 100)
    with pytest.raises(NotOnboardedError, match="not onboarded; ask the compliance officer") as info:
        market.cash.transfer(payer, roles.outsider.address, 1)
    assert info.value.args_by_name == {"account": roles.outsider.address, "status": AccountStatus.NONE}
    assert market.cash.balance_of(payer.address) == 100


def test_frozen_payer_gets_a_frozen_hint(market, roles):
    payer = roles.members[0]
    market.cash.mint(roles.minter, payer.address, 100)
    market.compliance.freeze(roles.officer, payer.address)
    with pytest.raises(NotOnboardedError, match="is frozen"):
        market.cash.transfer(payer, roles.members[1].address, 1)


def test_overspending_raises_insufficient_balance(market, roles):
    payer = roles.members[0]
    with pytest.raises(InsufficientBalanceError) as info:
        market.cash.transfer(payer, roles.members[1].address, 1)
    assert info.value.args_by_name["needed"] == 1


def test_permit_then_transfer_from_moves_exactly_the_permitted_cash(market, roles):
    owner, spender, payee = roles.members[:3]
    market.cash.mint(roles.minter, owner.address, 1_000)
    permit = market.cash.sign_permit(owner, spender.address, 600)
    market.cash.submit_permit(permit, spender)
    assert market.cash.allowance(owner.address, spender.address) == 600
    market.cash.transfer_from(spender, owner.address, payee.address, 600)
    assert market.cash.balances([owner.address, payee.address]) == {owner.address: 400, payee.address: 600}
    assert market.cash.nonce(owner.address) == 1
