"""The W1 rules with rule-engine (https://zeroSteiner.github.io/rule-engine/) as the peer.

    python bench/w1/peer_rule_engine.py --events bench/data/w1.jsonl --out /tmp/re.jsonl

rule-engine is a predicate library: a `rule_engine.Rule` is a condition in its own
expression language, evaluated against a Python object (here a dict) with `matches()`. The
conditions of the five rules are written as such rules; everything a predicate library does
not do is Python around them, as its documentation intends: the per-customer state the
conditions read (tier, whether the order is the first, the orders of the last 90 days,
exposed to the rules as `tier`, `first_time` and `orders_90d`), dispatch on the event type,
arbitration by priority then file order, and the `limit 1 contact per 30d` policy.

The decisions are the engine's (see handwritten.py for the semantics); the runner checks it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import IO

import orjson
import rule_engine
from common import (  # bench/w1/common.py: run as a script, its directory is on the path
    CONTACT_WINDOW,
    DECLARED,
    LOYAL_WINDOW,
    TRIGGERS,
    canonical_time,
    decision_line,
    derived_event_id,
    limit_reason,
    main,
    parse_time,
)

# (name, priority, trigger, condition, action, target), in file order.
RULES = (
    ("big_order_nps", 10, "order_completed", "total >= 100", "send_survey", "order_nps"),
    ("first_order_csat", 8, "order_completed", "first_time", "send_survey", "welcome_csat"),
    ("refund_ces", 9, "order_refunded", "total > 20", "send_survey", "refund_ces"),
    ("loyal_tag", 0, "order_completed", "orders_90d >= 3", "tag", "loyal"),
    (
        "premium_checkout",
        1,
        "checkout_started",
        'total > 150 and tier == "premium"',
        "send_survey",
        "checkout_exit",
    ),
)


def compile_rules() -> dict[str, list[tuple[str, rule_engine.Rule, str, str]]]:
    """Rules by trigger, in arbitration order: priority (highest first), then file order."""
    by_trigger: dict[str, list[tuple[str, rule_engine.Rule, str, str]]] = {}
    ordered = sorted(enumerate(RULES), key=lambda item: (-item[1][1], item[0]))
    for _, (name, _priority, trigger, condition, action, target) in ordered:
        by_trigger.setdefault(trigger, []).append(
            (name, rule_engine.Rule(condition), action, target)
        )
    return by_trigger


def decide(lines: Iterator[bytes], out: IO[bytes]) -> int:
    by_trigger = compile_rules()
    seen: set[str] = set()
    tiers: dict[str, object] = {}
    last_contact: dict[str, tuple[float, str, str]] = {}  # customer -> (at, at text, rule)
    orders: dict[str, deque[float]] = {}  # customer -> order times in the last 90 days
    decided = 0
    for raw in lines:
        document = orjson.loads(raw)
        event = document["event"]
        traits = document.get("traits")
        if event not in TRIGGERS and not (traits and event in DECLARED):
            continue  # nothing reads it
        eid = document.get("id") or derived_event_id(document)
        if eid in seen:
            continue
        seen.add(eid)
        customer = document["customer_id"]
        if traits and "tier" in traits:
            tiers[customer] = traits["tier"]
        rules = by_trigger.get(event)
        if rules is None:
            continue
        stamp = document["timestamp"]
        t = parse_time(stamp)
        at = canonical_time(stamp, t)
        facts = dict(document["properties"])
        facts["tier"] = tiers.get(customer, "basic")
        if event == "order_completed":
            history = orders.get(customer)
            facts["first_time"] = history is None
            if history is None:
                history = orders[customer] = deque()
            history.append(t)
            while history[0] <= t - LOYAL_WINDOW:
                history.popleft()
            facts["orders_90d"] = len(history)
        for name, rule, action, target in rules:
            if not rule.matches(facts):
                continue
            channel, status, reason = None, "sent", None
            if action == "send_survey":
                held = last_contact.get(customer)
                if held is not None and held[0] > t - CONTACT_WINDOW:
                    status, reason = "suppressed", limit_reason(held[1], held[2])
                else:
                    last_contact[customer] = (t, at, name)
                    channel = "email"
            out.write(
                decision_line(
                    name, customer, action, target, channel, status, reason, event, eid, at
                )
            )
            decided += 1
    return decided


if __name__ == "__main__":
    main("rule-engine", decide)
