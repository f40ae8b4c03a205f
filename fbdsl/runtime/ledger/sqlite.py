"""The SQLite ledger: one file, WAL, batched transactions, a versioned schema, bounded memory.

Customer states (with their pending timers) are read on first use and written back, with
the seen event ids, the timer index changes and the new decisions, in one transaction per
`commit` (a batch run commits every 250,000 units of work and at the end). Batch runs hand each
commit to a writer process that applies it while the engine goes on (`write_behind`,
writer.py; a thread was measured slower: binding the rows holds the GIL); what the commit in
flight holds is answered from memory until it is in the database. Memory stays
bounded however many customers and timers there are: the state cache keeps the most
recently used states (trimmed at each commit, when every state is clean), seen ids are
answered by a Bloom filter and the database, and only the next timers are held in memory.
A run holds an exclusive lock on the file, so two runs cannot interleave their
reservations; the state a run caches is therefore always the state on disk. (States are a
few hundred bytes: a rowid table with an index takes their upserts twice as fast as a
WITHOUT ROWID one, measured.)

Schema version 4 stores each customer state as positional MessagePack (`codec.py`; on W1's
states, 61% of the bytes of version 3's JSON objects, encoded and decoded twice as fast), and
keeps the time of the last contact when no contact is kept (version 3 left it out); version
3 added the customer id column (and index) of the decision log, for the audit trail of one
customer, and the webhook outbox. A version 2 or 3 ledger is upgraded in place when opened
(2 to 3 to 4, a transaction each), any other version is refused.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

import orjson

from fbdsl.runtime.ledger import Ledger, LedgerError, customer_of
from fbdsl.runtime.ledger.bloom import BloomFilter, StackedBloomFilter
from fbdsl.runtime.ledger.codec import decode_state, encode_state, state_from_json
from fbdsl.runtime.ledger.writer import Frame, WriteBehind, WriterError, apply, connect
from fbdsl.runtime.state import CustomerState
from fbdsl.runtime.timers import TimerIndex, TimerKey

SCHEMA_VERSION = 4
UPGRADE_BATCH = 10_000  # states re-encoded at a time by _upgrade_from_3

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS customers (customer_id TEXT PRIMARY KEY, state BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS seen_events (event_id TEXT PRIMARY KEY, at REAL NOT NULL)
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS decisions (
    seq INTEGER PRIMARY KEY, customer_id TEXT NOT NULL, decision BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_by_customer ON decisions (customer_id, seq);
CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, decision BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS timer_index (
    due REAL NOT NULL, rank INTEGER NOT NULL, customer_id TEXT NOT NULL,
    action INTEGER NOT NULL, timer_id TEXT NOT NULL,
    PRIMARY KEY (due, rank, customer_id, action, timer_id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS timer_index_by_id ON timer_index (timer_id);
"""

KEY_COLUMNS = "due, rank, customer_id, action, timer_id"
# How long opening a ledger waits for the lock: a run killed a moment ago may leave its
# writer process finishing the commit it holds (writer.py), a fraction of a second.
LOCK_WAIT = 5.0
# The smallest Bloom filter of a batch run (about 500 KB): the first 350,000 ids without a
# rebuild (each reads every stored id back; W1 rebuilt three times from 43,000).
BATCH_FILTER_CAPACITY = 350_000


class SqliteLedger(Ledger):
    def __init__(
        self,
        path: Path,
        cached_states: int = 100_000,
        timers_in_memory: int = 200_000,
        synchronous: str = "NORMAL",
        checkpoint_every: float | None = None,
        stacked_filters: bool = False,
        write_behind: bool = False,
        lock_wait: float = LOCK_WAIT,
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be NORMAL or FULL, not {synchronous!r}")
        self.path = path
        self._lock_file = self._lock(path, lock_wait)
        self.db = connect(path, synchronous)
        self._migrate()
        self._checkpointer: WalCheckpointer | None = None
        if checkpoint_every is not None:
            # The sidecar commits hundreds of times a second and must not stall on a WAL
            # checkpoint (tens of ms with fsyncs): another connection, on its own thread,
            # copies the WAL back while commits go on (a PASSIVE checkpoint never blocks
            # the writer).
            self.db.execute("PRAGMA wal_autocheckpoint=0")
            self._checkpointer = WalCheckpointer(path, checkpoint_every)
        # A sidecar must not pause to rebuild a Bloom filter from every stored id: it stacks
        # a larger filter instead (bloom.py). Batch runs rebuild (one filter: fewer probes).
        self._filter_type: type[BloomFilter | StackedBloomFilter] = (
            StackedBloomFilter if stacked_filters else BloomFilter
        )
        self.cached_states = cached_states
        # Oldest first; a state changed since the last commit counts as used then (moved
        # to the end at the commit that trims the cache): no bookkeeping per access.
        self.cache: dict[str, CustomerState] = {}
        self.dirty: dict[str, CustomerState] = {}
        # Customers with a stored state: a customer seen for the first time is not looked for.
        self.stored = self._filter_of("customers", "customer_id")
        # Cached states made here, not stored yet: those a commit writes join `stored` then
        # (a state read from the database is in it already).
        self.unstored: set[str] = set()
        self.seen_filter = self._filter_of("seen_events", "event_id")
        self.new_seen: dict[str, float] = {}
        self.new_decisions: list[tuple[str, bytes]] = []  # (customer id, decision)
        self.meta_changes: dict[str, str] = {}
        self.synced: set[str] = set()  # files the writer makes durable before the commit
        self.new_outbox: list[bytes] = []
        self.outbox_done_upto = 0  # delivered up to this sequence number (not yet committed)
        self.outbox_committed = self._count("outbox")
        self.timers = TimerIndex(self, timers_in_memory, self._count("timer_index"))
        # Write-behind (batch runs): commits are applied by a writer process while the
        # engine goes on (writer.py). What the commit in flight holds is looked up here
        # before the database, which does not have it yet.
        self._writer = WriteBehind(path, synchronous, self._lock_file) if write_behind else None
        self.flying_states: dict[str, CustomerState] = {}
        self.flying_seen: dict[str, float] = {}
        self.flying_meta: dict[str, str] = {}
        self.flying_outbox = 0  # entries the commit in flight adds
        self._closed = False

    def _count(self, table: str) -> int:
        (count,) = self.db.execute(f"SELECT count(*) FROM {table}").fetchone()
        return int(count)

    @staticmethod
    def _lock(path: Path, wait: float) -> IO[str]:
        handle = open(f"{path}.lock", "w")  # noqa: SIM115 - held for the ledger's lifetime
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return handle
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.close()
                    raise LedgerError(f"{path} is in use by another fbdsl process") from None
                time.sleep(0.02)

    def _settle(self) -> None:
        """Wait until the commit in flight is in the database (before reading what it may
        hold and the overlays do not answer)."""
        writer = self._writer
        if writer is None or not writer.in_flight:
            return
        try:
            delivered = writer.wait()
        except WriterError as exc:
            raise LedgerError(str(exc)) from None
        self.outbox_committed += self.flying_outbox - (delivered or 0)
        self.flying_states, self.flying_seen, self.flying_meta = {}, {}, {}
        self.flying_outbox = 0

    def _migrate(self) -> None:
        tables = {row[0] for row in self.db.execute("SELECT name FROM sqlite_master")}
        if tables and "meta" not in tables:
            raise LedgerError(f"{self.path} is not an fbdsl ledger")
        if "meta" in tables:
            row = self.db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            version = None if row is None else int(row[0])
            if version == 2:
                self._upgrade_from_2()
                version = 3
            if version == 3:
                self._upgrade_from_3()
                version = SCHEMA_VERSION
            if version is not None and version != SCHEMA_VERSION:
                raise LedgerError(
                    f"{self.path} has ledger schema version {row[0]}; this fbdsl reads version "
                    f"{SCHEMA_VERSION}"
                )
        self.db.executescript(SCHEMA)
        self.db.execute(
            "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
        )

    def _upgrade_from_2(self) -> None:
        """Version 2 -> 3: the decision log gains its customer id column, filled from the
        decisions themselves, and the outbox appears; in one transaction."""
        db = self.db
        with db:
            db.execute("BEGIN IMMEDIATE")
            db.execute("ALTER TABLE decisions ADD COLUMN customer_id TEXT NOT NULL DEFAULT ''")
            rows = db.execute("SELECT seq, decision FROM decisions").fetchall()
            db.executemany(
                "UPDATE decisions SET customer_id = ? WHERE seq = ?",
                [(customer_of(bytes(decision)), seq) for seq, decision in rows],
            )
            db.execute(
                "CREATE INDEX IF NOT EXISTS decisions_by_customer ON decisions (customer_id, seq)"
            )
            db.execute(
                "CREATE TABLE IF NOT EXISTS outbox "
                "(seq INTEGER PRIMARY KEY AUTOINCREMENT, decision BLOB NOT NULL)"
            )
            db.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")

    def _upgrade_from_3(self) -> None:
        """Version 3 -> 4: every customer state, a JSON object, is re-encoded (codec.py); in
        one transaction, read a batch at a time in key order (the customers table of a ledger
        made by version 2 has no rowid)."""
        db = self.db
        with db:
            db.execute("BEGIN IMMEDIATE")
            query = "SELECT customer_id, state FROM customers {} ORDER BY customer_id LIMIT ?"
            rows = db.execute(query.format(""), (UPGRADE_BATCH,)).fetchall()
            while rows:
                db.executemany(
                    "UPDATE customers SET state = ? WHERE customer_id = ?",
                    [
                        (encode_state(state_from_json(cid, orjson.loads(blob))), cid)
                        for cid, blob in rows
                    ],
                )
                rows = db.execute(
                    query.format("WHERE customer_id > ?"), (rows[-1][0], UPGRADE_BATCH)
                ).fetchall()
            db.execute(
                "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),)
            )

    # -- customers ---------------------------------------------------------------------------

    def customer(self, customer_id: str) -> CustomerState:
        state = self.cache.get(customer_id)
        if state is not None:
            return state
        row = None
        if customer_id in self.stored:  # (which holds those of the commit in flight too)
            state = self.flying_states.get(customer_id)  # (evicted since its commit began)
            if state is not None:
                self.cache[customer_id] = state
                return state
            row = self.db.execute(
                "SELECT state FROM customers WHERE customer_id = ?", (customer_id,)
            ).fetchone()
        if row is None:
            state = CustomerState(customer_id)
            self.unstored.add(customer_id)
        else:
            state = decode_state(customer_id, row[0])
        self.cache[customer_id] = state
        return state

    def touch(self, state: CustomerState) -> None:
        self.dirty[state.customer_id] = state

    # -- seen event ids ----------------------------------------------------------------------

    def _filter_of(
        self, table: str, column: str, flying: Iterable[str] = ()
    ) -> BloomFilter | StackedBloomFilter:
        """A Bloom filter of the ids stored in a table, and of those the commit in flight
        adds (`flying`: whether it is in the database yet or not, they are in the filter)."""
        (count,) = self.db.execute(f"SELECT count(*) FROM {table}").fetchone()
        bloom: BloomFilter | StackedBloomFilter
        if self._filter_type is StackedBloomFilter:
            bloom = StackedBloomFilter(count)
        else:
            bloom = BloomFilter(count, BATCH_FILTER_CAPACITY)
        bloom.add_all(row[0] for row in self.db.execute(f"SELECT {column} FROM {table}"))
        bloom.add_all(flying)
        return bloom

    def seen(self, event_id: str) -> bool:
        if event_id in self.new_seen or event_id in self.flying_seen:
            return True
        if event_id not in self.seen_filter:
            return False
        row = self.db.execute(
            "SELECT 1 FROM seen_events WHERE event_id = ?", (event_id,)
        ).fetchone()
        return row is not None

    def first_sight(self, event_id: str, at: float) -> bool:
        # The filter holds every id marked, committed or not: most ids are certainly new
        # after one look at it, the others are looked for in the uncommitted ones and the
        # database.
        if self.seen_filter.check_add(event_id) and (
            event_id in self.new_seen
            or event_id in self.flying_seen
            or self.db.execute(
                "SELECT 1 FROM seen_events WHERE event_id = ?", (event_id,)
            ).fetchone()
        ):
            return False
        self.new_seen[event_id] = at
        return True

    # -- timers ------------------------------------------------------------------------------

    def keys_after(self, key: TimerKey | None, limit: int) -> list[TimerKey]:
        self._settle()
        if key is None:
            query = f"SELECT {KEY_COLUMNS} FROM timer_index ORDER BY {KEY_COLUMNS} LIMIT ?"
            rows = self.db.execute(query, (limit,))
        else:
            query = (
                f"SELECT {KEY_COLUMNS} FROM timer_index WHERE ({KEY_COLUMNS}) > (?, ?, ?, ?, ?) "
                f"ORDER BY {KEY_COLUMNS} LIMIT ?"
            )
            rows = self.db.execute(query, (*key, limit))
        return [tuple(row) for row in rows]  # type: ignore[misc]

    # -- the rest ----------------------------------------------------------------------------

    def log_decisions(self, decisions: Iterable[tuple[str, bytes]]) -> None:
        self.new_decisions.extend(decisions)

    def decisions_for(self, customer_id: str, limit: int) -> list[bytes]:
        self._settle()
        rows = self.db.execute(
            "SELECT decision FROM decisions WHERE customer_id = ? ORDER BY seq DESC LIMIT ?",
            (customer_id, limit),
        ).fetchall()
        stored = [bytes(row[0]) for row in reversed(rows)]
        fresh = [line for customer, line in self.new_decisions if customer == customer_id]
        return (stored + fresh)[-limit:] if limit > 0 else []

    # -- outbox ------------------------------------------------------------------------------

    def outbox_add(self, lines: Iterable[bytes]) -> None:
        self.new_outbox.extend(lines)

    def outbox_after(self, seq: int, limit: int) -> list[tuple[int, bytes]]:
        self._settle()
        rows = self.db.execute(
            "SELECT seq, decision FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)
        )
        return [(int(number), bytes(line)) for number, line in rows]

    def outbox_done(self, seq: int) -> None:
        self.outbox_done_upto = max(self.outbox_done_upto, seq)

    def outbox_depth(self) -> int:
        return self.outbox_committed + self.flying_outbox + len(self.new_outbox)

    def pending_timer_ids(self) -> Iterator[tuple[str, str]]:
        self._settle()
        added, removed = self.timers.added, self.timers.removed
        rows = self.db.execute("SELECT customer_id, timer_id FROM timer_index").fetchall()
        pending = [(c, t) for c, t in rows if t not in removed and t not in added]
        pending += [(key[2], key[4]) for key in added.values()]
        yield from pending

    def meta(self, key: str) -> str | None:
        if key in self.meta_changes:
            return self.meta_changes[key]
        if key in self.flying_meta:
            return self.flying_meta[key]
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.meta_changes[key] = value

    def sync_before_commit(self, handle: IO[bytes]) -> None:
        """With a writer process, the writer makes the file durable just before it applies
        the commit: the engine does not wait for the fsync (W1: 0.09 s a run)."""
        if self._writer is None:
            super().sync_before_commit(handle)
            return
        handle.flush()
        self.synced.add(os.path.abspath(handle.name))

    def commit(self) -> None:
        """Make every change since the last commit durable, in one transaction: now, or
        with write-behind, by the time the next commit (or read of what it holds, or
        close) returns."""
        added, removed = self.timers.commit_changes()
        states = [(cid, encode_state(state)) for cid, state in self.dirty.items()]
        frame: Frame = (
            states,
            self.new_seen,
            self.new_decisions,
            self.new_outbox,
            self.outbox_done_upto,
            list(removed),
            added,
            list(self.meta_changes.items()),
            sorted(self.synced),
        )
        if any(frame):
            if self._writer is None:
                delivered = apply(self.db, frame)
                self.outbox_committed += len(self.new_outbox) - delivered
            else:
                self._settle()
                try:
                    self._writer.send(frame)
                except WriterError as exc:
                    raise LedgerError(str(exc)) from None
                self.flying_states, self.flying_seen = self.dirty, self.new_seen
                self.flying_meta = self.meta_changes
                self.flying_outbox = len(self.new_outbox)
        cache, dirty, unstored = self.cache, self.dirty, self.unstored
        if unstored:
            newly_stored = dirty.keys() & unstored
            self.stored.add_all(newly_stored)
            unstored -= newly_stored
        if len(cache) > self.cached_states:  # trimmed: what this commit wrote was used last
            for customer_id, state in dirty.items():
                cache.pop(customer_id, None)
                cache[customer_id] = state
        self.dirty, self.new_seen, self.new_decisions, self.meta_changes = {}, {}, [], {}
        self.new_outbox, self.outbox_done_upto = [], 0
        self.synced = set()
        if self.stored.full:  # (a stacked filter, the sidecar's, never is)
            self.stored = self._filter_of("customers", "customer_id", self.flying_states)
        if self.seen_filter.full:
            self.seen_filter = self._filter_of("seen_events", "event_id", self.flying_seen)
        if len(cache) > self.cached_states:  # every state is clean now
            for customer_id in list(itertools.islice(cache, len(cache) - self.cached_states)):
                del cache[customer_id]
                unstored.discard(customer_id)

    def close(self) -> None:
        """Wait for the commit in flight, if any, and let go of the file (once). A writer
        process is then left to finish on its own (`WriteBehind.detach`: the last WAL
        checkpoint is done after the run has returned, under the run's lock)."""
        if self._closed:
            return
        self._closed = True
        writer, self._writer = self._writer, None
        try:
            if writer is not None:
                writer.wait()
        except WriterError as exc:
            raise LedgerError(str(exc)) from None
        finally:
            if self._checkpointer is not None:
                self._checkpointer.stop()
            self.db.close()  # (before the writer's: not the last connection, no checkpoint)
            if writer is not None:
                writer.detach()
            self._lock_file.close()

    def decisions(self) -> list[bytes]:
        self._settle()
        rows = self.db.execute("SELECT decision FROM decisions ORDER BY seq").fetchall()
        return [bytes(row[0]) for row in rows] + [line for _, line in self.new_decisions]


class WalCheckpointer:
    """Runs `PRAGMA wal_checkpoint(PASSIVE)` every `interval` seconds on its own connection
    and thread (a TRUNCATE one when stopped, so the WAL does not outlive the process)."""

    def __init__(self, path: Path, interval: float) -> None:
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.interval = interval
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="fbdsl-checkpoint", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping.wait(self.interval):
            self.db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join()
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        self.db.close()
