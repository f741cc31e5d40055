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
import logging.handlers
import sys
from pathlib import Path
from typing import IO, Any

from dfmi_py.display import jsonable

#: Logger names of the services live under this one.
ROOT = "dfmi_py.services"
_FIELDS = "dfmi_fields"
_INSTALLED = "dfmi_installed"


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


def log_event(
    logger: logging.Logger,
    event: str,
    level: int = logging.INFO,
    **fields: Any,
) -> None:
    """Log ``event`` with ``fields`` as one structured line.

    Args:
        logger: The service's logger (:func:`service_logger`).
        event: What happened (``"settled"``, ``"fault"``...), the line's ``event``.
        level: The record's level.
        **fields: The action's fields; ``exc_info``, an exception, is not a field: its traceback
            goes in the line's ``exception`` field.
    """
    exc_info = fields.pop("exc_info", None)
    logger.log(level, event, extra={_FIELDS: fields}, exc_info=exc_info)


def configure_logging(
    level: str = "INFO", stream: IO[str] | None = None, *, log_file: Path | None = None
) -> logging.Handler:
    """Send the services' logs as JSON lines to ``stream`` (standard error by default) or a file.

    Calling it again replaces the handler it installed before (a process logs each line once).

    Args:
        level: ``DEBUG``, ``INFO``, ``WARNING`` or ``ERROR``.
        stream: Where to write when no ``log_file`` is given.
        log_file: Append to this file instead; it is reopened when moved away, so ``logrotate``
            (without ``copytruncate``) can rotate it under a running service.

    Returns:
        The handler installed (remove it from ``logging.getLogger(ROOT)`` to undo).
    """
    handler: logging.Handler
    if log_file is not None:
        handler = logging.handlers.WatchedFileHandler(log_file, encoding="utf-8")
    else:
        handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonLineFormatter())
    root = logging.getLogger(ROOT)
    for previous in [h for h in root.handlers if getattr(h, _INSTALLED, False)]:
        root.removeHandler(previous)
        previous.close()
    setattr(handler, _INSTALLED, True)
    root.addHandler(handler)
    root.setLevel(level.upper())
    root.propagate = False
    return handler
