"""The deployment configuration file: the market's parameters and its list of markets, in TOML.

``dfmi deploy --config FILE`` reads it; ``examples/market.toml`` documents every key. The file is
:class:`~dfmi_py.deploy.params.MarketParams` written out: sections ``[cash]``, ``[fund]``,
``[engine]`` (the defaults of every market's engine), ``[security]``, and one ``[[markets]]``
table per underlying. A missing key keeps its default; an unknown key, a value of the wrong type
or settings the contracts would refuse stop the deployment before anything is sent, with the key
named::

    market.toml: markets[2].quorum: must be odd (got 4)
    market.toml: unknown key 'cash.decimal'
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dfmi_py.deploy.params import MarketParams, ParamError
from dfmi_py.errors import ConfigError


def load_config(path: Path) -> MarketParams:
    """Read and validate the deployment configuration at ``path``.

    Raises:
        ConfigError: the file cannot be read, is not TOML, or a key is unknown or invalid (every
            problem, each with its key, in one line).
    """
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration ({exc.strerror})") from None
    return parse_config(text, source=str(path))


def parse_config(text: str, source: str = "configuration") -> MarketParams:
    """Validate a configuration given as TOML text (see :func:`load_config`).

    Raises:
        ConfigError: as :func:`load_config`.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    try:
        return MarketParams.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(describe(error) for error in exc.errors())
        raise ConfigError(f"{source}: {problems}") from None


def describe(error: Any) -> str:
    """One pydantic error as ``key.path: what is wrong`` (``unknown key 'a.b'`` for a stray key)."""
    location: list[str | int] = list(error["loc"])
    cause = error.get("ctx", {}).get("error")
    if error["type"] == "extra_forbidden":
        return f"unknown key {key_path(location)!r}"
    if isinstance(cause, ParamError):
        key = key_path(location)
        return f"{key + '.' if key else ''}{cause.key}: {cause.problem}"
    if error["type"] == "missing":
        message = "missing"
    elif isinstance(cause, ValueError):
        message = str(cause)
    else:
        message = f"{_lower_first(error['msg'])} (got {error['input']!r})"
    return f"{key_path(location) or '(top level)'}: {message}"


def key_path(location: Sequence[str | int]) -> str:
    """``("markets", 2, "quorum")`` as ``markets[2].quorum``."""
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]
