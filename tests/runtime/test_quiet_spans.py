"""The policy gate remembers, per time zone, how long its last quiet-hours answer holds:
the remembered answer must always be the one worked out afresh, across DST changes and
windows that cross midnight or not, whatever order the times come in."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fbdsl.compiler import program as p
from fbdsl.runtime.policy import PolicyGate, zone
from fbdsl.runtime.state import CustomerState

ZONES = ["UTC", "Europe/Moscow", "America/New_York", "Europe/London", "Australia/Lord_Howe",
         "Asia/Kolkata", "America/Santiago", "Asia/Beirut"]  # fmt: skip
START = 1_772_000_000  # late February 2026: the spring DST changes are within reach


def gate(start_minute: int, end_minute: int) -> PolicyGate:
    quiet = p.QuietHours(start_minute, end_minute, "quiet hours")
    return PolicyGate(p.Policy(quiet_hours=quiet), {}, "UTC")


@settings(max_examples=60, deadline=None)
@given(
    start=st.integers(0, 1439),
    end=st.integers(0, 1439),
    steps=st.lists(
        st.tuples(st.sampled_from(ZONES), st.integers(-3 * 3600, 9 * 3600)),
        min_size=1,
        max_size=300,
    ),
)
def test_remembered_answers_equal_fresh_ones(
    start: int, end: int, steps: list[tuple[str, int]]
) -> None:
    policy = gate(start, end)
    now = float(START)
    for name, step in steps:
        now += step  # mostly forward, sometimes back
        state = CustomerState("c", traits={"timezone": name})
        assert policy.quiet_until(state, now) == policy._quiet_end(zone(name), now), (name, now)


@pytest.mark.parametrize(
    "start, end",
    [(22 * 60, 8 * 60), (2 * 60 + 30, 6 * 60), (0, 2 * 60 + 30), (60, 2 * 60 + 30)],
    ids=["22-08", "starts in the gap", "ends in the gap", "ends in the gap, not midnight"],
)
@pytest.mark.parametrize("name", ["America/New_York", "Europe/London"])
def test_around_a_spring_change_every_minute(start: int, end: int, name: str) -> None:
    """Windows starting or ending in the hour the clocks skip (02:00-03:00 in New York on
    2026-03-08; 01:00-02:00 in London on 2026-03-29)."""
    policy = gate(start, end)
    state = CustomerState("c", traits={"timezone": name})
    change = 1_772_953_200 if name == "America/New_York" else 1_774_746_000
    for now in range(change - 86400, change + 86400, 60):
        expected = policy._quiet_end(zone(name), float(now))
        assert policy.quiet_until(state, float(now)) == expected, now
