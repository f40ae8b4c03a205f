"""The contact-policy ledger: per-customer state, seen event ids, pending timers, the
decision log (queryable by customer), and the webhook outbox.

`Ledger` is the interface the engine talks to; `MemoryLedger` (tests) and `SqliteLedger`
(the default: one file, WAL, batched transactions) implement it. The engine works on
in-memory `CustomerState`s (which hold the customer's pending timers); `touch` marks one
changed, `timers` orders every pending timer for firing, and `commit` makes every change
since the last commit durable in one transaction, together with the event ids seen and the
decisions made, so a run stopped between commits resumes exactly at the last one.

The outbox (used by `fbdsl serve --webhook`) holds the decisions not yet delivered: they are
added in the same transaction as the state that made them, and removed once the receiver
has acknowledged them, so a crash or an unreachable receiver never loses one.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

import orjson

from fbdsl.runtime.state import CustomerState
from fbdsl.runtime.timers import TimerIndex

_CUSTOMER_KEY = b'"customer_id":"'


def customer_of(decision: bytes) -> str:
    """The customer id of an encoded decision, without decoding all of it. The keys before
    `customer_id` hold JSON strings, in which a quote is always escaped, so the first
    `"customer_id":"` is the key; a value with an escape in it is decoded properly."""
    start = decision.find(_CUSTOMER_KEY)
    if start >= 0:
        start += len(_CUSTOMER_KEY)
        end = decision.find(b'"', start)
        value = decision[start:end]
        if end > 0 and b"\\" not in value:
            return value.decode()
    return str(orjson.loads(decision)["customer_id"])


class LedgerError(Exception):
    """The ledger cannot be used (wrong schema version, locked by another run...)."""


class Ledger(ABC):
    timers: TimerIndex  # the firing order of every pending timer (their data is in states)

    @abstractmethod
    def customer(self, customer_id: str) -> CustomerState:
        """The customer's state, created empty on first sight."""

    @abstractmethod
    def touch(self, state: CustomerState) -> None:
        """Mark a state as changed since the last commit."""

    @abstractmethod
    def seen(self, event_id: str) -> bool:
        """Whether an event id was processed before (this run or an earlier one)."""

    @abstractmethod
    def first_sight(self, event_id: str, at: float) -> bool:
        """Whether an event id is new (never processed before); it is marked processed
        (at time `at`) either way: the question and the marking in one call, once per event."""

    @abstractmethod
    def log_decisions(self, decisions: Iterable[tuple[str, bytes]]) -> None:
        """Append (customer id, encoded decision) pairs to the audit log (made durable by
        the next commit)."""

    @abstractmethod
    def meta(self, key: str) -> str | None:
        """A value the run keeps beside the state (such as the decisions file's size)."""

    @abstractmethod
    def set_meta(self, key: str, value: str) -> None:
        """Set a meta value, made durable by the next commit."""

    def sync_before_commit(self, handle: IO[bytes]) -> None:
        """Make a file durable before the next commit is: the decisions file, whose size
        that commit records (sinks.py). Here, at once; the SQLite ledger's writer process
        does it just before it applies the commit, while the engine goes on."""
        handle.flush()
        os.fsync(handle.fileno())

    @abstractmethod
    def commit(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def decisions(self) -> list[bytes]:
        """The whole decision log, in order (tests, audits)."""

    @abstractmethod
    def decisions_for(self, customer_id: str, limit: int) -> list[bytes]:
        """The customer's last `limit` decisions, oldest first (the audit trail)."""

    @abstractmethod
    def outbox_add(self, lines: Iterable[bytes]) -> None:
        """Queue encoded decisions for delivery (made durable by the next commit)."""

    @abstractmethod
    def outbox_after(self, seq: int, limit: int) -> list[tuple[int, bytes]]:
        """Committed outbox entries with a sequence number above `seq`, in order."""

    @abstractmethod
    def outbox_done(self, seq: int) -> None:
        """Every entry up to `seq` was delivered: remove them (at the next commit)."""

    @abstractmethod
    def outbox_depth(self) -> int:
        """Entries waiting for delivery (committed or not)."""

    @abstractmethod
    def pending_timer_ids(self) -> Iterator[tuple[str, str]]:
        """(customer id, timer id) of every pending timer, committed or not."""


def open_ledger(
    path: str | Path | None,
    synchronous: str = "NORMAL",
    checkpoint_every: float | None = None,
    write_behind: bool = False,
) -> Ledger:
    """`None` or ":memory:" for a memory ledger; otherwise an SQLite file.

    `synchronous` is SQLite's setting: NORMAL (batch runs) survives a crash of the process;
    FULL (the sidecar) also survives a crash of the machine, at an fsync per commit.
    `checkpoint_every` (seconds) is for a process that must not pause (the sidecar): WAL
    checkpoints run on a thread of their own, instead of SQLite's automatic ones inside a
    commit, and the Bloom filters of seen ids and stored customers grow by stacking a larger
    filter rather than by a rebuild from the database. `write_behind` (batch runs) applies
    each commit in a writer process while the engine goes on (writer.py): a commit is then
    durable once the next one, or `close`, returns; not for a caller that must know its
    commit durable before it answers (the sidecar)."""
    if path is None or str(path) == ":memory:":
        from fbdsl.runtime.ledger.memory import MemoryLedger

        return MemoryLedger()
    from fbdsl.runtime.ledger.sqlite import SqliteLedger

    return SqliteLedger(
        Path(path),
        synchronous=synchronous,
        checkpoint_every=checkpoint_every,
        stacked_filters=checkpoint_every is not None,
        write_behind=write_behind,
    )
