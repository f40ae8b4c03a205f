"""Event-time behaviour: after, unless, absence windows, quiet hours, end of input."""

from __future__ import annotations

from tests.runtime.helpers import brief, event, graph_of, run

BASE = """
event cart_updated { cart_id: string }
event order_completed from "Order Completed" { cart_id: string = "" }
customer { timezone: string = "UTC" }
channel email, sms
survey cart_exit { channels: email }
"""


def test_after_delays_the_decision_to_its_time() -> None:
    graph = graph_of(BASE + 'rule r when cart_updated then send survey "cart_exit" after 2h')
    decisions, report = run(
        graph,
        [
            event("cart_updated", "c1", "2026-01-01T10:00:00Z", "e1", cart_id="k1"),
            event("cart_updated", "c2", "2026-01-01T13:00:00Z", "e2", cart_id="k2"),
        ],
    )
    # c1's timer (12:00) fires when c2's event (13:00) passes it; c2's (15:00) stays pending.
    assert [(d["customer_id"], d["at"], d["status"]) for d in decisions] == [
        ("c1", "2026-01-01T12:00:00Z", "sent"),
    ]
    assert report.timers_pending == 1
    flushed, _ = run(
        graph,
        [
            event("cart_updated", "c1", "2026-01-01T10:00:00Z", "e1", cart_id="k1"),
        ],
        flush=True,
    )
    assert [d["at"] for d in flushed] == ["2026-01-01T12:00:00Z"]


def test_unless_cancels_a_pending_send_with_correlation() -> None:
    graph = graph_of(
        BASE
        + """
rule r when cart_updated
then send survey "cart_exit" after 2h unless order_completed where cart_id == cart_updated.cart_id
"""
    )
    decisions, _ = run(
        graph,
        [
            event("cart_updated", "c1", "2026-01-01T10:00:00Z", "e1", cart_id="k1"),
            event("order_completed", "c1", "2026-01-01T11:00:00Z", "o1", cart_id="other"),
            event("cart_updated", "c2", "2026-01-01T10:00:00Z", "e2", cart_id="k2"),
            event("order_completed", "c2", "2026-01-01T11:00:00Z", "o2", cart_id="k2"),
        ],
        flush=True,
    )
    assert [(d["customer_id"], d["status"]) for d in decisions] == [
        ("c2", "cancelled"),
        ("c1", "sent"),
    ]
    assert decisions[0]["reason"] == "unless order_completed: it arrived at 2026-01-01T11:00:00Z"


def test_absence_fires_only_without_a_matching_event_in_the_window() -> None:
    graph = graph_of(
        BASE
        + """
rule abandoned when cart_updated
    and no order_completed where cart_id == cart_updated.cart_id within 1h
then send survey "cart_exit"
"""
    )
    decisions, _ = run(
        graph,
        [
            event("cart_updated", "c1", "2026-01-01T10:00:00Z", "e1", cart_id="k1"),
            event("cart_updated", "c2", "2026-01-01T10:00:00Z", "e2", cart_id="k2"),
            event(
                "order_completed", "c2", "2026-01-01T11:00:00Z", "o2", cart_id="k2"
            ),  # at the edge
            event("cart_updated", "c3", "2026-01-01T10:00:00Z", "e3", cart_id="k3"),
            event("order_completed", "c3", "2026-01-01T10:30:00Z", "o3", cart_id="other"),
            event("cart_updated", "c9", "2026-01-01T12:00:00Z", "e9", cart_id="k9"),
        ],
    )
    assert [(d["customer_id"], d["at"]) for d in decisions] == [
        ("c1", "2026-01-01T11:00:00Z"),
        ("c3", "2026-01-01T11:00:00Z"),
    ]


def test_delayed_send_rechecks_the_policy_at_send_time() -> None:
    graph = graph_of(
        BASE
        + """
policy { limit 1 contact per 30d }
rule later when cart_updated then send survey "cart_exit" after 2h
rule now when order_completed then send survey "cart_exit"
"""
    )
    decisions, _ = run(
        graph,
        [
            event("cart_updated", "c1", "2026-01-01T10:00:00Z", "e1", cart_id="k1"),
            event("order_completed", "c1", "2026-01-01T11:00:00Z", "o1"),
        ],
        flush=True,
    )
    assert brief(decisions) == [
        ("now", "c1", "send_survey", "email", "sent"),
        ("later", "c1", "send_survey", None, "suppressed"),
    ]
    assert decisions[1]["at"] == "2026-01-01T12:00:00Z"


def test_delayed_send_rechecks_conditions_at_send_time() -> None:
    graph = graph_of(
        BASE
        + """
rule later when cart_updated and last_contact > 30d then send survey "cart_exit" after 2h
rule now when order_completed then send survey "cart_exit"
"""
    )
    decisions, _ = run(
        graph,
        [
            event("cart_updated", "c1", "2026-01-01T10:00:00Z", "e1", cart_id="k1"),
            event("order_completed", "c1", "2026-01-01T11:00:00Z", "o1"),
        ],
        flush=True,
    )
    assert decisions[1]["status"] == "suppressed"
    assert decisions[1]["reason"] == "condition no longer holds: last_contact > 30d"


def test_quiet_hours_defer_to_the_end_of_the_window_in_local_time() -> None:
    graph = graph_of(
        BASE
        + """
policy { quiet hours 21:00 to 09:00 }
rule r when cart_updated then send survey "cart_exit"
"""
    )
    late_evening = event("cart_updated", "c1", "2026-01-10T18:30:00Z", "e1", cart_id="k")
    late_evening["traits"] = {"timezone": "Europe/Moscow"}  # 21:30 in Moscow (UTC+3)
    decisions, _ = run(graph, [late_evening], flush=True)
    assert [(d["status"], d["at"]) for d in decisions] == [
        ("deferred", "2026-01-10T18:30:00Z"),
        ("sent", "2026-01-11T06:00:00Z"),  # 09:00 in Moscow
    ]
    assert decisions[0]["reason"] == "quiet hours 21:00 to 09:00: deferred to 2026-01-11T06:00:00Z"


def test_quiet_hours_use_the_declared_default_time_zone() -> None:
    rules = BASE.replace('timezone: string = "UTC"', 'timezone: string = "America/Sao_Paulo"')
    graph = graph_of(
        rules
        + "policy { quiet hours 22:00 to 08:00 }\n"
        + 'rule r when cart_updated then send survey "cart_exit"'
    )
    at_night = event("cart_updated", "c1", "2026-01-10T02:00:00Z", "e1", cart_id="k")  # 23:00
    decisions, _ = run(graph, [at_night], flush=True)
    assert [(d["status"], d["at"]) for d in decisions] == [
        ("deferred", "2026-01-10T02:00:00Z"),
        ("sent", "2026-01-10T11:00:00Z"),  # 08:00 in Sao Paulo (UTC-3)
    ]


def test_until_advances_the_clock_after_the_input() -> None:
    graph = graph_of(BASE + 'rule r when cart_updated then send survey "cart_exit" after 1d')
    events = [event("cart_updated", "c1", "2026-01-01T10:00:00Z", "e1", cart_id="k1")]
    assert run(graph, events, until=None)[0] == []
    decisions, _ = run(graph, events, until=1767348000.0)  # 2026-01-02T10:00:00Z
    assert [d["at"] for d in decisions] == ["2026-01-02T10:00:00Z"]


def test_window_ends_are_inclusive_for_absence_and_unless() -> None:
    """An event exactly at the end of the window still counts: `within 1h` includes 1h."""
    absence = graph_of(
        BASE
        + 'rule r when cart_updated and no order_completed within 1h then send survey "cart_exit"'
    )
    unless = graph_of(
        BASE
        + 'rule r when cart_updated then send survey "cart_exit" after 1h unless order_completed'
    )
    events = [
        event("cart_updated", "c1", "2026-01-01T10:00:00Z", "e1", cart_id="k"),
        event("order_completed", "c1", "2026-01-01T11:00:00Z", "o1"),
        event("cart_updated", "c2", "2026-01-01T10:00:00Z", "e2", cart_id="k"),
        event("order_completed", "c2", "2026-01-01T11:00:01Z", "o2"),
    ]
    assert brief(run(absence, events, flush=True)[0]) == [
        ("r", "c2", "send_survey", "email", "sent"),
    ]
    assert brief(run(unless, events, flush=True)[0]) == [
        ("r", "c1", "send_survey", None, "cancelled"),
        ("r", "c2", "send_survey", "email", "sent"),
    ]


def test_timers_due_together_fire_in_arbitration_order() -> None:
    graph = graph_of(
        BASE
        + """
survey sms_survey { channels: sms }
policy { limit 1 contact per 7d }
rule low when cart_updated and no order_completed within 1h then send survey "cart_exit"
rule high priority 5 when cart_updated and no order_completed within 1h
then send survey "sms_survey"
"""
    )
    events = [event("cart_updated", "c1", "2026-01-01T10:00:00Z", "e1", cart_id="k")]
    assert brief(run(graph, events, flush=True)[0]) == [
        ("high", "c1", "send_survey", "sms", "sent"),
        ("low", "c1", "send_survey", None, "suppressed"),
    ]


def test_late_events_are_counted_and_never_reopen_a_fired_window() -> None:
    graph = graph_of(
        BASE
        + 'rule r when cart_updated and no order_completed within 1h then send survey "cart_exit"'
    )
    events = [
        event("cart_updated", "c1", "2026-01-01T10:00:00Z", "e1", cart_id="k"),
        event("cart_updated", "c1", "2026-01-01T12:00:00Z", "e2", cart_id="k2"),  # fires e1's
        event("order_completed", "c1", "2026-01-01T10:30:00Z", "o1"),  # late: 1h30 behind
    ]
    decisions, report = run(graph, events, flush=True)
    # e1's window closed at 11:00 with no order: the late order (10:30) does not take the
    # survey back; it is before e2's window, so e2's survey goes out too.
    assert [(d["trigger"]["id"], d["status"], d["at"]) for d in decisions] == [
        ("e1", "sent", "2026-01-01T11:00:00Z"),
        ("e2", "sent", "2026-01-01T13:00:00Z"),
    ]
    assert report.late == 1
    _, tolerant = run(graph, events, flush=True, allowed_lateness=2 * 3600.0)
    assert tolerant.late == 0


def test_a_send_waiting_for_quiet_hours_is_cancelled_by_an_event_its_absence_forbids() -> None:
    graph = graph_of(
        BASE
        + "policy { quiet hours 21:00 to 09:00 }\n"
        + "rule reminder when cart_updated and no order_completed within 1h\n"
        + 'then send survey "cart_exit"\n'
    )
    events = [
        event("cart_updated", "c1", "2026-01-01T20:30:00Z", "e1", cart_id="k"),
        event("cart_updated", "c2", "2026-01-01T20:30:00Z", "e2", cart_id="k"),
        # The windows close at 21:30, inside the quiet hours: the sends wait for 09:00.
        event("order_completed", "c1", "2026-01-01T23:00:00Z", "o1"),
    ]
    decisions, _ = run(graph, events, flush=True)
    assert [(d["customer_id"], d["status"], d["at"]) for d in decisions] == [
        ("c1", "deferred", "2026-01-01T21:30:00Z"),
        ("c2", "deferred", "2026-01-01T21:30:00Z"),
        ("c1", "cancelled", "2026-01-01T23:00:00Z"),
        ("c2", "sent", "2026-01-02T09:00:00Z"),
    ]
    assert decisions[2]["reason"] == (
        "no order_completed within 1h: order_completed arrived at 2026-01-01T23:00:00Z, "
        "before the quiet hours ended"
    )
