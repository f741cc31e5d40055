"""Structured logs for the services: one JSON object per line, one line per action.

Every line carries ``ts`` (ISO 8601, UTC), ``level``, ``service``, ``event`` and the action's own
fields (``market``, ``trade``, ``round``, ``amount``, ``tx``, ``gas``...). Values that JSON lacks
(``Decimal``, ``bytes``, enums) are written by :func:`dfmi_py.display.jsonable`.

Usage::

    log = service_logger("keeper")
    log_event(log, "settled", market="XAU", round=7, trades=[1, 2], tx="0x..", gas=61_000)
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import IO, Any

from dfmi_py.display import jsonable

#: Logger names of the services live under this one.
ROOT = "dfmi_py.services"
_FIELDS = "dfmi_fields"


class JsonLineFormatter(logging.Formatter):
    """Formats a record as one JSON object: time, level, service, event, then the fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": record.name.removeprefix(ROOT + ".").split(".")[0],
            "event": record.getMessage(),
        }
        line.update(getattr(record, _FIELDS, {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(jsonable(line), separators=(",", ":"), sort_keys=False)


def service_logger(service: str) -> logging.Logger:
    """The logger of ``service`` (``"feeder"``, ``"keeper"``...)."""
    return logging.getLogger(f"{ROOT}.{service}")


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log ``event`` with ``fields`` as one structured line."""
    logger.log(level, event, extra={_FIELDS: fields})


def configure_logging(level: str = "INFO", stream: IO[str] | None = None) -> logging.Handler:
    """Send the services' logs to ``stream`` (standard error by default) as JSON lines.

    Returns:
        The handler installed (remove it from ``logging.getLogger(ROOT)`` to undo).
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonLineFormatter())
    root = logging.getLogger(ROOT)
    root.addHandler(handler)
    root.setLevel(level.upper())
    root.propagate = False
    return handler
