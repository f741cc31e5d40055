"""The services' transaction sender against an Anvil of this module's own, faults made on purpose.

Devnet conveniences create the faults (mining by hand, the next block's base fee, dropping a
transaction from the pool); the sender itself uses standard JSON-RPC alone, through
:class:`tests.rpc_proxy.RpcProxy` (which also takes the node down). Each test sends from its own
member account, so a transaction one test leaves stuck cannot disturb another.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from web3 import Web3

from dfmi_py.chain import Chain, dev_account
from dfmi_py.deploy.roles import DEV_ROLE_INDEX, RoleConfig
from dfmi_py.deploy.suite import Deployment, deploy_suite
from dfmi_py.node import AnvilNode
from dfmi_py.services.metrics import ServiceMetrics
from dfmi_py.services.sender import RpcUnavailableError, SenderConfig, TxRequest, TxResult, TxSender, TxStatus
from tests.helpers import send_unmined
from tests.rpc_proxy import RpcProxy
from tests.services.support import Events, Miner, in_background

GWEI = 10**9
_ROLES = ("batch", "bump", "original", "cap", "drop", "refuse", "revert", "down", "flaky", "gone", "deep", "reorg")
MEMBERS = {name: dev_account(i) for i, name in enumerate(_ROLES, start=7)}
RECIPIENT = dev_account(19)
OUTSIDER = dev_account(6)  # the pauser: never onboarded
OFFICER = dev_account(DEV_ROLE_INDEX["compliance_officer"])
FAST = {"backoff_seconds": 0.01, "receipt_timeout": 15.0, "bump_after_blocks": 1, "bump_percent": 50}


# ---------------------------------------------------------------------- the node and the suite


@pytest.fixture(scope="module")
def suite(direct: Chain, tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    """The suite; every member and the recipient onboarded, each member holding cash."""
    deployed = deploy_suite(direct, dev_account(0), RoleConfig.devnet(), manifest_dir=tmp_path_factory.mktemp("d"))
    minter = dev_account(DEV_ROLE_INDEX["minter"])
    holders = [m.address for m in MEMBERS.values()]
    direct.transact(deployed.registry.functions.onboardBatch([*holders, RECIPIENT.address, minter.address]), OFFICER)
    master = dev_account(DEV_ROLE_INDEX["master_minter"])
    direct.transact(deployed.cash.functions.configureMinter(minter.address, 10**15), master)
    for holder in holders:
        direct.transact(deployed.cash.functions.mint(holder, 10**12), minter)
    return deployed


@pytest.fixture
def proxy(anvil: AnvilNode) -> Iterator[RpcProxy]:
    """The node as a proof-of-authority chain without the pending tag, as every test sees it."""
    with RpcProxy(anvil.rpc_url) as rpc:
        rpc.poa_extradata = rpc.no_pending = True
        yield rpc
    assert rpc.saw_pending() == []


@pytest.fixture
def via_proxy(proxy: RpcProxy, suite: Deployment) -> Chain:
    """The sender's connection, through the proxy; web3's own retries off (the sender's count)."""
    provider = Web3.HTTPProvider(
        proxy.url,
        request_kwargs={"timeout": 5},
        exception_retry_configuration=None,
        cache_allowed_requests=True,
        cacheable_requests={"eth_chainId"},
    )
    return Chain(Web3(provider), suite.chain.artifacts)


@pytest.fixture
def events() -> Iterator[Events]:
    handler = Events()
    logger = logging.getLogger("dfmi_py.services.sender.test")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)


@pytest.fixture
def make_sender(via_proxy: Chain, events: Events) -> Callable[..., TxSender]:
    def make(account: LocalAccount, *, dry_run: bool = False, metrics: ServiceMetrics | None = None, **config: Any):
        logger = logging.getLogger("dfmi_py.services.sender.test")
        cfg = SenderConfig(**{**FAST, **config})
        return TxSender(via_proxy, account, cfg, dry_run=dry_run, logger=logger, metrics=metrics)

    return make


@pytest.fixture
def miner(direct: Chain) -> Iterator[Miner]:
    mining = Miner(direct)
    mining.rpc("evm_setAutomine", False)
    yield mining
    mining.rpc("anvil_dropAllTransactions")
    mining.rpc("evm_setIntervalMining", 0)
    mining.rpc("evm_setAutomine", True)


def _transfer(suite: Deployment, amount: int, to: str = RECIPIENT.address, **kwargs: Any) -> TxRequest:
    return TxRequest(suite.cash.functions.transfer(to, amount), "transfer", "cash", {"amount": amount}, **kwargs)


def _nonce(direct: Chain, account: LocalAccount) -> int:
    return int(direct.w3.eth.get_transaction_count(account.address, "latest"))


def _only(results: list[TxResult]) -> TxResult:
    assert len(results) == 1
    return results[0]


# ---------------------------------------------------------------------- several in flight


def test_requests_in_flight_land_together_with_consecutive_nonces(
    suite: Deployment, direct: Chain, miner: Miner, make_sender: Callable[..., TxSender], events: Events
) -> None:
    account = MEMBERS["batch"]
    before, balance = _nonce(direct, account), suite.cash.functions.balanceOf(RECIPIENT.address).call()
    sender = make_sender(account)
    with in_background(lambda: sender.send_all([_transfer(suite, n) for n in range(1, 6)])) as future:
        sent = events.wait("sent", 5)
        miner.mine()  # one block for all five: they were all in flight at once
        results = future.result(timeout=15)
    assert [r.status for r in results] == [TxStatus.MINED] * 5
    assert len({r.block for r in results}) == 1
    assert [s["nonce"] for s in sent] == list(range(before, before + 5))
    assert [s["amount"] for s in sent] == [1, 2, 3, 4, 5]  # in the requests' order
    assert [direct.w3.eth.get_transaction(r.tx_hash)["nonce"] for r in results] == list(range(before, before + 5))
    assert suite.cash.functions.balanceOf(RECIPIENT.address).call() == balance + 15
    assert _nonce(direct, account) == before + 5


# ---------------------------------------------------------------------- stuck, bumped, capped, dropped


def _low_base_fee(miner: Miner) -> None:
    """The latest block's base fee is 1 gwei: a first send offers 2 x 1 + 1 = 3 gwei."""
    miner.mine(base_fee=GWEI)


def test_a_stuck_transaction_is_bumped_and_lands_once(
    suite: Deployment, direct: Chain, miner: Miner, make_sender: Callable[..., TxSender], events: Events
) -> None:
    account = MEMBERS["bump"]
    _low_base_fee(miner)
    before = _nonce(direct, account)
    sender = make_sender(account, priority_fee=GWEI)
    with in_background(lambda: sender.send_all([_transfer(suite, 7)])) as future:
        first = events.wait("sent")[0]
        assert (first["max_fee"], first["priority_fee"]) == (3 * GWEI, GWEI)
        miner.mine(base_fee=4 * GWEI)  # the base fee jumps above what it offers: not included
        bump = events.wait("bump")[0]
        assert (bump["max_fee"], bump["priority_fee"], bump["replaces"]) == (4_500_000_000, 1_500_000_000, first["tx"])
        miner.mine(base_fee=4 * GWEI)
        result = _only(future.result(timeout=15))
    assert (result.status, result.tx_hash, result.sends) == (TxStatus.MINED, bump["tx"], 2)
    assert direct.receipt(first["tx"]) is None
    assert _nonce(direct, account) == before + 1  # the nonce was used once
    assert events.named("mined")[0]["sends"] == 2
    assert len(events.named("sent", "bump")) == 2


def test_a_bumped_transaction_mined_in_its_original_form_counts_once(
    suite: Deployment,
    direct: Chain,
    proxy: RpcProxy,
    miner: Miner,
    make_sender: Callable[..., TxSender],
    events: Events,
) -> None:
    account = MEMBERS["original"]
    _low_base_fee(miner)
    before = _nonce(direct, account)
    sender = make_sender(account, priority_fee=GWEI)
    with in_background(lambda: sender.send_all([_transfer(suite, 8)])) as future:
        first = events.wait("sent")[0]
        miner.mine(base_fee=4 * GWEI)
        bump = events.wait("bump")[0]
        # The bump vanishes and the first version comes back and is mined (another node had it).
        original = next(r["params"][0] for r in proxy.requests if r.get("method") == "eth_sendRawTransaction")
        miner.rpc("anvil_dropTransaction", bump["tx"])
        miner.rpc("anvil_setNextBlockBaseFeePerGas", hex(GWEI))
        miner.rpc("eth_sendRawTransaction", original)
        miner.mine()
        result = _only(future.result(timeout=15))
    assert (result.status, result.tx_hash, result.sends) == (TxStatus.MINED, first["tx"], 2)
    assert direct.receipt(bump["tx"]) is None
    assert _nonce(direct, account) == before + 1
    assert [m["tx"] for m in events.named("mined")] == [first["tx"]]


def test_the_fee_cap_turns_a_stuck_transaction_failed(
    suite: Deployment, direct: Chain, miner: Miner, make_sender: Callable[..., TxSender], events: Events
) -> None:
    account = MEMBERS["cap"]
    _low_base_fee(miner)
    before = _nonce(direct, account)
    cap = 4_500_000_000
    sender = make_sender(account, priority_fee=GWEI, max_fee_per_gas=cap, max_bumps=5)
    with in_background(lambda: sender.send_all([_transfer(suite, 9)])) as future:
        events.wait("sent")
        miner.mine(base_fee=5 * GWEI)  # above what it offers
        events.wait("bump")  # to the cap: the node takes it, the next block will not
        miner.mine(base_fee=5 * GWEI)  # a second bump would pass the cap
        result = _only(future.result(timeout=15))
    assert result.status is TxStatus.FAILED
    assert "fee cap" in (result.error or "")
    assert [line["max_fee"] for line in events.named("sent", "bump")] == [3 * GWEI, cap]
    assert result.sends == 2
    assert _nonce(direct, account) == before
    # It may still be mined: its nonce stays taken until a resync reads the node's count again.
    assert sender.chain.expected_nonce(account.address) == before + 1
    sender.resync()
    assert sender.chain.expected_nonce(account.address) == before


def test_a_dropped_transaction_is_rebroadcast(
    suite: Deployment, direct: Chain, miner: Miner, make_sender: Callable[..., TxSender], events: Events
) -> None:
    account = MEMBERS["drop"]
    before = _nonce(direct, account)
    sender = make_sender(account, bump_after_blocks=5)
    with in_background(lambda: sender.send_all([_transfer(suite, 10)])) as future:
        sent = events.wait("sent")[0]
        miner.rpc("anvil_dropTransaction", sent["tx"])
        miner.mine()  # an empty block: the node no longer knows the transaction
        again = events.wait("rebroadcast")[0]
        miner.mine()
        result = _only(future.result(timeout=15))
    assert again["tx"] == sent["tx"]  # the same signed bytes
    assert (result.status, result.tx_hash, result.sends) == (TxStatus.MINED, sent["tx"], 2)
    assert _nonce(direct, account) == before + 1
    assert events.named("bump") == []


# ---------------------------------------------------------------------- refusals


@pytest.mark.parametrize("estimate_ignores_revert", [False, True], ids=["estimate-reverts", "estimate-ignores"])
def test_done_and_reverted_requests_are_not_sent(
    estimate_ignores_revert: bool,
    suite: Deployment,
    direct: Chain,
    proxy: RpcProxy,
    make_sender: Callable[..., TxSender],
) -> None:
    account = MEMBERS["refuse"]
    proxy.estimate_ignores_revert = estimate_ignores_revert
    before = _nonce(direct, account)
    requests = [
        _transfer(suite, 1, OUTSIDER.address, done_errors=frozenset({"ComplianceAccountNotActive"})),
        _transfer(suite, 2, OUTSIDER.address),
        _transfer(suite, 3),
    ]
    checked = make_sender(account, dry_run=True).send_all(requests)
    assert [r.status for r in checked] == [TxStatus.DONE, TxStatus.REVERTED, TxStatus.DRY_RUN]
    assert checked[2].gas_used > 21_000
    assert "eth_sendRawTransaction" not in proxy.methods()

    done, reverted, mined = make_sender(account).send_all(requests)
    assert (done.status, done.error, done.tx_hash) == (TxStatus.DONE, "ComplianceAccountNotActive", None)
    assert (reverted.status, reverted.error, reverted.tx_hash) == (
        TxStatus.REVERTED,
        "ComplianceAccountNotActive",
        None,
    )
    assert f"ComplianceAccountNotActive(account={OUTSIDER.address}" in reverted.detail
    assert mined.status is TxStatus.MINED
    assert proxy.methods().count("eth_sendRawTransaction") == 1
    assert _nonce(direct, account) == before + 1


def test_a_transaction_mined_as_a_failure_is_reverted_with_its_error(
    suite: Deployment, direct: Chain, miner: Miner, make_sender: Callable[..., TxSender], events: Events
) -> None:
    account = MEMBERS["revert"]
    sender = make_sender(account)
    with in_background(lambda: sender.send_all([_transfer(suite, 11)])) as future:
        events.wait("sent")
        send_unmined(direct, suite.registry.functions.freeze(account.address), OFFICER, tip=100 * GWEI)
        miner.mine()  # the freeze first, then the transfer fails
        result = _only(future.result(timeout=15))
    miner.rpc("evm_setAutomine", True)
    direct.transact(suite.registry.functions.unfreeze(account.address), OFFICER)
    assert (result.status, result.error) == (TxStatus.REVERTED, "ComplianceAccountNotActive")
    assert result.receipt["status"] == 0
    assert events.named("reverted")[0]["error"] == "ComplianceAccountNotActive"


# ---------------------------------------------------------------------- RPC faults


def _rpc_errors(metrics: ServiceMetrics) -> float:
    return float(metrics.registry.get_sample_value("dfmi_rpc_errors_total", {"service": "keeper"}) or 0)


@pytest.mark.parametrize("mode", ["503", "drop"])
def test_rpc_down_for_a_while_is_retried(
    mode: str, suite: Deployment, direct: Chain, proxy: RpcProxy, make_sender: Callable[..., TxSender], events: Events
) -> None:
    account = MEMBERS["down"]
    metrics = ServiceMetrics("keeper")
    sender = make_sender(account, rpc_retries=8, backoff_seconds=0.02, metrics=metrics)
    proxy.down_mode = mode  # type: ignore[assignment]
    proxy.down = True
    with in_background(lambda: sender.send_all([_transfer(suite, 12)])) as future:
        events.wait("rpc_error", 2)
        proxy.down = False
        result = _only(future.result(timeout=15))
    assert result.status is TxStatus.MINED
    assert _rpc_errors(metrics) == len(events.named("rpc_error")) >= 2


def test_every_third_request_failing_slows_a_batch_down_only(
    suite: Deployment, direct: Chain, proxy: RpcProxy, make_sender: Callable[..., TxSender], events: Events
) -> None:
    account = MEMBERS["flaky"]
    before = _nonce(direct, account)
    proxy.fail_every = 3
    proxy.receipt_errors = 4  # and the first receipts fail as on a node importing the block
    results = make_sender(account, rpc_retries=3).send_all([_transfer(suite, n) for n in (1, 2, 3)])
    assert [r.status for r in results] == [TxStatus.MINED] * 3
    assert [r.sends for r in results] == [1, 1, 1]
    assert _nonce(direct, account) == before + 3
    assert len(events.named("rpc_error")) > 0
    assert proxy.receipt_errors <= 0


def test_rpc_down_for_good_raises_after_the_bounded_retries(
    suite: Deployment, direct: Chain, proxy: RpcProxy, make_sender: Callable[..., TxSender], events: Events
) -> None:
    account = MEMBERS["gone"]
    metrics = ServiceMetrics("keeper")
    sender = make_sender(account, rpc_retries=3, backoff_seconds=0.01, metrics=metrics)
    before = _nonce(direct, account)
    proxy.down = True
    started = time.monotonic()
    with pytest.raises(RpcUnavailableError, match="3 attempts"):
        sender.send_all([_transfer(suite, 13)])
    assert time.monotonic() - started < 2
    assert proxy.received == 3
    assert _rpc_errors(metrics) == 3
    assert _nonce(direct, account) == before


# ---------------------------------------------------------------------- confirmations


def test_confirmations_wait_for_two_blocks(
    suite: Deployment, direct: Chain, miner: Miner, make_sender: Callable[..., TxSender], events: Events
) -> None:
    account = MEMBERS["deep"]
    miner.rpc("evm_setIntervalMining", 1)
    result = _only(make_sender(account, confirmations=2).send_all([_transfer(suite, 14)]))
    latest = int(direct.w3.eth.block_number)
    assert result.status is TxStatus.MINED
    assert result.block is not None
    assert latest - result.block >= 2
    assert events.named("mined")[0]["block"] == result.block


def test_a_receipt_lost_in_a_reorganisation_is_waited_for_again(
    suite: Deployment, direct: Chain, miner: Miner, make_sender: Callable[..., TxSender], events: Events
) -> None:
    account = MEMBERS["reorg"]
    before = _nonce(direct, account)
    sender = make_sender(account, confirmations=2, bump_after_blocks=5)
    with in_background(lambda: sender.send_all([_transfer(suite, 15)])) as future:
        sent = events.wait("sent")[0]
        first_block = miner.mine()
        assert events.wait("included")[0]["block"] == first_block
        miner.rpc("anvil_reorg", 1, [])  # the block is replaced by one without it; the node forgets it
        miner.mine()
        miner.mine()  # deep enough: the sender looks again and finds no receipt
        assert events.wait("reorged")[0]["block"] == first_block
        miner.mine()
        assert events.wait("rebroadcast")[0]["tx"] == sent["tx"]
        landed = miner.mine()
        miner.mine()
        miner.mine()
        result = _only(future.result(timeout=15))
    assert (result.status, result.tx_hash, result.block) == (TxStatus.MINED, sent["tx"], landed)
    assert _nonce(direct, account) == before + 1
