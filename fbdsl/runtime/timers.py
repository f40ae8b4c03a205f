"""Event-time timers: delayed sends (`after`), absence windows (`no E within D`) and sends
deferred by quiet hours.

A pending `Timer` lives in its customer's state (so an event of that customer finds the
timers it may cancel without a global lookup); the `TimerIndex` orders every pending
timer's key for firing: (time, rule rank, customer, action, id), the rank being the rule's
place in arbitration order (priority, then file order), so timers due together fire as one
event's rules are decided. With a backing store (the SQLite ledger), only the keys up to a
horizon are held in memory and the rest stay on disk, so that a million pending timers cost
a bounded amount of memory.
"""

from __future__ import annotations

import heapq
from typing import Any, Protocol

import msgspec

SEND, ABSENCE, QUIET = "send", "absence", "quiet"

TimerKey = tuple[float, int, str, int, str]  # due, rule rank, customer id, action, timer id
_LAST_KEY: TimerKey = (float("inf"), 0, "", 0, "")  # a horizon beyond every key


class Trigger(msgspec.Struct):
    """What a rule was triggered by, kept for decisions and for re-checks at fire time. A
    msgspec Struct: made by one C call, once per event that matches a rule (and once per
    timer read back from the ledger)."""

    event: str
    id: str
    timestamp: float
    fields: dict[str, Any]
    prev: float | None  # the customer's previous event of this type (since, first_time)
    # The trigger as its decisions show it, made once for all of them: not persisted, so a
    # trigger read back has none (compare triggers without it).
    view: dict[str, Any] | None = None
    # (Timers and their triggers are persisted by fbdsl.runtime.ledger.codec.)


class Timer(msgspec.Struct):
    """A pending timer. A msgspec Struct: made by one C call (W2 sets 614,000)."""

    id: str
    due: float
    kind: str  # SEND, ABSENCE or QUIET
    rule: str  # the rule's name: indexes change when rules are added, names do not
    rank: int  # the rule's place in arbitration order when the timer was set
    customer_id: str
    action: int  # the send's index among the rule's actions (-1 for an absence)
    trigger: Trigger

    @property
    def key(self) -> TimerKey:
        return (self.due, self.rank, self.customer_id, self.action, self.id)


class TimerStore(Protocol):
    """Where the keys beyond the in-memory window live."""

    def keys_after(self, key: TimerKey | None, limit: int) -> list[TimerKey]:
        """Committed keys greater than `key` (all if None), ascending, at most `limit`."""
        ...


class TimerIndex:
    """Every pending timer's key, in firing order.

    Without a store every key is in a heap in memory. With one, the heap holds exactly the
    pending keys up to `horizon` (never more than `capacity`); keys beyond it are only in
    the store (committed) or in `added` (not yet committed). When the heap runs dry before
    the horizon, the next keys are read back from the store; when it grows past capacity, the
    horizon moves down and the later half is dropped from memory. `commit_changes` hands
    the store what to write in the ledger's transaction.
    """

    def __init__(self, store: TimerStore | None = None, capacity: int = 200_000,
                 count: int = 0) -> None:  # fmt: skip
        self.store = store
        self.capacity = max(capacity, 2)
        self.count = count  # pending timers in all
        self._heap: list[TimerKey] = []
        self._live: dict[str, TimerKey] = {}  # the heap's keys that are still pending
        self.horizon: TimerKey | None = _LAST_KEY if store is None else None  # None: unread
        self.added: dict[str, TimerKey] = {}  # set since the last commit
        self.removed: set[str] = set()  # committed keys gone since the last commit

    def __len__(self) -> int:
        return self.count

    def add(self, key: TimerKey) -> None:
        self.count += 1
        if self.store is not None:
            self.added[key[4]] = key
        if self.horizon is not None and key <= self.horizon:
            heapq.heappush(self._heap, key)
            self._live[key[4]] = key
            if self.store is not None and len(self._live) > self.capacity:
                self._shrink()  # without a store, everything stays in memory

    def remove(self, timer_id: str) -> None:
        self.count -= 1
        self._live.pop(timer_id, None)  # the heap forgets it lazily
        if self.store is not None and self.added.pop(timer_id, None) is None:
            self.removed.add(timer_id)

    def none_due_before(self, until: float) -> bool:
        """True if certainly no timer is due before `until` (the next key in memory is not):
        the engine asks before each event, and nearly always it is so."""
        heap = self._heap
        return bool(heap) and heap[0][0] >= until

    def pop_due(self, until: float, inclusive: bool) -> TimerKey | None:
        """The next key due before `until` (or at it, if inclusive), removed; else None."""
        while True:
            while self._heap and self._live.get(self._heap[0][4]) != self._heap[0]:
                heapq.heappop(self._heap)
            if self._heap:
                key = self._heap[0]
                if key[0] < until or (inclusive and key[0] <= until):
                    heapq.heappop(self._heap)
                    self.remove(key[4])
                    return key
                return None
            horizon = self.horizon
            if horizon is _LAST_KEY or self.count == 0:
                return None
            if horizon is not None and (
                until < horizon[0] or (until == horizon[0] and not inclusive)
            ):
                return None  # every key beyond the horizon is due later
            self._refill()

    def _refill(self) -> None:
        assert self.store is not None
        limit = max(self.capacity // 2, 1)
        stored = self.store.keys_after(self.horizon, limit)
        horizon = stored[-1] if len(stored) == limit else _LAST_KEY
        start = self.horizon
        fresh = [k for k in stored if k[4] not in self.removed]
        fresh += [k for k in self.added.values() if (start is None or k > start) and k <= horizon]
        for key in fresh:
            self._live[key[4]] = key
        self._heap.extend(fresh)
        heapq.heapify(self._heap)
        self.horizon = horizon
        if len(self._live) > self.capacity:  # uncommitted keys came too
            self._shrink()

    def _shrink(self) -> None:
        keep = sorted(self._live.values())[: self.capacity // 2]
        self.horizon = keep[-1]
        self._heap = keep  # sorted: a valid heap
        self._live = {key[4]: key for key in keep}

    def commit_changes(self) -> tuple[list[TimerKey], list[str]]:
        """The keys to insert and the ids to delete since the last call, then forget them."""
        added, removed = list(self.added.values()), sorted(self.removed)
        self.added, self.removed = {}, set()
        return added, removed
