"""Event time: RFC 3339 text <-> seconds since the epoch (UTC floats), and durations."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from functools import lru_cache

from fbdsl.compiler.parser import parse_duration

INFINITY = float("inf")
_DURATION_TEXT = re.compile(r"(?:[0-9]+[smhdwy])+")


def parse_time(text: str) -> float:
    """RFC 3339 / ISO 8601 to epoch seconds. A time without an offset is taken as UTC."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


_SECONDS_OF_DAY = [f"{h:02d}:{m:02d}:" for h in range(24) for m in range(60)]  # by minute
_SECONDS = [f"{second:02d}Z" for second in range(60)]


@lru_cache(maxsize=65536)
def _day_text(day: int) -> str:
    """'YYYY-MM-DDT' of a day counted from the epoch."""
    return time.strftime("%Y-%m-%dT", time.gmtime(day * 86400))


def format_time(seconds: float) -> str:
    """Epoch seconds to RFC 3339 in UTC with a `Z`; whole seconds unless there is a fraction.
    (Once per decision and per trigger: whole seconds are put together from cached parts.)"""
    whole = int(seconds)
    if whole == seconds and whole >= 0:
        day, second = divmod(whole, 86400)
        minute, second = divmod(second, 60)
        return _day_text(day) + _SECONDS_OF_DAY[minute] + _SECONDS[second]
    moment = datetime.fromtimestamp(seconds, UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_duration_value(value: object) -> float | None:
    """A duration in an event: seconds as a number, or fbdsl text such as "2h30m"."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and _DURATION_TEXT.fullmatch(value):
        return float(parse_duration(value))
    return None
