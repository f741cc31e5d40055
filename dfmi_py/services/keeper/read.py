"""The keeper's view of the chain: every trade of every market it serves, kept current cheaply.

:class:`KeeperReader` builds the :class:`~dfmi_py.services.keeper.decide.KeeperState` that
:func:`~dfmi_py.services.keeper.decide.decide` takes.

- **Full sync** (at start, after a fault, after a reorg): the engines' trade events and the
  oracles' ``AnswerUpdated`` events from ``start_block`` to the head, in chunks of
  ``log_chunk_blocks`` (providers cap the range of ``eth_getLogs``), one request per chunk for
  every contract at once. Each trade's state, last round, maturity and raw cure deadline follow
  from its events in chain order; views are read only where events cannot tell or to confirm:
  each engine's ``maxPriceAge``/``curePeriod`` and each oracle's latest round at the head,
  ``fundClaimPendingOf`` for the trades that saw a ``FundClaimFailed``, and ``tradeOf`` for a
  trade whose events start before ``start_block``.
- **Incremental update** per head: the logs from the last block read plus one to the head, the
  trades they touch updated. The cost does not grow with the number of trades: one
  ``eth_getBlockByNumber``, one ``eth_getLogs`` per chunk and two ``eth_call`` (the cash token's
  ``paused`` and ``lastUnpausedAt``) per step, plus a block read when the head jumped.
- **Reorgs**: when the head does not extend the last block read (its parent hash, or the hash of
  that block now, differs from what was recorded), everything is read again.

Every read names the head block (``block_identifier`` / ``toBlock``), so views and logs agree.
The effective cure deadline (``cureDeadlineOf``) is computed as the engine does: the margin
call's own deadline (from ``MarginCalled``), or ``lastUnpausedAt + curePeriod`` when later.

The working state is a cache: losing it loses nothing, a new reader (a restart) reads it again.

Trust: the reader trusts the node it is given to answer honestly about the chain (a lying node
can make the keeper send transactions the contracts then refuse, never make it pay anyone);
it trusts nothing else. Every decision it feeds is re-checked by the contracts on execution.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dfmi_py.api.derivatives import TRADE_EVENTS, TradeState
from dfmi_py.api.market import Market, Underlying
from dfmi_py.chain.events import DEFAULT_CHUNK_BLOCKS, EventLog, event_specs, fetch_logs
from dfmi_py.errors import ConfigError
from dfmi_py.services.keeper.decide import FinalRound, KeeperConfig, KeeperState, MarketState, TradeView
from dfmi_py.services.runtime import Head

logger = logging.getLogger(__name__)

#: The engine's events the reader follows (the trades' events and its settings).
ENGINE_EVENTS = (*TRADE_EVENTS, "ConfigUpdated")
#: The oracle's Chainlink event: ``AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt)``.
ORACLE_EVENT = "AnswerUpdated"


@dataclass
class TradeRecord:
    """One trade as the events tell it (see :class:`~dfmi_py.services.keeper.decide.TradeView`).

    Attributes:
        state: The engine's state.
        last_round: The round of its last settlement (0 before the first).
        maturity: Unix seconds (amendments change it).
        cure_deadline: The margin call's own deadline (``tradeOf().cureDeadline``; 0 without one).
        fund_claim_pending: A claim on the default fund failed and was not paid yet.
    """

    state: TradeState
    last_round: int = 0
    maturity: int = 0
    cure_deadline: int = 0
    fund_claim_pending: bool = False


@dataclass
class MarketRecord:
    """One market's engine, oracle and trades as read."""

    name: str
    underlying: Underlying
    max_price_age: int = 0
    cure_period: int = 0
    #: ``round id -> (answer, updatedAt)`` of the final rounds read.
    rounds: dict[int, tuple[int, int]] = field(default_factory=dict)
    trades: dict[int, TradeRecord] = field(default_factory=dict)

    @property
    def latest(self) -> FinalRound | None:
        """The latest final round read."""
        if not self.rounds:
            return None
        round_id = max(self.rounds)
        price, updated_at = self.rounds[round_id]
        return FinalRound(round_id, price, updated_at)


class KeeperReader:
    """Reads and follows every trade and final round of the markets a keeper serves.

    Args:
        market: The deployed suite.
        markets: Names of the markets to serve (``None``: every market of the suite).
        config: The keeper's gas settings (passed through to the state).
        log_chunk_blocks: Most blocks per ``eth_getLogs`` request.
        start_block: First block whose events are read (``None``: the earliest deployment block of
            the served engines and oracles, from the manifest).

    Raises:
        ConfigError: a market name the suite does not have, a chunk size below 1, or a start
            block beyond the chain's head.
    """

    def __init__(
        self,
        market: Market,
        config: KeeperConfig,
        markets: Sequence[str] | None = None,
        *,
        log_chunk_blocks: int = DEFAULT_CHUNK_BLOCKS,
        start_block: int | None = None,
    ) -> None:
        if log_chunk_blocks < 1:
            raise ConfigError(f"log_chunk_blocks must be at least 1, got {log_chunk_blocks}")
        names = list(market.markets) if markets is None else list(markets)
        unknown = [n for n in names if n not in market.markets]
        if unknown or not names:
            raise ConfigError(
                f"markets: {', '.join(unknown) or '(none)'} not in this deployment; it has {', '.join(market.markets)}"
            )
        if start_block is not None:
            head = int(market.chain.w3.eth.block_number)
            if start_block > head:
                raise ConfigError(
                    f"start_block: block {start_block} is beyond the chain's head, block {head}: "
                    "give the suite's deployment block or omit it"
                )
        self.market = market
        self.chain = market.chain
        self.w3 = market.chain.w3
        self.config = config
        self.names = tuple(names)
        self.log_chunk_blocks = log_chunk_blocks
        manifest = market.deployment.manifest
        self.start_block = (
            start_block
            if start_block is not None
            else min(
                manifest.record(key).block
                for record in manifest.markets
                if record.name in self.names
                for key in (record.oracle, record.engine)
            )
        )
        underlyings = [market.markets[n] for n in self.names]
        first = underlyings[0]
        self._engine_specs = event_specs(first.derivatives.contract, ENGINE_EVENTS)
        self._oracle_specs = event_specs(first.oracle.contract, (ORACLE_EVENT,))
        self._by_engine = {u.derivatives.address.lower(): u.name for u in underlyings}
        self._by_oracle = {u.oracle.address.lower(): u.name for u in underlyings}
        self._addresses = [u.derivatives.address for u in underlyings] + [u.oracle.address for u in underlyings]
        self._topics = ["0x" + t.hex() for t in (*self._engine_specs, *self._oracle_specs)]
        self.records: dict[str, MarketRecord] = {}
        #: The last block read (number, hash); ``None`` before the first sync.
        self.last: tuple[int, str] | None = None
        self.cash_paused = False
        self.last_unpaused_at = 0
        self.block_gas_limit = 0
        self.now = 0
        #: JSON-RPC requests made, in total and by the last :meth:`sync`/:meth:`update`.
        self.rpc_calls = 0
        self.last_calls = 0
        self.full_syncs = 0
        #: Trades touched by the last update, ``(market, trade id)``.
        self.touched: set[tuple[str, int]] = set()
        #: Trades read with ``tradeOf`` at the head during this read: their later events are in it.
        self._from_view: set[tuple[str, int]] = set()

    # ------------------------------------------------------------------ reading

    def sync(self, head: Head) -> None:
        """Read every trade and final round again, up to ``head`` (a full sync).

        A sync cut short by an error leaves the reader unsynced: the next :meth:`update` syncs.
        """
        before = self.rpc_calls
        self.last = None
        self.records = {n: MarketRecord(n, self.market.markets[n]) for n in self.names}
        for record in self.records.values():
            engine = record.underlying.derivatives.contract.functions
            record.max_price_age = int(self._call(engine.maxPriceAge(), head))
            record.cure_period = int(self._call(engine.curePeriod(), head))
        self.touched = set()
        self._read_logs(self.start_block, head.number, head)
        for record in self.records.values():
            # the latest round even when it finalised before start_block
            oracle = record.underlying.oracle.contract.functions
            if int(self._call(oracle.openRound(), head)) > 1:
                round_id, answer, _, updated_at, _ = self._call(oracle.latestRoundData(), head)
                record.rounds.setdefault(int(round_id), (int(answer), int(updated_at)))
            engine = record.underlying.derivatives.contract.functions
            for trade_id, trade in record.trades.items():
                if trade.fund_claim_pending:  # confirm with the view (few trades)
                    trade.fund_claim_pending = bool(self._call(engine.fundClaimPendingOf(trade_id), head))
        block = self._block(head.number)
        self._read_head_views(head, block)
        self.last = (head.number, head.hash)
        self.full_syncs += 1
        self.last_calls = self.rpc_calls - before
        logger.info("full sync to block %s: %s calls", head.number, self.last_calls)

    def update(self, head: Head) -> bool:
        """Follow the chain to ``head``: read the logs since the last block read.

        Returns:
            True when it had to read everything again (first call, or a reorg).

        An update cut short by an error (the node failed between two requests) leaves the reader
        unsynced: the next call reads everything again rather than trust a half-applied range.
        """
        try:
            return self._update(head)
        except BaseException:
            self.last = None
            raise

    def _update(self, head: Head) -> bool:
        before = self.rpc_calls
        if self.last is None:
            self.sync(head)
            return True
        last_number, last_hash = self.last
        if head.number < last_number or (head.number == last_number and head.hash != last_hash):
            self.sync(head)
            return True
        if head.number == last_number:
            self.last_calls = 0
            self.touched = set()
            return False
        block = self._block(head.number)
        if _hex(block["hash"]) != head.hash.lower():  # the head moved on since the runner read it
            self.sync(head)
            return True
        parent = _hex(block["parentHash"])
        if head.number == last_number + 1:
            extends = parent == last_hash.lower()
        else:
            extends = _hex(self._block(last_number)["hash"]) == last_hash.lower()
        if not extends:
            logger.warning("reorg: block %s is no longer %s; reading everything again", last_number, last_hash)
            self.sync(head)
            return True
        self.touched = set()
        self._read_logs(last_number + 1, head.number, head)
        self._read_head_views(head, block)
        self.last = (head.number, head.hash)
        self.last_calls = self.rpc_calls - before
        return False

    def state(self) -> KeeperState:
        """The state :func:`~dfmi_py.services.keeper.decide.decide` takes, as of the last block read."""
        markets = []
        for record in self.records.values():
            resumed = self.last_unpaused_at + record.cure_period
            trades = tuple(
                TradeView(
                    trade_id=trade_id,
                    state=trade.state,
                    last_round=trade.last_round,
                    maturity=trade.maturity,
                    cure_deadline=max(trade.cure_deadline, resumed) if trade.state == TradeState.MARGIN_CALL else 0,
                    fund_claim_pending=trade.fund_claim_pending,
                )
                for trade_id, trade in record.trades.items()
                if trade.state in (TradeState.LIVE, TradeState.MARGIN_CALL) or trade.fund_claim_pending
            )
            rounds = {round_id: updated_at for round_id, (_, updated_at) in record.rounds.items()}
            markets.append(MarketState(record.name, record.latest, record.max_price_age, rounds, trades))
        return KeeperState(self.now, self.cash_paused, self.block_gas_limit, tuple(markets), self.config)

    def engine_events(self, market: str, receipt: Any) -> list[EventLog]:
        """The events ``market``'s engine emitted in ``receipt``, in log order."""
        if receipt is None:
            return []
        address = self.market.markets[market].derivatives.address.lower()
        events = []
        for log in receipt["logs"]:
            spec = self._engine_specs.get(bytes(log["topics"][0])) if log["topics"] else None
            if spec is not None and str(log["address"]).lower() == address:
                events.append(EventLog(spec, log))
        return events

    # ------------------------------------------------------------------ internals

    def _count(self) -> None:
        self.rpc_calls += 1

    def _call(self, call: Any, head: Head) -> Any:
        self._count()
        return call.call(block_identifier=head.number)

    def _block(self, number: int) -> Any:
        self._count()
        return self.w3.eth.get_block(number)

    def _read_head_views(self, head: Head, block: Any) -> None:
        cash = self.market.cash.contract.functions
        self.cash_paused = bool(self._call(cash.paused(), head))
        self.last_unpaused_at = int(self._call(cash.lastUnpausedAt(), head))
        self.block_gas_limit = int(block["gasLimit"])
        self.now = int(block["timestamp"])

    def _read_logs(self, from_block: int, to_block: int, head: Head) -> None:
        self._from_view = set()
        chunks = fetch_logs(self.w3, self._addresses, self._topics, from_block, to_block, self.log_chunk_blocks)
        for chunk in chunks:
            self._count()  # one eth_getLogs per chunk
            for log in chunk:
                self._apply(log, head)

    def _apply(self, log: Any, head: Head) -> None:
        address = str(log["address"]).lower()
        topic0 = bytes(log["topics"][0]) if log["topics"] else b""
        if address in self._by_oracle:
            spec = self._oracle_specs.get(topic0)
            if spec is None:
                return
            answer = EventLog(spec, log)
            record = self.records[self._by_oracle[address]]
            record.rounds[answer.int("roundId")] = (answer.int("current"), answer.int("updatedAt"))
            return
        name = self._by_engine.get(address)
        spec = self._engine_specs.get(topic0)
        if name is None or spec is None:
            return
        args = EventLog(spec, log)
        record = self.records[name]
        if spec.name == "ConfigUpdated":
            record.cure_period, record.max_price_age = args.int("curePeriod"), args.int("maxPriceAge")
            return
        trade_id = args.int("tradeId")
        self.touched.add((name, trade_id))
        if (name, trade_id) in self._from_view:
            return
        event = spec.name
        if event == "TradeProposed":
            record.trades[trade_id] = TradeRecord(TradeState.PROPOSED, maturity=args.int("terms.maturity"))
            return
        trade = record.trades.get(trade_id)
        if trade is None:  # proposed before start_block: ask the engine once
            record.trades[trade_id] = self._trade_from_view(record, trade_id, head)
            self._from_view.add((name, trade_id))
            return  # the view already includes this event's effect (read at the head)
        if event == "TradeCancelled":
            trade.state = TradeState.CANCELLED
        elif event == "TradeConfirmed":
            trade.state = TradeState.LIVE
        elif event == "VariationMarginSettled":
            trade.last_round = args.int("roundId")
        elif event == "MarginCalled":
            trade.state = TradeState.MARGIN_CALL
            trade.cure_deadline = args.int("cureDeadline")
        elif event == "MarginCallCured":
            if trade.state == TradeState.MARGIN_CALL:
                trade.state = TradeState.LIVE
            trade.cure_deadline = 0
        elif event == "DefaultDeclared":
            trade.state = TradeState.DEFAULTED
        elif event == "TradeAmended":
            trade.maturity = args.int("maturity")
        elif event == "TradeTerminated":
            trade.state = TradeState.TERMINATED
        elif event == "TradeMatured":
            trade.state = TradeState.MATURED
            trade.last_round = args.int("roundId")
        elif event == "FundClaimFailed":
            trade.fund_claim_pending = True
        elif event == "FundClaimPaid":
            trade.fund_claim_pending = False

    def _trade_from_view(self, record: MarketRecord, trade_id: int, head: Head) -> TradeRecord:
        engine = record.underlying.derivatives.contract.functions
        raw = self._call(engine.tradeOf(trade_id), head)
        pending = bool(self._call(engine.fundClaimPendingOf(trade_id), head))
        # Trade struct: buyer, maturity, state, debtor, proposer, nonce, seller, quantity,
        # lastPrice, lastRound, cureDeadline, buyerIm, sellerIm, debt
        return TradeRecord(
            state=TradeState(int(raw[2])),
            last_round=int(raw[9]),
            maturity=int(raw[1]),
            cure_deadline=int(raw[10]),
            fund_claim_pending=pending,
        )


def _hex(value: Any) -> str:
    return ("0x" + bytes(value).hex()).lower()
