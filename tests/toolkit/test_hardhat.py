"""The toolkit on Hardhat 3's node, a second EVM and JSON-RPC implementation beside Anvil.

The node comes from the project's own files (``toolchain/hardhat``, installed by ``make setup``)
and is reached like any chain, by ``--rpc-url``: ``dfmi deploy`` with the defaults and with
``examples/three-markets.toml``, then ``dfmi demo`` (the main job) against it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from web3 import Web3

from dfmi_py.api.market import Market
from dfmi_py.cli.main import cli
from dfmi_py.errors import NodeError
from dfmi_py.node import HardhatNode
from dfmi_py.node.hardhat import HARDHAT_DIR
from dfmi_py.paths import PROJECT_ROOT
from tests.helpers import DEMO_WATERFALL, demo_waterfall, process_alive

THREE_MARKETS = PROJECT_ROOT / "examples" / "three-markets.toml"


def dfmi(rpc_url: str, deployments: Path, *args: str) -> Result:
    return CliRunner().invoke(
        cli, ["--rpc-url", rpc_url, "--deployments-dir", str(deployments), *args], catch_exceptions=False
    )


def test_hardhat_node_answers_with_its_chain_id_and_accounts_and_stops_by_pid_leaving_nothing():
    with HardhatNode(chain_id=4242, accounts=3) as node:
        w3 = Web3(Web3.HTTPProvider(node.rpc_url))
        assert w3.eth.chain_id == 4242
        assert w3.eth.accounts == [
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",  # the development mnemonic's, as on Anvil
            "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
            "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
        ]
        pid = node.pid
        assert pid is not None
        assert process_alive(pid)
    assert not process_alive(pid)
    # Nothing left of its process group.
    assert subprocess.run(["pgrep", "-g", str(pid)], capture_output=True, check=False).returncode == 1
    assert node.pid is None
    assert not (HARDHAT_DIR / "artifacts").exists()  # its scratch files went to a temporary folder


def test_hardhat_node_refuses_a_port_another_node_answers_on(hardhat_node):
    with pytest.raises(NodeError, match=f"port {hardhat_node.port} on 127.0.0.1 is in use"):
        HardhatNode(hardhat_node.port).start()


def test_deploy_with_the_defaults_on_hardhat(hardhat_node, tmp_path):
    result = dfmi(hardhat_node.rpc_url, tmp_path, "deploy", "--dev-account", "0")
    assert result.exit_code == 0, result.output
    market = Market.connect(hardhat_node.rpc_url, manifest_dir=tmp_path)
    assert list(market.markets) == ["ACME"]
    assert market.cash.address in result.output
    assert "deploying CashToken" in result.output
    again = dfmi(hardhat_node.rpc_url, tmp_path, "deploy", "--dev-account", "0")
    assert again.exit_code == 0, again.output
    assert "deploying" not in again.output  # the manifest's contracts are reused
    assert market.cash.address in again.output


def test_deploy_three_markets_from_the_example_file_on_hardhat(hardhat_node, tmp_path):
    result = dfmi(hardhat_node.rpc_url, tmp_path, "deploy", "--dev-account", "0", "--config", str(THREE_MARKETS))
    assert result.exit_code == 0, result.output
    market = Market.connect(hardhat_node.rpc_url, manifest_dir=tmp_path)
    described = {name: (m.oracle.description, m.oracle.decimals) for name, m in market.markets.items()}
    assert described == {
        "XAU": ("Gold / USD per troy ounce", 8),
        "EURUSD": ("EUR / USD", 8),
        "IDX50": ("Blue-chip 50 index (points)", 2),
    }
    assert market.markets["XAU"].oracle.reporters()[0] == "0x2546BcD3c84621e976D8185a91A922aE77ECEc30"
    status = dfmi(hardhat_node.rpc_url, tmp_path, "status")
    assert status.exit_code == 0, status.output
    assert "market IDX50: Blue-chip 50 index (points), no price yet" in status.output


def test_demo_runs_the_whole_market_on_hardhat_with_the_same_results_as_on_anvil(hardhat_node, tmp_path):
    result = dfmi(hardhat_node.rpc_url, tmp_path, "demo")
    assert result.exit_code == 0, result.output
    assert "started a local Anvil" not in result.output
    assert result.output.count("refused") == 3
    assert "FundNotInGoodStanding" in result.output  # a custom error decoded from Hardhat's revert data
    assert "Alice        830,000.500000 DSD" in result.output
    assert "Bob          408,999.500000 DSD" in result.output
    assert "bonds held: Alice 100, Bob 850, Carol 50" in result.output
    assert "netting round: gross 17,000.000000 DSD, net moved 4,000.000000 DSD" in result.output
    assert demo_waterfall(result.output) == DEMO_WATERFALL
