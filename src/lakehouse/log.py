"""Structured logs: one JSON object per event on stderr (`LAKEHOUSE_LOG=text` for plain)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
from typing import Any

from lakehouse.errors import TerminalError
from lakehouse.printable import one_line

_LOGGER = logging.getLogger("lakehouse")


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
        }
        body.update(getattr(record, "fields", {}))
        return json.dumps(body, default=str)


class _TextFormatter(logging.Formatter):
    """One line per event, as the JSON logs: a field quoting data (a file name, a header) has
    its line breaks and control characters written as escapes (`lakehouse.printable`), so it
    can neither start a record of its own nor send a sequence to the terminal."""

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", {})
        tail = " ".join(f"{k}={v}" for k, v in fields.items())
        return one_line(f"{record.levelname.lower():7} {record.getMessage()} {tail}".rstrip())


def configure(level: str | None = None) -> None:
    if _LOGGER.handlers:
        return
    form = os.environ.get("LAKEHOUSE_LOG", "json").strip().lower()
    level = (level or os.environ.get("LAKEHOUSE_LOG_LEVEL", "WARNING")).strip().upper()
    for name, value, known in (
        ("LAKEHOUSE_LOG", form, ("json", "text")),
        ("LAKEHOUSE_LOG_LEVEL", level, ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")),
    ):
        if value not in known:
            raise TerminalError(f"{name}={value!r} is refused; one of {', '.join(known)}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_TextFormatter() if form == "text" else _JsonFormatter())
    _LOGGER.addHandler(handler)
    _LOGGER.setLevel(level)
    _LOGGER.propagate = False


def event(name: str, level: int = logging.INFO, **fields: Any) -> None:
    _LOGGER.log(level, name, extra={"fields": fields})
