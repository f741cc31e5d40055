"""What the existing reads print for a person (ISO times with ages, amounts with separators and
symbol, enum and role names) and for a script (``--json``: raw integers, enum names), and the
progress of long steps on stderr."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from eth_account.signers.local import LocalAccount

from dfmi_py.api import Market, Terms
from dfmi_py.chain import Chain, dev_account
from dfmi_py.cli.main import cli
from dfmi_py.deploy.roles import DEV_REPORTER_INDICES, DEV_ROLE_INDEX
from dfmi_py.deploy.suite import Deployment
from dfmi_py.display import iso
from dfmi_py.paths import PROJECT_ROOT
from tests.helpers import CliRun, Roles, one_line_error

USD = 10**6
ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def as_json(result: Result) -> Any:
    return json.loads(ok(result))


def now(chain: Chain) -> int:
    return int(chain.w3.eth.get_block("latest")["timestamp"])


def advance(chain: Chain, seconds: int) -> None:
    chain.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def post_price(market: Market, price: int) -> int:
    """Every reporter posts ``price`` until the open round is final; its round id."""
    round_id = market.oracle.open_round()
    for index in DEV_REPORTER_INDICES:
        if market.oracle.open_round() != round_id:
            break
        market.oracle.submit(dev_account(index), price)
    return round_id


# ====================================================================== status, compliance, cash


def test_status_shows_each_market_price_with_its_age(run: CliRun, deployment: Deployment, chain: Chain) -> None:
    assert "market ACME: ACME / USD, no price yet" in ok(run("status"))
    assert as_json(run("status", "--json"))["markets"]["ACME"]["latest"] is None

    round_id = post_price(Market.from_deployment(deployment), 123_456 * 10**8 + 5)
    advance(chain, 125)

    text = ok(run("status"))
    assert re.search(
        rf"market ACME: ACME / USD, 123,456\.00000005 \(round {round_id}, {ISO} \(2 min \d+ s ago\)\)", text
    ), text
    assert "cash: DSD, supply 0.000000 DSD, moving" in text
    data = as_json(run("status", "--json"))
    latest = data["markets"]["ACME"]["latest"]
    assert (latest["round_id"], latest["answer"]) == (round_id, 123_456 * 10**8 + 5)
    assert data["time"] - latest["updated_at"] >= 125
    assert data["cash"] == {"symbol": "DSD", "decimals": 6, "total_supply": 0, "paused": False}
    assert data["contracts"]["CashToken"]["address"] == deployment.cash.address
    assert data["markets"]["ACME"]["engine"] == deployment.engine.address


def test_compliance_status_by_name_in_text_and_json(run: CliRun, roles: Roles) -> None:
    member, outsider = roles.members[0].address, roles.outsider.address
    assert ok(run("compliance", "status", member.lower(), outsider)).splitlines() == [
        f"{member}  ACTIVE",
        f"{outsider}  NONE",
    ]
    assert as_json(run("compliance", "status", member, outsider, "--json")) == [
        {"account": member, "status": "ACTIVE"},
        {"account": outsider, "status": "NONE"},
    ]
    line = ok(run("compliance", "freeze", member, "--dev-account", "1"))
    assert re.fullmatch(rf"freeze {member}: FROZEN \(gas \d{{1,3}}(,\d{{3}})*\)\n", line), line


def test_cash_amounts_with_separators_and_symbol_in_text_raw_in_json(run: CliRun, roles: Roles) -> None:
    member = roles.members[0].address
    line = ok(run("cash", "mint", member, "1234567.5", "--dev-account", "4"))
    assert re.fullmatch(rf"minted 1,234,567\.500000 DSD to {member} \(gas \d+,\d{{3}}\)\n", line), line
    assert ok(run("cash", "balance", member)).split() == [member, "1,234,567.500000", "DSD"]
    assert as_json(run("cash", "balance", member, "--json")) == {
        "symbol": "DSD",
        "decimals": 6,
        "balances": {member: 1_234_567_500_000},
    }


# ====================================================================== dvp


@pytest.fixture
def seller_and_buyer(chain: Chain, deployment: Deployment, roles: Roles) -> tuple[LocalAccount, LocalAccount]:
    """A seller with 100 shares and a buyer with 10,000 cash, both approving the settlement contract."""
    seller, buyer = roles.members[:2]
    registry, security, cash = deployment.registry, deployment.security, deployment.cash
    issuer = dev_account(DEV_ROLE_INDEX["issuer"])
    for account in (issuer.address, deployment.settlement.address):
        if registry.functions.statusOf(account).call() == 0:
            chain.transact(registry.functions.onboard(account), roles.officer)
    chain.transact(security.functions.issue(seller.address, 100), issuer)
    chain.transact(cash.functions.mint(buyer.address, 10_000 * USD), roles.minter)
    chain.transact(security.functions.approve(deployment.settlement.address, 100), seller)
    chain.transact(cash.functions.approve(deployment.settlement.address, 10_000 * USD), buyer)
    return seller, buyer


def test_dvp_status_and_history_with_times_in_text_and_json(
    run: CliRun, chain: Chain, tmp_path: Path, seller_and_buyer: tuple[LocalAccount, LocalAccount]
) -> None:
    seller, buyer = seller_and_buyer
    trade, broke = tmp_path / "trade.json", tmp_path / "broke.json"
    ok(run("dvp", "new", seller.address, "40", buyer.address, "4321.5", "--deadline-in", "7200", "-o", str(trade)))
    ok(run("dvp", "new", seller.address, "40", buyer.address, "99999", "--nonce", "1", "-o", str(broke)))
    for path in (trade, broke):
        for index in ("7", "8"):
            ok(run("dvp", "sign", str(path), "--dev-account", index))
    deadline = json.loads(trade.read_text())["instruction"]["deadline"]

    text = ok(run("dvp", "status", str(trade)))
    assert f"deadline {iso(deadline)} (in 2 h)" in text or f"deadline {iso(deadline)} (in 1 h 59 min)" in text
    assert f"{seller.address} delivers 40 ACME30; {buyer.address} delivers 4,321.500000 DSD" in text
    assert "PENDING" in text.splitlines()[0]

    settled = ok(run("dvp", "settle", str(trade), "--dev-account", "15"))
    assert settled.endswith(": settled\n")
    line = one_line_error(run("dvp", "settle", str(broke), "--dev-account", "15"))
    assert "ERC20InsufficientAllowance(spender=" in line
    assert "allowance=5,678,500,000, needed=99,999,000,000)" in line, "raw units with separators"

    [row] = as_json(run("dvp", "status", str(trade), "--json"))
    assert (row["state"], row["instruction"]["amount_b"], row["instruction"]["deadline"]) == (
        "SETTLED",
        4_321_500_000,
        deadline,
    )
    history = ok(run("dvp", "history")).splitlines()
    assert re.fullmatch(rf"block +\d+  {ISO}  settled +0x[0-9a-f]{{64}}  ", history[-1]), history
    [event] = as_json(run("dvp", "history", "--json"))
    assert (event["kind"], event["amount_b"], event["error"]) == ("settled", 4_321_500_000, None)
    assert event["time"] >= now(chain) - 60


# ====================================================================== net


@pytest.fixture
def net_run(run: CliRun, deployment: Deployment) -> CliRun:
    """The netting contract onboarded; members 7, 8, 9 hold 1,000 cash each."""
    ok(run("compliance", "onboard", deployment.netting.address, "--dev-account", "1"))
    for index in (7, 8, 9):
        ok(run("cash", "mint", dev_account(index).address, "1000", "--dev-account", "4"))
    return run


def test_net_show_and_rounds_in_text_and_json(net_run: CliRun, tmp_path: Path) -> None:
    run = net_run
    p1, p2 = dev_account(7).address, dev_account(8).address
    opened = ok(run("net", "open", "--dev-account", "7"))
    assert re.fullmatch(rf"round 1: obligations until {ISO} \(in 1 h\), funding until {ISO} \(in 2 h\)\n", opened)
    path = tmp_path / "o.json"
    ok(run("net", "new", "1", p1, p2, "1234.5", "-o", str(path)))
    for index in ("7", "8"):
        ok(run("net", "sign", str(path), "--dev-account", index))
    ok(run("net", "register", str(path), "--dev-account", "15"))

    # A refusal names the states, not their numbers.
    line = one_line_error(run("net", "submit", "1", "--dev-account", "15"))
    assert "NettingInvalidState(roundId=1, expected=CLOSED, actual=COLLECTING)" in line

    text = ok(run("net", "show", "1"))
    assert re.match(rf"round 1: COLLECTING, obligations until {ISO} \(in (1 h|\d+ min \d+ s)\), funding until", text)
    assert re.search(rf"^{p1}  net +-1,234\.500000 DSD  funded +0\.000000 DSD$", text, re.MULTILINE), text
    assert (
        "1 obligations (0 of them DvP cash legs); gross 1,234.500000 DSD, net 1,234.500000 DSD: 0.0% compressed" in text
    )
    shown = as_json(run("net", "show", "1", "--json"))
    assert (shown["round"]["state"], shown["round"]["gross_value"], shown["symbol"]) == (
        "COLLECTING",
        1_234_500_000,
        "DSD",
    )
    assert {p["member"]: p["net"] for p in shown["positions"]} == {p1: -1_234_500_000, p2: 1_234_500_000}

    assert ok(run("net", "rounds")).split() == [
        "round", "1", "COLLECTING", "members", "2", "gross", "1,234.500000", "DSD", "net", "1,234.500000", "DSD",
        "0.0%", "compressed",
    ]  # fmt: skip
    rounds = as_json(run("net", "rounds", "--json"))
    assert [(r["round_id"], r["state"], r["net_value"]) for r in rounds["rounds"]] == [(1, "COLLECTING", 1_234_500_000)]


def test_net_compute_in_json(tmp_path: Path) -> None:
    p1, p2, p3 = (dev_account(i).address for i in (7, 8, 9))
    csv_file = tmp_path / "obligations.csv"
    csv_file.write_text(f"payer,payee,amount\n{p1},{p2},40\n{p1},{p3},50\n{p3},{p2},60\n")
    run = CliRunner()
    data = as_json(run.invoke(cli, ["net", "compute", str(csv_file), "--json", "--exclude", p3]))
    assert data == {
        "decimals": 6,
        "nets": {p1: -40 * USD, p2: 40 * USD, p3: 0},
        "excluded": [p3],
        "gross": 40 * USD,
        "net": 40 * USD,
        "compression": 0.0,
        "credit_losses": {p2: 60 * USD},
    }


# ====================================================================== fund


@pytest.fixture
def defaulted(deployment: Deployment, roles: Roles, chain: Chain) -> tuple[Market, LocalAccount, LocalAccount]:
    """A default whose loss (150) exceeds the defaulter's IM (100): the fund pays 50 from the
    defaulter's own contribution."""
    market = Market.from_deployment(deployment)
    buyer, seller = roles.members[:2]
    market.compliance.onboard(roles.officer, market.derivatives.address)
    market.compliance.onboard(roles.officer, market.fund.address)
    for member in (buyer, seller):
        market.cash.mint(roles.minter, member.address, 10_000 * USD)
        market.cash.approve(member, market.derivatives.address, 2**256 - 1)
        market.fund.join(member)
    post_price(market, 100 * 10**8)
    terms = Terms(buyer.address, seller.address, 5 * 10**18, 100 * 10**8, now(chain) + 86_400, 100 * USD, 100 * USD)
    trade_id = market.derivatives.propose(buyer, terms)
    market.derivatives.confirm(seller, trade_id, terms)
    market.cash.approve(buyer, market.derivatives.address, 0)
    post_price(market, 70 * 10**8)
    market.derivatives.settle(roles.outsider, trade_id)
    advance(chain, 3_601)
    post_price(market, 70 * 10**8)
    market.derivatives.declare_default(roles.outsider, trade_id)
    return market, buyer, seller


def test_fund_status_and_waterfalls_after_a_default(
    run: CliRun, defaulted: tuple[Market, LocalAccount, LocalAccount]
) -> None:
    _, buyer, seller = defaulted
    text = ok(run("fund", "status"))
    assert "replenishment window 1 d" in text
    assert re.search(
        rf"last draw {ISO} \(\d+ s ago\); members below requirement may be flagged from {ISO} \(in (1 d|23 h)", text
    )
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines() if line.strip().startswith("0x")}
    assert rows[buyer.address][:3] == ["BELOW_REQUIREMENT", "950.000000", "DSD"]
    assert rows[seller.address][:3] == ["GOOD_STANDING", "1,000.000000", "DSD"]

    data = as_json(run("fund", "status", "--json"))
    assert data["replenishment_deadline"] == data["last_draw_at"] + 86_400
    assert {m["member"]: (m["status"], m["balance"]) for m in data["members"]} == {
        buyer.address: ("BELOW_REQUIREMENT", 950 * USD),
        seller.address: ("GOOD_STANDING", 1_000 * USD),
    }

    text = ok(run("fund", "waterfalls"))
    assert re.match(
        rf"trade 1 \(block \d+, {ISO}\): {buyer.address} defaulted on {seller.address}, loss 150.000000 DSD", text
    )
    assert re.search(r"initial margin +100\.000000 DSD", text)
    assert re.search(r"defaulter's contribution +50\.000000 DSD", text)
    assert f"{buyer.address} lost 50.000000 DSD" in text
    [line] = ok(run("fund", "waterfalls", "--json")).splitlines()
    record = json.loads(line)
    assert (record["loss"], record["initial_margin"], record["defaulters_contribution"]) == (
        150 * USD,
        100 * USD,
        50 * USD,
    )
    assert record["member_losses"] == {buyer.address: 50 * USD}
    assert isinstance(record["time"], int)


# ====================================================================== progress


def test_deploy_reports_each_contract_on_stderr_whatever_the_verbosity(node, chain, tmp_path: Path) -> None:
    # `chain` puts the test under the chain's isolation: the suite it deploys on the session node
    # is reverted afterwards, so the next test's kept setups find the chain as they left it.
    runner = CliRunner(mix_stderr=False)
    base = ["--rpc-url", node.rpc_url, "--deployments-dir", str(tmp_path)]
    first = runner.invoke(cli, [*base, "deploy", "--dev-account", "0"], catch_exceptions=False)
    assert first.exit_code == 0, first.stderr
    assert "deploying ComplianceRegistry (not in the manifest)" in first.stderr
    assert "deploying NettingEngine (not in the manifest)" in first.stderr
    assert "deploying" not in first.stdout, "progress goes to stderr, results to stdout"
    again = runner.invoke(cli, [*base, "deploy", "--dev-account", "0"], catch_exceptions=False)
    assert again.exit_code == 0, again.stderr
    assert re.search(r"^reusing CashToken at 0x[0-9a-fA-F]{40}$", again.stderr, re.MULTILINE), again.stderr


def test_compilation_reports_what_it_compiles_and_how_long_it_took(tmp_path: Path) -> None:
    (tmp_path / "One.sol").write_text(
        "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.24;\ncontract One { uint256 public x; }\n"
    )
    program = (
        "import sys, pathlib\n"
        "from dfmi_py.build import compiler\n"
        "compiler.compile_contracts(contracts_dir=pathlib.Path(sys.argv[1]), force=True)\n"
    )
    # As a library: silent.
    quiet = subprocess.run(
        [sys.executable, "-c", program, str(tmp_path)], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT
    )
    assert (quiet.stdout, quiet.stderr) == ("", "")
    # Under the command line's progress display: what is compiled, with what, and how long it took.
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "import logging\nfrom dfmi_py.cli.common import progress_shown\nwith progress_shown(0):\n"
            + "".join(f"    {line}\n" for line in program.splitlines()),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=PROJECT_ROOT,
    )
    assert re.fullmatch(
        r"compiling 1 Solidity files with solc(-js)? 0\.8\.37 …\ncompiled 1 contracts in \d+\.\d s\n", shown.stderr
    ), shown.stderr
    assert shown.stdout == ""
