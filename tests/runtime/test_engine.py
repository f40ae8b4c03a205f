"""The engine: conditions, arbitration, the policy gate, actions, decisions."""

from __future__ import annotations

from fbdsl.runtime.ledger.memory import MemoryLedger
from tests.runtime.helpers import brief, event, graph_of, run

BASE = """
event cart_abandoned { cart_id: string  total: number }
event order_completed from "Order Completed" { cart_id: string = ""  total: number = 0 }
event unsubscribed { channel: string = "all" }
customer { tier: "basic" | "premium" = "basic"  age: int }
channel email, sms, popup
team support
survey cart_exit { channels: email, popup  cooldown: 90d }
survey nps { channels: email, sms }
"""


def test_the_brief_one_liner_sends_then_respects_last_contact() -> None:
    graph = graph_of(
        BASE + 'when cart_abandoned and last_contact > 30d then send survey "nps"'
        "\npolicy { one channel per contact }"
    )
    decisions, _ = run(
        graph,
        [
            event("cart_abandoned", "c1", "2026-01-01T10:00:00Z", "e1", cart_id="k", total=10),
            event("cart_abandoned", "c1", "2026-01-20T10:00:00Z", "e2", cart_id="k", total=10),
            event("cart_abandoned", "c1", "2026-02-15T10:00:00Z", "e3", cart_id="k", total=10),
        ],
    )
    assert brief(decisions) == [
        ("rules.fbdsl:10", "c1", "send_survey", "email", "sent"),
        ("rules.fbdsl:10", "c1", "send_survey", "email", "sent"),
    ]
    assert [d["trigger"]["id"] for d in decisions] == ["e1", "e3"]
    assert decisions[0]["at"] == "2026-01-01T10:00:00Z"


def test_priority_arbitration_lets_only_the_highest_take_the_slot() -> None:
    graph = graph_of(
        BASE
        + """
policy { limit 1 contact per 30d  one channel per contact }
rule low priority 1 when cart_abandoned then send survey "nps"
rule high priority 5 when cart_abandoned where total > 10 then send survey "cart_exit"
rule same_as_low priority 1 when cart_abandoned then send survey "nps" via sms
"""
    )
    decisions, _ = run(
        graph,
        [
            event("cart_abandoned", "c1", "2026-01-02T09:00:00Z", "e1", cart_id="k", total=50),
        ],
    )
    assert brief(decisions) == [
        ("high", "c1", "send_survey", "email", "sent"),
        ("low", "c1", "send_survey", None, "suppressed"),
        ("same_as_low", "c1", "send_survey", None, "suppressed"),
    ]
    assert decisions[1]["reason"] == (
        "limit 1 contact per 30d: last contact 2026-01-02T09:00:00Z (rule high)"
    )


def test_opt_out_always_wins_and_per_channel_opt_out_falls_back() -> None:
    graph = graph_of(BASE + 'rule r when cart_abandoned then send survey "nps" via sms or email')
    decisions, _ = run(
        graph,
        [
            event("unsubscribed", "c1", "2026-01-01T00:00:00Z", "u1"),
            event("cart_abandoned", "c1", "2026-01-02T00:00:00Z", "e1", cart_id="k", total=1),
            event("unsubscribed", "c2", "2026-01-01T00:00:00Z", "u2", channel="sms"),
            event("cart_abandoned", "c2", "2026-01-02T00:00:00Z", "e2", cart_id="k", total=1),
        ],
    )
    assert brief(decisions) == [
        ("r", "c1", "send_survey", None, "suppressed"),
        ("r", "c2", "send_survey", "email", "sent"),
    ]
    assert decisions[0]["reason"] == "opted out of all contact"
    assert decisions[1]["reason"] == "fallback after sms: opted out of sms"


def test_send_without_via_and_without_one_channel_policy_goes_to_every_channel() -> None:
    graph = graph_of(
        BASE
        + """
policy { limit 2 contacts per 7d  limit 1 contact per 7d via sms }
rule blast when cart_abandoned then send survey "nps"
"""
    )
    decisions, _ = run(
        graph,
        [
            event("cart_abandoned", "c1", "2026-01-02T00:00:00Z", "e1", cart_id="k", total=1),
            event("cart_abandoned", "c2", "2026-01-02T00:00:00Z", "e2", cart_id="k", total=1),
            event("cart_abandoned", "c2", "2026-01-03T00:00:00Z", "e3", cart_id="k", total=1),
        ],
    )
    assert brief(decisions) == [
        ("blast", "c1", "send_survey", "email", "sent"),
        ("blast", "c1", "send_survey", "sms", "sent"),
        ("blast", "c2", "send_survey", "email", "sent"),
        ("blast", "c2", "send_survey", "sms", "sent"),
        ("blast", "c2", "send_survey", None, "suppressed"),
    ]
    assert decisions[-1]["reason"].startswith("limit 2 contacts per 7d: last contact")


def test_cooldown_names_the_last_send() -> None:
    graph = graph_of(BASE + 'rule r when cart_abandoned then send survey "cart_exit" via email')
    decisions, _ = run(
        graph,
        [
            event("cart_abandoned", "c1", "2026-01-01T00:00:00Z", "e1", cart_id="k", total=1),
            event("cart_abandoned", "c1", "2026-02-01T00:00:00Z", "e2", cart_id="k", total=1),
            event("cart_abandoned", "c1", "2026-04-02T00:00:00Z", "e3", cart_id="k", total=1),
        ],
    )
    assert [d["status"] for d in decisions] == ["sent", "suppressed", "sent"]
    assert decisions[1]["reason"] == "cooldown 90d of cart_exit: last sent 2026-01-01T00:00:00Z"


def test_traits_enums_and_missing_traits() -> None:
    graph = graph_of(
        BASE
        + """
rule premium when cart_abandoned where customer.tier == "premium" then tag "p"
rule adult when cart_abandoned where customer.age >= 18 then tag "adult"
"""
    )
    with_traits = event("cart_abandoned", "c1", "2026-01-01T00:00:00Z", "e1", cart_id="k", total=1)
    with_traits["traits"] = {"tier": "premium", "age": 30}
    decisions, _ = run(
        graph,
        [
            with_traits,
            event("cart_abandoned", "c2", "2026-01-01T00:00:00Z", "e2", cart_id="k", total=1),
        ],
    )
    # c2 has no age: a comparison with a missing trait is false, not an error.
    assert brief(decisions) == [
        ("premium", "c1", "tag", None, "sent"),
        ("adult", "c1", "tag", None, "sent"),
    ]


def test_history_predicates_count_since_first_time() -> None:
    graph = graph_of(
        BASE
        + """
rule first when order_completed and first_time then tag "first"
rule third when order_completed where count(order_completed where total > 10 within 30d) >= 3
then tag "loyal"
rule quick when order_completed and since(order_completed) < 1h then tag "quick"
"""
    )
    decisions, _ = run(
        graph,
        [
            event("order_completed", "c1", "2026-01-01T00:00:00Z", "o1", total=20),
            event("order_completed", "c1", "2026-01-01T00:30:00Z", "o2", total=5),
            event("order_completed", "c1", "2026-01-05T00:00:00Z", "o3", total=20),
            event("order_completed", "c1", "2026-01-09T00:00:00Z", "o4", total=20),
            event("order_completed", "c1", "2026-03-01T00:00:00Z", "o5", total=20),
        ],
    )
    assert [(d["rule"], d["trigger"]["id"]) for d in decisions] == [
        ("first", "o1"),
        ("quick", "o2"),
        ("third", "o4"),
    ]


def test_held_out_and_sampled_out_customers_are_recorded_not_contacted() -> None:
    graph = graph_of(
        BASE
        + """
policy { one channel per contact }
rule r sample 50% holdout 50% when cart_abandoned then send survey "nps"
"""
    )
    events = [
        event("cart_abandoned", f"c{i}", "2026-01-01T00:00:00Z", f"e{i}", cart_id="k", total=1)
        for i in range(200)
    ]
    decisions, _ = run(graph, events)
    statuses = [d["status"] for d in decisions]
    assert len(decisions) == 200
    assert 60 < statuses.count("suppressed") < 140  # outside the 50% sample
    assert 20 < statuses.count("held_out") < 80
    assert statuses.count("sent") + statuses.count("held_out") + statuses.count("suppressed") == 200
    sampled_out = next(d for d in decisions if d["status"] == "suppressed")
    assert sampled_out["reason"] == "sample 50%: the customer is outside the sample"
    again, _ = run(graph, events)
    assert again == decisions  # deterministic by hash(rule, customer)


def test_a_held_out_contact_takes_the_slot_so_no_other_rule_reaches_the_control_group() -> None:
    graph = graph_of(
        BASE
        + """
policy { limit 1 contact per 30d  one channel per contact }
rule treated priority 5 holdout 50% when cart_abandoned then send survey "nps"
rule fallback priority 1 when cart_abandoned then send survey "cart_exit"
"""
    )
    events = [
        event("cart_abandoned", f"c{i}", "2026-01-01T00:00:00Z", f"e{i}", cart_id="k", total=1)
        for i in range(40)
    ]
    decisions, _ = run(graph, events)
    held = {d["customer_id"] for d in decisions if d["status"] == "held_out"}
    assert 5 < len(held) < 35
    assert not [d for d in decisions if d["customer_id"] in held and d["status"] == "sent"]
    control = next(d for d in decisions if d["rule"] == "fallback" and d["customer_id"] in held)
    assert control["status"] == "suppressed"
    assert control["reason"].endswith("(rule treated, held out)")
    ghost = next(d for d in decisions if d["status"] == "held_out")
    assert ghost["reason"] == "holdout 50%: control group, not sent"
    assert ghost["channel"] == "email"


def test_task_decision_names_team_due_and_notes() -> None:
    graph = graph_of(
        BASE
        + """
rule callback when cart_abandoned where total > 100
then create task "call back" for support due 4h with amount = total * 2, cart = cart_id
"""
    )
    decisions, _ = run(
        graph,
        [
            event("cart_abandoned", "c1", "2026-01-01T10:00:00Z", "e1", cart_id="k9", total=150),
        ],
    )
    (task,) = decisions
    assert task["action"] == "create_task" and task["status"] == "sent"
    assert (task["team"], task["due"]) == ("support", "2026-01-01T14:00:00Z")
    assert task["notes"] == {"amount": 300, "cart": "k9"}


def test_modes_switch_policy_and_rules() -> None:
    rules = (
        BASE
        + """
policy { limit 1 contact per 30d  one channel per contact }
mode crisis { policy { limit 1 contact per 1d  one channel per contact } }
rule always when cart_abandoned then send survey "nps"
rule apology in mode crisis when order_completed then send survey "nps" via sms
"""
    )
    graph = graph_of(rules)
    events = [
        event("cart_abandoned", "c1", "2026-01-01T00:00:00Z", "e1", cart_id="k", total=1),
        event("cart_abandoned", "c1", "2026-01-03T00:00:00Z", "e2", cart_id="k", total=1),
        event("order_completed", "c1", "2026-01-05T00:00:00Z", "o1"),
    ]
    default, _ = run(graph, events)
    crisis, _ = run(graph, events, mode="crisis")
    assert [d["status"] for d in default] == ["sent", "suppressed"]
    assert [(d["rule"], d["status"]) for d in crisis] == [
        ("always", "sent"),
        ("always", "sent"),
        ("apology", "sent"),
    ]
    assert {d["mode"] for d in crisis} == {"crisis"}


def test_decisions_are_byte_identical_across_runs() -> None:
    graph = graph_of(BASE + 'when cart_abandoned then send survey "nps" via email')
    events = [
        event(
            "cart_abandoned",
            f"c{i % 7}",
            f"2026-01-{1 + i % 28:02d}T00:00:00Z",
            f"e{i}",
            cart_id="k",
            total=i,
        )
        for i in range(50)
    ]
    assert run(graph, events)[0] == run(graph, events)[0]


def test_events_nothing_reads_are_ignored_and_not_remembered_but_traits_are_deduplicated() -> None:
    graph = graph_of(BASE + 'rule r when cart_abandoned then send survey "nps" via email')
    ledger = MemoryLedger()
    identify = {
        "type": "identify",
        "userId": "c1",
        "messageId": "i1",
        "timestamp": "2026-01-01T00:00:00Z",
        "traits": {"tier": "premium"},
    }
    events = [
        event("order_completed", "c1", "2026-01-01T00:00:00Z", "o1"),  # declared, unread
        identify,
        event("cart_abandoned", "c1", "2026-01-02T00:00:00Z", "e1", cart_id="k", total=1),
    ]
    first, report = run(graph, events, ledger)
    assert (report.events, report.ignored, report.trait_updates) == (1, 1, 1)
    assert ledger.seen_ids == {"i1", "e1"}
    again, report = run(graph, events, ledger)
    assert again == [] and (report.duplicates, report.ignored) == (2, 1)
    assert ledger.states["c1"].traits == {"tier": "premium"}
    assert len(first) == 1


def test_events_whose_fields_no_rule_accepts_are_ignored_unless_something_else_reads_them() -> None:
    """An event whose only use is to trigger rules, and whose own fields pass no rule's
    field tests, can change nothing: it is ignored and not remembered, as an event nothing
    reads. Not so with traits aboard, for an event some history or `since` reads, for a
    type with a rule that has no field test, or for a line that is invalid (rejected)."""
    rules = """
rule big when cart_abandoned where total > 100 and cart_id != "x" then send survey "nps"
rule other when cart_abandoned where total > 50 and customer.tier == "premium"
    then tag "other"
rule refund when order_completed where total > 10 and count(order_completed within 30d) >= 2
    then tag "repeat"
"""
    graph = graph_of(BASE + rules)
    ledger = MemoryLedger()
    small = event("cart_abandoned", "c1", "2026-01-01T00:00:00Z", "a1", cart_id="k", total=20)
    with_traits = {**small, "id": "a2", "traits": {"tier": "premium"}}
    bad = {**small, "id": "a3", "properties": {"cart_id": "k"}}  # missing its total
    middling = event("cart_abandoned", "c1", "2026-01-01T01:00:00Z", "a4", cart_id="k", total=60)
    cheap_order = event("order_completed", "c1", "2026-01-01T02:00:00Z", "o1", total=1)
    events = [small, with_traits, bad, middling, cheap_order]
    decisions, report = run(graph, events, ledger)
    assert (report.events, report.ignored, report.rejected) == (3, 1, 1)
    assert ledger.seen_ids == {"a2", "a4", "o1"}  # a1 is not remembered
    assert ledger.states["c1"].traits == {"tier": "premium"}  # its traits were kept
    assert [len(x) for x in ledger.states["c1"].history.values()] == [1]  # o1 counted
    assert brief(decisions) == [("other", "c1", "tag", None, "sent")]
    again, report = run(graph, events, ledger)
    assert again == [] and (report.duplicates, report.ignored, report.rejected) == (3, 1, 1)

    # A rule with no field test: every event of its type may match, none is ignored.
    graph = graph_of(BASE + rules + 'rule any when cart_abandoned then tag "seen"')
    decisions, report = run(graph, [small])
    assert (report.events, report.ignored) == (1, 0)
    assert brief(decisions) == [("any", "c1", "tag", None, "sent")]
