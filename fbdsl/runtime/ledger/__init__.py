"""The contact-policy ledger: per-customer state, seen event ids, pending timers, and the
decision log.

`Ledger` is the interface the engine talks to; `MemoryLedger` (tests) and `SqliteLedger`
(the default: one file, WAL, batched transactions) implement it. The engine works on
in-memory `CustomerState`s (which hold the customer's pending timers); `touch` marks one
changed, `timers` orders every pending timer for firing, and `commit` makes every change
since the last commit durable in one transaction, together with the event ids seen and the
decisions made, so a run stopped between commits resumes exactly at the last one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from pathlib import Path

from fbdsl.runtime.state import CustomerState
from fbdsl.runtime.timers import TimerIndex


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
    def mark_seen(self, event_id: str, at: float) -> None: ...

    @abstractmethod
    def log_decisions(self, lines: Iterable[bytes]) -> None:
        """Append encoded decisions to the audit log (made durable by the next commit)."""

    @abstractmethod
    def meta(self, key: str) -> str | None:
        """A value the run keeps beside the state (such as the decisions file's size)."""

    @abstractmethod
    def set_meta(self, key: str, value: str) -> None:
        """Set a meta value, made durable by the next commit."""

    @abstractmethod
    def commit(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def decisions(self) -> list[bytes]:
        """The whole decision log, in order (tests, audits)."""


def open_ledger(path: str | Path | None) -> Ledger:
    """`None` or ":memory:" for a memory ledger; otherwise an SQLite file."""
    if path is None or str(path) == ":memory:":
        from fbdsl.runtime.ledger.memory import MemoryLedger

        return MemoryLedger()
    from fbdsl.runtime.ledger.sqlite import SqliteLedger

    return SqliteLedger(Path(path))
