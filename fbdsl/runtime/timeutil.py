"""Event time: RFC 3339 text <-> seconds since the epoch (UTC floats), and durations."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from fbdsl.compiler.parser import parse_duration

INFINITY = float("inf")
_DURATION_TEXT = re.compile(r"(?:[0-9]+[smhdwy])+")


def parse_time(text: str) -> float:
    """RFC 3339 / ISO 8601 to epoch seconds. A time without an offset is taken as UTC."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


# "MM:SSZ" of each second of an hour, and "YYYY-MM-DDTHH:" of the hours met (a few thousand
# a year of events; forgotten past _HOURS_KEPT).
_IN_HOUR = [f"{second // 60:02d}:{second % 60:02d}Z" for second in range(3600)]
_HOURS: dict[int, str] = {}
_HOURS_KEPT = 100_000


def format_time(seconds: float) -> str:
    """Epoch seconds to RFC 3339 in UTC with a `Z`; whole seconds unless there is a fraction.
    (Once per trigger, and per refusal that names a contact: whole seconds are put
    together from cached parts.)"""
    whole = int(seconds)
    if whole == seconds and whole >= 0:
        hour, second = divmod(whole, 3600)
        head = _HOURS.get(hour)
        if head is None:
            if len(_HOURS) >= _HOURS_KEPT:
                _HOURS.clear()
            head = _HOURS[hour] = time.strftime("%Y-%m-%dT%H:", time.gmtime(hour * 3600))
        return head + _IN_HOUR[second]
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
