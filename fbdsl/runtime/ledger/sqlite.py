"""The SQLite ledger: one file, WAL, batched transactions, a versioned schema.

Customer states are cached in memory and written back, with the seen event ids and the new
decisions, in one transaction per `commit` (the engine commits every few thousand events
and at the end). A run holds an exclusive lock on the file, so two runs cannot interleave
their reservations; the state a run caches is therefore always the state on disk.
"""

from __future__ import annotations

import fcntl
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import orjson

from fbdsl.runtime.ledger import Ledger, LedgerError
from fbdsl.runtime.state import CustomerState

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS customers (customer_id TEXT PRIMARY KEY, state BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS seen_events (event_id TEXT PRIMARY KEY, at REAL NOT NULL)
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS decisions (seq INTEGER PRIMARY KEY, decision BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS timers (timer_id TEXT PRIMARY KEY, timer BLOB NOT NULL);
"""


class SqliteLedger(Ledger):
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock_file = self._lock(path)
        self.db = sqlite3.connect(str(path), isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self._migrate()
        self.cache: dict[str, CustomerState] = {}
        self.dirty: dict[str, CustomerState] = {}
        self.known = {row[0] for row in self.db.execute("SELECT customer_id FROM customers")}
        self.seen_ids = {row[0] for row in self.db.execute("SELECT event_id FROM seen_events")}
        self.new_seen: list[tuple[str, float]] = []
        self.new_decisions: list[bytes] = []
        self.timer_changes: dict[str, dict[str, Any] | None] = {}  # None: remove
        self.meta_changes: dict[str, str] = {}

    @staticmethod
    def _lock(path: Path) -> IO[str]:
        handle = open(f"{path}.lock", "w")  # noqa: SIM115 - held for the ledger's lifetime
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise LedgerError(f"{path} is in use by another fbdsl process") from None
        return handle

    def _migrate(self) -> None:
        tables = {row[0] for row in self.db.execute("SELECT name FROM sqlite_master")}
        if tables and "meta" not in tables:
            raise LedgerError(f"{self.path} is not an fbdsl ledger")
        self.db.executescript(SCHEMA)
        row = self.db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None:
            self.db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        elif int(row[0]) != SCHEMA_VERSION:
            raise LedgerError(
                f"{self.path} has ledger schema version {row[0]}; this fbdsl reads version "
                f"{SCHEMA_VERSION}"
            )

    def customer(self, customer_id: str) -> CustomerState:
        state = self.cache.get(customer_id)
        if state is not None:
            return state
        if customer_id in self.known:
            row = self.db.execute(
                "SELECT state FROM customers WHERE customer_id = ?", (customer_id,)
            ).fetchone()
            state = CustomerState.from_json(customer_id, orjson.loads(row[0]))
        else:
            state = CustomerState(customer_id)
        self.cache[customer_id] = state
        return state

    def touch(self, state: CustomerState) -> None:
        self.dirty[state.customer_id] = state

    def seen(self, event_id: str) -> bool:
        return event_id in self.seen_ids

    def mark_seen(self, event_id: str, at: float) -> None:
        self.seen_ids.add(event_id)
        self.new_seen.append((event_id, at))

    def log_decisions(self, lines: Iterable[bytes]) -> None:
        self.new_decisions.extend(lines)

    def add_timer(self, timer: dict[str, Any]) -> None:
        self.timer_changes[timer["id"]] = timer

    def remove_timer(self, timer_id: str) -> None:
        self.timer_changes[timer_id] = None

    def timers(self) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT timer FROM timers ORDER BY timer_id").fetchall()
        return [orjson.loads(row[0]) for row in rows]

    def meta(self, key: str) -> str | None:
        if key in self.meta_changes:
            return self.meta_changes[key]
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.meta_changes[key] = value

    def commit(self) -> None:
        if not (
            self.dirty
            or self.new_seen
            or self.new_decisions
            or self.timer_changes
            or self.meta_changes
        ):
            return
        with self.db:  # one transaction
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany(
                "INSERT INTO customers VALUES (?, ?) ON CONFLICT(customer_id) "
                "DO UPDATE SET state = excluded.state",
                [
                    (cid, orjson.dumps(state.to_json(), option=orjson.OPT_NON_STR_KEYS))
                    for cid, state in self.dirty.items()
                ],
            )
            self.db.executemany("INSERT OR IGNORE INTO seen_events VALUES (?, ?)", self.new_seen)
            self.db.executemany(
                "INSERT INTO decisions (decision) VALUES (?)", [(d,) for d in self.new_decisions]
            )
            added = [(i, orjson.dumps(t)) for i, t in self.timer_changes.items() if t is not None]
            removed = [(i,) for i, t in self.timer_changes.items() if t is None]
            self.db.executemany("DELETE FROM timers WHERE timer_id = ?", removed)
            self.db.executemany("INSERT OR REPLACE INTO timers VALUES (?, ?)", added)
            self.db.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)", list(self.meta_changes.items())
            )
        self.timer_changes.clear()
        self.meta_changes.clear()
        self.known.update(self.dirty)
        self.dirty.clear()
        self.new_seen.clear()
        self.new_decisions.clear()

    def close(self) -> None:
        self.db.close()
        self._lock_file.close()

    def decisions(self) -> list[bytes]:
        rows = self.db.execute("SELECT decision FROM decisions ORDER BY seq").fetchall()
        return [bytes(row[0]) for row in rows] + list(self.new_decisions)
