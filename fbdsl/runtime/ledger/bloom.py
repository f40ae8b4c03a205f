"""A Bloom filter over strings: "certainly not seen" in a few hundred nanoseconds.

The SQLite ledger keeps every processed event id on disk; asking the database for each new
event would cost microseconds, and keeping the ids in a Python set would cost about a
hundred bytes each. The filter answers most questions (every new id, bar about 0.5%) from
about 11 bits per id; only a "maybe" goes to the database. It is rebuilt in each process
from the stored ids (Python's string hash, which the filter uses, is salted per process),
and grows by a rebuild twice as large, or by stacking (`StackedBloomFilter`).

The bits live in `rbloom` (Rust): a question and the update of an event id's first sight
cost two calls into it, about 0.25 us, where the same filter in Python took 1.1 us (once per
event: a tenth of a second per 100,000 events, in the engine's process).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from rbloom import Bloom

FALSE_POSITIVE_RATE = 0.005
MIN_CAPACITY = 50_000
_ADD_BATCH = 10_000  # items handed to rbloom at a time by add_all


class BloomFilter:
    """A filter for `capacity` items (at least `expected`, twice as many when `expected` is
    given: room to grow before the rebuild); `full` past that."""

    def __init__(self, expected: int = 0, min_capacity: int = MIN_CAPACITY) -> None:
        self.capacity = max(min_capacity, 2 * expected)
        self.bits = Bloom(self.capacity, FALSE_POSITIVE_RATE)
        self.count = 0

    @property
    def full(self) -> bool:
        """Past its design load: rebuild it twice as large."""
        return self.count > self.capacity

    def add(self, item: str) -> None:
        self.bits.add(item)
        self.count += 1

    def add_all(self, items: Iterable[str]) -> None:
        iterator = iter(items)
        while batch := list(itertools.islice(iterator, _ADD_BATCH)):
            self.bits.update(batch)
            self.count += len(batch)

    def check_add(self, item: str) -> bool:
        """Add the item; whether it may have been in already (the question and the update
        of an event id's first sight, in one)."""
        bits = self.bits
        if item in bits:
            return True
        bits.add(item)
        self.count += 1
        return False

    def __contains__(self, item: str) -> bool:
        return item in self.bits


class StackedBloomFilter:
    """Bloom filters stacked, for a process that must not pause: when the newest filter is
    past its design load, a twice larger one takes the new items, instead of a rebuild from
    every stored id (which took 150 ms at 300,000 ids, and grows with them). An item may be
    in any filter; the false positive rate is at most the sum of theirs (about 0.5% each,
    a handful of filters for millions of ids), each costing one database lookup."""

    full = False  # never rebuilt

    def __init__(self, expected: int = 0) -> None:
        self.filters = [BloomFilter(expected)]

    def add(self, item: str) -> None:
        newest = self.filters[-1]
        if newest.full:
            newest = BloomFilter(newest.capacity)  # (room for twice as many)
            self.filters.append(newest)
        newest.add(item)

    def add_all(self, items: Iterable[str]) -> None:
        for item in items:
            self.add(item)

    def check_add(self, item: str) -> bool:
        """Add the item; whether it may have been in already."""
        if item in self:
            return True
        self.add(item)
        return False

    def __contains__(self, item: str) -> bool:
        return any(item in bloom for bloom in reversed(self.filters))
