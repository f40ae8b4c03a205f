"""Tests of the W1 benchmark itself: the contenders decide like the engine, and the runner
notices when they do not. They start processes (seconds), so they live beside the benchmark
rather than in tests/:

    python -m pytest bench/test_w1.py
"""

from __future__ import annotations

import collections
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import run_w1

BENCH = Path(__file__).resolve().parent
LIMIT = "limit 1 contact per 30d"


def event(
    eid: str | None,
    name: str,
    customer: str,
    timestamp: str,
    traits: dict[str, str] | None = None,
    **properties: object,
) -> bytes:
    document: dict[str, object] = {
        "event": name,
        "customer_id": customer,
        "timestamp": timestamp,
        "properties": properties,
    }
    if eid is not None:
        document["id"] = eid
    if traits is not None:
        document["traits"] = traits
    return orjson.dumps(document) + b"\n"


# Hand-made cases at the edges of the W1 semantics, one customer each.
EDGES = [
    # a: arbitration (priority 10 takes the slot, 8 is refused); a time with an offset; the
    # 30-day window is (now - 30d, now]: a contact exactly 30 days ago no longer counts.
    event("a1", "order_completed", "a", "2026-01-01T01:00:00+01:00", order_id="o", total=150),
    event("a2", "order_refunded", "a", "2026-01-31T00:00:00Z", order_id="o", total=30),
    event("a3", "order_refunded", "a", "2026-01-31T00:00:01Z", order_id="o", total=30),
    # b: a repeated id is skipped; an event nothing reads (no traits) leaves no id behind.
    event("b1", "order_completed", "b", "2026-01-02T00:00:00Z", order_id="o", total=20),
    event("b1", "order_completed", "b", "2026-01-02T00:00:05Z", order_id="o", total=20),
    event("x1", "product_viewed", "b", "2026-02-09T00:00:00Z", product_id="p", price=1),
    event("x1", "order_refunded", "b", "2026-02-10T00:00:00Z", order_id="o", total=25),
    # c: traits on an undeclared event are ignored; on a declared one they count.
    event("c1", "page_viewed", "c", "2026-01-03T00:00:00Z", {"tier": "premium"}, path="/"),
    event("c2", "checkout_started", "c", "2026-01-03T00:01:00Z", checkout_id="k", total=200),
    event("c3", "product_added", "c", "2026-01-03T00:02:00Z", {"tier": "premium"}, product_id="p",
          price=1),
    event("c4", "checkout_started", "c", "2026-01-03T00:03:00Z", checkout_id="k", total=200),
    # d: traits on the trigger itself apply before its rules are decided; 150 is not > 150.
    event("d1", "checkout_started", "d", "2026-01-04T00:00:00Z", {"tier": "premium"},
          checkout_id="k", total=150),
    event("d2", "checkout_started", "d", "2026-01-04T00:01:00Z", checkout_id="k", total=150.01),
    # e: events without ids; loyal_tag counts orders in (now - 90d, now], the trigger included.
    event(None, "order_completed", "e", "2026-01-05T00:00:00Z", order_id="o", total=10),
    event(None, "order_completed", "e", "2026-01-06T00:00:00Z", order_id="o", total=10),
    event(None, "order_completed", "e", "2026-01-07T00:00:00Z", order_id="o", total=10),
    event(None, "order_completed", "e", "2026-04-06T00:00:00Z", order_id="o", total=10),
]  # fmt: skip

# (trigger id, rule, customer, status, reason); None for an id derived from the content.
EXPECTED = [
    ("a1", "big_order_nps", "a", "sent", None),
    ("a1", "first_order_csat", "a", "suppressed",
     f"{LIMIT}: last contact 2026-01-01T00:00:00Z (rule big_order_nps)"),
    ("a2", "refund_ces", "a", "sent", None),
    ("a3", "refund_ces", "a", "suppressed",
     f"{LIMIT}: last contact 2026-01-31T00:00:00Z (rule refund_ces)"),
    ("b1", "first_order_csat", "b", "sent", None),
    ("x1", "refund_ces", "b", "sent", None),
    ("c4", "premium_checkout", "c", "sent", None),
    ("d2", "premium_checkout", "d", "sent", None),
    (None, "first_order_csat", "e", "sent", None),
    (None, "loyal_tag", "e", "sent", None),
]  # fmt: skip


def run_runner(events: Path, work: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(BENCH / "run_w1.py"), "--events-file", str(events),
               "--work", str(work)]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def engine_decisions(work: Path, events: Path) -> list[tuple[object, ...]]:
    path = run_w1.decisions_path(work, run_w1.ENGINE_SQLITE, events)
    assert path.name == f"fbdsl-sqlite.{events.stem}.jsonl"
    rows = []
    for line in path.read_bytes().splitlines():
        d = orjson.loads(line)
        trigger = d["trigger"]["id"]
        trigger = None if trigger.startswith("sha:") else trigger
        rows.append((trigger, d["rule"], d["customer_id"], d["status"], d["reason"]))
    return rows


def test_every_contender_decides_the_edge_cases_as_expected(tmp_path: Path) -> None:
    events = tmp_path / "edges.jsonl"
    events.write_bytes(b"".join(EDGES))
    done = run_runner(events, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "all contenders made the same decisions as the engine" in done.stdout
    assert engine_decisions(tmp_path, events) == EXPECTED
    rows = [
        line for line in done.stdout.splitlines() if line.startswith("| ") and "---" not in line
    ]
    names = [row.split("|")[1].strip() for row in rows[1:]]
    assert names == ["hand-written", "fbdsl (SQLite)", "fbdsl (memory)", "rule-engine",
                     "durable_rules"]  # fmt: skip
    assert all(row.rstrip(" |").endswith(f"| {len(EXPECTED)}") for row in rows[1:])


def test_a_contender_that_decides_differently_fails_the_run(tmp_path: Path) -> None:
    # The engine rejects an order without its required order_id; the other contenders trust
    # the input's shape and send the survey: the runner must refuse to report figures.
    events = tmp_path / "invalid.jsonl"
    events.write_bytes(
        event("v1", "order_completed", "v", "2026-01-01T00:00:00Z", total=150)
        + event("v2", "order_refunded", "w", "2026-01-01T00:00:00Z", order_id="o", total=30)
    )
    done = run_runner(events, tmp_path)
    assert done.returncode == 1
    assert "DECISIONS DIFFER" in done.stdout
    assert (
        "hand-written disagrees with fbdsl (SQLite) on invalid.jsonl: 0 decision(s) missing, "
        "2 extra" in done.stdout
    )
    assert (
        "extra   ('v1', 'big_order_nps', 'v', 'send_survey', 'order_nps', 'email', 'sent'"
        in done.stdout
    )
    assert "durable_rules disagrees" in done.stdout


def result(name: str, lines: int, seconds: float) -> run_w1.Result:
    return run_w1.Result(name, Path("w1.jsonl"), lines, seconds, 1.0, collections.Counter())


@pytest.mark.parametrize(
    ("engine_seconds", "durable_seconds", "met"),
    [(1.9, 20.0, [True, True]), (2.1, 25.0, [False, True]), (1.0, 9.9, [True, False])],
)
def test_targets_are_half_the_baseline_and_ten_times_durable_rules(
    engine_seconds: float, durable_seconds: float, met: list[bool]
) -> None:
    group = [
        result(run_w1.HANDWRITTEN, 1000, 1.0),
        result(run_w1.ENGINE_SQLITE, 1000, engine_seconds),
        result(run_w1.DURABLE, 1000, durable_seconds),
    ]
    assert [ok for _, ok in run_w1.targets([group])] == met


def test_each_rounds_ratios_are_reported() -> None:
    rounds = [
        {run_w1.HANDWRITTEN: 2.5, run_w1.ENGINE_SQLITE: 5.0, run_w1.DURABLE: 60.0},
        {run_w1.HANDWRITTEN: 3.0, run_w1.ENGINE_SQLITE: 4.0, run_w1.DURABLE: 50.0},
    ]
    assert run_w1.round_ratios(rounds) == [
        "engine (SQLite) / hand-written by round: 50%, 75%",
        "engine (SQLite) / durable_rules by round: 12.0x, 12.5x",
    ]
    assert run_w1.round_ratios([{run_w1.HANDWRITTEN: 1.0, run_w1.ENGINE_SQLITE: 4.0}]) == [
        "engine (SQLite) / hand-written by round: 25%"
    ]
