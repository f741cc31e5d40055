"""The services' configuration: one TOML file, validated at start, keys from the environment.

Each service's settings extend :class:`ServiceSettings` (the feeder's in
:mod:`dfmi_py.services.feeder.config`, the keeper's in :mod:`dfmi_py.services.keeper.config`).
:func:`load_settings` reads a file and raises :class:`~dfmi_py.errors.ConfigError` naming the
offending key (``sender.max_fee_gwei: Input should be greater than 0``). Private keys never sit
in the file: ``key_env`` names the environment variable that holds one.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from dfmi_py.errors import ConfigError
from dfmi_py.services.runtime import RuntimeConfig
from dfmi_py.services.sender import SenderConfig

GWEI = 10**9


class _Strict(BaseModel):
    # strict: a number given as text, a bool for a count or 1.5 for a whole number is refused, not
    # converted (paths are read from text on purpose: their fields are not strict).
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class SenderSettings(_Strict):
    """``[sender]``: how transactions are sent (see :class:`dfmi_py.services.sender.SenderConfig`)."""

    gas_headroom_percent: int = Field(20, ge=0, le=200)
    max_fee_gwei: float = Field(500, gt=0)
    priority_fee_gwei: float = Field(1, ge=0)
    bump_percent: int = Field(15, ge=10, le=100)
    bump_after_blocks: int = Field(3, ge=1)
    max_bumps: int = Field(5, ge=0)
    rpc_retries: int = Field(5, ge=1)
    backoff_seconds: float = Field(0.5, gt=0)
    receipt_timeout: float = Field(120, gt=0)

    def sender_config(self, confirmations: int) -> SenderConfig:
        """The sender's settings."""
        return SenderConfig(
            confirmations=confirmations,
            gas_headroom_percent=self.gas_headroom_percent,
            max_fee_per_gas=int(self.max_fee_gwei * GWEI),
            priority_fee=int(self.priority_fee_gwei * GWEI),
            bump_percent=self.bump_percent,
            bump_after_blocks=self.bump_after_blocks,
            max_bumps=self.max_bumps,
            rpc_retries=self.rpc_retries,
            backoff_seconds=self.backoff_seconds,
            receipt_timeout=self.receipt_timeout,
        )


class ServiceSettings(_Strict):
    """Settings every service has (top-level keys of its file).

    Attributes:
        rpc_url: The chain's JSON-RPC endpoint (``--rpc-url`` wins).
        manifest_dir: Folder of deployment manifests (``--deployments-dir`` wins).
        key_env: Environment variable holding the signing key (``--key-env`` wins).
        poll_interval: Seconds between head polls.
        rpc_timeout: Seconds one JSON-RPC request may take before it counts as a fault.
        confirmations: Blocks below the latest a head must be (and a transaction must have on top).
        watchdog_seconds: No new block for this long: exit 75.
        status_interval: Seconds between status lines.
        unavailable_seconds: The node failing for this long: exit 69.
        backoff_seconds: First wait after a fault, doubling at each fault in a row...
        backoff_max_seconds: ...up to this.
        metrics_host: Interface of the metrics endpoint.
        metrics_port: Port of the metrics endpoint (none when unset; ``--metrics-port`` wins).
        log_level: ``DEBUG``, ``INFO``, ``WARNING`` or ``ERROR``.
        log_file: Append the JSON lines to this file instead of standard error (reopened when
            rotated away).
        sender: The ``[sender]`` table.
    """

    rpc_url: str | None = Field(None, pattern=r"^https?://\S+$")
    manifest_dir: Path | None = Field(None, strict=False)
    key_env: str = Field("DFMI_PRIVATE_KEY", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    poll_interval: float = Field(1.0, gt=0)
    rpc_timeout: float = Field(10, gt=0)
    confirmations: int = Field(0, ge=0)
    watchdog_seconds: float = Field(300, gt=0)
    status_interval: float = Field(60, gt=0)
    unavailable_seconds: float = Field(600, gt=0)
    backoff_seconds: float = Field(0.5, gt=0)
    backoff_max_seconds: float = Field(30, gt=0)
    metrics_host: str = Field("127.0.0.1", pattern=r"^[A-Za-z0-9.:\-\[\]]+$")
    metrics_port: int | None = Field(None, ge=0, le=65535)
    log_level: str = Field("INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")
    log_file: Path | None = Field(None, strict=False)
    sender: SenderSettings = SenderSettings()

    @field_validator("watchdog_seconds")
    @classmethod
    def _watchdog_after_polls(cls, value: float, info: ValidationInfo) -> float:
        poll = info.data.get("poll_interval")
        if poll is not None and value <= poll:
            raise ValueError(f"must be longer than poll_interval ({poll} s)")
        return value

    @field_validator("backoff_max_seconds")
    @classmethod
    def _backoff_cap_above_start(cls, value: float, info: ValidationInfo) -> float:
        first = info.data.get("backoff_seconds")
        if first is not None and value < first:
            raise ValueError(f"must be at least backoff_seconds ({first} s)")
        return value

    def runtime_config(self) -> RuntimeConfig:
        """The loop's settings."""
        return RuntimeConfig(
            poll_interval=self.poll_interval,
            confirmations=self.confirmations,
            watchdog_seconds=self.watchdog_seconds,
            status_interval=self.status_interval,
            unavailable_seconds=self.unavailable_seconds,
            backoff_seconds=self.backoff_seconds,
            backoff_max_seconds=self.backoff_max_seconds,
        )


S = TypeVar("S", bound=ServiceSettings)


def load_settings(path: Path, model: type[S]) -> S:
    """Read and validate ``path`` as ``model``.

    Raises:
        ConfigError: the file is missing, not TOML, or a key is unknown or invalid (named).
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    return validate_settings(data, model, str(path))


def validate_settings(data: object, model: type[S], where: str = "configuration") -> S:
    """Validate already-parsed settings; errors name the key."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "(top level)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        message = _plain_message(first)
        raise ConfigError(f"{where}: {key}: {message}{more}") from None


#: pydantic's pattern errors, said for the keys that have one.
_PATTERN_MEANING = {
    "rpc_url": "must be an http:// or https:// URL",
    "key_env": "must be the name of an environment variable (letters, digits, _), not the key itself",
    "metrics_host": "must be a host name or an IP address",
    "log_level": "must be DEBUG, INFO, WARNING or ERROR",
}


def _plain_message(error: Any) -> str:
    """pydantic's message for one error, with the offending value when it is short."""
    key = str(error["loc"][-1]) if error["loc"] else ""
    if error["type"] == "string_pattern_mismatch" and key in _PATTERN_MEANING:
        message = _PATTERN_MEANING[key]
    elif error["type"] == "extra_forbidden":
        message = (
            "Extra inputs are not permitted: an unknown key (a typo? examples/feeder.toml and keeper.toml list them)"
        )
    elif error["type"] == "missing":
        message = "Field required: give this key"
    else:
        message = str(error["msg"]).removeprefix("Value error, ")
    value = error.get("input")
    if error["type"] not in ("missing", "extra_forbidden") and isinstance(value, (str, int, float, bool)):
        shown = repr(value)
        message += f", got {shown if len(shown) <= 60 else shown[:57] + '...'}"
    return message
