"""The W1 rules written directly in plain Python: the ceiling the engine is measured against.

    python bench/w1/handwritten.py --events bench/data/w1.jsonl --out /tmp/handwritten.jsonl

What a competent engineer would write for exactly this job: one pass over the file, a few
dicts keyed by customer, no framework, no persistence. It keeps only what the five rules and
the policy read: the customer's tier, the last contact (with `limit 1 contact per 30d` and a
single channel, the last contact is the whole contact log that matters), the times of the
customer's orders in the last 90 days, and the ids of the events it read (at-least-once input
must not double-contact; like the engine, it forgets events nothing reads, ids included,
and the checkouts and refunds too small for any rule).
It trusts the input's shape: no schema validation.

Semantics, as in bench/w1/rules.fbdsl and docs/language.md: rules triggered by one event are
decided by priority, then file order, each send reserving the contact slot before the next
is decided; `first_time` is "no earlier order_completed"; the 90-day count includes the
trigger; a refused send is a `suppressed` decision naming the limit and the contact that
holds the slot; the tag is always carried out (`sent`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import IO

import orjson
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


def decide(lines: Iterator[bytes], out: IO[bytes]) -> int:
    loads = orjson.loads
    seen: set[str] = set()
    tiers: dict[str, object] = {}
    last_contact: dict[str, tuple[float, str, str]] = {}  # customer -> (at, at text, rule)
    orders: dict[str, deque[float]] = {}  # customer -> order times in the last 90 days
    written: list[bytes] = []
    decided = 0

    def send(
        rule: str, survey: str, customer: str, event: str, eid: str, t: float, at: str
    ) -> None:
        held = last_contact.get(customer)
        if held is not None and held[0] > t - CONTACT_WINDOW:
            channel, status, reason = None, "suppressed", limit_reason(held[1], held[2])
        else:
            last_contact[customer] = (t, at, rule)
            channel, status, reason = "email", "sent", None
        written.append(
            decision_line(
                rule, customer, "send_survey", survey, channel, status, reason, event, eid, at
            )
        )

    for raw in lines:
        document = loads(raw)
        event = document["event"]
        traits = document.get("traits")
        if event not in TRIGGERS and not (traits and event in DECLARED):
            continue  # nothing reads it
        if not traits and (
            (event == "checkout_started" and document["properties"]["total"] <= 150)
            or (event == "order_refunded" and document["properties"]["total"] <= 20)
        ):
            continue  # no rule could match it, and nothing else reads it (as the engine)
        eid = document.get("id") or derived_event_id(document)
        if eid in seen:
            continue
        seen.add(eid)
        customer = document["customer_id"]
        if traits and "tier" in traits:
            tiers[customer] = traits["tier"]
        if event == "order_completed":
            stamp = document["timestamp"]
            t = parse_time(stamp)
            at = canonical_time(stamp, t)
            total = document["properties"]["total"]
            history = orders.get(customer)
            first_time = history is None
            if history is None:
                history = orders[customer] = deque()
            history.append(t)
            while history[0] <= t - LOYAL_WINDOW:
                history.popleft()
            if total >= 100:  # big_order_nps, priority 10
                send("big_order_nps", "order_nps", customer, event, eid, t, at)
            if first_time:  # first_order_csat, priority 8
                send("first_order_csat", "welcome_csat", customer, event, eid, t, at)
            if len(history) >= 3:  # loyal_tag, priority 0
                written.append(
                    decision_line(
                        "loyal_tag", customer, "tag", "loyal", None, "sent", None, event, eid, at
                    )
                )
        elif event == "order_refunded" and document["properties"]["total"] > 20:  # refund_ces
            stamp = document["timestamp"]
            t = parse_time(stamp)
            send("refund_ces", "refund_ces", customer, event, eid, t, canonical_time(stamp, t))
        elif (  # premium_checkout
            event == "checkout_started"
            and document["properties"]["total"] > 150
            and tiers.get(customer, "basic") == "premium"
        ):
            stamp = document["timestamp"]
            t = parse_time(stamp)
            at = canonical_time(stamp, t)
            send("premium_checkout", "checkout_exit", customer, event, eid, t, at)
        if len(written) >= 4096:
            decided += len(written)
            out.writelines(written)
            written.clear()
    out.writelines(written)
    return decided + len(written)


if __name__ == "__main__":
    main("handwritten", decide)
