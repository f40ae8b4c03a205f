"""What every W1 contender shares: the command line, the measurement and the decision format.

A contender is a script that reads every line of `--events`, decides the five
W1 rules (bench/w1/rules.fbdsl) and writes its decisions to `--out` as JSON lines in the
engine's own format (fbdsl/runtime/decisions.py), so that the runner can compare them. It
then prints one JSON object on stdout: how many decisions it wrote, how long that took
(wall time inside the process, rule compilation included, interpreter start-up excluded;
and the CPU time, its child processes' included)
and its peak resident set size (with that of its own child processes: see `peak_rss_mb`).

The helpers below are the format, not the rules: each contender decides on its own.
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import orjson

RULES_PATH = Path(__file__).resolve().parent / "rules.fbdsl"
DAY = 86400.0
CONTACT_WINDOW = 30 * DAY  # policy: limit 1 contact per 30d
LOYAL_WINDOW = 90 * DAY  # loyal_tag: count(order_completed within 90d) >= 3
LIMIT_TEXT = "limit 1 contact per 30d"
# Events the rule set declares; any other event is ignored, traits and all (as the engine does).
DECLARED = frozenset(
    {"product_viewed", "product_added", "checkout_started", "order_completed", "order_refunded"}
)

# Events some rule reads: the triggers. Any other declared event matters only for its traits;
# without traits, the engine ignores it entirely (it does not even remember its id).
TRIGGERS = frozenset({"order_completed", "order_refunded", "checkout_started"})

Decide = Callable[[Iterator[bytes], IO[bytes]], int]


def parse_time(text: str) -> float:
    """RFC 3339 to epoch seconds (UTC when no offset is given)."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def format_time(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def canonical_time(text: str, seconds: float) -> str:
    """The time as the engine writes it; the input text itself when already in that form."""
    if len(text) == 20 and text[10] == "T" and text[19] == "Z":
        return text
    return format_time(seconds)


def derived_event_id(document: dict[str, object]) -> str:
    """The id of an event that carries none (a hash of its content, as the engine does)."""
    return "sha:" + hashlib.blake2b(orjson.dumps(document), digest_size=10).hexdigest()


def decision_line(
    rule: str,
    customer_id: str,
    action: str,
    target: str,
    channel: str | None,
    status: str,
    reason: str | None,
    event: str,
    event_id: str,
    at: str,
) -> bytes:
    """One decision (action index 0, decided at trigger time, default mode) as a JSON line."""
    key = f"{rule}\x1f{customer_id}\x1f{event_id}\x1f0\x1f{channel or ''}\x1f"
    return (
        orjson.dumps(
            {
                "decision_id": hashlib.blake2b(key.encode(), digest_size=8).hexdigest(),
                "at": at,
                "rule": rule,
                "customer_id": customer_id,
                "action": action,
                "target": target,
                "channel": channel,
                "status": status,
                "reason": reason,
                "trigger": {"event": event, "id": event_id, "timestamp": at},
                "mode": "default",
            }
        )
        + b"\n"
    )


def limit_reason(last_text: str, last_rule: str) -> str:
    return f"{LIMIT_TEXT}: last contact {last_text} (rule {last_rule})"


def read_lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        yield from handle


def peak_rss_mb() -> float:
    """This process's peak resident set size, plus that of its largest finished child (the
    engine's ledger writer or input reader), in MB: the two peaks added, as if they
    coincided.

    Linux's VmHWM (/proc/self/status) belongs to the program the process runs now, while
    `getrusage(RUSAGE_SELF).ru_maxrss` survives exec: a child started by a parent holding
    300 MB reports at least 300 MB. So VmHWM where there is one, getrusage elsewhere."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024 + children
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 + children


def cpu_seconds() -> float:
    """User and system CPU time of this process and of its finished children (the engine's
    ledger writer works on the other core while the engine decides)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--events", type=Path, required=True, help="JSON lines events file")
    parser.add_argument("--out", type=Path, required=True, help="decisions file (overwritten)")
    return parser.parse_args()


def report(name: str, decisions: int, seconds: float, **extra: object) -> None:
    result = {
        "contender": name,
        "decisions": decisions,
        "seconds": seconds,
        "peak_rss_mb": peak_rss_mb(),
        **extra,
    }
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


def main(name: str, decide: Decide) -> None:
    """Run one contender: `decide(lines, out)` returns how many decisions it wrote."""
    args = parse_args(f"W1 contender: {name}")
    started, cpu = time.perf_counter(), cpu_seconds()
    with args.out.open("wb") as out:
        decisions = decide(read_lines(args.events), out)
    report(name, decisions, time.perf_counter() - started, cpu_seconds=cpu_seconds() - cpu)
