"""The feeder's settings: the common service keys plus one ``[feeds.<MARKET>]`` table per market.

Each feed names the deployment's market it reports for, its thresholds and quote policy (see
:class:`dfmi_py.services.sources.SourcePolicy`) and its sources in fallback order::

    [feeds.ACME]
    deviation_bps = 50
    heartbeat_margin = 300
    max_age = 120
    max_jump_bps = 1000
    jump_reference_max_age = 600

    [[feeds.ACME.sources]]
    kind = "http"
    url = "https://prices.example/v1/{asset}"
    price_path = "data.0.price"

    [[feeds.ACME.sources]]
    kind = "gbm"
    s0 = "100"
    volatility = 0.2
    step = 1
    seed = 7

The file's shape is checked by :func:`dfmi_py.services.config.load_settings` (a
:class:`~dfmi_py.errors.ConfigError` names the key); :func:`build_feeds` then checks it against the
deployment (a market it lacks, a key that is not one of the market's reporters, a heartbeat margin
not below the oracle's heartbeat, a CSV file that cannot be read), again naming the key. The
oracle's decimals and bounds come from the chain, never from the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dfmi_py.api.market import Market
from dfmi_py.api.oracle import Oracle
from dfmi_py.errors import ConfigError
from dfmi_py.services.config import ServiceSettings
from dfmi_py.services.feeder.decide import FeederConfig
from dfmi_py.services.feeds import CsvReplaySource, GbmSource, HttpJsonSource, PriceSource
from dfmi_py.services.sources import BPS, SourcePolicy


class _Strict(BaseModel):
    # strict as the service settings (dfmi_py.services.config); paths and decimals are read from text.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class CsvSourceSettings(_Strict):
    """``kind = "csv"``: a replay file of ``timestamp,asset,price`` rows (see :class:`CsvReplaySource`)."""

    kind: Literal["csv"]
    #: The source's name in the logs [default: ``csv-<position>``].
    name: str | None = Field(None, min_length=1)
    #: The file; a relative path is taken from the configuration file's folder.
    path: Path = Field(strict=False)
    #: Replay from the first block seen rather than at the file's own times.
    relative: bool = False


class GbmSourceSettings(_Strict):
    """``kind = "gbm"``: a seeded simulation (see :class:`GbmSource`)."""

    kind: Literal["gbm"]
    name: str | None = Field(None, min_length=1)
    s0: Decimal = Field(gt=0, strict=False)
    drift: float = 0.0
    volatility: float = Field(ge=0, le=10)
    step: int = Field(gt=0)
    seed: int = Field(ge=0)
    decimals: int = Field(8, ge=0, le=18)
    #: Unix time of the first step; the first block seen when absent. Feeders that must agree on
    #: the path (a devnet with several simulated reporters) give the same seed and start.
    start: int | None = Field(None, ge=0)
    jump_intensity: float = Field(0.0, ge=0)
    jump_mean: float = 0.0
    jump_sd: float = Field(0.0, ge=0)

    @field_validator("s0", mode="before")
    @classmethod
    def _exact(cls, value: object) -> object:
        # A TOML float is taken as the shortest decimal that round-trips (100.1, not its binary value).
        return repr(value) if isinstance(value, float) else value


class HttpSourceSettings(_Strict):
    """``kind = "http"``: a JSON endpoint (see :class:`HttpJsonSource`)."""

    kind: Literal["http"]
    name: str | None = Field(None, min_length=1)
    url: str = Field(pattern=r"^https?://")
    price_path: str = Field(min_length=1)
    timestamp_path: str | None = Field(None, min_length=1)
    timeout: float = Field(5.0, gt=0, le=60)


SourceSettings = Annotated[CsvSourceSettings | GbmSourceSettings | HttpSourceSettings, Field(discriminator="kind")]


class FeedSettings(_Strict):
    """``[feeds.<MARKET>]``: one market's feed."""

    #: The asset the sources are asked for (the CSV's asset column, ``{asset}`` in a URL)
    #: [default: the market's name].
    asset: str | None = Field(None, min_length=1)
    #: Report when the price moved more than this from the latest final answer (basis points).
    deviation_bps: int = Field(gt=0, le=BPS)
    #: Report this many seconds before the oracle's heartbeat lapses (below the heartbeat).
    heartbeat_margin: int = Field(ge=0)
    #: Oldest quote accepted, in seconds.
    max_age: int = Field(gt=0)
    #: Largest move from the previous accepted quote (basis points of it).
    max_jump_bps: int = Field(gt=0)
    #: Seconds during which the previous accepted quote bounds the jump.
    jump_reference_max_age: int = Field(gt=0)
    #: Seconds a quote's time may lie ahead of the block's.
    max_future_skew: int = Field(5, ge=0)
    #: The sources, first preferred.
    sources: list[SourceSettings] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> FeedSettings:
        names = [source_name(s, i) for i, s in enumerate(self.sources)]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise ValueError(f"sources.{i}.name: {name!r} names two sources")
        return self

    def policy(self, decimals: int) -> SourcePolicy:
        """How this feed's quotes are judged, for an oracle of ``decimals``."""
        return SourcePolicy(
            decimals=decimals,
            max_age=self.max_age,
            max_jump_bps=self.max_jump_bps,
            jump_reference_max_age=self.jump_reference_max_age,
            max_future_skew=self.max_future_skew,
        )


class FeederSettings(ServiceSettings):
    """The feeder's file: the service keys (:class:`ServiceSettings`) and ``[feeds.<MARKET>]``."""

    feeds: dict[str, FeedSettings] = Field(min_length=1)


def source_name(settings: CsvSourceSettings | GbmSourceSettings | HttpSourceSettings, index: int) -> str:
    """The source's name: its own, or its kind and position (``gbm-2``)."""
    return settings.name or f"{settings.kind}-{index + 1}"


@dataclass
class Feed:
    """One market the feeder reports for, resolved against the deployment.

    Attributes:
        market: The market's name.
        asset: What the sources are asked for.
        oracle: The market's price feed.
        sources: The sources, in fallback order.
        settings: The feed's settings (thresholds, policy).
        decimals: The oracle's decimals.
    """

    market: str
    asset: str
    oracle: Oracle
    sources: tuple[PriceSource, ...]
    settings: FeedSettings
    decimals: int

    def feeder_config(self, heartbeat: int) -> FeederConfig:
        """The decision's settings under the oracle's current ``heartbeat``.

        Raises:
            ConfigError: the heartbeat margin is not below the heartbeat (the key named).
        """
        try:
            return FeederConfig(
                heartbeat=heartbeat,
                heartbeat_margin=self.settings.heartbeat_margin,
                deviation_bps=self.settings.deviation_bps,
                policy=self.settings.policy(self.decimals),
            )
        except ConfigError as exc:
            raise ConfigError(f"feeds.{self.market}.heartbeat_margin: {exc} (the oracle's heartbeat)") from None


def build_source(
    settings: CsvSourceSettings | GbmSourceSettings | HttpSourceSettings, name: str, base_dir: Path
) -> PriceSource:
    """The source ``settings`` describe (a relative CSV path is taken from ``base_dir``)."""
    if isinstance(settings, CsvSourceSettings):
        path = settings.path if settings.path.is_absolute() else base_dir / settings.path
        return CsvReplaySource(name, path, relative=settings.relative)
    if isinstance(settings, GbmSourceSettings):
        return GbmSource(
            name,
            settings.s0,
            drift=settings.drift,
            volatility=settings.volatility,
            step=settings.step,
            seed=settings.seed,
            decimals=settings.decimals,
            start=settings.start,
            jump_intensity=settings.jump_intensity,
            jump_mean=settings.jump_mean,
            jump_sd=settings.jump_sd,
        )
    return HttpJsonSource(
        name, settings.url, settings.price_path, timestamp_path=settings.timestamp_path, timeout=settings.timeout
    )


def build_feeds(
    feeds: Mapping[str, FeedSettings], market: Market, reporter: str, base_dir: Path = Path()
) -> list[Feed]:
    """Resolve each ``[feeds.<MARKET>]`` against the deployment and build its sources.

    Args:
        feeds: The feeds' settings by market name.
        market: The deployment.
        reporter: The feeder's address, which must be a reporter of every feed's oracle.
        base_dir: Folder relative CSV paths are taken from (the configuration file's).

    Raises:
        ConfigError: a market the deployment lacks, a key that is not one of its reporters, a
            heartbeat margin not below its heartbeat, a source that cannot be built (the key named).
    """
    built: list[Feed] = []
    for name, settings in feeds.items():
        underlying = market.markets.get(name)
        if underlying is None:
            known = ", ".join(market.markets)
            raise ConfigError(f"feeds.{name}: no market {name!r} in the deployment (it has {known})")
        oracle = underlying.oracle
        if not oracle.is_reporter(reporter):
            raise ConfigError(f"feeds.{name}: {reporter} is not a reporter of {name}'s oracle ({oracle.address})")
        sources: list[PriceSource] = []
        for index, source in enumerate(settings.sources):
            try:
                sources.append(build_source(source, source_name(source, index), base_dir))
            except ConfigError as exc:
                raise ConfigError(f"feeds.{name}.sources.{index}: {exc}") from None
        feed = Feed(name, settings.asset or name, oracle, tuple(sources), settings, oracle.decimals)
        feed.feeder_config(oracle.config().heartbeat)  # the margin against the heartbeat, now
        built.append(feed)
    return built
