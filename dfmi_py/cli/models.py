"""Initial-margin model options shared by ``dfmi risk`` and ``dfmi trade propose --im model``, and
the ``--series`` price history file (CSV of ``time,price``)."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from dfmi_py.api.risk import ImModel, ScheduleModel
from dfmi_py.errors import InputError
from dfmi_py.risk import AssetClass, HistoricalModel, HorizonMethod, Measure, PricePoint
from dfmi_py.units import parse_duration, to_units

#: The option names :func:`model_options` adds, as the command function receives them.
MODEL_KEYS = (
    "model",
    "asset_class",
    "maturity_years",
    "confidence",
    "mpor",
    "measure",
    "method",
    "base",
    "lookback",
    "buffer_bps",
    "floor_bps",
    "series",
)


def model_options(func: Any) -> Any:
    """Add the model's settings: ``--model schedule|historical`` and each model's parameters."""
    options = [
        click.option(
            "--model",
            type=click.Choice(["historical", "schedule"]),
            default="historical",
            show_default=True,
            help="Historical-simulation VaR/ES, or the BCBS-IOSCO schedule (% of notional).",
        ),
        click.option(
            "--asset-class",
            type=click.Choice([c.value for c in AssetClass]),
            default=AssetClass.FX.value,
            show_default=True,
            help="Schedule: the underlying's asset class.",
        ),
        click.option("--maturity-years", type=float, help="Schedule: remaining maturity in years [default: 0]."),
        click.option("--confidence", type=float, default=0.99, show_default=True, help="Historical: confidence."),
        click.option("--mpor", default="1h", show_default=True, help="Historical: margin period of risk (2h, 5d)."),
        click.option(
            "--measure",
            type=click.Choice([m.value for m in Measure]),
            default="es",
            show_default=True,
            help="Historical: value-at-risk or expected shortfall.",
        ),
        click.option(
            "--method",
            type=click.Choice([m.value for m in HorizonMethod]),
            default="overlapping",
            show_default=True,
            help="Historical: windows of the full period, or square-root-of-time from --base.",
        ),
        click.option("--base", help="Historical, sqrt_time: the base horizon (e.g. 1h)."),
        click.option("--lookback", help="Historical: use only this recent history (e.g. 30d) [default: all]."),
        click.option("--buffer-bps", type=int, default=0, show_default=True, help="Anti-procyclical buffer."),
        click.option("--floor-bps", type=int, default=0, show_default=True, help="Floor, bps of notional."),
        click.option(
            "--series",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="Historical: a CSV of time,price (Unix seconds or ISO 8601; feed units) instead of the rounds.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def take_model_settings(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Remove the model's settings from a command's keyword arguments and return them."""
    return {key: kwargs.pop(key) for key in MODEL_KEYS}


def historical_model(settings: dict[str, Any]) -> HistoricalModel:
    """The historical model the settings describe.

    Raises:
        InputError: a setting out of range (the model says which).
    """
    method = HorizonMethod(settings["method"])
    if method is HorizonMethod.SQRT_TIME and settings["base"] is None:
        raise InputError("--method sqrt_time needs --base DURATION (the horizon the losses are taken over)")
    return HistoricalModel(
        confidence=settings["confidence"],
        mpor_seconds=parse_duration(settings["mpor"]),
        measure=Measure(settings["measure"]),
        method=method,
        base_seconds=parse_duration(settings["base"]) if settings["base"] is not None else 0,
        lookback_seconds=parse_duration(settings["lookback"]) if settings["lookback"] is not None else None,
        buffer_bps=settings["buffer_bps"],
        floor_bps=settings["floor_bps"],
    )


def im_model(settings: dict[str, Any], maturity_years: float = 0.0) -> ImModel:
    """The configured model; ``maturity_years`` is the schedule's default maturity."""
    if settings["model"] == "schedule":
        years = settings["maturity_years"] if settings["maturity_years"] is not None else maturity_years
        return ScheduleModel(AssetClass(settings["asset_class"]), years)
    return historical_model(settings)


def describe_model(model: ImModel) -> str:
    """One line naming the model and its settings."""
    if isinstance(model, ScheduleModel):
        return f"schedule ({model.asset_class.value}, {model.maturity_years:g} years)"
    text = (
        f"historical {model.measure.value.upper()} at {model.confidence:g} over {model.mpor_seconds} s "
        f"({model.method.value}"
    )
    if model.method is HorizonMethod.SQRT_TIME:
        text += f" from {model.base_seconds} s"
    if model.lookback_seconds is not None:
        text += f", look-back {model.lookback_seconds} s"
    return text + f", buffer {model.buffer_bps} bps, floor {model.floor_bps} bps)"


def parse_instant(text: str) -> int:
    """Unix seconds, or an ISO 8601 time (UTC unless it has an offset).

    Raises:
        InputError: neither.
    """
    text = text.strip()
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{text!r} is not a time: give Unix seconds or ISO 8601") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def read_series(path: Path, decimals: int) -> list[PricePoint]:
    """A price history from a CSV of ``time,price`` (a header row is allowed), in time order.

    Raises:
        InputError: a row that is not a time and a price, or no row at all.
    """
    points: list[PricePoint] = []
    with path.open(newline="") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            if not row or not "".join(row).strip():
                continue
            if len(row) != 2:
                raise InputError(f"{path}:{number}: expected time,price, got {len(row)} fields")
            if number == 1 and row[0].strip().lower() in ("time", "timestamp"):
                continue
            try:
                points.append(PricePoint(parse_instant(row[0]), to_units(row[1].strip(), decimals)))
            except InputError as exc:
                raise InputError(f"{path}:{number}: {exc}") from None
    if not points:
        raise InputError(f"{path}: no price in the series")
    return points
