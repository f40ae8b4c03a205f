"""Input decoding: fbdsl lines, Segment/RudderStack calls, rejections with reasons."""

from __future__ import annotations

import orjson

from fbdsl.runtime.events import Decoder, Event, TraitUpdate
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
event payment { paid_at: time  wait: duration = 0s }
customer { tier: "basic" | "gold" = "basic"  signup: time }
channel email
""")
DECODER = Decoder(GRAPH.events, GRAPH.external_names, GRAPH.traits)


def decode(document: object, strict: bool = False) -> tuple[list[object], list[str], int]:
    decoder = Decoder(GRAPH.events, GRAPH.external_names, GRAPH.traits, strict=strict)
    raw = document if isinstance(document, bytes) else orjson.dumps(document)
    out = decoder.decode_line(raw, 7)
    return out.items, [r.reason for r in out.rejected], out.ignored


def test_fbdsl_line_with_defaults_and_types() -> None:
    (item,), rejected, _ = decode(
        {
            "id": "x1",
            "event": "order_completed",
            "customer_id": "c1",
            "timestamp": "2026-01-02T03:04:05+01:00",
            "properties": {
                "order_id": "o1",
                "total": 12.5,
                "skus": ["a", "b"],
                "unknown": {"nested": 1},
            },
            "traits": {"tier": "gold", "email": "a@example.com", "signup": "2025-01-01"},
        }
    )
    assert rejected == []
    assert isinstance(item, Event)
    assert (item.name, item.customer_id, item.id) == ("order_completed", "c1", "x1")
    assert item.timestamp == 1767319445.0  # 02:04:05 UTC
    assert item.fields["total"] == 12.5 and item.fields["items"] == 1
    assert item.fields["skus"] == ("a", "b") and item.fields["kind"] == "web"
    # declared traits converted to their types; undeclared ones (PII here) are not kept
    assert item.traits == {"tier": "gold", "signup": 1735689600.0}
    assert "unknown" not in item.fields


def test_times_and_durations_convert() -> None:
    (item,), _, _ = decode(
        {
            "event": "payment",
            "customer_id": "c1",
            "timestamp": "2026-01-01T00:00:00Z",
            "properties": {"paid_at": "2026-01-01T01:00:00Z", "wait": "1h30m"},
        }
    )
    assert isinstance(item, Event)
    assert item.fields["paid_at"] - item.timestamp == 3600
    assert item.fields["wait"] == 5400


def test_external_name_maps_to_the_event() -> None:
    document = {
        "event": "Order Completed",
        "customer_id": "c1",
        "timestamp": "2026-01-01T00:00:00Z",
        "properties": {"order_id": "o"},
    }
    (item,), _, _ = decode(document)
    assert isinstance(item, Event) and item.name == "order_completed"
    assert item.id.startswith("sha:")  # no id given: derived from the content


def test_rejections_name_the_problem() -> None:
    cases = {
        b"{not json": "invalid JSON",
        b"[1, 2]": "a line must hold a JSON object",
    }
    for raw, reason in cases.items():
        _, rejected, _ = decode(raw)
        assert rejected and rejected[0].startswith(reason)
    base = {"event": "order_completed", "customer_id": "c1", "timestamp": "2026-01-01T00:00:00Z"}
    expectations = [
        ({**base, "properties": {}}, "order_completed: missing required field 'order_id'"),
        (
            {**base, "properties": {"order_id": "o", "total": "12"}},
            'order_completed.total must be a number, got a string "12"',
        ),
        (
            {**base, "properties": {"order_id": "o", "items": 1.5}},
            "order_completed.items must be an int, got a number 1.5",
        ),
        (
            {**base, "properties": {"order_id": "o", "kind": "tv"}},
            'order_completed.kind must be one of "web" | "app", got \'tv\'',
        ),
        (
            {**base, "event": "payment", "properties": {"paid_at": "yesterday"}},
            "payment.paid_at is not an RFC 3339 time: 'yesterday'",
        ),
        (
            {
                **base,
                "event": "payment",
                "properties": {"paid_at": "2026-01-01T00:00:00Z", "wait": "soon"},
            },
            'payment.wait must be a duration, got a string "soon"',
        ),
        (
            {**base, "timestamp": "01/02/2026", "properties": {"order_id": "o"}},
            "'timestamp' is not an RFC 3339 time: '01/02/2026'",
        ),
        (
            {**base, "customer_id": "", "properties": {"order_id": "o"}},
            "missing 'customer_id' (a non-empty string)",
        ),
        ({"customer_id": "c1"}, "missing 'event' (the event's name)"),
        # Not a Segment call (its type is no Segment type, and a dict crashed the run once):
        ({"type": {}, "customer_id": "c1"}, "missing 'event' (the event's name)"),
        ({"type": ["track"], "customer_id": "c1"}, "missing 'event' (the event's name)"),
    ]
    for document, reason in expectations:
        items, rejected, _ = decode(document)
        assert (items, rejected) == ([], [reason])


def test_unknown_events_are_ignored_unless_strict() -> None:
    document = {"event": "page_viewed", "customer_id": "c1", "timestamp": "2026-01-01T00:00:00Z"}
    assert decode(document) == ([], [], 1)
    assert decode(document, strict=True)[1] == [
        "unknown event 'page_viewed' (no rule set declares it)"
    ]


def test_segment_track_identify_and_batch() -> None:
    track = {
        "type": "track",
        "event": "Order Completed",
        "userId": "u1",
        "messageId": "m1",
        "timestamp": "2026-01-01T00:00:00Z",
        "properties": {"order_id": "o1"},
        "context": {"traits": {"tier": "gold"}},
    }
    (item,), _, _ = decode(track)
    assert isinstance(item, Event)
    assert (item.customer_id, item.id, item.traits) == ("u1", "m1", {"tier": "gold"})
    anonymous = {**track, "userId": None, "anonymousId": "anon-1", "messageId": "m2"}
    assert decode(anonymous)[0][0].customer_id == "anon-1"  # type: ignore[attr-defined]
    identify = {
        "type": "identify",
        "userId": "u1",
        "traits": {"tier": "gold"},
        "timestamp": "2026-01-01T00:00:00Z",
    }
    (update,), _, _ = decode(identify)
    assert isinstance(update, TraitUpdate) and update.traits == {"tier": "gold"}
    batch = {
        "batch": [
            track,
            identify,
            {"type": "page", "userId": "u1"},
            {**track, "messageId": "m3", "properties": {}},
        ]
    }
    items, rejected, ignored = decode(batch)
    assert [type(i).__name__ for i in items] == ["Event", "TraitUpdate"]
    assert ignored == 1
    assert rejected == ["batch item 3: order_completed: missing required field 'order_id'"]


def test_traits_of_the_wrong_type_reject_the_line() -> None:
    base = {"event": "payment", "customer_id": "c1", "timestamp": "2026-01-01T00:00:00Z"}
    properties = {"paid_at": "2026-01-01T00:00:00Z"}
    _, rejected, _ = decode({**base, "properties": properties, "traits": {"tier": "platinum"}})
    assert rejected == ["trait 'tier' must be one of \"basic\" | \"gold\", got 'platinum'"]
    identify = {
        "type": "identify",
        "userId": "u1",
        "timestamp": "2026-01-01T00:00:00Z",
        "traits": {"signup": "yesterday"},
    }
    _, rejected, _ = decode(identify)
    assert rejected == ["trait 'signup' is not an RFC 3339 time: 'yesterday'"]
    _, rejected, _ = decode({**identify, "traits": {"timezone": "Mars/Olympus_Mons"}})
    assert rejected == ["trait 'timezone' is not an IANA time zone: 'Mars/Olympus_Mons'"]
    (update,), rejected, _ = decode({**identify, "traits": {"signup": None, "unsubscribed": True}})
    assert rejected == [] and isinstance(update, TraitUpdate)
    assert update.traits == {"signup": None, "unsubscribed": True}


def test_identify_reads_context_traits_as_rudderstack_sends_them() -> None:
    rudder = {
        "type": "identify",
        "userId": "u1",
        "messageId": "r1",
        "timestamp": "2026-01-01T00:00:00Z",
        "context": {"traits": {"tier": "gold", "signup": "2025-01-01T00:00:00Z"}},
        "traits": {"tier": "basic"},
    }
    (update,), rejected, _ = decode(rudder)
    assert rejected == [] and isinstance(update, TraitUpdate)
    assert update.traits == {"tier": "basic", "signup": 1735689600.0}  # the top level wins
