"""The market's parameters: what each contract is constructed with."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dfmi_py.errors import InputError


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


class OracleParams(BaseModel):
    """The price feed (see IPriceOracle.sol's ``OracleConfig``): it tolerates ``max_faults``
    dishonest and ``max_faults`` silent reporters, so it needs ``quorum`` odd and at least
    ``2 * max_faults + 1``, and ``quorum <= jump_quorum <= reporters - max_faults`` (at most 32
    reporters, answers within int128). The reporters themselves are in the roles
    (:attr:`RoleConfig.reporters`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = "ACME / USD"
    decimals: int = Field(default=8, ge=0, le=18)
    max_faults: int = Field(default=1, ge=1, le=10)
    quorum: int = Field(default=3, ge=1, le=32)
    jump_quorum: int = Field(default=4, ge=1, le=32)
    max_jump_bps: int = Field(default=2_000, ge=0, lt=2**16)
    heartbeat: int = Field(default=3600, gt=0, lt=2**32)
    jump_window: int = Field(default=3600, gt=0, lt=2**32)
    min_answer: int = Field(default=1, gt=0, lt=2**127)
    max_answer: int = Field(default=10**18, gt=0, lt=2**127)

    @model_validator(mode="after")
    def _consistent(self) -> OracleParams:
        if self.quorum % 2 == 0:
            raise ValueError(f"quorum ({self.quorum}) must be odd")
        if self.quorum < 2 * self.max_faults + 1:
            raise ValueError(f"quorum ({self.quorum}) must be at least 2 * max_faults + 1 ({2 * self.max_faults + 1})")
        if self.jump_quorum < self.quorum:
            raise ValueError(f"jump_quorum ({self.jump_quorum}) must be >= quorum ({self.quorum})")
        if self.min_answer >= self.max_answer:
            raise ValueError(f"min_answer ({self.min_answer}) must be below max_answer ({self.max_answer})")
        return self

    def min_reporters(self) -> int:
        """The fewest reporters these settings accept: ``jump_quorum + max_faults``."""
        return self.jump_quorum + self.max_faults

    def config_tuple(self) -> tuple[int, ...]:
        """The ``OracleConfig`` struct as the constructor takes it, in the struct's field order."""
        return tuple(getattr(self, name) for name in ORACLE_CONFIG_FIELDS)


class EngineParams(BaseModel):
    """The derivative engine."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cure_period: int = Field(default=3600, gt=0, lt=2**64)
    max_price_age: int = Field(default=3600, gt=0, lt=2**64)


class FundParams(BaseModel):
    """The default fund (see IDefaultFund.sol): a member's required contribution is
    ``max(floor, requirement_bps / 10,000 x the IM of its open trades)``."""

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
    """Every contract's parameters; the defaults make a sensible devnet market."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cash: CashParams = CashParams()
    oracle: OracleParams = OracleParams()
    engine: EngineParams = EngineParams()
    fund: FundParams = FundParams()
    security: SecurityParams = SecurityParams()
