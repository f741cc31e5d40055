"""``dfmi fund``: membership, the books and k-of-n governance through action files."""

import json

import pytest

from dfmi_py.chain import dev_account
from tests.helpers import one_line_error

ALICE, BOB, CAROL = (dev_account(i) for i in (7, 8, 9))


@pytest.fixture
def members(run, deployment):
    """The fund onboarded; Alice and Bob hold cash and joined with 1,000 each; Carol holds cash."""
    assert run("compliance", "onboard", deployment.fund.address, "--dev-account", "1").exit_code == 0
    for member in (ALICE, BOB, CAROL):
        assert run("cash", "mint", member.address, "10000", "--dev-account", "4").exit_code == 0
    for index in ("7", "8"):
        result = run("fund", "join", "1000", "--dev-account", index)
        assert result.exit_code == 0, result.output
        assert "balance 1,000.000000 DSD" in result.output
        assert "GOOD_STANDING" in result.output
    return deployment


def test_status_lists_every_member_with_its_standing(run, members):
    result = run("fund", "status")
    assert result.exit_code == 0, result.output
    assert "assets 2,000.000000 DSD over 2 members" in result.output
    assert "max(1,000.000000 DSD, 20% of open IM, own minimum while trading)" in result.output
    rows = [line.split() for line in result.output.splitlines() if line.strip().startswith("0x")]
    assert [(row[0], row[1], row[2]) for row in rows] == [
        (ALICE.address, "GOOD_STANDING", "1,000.000000"),
        (BOB.address, "GOOD_STANDING", "1,000.000000"),
    ]


def test_a_withdrawal_needs_the_threshold_of_approvals(run, members, tmp_path):
    assert run("fund", "contribute", "500", "--dev-account", "7").exit_code == 0
    action = tmp_path / "action.json"
    result = run("fund", "propose", "withdraw", ALICE.address, "250", "-o", str(action))
    assert result.exit_code == 0, result.output
    assert json.loads(action.read_text())["action"]["kind"] == "WITHDRAW"
    assert run("fund", "approve", str(action), "--dev-account", "7").exit_code == 0

    line = one_line_error(run("fund", "execute", str(action), "--dev-account", "15"))
    assert "FundNotEnoughApprovals" in line
    assert "1,500.000000 DSD" in run("fund", "status").output

    assert run("fund", "approve", str(action), "--dev-account", "8").exit_code == 0
    assert len(json.loads(action.read_text())["approvals"]) == 2
    result = run("fund", "execute", str(action), "--dev-account", "15")
    assert result.exit_code == 0, result.output
    assert "executed WITHDRAW" in result.output
    assert "1,250.000000" in [
        line.split()[2] for line in run("fund", "status").output.splitlines() if ALICE.address in line
    ]

    # The same file again: its nonce is spent.
    assert "FundInvalidNonce" in one_line_error(run("fund", "execute", str(action), "--dev-account", "15"))


def test_bad_input_is_one_line_and_changes_nothing(run, members, tmp_path):
    assert "takes 2 value(s)" in one_line_error(run("fund", "propose", "withdraw", ALICE.address))
    assert "whole number" in one_line_error(run("fund", "propose", "threshold", "two"))
    broken = tmp_path / "broken.json"
    broken.write_text("{}")
    assert "not an action file" in one_line_error(run("fund", "execute", str(broken), "--dev-account", "15"))
    # The outsider was never onboarded: the registry refuses it.
    assert "ComplianceAccountNotActive" in one_line_error(run("fund", "join", "1000", "--dev-account", "15"))
    # Carol holds cash but joining with less than the floor leaves her below her requirement.
    assert "FundBelowRequirement" in one_line_error(run("fund", "join", "999", "--dev-account", "9"))
    assert "over 2 members" in run("fund", "status").output


def test_waterfalls_is_empty_before_any_default(run, members):
    result = run("fund", "waterfalls", "--json")
    assert result.exit_code == 0, result.output
    assert result.output == ""
