"""What every W2 contender shares: the rule constants, quiet hours, the decision format.

A W2 contender is a script like a W1 one (see bench/w1/common.py, whose measurement and
command line it reuses): it reads every line of `--events`, decides the four W2 rules
(bench/w2/rules.fbdsl), writes its decisions to `--out` as JSON lines in the engine's own
format (fbdsl/runtime/decisions.py, `trigger.properties` included), and prints one JSON
object: decisions, seconds, peak RSS (VmHWM). It also reports the timers still pending at
the end (`pending`).

The helpers below are the format and the calendar, not the rules: each contender decides
on its own. `decision_id` is the engine's hash (a timer's id is one too: timers due at the
same moment for the same customer and rule are fired in id order, as the engine does).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from functools import lru_cache
from hashlib import blake2b
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "w1"))
from common import (  # bench/w1/common.py: the W1 measurement and time helpers
    canonical_time,
    cpu_seconds,
    derived_event_id,
    parse_args,
    parse_time,
    read_lines,
    report,
)
from common import format_time as _format_time

__all__ = [
    "canonical_time", "cpu_seconds", "derived_event_id", "format_time", "parse_time", "read_lines"
]  # fmt: skip

format_time = lru_cache(maxsize=4096)(_format_time)  # decisions often share their time

RULES_PATH = Path(__file__).resolve().parent / "rules.fbdsl"
HOUR, DAY = 3600.0, 86400.0
CONTACT_WINDOW = 30 * DAY  # policy: limit 1 contact per 30d
LIMIT_TEXT = "limit 1 contact per 30d"
QUIET_TEXT = "quiet hours 21:00 to 09:00"
RESCUE_TEXT = "no order_completed where checkout_id == checkout_started.checkout_id within 1h"
QUIET_START, QUIET_END = 21 * 60, 9 * 60  # minutes of the local day
CSAT_QUIET_CONTACT = 14 * DAY  # order_csat: last_contact > 14d
CSAT_TEST = "last_contact > 14d"
CSAT_DELAY, RESCUE_WINDOW, EXIT_DELAY, TASK_DUE = DAY, HOUR, 2 * HOUR, 4 * HOUR
# Arbitration order (priority, then file order): the rank timers are ordered by.
RANK = {"order_csat": 0, "cart_rescue": 1, "cart_exit": 2, "big_basket": 3}
DECLARED = frozenset({"checkout_started", "order_completed", "product_viewed"})
READ = frozenset({"checkout_started", "order_completed"})  # triggers, `unless`, absence

Decide = Callable[[Iterator[bytes], IO[bytes]], tuple[int, int]]


def decision_id(*parts: object) -> str:
    """The engine's decision and timer ids: a hash of the parts, joined by \\x1f."""
    return blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).hexdigest()


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def quiet_until(timezone: str, now: float) -> float | None:
    """The end of the quiet hours (21:00 to 09:00 in `timezone`) that `now` falls in."""
    tz = zone(timezone)
    local = datetime.fromtimestamp(now, tz)
    minute = local.hour * 60 + local.minute
    if QUIET_END <= minute < QUIET_START:
        return None
    day = local.date() + timedelta(days=1) if minute >= QUIET_START else local.date()
    return datetime(day.year, day.month, day.day, QUIET_END // 60, QUIET_END % 60,
                    tzinfo=tz).timestamp()  # fmt: skip


def decision(
    did: str,
    at: float,
    rule: str,
    customer_id: str,
    action: str,
    target: str,
    channel: str | None,
    status: str,
    reason: str | None,
    trigger: tuple[str, str, str, dict[str, Any]],  # event, id, timestamp text, properties
    extra: dict[str, Any] | None = None,
) -> bytes:
    """One decision as a JSON line, keys in the engine's order."""
    event, event_id, stamp, properties = trigger
    document: dict[str, Any] = {
        "decision_id": did,
        "at": format_time(at),
        "rule": rule,
        "customer_id": customer_id,
        "action": action,
        "target": target,
        "channel": channel,
        "status": status,
        "reason": reason,
        "trigger": {"event": event, "id": event_id, "timestamp": stamp, "properties": properties},
        "mode": "default",
    }
    if extra:
        document.update(extra)
    return orjson.dumps(document) + b"\n"


def limit_reason(last_at: float, last_rule: str) -> str:
    return f"{LIMIT_TEXT}: last contact {format_time(last_at)} (rule {last_rule})"


def main(name: str, decide: Decide) -> None:
    """Run one contender: `decide(lines, out)` returns (decisions written, timers pending)."""
    args = parse_args(f"W2 contender: {name}")
    started, cpu = time.perf_counter(), cpu_seconds()
    with args.out.open("wb") as out:
        decisions, pending = decide(read_lines(args.events), out)
    seconds = time.perf_counter() - started
    report(name, decisions, seconds, pending=pending, cpu_seconds=cpu_seconds() - cpu)
