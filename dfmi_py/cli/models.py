"""Initial-margin model options shared by ``dfmi risk`` and ``dfmi trade propose --im model``, the
``--series`` price history file (CSV of ``time,price``) and the ``--stressed FROM..TO`` period."""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from dfmi_py.api.risk import ImModel, ScheduleModel
from dfmi_py.errors import InputError
from dfmi_py.risk import AssetClass, HistoricalModel, HorizonMethod, Measure, PricePoint
from dfmi_py.risk.historical import horizon_ratios
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
    "stressed",
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
        click.option(
            "--stressed",
            metavar="FROM..TO",
            help="Historical: add the scenarios of this period of the history (ISO 8601 or Unix seconds, "
            "inclusive) to the look-back's, e.g. 2020-03-01..2020-04-30 (anti-procyclicality).",
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


def parse_period(text: str) -> tuple[int, int]:
    """``FROM..TO`` (each Unix seconds or ISO 8601) as ``(from, to)`` in Unix seconds, ``from < to``.

    Raises:
        InputError: not of that form, or ``to`` not after ``from``.
    """
    start, sep, end = text.partition("..")
    if not sep or not start.strip() or not end.strip():
        raise InputError(f"--stressed {text!r}: give FROM..TO, e.g. 2020-03-01..2020-04-30 or 1583020800..1588204800")
    first, last = parse_instant(start), parse_instant(end)
    if last <= first:
        raise InputError(f"--stressed {text!r}: the period ends before it starts")
    return first, last


def stressed_period(
    settings: dict[str, Any], model: ImModel, history: Callable[[], Sequence[PricePoint]]
) -> list[PricePoint]:
    """The prices of ``history`` (the model's own: the oracle's rounds or ``--series``) within the
    ``--stressed`` period, whose scenarios the historical model adds to its look-back's; none
    without the option.

    Raises:
        InputError: the option with the schedule, or a period in which no window of the model's
            horizon fits (it would silently add nothing).
    """
    text = settings["stressed"]
    if text is None:
        return []
    if isinstance(model, ScheduleModel):
        raise InputError("--stressed is a setting of the historical model: drop it, or drop --model schedule")
    first, last = parse_period(text)
    points = [p for p in history() if first <= p.timestamp <= last]
    if not horizon_ratios(points, model.horizon_seconds):
        raise InputError(
            f"--stressed {text}: {len(points)} price(s) of the history fall in that period, "
            f"no window of {model.horizon_seconds} s fits: widen it or give a --series that covers it"
        )
    return points
