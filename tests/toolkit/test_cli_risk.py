"""``dfmi risk`` and ``dfmi trade propose --im model`` on the scenario of test_risk_api (rounds at
2,000, 2,100, 1,700 an hour apart; trade 1: Alice buys 5 from Bob at 2,000, IM 1,000 each).

Each refusal is one line and exits 1.
"""

from __future__ import annotations

import json
import re

from dfmi_py.api import TradeState
from tests.helpers import one_line_error
from tests.toolkit import test_risk_api
from tests.toolkit.test_risk_api import ALICE, BOB, E8, HOUR, KEEPER, USD

#: The same scenario as the API's tests (the same fixture, so the same cached set-up).
scenario = test_risk_api.scenario

HISTORICAL_90_VAR = ("--confidence", "0.9", "--measure", "var", "--mpor", "1h")


def _ok(result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def _json(result) -> dict:
    return json.loads(_ok(result))


def test_risk_im_schedule_is_six_percent_of_the_fx_notional(scenario, run):
    output = _ok(run("risk", "im", "--quantity", "5", "--price", "2000", "--model", "schedule"))
    assert "notional 10,000.000000 DSD" in output
    assert "buyer IM  600.000000 DSD" in output
    assert "seller IM 600.000000 DSD" in output


def test_risk_im_of_a_trade_from_the_oracles_rounds(scenario, run):
    data = _json(run("risk", "im", "--trade", "1", *HISTORICAL_90_VAR, "--json"))
    # Windows 2,000 -> 2,100 and 2,100 -> 1,700; 5 units at 2,000: the buyer loses
    # 10,000 - 5 * 1,619.04761904 = 1,904.761905, the seller 5 * 100 = 500.
    assert (data["buyer_im"], data["seller_im"], data["scenarios"]) == (1_904_761_905, 500 * USD, 2)
    assert (data["held_buyer_im"], data["held_seller_im"], data["history"]) == (1_000 * USD, 1_000 * USD, "oracle")


def test_risk_im_of_a_trade_takes_its_amended_terms(scenario, run):
    """Amended to 10 units with 1,500 of IM each, trade 1 is priced on those: the schedule's 6% of
    10 x 2,000 = 1,200 a side, against the 1,500 now held."""
    deadline = scenario.chain.now() + HOUR
    amendment = scenario.derivatives.amendment(
        1, quantity=10 * 10**18, buyer_im=1_500 * USD, seller_im=1_500 * USD, deadline=deadline
    )
    signatures = [scenario.derivatives.sign_amendment(party, amendment) for party in (ALICE, BOB)]
    scenario.derivatives.amend(KEEPER, amendment, *signatures)
    terms = scenario.risk.current_terms(1)
    assert (terms.quantity, terms.contract_price, terms.buyer_im, terms.seller_im) == (
        10 * 10**18,
        2_000 * E8,
        1_500 * USD,
        1_500 * USD,
    )
    data = _json(run("risk", "im", "--trade", "1", "--model", "schedule", "--json"))
    assert (data["quantity"], data["notional"], data["buyer_im"], data["seller_im"]) == (
        10 * 10**18,
        20_000 * USD,
        1_200 * USD,
        1_200 * USD,
    )
    assert (data["held_buyer_im"], data["held_seller_im"]) == (1_500 * USD, 1_500 * USD)


def test_risk_im_from_a_series_file(scenario, run, tmp_path):
    series = tmp_path / "prices.csv"
    series.write_text("time,price\n0,100\n3600,110\n1970-01-01T02:00:00Z,99\n")
    data = _json(
        run("risk", "im", "--quantity", "1", "--price", "100", *HISTORICAL_90_VAR, "--series", str(series), "--json")
    )
    # 100 -> 110 and 110 -> 99 (x 0.9): each side's worst hourly loss on 1 unit at 100 is 10.
    assert (data["buyer_im"], data["seller_im"], data["history"]) == (10 * USD, 10 * USD, "series")


def test_risk_im_adds_a_stressed_period_to_the_lookback(scenario, run, tmp_path):
    """A crash (100 -> 50) in the first hours, calm (100 -> 101 -> 100) a day later. With a 2 h
    look-back the buyer's worst hourly loss on 1 unit at 100 is 0.990100 (101 -> 100 moves 100 to
    99.00990099, the loss rounded up to the cent's ten-thousandth);
    the stressed period's 2 windows join the look-back's 2 and the 90% VaR (k = ceil(0.9 x 4) = 4,
    the worst) becomes the crash's 50. The seller's worst stays the rise's 1."""
    series = tmp_path / "prices.csv"
    start = 1_583_020_800  # 2020-03-01T00:00:00Z
    rows = [(0, 100), (HOUR, 50), (2 * HOUR, 50), (24 * HOUR, 100), (25 * HOUR, 101), (26 * HOUR, 100)]
    series.write_text("time,price\n" + "".join(f"{start + t},{p}\n" for t, p in rows))
    base = ("risk", "im", "--quantity", "1", "--price", "100", *HISTORICAL_90_VAR, "--lookback", "2h",
            "--series", str(series), "--json")  # fmt: skip
    calm = _json(run(*base))
    assert (calm["buyer_im"], calm["seller_im"], calm["scenarios"], calm["stressed"]) == (990_100, USD, 2, None)
    stressed = _json(run(*base, "--stressed", f"2020-03-01..{start + 2 * HOUR}"))
    assert (stressed["buyer_im"], stressed["seller_im"], stressed["scenarios"]) == (50 * USD, USD, 4)
    assert stressed["stressed"] == {"from": start, "to": start + 2 * HOUR, "prices": 3}
    output = _ok(run(*base[:-1], "--stressed", "2020-03-01T00:00:00+00:00..2020-03-01T02:00:00Z"))
    assert "stressed period 2020-03-01T00:00:00Z .. 2020-03-01T02:00:00Z (3 prices) added to the look-back" in output


def test_trade_propose_im_model_takes_the_stressed_period(scenario, run, tmp_path):
    """The stressed period reaches the IMs a proposal carries: a 20% fall in it, none in the look-back."""
    series = tmp_path / "prices.csv"
    start = 1_583_020_800  # 2020-03-01T00:00:00Z
    rows = [(0, 2_000), (HOUR, 1_600), (24 * HOUR, 2_000), (25 * HOUR, 2_000)]
    series.write_text("time,price\n" + "".join(f"{start + t},{p}\n" for t, p in rows))
    proposed = _ok(
        run("trade", "propose", "--side", "buy", "--counterparty", BOB.address, "--quantity", "5", "--price", "2000",
            "--maturity", "+30d", "--im", "model", *HISTORICAL_90_VAR, "--lookback", "1h", "--series", str(series),
            "--stressed", f"{start}..{start + HOUR}", "--dev-account", "7")
    )  # fmt: skip
    trade_id = int(re.search(r"trade (\d+) proposed", proposed).group(1))
    terms = scenario.derivatives.proposed_terms(trade_id)
    # Buyer: 5 x (2,000 - 1,600) = 2,000 from the stressed window; seller: the flat look-back's 0.
    assert (terms.buyer_im, terms.seller_im) == (2_000 * USD, 0)


def test_stressed_refusals_are_one_line(scenario, run):
    im = ("risk", "im", "--quantity", "5", "--price", "2000")
    assert "give FROM..TO" in one_line_error(run(*im, "--stressed", "2020-03-01"))
    assert "ends before it starts" in one_line_error(run(*im, "--stressed", "2020-04-30..2020-03-01"))
    assert "'someday' is not a time" in one_line_error(run(*im, "--stressed", "someday..2020-03-01"))
    # The oracle's rounds are from the chain's clock: nothing in 2020, so no window would be added.
    line = one_line_error(run(*im, "--stressed", "2020-03-01..2020-04-30"))
    assert "0 price(s) of the history fall in that period" in line
    line = one_line_error(run(*im, "--model", "schedule", "--stressed", "0..7200"))
    assert "--stressed is a setting of the historical model" in line
    assert "drop --stressed" in one_line_error(run("risk", "regimes", "--stressed", "0..7200"))


def test_risk_im_refusals_are_one_line(scenario, run, tmp_path):
    assert "give --trade ID, or both --quantity and --price" in one_line_error(run("risk", "im", "--quantity", "5"))
    line = one_line_error(run("risk", "im", "--trade", "1", "--price", "2000"))
    assert "not both" in line
    line = one_line_error(run("risk", "im", "--quantity", "5", "--price", "2000", "--mpor", "10h"))
    assert "no scenarios: the history is shorter than the horizon" in line
    line = one_line_error(run("risk", "im", "--quantity", "5", "--price", "2000", "--confidence", "1"))
    assert "confidence must be strictly between 0 and 1" in line
    bad = tmp_path / "bad.csv"
    bad.write_text("time,price\n0,100\nyesterday,110\n")
    line = one_line_error(run("risk", "im", "--quantity", "1", "--price", "100", "--series", str(bad)))
    assert f"{bad}:3: 'yesterday' is not a time" in line
    line = one_line_error(run("risk", "im", "--trade", "9", "--model", "schedule"))
    assert "no trade 9 was proposed" in line


def test_risk_backtest_counts_the_breach(scenario, run):
    data = _json(run("risk", "backtest", "--mpor", "1h", "--json"))
    assert (data["total"]["observations"], data["total"]["breaches"], data["total"]["rejected"]) == (6, 1, True)
    members = {row["key"]: row for row in data["by_member"]}
    assert (members[ALICE.address]["breaches"], members[ALICE.address]["worst_excess"]) == (1, 1_000 * USD)
    assert members[BOB.address]["breaches"] == 0
    output = _ok(run("risk", "backtest", "--mpor", "1h"))
    assert "1 breaches in 6 side-windows" in output
    assert "rejects the model's coverage at 0.05" in output


def test_risk_fund_with_hypothetical_shocks(scenario, run):
    name = next(iter(scenario.markets))
    args = ("risk", "fund", "--shock", f"{name}=-2000", "--shock", f"{name.lower()}=1000")
    data = _json(run(*args, "--json"))
    assert (data["cover1"], data["cover2"], data["fund_total_assets"]) == (700 * USD, 700 * USD, 2_000 * USD)
    shares = {row["member"]: row["contribution"] for row in data["members"]}
    assert shares == {ALICE.address: 700 * USD, BOB.address: 0}
    output = _ok(run(*args))
    assert "cover-2 700.000000 DSD (covered)" in output


def test_risk_fund_shocks_without_a_market_move_every_traded_market(scenario, run):
    """The same figures as the named shocks (one market here), under a scenario of every market."""
    data = _json(run("risk", "fund", "--shock", "-2000", "--shock", "1000", "--no-historical", "--json"))
    assert (data["cover1"], data["cover2"]) == (700 * USD, 700 * USD)
    rows = {row["member"]: (row["contribution"], row["scenario"]) for row in data["members"]}
    assert rows[ALICE.address] == (700 * USD, "every market -2000bps")
    assert "> -10000 bps" in one_line_error(run("risk", "fund", "--shock", "-10000"))
    assert "give MARKET=BPS" in one_line_error(run("risk", "fund", "--shock", "=100"))


def test_risk_fund_propose_writes_the_action_members_approve_and_execute(scenario, run, tmp_path):
    """A 50% fall costs Alice 5 x 850 = 4,250 against her 1,000 IM: 3,250 uncovered, her whole
    suggested contribution (Bob loses 850 < 1,000 on a 10% rise: nothing). Adopted, it becomes her
    requirement (above the 1,000 floor) while her trade is open."""
    name = next(iter(scenario.markets))
    action = tmp_path / "contributions.json"
    result = run("risk", "fund", "--shock", f"{name}=-5000", "--shock", f"{name}=1000", "--no-historical",
                 "--propose", str(action), "--json")  # fmt: skip
    data = _json(result)
    assert {row["member"]: row["contribution"] for row in data["members"]} == {
        ALICE.address: 3_250 * USD,
        BOB.address: 0,
    }
    assert (data["proposal"]["file"], data["proposal"]["nonce"], data["proposal"]["approvals_needed"]) == (
        str(action),
        0,
        2,
    )
    written = json.loads(action.read_text())
    assert (written["action"]["kind"], written["approvals"]) == ("SET_MEMBER_REQUIREMENTS", [])
    assert scenario.fund.member_requirement_of(ALICE.address) == 0

    for index in ("7", "8"):
        assert "SET_MEMBER_REQUIREMENTS(" in _ok(run("fund", "approve", str(action), "--dev-account", index))
    output = _ok(run("fund", "execute", str(action), "--dev-account", "15"))
    assert f"{ALICE.address}=3,250.000000 DSD" in output
    members = {m["member"]: m for m in _json(run("fund", "status", "--json"))["members"]}
    assert (members[ALICE.address]["member_requirement"], members[ALICE.address]["requirement"]) == (
        3_250 * USD,
        3_250 * USD,
    )
    assert members[ALICE.address]["status"] == "BELOW_REQUIREMENT"
    assert (members[BOB.address]["member_requirement"], members[BOB.address]["requirement"]) == (0, 1_000 * USD)
    # Executed once: the file's nonce is spent.
    assert "FundInvalidNonce" in one_line_error(run("fund", "execute", str(action), "--dev-account", "15"))


def test_fund_propose_member_requirements_from_the_command_line(scenario, run, tmp_path):
    action = tmp_path / "action.json"
    result = run("fund", "propose", "member-requirements", f"{BOB.address}=1500", f"{ALICE.address}=2000.5",
                 "-o", str(action))  # fmt: skip
    _ok(result)
    low, high = sorted([ALICE.address, BOB.address], key=lambda a: int(a, 16))
    amounts = {ALICE.address: "2,000.500000 DSD", BOB.address: "1,500.000000 DSD"}
    assert f"SET_MEMBER_REQUIREMENTS({low}={amounts[low]}, {high}={amounts[high]})" in result.output
    assert "needs 2 approvals" in result.output
    for line, text in (
        (("member-requirements",), "one or more MEMBER=AMOUNT"),
        (("member-requirements", ALICE.address), "give MEMBER=AMOUNT"),
        (("member-requirements", f"{ALICE.address}=1", f"{ALICE.address.lower()}=2"), "given twice"),
        (("member-requirements", f"{KEEPER.address}=1"), "not members of the fund"),
    ):
        assert text in one_line_error(run("fund", "propose", *line))


def test_risk_fund_refusals_are_one_line(scenario, run):
    assert "give MARKET=BPS" in one_line_error(run("risk", "fund", "--shock", "20%"))
    assert "no market 'NOPE'" in one_line_error(run("risk", "fund", "--shock", "NOPE=-100"))
    assert "> -10000 bps" in one_line_error(run("risk", "fund", "--shock", f"{next(iter(scenario.markets))}=-10000"))


def test_risk_regimes_table(scenario, run):
    data = _json(
        run("risk", "regimes", "--regime", "every round=1h", "--regime", "two-hourly=2h", *HISTORICAL_90_VAR, "--json")
    )
    rows = data["regimes"]
    assert [r["mpor_s"] for r in rows] == [HOUR, 2 * HOUR]
    assert [r["im"] for r in rows] == [1_619_047_620 + 425 * USD, 1_275 * USD]
    output = _ok(run("risk", "regimes", "--regime", "every round=1h", *HISTORICAL_90_VAR))
    assert "every round" in output


def test_risk_regimes_refusals_are_one_line(scenario, run):
    assert "drop --model schedule" in one_line_error(run("risk", "regimes", "--model", "schedule"))
    assert "give NAME=EVERY" in one_line_error(run("risk", "regimes", "--regime", "daily"))
    # The default regimes need days of history; two hours of rounds give no scenario.
    assert "no scenarios" in one_line_error(run("risk", "regimes"))


def test_trade_propose_im_model_both_parties_sign_the_same_terms(scenario, run):
    proposed = _ok(
        run("trade", "propose", "--side", "buy", "--counterparty", BOB.address, "--quantity", "5", "--price", "2000",
            "--maturity", "+30d", "--im", "model", "--model", "schedule", "--dev-account", "7")
    )  # fmt: skip
    trade_id = int(re.search(r"trade (\d+) proposed", proposed).group(1))
    assert "IMs from the model: schedule (fx, 0.0821918 years)" in proposed
    assert "IM buyer 600.000000 DSD, seller 600.000000 DSD" in proposed
    terms = scenario.derivatives.proposed_terms(trade_id)
    assert (terms.buyer_im, terms.seller_im) == (600 * USD, 600 * USD)
    _ok(run("trade", "confirm", str(trade_id), "--dev-account", "8"))
    info = scenario.derivatives.trade(trade_id)
    assert (info.state, info.buyer_im, info.seller_im) == (TradeState.LIVE, 600 * USD, 600 * USD)


def test_trade_propose_im_model_refuses_explicit_ims(scenario, run):
    line = one_line_error(
        run("trade", "propose", "--side", "buy", "--counterparty", BOB.address, "--quantity", "5", "--price", "2000",
            "--maturity", "+30d", "--im", "model", "--buyer-im", "10", "--dev-account", "7")
    )  # fmt: skip
    assert "drop --buyer-im / --seller-im" in line
    assert scenario.derivatives.trade_count() == 1


def test_api_terms_from_model(scenario):
    from dfmi_py.api.risk import ScheduleModel
    from dfmi_py.risk import AssetClass

    terms = scenario.risk.terms_from_model(
        ALICE.address, BOB.address, 5 * 10**18, 2_000 * E8, 2**40 - 1, ScheduleModel(AssetClass.EQUITY)
    )
    assert (terms.buyer_im, terms.seller_im) == (1_500 * USD, 1_500 * USD)
