"""The sets of values a condition allows one subject to take: the algebra behind FB102-FB106.

A *region* is the set of values a field, trait or predicate may have for a term to hold:
`total > 100` is the interval (100, +inf) of the numbers; `tier == "a"` is the set {"a"} of
the enum; `not flag` is {False}. Regions intersect (`and`), unite (`or`) and complement
(`not`) inside the subject's *domain*: an `int` field takes whole numbers, `count(...)` and
`contacts(...)` are whole numbers from 0, `last_contact` is a duration from 0 up to and
including `never` (the value +inf), an enum takes only its members.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TypeAlias

INF = math.inf

# (low, low included, high, high included); +inf as a bound that is included is `never`.
Interval: TypeAlias = tuple[float, bool, float, bool]


class NumberRegion:
    """A union of disjoint intervals of the extended reals, whole numbers only if `integral`."""

    __slots__ = ("integral", "intervals")

    def __init__(self, intervals: Iterable[Interval], integral: bool) -> None:
        self.integral = integral
        self.intervals = _normalize(intervals, integral)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, NumberRegion)
            and self.integral == other.integral
            and self.intervals == other.intervals
        )

    def __hash__(self) -> int:
        return hash((self.integral, self.intervals))

    def __repr__(self) -> str:
        return f"NumberRegion({self.intervals!r}, integral={self.integral})"

    def is_empty(self) -> bool:
        return not self.intervals

    def intersect(self, other: Region) -> NumberRegion:
        assert isinstance(other, NumberRegion)
        out: list[Interval] = []
        for a in self.intervals:
            for b in other.intervals:
                low, low_in = _max_low(a, b)
                high, high_in = _min_high(a, b)
                out.append((low, low_in, high, high_in))
        return NumberRegion(out, self.integral or other.integral)

    def union(self, other: Region) -> NumberRegion:
        assert isinstance(other, NumberRegion)
        return NumberRegion(self.intervals + other.intervals, self.integral and other.integral)

    def complement(self) -> NumberRegion:
        """Everything of the extended reals [-inf, +inf] that is not in the region."""
        gaps: list[Interval] = []
        low, low_in = -INF, True
        for start, start_in, end, end_in in self.intervals:
            gaps.append((low, low_in, start, not start_in))
            low, low_in = end, not end_in
        gaps.append((low, low_in, INF, True))
        return NumberRegion(gaps, self.integral)

    def contains(self, value: float) -> bool:
        return any(
            (lo < value or (lo == value and lo_in)) and (value < hi or (value == hi and hi_in))
            for lo, lo_in, hi, hi_in in self.intervals
        )

    def bounded_above(self) -> bool:
        """Whether some finite number is above every value of the region."""
        return bool(self.intervals) and self.intervals[-1][2] < INF


def _max_low(a: Interval, b: Interval) -> tuple[float, bool]:
    if a[0] > b[0]:
        return a[0], a[1]
    if b[0] > a[0]:
        return b[0], b[1]
    return a[0], a[1] and b[1]


def _min_high(a: Interval, b: Interval) -> tuple[float, bool]:
    if a[2] < b[2]:
        return a[2], a[3]
    if b[2] < a[2]:
        return b[2], b[3]
    return a[2], a[3] and b[3]


def _normalize(intervals: Iterable[Interval], integral: bool) -> tuple[Interval, ...]:
    cleaned: list[Interval] = []
    for low, low_in, high, high_in in intervals:
        if integral:
            if math.isfinite(low):
                low, low_in = (math.ceil(low) if low_in else math.floor(low) + 1), True
            if math.isfinite(high):
                high, high_in = (math.floor(high) if high_in else math.ceil(high) - 1), True
        if low > high or (low == high and not (low_in and high_in)):
            continue
        cleaned.append((low, low_in, high, high_in))
    cleaned.sort(key=lambda i: (i[0], not i[1]))
    merged: list[Interval] = []
    for interval in cleaned:
        if merged:
            last = merged[-1]
            touching = interval[0] < last[2] or (
                interval[0] == last[2] and (last[3] or interval[1])
            )
            if integral and math.isfinite(last[2]) and interval[0] == last[2] + 1:
                touching = True
            if touching:
                if interval[2] > last[2] or (interval[2] == last[2] and interval[3]):
                    merged[-1] = (last[0], last[1], interval[2], interval[3])
                continue
        merged.append(interval)
    return tuple(merged)


class ValueRegion:
    """A set of strings or booleans: the values listed (`inside`) or all values but them."""

    __slots__ = ("inside", "values")

    def __init__(self, values: Iterable[object], inside: bool) -> None:
        self.values = frozenset(values)
        self.inside = inside

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ValueRegion)
            and self.inside == other.inside
            and self.values == other.values
        )

    def __hash__(self) -> int:
        return hash((self.inside, self.values))

    def __repr__(self) -> str:
        word = "in" if self.inside else "not in"
        return f"ValueRegion({word} {sorted(map(str, self.values))})"

    def is_empty(self) -> bool:
        return self.inside and not self.values

    def intersect(self, other: Region) -> ValueRegion:
        assert isinstance(other, ValueRegion)
        if self.inside and other.inside:
            return ValueRegion(self.values & other.values, True)
        if self.inside:
            return ValueRegion(self.values - other.values, True)
        if other.inside:
            return ValueRegion(other.values - self.values, True)
        return ValueRegion(self.values | other.values, False)

    def union(self, other: Region) -> ValueRegion:
        assert isinstance(other, ValueRegion)
        if self.inside and other.inside:
            return ValueRegion(self.values | other.values, True)
        if self.inside:
            return ValueRegion(other.values - self.values, False)
        if other.inside:
            return ValueRegion(self.values - other.values, False)
        return ValueRegion(self.values & other.values, False)

    def complement(self) -> ValueRegion:
        return ValueRegion(self.values, not self.inside)

    def contains(self, value: object) -> bool:
        return (value in self.values) == self.inside


Region: TypeAlias = NumberRegion | ValueRegion


class Domain:
    """All the values a subject can take; regions are always kept inside it."""

    __slots__ = ("universe",)

    def __init__(self, universe: Region) -> None:
        self.universe = universe

    def restrict(self, region: Region) -> Region:
        return self.universe.intersect(region)

    def complement(self, region: Region) -> Region:
        return self.universe.intersect(region.complement())

    def is_everything(self, region: Region) -> bool:
        return self.universe.intersect(region) == self.universe

    def compare(self, op: str, value: object) -> Region | None:
        """The region where `subject op value` holds, or None if it cannot be expressed."""
        universe = self.universe
        if isinstance(universe, ValueRegion):
            if op == "==":
                return self.restrict(ValueRegion((value,), True))
            if op == "!=":
                return self.restrict(ValueRegion((value,), False))
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        v = float(value)
        integral = universe.integral
        shapes: dict[str, list[Interval]] = {
            "==": [(v, True, v, True)],
            "!=": [(-INF, True, v, False), (v, False, INF, True)],
            "<": [(-INF, True, v, False)],
            "<=": [(-INF, True, v, True)],
            ">": [(v, False, INF, True)],
            ">=": [(v, True, INF, True)],
        }
        return self.restrict(NumberRegion(shapes[op], integral))

    def member_of(self, options: Iterable[object]) -> Region | None:
        """The region where the subject is one of `options` (`x in [...]`)."""
        values = list(options)
        if isinstance(self.universe, ValueRegion):
            return self.restrict(ValueRegion(values, True))
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            return None
        points = [(float(v), True, float(v), True) for v in values]  # type: ignore[arg-type]
        return self.restrict(NumberRegion(points, self.universe.integral))


REALS = Domain(NumberRegion([(-INF, False, INF, False)], integral=False))
WHOLE_NUMBERS = Domain(NumberRegion([(-INF, False, INF, False)], integral=True))
COUNTS = Domain(NumberRegion([(0, True, INF, False)], integral=True))
ELAPSED = Domain(NumberRegion([(0, True, INF, True)], integral=False))  # 0 .. never
BOOLEANS = Domain(ValueRegion((True, False), True))
STRINGS = Domain(ValueRegion((), False))


def enum_domain(values: Iterable[str]) -> Domain:
    return Domain(ValueRegion(values, True))
