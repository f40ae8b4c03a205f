"""The W2 rules written directly in plain Python with a heap of timers: the ceiling.

    python bench/w2/handwritten.py --events bench/data/w2.jsonl --out /tmp/handwritten.jsonl

What a competent engineer would write for exactly this job: one pass over the file, a
`heapq` of pending timers, a few dicts keyed by customer, no framework, no persistence, no
schema validation. It keeps only what the rules and the policy read: the customer's time
zone, the last contact (with `limit 1 contact per 30d` and one channel per contact, the
last contact is the whole contact log that matters), the timers an order may cancel, and
the ids of the events it read (like the engine, it forgets events nothing reads).

Semantics, as bench/w2/rules.fbdsl and docs/running.md define them:
- A heap entry is `[due, rank, customer, action, timer id, kind, trigger, alive]`: timers
  fire in (time, arbitration rank, customer, action, id) order, before the event whose time
  passes them (a timer due exactly at an event's time fires after it: the `unless` and
  `no ... within` windows include their end); at the end of input the clock moves to the
  latest time of the events read, and the timers due then fire. A cancelled timer is
  marked dead and skipped when it comes up (lazy deletion).
- order_csat: an order of 50 or more, when the last contact is older than 14 days, sets a
  1-day timer; when it fires, `last_contact > 14d` is checked again (`condition no longer
  holds`), then the policy.
- cart_rescue: a checkout of 100 or more opens a 1-hour absence window, closed silently by
  an order with the same checkout id in (checkout, checkout + 1h]; when it passes, the
  reminder goes through the policy (push, the message's first channel).
- cart_exit: every checkout sets a 2-hour timer, cancelled (a `cancelled` decision) by an
  order with the same checkout id while it is pending, deferred or not.
- big_basket: a checkout of 300 or more creates a task at once.
- The policy: the 30-day limit (refusals name the contact holding the slot), then quiet
  hours in the customer's zone (the `timezone` trait, else UTC): a send in 21:00-09:00 is
  `deferred` to 09:00 local (DST-correct) by a new timer, and checked again then.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import IO, Any

import orjson
from shared import (  # bench/w2/shared.py: run as a script, its directory is on the path
    CONTACT_WINDOW,
    CSAT_DELAY,
    CSAT_QUIET_CONTACT,
    CSAT_TEST,
    DECLARED,
    EXIT_DELAY,
    QUIET_TEXT,
    RANK,
    READ,
    RESCUE_TEXT,
    RESCUE_WINDOW,
    TASK_DUE,
    canonical_time,
    decision,
    decision_id,
    derived_event_id,
    format_time,
    limit_reason,
    main,
    parse_time,
    quiet_until,
)

SEND, ABSENCE, QUIET = "send", "absence", "quiet"
RULE_BY_RANK = {rank: rule for rule, rank in RANK.items()}
TARGETS = {  # rule -> (action, target, channel)
    "order_csat": ("send_survey", "order_csat", "email"),
    "cart_rescue": ("send_message", "cart_reminder", "push"),
    "cart_exit": ("send_survey", "cart_exit", "email"),
}
DUE, ALIVE, TRIGGER = 0, 7, 6  # places in a heap entry
Trigger = tuple[str, str, str, dict[str, Any], float]  # event, id, time text, properties, time


def decide(lines: Iterator[bytes], out: IO[bytes]) -> tuple[int, int]:
    loads = orjson.loads
    heappush, heappop = heapq.heappush, heapq.heappop
    seen: set[str] = set()
    zones: dict[str, str] = {}
    last_contact: dict[str, tuple[float, str]] = {}  # customer -> (at, rule)
    watched: dict[str, dict[str, list[Any]]] = {}  # customer -> timers an order may cancel
    heap: list[list[Any]] = []
    written: list[bytes] = []
    clock = float("-inf")

    def schedule(due: float, rule: str, customer: str, action: int, tid: str, kind: str,
                 trigger: Trigger) -> None:  # fmt: skip
        entry = [due, RANK[rule], customer, action, tid, kind, trigger, True]
        heappush(heap, entry)
        if rule != "order_csat":
            watched.setdefault(customer, {})[tid] = entry

    def send(rule: str, customer: str, trigger: Trigger, now: float) -> None:
        action, target, channel = TARGETS[rule]
        head = trigger[:4]
        held = last_contact.get(customer)
        if held is not None and now - CONTACT_WINDOW < held[0] <= now:
            did = decision_id(rule, customer, trigger[1], 0, "", "")
            written.append(decision(did, now, rule, customer, action, target, None,
                                    "suppressed", limit_reason(*held), head))  # fmt: skip
            return
        end = quiet_until(zones.get(customer, "UTC"), now)
        if end is not None:
            did = decision_id(rule, customer, trigger[1], 0, "", f"deferred:{now}")
            reason = f"{QUIET_TEXT}: deferred to {format_time(end)}"
            written.append(decision(did, now, rule, customer, action, target, None,
                                    "deferred", reason, head))  # fmt: skip
            tid = decision_id("quiet", rule, customer, trigger[1], 0, now)
            schedule(end, rule, customer, 0, tid, QUIET, trigger)
            return
        did = decision_id(rule, customer, trigger[1], 0, channel, "")
        written.append(decision(did, now, rule, customer, action, target, channel, "sent",
                                None, head))  # fmt: skip
        last_contact[customer] = (now, rule)

    def fire(entry: list[Any]) -> None:
        due, rank, customer, _, tid, _, trigger, _ = entry
        rule = RULE_BY_RANK[rank]
        mine = watched.get(customer)
        if mine is not None and mine.pop(tid, None) is not None and not mine:
            del watched[customer]
        if rule == "order_csat":
            held = last_contact.get(customer)
            if held is not None and due - held[0] <= CSAT_QUIET_CONTACT:
                did = decision_id(rule, customer, trigger[1], 0, "", "")
                written.append(decision(did, due, rule, customer, "send_survey", "order_csat",
                                        None, "suppressed",
                                        f"condition no longer holds: {CSAT_TEST}",
                                        trigger[:4]))  # fmt: skip
                return
        send(rule, customer, trigger, due)

    def advance(until: float, inclusive: bool) -> None:
        while heap:
            due = heap[0][DUE]
            if due > until or (due == until and not inclusive):
                return
            entry = heappop(heap)
            if entry[ALIVE]:
                fire(entry)

    def order_arrived(customer: str, checkout_id: str, t: float) -> None:
        """Cancel the cart_exit sends and close the cart_rescue windows of its checkout."""
        mine = watched[customer]
        for entry in sorted(mine.values()):
            trigger = entry[TRIGGER]
            if trigger[3]["checkout_id"] != checkout_id:
                continue
            if entry[5] == ABSENCE:
                if not trigger[4] < t <= trigger[4] + RESCUE_WINDOW:
                    continue
            elif RULE_BY_RANK[entry[1]] == "cart_rescue":  # waiting for the quiet hours
                if not trigger[4] < t:
                    continue
                did = decision_id("cart_rescue", customer, trigger[1], 0, "", "cancelled")
                reason = (
                    f"{RESCUE_TEXT}: order_completed arrived at {format_time(t)}, "
                    "before the quiet hours ended"
                )
                written.append(decision(did, t, "cart_rescue", customer, "send_message",
                                        "cart_reminder", None, "cancelled", reason,
                                        trigger[:4]))  # fmt: skip
            else:
                did = decision_id("cart_exit", customer, trigger[1], 0, "", "cancelled")
                reason = f"unless order_completed: it arrived at {format_time(t)}"
                written.append(decision(did, t, "cart_exit", customer, "send_survey",
                                        "cart_exit", None, "cancelled", reason,
                                        trigger[:4]))  # fmt: skip
            entry[ALIVE] = False
            del mine[entry[4]]
        if not mine:
            del watched[customer]

    decided = 0
    for raw in lines:
        document = loads(raw)
        event = document["event"]
        traits = document.get("traits")
        if event not in READ and not (traits and event in DECLARED):
            continue  # nothing reads it
        stamp = document["timestamp"]
        t = parse_time(stamp)
        if heap and heap[0][DUE] < t:
            advance(t, inclusive=False)
        eid = document.get("id") or derived_event_id(document)
        if eid in seen:
            continue
        seen.add(eid)
        if t > clock:
            clock = t
        customer = document["customer_id"]
        if traits and "timezone" in traits:
            zone = traits["timezone"]
            if zone is None:
                zones.pop(customer, None)
            else:
                zones[customer] = zone
        if event == "order_completed":
            props = document["properties"]
            checkout_id = props.get("checkout_id", "")
            if customer in watched:
                order_arrived(customer, checkout_id, t)
            total = props["total"]
            held = last_contact.get(customer)
            if total >= 50 and (held is None or t - held[0] > CSAT_QUIET_CONTACT):
                eid_text = canonical_time(stamp, t)
                properties = {"order_id": props["order_id"], "checkout_id": checkout_id,
                              "total": total}  # fmt: skip
                trigger = (event, eid, eid_text, properties, t)
                tid = decision_id("send", "order_csat", customer, eid, 0)
                schedule(t + CSAT_DELAY, "order_csat", customer, 0, tid, SEND, trigger)
        elif event == "checkout_started":
            props = document["properties"]
            total = props["total"]
            properties = {"checkout_id": props["checkout_id"], "total": total}
            trigger = (event, eid, canonical_time(stamp, t), properties, t)
            if total >= 100:
                tid = decision_id("absence", "cart_rescue", customer, eid)
                schedule(t + RESCUE_WINDOW, "cart_rescue", customer, -1, tid, ABSENCE, trigger)
            tid = decision_id("send", "cart_exit", customer, eid, 0)
            schedule(t + EXIT_DELAY, "cart_exit", customer, 0, tid, SEND, trigger)
            if total >= 300:
                did = decision_id("big_basket", customer, eid, 0, "", "")
                extra = {"team": "sales", "due": format_time(t + TASK_DUE), "notes": {}}
                written.append(decision(did, t, "big_basket", customer, "create_task",
                                        "call_back", None, "sent", None, trigger[:4],
                                        extra))  # fmt: skip
        if len(written) >= 4096:
            decided += len(written)
            out.writelines(written)
            written.clear()
    advance(clock, inclusive=True)
    out.writelines(written)
    return decided + len(written), sum(1 for entry in heap if entry[ALIVE])


if __name__ == "__main__":
    main("handwritten", decide)
