"""The SQLite ledger: resume from its state, versioned schema, one run at a time."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
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
    decisions, _ = run(graph, events(0, 10), ledger, flush=True, audit_log=True)
    assert [orjson.loads(line) for line in ledger.decisions()] == decisions != []
    ledger.close()


def test_batch_runs_keep_no_audit_log_unless_asked(tmp_path: Path) -> None:
    ledger = open_ledger(tmp_path / "l.sqlite")
    decisions, _ = run(graph_of(RULES), events(0, 10), ledger, flush=True)
    assert decisions != [] and ledger.decisions() == []
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


COUNTING = """
event order_completed { order_id: string  total: number }
channel email
survey s { channels: email }
rule regular when order_completed and count(order_completed COUNTED within 30d) >= 3
then tag "regular"
"""


def test_history_kept_under_other_rules_counts_for_a_new_where(tmp_path: Path) -> None:
    """History keeps every declared field, so a count that starts reading one (or a field
    declared later, read as its default) counts the history kept before it."""
    path = tmp_path / "l.sqlite"

    def order(i: int, total: int) -> dict[str, object]:
        stamp = f"2026-01-0{i}T10:00:00Z"
        return event("order_completed", "c1", stamp, f"o{i}", order_id=f"o{i}", total=total)

    ledger = open_ledger(path)
    run(graph_of(COUNTING.replace("COUNTED", "")), [order(1, 50), order(2, 5)], ledger)
    ledger.close()
    big = COUNTING.replace("COUNTED", "where total > 10")
    ledger = open_ledger(path)
    decisions, _ = run(graph_of(big), [order(3, 60)], ledger)  # 2 big orders of 3
    assert decisions == []
    decisions, _ = run(graph_of(big), [order(4, 70)], ledger)  # 3 big orders
    assert [d["trigger"]["id"] for d in decisions] == ["o4"]
    ledger.close()
    with_coupon = COUNTING.replace("total: number", 'total: number  coupon: string = ""')
    ledger = open_ledger(path)
    decisions, _ = run(
        graph_of(with_coupon.replace("COUNTED", 'where coupon == ""')), [order(5, 1)], ledger
    )
    assert [d["trigger"]["id"] for d in decisions] == ["o5"]  # old entries read as ""
    ledger.close()


def test_pending_timers_of_an_edited_rule_are_dropped_the_others_carry_on(
    tmp_path: Path,
) -> None:
    path = tmp_path / "l.sqlite"
    rules = RULES + 'rule other when cart_updated then send survey "s" after 2h\n'
    ledger = open_ledger(path)
    run(graph_of(rules), events(0, 1), ledger)  # `later` and `other` leave a timer each
    ledger.close()
    ledger = open_ledger(path)
    edited = graph_of(rules.replace('send survey "s" after 1h', 'send survey "s" after 3h'))
    decisions, report = run(edited, [], ledger, flush=True)
    ledger.close()
    assert report.timers_dropped == 1  # `later` changed: its pending send is not carried out
    # `other` carries on (and meets the limit `now` took in the first run)
    assert [(d["rule"], d["status"]) for d in decisions] == [("other", "suppressed")]


def test_the_bloom_filters_are_rebuilt_as_they_fill_without_forgetting(tmp_path: Path) -> None:
    """Past its design load a filter is rebuilt, larger, from the stored ids: every seen id
    and stored customer is still found (no false negatives), strangers are not."""
    from fbdsl.runtime.ledger.sqlite import SqliteLedger

    ledger = SqliteLedger(tmp_path / "l.sqlite", cached_states=10)
    first_seen, first_stored = ledger.seen_filter, ledger.stored
    for n in range(100_000):
        ledger.mark_seen(f"e{n}", 0.0)
        state = ledger.customer(f"c{n}")
        state.tags.add("t")
        ledger.touch(state)
        if n % 10_000 == 9_999:
            ledger.commit()
    assert ledger.seen_filter is not first_seen and ledger.stored is not first_stored
    assert all(ledger.seen(f"e{n}") for n in range(0, 100_000, 7))
    assert not ledger.seen("e-never")
    assert all(ledger.customer(f"c{n}").tags == {"t"} for n in range(0, 100_000, 997))
    assert ledger.customer("c-new").tags == set()
    ledger.close()
