"""What the margin keeper sends: a pure function of what it read from every market's engine.

:func:`decide` takes a :class:`KeeperState` (``now``, whether the cash token is paused, the block
gas limit, and per market the latest final round, the rounds the reader knows, the engine's
``maxPriceAge`` and its trades) and returns a :class:`KeeperDecision`: the actions to send, in a
deterministic order, and what it held back and why. The rules follow the engine's own checks:

- **Settle** (``settleMany``) every due trade: ``Live`` or ``MarginCall``, ``lastRound`` below the
  latest final round, that round's ``updatedAt`` before the trade's maturity, and the price usable
  (positive, within int128, ``updatedAt + maxPriceAge >= now``). Due trades are packed, in trade
  id order, into batches whose estimated gas (``batch_base_gas`` plus each trade's estimate) stays
  within the per-transaction budget (the configured one, never above the block gas limit). A
  trade that alone exceeds the budget is held, with the reason. The pause does not hold a
  settlement: the engine settles from margin accounts and skips only the pulls that fail.
- **Mature** a ``Live``/``MarginCall`` trade with the first final round after ``lastRound`` that
  finalised at or after its maturity, as ``mature`` checks it: the round before it is at or
  below ``lastRound`` or finalised before maturity. The reader passes the rounds it knows; when
  the latest round is at or after maturity but that round cannot be identified from them, the
  trade is held (read more history). The pause does not hold a maturity either: the engine
  refuses one (``DerivativeCashPaused``) only when the final payment needs a wallet pull, and the
  next call decides it again.
- **Declare default** on a ``MarginCall`` trade once ``now`` is past its effective cure deadline
  (``cureDeadlineOf``, which already includes a full cure period after the token's last unpause),
  never while the cash token is paused. A trade due for maturity is matured instead (the final
  payment closes it out with the fund's cover), and a trade declared in default is not also put in
  a batch: ``declareDefault`` settles to the latest round itself first.
- **Retry the fund claim** of every trade with ``fundClaimPendingOf``, not while the cash token
  is paused (the fund pays in cash).

Each trade gets at most one action per call; markets are taken by name, and within a market:
settlement batches, maturities, defaults, fund-claim retries, each by trade id.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from dfmi_py.api.derivatives import TradeState
from dfmi_py.errors import ConfigError, InputError

#: The engine stores prices as int128.
INT128_MAX = 2**127 - 1
#: States in which a trade settles, matures and (the second) defaults.
OPEN_STATES = (TradeState.LIVE, TradeState.MARGIN_CALL)


class HoldReason(Enum):
    """Why the keeper did not act on something it could otherwise act on."""

    PRICE_STALE = "the latest final answer is older than the engine's maxPriceAge"
    PRICE_INVALID = "the latest final answer is not a usable price"
    GAS_ABOVE_BUDGET = "the trade's settlement alone exceeds the gas budget of a transaction"
    CASH_PAUSED = "the cash token is paused"
    MATURITY_ROUND_UNKNOWN = "a round at or after maturity exists, but the known rounds do not identify the first"


@dataclass(frozen=True)
class KeeperConfig:
    """The keeper's gas settings.

    Attributes:
        tx_gas_budget: Most gas one settlement transaction may use (capped by the block gas limit).
        batch_base_gas: Gas of a ``settleMany`` call beyond its trades (intrinsic gas, price read).
        default_trade_gas: Gas assumed for a trade without an estimate of its own.
    """

    tx_gas_budget: int
    batch_base_gas: int
    default_trade_gas: int

    def __post_init__(self) -> None:
        if self.batch_base_gas < 0 or self.default_trade_gas <= 0:
            raise ConfigError(
                f"batch_base_gas must not be negative and default_trade_gas must be positive, got "
                f"{self.batch_base_gas} and {self.default_trade_gas}"
            )
        if self.tx_gas_budget <= self.batch_base_gas:
            raise ConfigError(
                f"tx_gas_budget ({self.tx_gas_budget}) must exceed batch_base_gas ({self.batch_base_gas})"
            )


@dataclass(frozen=True)
class FinalRound:
    """An oracle's final round: id, answer (oracle decimals) and ``updatedAt``."""

    round_id: int
    price: int
    updated_at: int


@dataclass(frozen=True)
class TradeView:
    """What the keeper needs of one trade.

    Attributes:
        trade_id: The engine's id.
        state: ``stateOf``.
        last_round: The round of its last settlement (``tradeOf().lastRound``).
        maturity: Unix seconds.
        cure_deadline: ``cureDeadlineOf`` (the effective deadline; 0 without a margin call).
        fund_claim_pending: ``fundClaimPendingOf``.
        settle_gas: Estimated gas of its settlement within a batch; ``None``: the configured default.
    """

    trade_id: int
    state: TradeState
    last_round: int
    maturity: int
    cure_deadline: int = 0
    fund_claim_pending: bool = False
    settle_gas: int | None = None


@dataclass(frozen=True)
class MarketState:
    """One market's engine and oracle, as read.

    Attributes:
        name: The market's name (e.g. the underlying), unique in the state.
        latest: The oracle's latest final round; ``None`` before the first.
        max_price_age: The engine's ``maxPriceAge``.
        rounds: ``round id -> updatedAt`` of the final rounds the reader knows (the latest is
            added if missing). Used to find maturity rounds.
        trades: The engine's trades (any state; the keeper picks what concerns it).
    """

    name: str
    latest: FinalRound | None
    max_price_age: int
    rounds: Mapping[int, int] = field(default_factory=dict)
    trades: tuple[TradeView, ...] = ()

    def __post_init__(self) -> None:
        ids = [t.trade_id for t in self.trades]
        if len(set(ids)) != len(ids):
            raise InputError(f"market {self.name}: a trade id appears twice among the trades read")
        if self.latest is not None and self.rounds.get(self.latest.round_id, self.latest.updated_at) != (
            self.latest.updated_at
        ):
            raise InputError(f"market {self.name}: round {self.latest.round_id} read with two different times")


@dataclass(frozen=True)
class KeeperState:
    """Everything the keeper decides on.

    Attributes:
        now: Unix seconds (the latest block's time).
        cash_paused: Whether the cash token is paused.
        block_gas_limit: The latest block's gas limit.
        markets: Every market the keeper serves.
        config: Its gas settings.
    """

    now: int
    cash_paused: bool
    block_gas_limit: int
    markets: tuple[MarketState, ...]
    config: KeeperConfig

    def __post_init__(self) -> None:
        names = [m.name for m in self.markets]
        if len(set(names)) != len(names):
            raise InputError("a market name appears twice in the keeper's state")


@dataclass(frozen=True)
class SettleBatch:
    """``settleMany(trade_ids)`` on ``market``'s engine, to final round ``round_id``; ``gas`` is the
    estimate the batch was sized with."""

    market: str
    round_id: int
    trade_ids: tuple[int, ...]
    gas: int


@dataclass(frozen=True)
class Mature:
    """``mature(trade_id, round_id)`` on ``market``'s engine."""

    market: str
    trade_id: int
    round_id: int


@dataclass(frozen=True)
class DeclareDefault:
    """``declareDefault(trade_id)`` on ``market``'s engine, whose cure period ended at ``cure_deadline``."""

    market: str
    trade_id: int
    cure_deadline: int


@dataclass(frozen=True)
class RetryFundClaim:
    """``retryFundClaim(trade_id)`` on ``market``'s engine."""

    market: str
    trade_id: int


Action = SettleBatch | Mature | DeclareDefault | RetryFundClaim


@dataclass(frozen=True)
class Held:
    """Something held back: ``trade_id`` of ``market`` (``None``: the whole market), and why."""

    market: str
    trade_id: int | None
    reason: HoldReason
    detail: str


@dataclass(frozen=True)
class KeeperDecision:
    """The actions to send, in order, and what was held back."""

    actions: tuple[Action, ...]
    held: tuple[Held, ...]


def price_usable(latest: FinalRound, max_price_age: int, now: int) -> bool:
    """True when the engine settles on ``latest`` at ``now``: positive, within int128, fresh."""
    return 0 < latest.price <= INT128_MAX and latest.updated_at + max_price_age >= now


def due_for_settlement(trade: TradeView, latest: FinalRound) -> bool:
    """True when ``settleMany`` would settle ``trade`` to ``latest`` (the price being usable)."""
    return trade.state in OPEN_STATES and trade.last_round < latest.round_id and latest.updated_at < trade.maturity


def maturity_round(trade: TradeView, round_ids: list[int], times: list[int], rounds: Mapping[int, int]) -> int | None:
    """The round ``mature`` accepts for ``trade``, when the known rounds identify it.

    Args:
        trade: The trade.
        round_ids: The known final rounds' ids, ascending.
        times: Their ``updatedAt``, in the same order.
        rounds: ``round id -> updatedAt`` of the known rounds.
    """
    # the first known round after lastRound finalised at or after maturity (times never decrease)
    index = max(bisect.bisect_left(times, trade.maturity), bisect.bisect_right(round_ids, trade.last_round))
    if index == len(round_ids):
        return None
    candidate = round_ids[index]
    before = candidate - 1
    if before > trade.last_round and not (before in rounds and rounds[before] < trade.maturity):
        return None
    return candidate


def _decide_market(market: MarketState, state: KeeperState) -> tuple[list[Action], list[Held]]:
    config = state.config
    actions: list[Action] = []
    held: list[Held] = []
    rounds = dict(market.rounds)
    if market.latest is not None:
        rounds[market.latest.round_id] = market.latest.updated_at
    round_ids = sorted(rounds)
    times = [rounds[r] for r in round_ids]
    trades = sorted(market.trades, key=lambda t: t.trade_id)
    latest = market.latest

    maturing: list[Mature] = []
    for trade in trades:
        if trade.state not in OPEN_STATES or latest is None or latest.updated_at < trade.maturity:
            continue
        if latest.round_id <= trade.last_round:  # settled to a round at or after maturity: wait for the next
            continue
        round_id = maturity_round(trade, round_ids, times, rounds)
        if round_id is None:
            detail = f"maturity {trade.maturity}, latest round {latest.round_id} at {latest.updated_at}"
            held.append(Held(market.name, trade.trade_id, HoldReason.MATURITY_ROUND_UNKNOWN, detail))
        else:
            maturing.append(Mature(market.name, trade.trade_id, round_id))
    matured_ids = {m.trade_id for m in maturing}

    defaults: list[DeclareDefault] = []
    for trade in trades:
        if trade.state != TradeState.MARGIN_CALL or trade.trade_id in matured_ids:
            continue
        if state.now <= trade.cure_deadline:
            continue
        if state.cash_paused:
            detail = f"cure deadline {trade.cure_deadline} passed; no default while paused"
            held.append(Held(market.name, trade.trade_id, HoldReason.CASH_PAUSED, detail))
        else:
            defaults.append(DeclareDefault(market.name, trade.trade_id, trade.cure_deadline))
    defaulted_ids = {d.trade_id for d in defaults}

    batches: list[SettleBatch] = []
    if latest is not None:
        due = [t for t in trades if due_for_settlement(t, latest) and t.trade_id not in defaulted_ids]
        if due and not price_usable(latest, market.max_price_age, state.now):
            reason = HoldReason.PRICE_INVALID if not 0 < latest.price <= INT128_MAX else HoldReason.PRICE_STALE
            detail = f"round {latest.round_id}: price {latest.price} of {latest.updated_at}, now {state.now}"
            held.append(Held(market.name, None, reason, detail))
            due = []
        budget = min(config.tx_gas_budget, state.block_gas_limit)
        ids: list[int] = []
        gas = config.batch_base_gas
        for trade in due:
            trade_gas = trade.settle_gas if trade.settle_gas is not None else config.default_trade_gas
            if config.batch_base_gas + trade_gas > budget:
                detail = f"{config.batch_base_gas} + {trade_gas} gas > budget {budget}"
                held.append(Held(market.name, trade.trade_id, HoldReason.GAS_ABOVE_BUDGET, detail))
                continue
            if gas + trade_gas > budget:
                batches.append(SettleBatch(market.name, latest.round_id, tuple(ids), gas))
                ids, gas = [], config.batch_base_gas
            ids.append(trade.trade_id)
            gas += trade_gas
        if ids:
            batches.append(SettleBatch(market.name, latest.round_id, tuple(ids), gas))

    acted = matured_ids | defaulted_ids | {i for b in batches for i in b.trade_ids}
    retries: list[RetryFundClaim] = []
    for trade in trades:
        if not trade.fund_claim_pending or trade.trade_id in acted:
            continue
        if state.cash_paused:
            held.append(Held(market.name, trade.trade_id, HoldReason.CASH_PAUSED, "fund claim waits for the unpause"))
        else:
            retries.append(RetryFundClaim(market.name, trade.trade_id))

    actions.extend(batches)
    actions.extend(maturing)
    actions.extend(defaults)
    actions.extend(retries)
    return actions, held


def decide(state: KeeperState) -> KeeperDecision:
    """The keeper's actions for every market (see the module's rules)."""
    actions: list[Action] = []
    held: list[Held] = []
    for market in sorted(state.markets, key=lambda m: m.name):
        market_actions, market_held = _decide_market(market, state)
        actions.extend(market_actions)
        held.extend(market_held)
    return KeeperDecision(tuple(actions), tuple(held))
