"""The decoder's fast path (msgspec, events_fast.py) yields exactly what the reference path
(orjson and the generated converters) yields, line for line: the same items with the same
fields (and the same Python types), the same ignored counts, the same rejections."""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Iterator
from typing import Any

import attrs
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fbdsl.compiler.types import BOOL, DURATION, INT, NUMBER, STRING, TIME, EnumType, ListType, Type
from fbdsl.runtime.events import IGNORED, Decoded, Decoder, Event
from tests.runtime.helpers import graph_of

GRAPH = graph_of("""
event order_completed from "Order Completed" {
    order_id: string
    total: number = 0
    items: int = 1
    coupon: string = ""
    kind: "web" | "app" = "web"
    skus: list<string> = []
}
event payment {
    paid_at: time
    wait: duration = 0s
    delays: list<duration> = []
    at_times: list<time> = []
}
event signup {
    plan: "free" | "pro"
    trial: bool = false
    seats: int
    scores: list<number> = [1, 2.5]
    flags: list<bool> = []
    class: string = "x"
    levels: list<"a" | "b"> = []
    counts: list<int> = []
}
event visit { path: string = "/" }
customer { tier: "basic" | "gold" = "basic"  signup: time }
channel email
""")

# Gates (Engine.gates): events of these types whose fields no rule could match are ignored.
GATES = {"order_completed": lambda f: f["total"] > 10, "signup": lambda f: f["plan"] == "pro"}

# (strict, read, gates): every way the engine builds a decoder. `visit` and `signup` are
# unread in the second; `page_viewed` is declared by no rule set.
CONFIGS: list[tuple[bool, frozenset[str] | None, dict[str, Any] | None]] = [
    (False, None, None),
    (False, frozenset({"order_completed", "payment"}), None),
    (True, None, None),
    (True, frozenset({"order_completed"}), None),
    (False, frozenset({"order_completed", "signup"}), GATES),
]


def decoders(
    strict: bool, read: frozenset[str] | None, gates: dict[str, Any] | None = None
) -> tuple[Decoder, Decoder]:
    def make(fast: bool) -> Decoder:
        return Decoder(
            GRAPH.events,
            GRAPH.external_names,
            GRAPH.traits,
            strict=strict,
            read=read,
            fast=fast,
            gates=gates,
        )

    return make(True), make(False)


DECODERS = [decoders(*config) for config in CONFIGS]


@pytest.fixture(autouse=True)
def local_time_is_not_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A time without an offset is UTC, not the machine's local time: on a machine in UTC
    the two would not be told apart."""
    monkeypatch.setenv("TZ", "America/St_Johns")  # -03:30
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def canonical(value: Any) -> Any:
    """A value with its exact type (1 is not 1.0, -0.0 is not 0.0, a tuple is no list)."""
    if isinstance(value, dict):
        return ("dict", [(key, canonical(item)) for key, item in value.items()])
    if isinstance(value, list | tuple):
        return (type(value).__name__, [canonical(item) for item in value])
    if isinstance(value, float):
        return ("float", math.copysign(1, value), repr(value))
    return (type(value).__name__, repr(value))


def summary(decoded: Decoded) -> Any:
    items = []
    for item in decoded.items:
        if isinstance(item, Event):
            items.append(
                (
                    "Event",
                    canonical(item.name),
                    canonical(item.customer_id),
                    canonical(item.timestamp),
                    canonical(item.id),
                    canonical(item.fields),
                    canonical(item.traits),
                    item.line,
                )
            )
        else:
            items.append((type(item).__name__, repr(item)))
    rejected = [(r.line, r.reason, r.raw) for r in decoded.rejected]
    return (decoded is IGNORED, items, rejected, decoded.ignored)


def outcome(decoder: Decoder, raw: bytes | str) -> Any:
    try:
        return summary(decoder.decode_line(raw, 3))
    except Exception as exc:  # a reference path's crash (a `"type": {}`) is kept as it is
        return ("raised", type(exc), str(exc))


def assert_same(raw: bytes | str) -> None:
    """The same outcome, twice: the second time the fast path has kept the line's traits."""
    for (fast, reference), config in zip(DECODERS, CONFIGS, strict=True):
        expected = outcome(reference, raw)
        assert outcome(fast, raw) == expected, (config, raw)
        assert outcome(fast, raw) == expected, (config, raw, "again")


# -- generated lines --------------------------------------------------------------------------

NAMES = ["order_completed", "Order Completed", "payment", "signup", "visit", "page_viewed", ""]
GOOD_TIMES = [
    "2026-01-02T03:04:05Z",
    "2026-01-02T03:04:05+01:00",
    "2026-01-02T03:04:05.250-05:30",
    "2026-01-02 03:04:05",
    "2026-01-02",
]
BAD_TIMES = ["2026-01-02T03:04:05.1234567Z", "2026-13-02T03:04:05Z", "yesterday", ""]
texts = st.text(max_size=6) | st.sampled_from(["a", "é", "😀", "\x00", '"', "\\"])
int64 = st.integers(-(2**63), 2**63 - 1)
# orjson keeps integers in [-2**63, 2**64) and makes floats of the others
beyond_64_bits = st.integers(2**64 + 1, 2**90) | st.integers(-(2**90), -(2**63) - 1)
integers = int64 | beyond_64_bits | st.sampled_from([2**63, 2**64 - 1, 2**64])
floats = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([5.0, -0.0, 1e300])
scalars = st.none() | st.booleans() | integers | floats | texts
any_value = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3), max_leaves=5)
times = st.sampled_from(GOOD_TIMES)
durations = st.sampled_from(["1h30m", "2d", "90s", 3600, 1.5, 0])


class Number:
    """A number written as given (JSON text such as 1e400 or 1E2)."""

    def __init__(self, text: str) -> None:
        self.text = text


number_texts = st.sampled_from(
    [
        *["1e2", "1E2", "-0", "-0.0", "0e0", "1e400", "-1E400", "1" * 320, "2.5e-400", "7.0"],
        *["1E+400", "1e0400", "9" * 280 + "e30", "0.5e-999", "18446744073709551616"],
    ]
).map(Number)
# JSON text that only orjson or only msgspec may take, or that they read differently
raw_texts = st.sampled_from(
    [
        *(("[" * depth + "]" * depth) for depth in (100, 140, 511, 600, 1023, 1100)),
        '"\\ud800"',  # a lone surrogate
        '"\\ud83d\\ude00"',
        '"\\u00e9"',
        '"\\u0000"',
        '"\\x"',
        '{"event":"order_completed"}',  # an `event` key, nested
        '{"event":"visit","traits":{"tier":"gold"}}',
        '{"type":"track","batch":[]}',
        '{"a":[1,{"b":1e400}]}',
    ]
).map(Number)
odd_values = (
    scalars | any_value | number_texts | raw_texts | st.sampled_from([*BAD_TIMES, "1.5h", "h"])
)


def good_values(t: Type) -> st.SearchStrategy[Any]:
    """Values of an fbdsl type, as JSON sends them."""
    if isinstance(t, EnumType):
        return st.sampled_from(t.values)
    if isinstance(t, ListType):
        return st.lists(good_values(t.element), max_size=3)
    return {
        STRING: texts,
        NUMBER: int64 | floats | integers,  # integers: beyond 64 bits too
        INT: int64 | int64 | integers,
        BOOL: st.booleans(),
        TIME: times,
        DURATION: durations,
    }[t]


PROPERTY_NAMES = sorted({name for schema in GRAPH.events.values() for name in schema.fields})
TRAIT_NAMES = [*sorted(GRAPH.traits), "unsubscribed", "email"]


@st.composite
def event_documents(draw: st.DrawFn) -> dict[str, Any]:
    """An fbdsl line, valid or nearly: each part may be missing, null, of the wrong type."""
    schema = GRAPH.events[draw(st.sampled_from(sorted(GRAPH.events)))]
    properties = {}
    for field in schema.fields.values():
        if field.name in ("customer_id", "timestamp", "id"):
            continue
        if not field.has_default or draw(st.booleans()):
            properties[field.name] = draw(good_values(field.type))
    document: dict[str, Any] = {
        "id": draw(st.sampled_from(["ev-1", "e2"]) | texts),
        "event": draw(st.sampled_from([schema.name, schema.external_name or schema.name])),
        "customer_id": draw(st.sampled_from(["c1", "cust-2"]) | texts),
        "timestamp": draw(times),
        "properties": properties,
    }
    if draw(st.integers(0, 3)) == 0:
        keys = draw(st.lists(st.sampled_from(TRAIT_NAMES), unique=True, max_size=4))
        document["traits"] = {
            key: draw(good_values(GRAPH.traits[key].type) if key in GRAPH.traits else scalars)
            for key in keys
        }
    for _ in range(draw(st.integers(0, 2))):  # nearly valid
        where = draw(
            st.sampled_from(["top", "property", "number", "trait", "remove", "event", "unread"])
        )
        if where == "top":
            document[draw(st.sampled_from([*document, "context", "type", "batch"]))] = draw(
                odd_values | st.just({})
            )
        elif where == "property":
            properties[draw(st.sampled_from([*PROPERTY_NAMES, "extra"]))] = draw(odd_values)
        elif where == "number":
            properties[draw(st.sampled_from([*properties, "extra"]))] = draw(number_texts)
        elif where == "trait":
            traits = document.setdefault("traits", {})
            if isinstance(traits, dict):
                traits[draw(st.sampled_from(TRAIT_NAMES))] = draw(odd_values)
        elif where == "remove":
            key = draw(st.sampled_from(sorted({*document, *properties})))
            (document if key in document else properties).pop(key)
        elif where == "event":
            document["event"] = draw(st.sampled_from(NAMES))
        else:  # an event no rule reads (in some configurations) and text orjson may refuse
            document["event"] = draw(st.sampled_from(["visit", "signup", "page_viewed"]))
            key = draw(st.sampled_from(["id", "customer_id", "timestamp", "properties", "x"]))
            if key == "properties" and draw(st.booleans()):
                properties[draw(st.sampled_from(["event", "path", "x"]))] = draw(odd_values)
            else:
                document[key] = draw(odd_values)
    return document


@st.composite
def segment_documents(draw: st.DrawFn) -> dict[str, Any]:
    document: dict[str, Any] = {
        "type": draw(st.sampled_from(["track", "identify", "batch", "page", "x", None])),
        "userId": draw(texts),
        "event": draw(st.sampled_from(NAMES)),
        "timestamp": draw(times),
        "properties": {},
    }
    if draw(st.booleans()):
        document["batch"] = draw(st.lists(st.just({"type": "track"}), max_size=2) | scalars)
    return document


@st.composite
def unread_documents(draw: st.DrawFn) -> dict[str, Any]:
    """A line of an event no rule reads (in some of CONFIGS), which the fast path may drop
    early, with a value somewhere that orjson may refuse or read otherwise than msgspec."""
    document: dict[str, Any] = {
        "id": "u1",
        "event": draw(st.sampled_from(["visit", "signup", "page_viewed"])),
        "customer_id": "c1",
        "timestamp": draw(times),
        "properties": {"path": "/"},
    }
    junk = draw(number_texts | raw_texts | st.sampled_from([1, "x", None, {}, []]))
    where = draw(st.sampled_from(["id", "customer_id", "timestamp", "properties", "x", "traits"]))
    if where in ("properties", "traits"):
        key = draw(st.sampled_from(["event", "path", "tier", "type", "x"]))
        document[where] = {**document.get(where, {}), key: junk}
    else:
        document[where] = junk
    return document


documents = (
    event_documents()
    | event_documents()
    | event_documents()
    | unread_documents()
    | segment_documents()
    | any_value
    | st.dictionaries(texts, scalars, max_size=3)
)


def write(draw: st.DrawFn, value: Any) -> str:
    """JSON text of a value, written in some of the many ways JSON allows: escapes,
    whitespace, number forms, duplicate keys."""
    space = draw(st.sampled_from(["", "", "", " ", "\t", "\r\n "]))
    if isinstance(value, Number):
        return value.text
    if isinstance(value, str):
        escape = draw(st.integers(0, 9))
        if escape == 0:
            return json.dumps(value, ensure_ascii=True)  # \u escapes of non-ASCII
        if escape == 1 and value:  # "order\u005fcompleted", "ev\u0065nt"
            at = draw(st.integers(0, len(value) - 1))
            return (
                json.dumps(value[:at])[:-1]
                + f"\\u{ord(value[at]):04x}"
                + json.dumps(value[at + 1 :])[1:]
            )
        return orjson.dumps(value).decode()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # beyond 64 bits too (orjson makes floats of those)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return draw(st.sampled_from([repr(value), f"{value:.1e}"]))
    if isinstance(value, list):
        return "[" + ",".join(space + write(draw, item) for item in value) + "]"
    if isinstance(value, dict):
        entries = [
            f"{write(draw, key)}{space}:{space}{write(draw, item)}" for key, item in value.items()
        ]
        if entries and draw(st.integers(0, 9)) == 0:  # a duplicate key: the last one counts
            key = draw(st.sampled_from(list(value)))
            entries.insert(0, f"{write(draw, key)}:{write(draw, draw(scalars))}")
        return "{" + space + ",".join(entries) + space + "}"
    return orjson.dumps(value).decode()


@st.composite
def lines(draw: st.DrawFn) -> bytes | str:
    text = write(draw, draw(documents))
    raw = text.encode()
    damage = draw(st.integers(0, 14))
    if damage == 0 and raw:
        raw = raw[: draw(st.integers(0, len(raw) - 1))]  # truncated
    elif damage == 1:
        at = draw(st.integers(0, len(raw)))
        raw = (
            raw[:at]
            + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b" ", b"}"]))
            + raw[at:]
        )
    elif damage == 2:
        raw = draw(st.sampled_from([b"", b"\n", b"  \r\n", b"\xef\xbb\xbf"])) + raw
    elif damage == 3:
        raw += draw(st.sampled_from([b"\n", b"\r\n", b" x", b"{}", b"\x00"]))
    elif damage == 4:
        return text  # a str, as the HTTP endpoints may hand over
    return raw


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(lines())
def test_fast_path_yields_what_the_reference_path_yields(raw: bytes | str) -> None:
    assert_same(raw)


# -- lines chosen by hand ---------------------------------------------------------------------

ORDER = (
    b'{"id":"e1","event":"order_completed","customer_id":"c1",'
    b'"timestamp":"2026-01-01T00:00:00Z","properties":{"order_id":"o1","total":%s}%s}'
)
CASES = [
    ORDER % (b"5", b""),
    ORDER % (b"5.0", b""),
    ORDER % (b"1e2", b""),
    ORDER % (b"1e400", b""),
    ORDER % (b"123456789012345678901234567890", b""),
    ORDER % (b"18446744073709551615", b""),
    ORDER % (b"-9223372036854775809", b""),
    ORDER % (b'5,"items":12345678901234567890123', b""),
    ORDER % (b'5,"extra":' + b"1" * 320, b""),
    ORDER % (b"-0.0", b""),
    ORDER % (b"5", b',"traits":{}'),
    ORDER % (b"5", b',"traits":null'),
    ORDER % (b"5", b',"traits":[]'),
    ORDER % (b"5", b',"traits":{"tier":"gold","signup":"2025-01-01"}'),
    ORDER % (b"5", b',"traits":{"tier":"iron"}'),
    ORDER % (b"5", b',"traits":{"timezone":"Mars/Base"}'),
    ORDER % (b"5", b',"traits":{"a":1e400}'),
    ORDER % (b"5", b',"type":"track"'),
    ORDER % (b"5", b',"type":null'),
    ORDER % (b"5", b',"batch":[]'),
    ORDER % (b"5", b',"context":{}'),
    ORDER % (b"5", b',"customer_id":""'),
    ORDER % (b"5", b',"id":""'),
    ORDER % (b"5", b',"id":null'),
    ORDER % (b"5", b',"properties":null'),
    ORDER % (b"5", b',"properties":{"order_id":"o2"}'),  # duplicate key: the last counts
    ORDER % (b'"x","total":7', b""),
    b'{"ev\\u0065nt":"visit","customer_id":"c","timestamp":"2026-01-01T00:00:00Z","id":"i"}',
    b'{"event":"visit","customer_id":"c","timestamp":"2026-01-01T00:00:00Z","properties":{}}',
    b'{"event":"visit","customer_id":"c","timestamp":"2026-01-01T00:00:00Z","id":"i",'
    b'"properties":{"path":null}}',
    b'{"event":"page_viewed","properties":{"x":1e400}}',
    b'{"event":"page_viewed","properties":{"x":' + b"9" * 320 + b"}}",
    b'{"event":"page_viewed","properties":{"x":' + b"9" * 300 + b"}}",
    b'{"event":"page_viewed","properties":{"x":"\xff"}}',
    b'{"event":"page_viewed","properties":{"x":"\xc3\xa9"}}',
    b'{"event":"page_viewed","x":' + b"[" * 1100 + b"]" * 1100 + b"}",
    b'{"event":"page_viewed","x":' + b"[" * 600 + b"]" * 600 + b"}",
    b'{"event":"page_viewed","traits":{}}',
    b'{"event":"page_viewed","traits":{"tier":"gold"}}',
    b'{"event":"page_viewed","traits":"gold"}',
    b'{"event":"signup","id":"s","customer_id":"c","timestamp":"2026-01-01T00:00:00+02:00",'
    b'"properties":{"plan":"pro","seats":3,"scores":[1,2.5,-0],"levels":["a","b"],'
    b'"flags":[true],"class":"k","counts":[1,-2]}}',
    b'{"event":"signup","id":"s","customer_id":"c","timestamp":"2026-01-01T00:00:00+02:00",'
    b'"properties":{"plan":"pro","seats":3,"counts":[1,36893488147419103233]}}',
    b'{"event":"signup","id":"s","customer_id":"c","timestamp":"2026-01-01T00:00:00",'
    b'"properties":{"plan":"pro","seats":3.0}}',
    b'{"event":"payment","id":"p","customer_id":"c","timestamp":"2026-01-01T00:00:00Z",'
    b'"properties":{"paid_at":"2026-01-01T01:00:00Z","wait":"1h30m","delays":[60,"2h",1.5],'
    b'"at_times":["2026-01-01","2026-01-02T00:00:00+01:00"]}}',
    b'{"event":"payment","id":"p","customer_id":"c","timestamp":"2026-01-01T00:00:00Z",'
    b'"properties":{"paid_at":"2026-01-01T01:00:00Z","wait":"soon"}}',
    b'{"type":"identify","userId":"c","timestamp":"2026-01-01T00:00:00Z","traits":{"tier":"gold"}}',
    b'{"batch":[{"type":"track","event":"visit","userId":"c","timestamp":"2026-01-01"}]}',
    b'{"event":"order\\u005fcompleted","id":"e","customer_id":"c","timestamp":"2026-01-01",'
    b'"properties":{"order_id":"o"}}',
    b'{"event":"vis\\u0069t","properties":{"x":1e400}}',
    b'{"event":"page\\u005fviewed","properties":{"x":"\xff"}}',
    b'{"event":"page_viewed","id":1e400}',
    b'{"event":"page_viewed","id":"\xc3"}',
    b'{"event":"page_viewed","customer_id":"\xed\xa0\x80"}',
    b'{"event":"page_viewed","x":"\\ud800"}',
    b'{"event":"page_viewed","properties":{"x":[[[[1E+400]]]]}}',
    b'{"event":"page_viewed","properties":{"x":' + b"9" * 280 + b"e30}}",
    b'{"event":"page_viewed","properties":{"\xff":1}}',
    b'{"event":"page_viewed","properties":{"event":"order_completed"}}',
    b'{"event":"page_viewed","properties":{"type":"track","batch":[]}}',
    b'{"event":"visit","traits":{"event":"order_completed"}}',
    b'{"event":"visit","traits":{"tier":"gold","x":1e400}}',
    b'{"event":"visit","traits":{"tier":"gold","x":"\xff"}}',
    b'{"event":"visit","traits":' + b"[" * 1100 + b"]" * 1100 + b"}",
    b'{"event":"page_viewed","event":"order_completed","properties":{}}',
    b'{"event":"order_completed","event":"page_viewed","properties":{"order_id":1}}',
    b'{"event":"page_viewed","traits":{"tier":"gold"},"traits":null}',
    b"[1, 2]",
    b'"text"',
    b"",
    b"\n",
    b"{",
    '{"event":"visit","customer_id":"c\ud800"}',
    '{"event":"visit","customer_id":"é","timestamp":"2026-01-01T00:00:00Z","id":"i"}',
]


@pytest.mark.parametrize("raw", CASES)
def test_lines_that_tell_the_paths_apart(raw: bytes | str) -> None:
    assert_same(raw)


def test_nesting_orjson_refuses_under_a_high_recursion_limit() -> None:
    """msgspec nests as deep as the interpreter's recursion limit allows, orjson 1024."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(20000)
    try:
        for depth in (1021, 1022, 1023, 3000):
            nested = b"[" * depth + b"]" * depth
            assert_same(b'{"event":"visit","properties":{"x":%s}}' % nested)
    finally:
        sys.setrecursionlimit(limit)


def test_the_common_lines_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a vacuous comparison: usual lines never reach the reference path."""
    calls = []
    reference = Decoder.decode_reference

    def counted(self: Decoder, raw: bytes | str, line: int) -> Decoded:
        calls.append(raw)
        return reference(self, raw, line)

    monkeypatch.setattr(Decoder, "decode_reference", counted)
    fast, _ = decoders(False, frozenset({"order_completed"}))
    unread = b'{"id":"e","event":"visit","customer_id":"c","timestamp":"2026-01-01T00:00:00Z"}'
    assert fast.decode_line(unread, 1) is IGNORED
    assert fast.decode_line(b'{"event":"page_viewed","properties":{"a":[1]}}', 2) is IGNORED
    (event,) = fast.decode_line(ORDER % (b"5", b',"traits":{"tier":"gold"}'), 3).items
    assert isinstance(event, Event) and event.fields["total"] == 5 and event.fields["items"] == 1
    assert event.traits == {"tier": "gold"}
    assert calls == []
    int_valued = ORDER % (b'5,"items":5.0', b"")
    (event,) = fast.decode_line(int_valued, 4).items  # an int-valued float for an int...
    assert isinstance(event, Event) and type(event.fields["items"]) is int
    assert calls == [int_valued]  # ... is converted by the reference path
    gated, _ = decoders(False, frozenset({"order_completed"}), GATES)
    assert gated.decode_line(ORDER % (b"5", b""), 5).ignored == 1  # no rule could match it
    (event,) = gated.decode_line(ORDER % (b"50", b""), 6).items
    assert isinstance(event, Event) and event.fields["total"] == 50
    assert calls == [int_valued]


def test_traits_are_kept_by_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """The store of converted traits: a hit yields what a miss does (a copy of the traits
    for each event), a full store is emptied, long texts are not kept."""
    from fbdsl.runtime import events_fast

    monkeypatch.setattr(events_fast, "_TRAITS_KEPT", 3)
    monkeypatch.setattr(events_fast, "_TRAITS_TEXT", 40)
    fast, reference = decoders(False, frozenset({"order_completed"}))
    texts = [b'{"tier":"gold"}', b'{"tier":"iron"}', b'{"a":1e400}', b"[]", b"{}", b"null"]
    texts += [b'{"tier":"basic","signup":"2025-0%d-01","email":"a@b"}' % n for n in range(1, 4)]
    texts += [b'{"tier":"gold","email":"%s"}' % (b"x" * 40)]
    for _ in range(3):
        for text in texts:
            for name in (b"order_completed", b"visit", b"page_viewed"):
                raw = ORDER.replace(b"order_completed", name) % (b"5", b',"traits":' + text)
                assert summary(fast.decode_line(raw, 3)) == summary(reference.decode_line(raw, 3))
    one, two = (fast.decode_line(ORDER % (b"5", b',"traits":{"tier":"gold"}'), 1) for _ in "12")
    assert one.items[0].traits == two.items[0].traits == {"tier": "gold"}
    assert one.items[0].traits is not two.items[0].traits  # each event its own


def test_events_built_with_their_constructors(monkeypatch: pytest.MonkeyPatch) -> None:
    """Decoded is built slot by slot unless its attrs class does more in `__init__` (an
    Event, a msgspec Struct, always by its constructor); built by its constructor, the
    outcome is the same."""
    from fbdsl.runtime import events_fast

    assert events_fast._BARE
    assert not events_fast._bare(Decoded, ("items", "rejected"))

    @attrs.define(slots=True)
    class Checked:
        value: int = attrs.field(validator=attrs.validators.instance_of(int))

    assert not events_fast._bare(Checked, ("value",))
    monkeypatch.setattr(events_fast, "_BARE", False)
    fast = Decoder(GRAPH.events, GRAPH.external_names, GRAPH.traits, fast=True)
    reference = Decoder(GRAPH.events, GRAPH.external_names, GRAPH.traits, fast=False)
    for raw in CASES:
        assert outcome(fast, raw) == outcome(reference, raw), raw
