"""``dfmi trade``: a forward's whole life from the command line, and every command's refusals.

Each refusal is one line, exits 1 and leaves the engine and the wallets as they were.
"""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from dfmi_py.api import Market, Terms, TradeState
from dfmi_py.api.derivatives import Derivatives
from dfmi_py.chain import dev_account
from dfmi_py.cli.trade import parse_signed_units, parse_time, parties_of
from dfmi_py.errors import InputError
from tests.helpers import MAX_UINT256, leaves_unchanged, one_line_error

ALICE, BOB, CAROL, OUTSIDER, KEEPER = (dev_account(i) for i in (7, 8, 9, 15, 12))
REPORTERS = ("16", "17", "18")
USD = 10**6
PRICE = 2_000 * 10**8
QUANTITY = 5 * 10**18
IM = 1_000 * USD


# ---------------------------------------------------------------------- set-ups


@pytest.fixture
def members(request, setup_cache, deployment, roles, chain) -> Market:
    """Engine and fund onboarded; Alice, Bob and Carol hold 100,000 DSD; Alice and Bob joined the
    fund with 1,000 each (kept between tests)."""
    market = Market.from_deployment(deployment)

    def setup() -> None:
        market.compliance.onboard(roles.officer, [market.derivatives.address, market.fund.address])
        for member in (ALICE, BOB, CAROL):
            market.cash.mint(roles.minter, member.address, 100_000 * USD)
        for member in (ALICE, BOB):
            market.fund.join(member, 1_000 * USD)

    setup_cache.setup(request, setup)
    return market


@pytest.fixture
def live(request, setup_cache, members, chain) -> int:
    """Trade 1: Alice buys 5 from Bob at 2,000, maturity in a day, IM 1,000 each; both approved
    the engine without limit (kept between tests)."""

    def setup() -> int:
        for party in (ALICE, BOB):
            members.cash.approve(party, members.derivatives.address, MAX_UINT256)
        terms = Terms(ALICE.address, BOB.address, QUANTITY, PRICE, _now(chain) + 86_400, IM, IM)
        trade_id = members.derivatives.propose(ALICE, terms)
        members.derivatives.confirm(BOB, trade_id, terms)
        return trade_id

    return setup_cache.setup(request, setup)


def _now(chain) -> int:
    return int(chain.w3.eth.get_block("latest")["timestamp"])


def _advance(chain, seconds: int) -> None:
    chain.w3.provider.make_request("evm_increaseTime", [seconds])
    chain.w3.provider.make_request("evm_mine", [])


def _ok(result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def _post(run, price: str, reporters: tuple[str, ...] = REPORTERS) -> None:
    """Three dev reporters post ``price``: the open round is final (quorum 3)."""
    for reporter in reporters:
        output = _ok(run("oracle", "submit", price, "--dev-account", reporter))
    assert "is final" in output


def _engine_state(market: Market, trade_id: int):
    """Everything a refused trade command must leave alone."""
    engine = market.derivatives

    def read() -> dict[str, int]:
        info = dataclasses.asdict(engine.trade(trade_id)) if trade_id <= engine.trade_count() else {}
        state = {f"trade.{k}": int(v) for k, v in info.items() if isinstance(v, int)}
        state |= {"count": engine.trade_count(), "margin": engine.total_margin(), "im": engine.total_initial_margin()}
        for party in (ALICE, BOB, CAROL):
            state[f"wallet.{party.address}"] = market.cash.balance_of(party.address)
            state[f"margin.{party.address}"] = engine.margin_of(party.address)
        return state

    return read


def _trade_id(output: str) -> int:
    match = re.search(r"trade (\d+) proposed", output)
    assert match, output
    return int(match.group(1))


# ---------------------------------------------------------------------- a forward's life


def test_a_forward_from_proposal_to_maturity_through_the_cli_alone(run, deployment, chain):
    market = Market.from_deployment(deployment)
    _ok(run("compliance", "onboard", market.derivatives.address, market.fund.address, "--dev-account", "1"))
    for party in ("7", "8"):
        _ok(run("cash", "mint", dev_account(int(party)).address, "100000", "--dev-account", "4"))
        _ok(run("fund", "join", "1000", "--dev-account", party))
    proposed = _ok(
        run("trade", "propose", "--side", "buy", "--counterparty", BOB.address, "--quantity", "5", "--price", "2000",
            "--maturity", "+1d", "--im", "1000", "--dev-account", "7")
    )  # fmt: skip
    trade_id = _trade_id(proposed)
    assert f"{ALICE.address} buys 5 from {BOB.address} at 2,000" in proposed
    assert "IM buyer 1,000.000000 DSD, seller 1,000.000000 DSD" in proposed
    assert f"{BOB.address} confirms it with `dfmi trade confirm {trade_id}`" in proposed
    assert "your IM 1,000.000000 DSD moves at confirmation: `dfmi cash approve engine AMOUNT` first" in proposed

    # Confirmation needs both IMs approved; the CLI says who must approve before sending anything.
    line = one_line_error(run("trade", "confirm", str(trade_id), "--dev-account", "8"))
    assert f"{ALICE.address} lets the engine spend 0.000000 DSD" in line
    assert "dfmi cash approve engine" in line
    for party in ("7", "8"):
        _ok(run("cash", "approve", "engine", "--max", "--dev-account", party))
    confirmed = _ok(run("trade", "confirm", str(trade_id), "--dev-account", "8"))
    assert f"trade {trade_id} confirmed: LIVE; {ALICE.address} buys 5 from {BOB.address} at 2,000" in confirmed
    assert market.derivatives.trade(trade_id).state is TradeState.LIVE

    # Round 1 at 2,100: the seller pays 5 x 100 = 500 to the buyer's margin account.
    _post(run, "2100")
    settled = _ok(run("trade", "settle", str(trade_id), "--dev-account", "15"))
    assert "settled to round 1 at 2,100: 500.000000 DSD to the buyer" in settled
    assert market.derivatives.margin_of(ALICE.address) == 500 * USD

    # Bob revokes the engine's allowance: round 2 at 2,200 opens a margin call for 500.
    _ok(run("cash", "approve", "engine", "0", "--dev-account", "8"))
    assert "spend 0.000000 DSD" in _ok(run("cash", "allowance", BOB.address, "engine"))
    _post(run, "2200", ("18", "20", "21"))
    called = _ok(run("trade", "settle", "--all-due", "--dev-account", "15"))
    assert f"margin call: {BOB.address} owes 500.000000 DSD" in called
    shown = _ok(run("trade", "show", str(trade_id)))
    assert f"trade {trade_id} on ACME: MARGIN_CALL" in shown
    assert f"{BOB.address} owes 500.000000 DSD; cure by 20" in shown

    # Too early for a default; Bob approves again and cures.
    early = one_line_error(run("trade", "default", str(trade_id), "--dev-account", "15"))
    assert "DerivativeCurePeriodRunning" in early
    _ok(run("cash", "approve", "engine", "500", "--dev-account", "8"))
    cured = _ok(run("trade", "cure", str(trade_id), "--dev-account", "8"))
    assert f"trade {trade_id} cured: LIVE" in cured
    assert f"margin call cured: {BOB.address} paid 500.000000 DSD" in cured
    assert market.derivatives.margin_of(ALICE.address) == 1_000 * USD

    # After maturity, a round at 2,150: Alice pays back 50 x 5 = 250 and both IMs come back.
    _ok(run("cash", "approve", "engine", "--max", "--dev-account", "8"))
    assert "no final round at or after" in one_line_error(run("trade", "mature", str(trade_id), "--dev-account", "15"))
    _advance(chain, 86_400 + 60)
    _post(run, "2150", ("21", "16", "20"))
    matured = _ok(run("trade", "mature", str(trade_id), "--dev-account", "15"))
    assert "matured at round 3, price 2,150: final VM 250.000000 DSD from the buyer" in matured
    assert market.derivatives.trade(trade_id).state is TradeState.MATURED
    # Alice: 1,000 won, 250 paid back from her margin account, her IM back.
    assert market.derivatives.margin_of(ALICE.address) == 1_750 * USD
    assert market.derivatives.margin_of(BOB.address) == 1_250 * USD
    _ok(run("trade", "withdraw", "1750", "--dev-account", "7"))
    assert market.cash.balance_of(ALICE.address) == (100_000 - 1_000 - 1_000 + 1_750) * USD

    history = _ok(run("trade", "history", str(trade_id)))
    lines = history.splitlines()
    assert len(lines) == 9
    assert all(re.match(r"^20\d\d-\d\d-\d\dT\d\d:\d\d:\d\dZ  block +\d+  trade 1 ", line) for line in lines)
    assert f"margin call: {BOB.address} owes 500.000000 DSD, cure by 20" in lines[3]
    events = json.loads(_ok(run("trade", "history", str(trade_id), "--json")))
    assert [e["name"] for e in events] == [
        "TradeProposed", "TradeConfirmed", "VariationMarginSettled", "MarginCalled", "VariationMarginSettled",
        "MarginCallCured", "TradeMatured", "InitialMarginReleased", "InitialMarginReleased",
    ]  # fmt: skip
    assert events[2]["args"]["vmToBuyer"] == 500 * USD
    assert events[6]["timestamp"] >= market.derivatives.trade(trade_id).maturity


def test_a_default_after_the_cure_period_runs_the_waterfall(run, members, chain):
    market = members
    for party in ("7", "8"):
        _ok(run("cash", "approve", "engine", "--max", "--dev-account", party))
    proposed = _ok(
        run("trade", "propose", "--buyer", ALICE.address, "--seller", BOB.address, "--quantity", "5", "--price",
            "2000", "--maturity", "+7d", "--im", "500", "--dev-account", "8")
    )  # fmt: skip
    trade_id = _trade_id(proposed)
    _ok(run("trade", "confirm", str(trade_id), "--dev-account", "7"))
    _ok(run("cash", "approve", "engine", "0", "--dev-account", "8"))
    _post(run, "2300")  # Bob owes 5 x 300 = 1,500 and cannot pay
    assert "1,500.000000 DSD owed" in _ok(run("trade", "settle", str(trade_id), "--dev-account", "15"))
    assert market.derivatives.trade(trade_id).state is TradeState.MARGIN_CALL

    _advance(chain, 3_601)
    defaulted = _ok(run("trade", "default", str(trade_id), "--dev-account", "15"))
    assert f"trade {trade_id}: DEFAULTED" in defaulted
    # Bob's IM pays 500, his margin account nothing, his fund contribution the other 1,000.
    assert (
        f"default of {BOB.address}: loss 1,500.000000 DSD to {ALICE.address}, paid from IM 500.000000 DSD, "
        "margin account 0.000000 DSD, default fund 1,000.000000 DSD; unpaid claim 0.000000 DSD"
    ) in defaulted
    assert market.derivatives.margin_of(ALICE.address) == 2_000 * USD  # 1,500 won + her IM back
    waterfalls = [json.loads(line) for line in _ok(run("fund", "waterfalls", "--json")).splitlines()]
    assert [w["trade_id"] for w in waterfalls] == [trade_id]


def test_a_fund_claim_that_failed_is_retried_once_the_fund_can_pay(run, members, live, chain, deployment):
    _ok(run("cash", "approve", "engine", "0", "--dev-account", "8"))
    _post(run, "2380")  # Bob owes 5 x 380 = 1,900: his IM pays 1,000, the fund the rest
    _ok(run("trade", "settle", str(live), "--dev-account", "15"))
    _advance(chain, 3_601)
    assert "DerivativeNoPendingFundClaim" in one_line_error(
        run("trade", "retry-fund-claim", str(live), "--dev-account", "15")
    )
    _ok(run("compliance", "freeze", deployment.fund.address, "--dev-account", "1"))
    defaulted = _ok(run("trade", "default", str(live), "--dev-account", "15"))
    assert "default fund's claim failed, pending: ComplianceAccountNotActive" in defaulted
    assert "default fund's claim pending: `dfmi trade retry-fund-claim 1`" in _ok(run("trade", "show", str(live)))

    # Still frozen: the retry fails with the fund's error and changes nothing.
    with leaves_unchanged(_engine_state(members, live)):
        assert "ComplianceAccountNotActive" in one_line_error(
            run("trade", "retry-fund-claim", str(live), "--dev-account", "15")
        )
    _ok(run("compliance", "unfreeze", deployment.fund.address, "--dev-account", "1"))
    retried = _ok(run("trade", "retry-fund-claim", str(live), "--dev-account", "15"))
    assert f"default fund paid 900.000000 DSD to {ALICE.address}; unpaid claim 0.000000 DSD" in retried
    assert not members.derivatives.fund_claim_pending(live)


# ---------------------------------------------------------------------- refusals


def test_propose_refuses_bad_input_before_sending_anything(run, members):
    base = ["trade", "propose", "--quantity", "5", "--price", "2000", "--maturity", "+1d", "--im", "1000"]
    refusals = {
        "--counterparty ADDRESS": [*base, "--side", "buy", "--dev-account", "7"],
        "not both": [*base, "--side", "buy", "--counterparty", BOB.address, "--buyer", ALICE.address,
                     "--dev-account", "7"],
        "neither the buyer nor the seller": [*base, "--buyer", BOB.address, "--seller", CAROL.address,
                                              "--dev-account", "7"],
        "two accounts": [*base, "--side", "sell", "--counterparty", ALICE.address, "--dev-account", "7"],
        "--quantity 'five' is not an amount": [*base[:3], "five", *base[4:], "--side", "buy", "--counterparty",
                                               BOB.address, "--dev-account", "7"],
        "is not a time": [*base[:7], "next week", *base[8:], "--side", "buy", "--counterparty", BOB.address,
                          "--dev-account", "7"],
        "is not after the chain's time": [*base[:7], "2001-01-01T00:00:00Z", *base[8:], "--side", "buy",
                                          "--counterparty", BOB.address, "--dev-account", "7"],
        "does not fit the engine's 96 bits": [*base[:3], "80000000000", *base[4:], "--side", "buy",
                                               "--counterparty", BOB.address, "--dev-account", "7"],
        "no initial margin for the seller": [*base[:-2], "--buyer-im", "10", "--side", "buy", "--counterparty",
                                             BOB.address, "--dev-account", "7"],
        "no market 'nope'": [*base, "--side", "buy", "--counterparty", BOB.address, "--market", "nope",
                             "--dev-account", "7"],
        "ComplianceAccountNotActive": [*base, "--side", "buy", "--counterparty", BOB.address, "--dev-account",
                                       "15"],
    }  # fmt: skip
    with leaves_unchanged(_engine_state(members, 1)):
        for expected, args in refusals.items():
            assert expected in one_line_error(run(*args)), args


def test_confirm_refuses_the_wrong_party_a_missing_allowance_and_a_trade_not_proposed(run, members, live):
    proposed = _ok(
        run("trade", "propose", "--side", "sell", "--counterparty", CAROL.address, "--quantity", "1", "--price",
            "1999.5", "--maturity", "+2d", "--im", "100", "--dev-account", "8")
    )  # fmt: skip
    trade_id = _trade_id(proposed)
    assert trade_id == live + 1
    with leaves_unchanged(_engine_state(members, trade_id)):
        assert f"its counterparty {CAROL.address} confirms it" in one_line_error(
            run("trade", "confirm", str(trade_id), "--dev-account", "8")
        )
        assert f"{CAROL.address} lets the engine spend 0.000000 DSD, less than its IM 100.000000 DSD" in (
            one_line_error(run("trade", "confirm", str(trade_id), "--dev-account", "9"))
        )
        assert "trade 1 on ACME is LIVE, not PROPOSED" in one_line_error(
            run("trade", "confirm", str(live), "--dev-account", "8")
        )
        assert "no trade 99 on ACME: trades run from 1 to 2" in one_line_error(
            run("trade", "confirm", "99", "--dev-account", "8")
        )
    # Carol approves, but she is no member of the fund: the engine refuses with the fund's error.
    _ok(run("cash", "approve", "engine", "100", "--dev-account", "9"))
    with leaves_unchanged(_engine_state(members, trade_id)):
        assert "FundNotMember" in one_line_error(run("trade", "confirm", str(trade_id), "--dev-account", "9"))


def test_confirm_refuses_terms_from_a_forged_event(run, members, live, monkeypatch):
    """A node that serves a forged TradeProposed event (a better price for the proposer) cannot
    make the counterparty confirm terms the engine never held: their hash does not match."""
    proposed = _ok(
        run("trade", "propose", "--side", "buy", "--counterparty", BOB.address, "--quantity", "1", "--price",
            "2000", "--maturity", "+2d", "--im", "100", "--dev-account", "7")
    )  # fmt: skip
    trade_id = _trade_id(proposed)
    genuine = Derivatives.proposed_terms

    def forged(self, wanted: int, from_block: int = 0) -> Terms:
        return dataclasses.replace(genuine(self, wanted, from_block), contract_price=1_500 * 10**8)

    monkeypatch.setattr(Derivatives, "proposed_terms", forged)
    with leaves_unchanged(_engine_state(members, trade_id)):
        line = one_line_error(run("trade", "confirm", str(trade_id), "--dev-account", "8"))
    assert "not confirming terms the engine would not match" in line
    assert members.derivatives.trade(trade_id).state is TradeState.PROPOSED
    monkeypatch.undo()
    assert "confirmed: LIVE" in _ok(run("trade", "confirm", str(trade_id), "--dev-account", "8"))


def test_cancel_by_a_party_and_not_by_anyone_else(run, members):
    proposed = _ok(
        run("trade", "propose", "--side", "buy", "--counterparty", BOB.address, "--quantity", "1", "--price",
            "2000", "--maturity", "+2d", "--im", "100", "--dev-account", "7")
    )  # fmt: skip
    trade_id = _trade_id(proposed)
    with leaves_unchanged(_engine_state(members, trade_id)):
        assert "DerivativeNotCounterparty" in one_line_error(
            run("trade", "cancel", str(trade_id), "--dev-account", "9")
        )
    assert f"trade {trade_id} cancelled" in _ok(run("trade", "cancel", str(trade_id), "--dev-account", "8"))
    assert members.derivatives.trade(trade_id).state is TradeState.CANCELLED
    with leaves_unchanged(_engine_state(members, trade_id)):
        assert "DerivativeUnexpectedState" in one_line_error(
            run("trade", "cancel", str(trade_id), "--dev-account", "8")
        )


def test_margin_account_deposit_withdraw_and_book(run, members, live):
    with leaves_unchanged(_engine_state(members, live)):
        assert "ERC20InsufficientAllowance" in one_line_error(run("trade", "deposit", "10", "--dev-account", "9"))
        assert "DerivativeInsufficientMargin" in one_line_error(run("trade", "withdraw", "1", "--dev-account", "7"))
        assert "AMOUNT 'lots' is not an amount" in one_line_error(run("trade", "deposit", "lots", "--dev-account", "7"))
    assert "margin account 250.500000 DSD" in _ok(run("trade", "deposit", "250.5", "--dev-account", "7"))
    assert "margin account 200.000000 DSD" in _ok(run("trade", "withdraw", "50.5", "--dev-account", "7"))
    book = _ok(run("trade", "margin"))
    assert "margin accounts 200.000000 DSD, initial margin of live trades 2,000.000000 DSD" in book
    rows = {line.split()[0]: line.split() for line in book.splitlines() if line.strip().startswith("0x")}
    assert rows[ALICE.address][1:4] == ["200.000000", "DSD", "1,000.000000"]
    assert rows[BOB.address][-1] == str(live)
    data = json.loads(_ok(run("trade", "margin", ALICE.address, "--json")))
    assert data["accounts"] == [
        {"account": ALICE.address, "margin": 200 * USD, "initial_margin": IM, "debt": 0, "open_trades": [live]}
    ]


def test_settle_refusals_and_a_batch_that_skips_what_cannot_pay(run, members, live, chain):
    assert "give the trade ids to settle, or --all-due" in one_line_error(run("trade", "settle"))
    assert "not both" in one_line_error(run("trade", "settle", "1", "--all-due"))
    assert "OracleNoData" in one_line_error(run("trade", "settle", str(live), "--dev-account", "15"))
    _post(run, "2010")
    _ok(run("trade", "settle", str(live), "--dev-account", "15"))
    with leaves_unchanged(_engine_state(members, live)):
        assert "DerivativeNothingToSettle" in one_line_error(run("trade", "settle", str(live), "--dev-account", "15"))
        assert "no trade is due" in _ok(run("trade", "settle", "--all-due", "--dev-account", "15"))

    # A second trade; the cash token paused: the batch skips both (each with the reason) and exits 1.
    terms = Terms(ALICE.address, BOB.address, QUANTITY, PRICE, _now(chain) + 86_400, IM, IM)
    second = members.derivatives.propose(ALICE, terms)
    members.derivatives.confirm(BOB, second, terms)
    _post(run, "2050")
    _ok(run("cash", "pause", "--dev-account", "6"))
    with leaves_unchanged(_engine_state(members, second)):
        result = run("trade", "settle", str(live), str(second), "99", "--dev-account", "15")
    assert result.exit_code == 1
    assert "settled 0 of 3 trades" in result.output
    assert "skipped 2, not due 1" in result.output
    assert "skipped in a batch: DerivativeCashPaused()" in result.output
    assert "trade 99: not due" in result.output
    assert "Error: 2 trade(s) skipped: 1, 2" in result.output
    _ok(run("cash", "pause", "--resume", "--dev-account", "6"))
    settled = _ok(run("trade", "settle", "--all-due", "--dev-account", "15"))
    assert "settled 2 of 2 trades" in settled
    assert members.derivatives.trade(second).last_round == 2


def test_cure_and_default_refused_when_there_is_no_margin_call(run, members, live):
    with leaves_unchanged(_engine_state(members, live)):
        for command in ("cure", "default"):
            line = one_line_error(run("trade", command, str(live), "--dev-account", "8"))
            assert "DerivativeUnexpectedState" in line


def test_cure_refused_while_the_debtor_still_cannot_pay(run, members, live):
    _ok(run("cash", "approve", "engine", "0", "--dev-account", "8"))
    _post(run, "2100")
    _ok(run("trade", "settle", str(live), "--dev-account", "15"))
    with leaves_unchanged(_engine_state(members, live)):
        assert "DerivativePaymentFailed" in one_line_error(run("trade", "cure", str(live), "--dev-account", "8"))


def test_mature_refuses_a_round_that_is_not_the_maturity_round(run, members, live, chain):
    _post(run, "2000")
    _advance(chain, 86_400 + 60)
    _post(run, "2000")
    _post(run, "2000")
    with leaves_unchanged(_engine_state(members, live)):
        line = one_line_error(run("trade", "mature", str(live), "--round", "3", "--dev-account", "15"))
        assert "DerivativeNotMaturityRound" in line
        assert "DerivativeMaturityReached" in one_line_error(run("trade", "settle", str(live), "--dev-account", "15"))
    assert "matured at round 2" in _ok(run("trade", "mature", str(live), "--dev-account", "15"))
    assert "only a LIVE trade" in one_line_error(run("trade", "mature", str(live), "--dev-account", "15"))


# ---------------------------------------------------------------------- 2-of-2 changes


def test_an_amendment_signed_by_both_parties_through_a_file(run, members, live, tmp_path):
    path = tmp_path / "a.json"
    _ok(run("trade", "amendment", str(live), "--quantity", "10", "--buyer-im", "2000", "-o", str(path)))
    data = json.loads(path.read_text())
    assert data["kind"] == "amendment"
    assert data["message"]["quantity"] == 10 * 10**18
    assert data["message"]["sellerIm"] == IM

    with leaves_unchanged(_engine_state(members, live)):
        assert "lacks the signature of the buyer" in one_line_error(run("trade", "amend", str(path)))
        assert "is no party of trade 1" in one_line_error(run("trade", "sign", str(path), "--dev-account", "9"))
        signed = _ok(run("trade", "sign", str(path), "--dev-account", "7"))
        assert "(buyer) signed the amendment of trade 1: quantity 5 -> 10; buyer IM 1,000.000000 DSD" in signed
        assert "still needs the seller" in signed
        assert f"lacks the signature of the seller ({BOB.address})" in one_line_error(
            run("trade", "amend", str(path), "--dev-account", "15")
        )
        assert "holds an amendment" in one_line_error(run("trade", "terminate", str(path), "--dev-account", "15"))
    assert "ready: `dfmi trade amend" in _ok(run("trade", "sign", str(path), "--dev-account", "8"))

    # Whoever holds the signed file cannot change what it says: a payment slipped in after the
    # signatures, or the file pointed at another contract, is refused and nothing moves.
    signed_file = path.read_text()
    tampered = json.loads(signed_file)
    tampered["message"]["payment"] = 5_000 * USD
    path.write_text(json.dumps(tampered))
    with leaves_unchanged(_engine_state(members, live)):
        line = one_line_error(run("trade", "amend", str(path), "--dev-account", "15"))
    assert f"DerivativeInvalidSignature(tradeId=1, signer={ALICE.address})" in line
    tampered = json.loads(signed_file) | {"engine": members.fund.address}
    path.write_text(json.dumps(tampered))
    assert "which is not one of this deployment's" in one_line_error(run("trade", "amend", str(path)))
    path.write_text(signed_file)

    amended = _ok(run("trade", "amend", str(path), "--dev-account", "15"))
    assert "trade 1: amendment applied, LIVE" in amended
    info = members.derivatives.trade(live)
    assert (info.quantity, info.buyer_im, info.nonce) == (10 * 10**18, 2 * IM, 1)
    # The same file again: its nonce is spent.
    with leaves_unchanged(_engine_state(members, live)):
        assert "DerivativeInvalidNonce" in one_line_error(run("trade", "amend", str(path), "--dev-account", "15"))
        assert "write a new file" in one_line_error(run("trade", "sign", str(path), "--dev-account", "7"))


def test_an_early_termination_with_a_payment_from_the_seller(run, members, live, tmp_path):
    path = tmp_path / "t.json"
    assert "--quantity is zero: give an amount above zero" in one_line_error(
        run("trade", "amendment", str(live), "--quantity", "0")
    )
    _ok(run("trade", "termination", str(live), "--payment", "-250", "-o", str(path)))
    assert json.loads(path.read_text())["message"]["payment"] == -250 * USD
    for party in ("8", "7"):
        _ok(run("trade", "sign", str(path), "--dev-account", party))
    terminated = _ok(run("trade", "terminate", str(path), "--dev-account", "15"))
    assert "trade 1: termination applied, TERMINATED" in terminated
    assert "terminated (nonce 0), the seller pays 250.000000 DSD" in terminated
    assert members.derivatives.margin_of(ALICE.address) == IM + 250 * USD
    assert "only a LIVE or MARGIN_CALL trade can be terminated" in one_line_error(
        run("trade", "termination", str(live))
    )
    broken = tmp_path / "broken.json"
    broken.write_text('{"kind": "swap"}')
    assert "not an amendment or termination file" in one_line_error(run("trade", "amend", str(broken)))


# ---------------------------------------------------------------------- reads


def test_show_and_list_read_every_trade(run, members, live):
    shown = _ok(run("trade", "show", str(live)))
    assert f"trade {live} on ACME: LIVE (proposed by the buyer)" in shown
    assert f"buyer    {ALICE.address}  IM 1,000.000000 DSD" in shown
    assert "quantity 5 at 2,000; maturity 20" in shown
    assert "last settlement: not yet settled" in shown
    record = json.loads(_ok(run("trade", "show", str(live), "--json")))
    assert record["state"] == "LIVE"
    assert record["contract_price"] == PRICE
    assert record["quantity"] == QUANTITY
    assert record["cure_deadline"] == 0
    assert "no trade 99 on ACME: trades run from 1 to 1" in one_line_error(run("trade", "show", "99"))
    assert "no trade 7 on ACME" in one_line_error(run("trade", "history", "7"))
    assert "not an Ethereum address" in one_line_error(run("trade", "margin", "0xabc"))
    assert "not an Ethereum address" in one_line_error(run("trade", "list", "--party", "alice"))

    _ok(
        run("trade", "propose", "--side", "buy", "--counterparty", CAROL.address, "--quantity", "0.25", "--price",
            "1999.99", "--maturity", "+3d", "--im", "10", "--dev-account", "8")
    )  # fmt: skip
    assert [r["trade_id"] for r in json.loads(_ok(run("trade", "list", "--json")))] == [1, 2]
    assert [r["trade_id"] for r in json.loads(_ok(run("trade", "list", "--state", "proposed", "--json")))] == [2]
    assert [r["trade_id"] for r in json.loads(_ok(run("trade", "list", "--party", ALICE.address, "--json")))] == [1]
    table = _ok(run("trade", "list")).splitlines()
    assert table[2].split()[:2] == ["2", "PROPOSED"]
    assert "0.25" in table[2]
    assert "1,999.99" in table[2]


def test_engine_settings_are_shown_and_changed_by_the_admin_only(run, members):
    assert "cure period 1 h, oldest price settled on 1 h" in _ok(run("trade", "config"))
    with leaves_unchanged(lambda: {"cure": members.derivatives.cure_period()}):
        line = one_line_error(run("trade", "config", "--cure-period", "2h", "--dev-account", "7"))
        assert "AccessControlUnauthorizedAccount" in line
        assert "not a duration" in one_line_error(run("trade", "config", "--cure-period", "soon", "--dev-account", "0"))
    assert "cure period 2 h, oldest price" in _ok(run("trade", "config", "--cure-period", "2h", "--dev-account", "0"))
    assert members.derivatives.cure_period() == 7_200
    settings = json.loads(_ok(run("trade", "config", "--json")))
    assert (settings["cure_period"], settings["max_price_age"], settings["fund"]) == (
        7_200,
        3_600,
        members.fund.address,
    )


# ---------------------------------------------------------------------- parsing (pure)


def test_times_and_signed_amounts_parse_or_refuse():
    assert parse_time("+12h", 1_000) == 1_000 + 43_200
    assert parse_time("2030-06-30T12:00:00Z", 0) == parse_time("2030-06-30T12:00:00", 0) == 1_909_051_200
    assert parse_time("2030-06-30T14:00:00+02:00", 0) == 1_909_051_200
    assert parse_signed_units("-250.5", 6) == -250_500_000
    assert parse_signed_units("12", 2) == 1_200
    for bad in ("tomorrow", "+3x", "+", "+1.5h", "+-1d"):
        with pytest.raises(InputError):
            parse_time(bad, 0)


def test_parties_come_from_the_side_or_are_named():
    me, other = ALICE.address, BOB.address
    assert parties_of(me, "buy", other, None, None) == (me, other)
    assert parties_of(me, "sell", other.lower(), None, None) == (other, me)
    assert parties_of(me, None, None, other, me) == (other, me)
    with pytest.raises(InputError, match="neither the buyer nor the seller"):
        parties_of(me, None, None, other, CAROL.address)
    with pytest.raises(InputError, match=r"--side buy\|sell"):
        parties_of(me, None, other, None, None)
