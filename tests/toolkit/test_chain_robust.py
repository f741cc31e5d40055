"""The toolkit on nodes that are not Anvil: the four behaviours a consortium chain shows.

Through :class:`tests.rpc_proxy.RpcProxy` in front of an Anvil of this module's own, with each
switch on and with all four at once, the commands an operator runs work: ``dfmi deploy`` on a
fresh chain, a cash transfer, an oracle report, a trade proposal. A call the contract refuses is
refused before anything is sent, even when ``eth_estimateGas`` ignores the revert, and a
transaction mined as a failure all the same says why. No request carries the pending block tag.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from dfmi_py.chain import Chain, Fees, dev_account
from dfmi_py.chain.client import FALLBACK_PRIORITY_FEE
from dfmi_py.deploy.roles import DEV_ROLE_INDEX, RoleConfig
from dfmi_py.deploy.suite import Deployment, deploy_suite
from dfmi_py.errors import ContractRevertError
from dfmi_py.node import AnvilNode
from tests.helpers import cli_runner, one_line_error, send_unmined
from tests.rpc_proxy import ESTIMATE_IGNORING_REVERT, RpcProxy

ALICE, BOB, OUTSIDER = dev_account(7), dev_account(8), dev_account(15)
OFFICER, MINTER = dev_account(DEV_ROLE_INDEX["compliance_officer"]), dev_account(DEV_ROLE_INDEX["minter"])
ALL_FOUR = {"poa_extradata": True, "no_pending": True, "receipt_errors": 3, "estimate_ignores_revert": True}
SWITCHES: dict[str, dict[str, Any]] = {
    "poa_extradata": {"poa_extradata": True},
    "no_pending": {"no_pending": True},
    "receipt_errors": {"receipt_errors": 3},
    "estimate_ignores_revert": {"estimate_ignores_revert": True},
    "all_four": ALL_FOUR,
}


@pytest.fixture(scope="module")
def suite(direct: Chain, tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    """The suite deployed straight on the node; Alice, Bob and the minter onboarded, Alice holding cash."""
    deployed = deploy_suite(direct, dev_account(0), RoleConfig.devnet(), manifest_dir=tmp_path_factory.mktemp("d"))
    direct.transact(deployed.registry.functions.onboardBatch([ALICE.address, BOB.address, MINTER.address]), OFFICER)
    master_minter = dev_account(DEV_ROLE_INDEX["master_minter"])
    direct.transact(deployed.cash.functions.configureMinter(MINTER.address, 10**12), master_minter)
    direct.transact(deployed.cash.functions.mint(ALICE.address, 10**12), MINTER)
    return deployed


@pytest.fixture
def proxy(anvil: AnvilNode) -> Iterator[RpcProxy]:
    """A proxy in front of the node; after the test, no request it saw carried the pending tag."""
    with RpcProxy(anvil.rpc_url) as rpc:
        yield rpc
    assert rpc.saw_pending() == [], "a request carried the pending block tag"


def _through(proxy: RpcProxy) -> Chain:
    return Chain(Web3(Web3.HTTPProvider(proxy.url)))


def _ok(result: Any) -> str:
    assert result.exit_code == 0, result.output
    return str(result.output)


def _nonce(chain: Chain, address: str) -> int:
    return int(chain.w3.eth.get_transaction_count(address, "latest"))


@pytest.mark.parametrize("switches", list(SWITCHES.values()), ids=list(SWITCHES))
def test_an_operators_day_works_through_the_node(
    switches: dict[str, Any], proxy: RpcProxy, direct: Chain, tmp_path: Path
) -> None:
    for name, value in switches.items():
        setattr(proxy, name, value)
    armed = switches.get("receipt_errors", 0)
    run = cli_runner(proxy.url, tmp_path / "deployments")
    steps = [
        ("deploy", "--dev-account", "0"),
        ("compliance", "onboard", ALICE.address, BOB.address, "--dev-account", "1"),
        ("cash", "mint", ALICE.address, "50000", "--dev-account", "4"),
        ("cash", "mint", BOB.address, "50000", "--dev-account", "4"),
        ("cash", "approve", "fund", "2000", "--dev-account", "7"),
        ("fund", "join", "2000", "--dev-account", "7"),
        ("cash", "approve", "fund", "2000", "--dev-account", "8"),
        ("fund", "join", "2000", "--dev-account", "8"),
    ]
    for step in steps:
        proxy.receipt_errors = armed  # each command meets the errors on its first receipts
        _ok(run(*step))
        assert proxy.receipt_errors <= 0, "the receipt errors were not all served"
    proxy.receipt_errors = armed
    assert f"to {BOB.address}" in _ok(run("cash", "transfer", BOB.address, "5", "--dev-account", "7"))
    proxy.receipt_errors = armed
    assert "reported 2,010 for round 1" in _ok(run("oracle", "submit", "2010", "--dev-account", "16"))
    proxy.receipt_errors = armed
    proposed = _ok(
        run("trade", "propose", "--side", "buy", "--counterparty", BOB.address, "--quantity", "10", "--price",
            "2000", "--maturity", "+30d", "--im", "1000", "--dev-account", "7")
    )  # fmt: skip
    assert re.search(r"trade 1 proposed", proposed), proposed

    # A transfer to an account never onboarded: refused with the contract's error, nothing sent.
    before = _nonce(direct, ALICE.address)
    proxy.clear()
    line = one_line_error(run("cash", "transfer", OUTSIDER.address, "5", "--dev-account", "7"))
    assert f"ComplianceAccountNotActive(account={OUTSIDER.address}, status=NONE)" in line
    assert "eth_sendRawTransaction" not in proxy.methods()
    assert _nonce(direct, ALICE.address) == before


def test_a_refused_call_is_not_sent_when_the_estimate_ignores_the_revert(
    proxy: RpcProxy, suite: Deployment, direct: Chain
) -> None:
    for name, value in ALL_FOUR.items():
        setattr(proxy, name, value)
    chain = _through(proxy)
    call = suite.cash.functions.transfer(OUTSIDER.address, 5)
    # The node's estimate alone would let it through.
    estimate = {"from": ALICE.address, "to": suite.cash.address, "data": call._encode_transaction_data()}
    assert chain.w3.eth.estimate_gas(estimate) == ESTIMATE_IGNORING_REVERT
    before = _nonce(direct, ALICE.address)
    with pytest.raises(ContractRevertError) as refused:
        chain.transact(call, ALICE)
    assert refused.value.error == "ComplianceAccountNotActive"
    assert refused.value.args_by_name == {"account": OUTSIDER.address, "status": 0}
    with pytest.raises(ContractRevertError, match="ComplianceAccountNotActive"):
        chain.preflight(call, ALICE.address)
    assert "eth_sendRawTransaction" not in proxy.methods()
    assert _nonce(direct, ALICE.address) == before


def test_a_transaction_mined_as_a_failure_raises_its_custom_error(
    proxy: RpcProxy, suite: Deployment, direct: Chain
) -> None:
    """Alice's transfer passes the check, then the officer's freeze lands first in the same block."""
    chain = _through(proxy)
    raised: list[BaseException] = []

    def transfer() -> None:
        try:
            chain.transact(suite.cash.functions.transfer(BOB.address, 5), ALICE)
        except BaseException as exc:  # noqa: BLE001 (handed to the test's thread)
            raised.append(exc)

    direct.w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    try:
        send_unmined(direct, suite.registry.functions.freeze(ALICE.address), OFFICER, tip=10**11)
        sender = threading.Thread(target=transfer)
        sender.start()

        # the block is mined only once the transfer is in the pool (its checks can take seconds on a
        # loaded machine: mining before would leave it to the next block, after the unfreeze)
        def pending() -> int:
            status = direct.w3.provider.make_request("txpool_status", [])  # type: ignore[arg-type]
            return int(status["result"]["pending"], 16)

        deadline = time.monotonic() + 60
        while pending() < 2 and time.monotonic() < deadline:  # the freeze and the transfer
            time.sleep(0.01)
        assert pending() == 2, "the transfer never reached the pool"
        direct.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        sender.join(timeout=60)
    finally:
        direct.w3.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]
        direct.transact(suite.registry.functions.unfreeze(ALICE.address), OFFICER)
    assert len(raised) == 1
    error = raised[0]
    assert isinstance(error, ContractRevertError), error
    assert (error.error, error.args_by_name) == ("ComplianceAccountNotActive", {"account": ALICE.address, "status": 2})
    # It was sent and mined, after the freeze, as a failure.
    block = direct.w3.eth.get_block(direct.w3.eth.block_number - 1)
    receipts = [direct.w3.eth.get_transaction_receipt(h) for h in block["transactions"]]
    assert [(r["from"], r["status"]) for r in receipts] == [(OFFICER.address, 1), (ALICE.address, 0)]


def test_fees_are_explicit_and_fall_back_without_eth_max_priority_fee(proxy: RpcProxy, suite: Deployment) -> None:
    chain = _through(proxy)
    base = int(chain.w3.eth.get_block("latest")["baseFeePerGas"])
    proxy.unsupported = {"eth_maxPriorityFeePerGas"}
    fees = chain.fees()
    assert (fees.base_fee, fees.max_priority_fee_per_gas) == (base, FALLBACK_PRIORITY_FEE)
    assert fees.max_fee_per_gas == 2 * base + FALLBACK_PRIORITY_FEE
    receipt = chain.transact(suite.cash.functions.transfer(ALICE.address, 1), ALICE)
    sent = chain.w3.eth.get_transaction(receipt["transactionHash"])
    assert (sent["maxPriorityFeePerGas"], sent["type"]) == (FALLBACK_PRIORITY_FEE, 2)
    assert "eth_feeHistory" not in proxy.methods()
    assert chain.fees(priority_fee=7).max_priority_fee_per_gas == 7


def test_nonces_come_from_the_latest_count_and_the_transactions_in_flight(proxy: RpcProxy, direct: Chain) -> None:
    chain = _through(proxy)
    proxy.no_pending = True
    latest = _nonce(direct, BOB.address)
    assert chain.next_nonce(BOB.address, 3) == latest
    assert chain.expected_nonce(BOB.address) == latest + 3
    assert chain.next_nonce(BOB.address) == latest + 3
    chain.release_nonces(BOB.address, 3)
    assert chain.expected_nonce(BOB.address) == latest + 4  # one still in flight
    chain.release_nonces(BOB.address)
    assert chain.expected_nonce(BOB.address) == latest  # none in flight: the node's count
    chain.next_nonce(BOB.address, 2)
    chain.forget_nonce(BOB.address)
    assert chain.next_nonce(BOB.address) == latest


def test_a_receipt_error_reads_as_not_yet(proxy: RpcProxy, suite: Deployment) -> None:
    chain = _through(proxy)
    receipt = chain.transact(suite.cash.functions.transfer(ALICE.address, 1), ALICE)
    proxy.receipt_errors = 1
    assert chain.receipt(receipt["transactionHash"]) is None
    assert chain.receipt(receipt["transactionHash"]) == receipt
    proxy.receipt_errors = 4
    assert chain.wait_receipt(receipt["transactionHash"], timeout=5) == receipt
    assert proxy.receipt_errors == 0


def test_fees_bump_rounds_up_and_never_passes_the_cap() -> None:
    fees = Fees(base_fee=10, max_fee_per_gas=21, max_priority_fee_per_gas=1)
    assert fees.params() == {"maxFeePerGas": 21, "maxPriorityFeePerGas": 1}
    assert fees.bumped(15, cap=100) == Fees(10, 25, 2)  # 24.15 and 1.15, rounded up: a node wants +10% at least
    assert fees.bumped(50, cap=30) == Fees(10, 30, 2)
    assert Fees(10, 40, 35).capped(30) == Fees(10, 30, 30)  # the tip never above the fee
    legacy = Fees(base_fee=None, max_fee_per_gas=None, max_priority_fee_per_gas=None, gas_price=20)
    assert (legacy.dynamic, legacy.params(), legacy.ceiling) == (False, {"gasPrice": 20}, 20)
    assert legacy.bumped(15, cap=22).gas_price == 22


class _BerlinAnvil(AnvilNode):
    def command(self) -> list[str]:
        return [*super().command(), "--hardfork", "berlin"]


def test_a_chain_before_london_gets_a_gas_price() -> None:
    with _BerlinAnvil() as node:
        chain = Chain(Web3(Web3.HTTPProvider(node.rpc_url)))
        fees = chain.fees()
        assert fees.base_fee is None
        assert fees.gas_price == chain.w3.eth.gas_price > 0
        assert fees.params() == {"gasPrice": fees.gas_price}
