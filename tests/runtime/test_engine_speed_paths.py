"""The engine's cheaper per-event paths give what the plain versions they replace gave: the
limit check in one pass, contacts and history kept in order without a sort, the compiled
trigger views and history copies, the ids hashed from a shared prefix, the decisions as
msgspec Structs (the documented objects)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fbdsl.compiler import program as p
from fbdsl.runtime import decisions as d
from fbdsl.runtime.codegen import _count, compile_field_copy, compile_trigger_view
from fbdsl.runtime.policy import _over
from fbdsl.runtime.state import ALL_CHANNELS, Contact, CustomerState
from fbdsl.runtime.timers import Trigger
from fbdsl.runtime.timeutil import INFINITY, format_time

DAY = 86400.0
times = st.integers(0, 40).map(lambda n: 1_767_225_600.0 + n * DAY / 4)
channels = st.sampled_from(["email", "sms"])


def contact(at: float, channel: str, n: int, held: bool = False) -> Contact:
    return Contact(at, f"survey{n % 2}", channel, f"rule{n}", f"d{n}", held)


def reference_over(
    limit: p.Limit, state: CustomerState, now: float, channel: str | None
) -> str | None:
    """`_over` as two passes: count the window, then name its newest contact."""
    if state.contacts_within(now, limit.window, channel) < limit.count:
        return None
    last = state.last_contact_within(now, limit.window, channel)
    assert last is not None
    held = ", held out" if last.held else ""
    return f"{limit.text}: last contact {format_time(last.at)} (rule {last.rule}{held})"


@settings(max_examples=300, deadline=None)
@given(
    log=st.lists(st.tuples(times, channels, st.booleans()), max_size=12),
    now=times,
    count=st.integers(1, 4),
    days=st.integers(1, 10),
    channel=st.none() | channels,
)
def test_limit_check_in_one_pass(
    log: list[tuple[float, str, bool]], now: float, count: int, days: int, channel: str | None
) -> None:
    state = CustomerState("c")
    state.contacts = [contact(at, ch, n, held) for n, (at, ch, held) in enumerate(sorted(log))]
    limit = p.Limit(count, days * 86400, channel, f"limit {count} per {days}d")
    assert _over(limit, state, now, channel) == reference_over(limit, state, now, channel)


def reference_add(state: CustomerState, new: Contact, keep: float) -> None:
    """`add_contact` as it was: append, sort, update the summaries, prune."""
    state.contacts.append(new)
    state.contacts.sort(key=lambda c: c.at)
    for key in (ALL_CHANNELS, new.channel):
        if new.at > state.last_contact_at.get(key, -INFINITY):
            state.last_contact_at[key] = new.at
    if new.at > state.last_sent_at.get(new.target, -INFINITY):
        state.last_sent_at[new.target] = new.at
    state.prune_contacts(new.at, keep)


@settings(max_examples=300, deadline=None)
@given(
    log=st.lists(st.tuples(times, st.sampled_from(["email", "sms", ALL_CHANNELS])), max_size=15),
    keep_days=st.integers(1, 12),
)
def test_contacts_stay_in_order_without_a_sort(
    log: list[tuple[float, str]], keep_days: int
) -> None:
    fast, slow = CustomerState("c"), CustomerState("c")
    for n, (at, channel) in enumerate(log):  # in any order: out-of-order sends happen
        fast.add_contact(contact(at, channel, n), keep_days * DAY)
        reference_add(slow, contact(at, channel, n), keep_days * DAY)
        assert fast == slow


def reference_record(
    state: CustomerState, event: str, at: float, fields: dict[str, Any], keep: float
) -> None:
    entries = state.history.setdefault(event, [])
    entries.append((at, fields))
    if len(entries) > 1 and entries[-2][0] > at:
        entries.sort(key=lambda entry: entry[0])
    start = max(at, state.newest) - keep
    if entries[0][0] <= start:
        state.history[event] = [entry for entry in entries if entry[0] > start]


@settings(max_examples=300, deadline=None)
@given(
    events=st.lists(st.tuples(times, st.sampled_from(["a", "b"])), max_size=15),
    keep_days=st.integers(1, 12),
    window_days=st.integers(1, 12),
    now=times,
)
def test_history_kept_and_counted_as_before(
    events: list[tuple[float, str]], keep_days: int, window_days: int, now: float
) -> None:
    fast, slow = CustomerState("c"), CustomerState("c")
    for n, (at, name) in enumerate(events):
        for state in (fast, slow):
            state.newest = max(state.newest, at)
        fast.record_event(name, at, {"n": n}, keep_days * DAY)
        reference_record(slow, name, at, {"n": n}, keep_days * DAY)
        assert fast == slow
    start, window = now - window_days * DAY, window_days * DAY
    entries = fast.history.get("a", [])
    assert _count(fast, "a", now, window, None, {}) == sum(
        1 for at, _ in entries if start < at <= now
    )
    odd = lambda s, f: s["n"] % 2  # noqa: E731
    assert _count(fast, "a", now, window, odd, {}) == sum(
        1 for at, s in entries if start < at <= now and odd(s, {})
    )


def test_compiled_trigger_view_is_the_plain_one() -> None:
    names = ("order_id", "placed", "total", "items")
    fields = {"order_id": "o1", "placed": 1_767_225_600.25, "total": 12.5, "items": ("a", "b"),
              "customer_id": "c", "timestamp": 1_767_225_601.0, "id": "e1"}  # fmt: skip
    trigger = Trigger("order_completed", "e1", 1_767_225_601.0, fields, None)
    view = compile_trigger_view("order_completed", names, frozenset({"placed"}))
    assert view(trigger) == d.trigger_view(
        "order_completed", "e1", 1_767_225_601.0, fields, names, frozenset({"placed"})
    )
    assert list(view(trigger)["properties"]) == list(names)  # the same order of keys
    assert compile_trigger_view("x", (), frozenset())(trigger)["properties"] == {}


def test_compiled_field_copy() -> None:
    fields = {"a": 1, "b": None, "c": (2,), "id": "e"}
    assert compile_field_copy(("a", "b", "c"))(fields) == {"a": 1, "b": None, "c": (2,)}
    assert compile_field_copy(())(fields) == {}


def test_ids_from_a_shared_prefix() -> None:
    for rest in ["", "c\x1fe\x1f0\x1femail\x1f", "ünïcode\x1f" * 40]:
        hasher = d.id_prefix("big_order_nps").copy()
        hasher.update(rest.encode())
        assert hasher.hexdigest() == d.id_of(f"big_order_nps\x1f{rest}")


json_scalars = (
    st.none()
    | st.booleans()
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.integers(-(2**63), 2**63 - 1)
)


@settings(max_examples=200, deadline=None)
@given(
    properties=st.dictionaries(st.text(), json_scalars, max_size=4),
    reason=st.none() | st.text(),
    task=st.none()
    | st.tuples(
        st.text(), st.none() | st.text(), st.dictionaries(st.text(), json_scalars, max_size=2)
    ),
)
def test_decisions_encode_as_the_documented_objects(
    properties: dict[str, Any], reason: str | None, task: tuple[Any, ...] | None
) -> None:
    """A `Decision` is written as the object of decisions.py, its keys in their order (the
    task keys only for a task, its `due` null when it has none), each line reading back
    as what was put in; a batch in one piece is the lines joined."""
    import orjson

    trigger = {"event": "e", "id": "i", "timestamp": "t", "properties": properties}
    decision = d.Decision(
        "id", "at", "r", "c", "send_survey", "s", None, "sent", reason, trigger, "default"
    )
    expected: dict[str, Any] = {
        "decision_id": "id", "at": "at", "rule": "r", "customer_id": "c",
        "action": "send_survey", "target": "s", "channel": None, "status": "sent",
        "reason": reason, "trigger": trigger, "mode": "default",
    }  # fmt: skip
    if task is not None:
        decision.team, decision.due, decision.notes = task
        expected.update(team=task[0], due=task[1], notes=task[2])
    line = d.encode(decision)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    back = orjson.loads(line)
    assert list(back) == list(expected) and back == expected
    other = d.Decision("x", "at", "r", "c", "tag", "t", None, "sent", None, {}, "default")
    assert d.encode_lines([decision, other]) == b"".join(d.encode_all([decision, other]))


@settings(max_examples=500, deadline=None)
@given(
    seconds=st.integers(0, 2**35).map(float)
    | st.floats(0, 2**35, allow_nan=False)
    | st.integers(1_767_225_600 - 7200, 1_767_225_600 + 7200).map(float)  # hours' edges
)
def test_formatted_times_are_the_plain_ones(seconds: float) -> None:
    """`format_time` (whole seconds put together from cached hours) is strftime's text."""
    from datetime import UTC, datetime

    moment = datetime.fromtimestamp(seconds, UTC)
    pattern = "%Y-%m-%dT%H:%M:%S.%fZ" if moment.microsecond else "%Y-%m-%dT%H:%M:%SZ"
    assert format_time(seconds) == moment.strftime(pattern)
