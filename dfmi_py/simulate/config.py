"""``dfmi simulate``'s settings: one TOML file (``examples/simulate.toml`` shows every key) and flags.

:class:`SimulationConfig` is the whole run: the members, the markets (each an underlying with its
oracle, its engine and the price path's parameters), the trades, the margin model, the default
fund's sizing, the day's price path and its stress shock, the DvPs (and which fail, and why), the
netting round, the seed and the output folder. :func:`load_simulation_config` reads the file,
applies the flags over it (``--members 50`` is ``members.count = 50``) and validates the result;
every problem names its key (``markets[1].feeders: must be at least jump_quorum = 4 (got 3)``,
``unknown key 'trades.cont'``) before anything is sent.

Units: cash in whole tokens, written as strings (``"1000000"``); prices in the feed's units, as
strings (``"1.10"``); durations in seconds; basis points (bps) of 10,000.
"""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dfmi_py.deploy.config import describe
from dfmi_py.deploy.params import (
    EngineParams,
    FundParams,
    MarketParams,
    ParamError,
    UnderlyingParams,
)
from dfmi_py.deploy.roles import DEV_REPORTER_INDICES
from dfmi_py.errors import ConfigError
from dfmi_py.risk.schedule import AssetClass

#: The cash token's decimals in a simulation (the suite's default).
CASH_DECIMALS = 6
#: Most members a run takes (each is a key of its own, funded with gas money).
MAX_MEMBERS = 500


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _decimal(value: Any) -> Any:
    # A TOML float is read as the shortest decimal that round-trips (101.5, not its binary value).
    return repr(value) if isinstance(value, float) else value


class MembersSettings(_Strict):
    """``[members]``: who trades."""

    #: How many members (each a fresh key funded with gas money by the admin).
    count: int = Field(8, ge=2, le=MAX_MEMBERS)
    #: Cash each member holds beyond its initial margins and fund contribution, whole tokens.
    wallet: Decimal = Field(Decimal(1_000_000), gt=0)
    #: Who cannot pay when the shock comes: ``"auto"`` (the member the shock hurts most), a member
    #: number (1 to ``count``) or ``"none"``.
    defaulter: Literal["auto", "none"] | int = "auto"
    #: The defaulter's cash beyond its margins and contribution: this share of what the shock costs it.
    defaulter_wallet_bps: int = Field(2_500, ge=0, le=10_000)

    _wallet = field_validator("wallet", mode="before")(_decimal)


class TradesSettings(_Strict):
    """``[trades]``: the forwards members open with each other (seeded random pairs, sizes, prices)."""

    count: int = Field(36, ge=1, le=100_000)
    maturity_days: int = Field(30, gt=0, le=3_650)
    #: Contract prices lie within this of the market's opening price.
    spread_bps: int = Field(20, ge=0, lt=10_000)


class MarginSettings(_Strict):
    """``[margin]``: the initial-margin model each side's IM comes from (:mod:`dfmi_py.risk`)."""

    model: Literal["historical", "schedule"] = "historical"
    confidence: float = Field(0.99, gt=0, lt=1)
    #: Margin period of risk, seconds (a round and the cure period: what settling every round leaves).
    mpor: int = Field(7_200, gt=0)
    buffer_bps: int = Field(2_500, ge=0, le=100_000)
    floor_bps: int = Field(100, ge=0, le=10_000)
    #: Rounds of price history generated before the day (the model's look-back).
    history_rounds: int = Field(720, ge=10, le=1_000_000)


class FundSettings(_Strict):
    """``[fund]``: the default fund's rules and its sizing (cover-2 over stress scenarios)."""

    requirement_bps: int = Field(2_000, ge=0, le=10_000)
    #: Smallest requirement of any member, whole tokens.
    floor: Decimal = Field(Decimal(1_000), ge=0)
    #: Market-wide stress scenarios that size the fund, besides the history's worst moves.
    shocks_bps: tuple[int, ...] = (-2_000, 2_000)

    _floor = field_validator("floor", mode="before")(_decimal)

    @field_validator("shocks_bps")
    @classmethod
    def _shocks(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        for shock in value:
            if shock <= -10_000:
                raise ValueError(f"a shock must be above -10000 bps (a price stays positive), got {shock}")
        return value


class EngineSettings(_Strict):
    """``[engine]``: every market's derivative engine (a market may set its own)."""

    cure_period: int = Field(3_600, gt=0, lt=2**64)
    max_price_age: int = Field(3_600, gt=0, lt=2**64)


class PathSettings(_Strict):
    """``[path]``: the day's price rounds (geometric Brownian motion, per market's drift and volatility)."""

    interval: int = Field(3_600, gt=0)
    rounds: int = Field(24, ge=1, le=100_000)


class ShockSettings(_Strict):
    """``[shock]``: the stress event, a jump in one market's price that stays."""

    market: str = "XAU"
    #: The round it happens in (1 to ``path.rounds``), or ``"middle"``.
    round: int | Literal["middle"] = "middle"
    #: Its size; 0: no shock.
    size_bps: int = Field(-2_500, gt=-10_000, le=100_000)


class DvpSettings(_Strict):
    """``[dvp]``: bond sales delivery-versus-payment between members, settled along the day."""

    count: int = Field(10, ge=0, le=100_000)
    #: Of which this many fail because the buyer's account is frozen at settlement...
    frozen: int = Field(1, ge=0)
    #: ...and this many because their deadline passed before settlement.
    expired: int = Field(1, ge=0)
    quantity_min: int = Field(10, gt=0)
    quantity_max: int = Field(200, gt=0)
    #: Cash per bond, whole tokens.
    price: Decimal = Field(Decimal("101.50"), gt=0)

    _price = field_validator("price", mode="before")(_decimal)


class NettingSettings(_Strict):
    """``[netting]``: the day's payments between members, settled net in one round."""

    payments: int = Field(24, ge=0, le=100_000)
    amount_min: Decimal = Field(Decimal(1_000), gt=0)
    amount_max: Decimal = Field(Decimal(50_000), gt=0)
    #: Seconds the round collects obligations, then gives debtors to fund.
    window: int = Field(3_600, gt=0)

    _amounts = field_validator("amount_min", "amount_max", mode="before")(_decimal)


class MarketSettings(_Strict):
    """``[[markets]]``: one underlying, deployed as its own oracle and engine, and its price path."""

    name: str
    description: str
    decimals: int = Field(8, ge=0, le=18)
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    quorum: int = Field(3, ge=1)
    jump_quorum: int = Field(4, ge=1)
    max_jump_bps: int = Field(2_000, ge=0, lt=2**16)
    heartbeat: int = Field(3_600, gt=0, lt=2**32)
    cure_period: int | None = Field(None, gt=0, lt=2**64)
    max_price_age: int | None = Field(None, gt=0, lt=2**64)
    #: The opening price, in the feed's units.
    s0: Decimal = Field(gt=0)
    #: Expected return per year, and standard deviation of the log return per year.
    drift: float = 0.0
    volatility: float = Field(0.2, ge=0, le=5)
    #: Reporters that run a feeder (the first of the devnet's reporters; the others stay silent).
    feeders: int = Field(len(DEV_REPORTER_INDICES), ge=1, le=len(DEV_REPORTER_INDICES))
    #: A trade's quantity, whole units of the underlying (drawn uniformly).
    quantity_min: int = Field(1, gt=0)
    quantity_max: int = Field(10, gt=0)
    #: Asset class of the BCBS-IOSCO schedule (``margin.model = "schedule"``).
    asset_class: AssetClass = AssetClass.OTHER

    _prices = field_validator("min_price", "max_price", "s0", mode="before")(_decimal)

    @model_validator(mode="after")
    def _consistent(self) -> MarketSettings:
        if self.feeders < max(self.quorum, self.jump_quorum):
            need = max(self.quorum, self.jump_quorum)
            raise ParamError("feeders", f"must be at least quorum and jump_quorum = {need} (got {self.feeders})")
        if self.quantity_min > self.quantity_max:
            raise ParamError("quantity_min", f"must not exceed quantity_max = {self.quantity_max}")
        params = self.underlying_params()
        answer = self.s0.scaleb(self.decimals)
        if answer != answer.to_integral_value():
            raise ParamError("s0", f"{self.s0} has more than decimals = {self.decimals} decimal places")
        if not params.min_answer <= int(answer) <= params.max_answer:
            raise ParamError("s0", f"{self.s0} lies outside min_price..max_price")
        return self

    def underlying_params(self) -> UnderlyingParams:
        """This market as the deployment takes it (raises :class:`ParamError` naming the key)."""
        try:
            return UnderlyingParams(
                name=self.name,
                description=self.description,
                decimals=self.decimals,
                min_price=self.min_price,
                max_price=self.max_price,
                quorum=self.quorum,
                jump_quorum=self.jump_quorum,
                max_jump_bps=self.max_jump_bps,
                heartbeat=self.heartbeat,
                jump_window=self.heartbeat,
                cure_period=self.cure_period,
                max_price_age=self.max_price_age,
            )
        except ValidationError as exc:
            error = exc.errors()[0]
            cause = error.get("ctx", {}).get("error")
            if isinstance(cause, ParamError):
                raise cause from None
            key = ".".join(str(part) for part in error["loc"]) or "name"
            raise ParamError(key, str(error["msg"]).removeprefix("Value error, ")) from None


#: The default markets: the three of examples/three-markets.toml.
DEFAULT_MARKETS = (
    MarketSettings(
        name="XAU",
        description="Gold / USD per troy ounce",
        min_price=Decimal(1),
        max_price=Decimal(1_000_000),
        quorum=3,
        jump_quorum=3,
        s0=Decimal(2_000),
        volatility=0.15,
        feeders=4,
        quantity_min=10,
        quantity_max=100,
        asset_class=AssetClass.COMMODITY,
    ),
    MarketSettings(
        name="EURUSD",
        description="EUR / USD",
        min_price=Decimal("0.01"),
        max_price=Decimal(100),
        max_jump_bps=500,
        s0=Decimal("1.10"),
        volatility=0.08,
        quantity_min=20_000,
        quantity_max=200_000,
        asset_class=AssetClass.FX,
    ),
    MarketSettings(
        name="IDX50",
        description="Blue-chip 50 index (points)",
        decimals=2,
        min_price=Decimal(1),
        max_price=Decimal(1_000_000),
        heartbeat=86_400,
        max_price_age=86_400,
        s0=Decimal(5_000),
        volatility=0.20,
        quantity_min=4,
        quantity_max=40,
        asset_class=AssetClass.EQUITY,
    ),
)


class SimulationConfig(_Strict):
    """The whole run (see the module's text and ``examples/simulate.toml``)."""

    #: Every random draw comes from it: the same seed gives the same run.
    seed: int = Field(7, ge=0, lt=2**63)
    #: Folder for the record and the tables.
    out: Path = Path("simulation")
    #: Genesis time of the Anvil the command starts (not used with ``--rpc-url``).
    start_time: dt.datetime = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    #: ``"devnet"`` moves the chain's clock, ``"wait"`` waits in real time, ``"auto"`` moves it
    #: where the node offers it.
    clock: Literal["auto", "devnet", "wait"] = "auto"
    members: MembersSettings = MembersSettings()
    trades: TradesSettings = TradesSettings()
    margin: MarginSettings = MarginSettings()
    fund: FundSettings = FundSettings()
    engine: EngineSettings = EngineSettings()
    path: PathSettings = PathSettings()
    shock: ShockSettings = ShockSettings()
    dvp: DvpSettings = DvpSettings()
    netting: NettingSettings = NettingSettings()
    markets: tuple[MarketSettings, ...] = DEFAULT_MARKETS

    @field_validator("start_time")
    @classmethod
    def _utc(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        if value.timestamp() < 0:
            raise ValueError("must be after 1970")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> SimulationConfig:
        if not self.markets:
            raise ParamError("markets", "list at least one market ([[markets]])")
        names = [m.name.lower() for m in self.markets]
        for index, name in enumerate(names):
            if name in names[:index]:
                raise ParamError(f"markets[{index}].name", f"{self.markets[index].name!r} names two markets")
        members = self.members
        if isinstance(members.defaulter, int) and not 1 <= members.defaulter <= members.count:
            raise ParamError(
                "members.defaulter", f"must be a member number 1..{members.count} (got {members.defaulter})"
            )
        if self.shock.size_bps != 0 and self.shock_market is None:
            known = ", ".join(m.name for m in self.markets)
            raise ParamError("shock.market", f"no market {self.shock.market!r} (the markets: {known})")
        if self.shock.size_bps != 0:
            last = self.path.rounds - self.rounds_to_default()
            if last < 1:
                raise ParamError(
                    "path.rounds",
                    f"must leave room for a default after the shock: at least {self.rounds_to_default() + 1} "
                    f"(got {self.path.rounds})",
                )
            if not 1 <= self.shock_round <= last:
                raise ParamError(
                    "shock.round",
                    f"must lie in 1..{last}: a margin call opened then is declared a default "
                    f"{self.rounds_to_default()} rounds later, within the {self.path.rounds} rounds "
                    f"(got {self.shock.round})",
                )
        dvp = self.dvp
        if dvp.frozen + dvp.expired > dvp.count:
            raise ParamError("dvp.frozen", f"frozen + expired must not exceed count = {dvp.count}")
        if dvp.quantity_min > dvp.quantity_max:
            raise ParamError("dvp.quantity_min", f"must not exceed quantity_max = {dvp.quantity_max}")
        if dvp.count and self.members.count - (0 if members.defaulter == "none" else 1) < 2:
            raise ParamError("dvp.count", "DvPs need two members besides the defaulter: add members or set 0")
        if self.netting.amount_min > self.netting.amount_max:
            raise ParamError("netting.amount_min", f"must not exceed amount_max = {self.netting.amount_max}")
        self.market_params()  # every market's deployment settings, checked now
        return self

    # ------------------------------------------------------------------ derived

    @property
    def shock_market(self) -> MarketSettings | None:
        """The market the shock hits (``None`` when no market has that name)."""
        return next((m for m in self.markets if m.name.lower() == self.shock.market.lower()), None)

    @property
    def shock_round(self) -> int:
        """The round of the shock (``"middle"`` resolved)."""
        if self.shock.round == "middle":
            return max(1, (self.path.rounds - self.rounds_to_default()) // 2)
        return self.shock.round

    def cure_period(self, market: MarketSettings) -> int:
        """The cure period of ``market``'s engine."""
        return market.cure_period if market.cure_period is not None else self.engine.cure_period

    def rounds_to_default(self) -> int:
        """Rounds from a margin call in the shocked market to the first round the keeper may
        declare its default: the cure period in whole rounds, plus one (the call is opened a few
        blocks into its round, and the keeper acts a few blocks into each)."""
        market = self.shock_market or self.markets[0]
        return math.ceil(self.cure_period(market) / self.path.interval) + 1

    def market_params(self) -> MarketParams:
        """The suite's deployment parameters (cash, fund, engines and every market).

        Raises:
            ParamError: a market's settings the deployment refuses (the key named).
        """
        underlyings = []
        for index, market in enumerate(self.markets):
            try:
                underlyings.append(market.underlying_params())
            except ParamError as exc:
                raise ParamError(f"markets[{index}].{exc.key}", exc.problem) from None
        fund = FundParams(requirement_bps=self.fund.requirement_bps, floor=int(self.fund.floor))
        engine = EngineParams(cure_period=self.engine.cure_period, max_price_age=self.engine.max_price_age)
        return MarketParams(engine=engine, fund=fund, markets=tuple(underlyings))

    @property
    def start_timestamp(self) -> int:
        """:attr:`start_time` in Unix seconds."""
        return int(self.start_time.timestamp())


# ---------------------------------------------------------------------- loading


#: What each flag of ``dfmi simulate`` sets in the file's terms.
FLAG_KEYS = {
    "members": "members.count",
    "trades": "trades.count",
    "seed": "seed",
    "rounds": "path.rounds",
    "out": "out",
}


def parse_shock(text: str) -> dict[str, Any]:
    """``--shock [MARKET=]BPS`` as settings (``{"market": "XAU", "size_bps": -2500}``).

    Raises:
        ConfigError: not ``BPS`` or ``MARKET=BPS`` with an integer BPS.
    """
    market, _, size = text.rpartition("=")
    try:
        bps = int(size.strip())
    except ValueError:
        raise ConfigError(f"--shock: {text!r} is not [MARKET=]BPS, e.g. -2500 or XAU=-2500") from None
    settings: dict[str, Any] = {"size_bps": bps}
    if market.strip():
        settings["market"] = market.strip()
    return settings


def overrides_from_flags(
    *,
    members: int | None = None,
    trades: int | None = None,
    seed: int | None = None,
    rounds: int | None = None,
    out: Path | None = None,
    shock: str | None = None,
) -> dict[str, Any]:
    """The dotted-key settings the given flags stand for (flags left out set nothing)."""
    given = {"members": members, "trades": trades, "seed": seed, "rounds": rounds, "out": out}
    overrides: dict[str, Any] = {FLAG_KEYS[name]: value for name, value in given.items() if value is not None}
    if shock is not None:
        overrides.update({f"shock.{key}": value for key, value in parse_shock(shock).items()})
    return overrides


def load_simulation_config(path: Path | None = None, overrides: Mapping[str, Any] | None = None) -> SimulationConfig:
    """Read ``path`` (the defaults when ``None``), apply ``overrides`` (dotted keys, e.g.
    ``{"members.count": 50}``) and validate.

    A relative ``out`` is taken from the working directory.

    Raises:
        ConfigError: the file cannot be read or is not TOML, or a key is unknown or invalid (every
            problem, each with its key, in one line).
    """
    source = str(path) if path is not None else "settings"
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the configuration ({exc.strerror})") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    for key, value in (overrides or {}).items():
        _set(data, key.split("."), value)
    return validate_simulation_config(data, source)


def validate_simulation_config(data: Mapping[str, Any], source: str = "settings") -> SimulationConfig:
    """Validate already-parsed settings (see :func:`load_simulation_config`).

    Raises:
        ConfigError: a key is unknown or invalid (named).
    """
    try:
        return SimulationConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(describe(error) for error in exc.errors())
        raise ConfigError(f"{source}: {problems}") from None


def _set(data: dict[str, Any], keys: list[str], value: Any) -> None:
    node = data
    for key in keys[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[keys[-1]] = str(value) if isinstance(value, Path) else value
