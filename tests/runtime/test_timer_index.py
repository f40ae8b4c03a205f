"""The timer index with a backing store pages keys in and out of a small window and still
pops exactly what a plain sorted model pops (hypothesis over random operation sequences)."""

from __future__ import annotations

import bisect

from hypothesis import given, settings
from hypothesis import strategies as st

from fbdsl.runtime.timers import TimerIndex, TimerKey


class DictStore:
    """The committed keys, as the SQLite ledger keeps them."""

    def __init__(self) -> None:
        self.keys: dict[str, TimerKey] = {}

    def keys_after(self, key: TimerKey | None, limit: int) -> list[TimerKey]:
        ordered = sorted(self.keys.values())
        start = 0 if key is None else bisect.bisect_right(ordered, key)
        return ordered[start : start + limit]

    def commit(self, index: TimerIndex) -> None:
        added, removed = index.commit_changes()
        for timer_id in removed:
            del self.keys[timer_id]
        for key in added:
            self.keys[key[4]] = key


operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 50), st.integers(0, 3)),
        st.tuples(st.just("remove"), st.integers(0, 1000), st.just(0)),
        st.tuples(st.just("pop"), st.integers(0, 60), st.booleans()),
        st.tuples(st.just("commit"), st.just(0), st.just(0)),
    ),
    max_size=120,
)


@settings(max_examples=300, deadline=None)
@given(operations, st.integers(2, 6))
def test_a_windowed_index_pops_what_a_sorted_model_pops(
    script: list[tuple[str, int, int]], capacity: int
) -> None:
    store = DictStore()
    index = TimerIndex(store, capacity=capacity)
    model: dict[str, TimerKey] = {}
    serial = 0
    for operation, a, b in script:
        if operation == "add":
            serial += 1
            key = (float(a), b, f"c{a % 3}", 0, f"t{serial:04d}")
            index.add(key)
            model[key[4]] = key
        elif operation == "remove" and model:
            timer_id = sorted(model)[a % len(model)]
            index.remove(timer_id)
            del model[timer_id]
        elif operation == "pop":
            inclusive = bool(b)
            due = [k for k in model.values() if k[0] < a or (inclusive and k[0] <= a)]
            expected = min(due) if due else None
            assert index.pop_due(float(a), inclusive) == expected
            if expected is not None:
                del model[expected[4]]
        elif operation == "commit":
            store.commit(index)
        assert len(index) == len(model)
        assert len(index._live) <= capacity
    drained = []
    while (key := index.pop_due(float("inf"), True)) is not None:
        drained.append(key)
    assert drained == sorted(model.values())


def test_without_a_store_everything_stays_in_memory() -> None:
    index = TimerIndex(capacity=2)  # the capacity bounds only what a store can take back
    for due in range(10, 20):
        index.add((float(due), 0, "c", 0, f"x{due}"))
    assert [index.pop_due(100.0, inclusive=False) for _ in range(10)] == [
        (float(due), 0, "c", 0, f"x{due}") for due in range(10, 20)
    ]
    for due in (5.0, 1.0, 3.0):
        index.add((due, 0, "c", 0, f"t{due}"))
    index.remove("t3.0")
    assert index.pop_due(2.0, inclusive=False) == (1.0, 0, "c", 0, "t1.0")
    assert index.pop_due(5.0, inclusive=False) is None
    assert index.pop_due(5.0, inclusive=True) == (5.0, 0, "c", 0, "t5.0")
    assert len(index) == 0
