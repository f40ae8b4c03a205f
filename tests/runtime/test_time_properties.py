"""Properties of event time over random rules and streams (hypothesis).

- A send is never emitted inside quiet hours, in the customer's own time zone, across DST
  changes (zones with 1 h, 30 min and no DST, windows crossing midnight or not).
- `unless E` never lets a send through after its cancelling event; `no E within D` never
  fires when a matching E came within D.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fbdsl.runtime.timeutil import format_time, parse_time
from tests.runtime.helpers import graph_of, run

ZONES = ("UTC", "Europe/Moscow", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe")
# Around the 2026 DST changes: US 8 March and 1 November, Lord Howe 5 April and 4 October.
STARTS = ("2026-03-07T00:00:00Z", "2026-04-04T00:00:00Z", "2026-10-31T00:00:00Z")

HEAD = """
event a { n: int }
event b { n: int }
customer { timezone: string = "UTC" }
channel email
survey s { channels: email }
"""


def clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@st.composite
def streams(draw: st.DrawFn, zoned: bool = False) -> list[dict[str, Any]]:
    now = parse_time(draw(st.sampled_from(STARTS)))
    zones = {f"c{i}": draw(st.sampled_from(ZONES)) for i in range(3)}
    events = []
    for index in range(draw(st.integers(1, 40))):
        # Half-hour steps land exactly on window ends too (30m, 2h, 6h).
        now += draw(st.integers(60, 5 * 3600) | st.integers(1, 12).map(lambda k: k * 1800))
        customer = draw(st.sampled_from(sorted(zones)))
        document: dict[str, Any] = {
            "id": f"e{index}",
            "event": draw(st.sampled_from(["a", "a", "b"])),
            "customer_id": customer,
            "timestamp": format_time(now),
            "properties": {"n": draw(st.integers(0, 2))},
        }
        if zoned:
            document["traits"] = {"timezone": zones[customer]}
        events.append(document)
    return events


def inside(minute: int, start: int, end: int) -> bool:
    return start <= minute < end if start < end else minute >= start or minute < end


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(0, 95).map(lambda q: q * 15),
    st.integers(0, 95).map(lambda q: q * 15),
    st.sampled_from(["", " after 20m", " after 7h", " after 1d"]),
    streams(zoned=True),
)
def test_no_send_is_ever_emitted_inside_quiet_hours(
    start: int, end: int, after: str, events: list[dict[str, Any]]
) -> None:
    if start == end:
        return  # not a window (the checker rejects it)
    rules = HEAD + (
        f"policy {{ quiet hours {clock(start)} to {clock(end)} }}\n"
        f'rule r when a then send survey "s"{after}\n'
    )
    decisions, _ = run(graph_of(rules), events, flush=True)
    zones = {e["customer_id"]: e["traits"]["timezone"] for e in events}
    sent = [d for d in decisions if d["status"] == "sent"]
    assert len(sent) == sum(1 for e in events if e["event"] == "a")
    for decision in sent:
        local = datetime.fromtimestamp(
            parse_time(decision["at"]), ZoneInfo(zones[decision["customer_id"]])
        )
        minute = local.hour * 60 + local.minute
        assert not inside(minute, start, end), (decision, local.isoformat())


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["30m", "2h", "6h"]),
    st.sampled_from(["", " where n == a.n"]),
    st.booleans(),
    streams(),
)
def test_unless_and_absence_never_let_a_cancelled_send_through(
    delay: str, correlation: str, absence: bool, events: list[dict[str, Any]]
) -> None:
    if absence:
        rule = f'rule r when a and no b{correlation} within {delay} then send survey "s"'
    else:
        rule = f'rule r when a then send survey "s" after {delay} unless b{correlation}'
    decisions, _ = run(graph_of(HEAD + rule), events, flush=True)
    by_id = {e["id"]: e for e in events}
    window = {"30m": 1800, "2h": 7200, "6h": 21600}[delay]
    for decision in decisions:
        trigger = by_id[decision["trigger"]["id"]]
        since = parse_time(trigger["timestamp"])
        cancelling = [
            e
            for e in events
            if e["event"] == "b"
            and e["customer_id"] == trigger["customer_id"]
            and since < parse_time(e["timestamp"]) <= since + window
            and (not correlation or e["properties"]["n"] == trigger["properties"]["n"])
        ]
        if decision["status"] == "sent":
            assert not cancelling, (decision, cancelling)
            assert parse_time(decision["at"]) == since + window
        else:
            assert decision["status"] == "cancelled" and not absence
            assert cancelling and decision["at"] == cancelling[0]["timestamp"]
    # Every trigger is accounted for: sent, cancelled, or (absence) silently dropped.
    triggers = {d["trigger"]["id"] for d in decisions}
    for event in events:
        if event["event"] == "a" and event["id"] not in triggers:
            assert absence
