"""The market's parameters: what each contract is constructed with.

:class:`MarketParams` is the whole suite (one cash token, one default fund, one security) and its
list of markets, the underlyings (:class:`UnderlyingParams`), each deployed as its own price
oracle and derivative engine. The defaults make a working devnet market with one underlying,
``ACME``. A deployment configuration file (:mod:`dfmi_py.deploy.config`) is this model in TOML.
"""

from __future__ import annotations

import re
from decimal import Context, Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dfmi_py.deploy.roles import checked_address
from dfmi_py.errors import InputError
from dfmi_py.units import from_units

#: Enough digits for any int128 answer with 18 decimals, so no conversion rounds.
_EXACT = Context(prec=100)
#: The oracle's contract accepts at most this many reporters (``MAX_REPORTERS``).
MAX_REPORTERS = 32
#: Answers are int128 on-chain.
_MAX_ANSWER = 2**127 - 1
#: The oracle's bounds when a market sets none, in the oracle's integer units.
DEFAULT_MIN_ANSWER = 1
DEFAULT_MAX_ANSWER = 10**18
#: A market's name: used in the manifest's keys and on the command line (``--market NAME``).
MARKET_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class ParamError(ValueError):
    """An inconsistency found by a cross-field check, naming the key it blames.

    Pydantic keeps the exception in the error's context, so the configuration loader reports
    ``markets[2].quorum: must be odd (got 4)`` rather than the whole market.
    """

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"{key}: {problem}")


class CashParams(BaseModel):
    """The tokenised cash."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "Digital Settlement Dollar"
    symbol: str = "DSD"
    decimals: int = Field(default=6, ge=0, le=18)


#: The fields of IPriceOracle.sol's ``OracleConfig``, in the struct's order.
ORACLE_CONFIG_FIELDS = (
    "max_faults",
    "quorum",
    "jump_quorum",
    "max_jump_bps",
    "heartbeat",
    "jump_window",
    "min_answer",
    "max_answer",
)


def check_fault_settings(max_faults: int, quorum: int, jump_quorum: int) -> None:
    """Refuse fault settings the oracle's contract refuses (reporter count aside).

    Raises:
        ParamError: naming the setting at fault.
    """
    if quorum % 2 == 0:
        raise ParamError("quorum", f"must be odd (got {quorum})")
    if quorum < 2 * max_faults + 1:
        raise ParamError("quorum", f"must be at least 2 * max_faults + 1 = {2 * max_faults + 1} (got {quorum})")
    if jump_quorum < quorum:
        raise ParamError("jump_quorum", f"must be at least quorum = {quorum} (got {jump_quorum})")


class OracleParams(BaseModel):
    """The price feed (see IPriceOracle.sol's ``OracleConfig``): it tolerates ``max_faults``
    dishonest and ``max_faults`` silent reporters, so it needs ``quorum`` odd and at least
    ``2 * max_faults + 1``, and ``quorum <= jump_quorum <= reporters - max_faults`` (at most 32
    reporters, answers within int128). The reporters themselves are the market's
    (:attr:`UnderlyingParams.reporters`) or the roles' (:attr:`RoleConfig.reporters`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = "ACME / USD"
    decimals: int = Field(default=8, ge=0, le=18)
    max_faults: int = Field(default=1, ge=1, le=10)
    quorum: int = Field(default=3, ge=1, le=MAX_REPORTERS)
    jump_quorum: int = Field(default=4, ge=1, le=MAX_REPORTERS)
    max_jump_bps: int = Field(default=2_000, ge=0, lt=2**16)
    heartbeat: int = Field(default=3600, gt=0, lt=2**32)
    jump_window: int = Field(default=3600, gt=0, lt=2**32)
    min_answer: int = Field(default=DEFAULT_MIN_ANSWER, gt=0, le=_MAX_ANSWER)
    max_answer: int = Field(default=DEFAULT_MAX_ANSWER, gt=0, le=_MAX_ANSWER)

    @model_validator(mode="after")
    def _consistent(self) -> OracleParams:
        check_fault_settings(self.max_faults, self.quorum, self.jump_quorum)
        if self.min_answer >= self.max_answer:
            raise ParamError("min_answer", f"must be below max_answer = {self.max_answer} (got {self.min_answer})")
        return self

    def min_reporters(self) -> int:
        """The fewest reporters these settings accept: ``jump_quorum + max_faults``."""
        return self.jump_quorum + self.max_faults

    def config_tuple(self) -> tuple[int, ...]:
        """The ``OracleConfig`` struct as the constructor takes it, in the struct's field order."""
        return tuple(getattr(self, name) for name in ORACLE_CONFIG_FIELDS)


class EngineParams(BaseModel):
    """The derivative engine (seconds); the engine's admin changes both later (``setConfig``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cure_period: int = Field(default=3600, gt=0, lt=2**64)
    max_price_age: int = Field(default=3600, gt=0, lt=2**64)


class UnderlyingParams(BaseModel):
    """One market: an underlying with its own price oracle and derivative engine.

    Prices are written in the feed's units, as decimal strings (``min_price = "0.0001"``): the
    oracle's on-chain answer is the price times ``10 ** decimals`` and must come out whole.
    Without them the bounds are one unit and 10^18 units, whatever the decimals. The
    fault settings are :class:`OracleParams`'s; ``reporters`` defaults to the roles' reporters, and
    ``cure_period`` / ``max_price_age`` to the ``[engine]`` section.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Letters, digits, ``-`` and ``_`` (at most 32): the market's key in the manifest and on the
    #: command line.
    name: str = "ACME"
    description: str = "ACME / USD"
    decimals: int = Field(default=8, ge=0, le=18)
    #: Lowest and highest answer the oracle accepts, in the feed's units; by default one unit of
    #: the last decimal (``10 ** -decimals``) and 10^18 units (10,000,000,000 at 8 decimals).
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    max_faults: int = Field(default=1, ge=1, le=10)
    quorum: int = Field(default=3, ge=1, le=MAX_REPORTERS)
    jump_quorum: int = Field(default=4, ge=1, le=MAX_REPORTERS)
    max_jump_bps: int = Field(default=2_000, ge=0, lt=2**16)
    heartbeat: int = Field(default=3600, gt=0, lt=2**32)
    jump_window: int = Field(default=3600, gt=0, lt=2**32)
    #: The oracle's reporters; ``None``: the roles' (:attr:`RoleConfig.reporters`).
    reporters: tuple[str, ...] | None = None
    #: Engine settings of this market; ``None``: the ``[engine]`` section's.
    cure_period: int | None = Field(default=None, gt=0, lt=2**64)
    max_price_age: int | None = Field(default=None, gt=0, lt=2**64)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not MARKET_NAME.match(value):
            raise ValueError(f"must be 1 to 32 letters, digits, '-' or '_' (got {value!r})")
        return value

    @field_validator("min_price", "max_price", mode="before")
    @classmethod
    def _price(cls, value: Any) -> Decimal | None:
        if value is None:
            return None
        # A TOML float is read as the shortest decimal that round-trips (0.0001, not its binary value).
        if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
            raise ValueError(f'must be a price such as "0.0001" (got {value!r})')
        try:
            price = _EXACT.create_decimal(repr(value) if isinstance(value, float) else str(value))
        except InvalidOperation:
            raise ValueError(f'must be a number such as "0.0001" (got {value!r})') from None
        if not price.is_finite() or price <= 0:
            raise ValueError(f"must be positive (got {value})")
        return price

    @field_validator("reporters")
    @classmethod
    def _reporters(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        checked = tuple(checked_address(v) for v in value)
        seen: set[str] = set()
        for address in checked:
            if address in seen:
                raise ValueError(f"{address} is listed twice")
            seen.add(address)
        if len(checked) > MAX_REPORTERS:
            raise ValueError(f"at most {MAX_REPORTERS} reporters (got {len(checked)})")
        return checked

    @model_validator(mode="after")
    def _consistent(self) -> UnderlyingParams:
        check_fault_settings(self.max_faults, self.quorum, self.jump_quorum)
        min_answer, max_answer = self.min_answer, self.max_answer
        if min_answer >= max_answer:
            low, high = (f"{from_units(a, self.decimals).normalize():f}" for a in (min_answer, max_answer))
            raise ParamError("min_price", f"must be below max_price = {high} (got {low})")
        if self.reporters is not None and len(self.reporters) < self.jump_quorum + self.max_faults:
            raise ParamError(
                "reporters",
                f"need at least jump_quorum + max_faults = {self.jump_quorum + self.max_faults} "
                f"(got {len(self.reporters)})",
            )
        return self

    @property
    def min_answer(self) -> int:
        """The lowest answer, in the oracle's integer units.

        Raises:
            ParamError: the price does not fit the oracle's decimals or int128.
        """
        return DEFAULT_MIN_ANSWER if self.min_price is None else _answer("min_price", self.min_price, self.decimals)

    @property
    def max_answer(self) -> int:
        """The highest answer, in the oracle's integer units (see :attr:`min_answer`)."""
        return DEFAULT_MAX_ANSWER if self.max_price is None else _answer("max_price", self.max_price, self.decimals)

    def oracle_params(self) -> OracleParams:
        """This market's oracle constructor parameters."""
        return OracleParams(
            description=self.description,
            decimals=self.decimals,
            max_faults=self.max_faults,
            quorum=self.quorum,
            jump_quorum=self.jump_quorum,
            max_jump_bps=self.max_jump_bps,
            heartbeat=self.heartbeat,
            jump_window=self.jump_window,
            min_answer=self.min_answer,
            max_answer=self.max_answer,
        )

    def engine_params(self, defaults: EngineParams) -> EngineParams:
        """This market's engine settings: its own where it sets them, else ``defaults``."""
        return EngineParams(
            cure_period=self.cure_period if self.cure_period is not None else defaults.cure_period,
            max_price_age=self.max_price_age if self.max_price_age is not None else defaults.max_price_age,
        )


def _answer(key: str, price: Decimal, decimals: int) -> int:
    scaled = price.scaleb(decimals, context=_EXACT)
    if scaled != scaled.to_integral_value():
        raise ParamError(key, f"{price:f} has more than decimals = {decimals} decimal places")
    if scaled > _MAX_ANSWER:
        raise ParamError(key, f"{price:f} is too large for the oracle (at most {_MAX_ANSWER} units)")
    return int(scaled)


class FundParams(BaseModel):
    """The default fund (see IDefaultFund.sol): a member's required contribution is
    ``max(floor, requirement_bps / 10,000 x the IM of its open trades)``, and, once the members
    adopt per-member minimums (``SetMemberRequirements``), at least its own minimum while it has
    open trades. After deployment only the members change these (governance)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Share of the members an action needs, in basis points: more than half (at least two
    #: members whatever the share; registering an engine needs every member).
    threshold_bps: int = Field(default=6_000, gt=5_000, le=10_000)
    requirement_bps: int = Field(default=2_000, ge=0, le=10_000)
    #: Smallest requirement of any member, in whole cash tokens (below 2^96 units).
    floor: int = Field(default=1_000, ge=0, lt=2**64)
    replenishment_window: int = Field(default=86_400, gt=0, lt=2**32)

    def floor_amount(self, decimals: int) -> int:
        """The floor in the cash token's units.

        Raises:
            InputError: the floor does not fit the fund's 96 bits at these decimals.
        """
        amount = int(self.floor * 10**decimals)
        if amount >= 2**96:
            raise InputError(f"fund floor {self.floor:,} is too large: at most {(2**96 - 1) // 10**decimals:,} tokens")
        return amount


class SecurityParams(BaseModel):
    """The tokenised security, the delivery leg of DvP (whole shares by default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "ACME Corp 5% 2030"
    symbol: str = "ACME30"
    decimals: int = Field(default=0, ge=0, le=18)


class MarketParams(BaseModel):
    """Every contract's parameters; the defaults make a working devnet market with one underlying.

    ``engine`` holds the defaults of every market's engine; ``markets`` lists the underlyings in
    deployment order (the first is :attr:`Deployment.oracle` / :attr:`Deployment.engine`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    cash: CashParams = CashParams()
    engine: EngineParams = EngineParams()
    fund: FundParams = FundParams()
    security: SecurityParams = SecurityParams()
    markets: tuple[UnderlyingParams, ...] = (UnderlyingParams(),)

    @model_validator(mode="after")
    def _consistent(self) -> MarketParams:
        if not self.markets:
            raise ParamError("markets", "list at least one market ([[markets]])")
        seen: set[str] = set()
        for index, market in enumerate(self.markets):
            # Names are keys in the manifest and on the command line: unique whatever their case.
            if market.name.lower() in seen:
                raise ParamError(f"markets[{index}].name", f"{market.name!r} is already the name of another market")
            seen.add(market.name.lower())
        try:
            self.fund.floor_amount(self.cash.decimals)
        except InputError as exc:
            raise ParamError("fund.floor", str(exc)) from None
        return self

    @property
    def oracle(self) -> OracleParams:
        """The first market's oracle parameters."""
        return self.markets[0].oracle_params()
