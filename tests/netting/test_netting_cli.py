"""``dfmi net``: the paper's round through obligation files, and the offline arithmetic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dfmi_py.chain import Chain, dev_account
from dfmi_py.deploy.roles import DEV_ROLE_INDEX
from dfmi_py.deploy.suite import Deployment
from tests.contracts.conftest import deploy_quickly, send_setup
from tests.helpers import CliRun, Roles, cli_runner, one_line_error

P1, P2, P3 = (dev_account(i) for i in (7, 8, 9))


@pytest.fixture
def run(node, deployment) -> CliRun:
    """``dfmi --rpc-url <session node> --deployments-dir <its manifests> ARGS``, netting onboarded."""
    invoke = cli_runner(node.rpc_url, deployment.manifest_file.parent)
    assert invoke("compliance", "onboard", deployment.netting.address, "--dev-account", "1").exit_code == 0
    for member in (P1, P2, P3):
        assert invoke("cash", "mint", member.address, "1000", "--dev-account", "4").exit_code == 0
    return invoke


def _obligation(run: CliRun, tmp_path: Path, payer, payee, amount: str) -> Path:
    path = tmp_path / f"{payer.address[:6]}-{payee.address[:6]}.json"
    result = run("net", "new", "1", payer.address, payee.address, amount, "-o", str(path))
    assert result.exit_code == 0, result.output
    for account in (payer, payee):
        index = str(7 + (P1, P2, P3).index(account))
        assert run("net", "sign", str(path), "--dev-account", index).exit_code == 0
    return path


def test_the_papers_round_from_the_command_line(run: CliRun, tmp_path: Path) -> None:
    result = run("net", "open", "--dev-account", "7")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("round 1:")
    files = [
        _obligation(run, tmp_path, P1, P2, "40"),
        _obligation(run, tmp_path, P1, P3, "50"),
        _obligation(run, tmp_path, P3, P2, "60"),
    ]
    assert json.loads(files[0].read_text())["payeeSignature"] != "0x"
    result = run("net", "register", *map(str, files), "--dev-account", "15")
    assert result.exit_code == 0, result.output
    assert "registered 3 obligations" in result.output

    line = one_line_error(run("net", "submit", "1", "--dev-account", "15"))
    assert "NettingInvalidState" in line
    assert run("net", "close", "1", "--dev-account", "7").exit_code == 0
    result = run("net", "submit", "1", "--dev-account", "15")
    assert result.exit_code == 0, result.output
    nets = [line.split()[1] for line in result.output.splitlines() if line.startswith("0x")]
    assert nets == ["-90.000000", "100.000000", "-10.000000"]

    assert one_line_error(run("net", "approve", "1", "--dev-account", "8")).endswith("nothing to approve")
    for index in ("7", "9"):
        assert run("net", "approve", "1", "--dev-account", index).exit_code == 0
    result = run("net", "settle", "1", "--dev-account", "15")
    assert result.exit_code == 0, result.output
    assert "gross 150.000000 DSD, net 100.000000 DSD: 33.3% compressed" in result.output
    balances = run("cash", "balance", P1.address, P2.address, P3.address).output.split()
    assert balances[1::3] == ["910.000000", "1,100.000000", "990.000000"]
    result = run("net", "rounds")
    assert "SETTLED" in result.output
    assert "33.3% compressed" in result.output


def test_compute_offline_with_an_exclusion(tmp_path: Path) -> None:
    csv_file = tmp_path / "obligations.csv"
    csv_file.write_text(f"payer,payee,amount\n{P1.address},{P2.address},40\n{P1.address},{P3.address},50\n"
                        f"{P3.address},{P2.address},60\n")  # fmt: skip
    run = cli_runner("http://127.0.0.1:1", tmp_path)  # never contacted: compute is offline
    result = run("net", "compute", str(csv_file))
    assert result.exit_code == 0, result.output
    assert [line.split()[1] for line in result.output.splitlines()[:3]] == ["-90.000000", "100.000000", "-10.000000"]
    assert "gross 150.000000, net 100.000000: 33.3% compressed" in result.output

    result = run("net", "compute", str(csv_file), "--exclude", P3.address)
    assert result.exit_code == 0, result.output
    assert [line.split()[1] for line in result.output.splitlines()[:3]] == ["-40.000000", "40.000000", "0.000000"]
    assert f"loss of {P2.address}: 60.000000 owed by excluded members" in result.output

    bad = tmp_path / "bad.csv"
    bad.write_text(f"payer,payee,amount\n{P1.address},{P2.address},-4\n")
    assert "line 2" in one_line_error(run("net", "compute", str(bad)))
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("from,to,value\n1,2,3\n")
    assert "payer,payee,amount" in one_line_error(run("net", "compute", str(wrong)))


def test_a_dvp_instruction_file_enters_a_round_and_settles_with_its_net_cash(
    run: CliRun, tmp_path: Path, chain: Chain, deployment: Deployment, roles: Roles
) -> None:
    """P1 sells 25 shares to P2 for 300 in round 1, where P3 also owes P1 100: P2 pays 300 and
    P3 100, P1 receives 400, and the shares move in the same transaction."""
    registry, security = deployment.registry, deployment.security
    issuer = dev_account(DEV_ROLE_INDEX["issuer"])
    for account in (issuer.address, deployment.settlement.address):
        if registry.functions.statusOf(account).call() == 0:
            chain.transact(registry.functions.onboard(account), roles.officer)
    chain.transact(security.functions.issue(P1.address, 100), issuer)
    chain.transact(security.functions.approve(deployment.settlement.address, 25), P1)

    assert run("net", "open", "--dev-account", "7").output.startswith("round 1:")
    trade = tmp_path / "trade.json"
    result = run("dvp", "new", P1.address, "25", P2.address, "300", "--deadline-in", "86400", "-o", str(trade))
    assert result.exit_code == 0, result.output
    for index in ("7", "8"):
        assert run("dvp", "sign", str(trade), "--dev-account", index).exit_code == 0
    direct = _obligation(run, tmp_path, P3, P1, "100")
    assert run("net", "register", str(direct), "--dev-account", "15").exit_code == 0
    result = run("net", "enter", "1", str(trade), "--dev-account", "15")
    assert result.exit_code == 0, result.output
    assert f"{trade}: entered 0x" in result.output
    assert "LOCKED" in run("dvp", "status", str(trade)).output
    assert "SettlementNonceUsed" in one_line_error(run("dvp", "settle", str(trade), "--dev-account", "15"))
    assert "2 obligations (1 of them DvP cash legs)" in run("net", "show", "1").output

    assert run("net", "close", "1", "--dev-account", "7").exit_code == 0
    result = run("net", "submit", "1", "--dev-account", "15")
    assert result.exit_code == 0, result.output
    nets = {line.split()[0]: line.split()[1] for line in result.output.splitlines() if line.startswith("0x")}
    assert nets == {P1.address: "400.000000", P2.address: "-300.000000", P3.address: "-100.000000"}
    for index in ("8", "9"):
        assert run("net", "approve", "1", "--dev-account", index).exit_code == 0
    result = run("net", "settle", "1", "--dev-account", "15")
    assert result.exit_code == 0, result.output
    assert "gross 400.000000 DSD, net 400.000000 DSD: 0.0% compressed" in result.output
    balances = run("cash", "balance", P1.address, P2.address, P3.address).output.split()
    assert balances[1::3] == ["1,400.000000", "700.000000", "900.000000"]
    assert [security.functions.balanceOf(p.address).call() for p in (P1, P2, P3)] == [75, 25, 0]
    assert "SETTLED" in run("dvp", "status", str(trade)).output


def test_a_failed_delivery_is_removed_from_the_command_line(
    run: CliRun, tmp_path: Path, chain: Chain, deployment: Deployment, roles: Roles
) -> None:
    """P1 sells 5 units of a token of its own making to P2 for 300 in round 1, where P3 owes P1
    100. The token refuses at settlement: after the deadline the settlement records the failure,
    remove-failed takes that DvP alone out (pending again), and the round settles P3's 100."""
    host = deploy_quickly(chain, "HostileSecurity", [], roles.admin)
    send_setup(
        chain,
        [
            (host.functions.mint(P1.address, 100), roles.admin),
            (host.functions.approve(deployment.settlement.address, 2**256 - 1), P1),
        ],
    )
    assert run("net", "open", "--dev-account", "7").output.startswith("round 1:")
    trade = tmp_path / "trade.json"
    result = run(
        "dvp", "new", P1.address, "5", P2.address, "300", "--security", host.address,
        "--deadline-in", "86400", "-o", str(trade),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    for index in ("7", "8"):
        assert run("dvp", "sign", str(trade), "--dev-account", index).exit_code == 0
    assert run("net", "enter", "1", str(trade), "--dev-account", "15").exit_code == 0
    direct = _obligation(run, tmp_path, P3, P1, "100")
    assert run("net", "register", str(direct), "--dev-account", "15").exit_code == 0
    assert run("net", "close", "1", "--dev-account", "7").exit_code == 0
    assert run("net", "submit", "1", "--dev-account", "15").exit_code == 0
    for index in ("8", "9"):
        assert run("net", "approve", "1", "--dev-account", index).exit_code == 0
    chain.transact(host.functions.setMode(1, 0), P1)  # refuse every transfer from now on

    # Nothing failed yet: nothing to remove. Before the deadline the failure is only reported.
    assert one_line_error(run("net", "remove-failed", "1", "--dev-account", "15")).endswith(
        "round 1 has no failed delivery to remove"
    )
    assert "NettingDeliveriesFailed" in one_line_error(run("net", "settle", "1", "--dev-account", "15"))
    chain.w3.provider.make_request("evm_increaseTime", [7_300])  # type: ignore[arg-type]
    chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    result = run("net", "settle", "1", "--dev-account", "15")
    assert result.exit_code == 0, result.output
    assert "delivery failed: 0x" in result.output
    assert f"(seller {P1.address}): HostileSecurityRefused" in result.output
    assert "round 1: not settled, nothing moved; 1 failed deliveries recorded" in result.output
    assert "SETTLED" not in run("net", "rounds").output

    result = run("net", "remove-failed", "1", "--dev-account", "15")
    assert result.exit_code == 0, result.output
    assert f"(seller {P1.address}): HostileSecurityRefused" in result.output
    assert "round 1: removed 1 failed instructions" in result.output
    assert "PENDING" in run("dvp", "status", str(trade)).output
    assert one_line_error(run("net", "remove-failed", "1", "--dev-account", "15")).endswith(
        "round 1 has no failed delivery to remove"
    )

    assert run("net", "submit", "1", "--dev-account", "15").exit_code == 0
    result = run("net", "settle", "1", "--dev-account", "15")
    assert result.exit_code == 0, result.output
    assert "round 1: settle ok" in result.output
    balances = run("cash", "balance", P1.address, P2.address, P3.address).output.split()
    assert balances[1::3] == ["1,100.000000", "1,000.000000", "900.000000"]
    assert [host.functions.balanceOf(p.address).call() for p in (P1, P2)] == [100, 0]
