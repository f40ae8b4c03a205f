"""Write-behind (batch runs): the SQLite ledger's commits applied by a writer process while
the engine goes on. The same run gives the same decisions and leaves the same ledger as
synchronous commits; reads see what the commit in flight holds; a writer that dies or fails
is reported, not ignored; a run killed mid-commit leaves its writer to finish (holding the
lock) and the next run sees that commit."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from fbdsl.runtime.ledger import LedgerError, open_ledger
from fbdsl.runtime.ledger.sqlite import SqliteLedger
from tests.runtime.helpers import graph_of, run
from tests.runtime.test_crash import RULES, stream

TABLES = {
    "customers": "customer_id",
    "seen_events": "event_id",
    "timer_index": "timer_id",
    "decisions": "seq",
    "meta": "key",
}


def contents(path: Path) -> dict[str, list[tuple[object, ...]]]:
    db = sqlite3.connect(path)
    try:
        return {
            table: db.execute(f"SELECT * FROM {table} ORDER BY {key}").fetchall()
            for table, key in TABLES.items()
        }
    finally:
        db.close()


def ledger_at(path: Path, write_behind: bool) -> SqliteLedger:
    # Few cached states and timers in memory: states are evicted while their commit is in
    # flight, and timers are read back from the database, between commits of 25 events.
    return SqliteLedger(path, cached_states=5, timers_in_memory=8, write_behind=write_behind)


def test_write_behind_gives_the_decisions_and_the_ledger_of_synchronous_commits(
    tmp_path: Path,
) -> None:
    graph = graph_of(RULES)
    lines = stream(1500).decode().splitlines()
    results = {}
    for write_behind in (False, True):
        path = tmp_path / f"{write_behind}.sqlite"
        ledger = ledger_at(path, write_behind)
        first, before = run(graph, lines[:900], ledger, commit_every=25, audit_log=True)
        ledger.close()
        ledger = ledger_at(path, write_behind)  # resumed: the first run's states read back
        second, report = run(graph, lines, ledger, commit_every=25, flush=True, audit_log=True)
        ledger.close()
        # (Events no rule could match are ignored, not remembered: not duplicates either.)
        assert before.ignored > 0 and report.duplicates == 900 - before.ignored
        results[write_behind] = (first + second, contents(path))
    decisions, tables = results[True]
    assert decisions == results[False][0]
    assert {d["status"] for d in decisions} >= {"sent", "suppressed", "cancelled", "deferred"}
    assert tables == results[False][1]
    assert len(tables["customers"]) == 40
    assert len(tables["seen_events"]) == 1500 - report.ignored


def test_reads_see_the_commit_in_flight(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "l.sqlite", cached_states=0, write_behind=True)
    state = ledger.customer("c1")
    state.tags = state.tags | {"vip"}
    ledger.touch(state)
    ledger.first_sight("e1", 1.0)
    ledger.set_meta("k", "v")
    ledger.outbox_add([b'{"customer_id":"c1"}'])
    ledger.commit()  # in flight; the state is evicted from the cache at once
    assert "c1" not in ledger.cache
    assert ledger.customer("c1").tags == {"vip"}
    assert ledger.seen("e1") and not ledger.seen("e2")
    assert ledger.meta("k") == "v"
    assert ledger.outbox_depth() == 1
    assert ledger.outbox_after(0, 10) == [(1, b'{"customer_id":"c1"}')]  # waits, then reads
    ledger.close()
    again = open_ledger(tmp_path / "l.sqlite")
    assert again.customer("c1").tags == {"vip"} and again.seen("e1")
    again.close()


def test_a_writer_that_dies_is_reported_at_the_next_commit(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "l.sqlite", write_behind=True)
    assert ledger._writer is not None
    os.kill(ledger._writer.process.pid, signal.SIGKILL)
    ledger._writer.process.wait()
    ledger.first_sight("e1", 1.0)
    with pytest.raises(LedgerError, match="writer process ended unexpectedly"):
        ledger.commit()
    ledger.close()


def test_a_failed_commit_is_reported_and_nothing_of_it_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    ledger = SqliteLedger(path, write_behind=True)
    ledger.first_sight("e1", 1.0)
    ledger.commit()
    ledger.close()
    db = sqlite3.connect(path)  # the next commit's seen ids now break a constraint
    db.execute("CREATE TRIGGER refuse BEFORE INSERT ON seen_events "
               "WHEN NEW.event_id = 'e3' BEGIN SELECT RAISE(ABORT, 'no e3'); END")  # fmt: skip
    db.commit()
    db.close()
    ledger = SqliteLedger(path, write_behind=True)
    ledger.first_sight("e2", 2.0)
    ledger.first_sight("e3", 3.0)
    ledger.commit()
    with pytest.raises(LedgerError, match="the ledger's writer failed: no e3"):
        ledger.close()
    db = sqlite3.connect(path)
    assert db.execute("SELECT event_id FROM seen_events").fetchall() == [("e1",)]
    db.close()


def test_a_run_killed_mid_commit_leaves_the_writer_to_finish_it(tmp_path: Path) -> None:
    """The engine dies right after handing over a commit: its writer applies it, holding the
    run's lock meanwhile, and the next run (which waits for the lock) sees it."""
    path = tmp_path / "l.sqlite"
    script = textwrap.dedent(
        f"""
        import os
        from fbdsl.runtime.ledger.sqlite import SqliteLedger
        ledger = SqliteLedger({str(path)!r}, write_behind=True)
        for n in range(200_000):
            ledger.first_sight(f"e{{n}}", float(n))
        ledger.commit()
        os._exit(9)  # no close, no wait: as if killed
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert done.returncode == 9, done.stderr.decode()
    ledger = open_ledger(path)  # waits for the lock the writer still holds, if it does
    assert ledger.seen("e0") and ledger.seen("e199999")
    ledger.close()
    db = sqlite3.connect(path)
    assert db.execute("SELECT count(*) FROM seen_events").fetchone() == (200_000,)
    db.close()


def test_fbdsl_run_reports_a_ledger_it_cannot_write_and_the_next_run_resumes(
    tmp_path: Path,
) -> None:
    """The writer's failure ends `fbdsl run` with a clear error (exit 2, no traceback); the
    decisions file keeps nothing of the failed commit once a run resumes."""
    from click.testing import CliRunner

    from fbdsl.cli import main

    rules, events = tmp_path / "rules.fbdsl", tmp_path / "events.jsonl"
    rules.write_text(RULES)
    events.write_bytes(stream(300))
    path, out = tmp_path / "l.sqlite", tmp_path / "out.jsonl"
    open_ledger(path).close()
    db = sqlite3.connect(path)  # a real failure of the database: e200's commit is refused
    db.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON seen_events WHEN NEW.event_id = 'e200' "
        "BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
    )
    db.commit()
    db.close()
    command = ["run", str(rules), "--events", str(events), "--ledger", str(path),
               "--out", str(out), "--commit-every", "50", "--flush", "-q"]  # fmt: skip
    failed = CliRunner().invoke(main, command)
    assert failed.exit_code == 2
    assert "Error: the ledger's writer failed: disk says no" in failed.output
    assert "internal error" not in failed.output
    db = sqlite3.connect(path)
    db.execute("DROP TRIGGER refuse")
    db.commit()
    db.close()
    resumed = CliRunner().invoke(main, command)
    assert resumed.exit_code == 0, resumed.output
    reference = tmp_path / "reference.jsonl"
    whole = ["run", str(rules), "--events", str(events), "--ledger", str(tmp_path / "r.sqlite"),
             "--out", str(reference), "--commit-every", "50", "--flush", "-q"]  # fmt: skip
    assert CliRunner().invoke(main, whole).exit_code == 0
    assert out.read_bytes() == reference.read_bytes()


def test_close_leaves_the_last_checkpoint_to_the_writer(tmp_path: Path) -> None:
    """After the last commit is acknowledged, `close` lets go of the writer: the writer's
    connection is the last one, so closing it copies the WAL back into the file (which the
    run does not wait for). (That it holds the run's lock meanwhile: the test above.)"""
    from fbdsl.runtime.ledger import writer

    path = tmp_path / "l.sqlite"
    ledger = SqliteLedger(path, write_behind=True)
    for n in range(50_000):
        ledger.first_sight(f"e{n}", float(n))
    ledger.commit()
    ledger.close()
    writer.wait_for_detached()
    assert not Path(f"{path}-wal").exists()  # checkpointed, by the writer: no one else
    db = sqlite3.connect(f"file:{path}?immutable=1", uri=True)  # (reads the file alone)
    assert db.execute("SELECT count(*) FROM seen_events").fetchone() == (50_000,)
    db.close()
    again = open_ledger(path)
    assert again.seen("e0") and again.seen("e49999")
    again.close()


def test_the_writer_reads_a_frame_whole_or_not_at_all() -> None:
    """A frame arriving in pieces is read whole into the kept buffer; one cut short (the
    engine died while writing it) is not read at all, so never applied."""
    import io

    from fbdsl.runtime.ledger.writer import _read_into

    class Trickle(io.RawIOBase):
        """A pipe that hands over at most 3 bytes a read."""

        def __init__(self, data: bytes) -> None:
            self.data = data

        def readable(self) -> bool:
            return True

        def readinto(self, target: Any) -> int:
            count = min(3, len(self.data), len(target))
            target[:count] = self.data[:count]
            self.data = self.data[count:]
            return count

    buffer = bytearray(64)
    view = _read_into(io.BufferedReader(Trickle(b"0123456789abcdef"), 4), buffer, 10)
    assert view is not None and bytes(view) == b"0123456789"
    view.release()
    assert _read_into(io.BufferedReader(Trickle(b"01234"), 4), buffer, 10) is None


def test_the_writer_makes_the_decisions_file_durable_before_the_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a writer process, the decisions file's fsync is the writer's, just before the
    transaction that records its size (the engine does not wait for it); a file that
    cannot be made durable fails that commit, of which nothing is kept."""
    from fbdsl.runtime.batch import run_batch
    from fbdsl.runtime.ledger.writer import apply
    from fbdsl.runtime.sinks import FileSink

    synced_here: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced_here.append(fd), real_fsync(fd)))
    path, out = tmp_path / "l.sqlite", tmp_path / "out.jsonl"
    ledger = SqliteLedger(path, write_behind=True)
    sink = FileSink(out, ledger)
    with_writer = run_batch(graph_of(RULES), stream(300).splitlines(), ledger, sink, flush=True)
    sink.close()
    ledger.close()
    assert with_writer.written > 0 and synced_here == []  # (none in the engine's process)
    again = SqliteLedger(path)
    assert again.meta(sink.key) == str(out.stat().st_size)
    again.close()

    db = sqlite3.connect(path)
    frame = ([], {"e-new": 1.0}, [], [], 0, [], [], [("k", "v")], [str(tmp_path / "gone")])
    with pytest.raises(FileNotFoundError):
        apply(db, frame)  # type: ignore[arg-type]
    assert db.execute("SELECT count(*) FROM seen_events WHERE event_id = 'e-new'").fetchone() == (
        0,
    )
    db.close()
