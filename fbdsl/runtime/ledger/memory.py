"""The memory ledger: everything in dicts, gone when the process ends (tests)."""

from __future__ import annotations

from collections.abc import Iterable

from fbdsl.runtime.ledger import Ledger
from fbdsl.runtime.state import CustomerState
from fbdsl.runtime.timers import TimerIndex


class MemoryLedger(Ledger):
    def __init__(self) -> None:
        self.states: dict[str, CustomerState] = {}
        self.seen_ids: set[str] = set()
        self.log: list[bytes] = []
        self.timers = TimerIndex()
        self.values: dict[str, str] = {}

    def customer(self, customer_id: str) -> CustomerState:
        state = self.states.get(customer_id)
        if state is None:
            state = self.states[customer_id] = CustomerState(customer_id)
        return state

    def touch(self, state: CustomerState) -> None:
        pass  # nothing to write back

    def seen(self, event_id: str) -> bool:
        return event_id in self.seen_ids

    def mark_seen(self, event_id: str, at: float) -> None:
        self.seen_ids.add(event_id)

    def log_decisions(self, lines: Iterable[bytes]) -> None:
        self.log.extend(lines)

    def meta(self, key: str) -> str | None:
        return self.values.get(key)

    def set_meta(self, key: str, value: str) -> None:
        self.values[key] = value

    def commit(self) -> None:
        pass

    def close(self) -> None:
        pass

    def decisions(self) -> list[bytes]:
        return list(self.log)
