"""``dfmi oracle``: reporters' submissions, the reads, and the reporters' own k-of-n changes.

Each refusal is one line, exits 1 and leaves the feed as it was.
"""

from __future__ import annotations

import json
import re

import pytest

from dfmi_py.api import Market
from dfmi_py.chain import dev_account
from dfmi_py.deploy.roles import DEV_REPORTER_INDICES
from tests.helpers import leaves_unchanged, one_line_error

REPORTERS = [dev_account(i) for i in DEV_REPORTER_INDICES]


@pytest.fixture
def market(deployment) -> Market:
    return Market.from_deployment(deployment)


def _ok(result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def _feed_state(market: Market):
    """What a refused oracle command must leave alone."""
    feed = market.oracle

    def read() -> dict[str, object]:
        return {
            "open": feed.open_round(),
            "submissions": tuple(feed.submissions()),
            "nonce": feed.change_nonce(),
            "reporters": feed.reporters(),
            "config": feed.config(),
        }

    return read


def _advance(chain, seconds: int) -> None:
    chain.w3.provider.make_request("evm_increaseTime", [seconds])
    chain.w3.provider.make_request("evm_mine", [])


def test_a_round_from_the_reporters_submissions_to_the_latest_price(run, market):
    assert "no price yet: no round of ACME / USD has finalised (open round 1 has 0 of 3 reports)" in one_line_error(
        run("oracle", "latest")
    )
    first = _ok(run("oracle", "submit", "2000.5", "--dev-account", "16"))
    assert f"{REPORTERS[0].address} reported 2,000.5 for round 1" in first
    assert "round 1: 1 of 3 reports" in first
    status = _ok(run("oracle", "status"))
    assert "open round 1: COLLECTING, 1 of 3 reports" in status
    assert f"{REPORTERS[0].address}  reported" in status
    assert f"{REPORTERS[1].address}  -" in status

    # A second report by the same reporter is refused with the contract's error, decoded.
    with leaves_unchanged(_feed_state(market)):
        line = one_line_error(run("oracle", "submit", "2001", "--dev-account", "16"))
    assert f"OracleAlreadyReported(roundId=1, reporter={REPORTERS[0].address})" in line

    _ok(run("oracle", "submit", "1999", "--dev-account", "17"))
    final = _ok(run("oracle", "submit", "2002", "--dev-account", "18"))
    assert "round 1 is final: 2,000.5, the median of 3 reports" in final

    latest = _ok(run("oracle", "latest"))
    assert re.search(
        r"ACME / USD \(ACME\): 2,000\.5 at round 1, updated 20\d\d-\d\d-\d\dT[\d:]+Z \(\d+ s ago\); fresh", latest
    )
    data = json.loads(_ok(run("oracle", "latest", "--json")))
    assert (data["round_id"], data["answer"], data["stale"], data["decimals"]) == (1, 2_000_50000000, False, 8)

    rounds = json.loads(_ok(run("oracle", "rounds", "--json")))
    assert [r["round_id"] for r in rounds] == [1]
    assert [s["answer"] for s in rounds[0]["reports"]] == [2_000_50000000, 1_999_00000000, 2_002_00000000]
    assert rounds[0]["anchor_moved"]
    table = _ok(run("oracle", "rounds"))
    assert re.search(r"^\s+1\s+2,000\.5\s+3\s+20\d\d-", table, re.MULTILINE)
    assert "anchor" in table


def test_a_stale_price_says_so(run, market, chain):
    for reporter in ("16", "17", "18"):
        _ok(run("oracle", "submit", "100", "--dev-account", reporter))
    _advance(chain, 3_601)
    assert "STALE (heartbeat 1 h)" in _ok(run("oracle", "latest"))
    assert json.loads(_ok(run("oracle", "latest", "--json")))["stale"] is True


def test_submissions_refused_before_and_by_the_oracle(run, market):
    with leaves_unchanged(_feed_state(market)):
        assert "OracleNotReporter" in one_line_error(run("oracle", "submit", "2000", "--dev-account", "7"))
        assert "a price must be positive" in one_line_error(run("oracle", "submit", "0", "--dev-account", "16"))
        assert "PRICE 'high' is not an amount" in one_line_error(run("oracle", "submit", "high", "--dev-account", "16"))
        assert "more than 8 decimal places" in one_line_error(
            run("oracle", "submit", "1.000000001", "--dev-account", "16")
        )
        assert "OracleAnswerOutOfBounds" in one_line_error(
            run("oracle", "submit", "99999999999", "--dev-account", "16")
        )
        assert "OracleWrongRound(expected=1, given=4)" in one_line_error(
            run("oracle", "submit", "2000", "--round", "4", "--dev-account", "16")
        )
        assert "no market 'fx'" in one_line_error(
            run("oracle", "submit", "2000", "--market", "fx", "--dev-account", "16")
        )


def test_a_change_of_settings_proposed_approved_and_applied(run, market):
    status = json.loads(_ok(run("oracle", "status", "--json")))
    assert status["config"]["quorum"] == 3
    assert status["config"]["jump_quorum"] == 4
    assert list(status["reporters"]) == [r.address for r in REPORTERS]

    with leaves_unchanged(_feed_state(market)):
        assert "nothing to change" in one_line_error(run("oracle", "propose-change", "--dev-account", "16"))
        assert "OracleNotReporter" in one_line_error(
            run("oracle", "propose-change", "--heartbeat", "7200", "--dev-account", "7")
        )
        assert "OracleQuorumEven" in one_line_error(
            run("oracle", "propose-change", "--quorum", "4", "--dev-account", "16")
        )
        assert "not a change id" in one_line_error(run("oracle", "approve-change", "0x1234", "--dev-account", "17"))
        assert "OracleChangeUnknown" in one_line_error(run("oracle", "show-change", "0x" + "ab" * 32))
        assert "OracleChangeUnknown" in one_line_error(
            run("oracle", "approve-change", "0x" + "ab" * 32, "--dev-account", "17")
        )

    proposed = _ok(
        run("oracle", "propose-change", "--heartbeat", "7200", "--max-answer", "50000", "--dev-account", "16")
    )
    change_id = re.search(r"proposed change (0x[0-9a-f]{64})", proposed).group(1)
    assert "heartbeat: 3600 -> 7200" in proposed
    assert "max_answer: 10,000,000,000 -> 50,000" in proposed
    assert "1 of 4 approvals" in proposed
    shown = json.loads(_ok(run("oracle", "show-change", change_id, "--json")))
    assert (shown["approvals"], shown["required"], shown["stale"]) == (1, 4, False)
    assert shown["config"]["heartbeat"] == 7_200

    with leaves_unchanged(_feed_state(market)):
        assert "OracleChangeAlreadyApproved" in one_line_error(
            run("oracle", "approve-change", change_id, "--dev-account", "16")
        )
    assert "2 of 4 approvals" in _ok(run("oracle", "approve-change", change_id, "--dev-account", "17"))
    assert "3 of 4 approvals" in _ok(run("oracle", "approve-change", change_id, "--dev-account", "18"))
    applied = _ok(run("oracle", "approve-change", change_id, "--dev-account", "20"))
    assert "applied: change nonce now 1" in applied
    assert market.oracle.config().heartbeat == 7_200
    assert market.oracle.config().max_answer == 50_000 * 10**8
    assert "STALE: another change was applied since" in _ok(run("oracle", "show-change", change_id))
    assert "OracleChangeStale" in one_line_error(run("oracle", "approve-change", change_id, "--dev-account", "21"))


def test_a_change_of_reporters_lists_who_comes_and_goes(run, market):
    newcomer = dev_account(13).address
    reporters = ",".join([*(r.address for r in REPORTERS[:4]), newcomer])
    proposed = _ok(run("oracle", "propose-change", "--reporters", reporters, "--dev-account", "17"))
    assert f"reporters: 5 (added {newcomer}; removed {REPORTERS[4].address})" in proposed
    assert "not an Ethereum address" in one_line_error(
        run("oracle", "propose-change", "--reporters", "0x12,0x34", "--dev-account", "17")
    )


def test_a_jump_waits_for_the_jump_quorum_and_says_so(run, market):
    for reporter in ("16", "17", "18"):
        _ok(run("oracle", "submit", "2000", "--dev-account", reporter))
    for reporter in ("16", "17"):
        _ok(run("oracle", "submit", "2600", "--dev-account", reporter))
    jumped = _ok(run("oracle", "submit", "2600", "--dev-account", "18"))
    assert "the median 2,600 is more than 20% from the anchor 2,000: the round waits for 4 reports" in jumped
    assert "open round 2: AWAITING_CONFIRMATION, 3 of 4 reports" in _ok(run("oracle", "status"))
    assert "round 2 is final: 2,600, the median of 4 reports" in _ok(
        run("oracle", "submit", "2600", "--dev-account", "20")
    )
    rounds = json.loads(_ok(run("oracle", "rounds", "--last", "1", "--json")))
    assert [(r["round_id"], r["jump_detected"], r["anchor_moved"]) for r in rounds] == [(2, True, True)]
