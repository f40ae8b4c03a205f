"""The W1 rules in durable_rules (https://github.com/jruizgit/rules) as the peer.

    python bench/w1/peer_durable_rules.py --events bench/data/w1.jsonl --out /tmp/dr.jsonl

durable_rules is a Rete engine (a C core under a Python DSL). Each customer is a session
(`sid`), whose context state `c.s` holds what the rules read across events: the tier, the
orders of the last 90 days and whether an order is the first, and the last contact (the
contact window of the policy). Each input event is asserted as a fact: a *posted* event is
consumed by the first rule that matches it, but a fact activates every matching rule, in
`pri` order (lower first), which is fbdsl's arbitration; the last rule retracts the fact.

Antecedents test the event (type and fields, matched in the C core). A condition on the
state cannot sit in an antecedent here: a rule joining the fact with `s.` fires again each
time an action updates the state, endlessly (tried: `when_all(c.o << m.event == ..., s.x ==
...)` with `c.s.x = ...` in a consequent). So the state's part of a condition (first order,
90-day count, tier) and the policy are checked in the consequent, on `c.s`. The state is
itself a fact, so its keys must differ from the facts' fields (`+m.tier` would match a state
holding `tier`, and the rule that sets it would fire forever): the state calls it
`customer_tier`.

Sessions: durable_rules' C core holds at most 1024 sessions per ruleset (its state index,
MAX_STATE_INDEX_LENGTH; the 1025th raises MemoryError) and each costs about 190 KB. W1 has
100k customers, so the driver keeps the sessions of the most recently seen customers live
(`LIVE_SESSIONS`) and parks the others' state: `get_state` then `delete_state` when a
session is evicted, `update_state` to bring it back when the customer returns.

Threads: a durable_rules `Host` starts two background threads that call into the C core
every 0.2 s (pending actions, timers) while the main thread asserts; on W1 they crash the
process (a segmentation fault in `Ruleset.dispatch`, about one run in two at 300k events;
compare jruizgit/rules issue 306). W1 has no timers and no asynchronous actions, and every
action of an asserted fact runs synchronously inside `assert_fact`, so the driver installs a
`Host` without those threads.

The driver asserts only events some rule reads (a trigger type, or carrying a `tier` trait),
as any integration would; it de-duplicates event ids as the engine does (see common.py).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import IO, Any

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
from durable import engine, lang
from durable.lang import (
    assert_fact,
    delete_state,
    get_state,
    m,
    pri,
    ruleset,
    update_state,
    when_all,
)

LIVE_SESSIONS = 1000  # below the core's limit of 1024


class BatchHost(engine.Host):
    """A durable_rules host without the background dispatch threads (see the module doc)."""

    def _run(self) -> None:
        return


lang._main_host = BatchHost()  # the ruleset below registers with it on first use
written: list[bytes] = []


def _decide(c: Any, rule: str, action: str, target: str) -> None:
    """A matching rule's action: a tag is carried out; a send goes through the policy."""
    fact = c.m
    channel, status, reason = None, "sent", None
    if action == "send_survey":
        held = c.s.last_contact
        if held is not None and held[0] > fact.t - CONTACT_WINDOW:
            status, reason = "suppressed", limit_reason(held[1], held[2])
        else:
            c.s.last_contact = [fact.t, fact.at, rule]
            channel = "email"
    written.append(
        decision_line(
            rule, c.s.sid, action, target, channel, status, reason, fact.event, fact.eid, fact.at
        )
    )


with ruleset("w1"):
    # Bookkeeping first: the profile, then the order history the conditions read.
    @when_all(pri(1), +m.tier)
    def profile(c: Any) -> None:
        c.s.customer_tier = c.m.tier

    @when_all(pri(2), m.event == "order_completed")
    def order_history(c: Any) -> None:
        t = c.m.t
        previous = c.s.orders
        c.s.first_time = previous is None
        c.s.orders = [at for at in previous or () if at > t - LOYAL_WINDOW] + [t]

    # The five rules, in fbdsl's arbitration order (priority 10, 9, 8, 1, 0).
    @when_all(pri(10), (m.event == "order_completed") & (m.total >= 100))
    def big_order_nps(c: Any) -> None:
        _decide(c, "big_order_nps", "send_survey", "order_nps")

    @when_all(pri(11), (m.event == "order_refunded") & (m.total > 20))
    def refund_ces(c: Any) -> None:
        _decide(c, "refund_ces", "send_survey", "refund_ces")

    @when_all(pri(12), m.event == "order_completed")
    def first_order_csat(c: Any) -> None:
        if c.s.first_time:
            _decide(c, "first_order_csat", "send_survey", "welcome_csat")

    @when_all(pri(19), (m.event == "checkout_started") & (m.total > 150))
    def premium_checkout(c: Any) -> None:
        if (c.s.customer_tier or "basic") == "premium":
            _decide(c, "premium_checkout", "send_survey", "checkout_exit")

    @when_all(pri(20), m.event == "order_completed")
    def loyal_tag(c: Any) -> None:
        if len(c.s.orders) >= 3:
            _decide(c, "loyal_tag", "tag", "loyal")

    @when_all(pri(30), +m.event)
    def done(c: Any) -> None:
        c.retract_fact(c.m)


class Sessions:
    """The customers whose durable_rules session is live, least recently used first."""

    def __init__(self) -> None:
        self.live: OrderedDict[str, None] = OrderedDict()
        self.parked: dict[str, dict[str, Any]] = {}

    def open(self, customer: str) -> None:
        if customer in self.live:
            self.live.move_to_end(customer)
            return
        if len(self.live) >= LIVE_SESSIONS:
            evicted, _ = self.live.popitem(last=False)
            self.parked[evicted] = get_state("w1", evicted)
            delete_state("w1", evicted)
        state = self.parked.pop(customer, None)
        if state is not None:
            update_state("w1", state)
        self.live[customer] = None


def decide(lines: Iterator[bytes], out: IO[bytes]) -> int:
    sessions = Sessions()
    seen: set[str] = set()
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
        tier = traits.get("tier") if traits else None
        if event not in TRIGGERS and tier is None:
            continue  # traits, but none a rule reads
        stamp = document["timestamp"]
        t = parse_time(stamp)
        fact: dict[str, Any] = {
            "sid": document["customer_id"],
            "id": eid,
            "eid": eid,
            "event": event,
            "t": t,
            "at": canonical_time(stamp, t),
        }
        total = document["properties"].get("total")
        if total is not None:
            fact["total"] = total
        if tier is not None:
            fact["tier"] = tier
        sessions.open(fact["sid"])
        assert_fact("w1", fact)
        if written:
            out.writelines(written)
            decided += len(written)
            written.clear()
    return decided


if __name__ == "__main__":
    main("durable_rules", decide)
