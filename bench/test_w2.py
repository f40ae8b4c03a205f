"""Tests of the W2 benchmark itself: the contenders decide the edges of time like the engine,
and the runner notices when they do not. They start processes (seconds), so they live
beside the benchmark rather than in tests/:

    python -m pytest bench/test_w2.py
"""

from __future__ import annotations

import collections
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import orjson
import pytest
import run_w2
from run_w1 import DURABLE, ENGINE_MEMORY, ENGINE_SQLITE, HANDWRITTEN, Result, decisions_path

BENCH = Path(__file__).resolve().parent
LIMIT = "limit 1 contact per 30d: last contact"
QUIET = "quiet hours 21:00 to 09:00: deferred to"
UNLESS = "unless order_completed: it arrived at"
RESCUE = (
    "no order_completed where checkout_id == checkout_started.checkout_id within 1h: "
    "order_completed arrived at"
)


def event(eid: str, name: str, customer: str, timestamp: str,
          traits: dict[str, str] | None = None, **properties: object) -> bytes:  # fmt: skip
    document: dict[str, object] = {"id": eid, "event": name, "customer_id": customer,
                                   "timestamp": timestamp, "properties": properties}  # fmt: skip
    if traits is not None:
        document["traits"] = traits
    return orjson.dumps(document) + b"\n"


def checkout(eid: str, customer: str, at: str, total: float, traits: dict[str, str] | None = None
             ) -> bytes:  # fmt: skip
    return event(eid, "checkout_started", customer, at, traits, checkout_id=f"k-{eid}", total=total)


def order(eid: str, customer: str, at: str, total: float, of: str | None = None) -> bytes:
    extra = {"checkout_id": f"k-{of}"} if of else {}
    return event(eid, "order_completed", customer, at, order_id=f"o-{eid}", total=total, **extra)


# Hand-made cases at the edges of the W2 semantics, one customer each (UTC unless a
# `timezone` trait says otherwise); the file is written in time order.
EDGES = [
    # a, b: `unless` includes its end: an order exactly 2h after the checkout cancels the
    # survey; one second later, the survey has gone (timers due at an event's time fire after
    # it, those due before it fire first).
    checkout("a1", "a", "2026-03-02T10:00:00Z", 50),
    order("a2", "a", "2026-03-02T12:00:00Z", 20, of="a1"),
    checkout("b1", "b", "2026-03-02T10:00:00Z", 50),
    order("b2", "b", "2026-03-02T12:00:01Z", 20, of="b1"),
    # c, d: the absence window includes its end too: an order at exactly 1h closes it
    # silently; at 1h + 1s the reminder has been sent. Both orders cancel the cart_exit survey.
    checkout("c1", "c", "2026-03-02T10:00:00Z", 150),
    order("c2", "c", "2026-03-02T11:00:00Z", 20, of="c1"),
    checkout("d1", "d", "2026-03-02T10:00:00Z", 150),
    order("d2", "d", "2026-03-02T11:00:01Z", 20, of="d1"),
    # e: unless vs absence after quiet hours: both sends are deferred to 09:00; the order at
    # 23:00 cancels the deferred survey (its `unless`) and the deferred reminder too: a send
    # waiting for the quiet hours keeps its absence condition in force (docs/running.md).
    checkout("e1", "e", "2026-03-02T20:30:00Z", 120),
    order("e2", "e", "2026-03-02T23:00:00Z", 20, of="e1"),
    # f: two timers due together (both deferred to the same 09:00): arbitration order, the
    # order survey (priority 10) takes the slot, the cart survey (5) is refused naming it.
    order("f1", "f", "2026-03-02T22:00:00Z", 80),
    checkout("f2", "f", "2026-03-03T21:30:00Z", 30),
    # g: New York springs forward on 2026-03-08 (02:00 EST -> 03:00 EDT): a survey due at
    # 03:30 EDT is deferred to 09:00 EDT, 13:00Z (not 14:00Z).
    checkout("g1", "g", "2026-03-08T05:30:00Z", 30, {"timezone": "America/New_York"}),
    # h: Sydney falls back on 2026-04-05 (03:00 AEDT -> 02:00 AEST): a survey due at 02:30
    # AEDT is deferred to 09:00 AEST, 23:00Z the day before in UTC (not 22:00Z).
    checkout("h1", "h", "2026-04-04T13:30:00Z", 30, {"timezone": "Australia/Sydney"}),
    # i: the reminder takes the slot; the cart survey is refused by the limit; the order
    # survey's `last_contact > 14d` no longer holds when it is due.
    order("i1", "i", "2026-03-02T10:00:00Z", 60),
    checkout("i2", "i", "2026-03-02T12:00:00Z", 150),
    # m: a task at once; then the reminder, then the survey refused by the limit.
    checkout("m1", "m", "2026-03-02T15:00:00Z", 350),
    # n: a time with an offset.
    checkout("n1", "n", "2026-03-02T11:00:00+01:00", 30),
    # j, k, z: the same line twice is read once; at the end the clock moves to the last event
    # read (z's traits, 10:00): j's survey due then is sent; k's (11:00) stays pending; the
    # later page view is an event nothing declares and does not move the clock.
    checkout("j1", "j", "2026-04-05T08:00:00Z", 30),
    checkout("j1", "j", "2026-04-05T08:00:00Z", 30),
    checkout("k1", "k", "2026-04-05T09:00:00Z", 30),
    event("z1", "product_viewed", "z", "2026-04-05T10:00:00Z", {"timezone": "Europe/Berlin"},
          product_id="p", price=1),
    event("z2", "page_viewed", "z", "2026-04-05T12:00:00Z", product_id="p", price=1),
]  # fmt: skip

# (trigger id, rule, customer, status, reason, at)
EXPECTED = sorted([
    ("a1", "cart_exit", "a", "cancelled", f"{UNLESS} 2026-03-02T12:00:00Z", "2026-03-02T12:00:00Z"),
    ("b1", "cart_exit", "b", "sent", None, "2026-03-02T12:00:00Z"),
    ("c1", "cart_exit", "c", "cancelled", f"{UNLESS} 2026-03-02T11:00:00Z", "2026-03-02T11:00:00Z"),
    ("d1", "cart_rescue", "d", "sent", None, "2026-03-02T11:00:00Z"),
    ("d1", "cart_exit", "d", "cancelled", f"{UNLESS} 2026-03-02T11:00:01Z", "2026-03-02T11:00:01Z"),
    ("e1", "cart_rescue", "e", "deferred", f"{QUIET} 2026-03-03T09:00:00Z", "2026-03-02T21:30:00Z"),
    ("e1", "cart_exit", "e", "deferred", f"{QUIET} 2026-03-03T09:00:00Z", "2026-03-02T22:30:00Z"),
    ("e1", "cart_exit", "e", "cancelled", f"{UNLESS} 2026-03-02T23:00:00Z", "2026-03-02T23:00:00Z"),
    ("e1", "cart_rescue", "e", "cancelled", f"{RESCUE} 2026-03-02T23:00:00Z, before the "
     "quiet hours ended", "2026-03-02T23:00:00Z"),
    ("f1", "order_csat", "f", "deferred", f"{QUIET} 2026-03-04T09:00:00Z", "2026-03-03T22:00:00Z"),
    ("f2", "cart_exit", "f", "deferred", f"{QUIET} 2026-03-04T09:00:00Z", "2026-03-03T23:30:00Z"),
    ("f1", "order_csat", "f", "sent", None, "2026-03-04T09:00:00Z"),
    ("f2", "cart_exit", "f", "suppressed", f"{LIMIT} 2026-03-04T09:00:00Z (rule order_csat)",
     "2026-03-04T09:00:00Z"),
    ("g1", "cart_exit", "g", "deferred", f"{QUIET} 2026-03-08T13:00:00Z", "2026-03-08T07:30:00Z"),
    ("g1", "cart_exit", "g", "sent", None, "2026-03-08T13:00:00Z"),
    ("h1", "cart_exit", "h", "deferred", f"{QUIET} 2026-04-04T23:00:00Z", "2026-04-04T15:30:00Z"),
    ("h1", "cart_exit", "h", "sent", None, "2026-04-04T23:00:00Z"),
    ("i2", "cart_rescue", "i", "sent", None, "2026-03-02T13:00:00Z"),
    ("i2", "cart_exit", "i", "suppressed", f"{LIMIT} 2026-03-02T13:00:00Z (rule cart_rescue)",
     "2026-03-02T14:00:00Z"),
    ("i1", "order_csat", "i", "suppressed", "condition no longer holds: last_contact > 14d",
     "2026-03-03T10:00:00Z"),
    ("m1", "big_basket", "m", "sent", None, "2026-03-02T15:00:00Z"),
    ("m1", "cart_rescue", "m", "sent", None, "2026-03-02T16:00:00Z"),
    ("m1", "cart_exit", "m", "suppressed", f"{LIMIT} 2026-03-02T16:00:00Z (rule cart_rescue)",
     "2026-03-02T17:00:00Z"),
    ("n1", "cart_exit", "n", "sent", None, "2026-03-02T12:00:00Z"),
    ("j1", "cart_exit", "j", "sent", None, "2026-04-05T10:00:00Z"),
], key=repr)  # fmt: skip


def ordered(lines: list[bytes]) -> list[bytes]:
    """The lines in time order (stable), as a stream arrives."""
    return sorted(lines, key=lambda line: datetime.fromisoformat(orjson.loads(line)["timestamp"]))


def run_runner(events: Path, work: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(BENCH / "run_w2.py"), "--events-file", str(events),
               "--work", str(work), *extra]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def decided(path: Path) -> list[tuple[object, ...]]:
    rows = []
    for line in path.read_bytes().splitlines():
        d = orjson.loads(line)
        rows.append((d["trigger"]["id"], d["rule"], d["customer_id"], d["status"], d["reason"],
                     d["at"]))  # fmt: skip
    return sorted(rows, key=repr)


def test_every_contender_decides_the_edges_of_time_as_expected(tmp_path: Path) -> None:
    events = tmp_path / "edges.jsonl"
    lines = ordered(EDGES)
    assert lines[0].startswith(b'{"id":"a1"') and b'"z2"' in lines[-1]
    events.write_bytes(b"".join(lines))
    done = run_runner(events, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "all contenders made the same decisions as the engine and left as many timers" in (
        done.stdout
    )
    assert "timers pending at the end: 1 (engine)" in done.stdout
    for contender in (ENGINE_SQLITE, HANDWRITTEN, DURABLE):
        assert decided(decisions_path(tmp_path, contender, events)) == EXPECTED, contender
    # The hand-written baseline writes the engine's decisions byte for byte, in its order.
    engine = decisions_path(tmp_path, ENGINE_MEMORY, events).read_bytes()
    assert decisions_path(tmp_path, HANDWRITTEN, events).read_bytes() == engine
    rows = [
        line for line in done.stdout.splitlines() if line.startswith("| ") and "---" not in line
    ]
    assert [row.split("|")[1].strip() for row in rows[1:]] == [HANDWRITTEN, ENGINE_SQLITE,
                                                               ENGINE_MEMORY, DURABLE]  # fmt: skip


def test_a_contender_that_decides_differently_fails_the_run(tmp_path: Path) -> None:
    # The engine rejects an order without its required order_id, so the checkout's survey is
    # sent; the hand-written baseline trusts the input's shape and cancels it.
    events = tmp_path / "invalid.jsonl"
    events.write_bytes(
        checkout("v1", "v", "2026-03-02T10:00:00Z", 30)
        + event("v2", "order_completed", "v", "2026-03-02T10:30:00Z", checkout_id="k-v1",
                total=20)
        + checkout("w1", "w", "2026-03-02T13:00:00Z", 30)
    )  # fmt: skip
    done = run_runner(events, tmp_path, "--only", ENGINE_MEMORY)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "DECISIONS DIFFER" in done.stdout
    assert (
        "hand-written disagrees with fbdsl (SQLite) on invalid.jsonl: 1 decision(s) missing, "
        "1 extra" in done.stdout
    )
    assert "extra   ('v1', 'cart_exit', 'v', 'send_survey', 'cart_exit', None, 'cancelled'" in (
        done.stdout
    )


def result(name: str, seconds: float) -> Result:
    return Result(name, Path("w2.jsonl"), 1000, seconds, 1.0, collections.Counter())


@pytest.mark.parametrize(("engine_seconds", "met"), [(2.5, True), (2.49, True), (2.6, False)])
def test_the_target_is_forty_percent_of_the_baseline(engine_seconds: float, met: bool) -> None:
    group = [result(HANDWRITTEN, 1.0), result(ENGINE_SQLITE, engine_seconds)]
    assert [ok for _, ok in run_w2.targets([group])] == [met]
