"""Sending the services' transactions: estimate, sign, send, wait, bump, retry.

INTERFACE FIRST. This module fixes what the feeder and the keeper call; the first
implementation below is deliberately simple (one transaction at a time through
:meth:`dfmi_py.chain.Chain.transact`) and is replaced by the full sender: own nonces, EIP-1559
fees with a capped bump, rebroadcast of dropped transactions, bounded retries with backoff on RPC
errors, a confirmation depth, and several transactions in flight at once.

The contract the callers rely on:

- :meth:`TxSender.send_all` takes requests in order and returns one :class:`TxResult` per request,
  in the same order. It never raises for a contract's refusal: an estimate that reverts with an
  error named in ``done_errors`` is ``DONE`` (someone else did it: a second keeper, a second
  feeder), any other revert is ``REVERTED`` with the error's name and text; neither is sent.
- It raises :class:`RpcUnavailableError` only when the node stayed unreachable through every
  retry; the caller re-syncs its state from the chain and decides again.
- With ``dry_run`` nothing is signed or sent: each request is estimated and returned as
  ``DRY_RUN`` with the estimate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from eth_account.signers.local import LocalAccount
from web3.contract.contract import ContractFunction

from dfmi_py.chain import Chain
from dfmi_py.errors import ChainConnectionError, ContractRevertError, TransactionError


class RpcUnavailableError(ChainConnectionError):
    """The node did not answer through every retry."""


class TxStatus(Enum):
    """What became of a request."""

    MINED = "mined"  # included with status 1, at the confirmation depth
    DONE = "done"  # refused with an error that means it is already done: not sent
    REVERTED = "reverted"  # refused by the contract (estimate) or mined with status 0
    FAILED = "failed"  # not included after every bump and retry
    DRY_RUN = "dry_run"  # estimated only


@dataclass(frozen=True)
class SenderConfig:
    """How transactions are sent.

    Attributes:
        confirmations: Blocks on top of the including block before a transaction counts as done
            (0: at inclusion).
        gas_headroom_percent: Added to the node's estimate.
        max_fee_per_gas: Cap on ``maxFeePerGas`` (wei); bumps never exceed it.
        priority_fee: ``maxPriorityFeePerGas`` (wei) of a first send.
        bump_percent: Raise of both fees per bump (a node replaces a pending transaction only when
            both rise by at least 10%).
        bump_after_blocks: Blocks without inclusion before a bump.
        max_bumps: Bumps before a transaction counts as failed.
        rpc_retries: Attempts of a JSON-RPC call before :class:`RpcUnavailableError`.
        backoff_seconds: First wait between attempts (doubles each time, capped at 30 s).
        receipt_timeout: Seconds to wait for inclusion, all bumps included.
    """

    confirmations: int = 0
    gas_headroom_percent: int = 20
    max_fee_per_gas: int = 500 * 10**9
    priority_fee: int = 10**9
    bump_percent: int = 15
    bump_after_blocks: int = 3
    max_bumps: int = 5
    rpc_retries: int = 5
    backoff_seconds: float = 0.5
    receipt_timeout: float = 120.0


@dataclass(frozen=True)
class TxRequest:
    """One contract call to send.

    Attributes:
        call: The bound contract function (``engine.functions.settleMany([1, 2])``).
        action: What it is, for logs and metrics (``"settle"``, ``"mature"``, ``"report"``...).
        market: The market it concerns (a metrics label).
        fields: Extra log fields (trade ids, round, amount...).
        done_errors: Custom error names whose revert means the work is already done.
    """

    call: ContractFunction
    action: str
    market: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    done_errors: frozenset[str] = frozenset()


@dataclass(frozen=True)
class TxResult:
    """What became of a :class:`TxRequest`.

    Attributes:
        request: The request.
        status: See :class:`TxStatus`.
        tx_hash: ``0x`` hash of the transaction that counted (``None`` when nothing was sent).
        block: Block that included it.
        gas_used: Gas used (the estimate for ``DRY_RUN``).
        error: The custom error's name (``DONE``/``REVERTED``), or a reason (``FAILED``).
        detail: The error as a person reads it.
        receipt: The receipt of the mined transaction (events for the caller).
    """

    request: TxRequest
    status: TxStatus
    tx_hash: str | None = None
    block: int | None = None
    gas_used: int = 0
    error: str | None = None
    detail: str = ""
    receipt: Any = None


class TxSender:
    """Sends one account's transactions (one sender per key per process).

    Args:
        chain: The connection.
        account: The signing key.
        config: Fees, bumps, retries, confirmations.
        dry_run: Estimate only; send nothing.
    """

    def __init__(
        self, chain: Chain, account: LocalAccount, config: SenderConfig | None = None, *, dry_run: bool = False
    ) -> None:
        self.chain = chain
        self.account = account
        self.config = config or SenderConfig()
        self.dry_run = dry_run

    @property
    def address(self) -> str:
        """The sending account's address."""
        return str(self.account.address)

    def resync(self) -> None:
        """Forget local nonce and pending state; read them from the chain again (after a fault)."""

    def send_all(self, requests: Sequence[TxRequest]) -> list[TxResult]:
        """Send ``requests`` (see the module's contract) and wait for each to be done."""
        results = []
        for request in requests:
            results.append(self._send_one(request))
        return results

    def _send_one(self, request: TxRequest) -> TxResult:
        if self.dry_run:
            try:
                gas = int(request.call.estimate_gas({"from": self.account.address}))
            except Exception as exc:  # noqa: BLE001 (decoded below)
                return self._refused(request, self.chain.decode_revert(exc, request.action))
            return TxResult(request, TxStatus.DRY_RUN, gas_used=gas)
        try:
            receipt = self.chain.transact(request.call, self.account, request.action)
        except ContractRevertError as exc:
            return self._refused(request, exc)
        except TransactionError as exc:
            return TxResult(request, TxStatus.FAILED, error="transaction", detail=str(exc))
        return TxResult(
            request,
            TxStatus.MINED,
            tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
            block=int(receipt["blockNumber"]),
            gas_used=int(receipt["gasUsed"]),
            receipt=receipt,
        )

    @staticmethod
    def _refused(request: TxRequest, exc: TransactionError) -> TxResult:
        name = exc.error if isinstance(exc, ContractRevertError) else None
        status = TxStatus.DONE if name in request.done_errors else TxStatus.REVERTED
        return TxResult(request, status, error=name, detail=str(exc))
