"""The ``dfmi`` command line, through click's CliRunner: output, exit codes, one-line errors."""

from click.testing import CliRunner

from dfmi_py.chain import dev_account
from dfmi_py.cli.main import cli
from dfmi_py.node import free_port
from tests.helpers import DEMO_WATERFALL, demo_waterfall, one_line_error


def test_status_lists_the_deployed_contracts(run, deployment):
    result = run("status")
    assert result.exit_code == 0, result.output
    assert deployment.cash.address in result.output
    assert deployment.registry.address in result.output


def test_mint_transfer_and_balance_through_the_cli(run):
    alice, bob = dev_account(7).address, dev_account(8).address
    assert run("cash", "mint", alice, "100.25", "--dev-account", "4").exit_code == 0
    result = run("cash", "transfer", bob, "40", "--dev-account", "7")
    assert result.exit_code == 0, result.output
    balance = run("cash", "balance", alice, bob)
    assert "60.250000 DSD" in balance.output
    assert "40.000000 DSD" in balance.output


def test_compliance_commands_change_and_show_status(run):
    target = dev_account(16).address
    assert run("compliance", "status", target).output.split()[-1] == "NONE"
    assert run("compliance", "onboard", target, "--dev-account", "1").exit_code == 0
    assert run("compliance", "freeze", target, "--dev-account", "1").exit_code == 0
    assert run("compliance", "status", target).output.split()[-1] == "FROZEN"


def test_transfer_to_an_outsider_fails_with_one_line_and_moves_nothing(run):
    alice = dev_account(7).address
    run("cash", "mint", alice, "5", "--dev-account", "4")
    line = one_line_error(run("cash", "transfer", dev_account(15).address, "1", "--dev-account", "7"))
    assert "ComplianceAccountNotActive" in line
    assert "5.000000 DSD" in run("cash", "balance", alice).output


def test_unprivileged_mint_names_the_missing_role(run):
    line = one_line_error(run("cash", "mint", dev_account(7).address, "1", "--dev-account", "7"))
    assert "AccessControlUnauthorizedAccount" in line


def test_bad_amount_is_one_line(run):
    assert "AMOUNT 'ten' is not an amount: write plain digits" in one_line_error(
        run("cash", "transfer", dev_account(8).address, "ten", "--dev-account", "7")
    )


def test_missing_key_is_one_line(run, monkeypatch):
    monkeypatch.delenv("DFMI_PRIVATE_KEY", raising=False)
    assert "$DFMI_PRIVATE_KEY is not set: put the signer's private key (64 hex digits) in it" in one_line_error(
        run("cash", "transfer", dev_account(8).address, "1")
    )


def test_private_key_from_the_environment_signs(run, monkeypatch):
    monkeypatch.setenv("DFMI_PRIVATE_KEY", "0x" + dev_account(4).key.hex().removeprefix("0x"))
    assert run("cash", "mint", dev_account(9).address, "3").exit_code == 0
    assert "3.000000 DSD" in run("cash", "balance", dev_account(9).address).output


def test_unreachable_rpc_is_one_line():
    result = CliRunner().invoke(cli, ["--rpc-url", f"http://127.0.0.1:{free_port()}", "status"])
    assert "no Ethereum JSON-RPC node answers" in one_line_error(result)


def test_no_rpc_url_is_one_line(monkeypatch):
    monkeypatch.delenv("DFMI_RPC_URL", raising=False)
    assert "pass --rpc-url" in one_line_error(CliRunner().invoke(cli, ["status"]))


def test_deploy_against_a_chain_reuses_the_deployment(run, deployment):
    result = run("deploy", "--dev-account", "0")
    assert result.exit_code == 0, result.output
    assert deployment.cash.address in result.output


def test_demo_runs_a_whole_market_on_its_own_chain(tmp_path):
    result = CliRunner().invoke(cli, ["--deployments-dir", str(tmp_path), "demo"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.output.count("refused") == 3
    # Alice's wallet: 1,000,000 - 250,000 + 125,000.50, less two IMs (20,000 + 5,000), the 3,000
    # of variation margin her margin account (4,000 won) did not cover, 6,000 to the fund, 10,000
    # for 100 bonds, and her net debit of 1,000 in the netting round (-4,000 + 3,000).
    assert "Alice        830,000.500000 DSD" in result.output
    # Bob: +10,000 for the bonds sold to Alice, +4,000 net in the round (+4,000 - 5,000 + 5,000).
    assert "Bob          408,999.500000 DSD" in result.output
    assert "bonds held: Alice 100, Bob 850, Carol 50" in result.output
    assert "netting round: gross 17,000.000000 DSD, net moved 4,000.000000 DSD" in result.output
    # Her margin account: Carol's whole IM (5,000), the fund's 3,000 and her own IM back (5,000).
    assert "13,000.000000 DSD" in result.output
    assert "1,500,000.000000 DSD" in result.output
    # Carol's loss of 8,000: her IM 5,000, her fund contribution 1,500, the others' 1,500.
    assert "FundNotInGoodStanding" in result.output
    assert "unpaid claim after" not in result.output
    assert demo_waterfall(result.output) == DEMO_WATERFALL
    assert "Alice          5,250.000000 DSD" in result.output


def test_advance_moves_a_devnet_clock_and_refuses_a_bad_duration(run, chain):
    before = int(chain.w3.eth.get_block("latest")["timestamp"])
    result = run("advance", "2h")
    assert result.exit_code == 0, result.output
    now = int(chain.w3.eth.get_block("latest")["timestamp"])
    assert now >= before + 7_200
    assert "chain time is now 20" in result.output  # ISO 8601
    assert "not a duration" in one_line_error(run("advance", "2 hours"))
    assert int(chain.w3.eth.get_block("latest")["timestamp"]) == now


def test_an_address_with_a_wrong_checksum_is_refused_before_anything_is_sent(run):
    alice = dev_account(7).address
    at = next(i for i, c in enumerate(alice) if i > 1 and c.isalpha())
    typo = alice[:at] + alice[at].swapcase() + alice[at + 1 :]  # one letter's case flipped: the checksum breaks
    assert typo.lower() == alice.lower()
    assert "wrong EIP-55 checksum" in one_line_error(run("cash", "mint", typo, "1", "--dev-account", "4"))
    assert "wrong EIP-55 checksum" in one_line_error(run("cash", "balance", typo))
    # All lower case carries no checksum and is read as the same account.
    assert run("cash", "balance", alice.lower()).exit_code == 0
