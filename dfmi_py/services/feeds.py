"""The feeder's price sources: a CSV replay, a seeded simulation and an HTTP JSON endpoint.

Every source implements :class:`PriceSource`: a ``name`` (for the logs) and
``quote(asset, now) -> Quote``. ``quote`` never raises for bad data or a network failure: a
missing or garbled value becomes a :class:`~dfmi_py.services.sources.Quote` that
:func:`~dfmi_py.services.sources.validate_quote` refuses, with the reason in ``Quote.error`` or in
the raw value it carries. Judging quotes (age, jump, bounds) is not the sources' business.

- :class:`CsvReplaySource`: rows ``timestamp,asset,price`` read once at start; the latest row at
  or before ``now``, optionally replayed relative to the first ``now`` (a historical file on a
  devnet). Bad rows are logged at load, named by line, and refused as quotes when reached.
- :class:`GbmSource`: geometric Brownian motion with optional Poisson jumps (Merton), drawn from
  a seed in fixed chunks, so a price is a function of (seed, start, time) alone; exact decimal
  output with a fixed number of decimals.
- :class:`HttpJsonSource`: a GET of a URL and a dotted path into the JSON (``data.0.price``),
  numbers parsed as exact decimals.

Trust: a source is an input to be checked, never trusted. The CSV file and the simulation are the
operator's own; an HTTP endpoint may be down, slow, wrong or hostile: every answer it gives is
bounded by the timeout, parsed defensively and judged by the validator, and the oracle's quorum of
independent reporters bounds what one bad source can do to a final answer.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import json
import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import requests

from dfmi_py.errors import ConfigError
from dfmi_py.services.logs import log_event, service_logger
from dfmi_py.services.sources import Quote

#: Seconds in the year the simulation's drift, volatility and jump intensity are quoted per.
YEAR_SECONDS = 365 * 86_400
#: Steps drawn per chunk of the simulation (one generator per chunk, keyed by the seed and index).
CHUNK = 1024
#: The largest answer an HTTP source reads (a price is a few hundred bytes).
MAX_BODY_BYTES = 1_000_000
#: A timestamp above this is taken as milliseconds (year 5138 in seconds).
_MILLIS_ABOVE = 10**11


class PriceSource(Protocol):
    """What the feeder asks a price source."""

    @property
    def name(self) -> str:
        """The source's configured name (in the logs and the refusals)."""
        ...

    def quote(self, asset: str, now: int) -> Quote:
        """The source's reading of ``asset`` at Unix time ``now``; never raises for bad data."""
        ...


# ---------------------------------------------------------------------------------- CSV replay


@dataclass(frozen=True)
class _Row:
    """One row of a replay file: its line, time, and value or the error that makes it unusable."""

    line: int
    timestamp: int
    value: str | None
    error: str | None


class CsvReplaySource:
    """Replays a CSV file of ``timestamp,asset,price`` rows (a header, then Unix seconds).

    The quote for ``asset`` at ``now`` is the latest row of that asset at or before ``now`` (by
    time; the later line wins a tie), timestamped with the row's time. With ``relative``, the
    file's first time maps to the first ``now`` asked, and the file plays on from there at the
    chain's pace.

    Rows out of time order are replayed in time order (each logged at load, ``csv_out_of_order``).
    A bad row does not stop the replay: it is logged at load (``csv_bad_row``, with its line) and,
    when the replay reaches it, refused as a quote (a price that is no number reaches the
    validator as it is; a row without a readable time takes the time of the row before it, and
    one without a readable asset stands for every asset).

    Args:
        name: The source's name.
        path: The file.
        relative: Replay relative to the first ``now`` instead of at the file's own times.
        logger: Where bad rows are reported (the feeder's by default).

    Raises:
        ConfigError: the file cannot be read or lacks the ``timestamp,asset,price`` header.
    """

    def __init__(self, name: str, path: Path, *, relative: bool = False, logger: logging.Logger | None = None) -> None:
        self._name = name
        self.path = path
        self.relative = relative
        self._log = logger or service_logger("feeder")
        self._offset: int | None = None
        self._rows: dict[str, list[_Row]] = {}
        self._every: list[_Row] = []  # rows without a readable asset: they stand for every asset
        self.first_time: int | None = None
        self.bad_rows = 0
        self._load()
        self._times = {asset: [r.timestamp for r in rows] for asset, rows in self._rows.items()}
        self._every_times = [r.timestamp for r in self._every]

    @property
    def name(self) -> str:
        """The source's name."""
        return self._name

    def _bad(self, line: int, reason: str) -> None:
        self.bad_rows += 1
        log_event(
            self._log, "csv_bad_row", logging.WARNING, source=self._name, file=str(self.path), line=line, reason=reason
        )

    def _load(self) -> None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the price file {self.path}: {exc}") from None
        reader = csv.reader(text.splitlines())
        header = next(reader, None)
        if header is None or [h.strip().lower() for h in header] != ["timestamp", "asset", "price"]:
            raise ConfigError(f"{self.path}: the first line must be the header timestamp,asset,price, got {header}")
        previous_time = 0
        rows: list[tuple[str | None, _Row]] = []
        for index, cells in enumerate(reader):
            line = index + 2
            if not cells or all(not c.strip() for c in cells):
                continue
            cells = [c.strip() for c in cells]
            asset = cells[1] if len(cells) >= 2 and cells[1] else None
            timestamp, problem = _row_time(cells[0], previous_time)
            if len(cells) != 3:
                problem = f"{len(cells)} columns, expected 3 (timestamp,asset,price)"
            elif problem is None and asset is None:
                problem = "no asset"
            error = f"line {line}: {problem}" if problem is not None else None
            value = cells[2] if len(cells) == 3 and error is None else None
            if problem is None and timestamp < previous_time:
                # Replayed in time order all the same; said once per row, as a file edited by hand may be wrong.
                log_event(
                    self._log,
                    "csv_out_of_order",
                    logging.WARNING,
                    source=self._name,
                    file=str(self.path),
                    line=line,
                    reason=f"timestamp {timestamp} is before the previous row's ({previous_time}): replayed in order",
                )
            if problem is not None:
                self._bad(line, problem)
            elif not _is_positive_number(value):
                self._bad(line, f"price {value!r} is not a positive number")
            previous_time = timestamp
            rows.append((asset, _Row(line, timestamp, value, error)))
        for asset, row in sorted(rows, key=lambda item: (item[1].timestamp, item[1].line)):
            (self._rows.setdefault(asset, []) if asset is not None else self._every).append(row)
        times = [row.timestamp for _, row in rows if row.error is None]
        self.first_time = min(times) if times else None

    def quote(self, asset: str, now: int) -> Quote:
        """The latest row of ``asset`` at or before ``now`` (see the class's text)."""
        if self._offset is None:
            self._offset = now - self.first_time if self.relative and self.first_time is not None else 0
        at = now - self._offset
        candidates = [
            rows[found]
            for rows, times in (
                (self._rows.get(asset, []), self._times.get(asset, [])),
                (self._every, self._every_times),
            )
            if (found := bisect.bisect_right(times, at) - 1) >= 0
        ]
        best = max(candidates, key=lambda row: (row.timestamp, row.line), default=None)
        if best is None:
            return Quote(self._name, None, None, error=f"no row for {asset} at or before {at} in {self.path.name}")
        timestamp = best.timestamp + self._offset
        if best.error is not None:
            return Quote(self._name, None, timestamp, error=best.error)
        return Quote(self._name, best.value, timestamp)


def _row_time(cell: str, previous: int) -> tuple[int, str | None]:
    """A row's time, or the previous row's and why its own is unusable."""
    try:
        timestamp = int(cell)
    except ValueError:
        return previous, f"timestamp {cell!r} is not Unix seconds"
    if timestamp < 0:
        return previous, f"timestamp {cell!r} is negative"
    return timestamp, None


def _is_positive_number(value: str | None) -> bool:
    try:
        number = Decimal(value) if value is not None else None
    except InvalidOperation:
        return False
    return number is not None and number.is_finite() and number > 0


# ---------------------------------------------------------------------------------- simulation


class GbmSource:
    """A seeded geometric Brownian motion, with optional Poisson jumps in the log price.

    Time runs in steps of ``step`` seconds from ``start``; the price at ``now`` is the one of step
    ``(now - start) // step``, timestamped at that step. Each step's log return is
    ``(drift - volatility²/2 - intensity·k)·dt + volatility·√dt·Z + J``, with ``dt = step / year``,
    ``Z`` standard normal and ``J`` the sum of ``N ~ Poisson(intensity·dt)`` normal jumps of mean
    ``jump_mean`` and deviation ``jump_sd`` (``k = E[e^jump] - 1`` keeps ``drift`` the expected
    return). The draws of steps ``[j·1024, (j+1)·1024)`` come from a generator seeded with
    ``(seed, j)``, so the same seed, start and ``now`` give the same price in any process, whatever
    was asked before. Prices are rounded half-even to ``decimals`` decimals, as decimal strings.

    Args:
        name: The source's name.
        s0: The price at ``start``.
        drift: Expected return per year.
        volatility: Standard deviation of the log return per year.
        step: Seconds per step.
        seed: The seed.
        decimals: Decimals of the quoted price.
        start: Unix time of step 0; the first ``now`` asked when ``None``.
        jump_intensity: Expected jumps per year (0: none).
        jump_mean: Mean of one jump's log size.
        jump_sd: Standard deviation of one jump's log size.
    """

    def __init__(
        self,
        name: str,
        s0: Decimal,
        *,
        drift: float = 0.0,
        volatility: float,
        step: int,
        seed: int,
        decimals: int = 8,
        start: int | None = None,
        jump_intensity: float = 0.0,
        jump_mean: float = 0.0,
        jump_sd: float = 0.0,
    ) -> None:
        if not s0 > 0:
            raise ConfigError(f"s0 must be positive, got {s0}")
        if volatility < 0 or jump_intensity < 0 or jump_sd < 0:
            raise ConfigError("volatility, jump_intensity and jump_sd must not be negative")
        if step <= 0:
            raise ConfigError(f"step must be positive seconds, got {step}")
        if seed < 0:
            raise ConfigError(f"seed must not be negative, got {seed}")
        self._name = name
        self.s0 = s0
        self.step = step
        self.seed = seed
        self.decimals = decimals
        self.start = start
        dt_years = step / YEAR_SECONDS
        jump_k = math.exp(jump_mean + jump_sd**2 / 2) - 1 if jump_intensity > 0 else 0.0
        self._drift_step = (drift - volatility**2 / 2 - jump_intensity * jump_k) * dt_years
        self._vol_step = volatility * math.sqrt(dt_years)
        self._jump_rate = jump_intensity * dt_years
        self._jump_mean = jump_mean
        self._jump_sd = jump_sd
        self._boundaries = [math.log(float(s0))]  # log price at the start of each chunk
        self._chunks: OrderedDict[int, np.ndarray[Any, np.dtype[np.float64]]] = OrderedDict()

    @property
    def name(self) -> str:
        """The source's name."""
        return self._name

    def _increments(self, chunk: int) -> np.ndarray[Any, np.dtype[np.float64]]:
        """The log returns of the chunk's steps (the last few chunks are kept)."""
        cached = self._chunks.get(chunk)
        if cached is not None:
            self._chunks.move_to_end(chunk)
            return cached
        rng = np.random.default_rng([self.seed, chunk])
        normal = rng.standard_normal(CHUNK)
        jumps = rng.poisson(self._jump_rate, CHUNK)
        jump_normal = rng.standard_normal(CHUNK)
        increments: np.ndarray[Any, np.dtype[np.float64]] = np.asarray(
            self._drift_step
            + self._vol_step * normal
            + jumps * self._jump_mean
            + np.sqrt(jumps) * self._jump_sd * jump_normal,
            dtype=np.float64,
        )
        self._chunks[chunk] = increments
        if len(self._chunks) > 4:
            self._chunks.popitem(last=False)
        return increments

    def log_price(self, step_index: int) -> float:
        """The natural log of the (unrounded) price at step ``step_index`` (0: ``s0``)."""
        if step_index < 0:
            raise ValueError(f"step {step_index} is before the start")
        chunk, within = divmod(step_index, CHUNK)
        while len(self._boundaries) <= chunk:
            done = len(self._boundaries) - 1
            self._boundaries.append(self._boundaries[done] + float(self._increments(done).sum()))
        return self._boundaries[chunk] + float(self._increments(chunk)[:within].sum())

    def price(self, step_index: int) -> Decimal:
        """The quoted price at step ``step_index``, with exactly :attr:`decimals` decimals.

        Raises:
            OverflowError: the simulated price left the range of a float.
        """
        return Decimal(f"{math.exp(self.log_price(step_index)):.{self.decimals}f}")

    def quote(self, asset: str, now: int) -> Quote:
        """The simulated price at ``now`` (``asset`` only labels it: one source, one path)."""
        if self.start is None:
            self.start = now
        if now < self.start:
            return Quote(self._name, None, None, error=f"{now} is before the simulation's start {self.start}")
        index = (now - self.start) // self.step
        try:
            value = self.price(index)
        except OverflowError:
            return Quote(self._name, None, None, error=f"the simulated price overflowed at step {index}")
        return Quote(self._name, value, self.start + index * self.step)


# ---------------------------------------------------------------------------------- HTTP JSON


class HttpJsonSource:
    """A price read from an HTTP endpoint that answers JSON.

    ``url`` may contain ``{asset}``, replaced by the asset asked for. ``price_path`` is a dotted
    path into the JSON (``data.0.price``: key ``data``, then list index 0, then key ``price``);
    ``timestamp_path`` likewise, for the quote's time (Unix seconds or milliseconds, or an ISO 8601
    text); without it a quote is timestamped ``now``, the time it was read. Numbers are parsed as
    exact decimals. A timeout (``timeout`` bounds the whole exchange, a slow trickle included), a
    refused connection, a status other than 200, an answer larger than :data:`MAX_BODY_BYTES`, a
    body that is not JSON and a path the body lacks each become a refused quote naming the problem.

    Args:
        name: The source's name.
        url: The endpoint.
        price_path: Where the price is.
        timestamp_path: Where its time is; ``None``: the time it was read.
        timeout: Seconds for the connection and for the answer.
        session: The HTTP session (a new one when ``None``).
    """

    def __init__(
        self,
        name: str,
        url: str,
        price_path: str,
        *,
        timestamp_path: str | None = None,
        timeout: float = 5.0,
        session: requests.Session | None = None,
    ) -> None:
        if timeout <= 0:
            raise ConfigError(f"timeout must be positive, got {timeout}")
        self._name = name
        self.url = url
        self.price_path = price_path
        self.timestamp_path = timestamp_path
        self.timeout = timeout
        self.session = session or requests.Session()

    @property
    def name(self) -> str:
        """The source's name."""
        return self._name

    def close(self) -> None:
        """Release the HTTP connections."""
        self.session.close()

    def quote(self, asset: str, now: int) -> Quote:
        """GET the URL and read the price (and time) at the configured paths."""

        def failed(reason: str) -> Quote:
            return Quote(self._name, None, None, error=reason)

        url = self.url.replace("{asset}", asset)
        deadline = time.monotonic() + self.timeout
        try:
            with self.session.get(url, timeout=self.timeout, stream=True) as response:
                if response.status_code != 200:
                    return failed(f"HTTP {response.status_code} from {url}")
                body_bytes = bytearray()
                while chunk := response.raw.read1(65_536, decode_content=True):  # what has arrived
                    body_bytes += chunk
                    if len(body_bytes) > MAX_BODY_BYTES:
                        return failed(f"the answer of {url} is larger than {MAX_BODY_BYTES:,} bytes")
                    if time.monotonic() > deadline:
                        raise requests.Timeout
        except requests.Timeout:
            return failed(f"no answer from {url} within {self.timeout:g} s")
        except requests.RequestException as exc:
            return failed(f"request to {url} failed: {type(exc).__name__}")
        try:
            body = json.loads(bytes(body_bytes), parse_float=Decimal)
        except ValueError:  # not JSON, not UTF-8, or an integer of more digits than Python reads
            return failed(f"the answer of {url} is not JSON")
        found, price = _at_path(body, self.price_path)
        if not found:
            return failed(f"no {self.price_path!r} in the answer of {url}: {price}")
        if self.timestamp_path is None:
            return Quote(self._name, price, now)
        found, raw_time = _at_path(body, self.timestamp_path)
        if not found:
            return Quote(
                self._name, price, None, error=f"no {self.timestamp_path!r} in the answer of {url}: {raw_time}"
            )
        timestamp = _unix_seconds(raw_time)
        if timestamp is None:
            return Quote(self._name, price, None, error=f"{self.timestamp_path} = {raw_time!r} is not a time")
        return Quote(self._name, price, timestamp)


def _at_path(body: object, path: str) -> tuple[bool, object]:
    """``(True, value)`` at the dotted ``path``, or ``(False, where it stopped)``."""
    node = body
    for depth, part in enumerate(path.split(".")):
        here = ".".join(path.split(".")[:depth]) or "the top"
        if isinstance(node, dict):
            if part not in node:
                return False, f"{here} has no key {part!r}"
            node = node[part]
        elif isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                return False, f"{here} is a list of {len(node)}, no index {part!r}"
            node = node[int(part)]
        else:
            return False, f"{here} is not an object or a list"
    return True, node


def _unix_seconds(value: object) -> int | None:
    """Unix seconds from a number (seconds or milliseconds) or an ISO 8601 text; ``None`` if neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            value = Decimal(text)
        except InvalidOperation:
            try:
                parsed = dt.datetime.fromisoformat(text)
            except ValueError:
                return None
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=dt.UTC)
            return int(parsed.timestamp())
    if isinstance(value, int | Decimal):
        if isinstance(value, Decimal) and not value.is_finite():
            return None
        seconds = int(value)
        return seconds // 1000 if seconds > _MILLIS_ABOVE else seconds
    return None
