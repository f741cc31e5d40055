"""``dfmi security``: the issuer issues and redeems, holders move and approve, the pauser pauses.

Each refusal is one line, exits 1 and leaves the balances, the supply and the allowances as they were.
"""

from __future__ import annotations

import json
import re

import pytest

from dfmi_py.api.security import Security
from dfmi_py.api.token import UNLIMITED
from dfmi_py.chain import dev_account
from tests.helpers import leaves_unchanged, one_line_error

ISSUER, ALICE, BOB, OUTSIDER = (dev_account(i) for i in (19, 7, 8, 15))


@pytest.fixture
def security(deployment) -> Security:
    return Security(deployment.chain, deployment.security)


@pytest.fixture
def issuer(run, security, deployment) -> Security:
    """The issuer, the settlement and the netting contracts onboarded (the base scenario leaves them out)."""
    accounts = (ISSUER.address, deployment.settlement.address, deployment.netting.address)
    assert run("compliance", "onboard", *accounts, "--dev-account", "1").exit_code == 0
    return security


def _ok(result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def _books(security: Security, deployment):
    """Supply, every balance and every allowance a refused command must leave alone."""
    spenders = (deployment.settlement.address, deployment.netting.address, BOB.address)

    def read() -> dict[str, object]:
        state: dict[str, object] = {"supply": security.total_supply(), "paused": security.paused()}
        for account in (ISSUER, ALICE, BOB, OUTSIDER):
            state[f"balance.{account.address}"] = security.balance_of(account.address)
            for spender in spenders:
                state[f"allowance.{account.address}.{spender}"] = security.allowance(account.address, spender)
        return state

    return read


def test_issue_transfer_approve_and_redeem(run, issuer, deployment):
    issued = _ok(run("security", "issue", ALICE.address, "1000", "--dev-account", "19"))
    assert f"issued 1,000 ACME30 to {ALICE.address}" in issued
    assert "supply 1,000 ACME30" in issued
    assert "moved 100 ACME30" in _ok(run("security", "transfer", ISSUER.address, "100", "--dev-account", "7"))
    assert "redeemed 40 ACME30" in _ok(run("security", "redeem", "40", "--dev-account", "19"))
    balances = json.loads(_ok(run("security", "balance", ALICE.address, ISSUER.address, "--json")))
    assert balances == {"symbol": "ACME30", "decimals": 0, "balances": {ALICE.address: 900, ISSUER.address: 60}}
    assert re.search(rf"{ALICE.address} +900 ACME30", _ok(run("security", "balance", ALICE.address)))
    assert "not an Ethereum address" in one_line_error(run("security", "balance", "0x0"))

    approved = _ok(run("security", "approve", "settlement", "--max", "--dev-account", "7"))
    assert f"lets settlement ({deployment.settlement.address}) spend unlimited" in approved
    allowance = json.loads(_ok(run("security", "allowance", ALICE.address, "settlement", "--json")))
    assert (allowance["allowance"], allowance["unlimited"]) == (UNLIMITED, True)
    _ok(run("security", "approve", "netting", "25", "--dev-account", "7"))
    assert "spend 25 ACME30" in _ok(run("security", "allowance", ALICE.address, "netting"))
    status = json.loads(_ok(run("security", "status", "--json")))
    assert (status["symbol"], status["total_supply"], status["paused"]) == ("ACME30", 960, False)


def test_issuer_commands_refused_to_others_and_to_an_issuer_not_onboarded(run, security, deployment):
    with leaves_unchanged(_books(security, deployment)):
        assert "ComplianceAccountNotActive" in one_line_error(
            run("security", "issue", ALICE.address, "10", "--dev-account", "19")
        )
        assert "AccessControlUnauthorizedAccount" in one_line_error(
            run("security", "issue", ALICE.address, "10", "--dev-account", "7")
        )
        assert "AccessControlUnauthorizedAccount" in one_line_error(
            run("security", "redeem", "1", "--dev-account", "7")
        )
        assert "AMOUNT is zero: give an amount above zero" in one_line_error(
            run("security", "redeem", "0", "--dev-account", "19")
        )
        assert "more than 0 decimal places" in one_line_error(
            run("security", "issue", ALICE.address, "1.5", "--dev-account", "19")
        )


def test_holders_refused_without_units_or_to_outsiders(run, issuer, deployment):
    _ok(run("security", "issue", ALICE.address, "10", "--dev-account", "19"))
    with leaves_unchanged(_books(issuer, deployment)):
        assert "ERC20InsufficientBalance" in one_line_error(
            run("security", "transfer", BOB.address, "11", "--dev-account", "7")
        )
        assert "ComplianceAccountNotActive" in one_line_error(
            run("security", "transfer", OUTSIDER.address, "1", "--dev-account", "7")
        )
        assert "not both" in one_line_error(
            run("security", "approve", "settlement", "5", "--max", "--dev-account", "7")
        )
        assert "unknown spender 'escrow'" in one_line_error(
            run("security", "approve", "escrow", "5", "--dev-account", "7")
        )


def test_pause_stops_every_movement_until_resumed(run, issuer, deployment):
    _ok(run("security", "issue", ALICE.address, "10", "--dev-account", "19"))
    with leaves_unchanged(_books(issuer, deployment)):
        assert "AccessControlUnauthorizedAccount" in one_line_error(run("security", "pause", "--dev-account", "7"))
    assert "security movement paused" in _ok(run("security", "pause", "--dev-account", "6"))
    assert "PAUSED" in _ok(run("security", "status"))
    with leaves_unchanged(_books(issuer, deployment)):
        assert "EnforcedPause" in one_line_error(run("security", "transfer", BOB.address, "1", "--dev-account", "7"))
    assert "security movement resumed" in _ok(run("security", "pause", "--resume", "--dev-account", "6"))
    _ok(run("security", "transfer", BOB.address, "1", "--dev-account", "7"))
    assert issuer.balance_of(BOB.address) == 1


def test_sync_copies_the_registry_status_into_the_tokens_copy(run, security, deployment):
    mirrored = security.contract.functions.mirroredStatusOf
    assert mirrored(ALICE.address).call() == 1  # pushed by the registry at onboarding
    synced = _ok(run("security", "sync", ALICE.address, OUTSIDER.address, "--dev-account", "15"))
    assert f"{ALICE.address} synced" in synced
    assert (mirrored(ALICE.address).call(), mirrored(OUTSIDER.address).call()) == (1, 0)
    assert "not an Ethereum address" in one_line_error(run("security", "sync", "0x12", "--dev-account", "15"))
