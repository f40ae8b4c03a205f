"""Properties of the engine over random rule sets and event streams (hypothesis).

- No customer ever receives more contacts in any window than any `limit` allows, and no
  opted-out customer is contacted.
- The same input gives byte-identical output; splitting the input into two runs on the
  same ledger gives the same decisions as one run.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fbdsl.runtime.ledger import open_ledger
from fbdsl.runtime.ledger.sqlite import SqliteLedger
from fbdsl.runtime.timeutil import format_time, parse_time
from tests.runtime.helpers import graph_of, run

CHANNELS = ("email", "sms", "push")
WINDOWS = {"1h": 3600, "1d": 86400, "7d": 7 * 86400}
START = parse_time("2026-01-01T00:00:00Z")

limits = st.lists(
    st.tuples(st.integers(1, 3), st.sampled_from(sorted(WINDOWS)),
              st.sampled_from([None, *CHANNELS])),
    min_size=1, max_size=3,
)  # fmt: skip


@st.composite
def rule_sets(draw: st.DrawFn) -> tuple[str, list[tuple[int, int, str | None]]]:
    policy = draw(limits)
    one_channel = draw(st.booleans())
    lines = [
        "event a { n: int }",
        "event b { n: int }",
        'event unsubscribed { channel: string = "all" }',
        f"channel {', '.join(CHANNELS)}",
        "survey s { channels: email, sms, push }",
        "policy {",
        *(f"    limit {c} contact{'s' if c > 1 else ''} per {w}" + (f" via {ch}" if ch else "")
          for c, w, ch in policy),
        "    one channel per contact" if one_channel else "",
        "}",
    ]  # fmt: skip
    for index in range(draw(st.integers(1, 4))):
        trigger = draw(st.sampled_from(["a", "b", "a or b"]))
        via = draw(st.sampled_from(["", " via email", " via sms or push", " via push or email"]))
        after = draw(st.sampled_from(["", "", " after 30m", " after 2h"]))
        priority = draw(st.integers(0, 3))
        condition = draw(st.sampled_from(["", " where n > 2", " and last_contact > 1h"]))
        lines.append(f"rule r{index} priority {priority} when {trigger}{condition} "
                     f'then send survey "s"{via}{after}')  # fmt: skip
    return "\n".join(lines), [(c, WINDOWS[w], ch) for c, w, ch in policy]


@st.composite
def streams(draw: st.DrawFn) -> list[dict[str, Any]]:
    events = []
    now = START
    for index in range(draw(st.integers(1, 60))):
        now += draw(st.integers(1, 3 * 3600))  # strictly increasing: no ties
        customer = f"c{draw(st.integers(0, 3))}"
        kind = draw(st.sampled_from(["a", "a", "b", "b", "unsubscribed"]))
        properties: dict[str, Any] = {"n": draw(st.integers(0, 5))}
        if kind == "unsubscribed":
            properties = {"channel": draw(st.sampled_from(["all", *CHANNELS]))}
        events.append({"id": f"e{index}", "event": kind, "customer_id": customer,
                       "timestamp": format_time(now), "properties": properties})  # fmt: skip
    return events


def check_policy(decisions: list[dict[str, Any]], events: list[dict[str, Any]],
                 policy: list[tuple[int, int, str | None]]) -> None:  # fmt: skip
    sent = [(d["customer_id"], parse_time(d["at"]), d["channel"]) for d in decisions
            if d["status"] == "sent"]  # fmt: skip
    for customer, at, channel in sent:
        for count, window, limit_channel in policy:
            in_window = [
                1 for c, t, ch in sent
                if c == customer and at - window < t <= at
                and (limit_channel is None or ch == limit_channel)
            ]  # fmt: skip
            if limit_channel is None or channel == limit_channel:
                assert len(in_window) <= count, (customer, at, count, window, limit_channel)
        for e in events:
            if e["event"] == "unsubscribed" and e["customer_id"] == customer:
                opted = e["properties"]["channel"]
                if parse_time(e["timestamp"]) <= at and opted in ("all", channel):
                    raise AssertionError(f"{customer} contacted on {channel} after opting out")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule_sets(), streams())
def test_limits_are_never_exceeded_and_opt_outs_are_respected(
    rules: tuple[str, list[tuple[int, int, str | None]]], events: list[dict[str, Any]]
) -> None:
    text, policy = rules
    decisions, _ = run(graph_of(text), events, flush=True)
    check_policy(decisions, events, policy)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(rule_sets(), streams(), st.data())
def test_same_input_same_bytes_and_split_runs_equal_one_run(
    tmp_path: Path, rules: tuple[str, Any], events: list[dict[str, Any]], data: st.DataObject
) -> None:
    graph = graph_of(rules[0])
    once, _ = run(graph, events, flush=True)
    assert run(graph, events, flush=True)[0] == once
    split = data.draw(st.integers(0, len(events)))
    folder = tempfile.TemporaryDirectory()  # a fresh ledger for every example
    path = Path(folder.name) / "ledger.sqlite"
    ledger = open_ledger(path)
    first, _ = run(graph, events[:split], ledger)
    ledger.close()
    ledger = open_ledger(path)
    second, _ = run(graph, events[split:], ledger, flush=True)
    ledger.close()
    folder.cleanup()
    assert first + second == once


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule_sets(), streams())
def test_a_ledger_with_almost_no_memory_decides_as_the_memory_ledger(
    rules: tuple[str, Any], events: list[dict[str, Any]]
) -> None:
    """Two cached states, four timers in memory, a commit every three events: states are
    read back from disk, timers paged in and out of the window, and nothing changes."""
    graph = graph_of(rules[0])
    expected, _ = run(graph, events, flush=True)
    with tempfile.TemporaryDirectory() as folder:
        ledger = SqliteLedger(Path(folder) / "l.sqlite", cached_states=2, timers_in_memory=4)
        decisions, report = run(graph, events, ledger, flush=True, commit_every=3)
        ledger.close()
    assert decisions == expected
    assert report.timers_pending == 0
