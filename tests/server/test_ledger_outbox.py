"""The ledger's additions for the sidecar, on both backends: the decision log by customer,
the outbox, pending timer ids, and the in-place upgrade of a version 2 SQLite ledger."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest

from fbdsl.runtime.ledger import Ledger, customer_of
from fbdsl.runtime.ledger.memory import MemoryLedger
from fbdsl.runtime.ledger.sqlite import SCHEMA_VERSION, SqliteLedger
from fbdsl.runtime.timers import Timer, Trigger


def _decision(customer: str, n: int) -> bytes:
    return (
        orjson.dumps(
            {
                "decision_id": f"d{n}",
                "at": "2026-01-01T00:00:00Z",
                "rule": "r",
                "customer_id": customer,
                "status": "sent",
            }
        )
        + b"\n"
    )


@pytest.fixture(params=["memory", "sqlite"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Ledger:
    if request.param == "memory":
        return MemoryLedger()
    return SqliteLedger(tmp_path / "l.sqlite")


def test_customer_of_reads_the_key_even_with_escapes() -> None:
    assert customer_of(_decision("c-1", 1)) == "c-1"
    assert customer_of(_decision('we"ird\\id', 2)) == 'we"ird\\id'
    tricky = orjson.dumps({"rule": '"customer_id":"x', "customer_id": "real"})
    assert customer_of(tricky) == "real"
    assert customer_of(orjson.dumps({"customer_id": "é"})) == "é"


def test_decisions_by_customer(ledger: Ledger) -> None:
    ledger.log_decisions(
        [("a", _decision("a", 1)), ("b", _decision("b", 2)), ("a", _decision("a", 3))]
    )
    ledger.commit()
    ledger.log_decisions([("a", _decision("a", 4))])  # not committed yet: still part of the trail
    trail = [orjson.loads(line)["decision_id"] for line in ledger.decisions_for("a", 10)]
    assert trail == ["d1", "d3", "d4"]
    assert [orjson.loads(x)["decision_id"] for x in ledger.decisions_for("a", 2)] == ["d3", "d4"]
    assert ledger.decisions_for("nobody", 10) == []


def test_outbox_in_order_until_done(ledger: Ledger) -> None:
    ledger.outbox_add([_decision("a", n) for n in range(5)])
    assert ledger.outbox_depth() == 5
    ledger.commit()
    first = ledger.outbox_after(0, 2)
    assert [orjson.loads(line)["decision_id"] for _, line in first] == ["d0", "d1"]
    rest = ledger.outbox_after(first[-1][0], 10)
    assert len(rest) == 3
    ledger.outbox_done(first[-1][0])
    ledger.commit()
    assert ledger.outbox_depth() == 3
    assert ledger.outbox_after(0, 10) == rest
    ledger.outbox_done(rest[-1][0])
    ledger.commit()
    assert ledger.outbox_depth() == 0
    ledger.outbox_add([_decision("a", 9)])  # numbers are never reused after a full drain
    ledger.commit()
    ((number, _),) = ledger.outbox_after(0, 10)
    assert number > rest[-1][0]


def test_outbox_survives_a_reopen(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "l.sqlite")
    ledger.outbox_add([_decision("a", n) for n in range(3)])
    ledger.commit()
    ledger.outbox_done(ledger.outbox_after(0, 1)[0][0])
    ledger.close()  # the removal was never committed: it is delivered again
    again = SqliteLedger(tmp_path / "l.sqlite")
    assert again.outbox_depth() == 3
    assert len(again.outbox_after(0, 10)) == 3


def test_pending_timer_ids_committed_or_not(ledger: Ledger) -> None:
    trigger = Trigger("e", "id1", 0.0, {}, None)
    for n, customer in enumerate(["a", "b"]):
        state = ledger.customer(customer)
        timer = Timer(f"t{n}", 100.0 + n, "send", "r", 0, customer, 0, trigger)
        state.timers[timer.id] = timer
        ledger.timers.add(timer.key)
        ledger.touch(state)
        if n == 0:
            ledger.commit()
    assert sorted(ledger.pending_timer_ids()) == [("a", "t0"), ("b", "t1")]


def test_a_version_2_ledger_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE customers (customer_id TEXT PRIMARY KEY, state BLOB NOT NULL) WITHOUT ROWID;
        CREATE TABLE seen_events (event_id TEXT PRIMARY KEY, at REAL NOT NULL) WITHOUT ROWID;
        CREATE TABLE decisions (seq INTEGER PRIMARY KEY, decision BLOB NOT NULL);
        CREATE TABLE timer_index (due REAL NOT NULL, rank INTEGER NOT NULL,
            customer_id TEXT NOT NULL, action INTEGER NOT NULL, timer_id TEXT NOT NULL,
            PRIMARY KEY (due, rank, customer_id, action, timer_id)) WITHOUT ROWID;
        INSERT INTO meta VALUES ('schema_version', '2');
    """)
    db.executemany(
        "INSERT INTO decisions (decision) VALUES (?)",
        [(_decision(c, n),) for n, c in enumerate("aba")],
    )
    db.commit()
    db.close()
    ledger = SqliteLedger(path)
    assert ledger.meta("schema_version") == str(SCHEMA_VERSION)
    assert [orjson.loads(x)["decision_id"] for x in ledger.decisions_for("a", 10)] == ["d0", "d2"]
    ledger.log_decisions([("b", _decision("b", 7))])
    ledger.outbox_add([_decision("b", 7)])
    ledger.commit()
    assert len(ledger.decisions()) == 4
    assert ledger.outbox_depth() == 1


def test_stacked_bloom_filter_grows_without_forgetting() -> None:
    from fbdsl.runtime.ledger.bloom import StackedBloomFilter

    bloom = StackedBloomFilter()
    items = [f"id-{n}" for n in range(100_000)]
    bloom.add_all(items)
    assert len(bloom.filters) >= 2  # it grew by stacking, never rebuilt
    assert not bloom.full
    assert all(item in bloom for item in items)  # no false negatives
    strangers = sum(f"other-{n}" in bloom for n in range(20_000))
    assert strangers < 20_000 * 0.03  # false positives: a few percent at most


def test_a_sidecar_ledger_answers_seen_ids_across_filter_growth(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "s.sqlite", stacked_filters=True, checkpoint_every=0.05)
    for n in range(120_000):
        ledger.first_sight(f"e{n}", 0.0)
        if n % 20_000 == 0:
            ledger.commit()
    ledger.commit()
    assert all(ledger.seen(f"e{n}") for n in range(0, 120_000, 7))
    assert not ledger.seen("never")
    ledger.close()
    assert (
        not (tmp_path / "s.sqlite-wal").exists() or (tmp_path / "s.sqlite-wal").stat().st_size == 0
    )
