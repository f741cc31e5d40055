"""``dfmi keeper``: settle, call margin, declare defaults, mature, retry fund claims; every market.

:class:`KeeperService` is the :class:`~dfmi_py.services.runtime.Service` the runner drives:

- ``sync()`` reads every trade and final round from the chain (:class:`KeeperReader`) and resets
  the sender's local nonce and pending state;
- ``step(head)`` follows the chain to ``head`` (logs since the last block read), decides (pure,
  :func:`~dfmi_py.services.keeper.decide.decide`), sends (:class:`TxSender`), and logs one JSON
  line and counts metrics per result, from the receipt's events: variation margin paid, margin
  calls opened, defaults and their waterfall, maturities.

What a temporary condition blocks (a pause, a stale price, an RPC fault) is not remembered: the
next head decides it again from the chain. One exception keeps a long condition from costing gas
every block: a trade that a mined ``settleMany`` skipped (``SettlementSkipped``: the cash token is
paused and its payer's wallet had to be pulled, or the engine is frozen) is sent again for the same
round only every ``skip_retry_blocks`` blocks, and at once after an unpause or for a new round.
Transport and JSON-RPC errors while reading become :class:`~dfmi_py.errors.ChainConnectionError`:
the runner backs off and syncs.

A refusal that means "someone else already did it" (a second keeper) counts as done, never as a
failure to retry; a ``settleMany`` whose trades a second keeper settled first settles nothing and
counts nothing (the engine skips trades already settled to the round).

Trust: the keeper holds one key that can only trigger what anyone may trigger (settle, mature,
declare a default after the cure period, retry a fund claim); amounts come from the oracle and
the terms, never from the keeper. The node is trusted to relay honestly; a dishonest one can
delay the keeper, not make it pay.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    ContractPanicError,
    Web3RPCError,
)

from dfmi_py.api.derivatives import TradeState
from dfmi_py.api.market import Market
from dfmi_py.errors import ChainConnectionError
from dfmi_py.services.keeper.decide import (
    Action,
    DeclareDefault,
    Held,
    KeeperDecision,
    Mature,
    RetryFundClaim,
    SettleBatch,
    decide,
    due_for_settlement,
)
from dfmi_py.services.keeper.read import KeeperReader
from dfmi_py.services.logs import log_event
from dfmi_py.services.metrics import ServiceMetrics
from dfmi_py.services.runtime import Head, reading
from dfmi_py.services.sender import TxRequest, TxResult, TxSender, TxStatus

#: Refusals that mean the action is already done (by another keeper, or it no longer applies).
#: Gas limit floor of a close-out (``declareDefault``, ``mature``, ``retryFundClaim``). Each is
#: estimated on the latest block, before the same step's settlements land; when those settlements
#: leave a loss the defaulter's margin no longer covers, the close-out must also claim from the
#: default fund, which the engine only attempts with ``FUND_CLAIM_GAS`` (200,000) in hand: with
#: the smaller estimate it reverted ``DerivativeFundClaimOutOfGas`` and the default landed a round
#: late. A close-out reaching the survivors' tranche costs 213,446-224,118 gas
#: (bench/results/gas.md); unused gas is not paid for.
CLOSE_OUT_GAS_FLOOR = 450_000
#: ``mature``: the trade is no longer Live/MarginCall (matured, defaulted or terminated). A
#: maturity at a wrong round (``DerivativeNotMaturityRound``) is not "done": it is refused.
MATURE_DONE = frozenset({"DerivativeUnexpectedState"})
#: ``declareDefault``: the trade left MarginCall (declared in default, cured, matured...).
DEFAULT_DONE = frozenset({"DerivativeUnexpectedState"})
#: ``retryFundClaim``: nothing pending any more (someone retried it).
RETRY_DONE = frozenset({"DerivativeNoPendingFundClaim"})

#: Blocks before a trade a batch skipped is sent again for the same round (a new round: at once).
DEFAULT_SKIP_RETRY_BLOCKS = 20

T = TypeVar("T")

#: Log event per outcome of a sent action.
_EVENTS = {
    "settle": "settled",
    "mature": "matured",
    "declare_default": "defaulted",
    "retry_fund_claim": "fund_claim_retried",
}
_OUTCOME_EVENTS = {
    TxStatus.DONE: "already_done",
    TxStatus.REVERTED: "refused",
    TxStatus.FAILED: "failed",
    TxStatus.DRY_RUN: "would_send",
}


class KeeperService:
    """The margin keeper of every market it serves (one key per process).

    Args:
        market: The deployed suite.
        reader: Reads and follows the served markets.
        sender: Sends the keeper's transactions (its ``dry_run`` decides whether anything is sent).
        metrics: The process's metrics.
        logger: Where the JSON lines go.
        max_trade_gas: Gas of the costliest single settlement in a batch (see
            :class:`~dfmi_py.services.keeper.config.KeeperSettings`).
        confirmations: ``sync()`` reads the latest block less this many.
        skip_retry_blocks: Blocks before a trade a batch skipped is sent again for the same round.
    """

    name = "keeper"

    def __init__(
        self,
        market: Market,
        reader: KeeperReader,
        sender: TxSender,
        metrics: ServiceMetrics,
        logger: logging.Logger,
        *,
        max_trade_gas: int,
        confirmations: int = 0,
        skip_retry_blocks: int = DEFAULT_SKIP_RETRY_BLOCKS,
    ) -> None:
        self.market = market
        self.reader = reader
        self.sender = sender
        self.metrics = metrics
        self.logger = logger
        self.max_trade_gas = max_trade_gas
        self.confirmations = confirmations
        self.last_decision: KeeperDecision | None = None
        self.last_results: list[TxResult] = []
        self.skip_retry_blocks = skip_retry_blocks
        self._held: set[tuple[str, int | None, str]] = set()
        self._block_times: dict[int, int] = {}
        #: ``(market, trade) -> (round, block, lastUnpausedAt)`` of the last batch that skipped it.
        self._skipped: dict[tuple[str, int], tuple[int, int, int]] = {}
        self._head = 0

    # ------------------------------------------------------------------ the Service protocol

    def sync(self) -> None:
        """Read every market again from the chain (start, after a fault); forget the sender's state."""
        self.sender.resync()
        w3 = self.market.chain.w3

        def read() -> Head:
            latest = int(w3.eth.block_number)
            block = w3.eth.get_block(max(0, latest - self.confirmations))
            head = Head(int(block["number"]), "0x" + bytes(block["hash"]).hex(), int(block["timestamp"]))
            self.reader.sync(head)
            return head

        head = reading(read)
        self._skipped.clear()
        log_event(self.logger, "synced", block=head.number, calls=self.reader.last_calls, **self._counts())

    def step(self, head: Head) -> None:
        """Follow the chain to ``head``, decide, send, log and count."""
        resynced = reading(lambda: self.reader.update(head))
        self._head = head.number
        if resynced and self.reader.full_syncs > 1:
            self.sender.resync()
            log_event(self.logger, "resynced", level=logging.WARNING, block=head.number, calls=self.reader.last_calls)
        decision = decide(self.reader.state())
        self.last_decision = decision
        self._log_held(decision.held)
        requests = reading(lambda: self._requests(decision.actions))  # estimates (see _split)
        self.last_results = self.sender.send_all(requests) if requests else []
        for result in self.last_results:
            self._record(result)

    def status(self) -> Mapping[str, Any]:
        """Per market: trades live, due, under a margin call, and the last round settled."""
        markets: dict[str, Any] = {}
        for market in self.reader.state().markets:
            latest = market.latest
            open_trades = [t for t in market.trades if t.state in (TradeState.LIVE, TradeState.MARGIN_CALL)]
            markets[market.name] = {
                "live": sum(1 for t in open_trades if t.state == TradeState.LIVE),
                "margin_call": sum(1 for t in open_trades if t.state == TradeState.MARGIN_CALL),
                "due": 0 if latest is None else sum(1 for t in open_trades if due_for_settlement(t, latest)),
                "latest_round": None if latest is None else latest.round_id,
                "last_round_settled": max((t.last_round for t in open_trades), default=None),
            }
        block = self.reader.last[0] if self.reader.last else None
        return {"block": block, "calls_last_step": self.reader.last_calls, "markets": markets}

    def close(self) -> None:
        """Nothing to release: the working state is a cache of the chain."""

    # ------------------------------------------------------------------ deciding -> requests

    def _requests(self, actions: Sequence[Action]) -> list[TxRequest]:
        requests: list[TxRequest] = []
        for action in actions:
            engine = self.market.markets[action.market].derivatives.contract.functions
            if isinstance(action, SettleBatch):
                action = self._without_recent_skips(action)
                if not action.trade_ids:
                    continue
                for ids in self._split(action):
                    requests.append(
                        TxRequest(
                            engine.settleMany(list(ids)),
                            "settle",
                            action.market,
                            {"round": action.round_id, "trades": list(ids)},
                        )
                    )
            elif isinstance(action, Mature):
                call = engine.mature(action.trade_id, action.round_id)
                fields = {"trades": [action.trade_id], "round": action.round_id}
                requests.append(TxRequest(call, "mature", action.market, fields, MATURE_DONE, CLOSE_OUT_GAS_FLOOR))
            elif isinstance(action, DeclareDefault):
                fields = {"trades": [action.trade_id], "cure_deadline": action.cure_deadline}
                call = engine.declareDefault(action.trade_id)
                requests.append(
                    TxRequest(call, "declare_default", action.market, fields, DEFAULT_DONE, CLOSE_OUT_GAS_FLOOR)
                )
            elif isinstance(action, RetryFundClaim):
                call = engine.retryFundClaim(action.trade_id)
                requests.append(
                    TxRequest(
                        call,
                        "retry_fund_claim",
                        action.market,
                        {"trades": [action.trade_id]},
                        RETRY_DONE,
                        CLOSE_OUT_GAS_FLOOR,
                    )
                )
        return requests

    def _without_recent_skips(self, batch: SettleBatch) -> SettleBatch:
        """``batch`` less the trades a batch skipped for the same round fewer than
        ``skip_retry_blocks`` blocks ago, with no unpause of the cash token since."""
        keep = []
        for trade_id in batch.trade_ids:
            skipped = self._skipped.get((batch.market, trade_id))
            if skipped is not None:
                round_id, block, unpaused_at = skipped
                same = round_id == batch.round_id and unpaused_at == self.reader.last_unpaused_at
                if same and self._head - block < self.skip_retry_blocks:
                    continue
            keep.append(trade_id)
        if len(keep) == len(batch.trade_ids):
            return batch
        return SettleBatch(batch.market, batch.round_id, tuple(keep), batch.gas)

    def _split(self, batch: SettleBatch) -> list[tuple[int, ...]]:
        """``batch``'s trades in batches that fit a block even if every trade opened a margin call,
        estimating (and halving) only when the worst case could exceed the block gas limit."""
        headroom = 100 + self.sender.config.gas_headroom_percent
        limit = self.reader.block_gas_limit
        config = self.reader.config
        pending = [batch.trade_ids]
        done: list[tuple[int, ...]] = []
        while pending:
            ids = pending.pop(0)
            worst = config.batch_base_gas + len(ids) * self.max_trade_gas
            if len(ids) == 1 or worst * headroom // 100 <= limit:
                done.append(ids)
                continue
            engine = self.market.markets[batch.market].derivatives.contract.functions
            try:
                estimate = int(engine.settleMany(list(ids)).estimate_gas({"from": self.sender.address}))
            except (ContractCustomError, ContractLogicError, ContractPanicError):
                done.append(ids)  # a refusal: the sender reports it when it estimates again
                continue
            except (Web3RPCError, ValueError):  # no estimate within the node's cap (the block's gas)
                half = len(ids) // 2
                pending[:0] = [ids[:half], ids[half:]]
                continue
            if estimate * headroom // 100 <= limit:
                done.append(ids)
            else:
                half = len(ids) // 2
                pending[:0] = [ids[:half], ids[half:]]
        return done

    # ------------------------------------------------------------------ results -> logs, metrics

    def _record(self, result: TxResult) -> None:
        request = result.request
        service, market, action = self.metrics.service, request.market, request.action
        self.metrics.actions.labels(service, market, action, result.status.value).inc()
        fields: dict[str, Any] = {"market": market, "action": action, **request.fields}
        if result.tx_hash is not None and result.receipt is not None:  # gas spent, even on a failure
            self.metrics.gas_spent.labels(service, market, action).inc(result.gas_used)
        if result.status is not TxStatus.MINED:
            if result.status in (TxStatus.REVERTED, TxStatus.FAILED):
                reason = result.error or result.status.value
                self.metrics.failures.labels(service, market, action, reason).inc()
            level = logging.WARNING if result.status in (TxStatus.REVERTED, TxStatus.FAILED) else logging.INFO
            extra: dict[str, Any] = {"gas": result.gas_used} if result.status is TxStatus.DRY_RUN else {}
            if result.tx_hash is not None:  # mined as a failure: its hash and the gas it cost
                extra.update(tx=result.tx_hash, gas=result.gas_used)
            log_event(
                self.logger,
                _OUTCOME_EVENTS[result.status],
                level,
                **fields,
                **extra,
                error=result.error,
                detail=result.detail,
            )
            return
        fields.update(self._effects(market, result))
        log_event(self.logger, _EVENTS.get(action, action), **fields, tx=result.tx_hash, gas=result.gas_used)

    def _effects(self, market: str, result: TxResult) -> dict[str, Any]:
        """What the receipt's engine events say happened; counts settlements and their lag."""
        settled: list[int] = []
        vm_paid = 0
        margin_calls: list[dict[str, int]] = []
        defaults: list[dict[str, Any]] = []
        matured: list[dict[str, int]] = []
        fund_paid: list[dict[str, int]] = []
        skipped: list[dict[str, Any]] = []
        rounds = self.reader.records[market].rounds
        derivatives = self.market.markets[market].derivatives
        try:  # the record of what was done must not depend on the node answering now
            block_time: int | None = reading(lambda: self._block_time(int(result.block or 0)), "a block's time")
        except ChainConnectionError:
            block_time = None  # the settlements are logged and counted; their lag goes unmeasured
        lag = self.metrics.settlement_lag.labels(market)
        for event in self.reader.engine_events(market, result.receipt):
            name = event.name
            if name == "ConfigUpdated":
                continue
            trade_id = event.int("tradeId")
            if name == "VariationMarginSettled":
                settled.append(trade_id)
                vm_paid += event.int("paid")
                known = rounds.get(event.int("roundId"))
                if known is not None and block_time is not None:
                    lag.observe(max(0, block_time - known[1]))
            elif name == "MarginCalled":
                args = event.args
                margin_calls.append({"trade": trade_id, "amount": int(args["amount"])})
            elif name == "DefaultDeclared":
                args = event.args
                defaults.append(
                    {
                        "trade": trade_id,
                        "defaulter": args["defaulter"],
                        "loss": int(args["loss"]),
                        "paid_from_im": int(args["paidFromIm"]),
                        "paid_from_margin": int(args["paidFromMargin"]),
                        "paid_from_fund": int(args["paidFromFund"]),
                        "unpaid_claim": int(args["unpaidClaim"]),
                    }
                )
            elif name == "TradeMatured":
                args = event.args
                matured.append(
                    {
                        "trade": trade_id,
                        "round": int(args["roundId"]),
                        "vm_to_buyer": int(args["vmToBuyer"]),
                        "paid_from_fund": int(args["paidFromFund"]),
                        "unpaid_claim": int(args["unpaidClaim"]),
                    }
                )
            elif name == "FundClaimPaid":
                args = event.args
                fund_paid.append({"trade": trade_id, "paid": int(args["paid"]), "unpaid": int(args["unpaid"])})
            elif name == "SettlementSkipped":
                args = event.args
                reason = derivatives.describe_revert("0x" + bytes(args["reason"]).hex())
                skipped.append({"trade": trade_id, "reason": reason})
                round_id = int(result.request.fields.get("round", 0))
                self._skipped[(market, trade_id)] = (round_id, int(result.block or 0), self.reader.last_unpaused_at)
        if settled:
            self.metrics.trades_settled.labels(market).inc(len(settled))
        effects: dict[str, Any] = {"settled": len(settled), "vm_paid": vm_paid}
        if margin_calls:
            effects["margin_calls"] = margin_calls
        if defaults:
            effects["defaults"] = defaults
        if matured:
            effects["matured"] = matured
        if fund_paid:
            effects["fund_paid"] = fund_paid
        if skipped:
            effects["skipped"] = skipped
        return effects

    def _block_time(self, number: int) -> int:
        if number not in self._block_times:
            if len(self._block_times) > 1_000:
                self._block_times.clear()
            self._block_times[number] = int(self.market.chain.w3.eth.get_block(number)["timestamp"])
        return self._block_times[number]

    def _log_held(self, held: Sequence[Held]) -> None:
        """One line per hold that was not held at the previous head (no line per block)."""
        now = {(h.market, h.trade_id, h.reason.name) for h in held}
        for hold in held:
            if (hold.market, hold.trade_id, hold.reason.name) not in self._held:
                log_event(
                    self.logger,
                    "held",
                    market=hold.market,
                    trade=hold.trade_id,
                    reason=hold.reason.name.lower(),
                    detail=hold.detail,
                )
        self._held = now

    def _counts(self) -> dict[str, int]:
        states = [t.state for m in self.reader.records.values() for t in m.trades.values()]
        return {
            "trades": len(states),
            "open": sum(1 for s in states if s in (TradeState.LIVE, TradeState.MARGIN_CALL)),
        }
