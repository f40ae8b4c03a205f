"""The SQLite ledger: resume from its state, versioned schema (older versions upgraded in
place), one run at a time."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest

from fbdsl.runtime.ledger import LedgerError, open_ledger
from fbdsl.runtime.ledger.codec import decode_state
from fbdsl.runtime.state import Contact, CustomerState
from fbdsl.runtime.timers import ABSENCE, QUIET, SEND, Timer, Trigger
from tests.runtime.helpers import event, graph_of, run
from tests.runtime.test_state_codec import v3_json

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


@pytest.mark.parametrize("version", [1, 5, 99])
def test_schema_version_is_checked(tmp_path: Path, version: int) -> None:
    path = tmp_path / "l.sqlite"
    open_ledger(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version),))
    message = f"schema version {version}; this fbdsl reads version 4"
    with pytest.raises(LedgerError, match=message):
        open_ledger(path)


def test_a_foreign_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE users (id INTEGER)")
    with pytest.raises(LedgerError, match="is not an fbdsl ledger"):
        open_ledger(path)


def test_one_run_at_a_time(tmp_path: Path) -> None:
    from fbdsl.runtime.ledger.sqlite import SqliteLedger

    first = open_ledger(tmp_path / "l.sqlite")
    with pytest.raises(LedgerError, match="in use by another fbdsl process"):
        SqliteLedger(tmp_path / "l.sqlite", lock_wait=0.2)  # (open_ledger waits 5 s)
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


@pytest.mark.parametrize("write_behind", [False, True])
def test_the_bloom_filters_are_rebuilt_as_they_fill_without_forgetting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write_behind: bool
) -> None:
    """Past its design load a filter is rebuilt, larger, from the stored ids (and those of
    the commit in flight): every seen id and stored customer is still found (no false
    negatives), strangers are not."""
    from fbdsl.runtime.ledger import sqlite
    from fbdsl.runtime.ledger.sqlite import SqliteLedger

    monkeypatch.setattr(sqlite, "BATCH_FILTER_CAPACITY", 43_690)  # rebuilt past 43,690 ids
    ledger = SqliteLedger(tmp_path / "l.sqlite", cached_states=10, write_behind=write_behind)
    first_seen, first_stored = ledger.seen_filter, ledger.stored
    for n in range(100_000):
        ledger.first_sight(f"e{n}", 0.0)
        state = ledger.customer(f"c{n}")
        state.tags = state.tags | {"t"}
        ledger.touch(state)
        if n % 10_000 == 9_999:
            ledger.commit()
            assert len(ledger.cache) == 10  # the most recently changed states
            assert list(ledger.cache) == [f"c{m}" for m in range(n - 9, n + 1)]
    assert ledger.seen_filter is not first_seen and ledger.stored is not first_stored
    assert all(ledger.seen(f"e{n}") for n in range(0, 100_000, 7))
    assert not ledger.seen("e-never")
    assert all(ledger.customer(f"c{n}").tags == {"t"} for n in range(0, 100_000, 997))
    assert ledger.customer("c-new").tags == set()
    ledger.close()


@pytest.mark.parametrize("write_behind", [False, True])
def test_a_state_first_written_commits_after_it_was_made_is_found_again(
    tmp_path: Path, write_behind: bool
) -> None:
    """A customer's state made by one event that changed nothing is not written; when a
    later change writes it, the customer must join the stored ones then, or the state,
    once evicted, would be read back as a new customer's (forgetting its contacts)."""
    from fbdsl.runtime.ledger.sqlite import SqliteLedger

    ledger = SqliteLedger(tmp_path / "l.sqlite", cached_states=2, write_behind=write_behind)
    ledger.customer("quiet")  # made, not changed
    ledger.commit()
    ledger.commit()
    state = ledger.customer("quiet")
    state.tags = state.tags | {"loyal"}
    ledger.touch(state)
    ledger.commit()
    for n in range(5):  # evicts "quiet" from the cache
        other = ledger.customer(f"c{n}")
        other.tags = other.tags | {"t"}
        ledger.touch(other)
        ledger.commit()
    assert "quiet" not in ledger.cache
    assert ledger.customer("quiet").tags == {"loyal"}
    ledger.close()


# -- schema version 4: states in MessagePack; version 3 (JSON states) and 2 upgraded in place --

V3_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE customers (customer_id TEXT PRIMARY KEY, state BLOB NOT NULL);
CREATE TABLE seen_events (event_id TEXT PRIMARY KEY, at REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE decisions (seq INTEGER PRIMARY KEY, customer_id TEXT NOT NULL, decision BLOB NOT NULL);
CREATE INDEX decisions_by_customer ON decisions (customer_id, seq);
CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, decision BLOB NOT NULL);
CREATE TABLE timer_index (due REAL NOT NULL, rank INTEGER NOT NULL, customer_id TEXT NOT NULL,
    action INTEGER NOT NULL, timer_id TEXT NOT NULL,
    PRIMARY KEY (due, rank, customer_id, action, timer_id)) WITHOUT ROWID;
CREATE UNIQUE INDEX timer_index_by_id ON timer_index (timer_id);
INSERT INTO meta VALUES ('schema_version', '3');
"""

V2_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE customers (customer_id TEXT PRIMARY KEY, state BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE seen_events (event_id TEXT PRIMARY KEY, at REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE decisions (seq INTEGER PRIMARY KEY, decision BLOB NOT NULL);
CREATE TABLE timer_index (due REAL NOT NULL, rank INTEGER NOT NULL, customer_id TEXT NOT NULL,
    action INTEGER NOT NULL, timer_id TEXT NOT NULL,
    PRIMARY KEY (due, rank, customer_id, action, timer_id)) WITHOUT ROWID;
INSERT INTO meta VALUES ('schema_version', '2');
"""


def sample_states() -> list[CustomerState]:
    """States with every part: traits of each type, tags, opt-outs, held contacts, history
    with list fields, pending timers of each kind."""
    states = []
    for n in range(7):
        cid = f"c{n}" if n % 3 else f"customer-{n:03d}"
        state = CustomerState(cid, newest=1_767_225_600.0 + n)
        state.traits = {"tier": "gold", "ltv": 12.5 * n, "visits": n, "vip": n % 2 == 0,
                        "langs": ("en", "fr"), "signup": 1_700_000_000.0}  # fmt: skip
        if n % 2:
            state.tags = {"regular", f"t{n}"}
            state.opt_outs = {"sms"} if n != 5 else {"*"}
        for k in range(n % 4):
            at = 1_767_225_600.0 + 3600 * k
            contact = Contact(at, "s", "email", "now", f"d{n}-{k}", held=k == 2)
            state.add_contact(contact, keep=30 * 86400.0)
        entries = [(1_767_225_600.0 + k, {"order_id": f"o{k}", "skus": ("a", "b"), "total": 9.5})
                   for k in range(n % 3)]  # fmt: skip
        if entries:
            state.history["order_completed"] = entries
            state.last_seen["order_completed"] = entries[-1][0]
        for k, kind in enumerate([SEND, ABSENCE, QUIET][: n % 4]):
            fields = {"cart_id": f"k{n}", "skus": ("x",), "customer_id": cid, "id": f"e{n}"}
            trigger = Trigger("cart_updated", f"e{n}", 1_767_225_600.0 + n, fields,
                              None if k == 0 else 1_767_000_000.0)  # fmt: skip
            timer = Timer(f"t{n}-{k}", 1_767_230_000.0 + k, kind, "later", k, cid,
                          0 if kind != ABSENCE else -1, trigger)  # fmt: skip
            state.timers[timer.id] = timer
        states.append(state)
    return states


def write_old_ledger(path: Path, states: list[CustomerState], version: int = 3) -> None:
    """A ledger as versions 3 (or 2) wrote it: their tables, states as JSON objects."""
    db = sqlite3.connect(path)
    db.executescript(V3_SCHEMA if version == 3 else V2_SCHEMA)
    db.executemany(
        "INSERT INTO customers VALUES (?, ?)", [(s.customer_id, v3_json(s)) for s in states]
    )
    db.executemany(
        "INSERT INTO timer_index VALUES (?, ?, ?, ?, ?)",
        [t.key for s in states for t in s.timers.values()],
    )
    db.execute("INSERT INTO seen_events VALUES ('e1', 1.0)")
    db.commit()
    db.close()


def stored_blobs(path: Path) -> dict[str, bytes]:
    with sqlite3.connect(path) as db:
        return dict(db.execute("SELECT customer_id, state FROM customers"))


def schema_version_of(path: Path) -> str:
    with sqlite3.connect(path) as db:
        return str(db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0])


def test_a_version_3_ledger_is_upgraded_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fbdsl.runtime.ledger import sqlite as sqlite_ledger

    monkeypatch.setattr(sqlite_ledger, "UPGRADE_BATCH", 3)  # several batches of states
    path = tmp_path / "v3.sqlite"
    states = sample_states()
    write_old_ledger(path, states)
    ledger = sqlite_ledger.SqliteLedger(path)
    assert ledger.meta("schema_version") == "4" == str(sqlite_ledger.SCHEMA_VERSION)
    for state in states:
        assert ledger.customer(state.customer_id) == state
    assert ledger.seen("e1") and len(ledger.timers) == sum(len(s.timers) for s in states) > 0
    ledger.close()
    blobs = stored_blobs(path)
    assert sorted(blobs) == sorted(s.customer_id for s in states)
    for state in states:  # every blob re-encoded (JSON would not decode)
        assert decode_state(state.customer_id, blobs[state.customer_id]) == state
        assert len(blobs[state.customer_id]) < len(v3_json(state))
    reopened = sqlite_ledger.SqliteLedger(path)  # version 4 now: opened as it is
    assert reopened.customer(states[1].customer_id) == states[1]
    reopened.close()
    assert stored_blobs(path) == blobs


def test_a_version_2_ledger_ends_at_version_4_with_its_states(tmp_path: Path) -> None:
    path = tmp_path / "v2.sqlite"
    states = sample_states()
    write_old_ledger(path, states, version=2)
    with sqlite3.connect(path) as db:  # a state as early version 2 wrote it: every part, null
        early = {"traits": {}, "tags": [], "opt_outs": [], "contacts": [], "newest": None,
                 "last_contact_at": {}, "last_sent_at": {}, "history": {}, "last_seen": {},
                 "timers": []}  # fmt: skip
        db.execute("INSERT INTO customers VALUES ('early', ?)", (orjson.dumps(early),))
    ledger = open_ledger(path)
    assert ledger.meta("schema_version") == "4"
    assert [ledger.customer(s.customer_id) for s in states] == states
    assert ledger.customer("early") == CustomerState("early")
    ledger.close()
    assert decode_state("early", stored_blobs(path)["early"]) == CustomerState("early")


def test_an_upgrade_that_fails_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "v3.sqlite"
    write_old_ledger(path, sample_states())
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO customers VALUES ('zz-broken', ?)", (b"{not json",))
    before = stored_blobs(path)
    with pytest.raises(ValueError):
        open_ledger(path)
    assert stored_blobs(path) == before  # one transaction: nothing re-encoded
    assert schema_version_of(path) == "3"


def downgrade_to_version_3(path: Path) -> None:
    """Rewrite a ledger's states as JSON objects, as version 3 stored them."""
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT customer_id, state FROM customers").fetchall()
        db.executemany(
            "UPDATE customers SET state = ? WHERE customer_id = ?",
            [(v3_json(decode_state(cid, blob)), cid) for cid, blob in rows],
        )
        db.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")


def test_a_run_goes_on_across_the_upgrade(tmp_path: Path) -> None:
    """A run stopped on a version 3 ledger (pending timers, tags, contacts) and resumed by
    this version gives the decisions of one run."""
    graph = graph_of(RULES)
    whole, _ = run(graph, events(0, 40), open_ledger(tmp_path / "one.sqlite"), flush=True)
    path = tmp_path / "two.sqlite"
    ledger = open_ledger(path)
    first, _ = run(graph, events(0, 17), ledger, until=None)
    ledger.close()
    downgrade_to_version_3(path)
    assert any(b"timers" in blob for blob in stored_blobs(path).values())
    ledger = open_ledger(path)
    second, report = run(graph, events(0, 40), ledger, flush=True)
    ledger.close()
    assert schema_version_of(path) == "4"
    assert report.duplicates == 17
    assert first + second == whole


def test_the_last_contact_outlives_the_kept_contacts(tmp_path: Path) -> None:
    """Without a limit no contact is kept, but `last_contact` still reads the time of the
    last one: it is stored (version 3 left it out with the contacts, and a customer read back
    from the ledger was contacted again)."""
    rules = RULES.replace("policy { limit 1 contact per 30d }\n", "").replace(
        "rule now when cart_updated", "rule now when cart_updated and last_contact > 30d"
    )
    graph = graph_of(rules)
    path = tmp_path / "l.sqlite"
    for day, expected in [(1, ["sent"]), (2, []), (3, [])]:
        ledger = open_ledger(path)  # the state is read back from the file each time
        stamp = f"2026-01-0{day}T00:00:00Z"
        decisions, _ = run(graph, [event("cart_updated", "c1", stamp, f"e{day}", cart_id="k")],
                           ledger, until=None)  # fmt: skip
        ledger.close()
        assert [d["status"] for d in decisions if d["rule"] == "now"] == expected


@pytest.mark.parametrize("kind", ["memory", "sqlite", "sqlite-stacked", "sqlite-write-behind"])
def test_first_sight_answers_and_marks_an_event_id_across_commits_and_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """An id is new once: in this run, after a commit, after a reopen; ids never seen are new
    even where the Bloom filter says "maybe" (asked of the database: a filter made loose
    says it for about 0.5% of the strangers here: 550 seen, 200 required)."""
    from fbdsl.runtime.ledger import bloom, sqlite
    from fbdsl.runtime.ledger.memory import MemoryLedger
    from fbdsl.runtime.ledger.sqlite import SqliteLedger

    monkeypatch.setattr(sqlite, "BATCH_FILTER_CAPACITY", 43_690)
    monkeypatch.setattr(bloom, "FALSE_POSITIVE_RATE", 0.05)

    def fresh() -> MemoryLedger | SqliteLedger:
        if kind == "memory":
            return memory
        return SqliteLedger(
            tmp_path / "l.sqlite",
            stacked_filters=kind == "sqlite-stacked",
            write_behind=kind == "sqlite-write-behind",
        )

    memory = MemoryLedger()
    ledger = fresh()
    assert all(ledger.first_sight(f"e{n}", float(n)) for n in range(40_000))
    assert not ledger.first_sight("e7", 99.0) and ledger.seen("e7")
    ledger.commit()
    assert not any(ledger.first_sight(f"e{n}", 0.0) for n in range(0, 40_000, 13))
    ledger.close()
    ledger = fresh()
    assert not any(ledger.first_sight(f"e{n}", 0.0) for n in range(0, 40_000, 7))
    strangers = [f"x{n}" for n in range(100_000)]
    if kind != "memory":
        assert isinstance(ledger, SqliteLedger)
        maybe = sum(1 for x in strangers if x in ledger.seen_filter)
        assert maybe > 200  # the database answered these
    assert all(ledger.first_sight(x, 1.0) for x in strangers)
    assert not any(ledger.first_sight(x, 1.0) for x in strangers)
    ledger.commit()
    ledger.close()
