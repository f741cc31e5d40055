"""What a simulation will do, drawn from its seed before anything is sent (pure: no chain).

:func:`make_plan` turns a :class:`~dfmi_py.simulate.config.SimulationConfig` into a :class:`Plan`:

- **prices**: per market, a look-back history of ``margin.history_rounds`` rounds ending at the
  opening price ``s0`` (round 0), and the day's path of ``path.rounds`` rounds after it: geometric
  Brownian motion with the market's drift and volatility per year, one step per
  ``path.interval``, the log return of a step ``(drift - volatility²/2)·dt + volatility·√dt·Z``.
  The shock multiplies the shocked market's price by ``1 + size_bps / 10,000`` from its round
  on (the jump stays). Prices are the feed's integers (``price x 10^decimals``, rounded half to
  even);
- **members**: keys derived from their number (devnet keys: anyone can recompute them), names, a
  made-up LEI each (ISO 17442 check digits, prefix ``SIMU``) and a jurisdiction (ISO 3166, in
  turn from :data:`JURISDICTIONS`): the identity the compliance officer records, encrypted with
  keys drawn from the seed (:meth:`MemberPlan.identity_entropy`) so the same seed writes the same
  envelopes;
- **trades**: seeded random pairs, markets, quantities and contract prices within ``spread_bps``
  of the opening price, each side's IM from the margin model (:mod:`dfmi_py.risk`: historical
  expected shortfall over ``margin.mpor`` on the look-back, or the BCBS-IOSCO schedule);
- **the fund**: contributions from the stress sizing of the planned book
  (:func:`dfmi_py.risk.fund.size_fund`: the history's worst moves over ``margin.mpor``, and each
  of ``fund.shocks_bps`` in each market alone and in every market at once; cover-2 split in
  proportion to each member's stressed exposure), at least the floor and ``requirement_bps`` of
  the member's IM;
- **the defaulter**: the member the shock hurts most (``members.defaulter = "auto"``), or the one
  named; its wallet holds ``defaulter_wallet_bps`` of what the shock costs it beyond its margins
  and contribution, every other member ``members.wallet``;
- **DvPs** between members other than the defaulter, each settled in one round, some failing
  (frozen, expired); **payments** among all members for the day's netting round.

Each kind of draw has its own random stream (``numpy.random.default_rng([seed, stream, ...])``),
so more trades leave the prices as they were, and the same seed gives the same plan.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

from dfmi_py.errors import ConfigError
from dfmi_py.identity.disclosure import Identity
from dfmi_py.risk.forward import position_value, value_scale, variation_margin
from dfmi_py.risk.fund import (
    FundSizing,
    Position,
    StressScenario,
    historical_scenarios,
    hypothetical_scenarios,
    size_fund,
)
from dfmi_py.risk.historical import HistoricalModel, Measure, PricePoint, Side, historical_im
from dfmi_py.risk.schedule import schedule_im
from dfmi_py.simulate.config import CASH_DECIMALS, MarketSettings, SimulationConfig
from dfmi_py.units import from_units, to_units

#: Seconds in the year the drift and the volatility are quoted per (as the feeder's GBM source).
YEAR_SECONDS = 365 * 86_400
#: Underlying units per whole unit (quantities have 18 decimals).
QUANTITY_UNIT = 10**18
_BPS = 10_000

#: Random streams, one per kind of draw.
_PRICES, _TRADES, _DVPS, _PAYMENTS, _IDENTITIES = 1, 2, 3, 4, 5
#: The members' jurisdictions, in turn by member number (ISO 3166-1 alpha-2, or ISO 3166-2).
JURISDICTIONS = ("GB", "DE", "FR", "NL", "US-DE", "CH", "IE", "SG")


@dataclass(frozen=True)
class MemberPlan:
    """One member.

    Attributes:
        number: 1 to ``members.count``.
        name: Short name (``M01``).
        legal_name: The name its identity record carries.
        lei: A made-up Legal Entity Identifier with valid check digits.
        jurisdiction: Its ISO 3166 jurisdiction code.
        address: Its account (a key derived from its number: :func:`member_account`).
        defaulter: Whether it is the member that cannot pay.
        im: The IM of every side it will trade, cash units.
        contribution: What it joins the default fund with, cash units.
        wallet: Cash minted to it: its IMs, its contribution and the rest of its wallet.
    """

    number: int
    name: str
    legal_name: str
    lei: str
    jurisdiction: str
    address: str
    defaulter: bool
    im: int
    contribution: int
    wallet: int

    @property
    def account(self) -> LocalAccount:
        """Its signing key."""
        return member_account(self.number)

    @property
    def identity(self) -> Identity:
        """Its identity record (legal name, LEI, jurisdiction)."""
        return Identity(self.legal_name, self.lei, self.jurisdiction)

    def identity_entropy(self, seed: int) -> Callable[[int], bytes]:
        """The source of its identity envelope's keys: random bytes drawn from ``seed`` and its
        number, so the same seed seals the same envelope (every key of a simulation is a public
        devnet key: nothing is hidden from anyone who reads the code)."""
        rng = np.random.default_rng([seed, _IDENTITIES, self.number])
        return rng.bytes


@dataclass(frozen=True)
class MarketPlan:
    """One market's prices as feed integers.

    Attributes:
        name: The market.
        decimals: The feed's decimals.
        scale: The engine's value scale for these decimals and the cash's.
        history: Rounds ``-len(history)`` to ``-1``, oldest first.
        path: Rounds 0 (the opening price) to ``path.rounds``.
        shock_round: The round the shock hits this market, if it does.
    """

    name: str
    decimals: int
    scale: int
    history: tuple[int, ...]
    path: tuple[int, ...]
    shock_round: int | None


@dataclass(frozen=True)
class TradePlan:
    """One forward: ``buyer`` buys ``quantity`` (18 decimals) of ``market`` from ``seller``."""

    number: int
    market: str
    buyer: int
    seller: int
    quantity: int
    contract_price: int
    buyer_im: int
    seller_im: int
    notional: int
    salt: bytes


@dataclass(frozen=True)
class DvpPlan:
    """A bond sale: ``seller`` delivers ``quantity`` bonds to ``buyer`` for ``amount`` cash units,
    settled in round ``round``; ``kind`` is ``"settles"``, ``"frozen"`` (the buyer is frozen at
    settlement) or ``"expired"`` (its deadline passes before)."""

    number: int
    seller: int
    buyer: int
    quantity: int
    amount: int
    round: int
    kind: str
    nonce: int


@dataclass(frozen=True)
class PaymentPlan:
    """``payer`` owes ``payee`` ``amount`` cash units in the day's netting round."""

    number: int
    payer: int
    payee: int
    amount: int


@dataclass(frozen=True)
class Plan:
    """Everything the run does that the seed decides (see the module's text)."""

    config: SimulationConfig
    members: tuple[MemberPlan, ...]
    markets: tuple[MarketPlan, ...]
    trades: tuple[TradePlan, ...]
    sizing: FundSizing
    scenarios: tuple[StressScenario, ...]
    dvps: tuple[DvpPlan, ...]
    payments: tuple[PaymentPlan, ...]

    @cached_property
    def defaulter(self) -> MemberPlan | None:
        """The member that cannot pay, if any."""
        return next((m for m in self.members if m.defaulter), None)

    def market(self, name: str) -> MarketPlan:
        """The plan of market ``name``."""
        return next(m for m in self.markets if m.name == name)

    def member(self, number: int) -> MemberPlan:
        """Member ``number`` (1-based)."""
        return self.members[number - 1]


def member_account(number: int) -> LocalAccount:
    """Member ``number``'s key: derived from its number alone, for a devnet (anyone can recompute it)."""
    key: LocalAccount = Account.from_key(keccak(text=f"dfmi simulate member {number}"))
    return key


def lei_for(number: int) -> str:
    """A made-up LEI for member ``number``: ``SIMU00`` and 12 digits, then ISO 17442's two check
    digits (ISO 7064 mod 97-10, as an IBAN's)."""
    body = f"SIMU00{number:012d}"
    digits = "".join(str(int(c, 36)) for c in body + "00")
    return f"{body}{98 - int(digits) % 97:02d}"


def feed_answer(price: float, decimals: int) -> int:
    """``price`` as the feed's integer (rounded half to even), at least 1."""
    scaled: float = price * 10**decimals
    return max(1, round(scaled))


# ---------------------------------------------------------------------- prices


def market_prices(config: SimulationConfig, index: int, market: MarketSettings) -> MarketPlan:
    """One market's look-back history and day's path (see the module's text)."""
    rng = np.random.default_rng([config.seed, _PRICES, index])
    history_rounds, rounds = config.margin.history_rounds, config.path.rounds
    dt_years = config.path.interval / YEAR_SECONDS
    drift = (market.drift - market.volatility**2 / 2) * dt_years
    vol = market.volatility * math.sqrt(dt_years)
    steps = drift + vol * rng.standard_normal(history_rounds + rounds)
    start = math.log(float(market.s0))
    # the history ends at s0: its log prices relative to the last one
    before = np.concatenate(([0.0], np.cumsum(steps[:history_rounds])))
    history_logs = before[:-1] - before[-1] + start
    day_logs = start + np.concatenate(([0.0], np.cumsum(steps[history_rounds:])))
    shock_round = None
    if config.shock.size_bps != 0 and config.shock_market is market:
        shock_round = config.shock_round
        day_logs[shock_round:] += math.log1p(config.shock.size_bps / _BPS)
    s0 = int(market.s0.scaleb(market.decimals))
    path = [s0] + [feed_answer(math.exp(x), market.decimals) for x in day_logs[1:]]
    return MarketPlan(
        name=market.name,
        decimals=market.decimals,
        scale=value_scale(market.decimals, CASH_DECIMALS),
        history=tuple(feed_answer(math.exp(x), market.decimals) for x in history_logs),
        path=tuple(path),
        shock_round=shock_round,
    )


def history_points(config: SimulationConfig, market: MarketPlan) -> list[PricePoint]:
    """``market``'s look-back history and its opening price as the risk maths takes them, at
    times relative to the first observation (round ``-len(history)`` at 0)."""
    interval = config.path.interval
    prices = [*market.history, market.path[0]]
    return [PricePoint(k * interval, price) for k, price in enumerate(prices)]


# ---------------------------------------------------------------------- trades and margins


def _side_ims(
    config: SimulationConfig, market: MarketSettings, plan: MarketPlan, quantity: int, price: int
) -> tuple[int, int, int]:
    notional = position_value(quantity, price, plan.scale)
    if config.margin.model == "schedule":
        im = schedule_im(notional, market.asset_class)
        return im, im, notional
    model = HistoricalModel(
        confidence=config.margin.confidence,
        mpor_seconds=config.margin.mpor,
        measure=Measure.ES,
        buffer_bps=config.margin.buffer_bps,
        floor_bps=config.margin.floor_bps,
    )
    history = history_points(config, plan)
    buyer = historical_im(quantity, price, plan.scale, Side.BUYER, history, model)
    seller = historical_im(quantity, price, plan.scale, Side.SELLER, history, model)
    return buyer.im, seller.im, notional


def plan_trades(config: SimulationConfig, markets: Sequence[MarketPlan]) -> list[TradePlan]:
    """The day's forwards (see the module's text)."""
    rng = np.random.default_rng([config.seed, _TRADES])
    count = config.members.count
    spread = config.trades.spread_bps
    trades = []
    for number in range(1, config.trades.count + 1):
        index = int(rng.integers(len(config.markets)))
        market, plan = config.markets[index], markets[index]
        buyer, seller = (int(i) + 1 for i in rng.choice(count, size=2, replace=False))
        quantity = int(rng.integers(market.quantity_min, market.quantity_max + 1)) * QUANTITY_UNIT
        offset = int(rng.integers(-spread, spread + 1))
        price = max(1, plan.path[0] * (_BPS + offset) // _BPS)
        salt = rng.bytes(32)
        buyer_im, seller_im, notional = _side_ims(config, market, plan, quantity, price)
        trades.append(
            TradePlan(number, market.name, buyer, seller, quantity, price, buyer_im, seller_im, notional, salt)
        )
    return trades


# ---------------------------------------------------------------------- the fund and the defaulter


def _positions(trades: Sequence[TradePlan]) -> list[Position]:
    sides = []
    for t in trades:
        sides.append(Position(str(t.buyer), t.market, t.quantity, True, t.buyer_im))
        sides.append(Position(str(t.seller), t.market, t.quantity, False, t.seller_im))
    return sides


def stress_scenarios(config: SimulationConfig, markets: Sequence[MarketPlan]) -> list[StressScenario]:
    """The fund's scenarios: the history's worst fall and worst rise over ``margin.mpor`` (every
    market at once), each shock of ``fund.shocks_bps`` in each market alone, then each in every
    market at once."""
    opening = {m.name: m.path[0] for m in markets}
    histories = {m.name: history_points(config, m) for m in markets}
    scenarios = historical_scenarios(opening, histories, config.margin.mpor)
    scenarios += hypothetical_scenarios(opening, {name: list(config.fund.shocks_bps) for name in opening})
    for bps in config.fund.shocks_bps:
        moved = {name: max(1, price * (_BPS + bps) // _BPS) for name, price in opening.items()}
        scenarios.append(StressScenario(f"every market {bps:+d}bps", moved))
    return scenarios


def shock_losses(
    config: SimulationConfig, markets: Sequence[MarketPlan], trades: Sequence[TradePlan]
) -> dict[int, int]:
    """What the shock alone (from the opening price) costs each member over its book (negative: a gain)."""
    losses = dict.fromkeys(range(1, config.members.count + 1), 0)
    shocked = config.shock_market
    if config.shock.size_bps == 0 or shocked is None:
        return losses
    plan = next(m for m in markets if m.name == shocked.name)
    before = plan.path[0]
    after = max(1, before * (_BPS + config.shock.size_bps) // _BPS)
    for t in trades:
        if t.market != shocked.name:
            continue
        vm = variation_margin(t.quantity, before, after, plan.scale)  # to the buyer
        losses[t.buyer] -= vm
        losses[t.seller] += vm
    return losses


def _defaulter(config: SimulationConfig, losses: Mapping[int, int]) -> int | None:
    chosen = config.members.defaulter
    if chosen == "none":
        return None
    if isinstance(chosen, int):
        return chosen
    worst = max(losses, key=lambda number: (losses[number], -number))
    return worst if losses[worst] > 0 else None


def plan_members(
    config: SimulationConfig, trades: Sequence[TradePlan], sizing: FundSizing, losses: Mapping[int, int]
) -> list[MemberPlan]:
    """Every member's contribution and wallet (see the module's text)."""
    defaulter = _defaulter(config, losses)
    floor = to_units(config.fund.floor, CASH_DECIMALS)
    sized = {int(m.member): m.contribution for m in sizing.members}
    ims = dict.fromkeys(range(1, config.members.count + 1), 0)
    for t in trades:
        ims[t.buyer] += t.buyer_im
        ims[t.seller] += t.seller_im
    members = []
    for number in range(1, config.members.count + 1):
        required = -(-ims[number] * config.fund.requirement_bps // _BPS)
        contribution = max(sized.get(number, 0), floor, required, 1)
        if number == defaulter:
            rest = -(-max(losses[number], 0) * config.members.defaulter_wallet_bps // _BPS)
        else:
            rest = to_units(config.members.wallet, CASH_DECIMALS)
        members.append(
            MemberPlan(
                number=number,
                name=f"M{number:02d}",
                legal_name=f"Simulated Member {number:02d} Ltd",
                lei=lei_for(number),
                jurisdiction=JURISDICTIONS[(number - 1) % len(JURISDICTIONS)],
                address=member_account(number).address,
                defaulter=number == defaulter,
                im=ims[number],
                contribution=contribution,
                wallet=ims[number] + contribution + rest,
            )
        )
    return members


# ---------------------------------------------------------------------- DvPs and payments


def plan_dvps(config: SimulationConfig, defaulter: int | None) -> list[DvpPlan]:
    """The day's bond sales between members other than the defaulter."""
    rng = np.random.default_rng([config.seed, _DVPS])
    dvp = config.dvp
    parties = [n for n in range(1, config.members.count + 1) if n != defaulter]
    kinds = ["frozen"] * dvp.frozen + ["expired"] * dvp.expired + ["settles"] * (dvp.count - dvp.frozen - dvp.expired)
    order = rng.permutation(dvp.count)
    price = to_units(dvp.price, CASH_DECIMALS)
    nonces: dict[tuple[int, int], int] = {}
    dvps = []
    for number in range(1, dvp.count + 1):
        seller, buyer = (parties[int(i)] for i in rng.choice(len(parties), size=2, replace=False))
        quantity = int(rng.integers(dvp.quantity_min, dvp.quantity_max + 1))
        round_number = int(rng.integers(1, config.path.rounds + 1))
        pair = (min(seller, buyer), max(seller, buyer))
        nonce = nonces.get(pair, 0)
        nonces[pair] = nonce + 1
        kind = kinds[int(order[number - 1])]
        dvps.append(DvpPlan(number, seller, buyer, quantity, quantity * price, round_number, kind, nonce))
    return dvps


def plan_payments(config: SimulationConfig) -> list[PaymentPlan]:
    """The day's payments between members, netted in one round."""
    rng = np.random.default_rng([config.seed, _PAYMENTS])
    low = to_units(config.netting.amount_min, CASH_DECIMALS)
    high = to_units(config.netting.amount_max, CASH_DECIMALS)
    unit = 10**CASH_DECIMALS
    payments = []
    for number in range(1, config.netting.payments + 1):
        payer, payee = (int(i) + 1 for i in rng.choice(config.members.count, size=2, replace=False))
        amount = int(rng.integers(low // unit, high // unit + 1)) * unit
        payments.append(PaymentPlan(number, payer, payee, max(amount, low)))
    return payments


# ---------------------------------------------------------------------- the whole plan


def check_bounds(config: SimulationConfig, markets: Sequence[MarketPlan]) -> None:
    """Refuse a day whose path leaves a market's oracle bounds (the feeders would refuse the price
    and the market would stop making rounds).

    Raises:
        ConfigError: naming the market's key, the round and the price.
    """
    for index, (settings, plan) in enumerate(zip(config.markets, markets, strict=True)):
        params = settings.underlying_params()
        for round_number, price in enumerate(plan.path):
            if not params.min_answer <= price <= params.max_answer:
                shown = from_units(price, plan.decimals)
                raise ConfigError(
                    f"markets[{index}]: the path leaves min_price..max_price in round {round_number} (price {shown}): "
                    "widen the bounds, or lower the volatility or the shock"
                )


def make_plan(config: SimulationConfig) -> Plan:
    """Everything the seed decides (see the module's text).

    Raises:
        ConfigError: the day's path leaves a market's oracle bounds (:func:`check_bounds`).
    """
    markets = [market_prices(config, i, m) for i, m in enumerate(config.markets)]
    check_bounds(config, markets)
    trades = plan_trades(config, markets)
    scenarios = stress_scenarios(config, markets)
    opening = {m.name: m.path[0] for m in markets}
    scales = {m.name: m.scale for m in markets}
    floor = to_units(config.fund.floor, CASH_DECIMALS)
    sizing = size_fund(_positions(trades), opening, scales, scenarios, 0, floor * config.members.count)
    losses = shock_losses(config, markets, trades)
    members = plan_members(config, trades, sizing, losses)
    defaulter = next((m.number for m in members if m.defaulter), None)
    return Plan(
        config=config,
        members=tuple(members),
        markets=tuple(markets),
        trades=tuple(trades),
        sizing=sizing,
        scenarios=tuple(scenarios),
        dvps=tuple(plan_dvps(config, defaulter)),
        payments=tuple(plan_payments(config)),
    )
