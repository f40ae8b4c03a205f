"""The memory ledger: everything in dicts, gone when the process ends (tests, `:memory:`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from fbdsl.runtime.ledger import Ledger
from fbdsl.runtime.state import CustomerState
from fbdsl.runtime.timers import TimerIndex


class MemoryLedger(Ledger):
    def __init__(self) -> None:
        self.states: dict[str, CustomerState] = {}
        self.seen_ids: set[str] = set()
        self.log: list[bytes] = []
        self.by_customer: dict[str, list[int]] = {}  # positions in the log
        self.timers = TimerIndex()
        self.values: dict[str, str] = {}
        self.outbox: dict[int, bytes] = {}  # insertion-ordered by sequence number
        self.outbox_seq = 0

    def customer(self, customer_id: str) -> CustomerState:
        state = self.states.get(customer_id)
        if state is None:
            state = self.states[customer_id] = CustomerState(customer_id)
        return state

    def touch(self, state: CustomerState) -> None:
        pass  # nothing to write back

    def seen(self, event_id: str) -> bool:
        return event_id in self.seen_ids

    def first_sight(self, event_id: str, at: float) -> bool:
        seen_ids = self.seen_ids
        if event_id in seen_ids:
            return False
        seen_ids.add(event_id)
        return True

    def log_decisions(self, decisions: Iterable[tuple[str, bytes]]) -> None:
        for customer_id, line in decisions:
            self.by_customer.setdefault(customer_id, []).append(len(self.log))
            self.log.append(line)

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

    def decisions_for(self, customer_id: str, limit: int) -> list[bytes]:
        positions = self.by_customer.get(customer_id, [])
        return [self.log[i] for i in positions[-limit:]] if limit > 0 else []

    def outbox_add(self, lines: Iterable[bytes]) -> None:
        for line in lines:
            self.outbox_seq += 1
            self.outbox[self.outbox_seq] = line

    def outbox_after(self, seq: int, limit: int) -> list[tuple[int, bytes]]:
        out: list[tuple[int, bytes]] = []
        for number, line in self.outbox.items():
            if number > seq:
                out.append((number, line))
                if len(out) >= limit:
                    break
        return out

    def outbox_done(self, seq: int) -> None:
        for number in [n for n in self.outbox if n <= seq]:
            del self.outbox[number]

    def outbox_depth(self) -> int:
        return len(self.outbox)

    def pending_timer_ids(self) -> Iterator[tuple[str, str]]:
        for customer_id, state in list(self.states.items()):
            for timer_id in list(state.timers):
                yield customer_id, timer_id
