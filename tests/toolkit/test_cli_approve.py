"""``dfmi cash approve`` / ``allowance``: allowances for the market's components by name.

A refused approval is one line, exits 1 and leaves every allowance as it was.
"""

from __future__ import annotations

import json

import pytest

from dfmi_py.api import Market
from dfmi_py.api.token import UNLIMITED
from dfmi_py.chain import dev_account
from dfmi_py.cli.common import spender_address
from dfmi_py.errors import InputError
from tests.helpers import leaves_unchanged, one_line_error

ALICE, BOB = dev_account(7), dev_account(8)


@pytest.fixture
def market(deployment) -> Market:
    return Market.from_deployment(deployment)


@pytest.fixture
def onboarded(run, market) -> Market:
    """The spenders onboarded (the base scenario leaves them out): tokens refuse inactive spenders."""
    spenders = [market.derivatives.address, market.fund.address, market.settlement.address, market.netting.address]
    assert run("compliance", "onboard", *spenders, "--dev-account", "1").exit_code == 0
    return market


def _ok(result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def _allowances(market: Market):
    spenders = [market.derivatives.address, market.fund.address, market.settlement.address, market.netting.address]

    def read() -> dict[str, int]:
        return {spender: market.cash.allowance(ALICE.address, spender) for spender in spenders}

    return read


@pytest.mark.parametrize("name", ["engine", "engine:ACME", "fund", "settlement", "netting"])
def test_each_component_name_resolves_to_its_contract(market, name):
    expected = {
        "engine": market.derivatives.address,
        "engine:ACME": market.underlying("ACME").derivatives.address,
        "fund": market.fund.address,
        "settlement": market.settlement.address,
        "netting": market.netting.address,
    }[name]
    assert spender_address(market, name) == expected
    assert spender_address(market, expected.lower()) == expected


def test_unknown_names_list_the_choices(market):
    with pytest.raises(InputError, match=r"unknown spender 'vault': .*engine:NAME \(NAME: ACME\), fund"):
        spender_address(market, "vault")
    with pytest.raises(InputError, match="no market 'gold': this deployment has ACME"):
        spender_address(market, "engine:gold")


def test_approve_an_amount_then_unlimited_then_revoke(run, onboarded):
    market = onboarded
    approved = _ok(run("cash", "approve", "engine", "1250.50", "--dev-account", "7"))
    assert f"lets engine ({market.derivatives.address}) spend 1,250.500000 DSD" in approved
    assert market.cash.allowance(ALICE.address, market.derivatives.address) == 1_250_500_000
    _ok(run("cash", "approve", "fund", "--max", "--dev-account", "7"))
    assert "spend unlimited" in _ok(run("cash", "allowance", ALICE.address, "fund"))
    _ok(run("cash", "approve", market.settlement.address, "3", "--dev-account", "7"))
    data = json.loads(_ok(run("cash", "allowance", ALICE.address, "settlement", "--json")))
    assert data == {"owner": ALICE.address, "spender": market.settlement.address, "allowance": 3_000_000,
                    "unlimited": False}  # fmt: skip
    assert json.loads(_ok(run("cash", "allowance", ALICE.address, "fund", "--json")))["allowance"] == UNLIMITED
    _ok(run("cash", "approve", "engine:ACME", "0", "--dev-account", "7"))
    assert market.cash.allowance(ALICE.address, market.derivatives.address) == 0


def test_refused_approvals_change_nothing(run, onboarded):
    market = onboarded
    _ok(run("cash", "approve", "netting", "7", "--dev-account", "7"))
    with leaves_unchanged(_allowances(market)):
        assert "unknown spender 'bank'" in one_line_error(run("cash", "approve", "bank", "1", "--dev-account", "7"))
        assert "no market 'oil'" in one_line_error(run("cash", "approve", "engine:oil", "1", "--dev-account", "7"))
        assert "not both" in one_line_error(run("cash", "approve", "fund", "1", "--max", "--dev-account", "7"))
        assert "not both" in one_line_error(run("cash", "approve", "fund", "--dev-account", "7"))
        assert "AMOUNT 'all' is not an amount" in one_line_error(
            run("cash", "approve", "fund", "all", "--dev-account", "7")
        )
        assert "not an Ethereum address" in one_line_error(run("cash", "approve", "0xdead", "1", "--dev-account", "7"))
        # The outsider was never onboarded: the token refuses its approvals.
        assert "ComplianceAccountNotActive" in one_line_error(
            run("cash", "approve", "fund", "1", "--dev-account", "15")
        )
        assert "unknown spender" in one_line_error(run("cash", "allowance", ALICE.address, "treasury"))


def test_the_master_minter_removes_a_minter(run, market):
    minter = dev_account(4).address
    with leaves_unchanged(lambda: {"allowance": market.cash.minter_allowance(minter)}):
        line = one_line_error(run("cash", "remove-minter", minter, "--dev-account", "7"))
        assert "AccessControlUnauthorizedAccount" in line
    assert f"{minter} may no longer mint" in _ok(run("cash", "remove-minter", minter, "--dev-account", "3"))
    assert market.cash.minter_allowance(minter) == 0
    assert "AccessControlUnauthorizedAccount" in one_line_error(
        run("cash", "mint", ALICE.address, "1", "--dev-account", "4")
    )


def test_sync_copies_the_registry_status_into_the_cash_tokens_copy(run, market):
    mirrored = market.cash.contract.functions.mirroredStatusOf
    assert f"{BOB.address} synced" in _ok(run("cash", "sync", BOB.address, "--dev-account", "15"))
    assert mirrored(BOB.address).call() == 1
    assert "not an Ethereum address" in one_line_error(run("cash", "sync", "bob", "--dev-account", "15"))
