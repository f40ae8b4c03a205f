"""Event-time timers: delayed sends (`after`), absence windows (`no E within D`) and sends
deferred by quiet hours. They fire in (time, rule order, customer) order when the stream's
clock passes them, rule order being arbitration order (priority, then file order), and live
in the ledger so that a resumed run picks them up.
"""

from __future__ import annotations

import heapq
from typing import Any

import attrs

SEND, ABSENCE, QUIET = "send", "absence", "quiet"


@attrs.define(slots=True)
class Trigger:
    """What a rule was triggered by, kept for decisions and for re-checks at fire time."""

    event: str
    id: str
    timestamp: float
    fields: dict[str, Any]
    prev: float | None  # the customer's previous event of this type (since, first_time)

    def to_json(self) -> list[Any]:
        return [self.event, self.id, self.timestamp, self.fields, self.prev]

    @classmethod
    def from_json(cls, data: list[Any]) -> Trigger:
        event, event_id, timestamp, fields, prev = data
        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}
        return cls(event, event_id, timestamp, fields, prev)


@attrs.define(slots=True)
class Timer:
    id: str
    due: float
    kind: str  # SEND, ABSENCE or QUIET
    rule: int  # the rule's index
    customer_id: str
    action: int  # the send's index among the rule's actions (-1 for an absence)
    trigger: Trigger

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "due": self.due,
            "kind": self.kind,
            "rule": self.rule,
            "customer_id": self.customer_id,
            "action": self.action,
            "trigger": self.trigger.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Timer:
        return cls(
            data["id"],
            data["due"],
            data["kind"],
            data["rule"],
            data["customer_id"],
            data["action"],
            Trigger.from_json(data["trigger"]),
        )


TimerKey = tuple[float, int, str, int, str]


class TimerQueue:
    """A heap with lazy deletion, plus an index of each customer's pending timers.

    `rank` gives each rule index its place in arbitration order, so that timers due at the
    same time fire in the order their rules would be decided for one event."""

    def __init__(self, rank: dict[int, int]) -> None:
        self.rank = rank
        self._heap: list[tuple[TimerKey, Timer]] = []
        self.pending: dict[str, Timer] = {}
        self.by_customer: dict[str, set[str]] = {}

    def __len__(self) -> int:
        return len(self.pending)

    def add(self, timer: Timer) -> bool:
        """Schedule a timer; False if one with that id is already pending."""
        if timer.id in self.pending:
            return False
        self.pending[timer.id] = timer
        self.by_customer.setdefault(timer.customer_id, set()).add(timer.id)
        heapq.heappush(self._heap, (self.key(timer), timer))
        return True

    def key(self, timer: Timer) -> TimerKey:
        rank = self.rank.get(timer.rule, timer.rule)
        return (timer.due, rank, timer.customer_id, timer.action, timer.id)

    def remove(self, timer: Timer) -> None:
        if self.pending.pop(timer.id, None) is not None:
            ids = self.by_customer[timer.customer_id]
            ids.discard(timer.id)
            if not ids:
                del self.by_customer[timer.customer_id]

    def of_customer(self, customer_id: str) -> list[Timer]:
        ids = self.by_customer.get(customer_id)
        if not ids:
            return []
        return sorted((self.pending[i] for i in ids), key=self.key)

    def pop_due(self, until: float, inclusive: bool) -> Timer | None:
        """The next pending timer due before `until` (or at it, if inclusive)."""
        while self._heap:
            key, timer = self._heap[0]
            if timer.id not in self.pending or self.pending[timer.id] is not timer:
                heapq.heappop(self._heap)
                continue
            if key[0] < until or (inclusive and key[0] <= until):
                heapq.heappop(self._heap)
                self.remove(timer)
                return timer
            return None
        return None
