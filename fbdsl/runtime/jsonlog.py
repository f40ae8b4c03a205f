"""Structured logs: one JSON object a line on stderr.

`{"ts": "2026-03-01T10:00:00.123Z", "level": "info", "logger": "fbdsl.server",
"msg": "...", ...fields}`; fields come from `extra={"fields": {...}}`, and an exception
adds `"exc"` (the traceback as text).
"""

from __future__ import annotations

import logging
import sys
import time
from typing import IO, Any

import orjson


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        seconds = int(record.created)
        millis = int((record.created - seconds) * 1000)
        document: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            document.update(fields)
        if record.exc_info:
            document["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(document, default=str).decode()


def configure(level: str = "info", stream: IO[str] | None = None) -> None:
    """Send every log record (fbdsl's and aiohttp's) to `stream` as JSON lines."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)  # requests: our own log
