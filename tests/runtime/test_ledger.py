"""The SQLite ledger: resume from its state, versioned schema, one run at a time."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from fbdsl.runtime.ledger import LedgerError, open_ledger
from tests.runtime.helpers import event, graph_of, run

RULES = """
event cart_updated { cart_id: string }
channel email
survey s { channels: email }
policy { limit 1 contact per 30d }
rule now when cart_updated then send survey "s"
rule later when cart_updated then tag "seen" and send survey "s" after 1h
"""


def events(start: int, stop: int) -> list[dict[str, object]]:
    return [
        event(
            "cart_updated",
            f"c{i % 5}",
            f"2026-01-{1 + i // 5:02d}T{i % 24:02d}:00:00Z",
            f"e{i}",
            cart_id=f"k{i}",
        )
        for i in range(start, stop)
    ]


def test_split_run_on_one_ledger_equals_one_run(tmp_path: Path) -> None:
    graph = graph_of(RULES)
    whole, _ = run(graph, events(0, 40), open_ledger(tmp_path / "one.sqlite"), flush=True)
    ledger = open_ledger(tmp_path / "two.sqlite")
    first, _ = run(graph, events(0, 17), ledger, until=None)
    ledger.close()
    ledger = open_ledger(tmp_path / "two.sqlite")
    second, report = run(graph, events(0, 40), ledger, flush=True)  # replays 0..16: skipped
    ledger.close()
    assert report.duplicates == 17
    assert first + second == whole


def test_decisions_are_logged_in_the_ledger(tmp_path: Path) -> None:
    graph = graph_of(RULES)
    ledger = open_ledger(tmp_path / "l.sqlite")
    decisions, _ = run(graph, events(0, 10), ledger, flush=True)
    assert len(ledger.decisions()) == len(decisions) > 0
    ledger.close()


def test_schema_version_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    open_ledger(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(LedgerError, match="schema version 99; this fbdsl reads version 3"):
        open_ledger(path)


def test_a_foreign_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE users (id INTEGER)")
    with pytest.raises(LedgerError, match="is not an fbdsl ledger"):
        open_ledger(path)


def test_one_run_at_a_time(tmp_path: Path) -> None:
    first = open_ledger(tmp_path / "l.sqlite")
    with pytest.raises(LedgerError, match="in use by another fbdsl process"):
        open_ledger(tmp_path / "l.sqlite")
    first.close()
    open_ledger(tmp_path / "l.sqlite").close()
