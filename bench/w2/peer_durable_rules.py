"""The W2 rules in durable_rules (https://github.com/jruizgit/rules), its timers driven by
event time, as the peer.

    python bench/w2/peer_durable_rules.py --events bench/data/w2.jsonl --out /tmp/dr.jsonl

**How durable_rules' timers work** (2.0.28, read from its `lang.py` and tried here):
`c.start_timer(name, seconds)` posts a *base event* `{"$timerName": name, "$baseTime":
now + seconds}` to the session and registers the due time with the C core;
`assert_timers` (called every 0.2 s by the host's timer thread) posts a `$pulse` event
`{"$time": now}` to each session with a timer due; the antecedent `timeout(name)` joins the
base with a pulse whose `$time >= $baseTime`, and the join consumes both. `now` is the C
core's `time(NULL)`: the wall clock, in whole seconds. So as they are, the timers cannot
replay 90 days of events (a 2-hour delay would take 2 hours), nor can a base event carry a
payload (the checkout a pending survey is about), and one timer name holds one timer per
session (two pending cart_exit surveys of one customer would collide).

**What this peer does instead, the closest honest thing:** the same mechanism on event
time. A consequent posts the base event itself, with `$baseTime` = event time + delay, a
unique id and the trigger it needs, and registers the due time with the driver's wake-up
heap (the role of the core's timer list); when the event stream's time passes a due time,
the driver posts the `$pulse` with `$time` = that due time, as `assert_timers` would with
the wall clock, in fbdsl's order (time, rule rank, customer, then timer id); `timeout`-style
antecedents (the same `$time >= base.$baseTime` join, on a `$timerName` per rule) fire the
rule. One difference: the core's pulse is for the session, and when two timers of one
session are due together the agenda picks by `pri`, and between two timers of the same rule
arbitrarily; the first version of this peer did that and disagreed with the engine (the
two order_csat surveys of a customer deferred to the same 09:00 fired in the other order,
and a pulse left over then fired a stale timer months later). So each pulse names the timer
it was posted for (`timer`), and the join also requires `pulse.timer == base.timer`.
Cancelling is a join too: a rule matches the base with the order fact of the same checkout
and consumes the base (an `unless` writes a `cancelled` decision; an absence window closes
silently); it also tells the driver, as `cancel_timer` tells the core. A pulse nothing
matches is swept by a last rule (counted: there should be none).

Conditions on the session state (last contact, time zone), the policy and quiet hours run
in consequents, on `c.s`, as in the W1 peer (bench/w1/peer_durable_rules.py, which
explains why). Input events are asserted as facts, so that every matching rule activates
(cancellation first, then the triggers in priority order), and a last rule retracts them.

Sessions: the C core holds at most 1024 sessions per ruleset (see the W1 peer), so the
driver keeps the most recently used customers' sessions live and parks the others: their
state (`get_state`) and their pending events (`get_pending_events`: the timers' base
events), then `delete_state`; a parked customer comes back with `update_state` and its
events posted again. Threads: as in W1, a host without the background threads (they would
call `assert_timers` on the wall clock, and crash the process on W1). An exception in a
consequent is swallowed by durable_rules (stored in the session state), so every
consequent records it and the driver stops on it.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import IO, Any

import orjson
from durable import engine, lang
from durable.lang import (
    assert_fact,
    avalue,
    c,
    delete_state,
    get_state,
    m,
    post,
    pri,
    ruleset,
    update_state,
    value,
    when_all,
)
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

LIVE_SESSIONS = 1000  # below the core's limit of 1024
NAME = "w2"
TARGETS = {  # rule -> (action, target, channel)
    "order_csat": ("send_survey", "order_csat", "email"),
    "cart_rescue": ("send_message", "cart_reminder", "push"),
    "cart_exit": ("send_survey", "cart_exit", "email"),
}


class BatchHost(engine.Host):
    """A durable_rules host without the background dispatch and timer threads."""

    def _run(self) -> None:
        return


lang._main_host = BatchHost()  # the ruleset below registers with it on first use
written: list[bytes] = []
errors: list[BaseException] = []
wakeups: list[tuple[float, int, str, int, str]] = []  # (due, rank, customer, action, id)
alive: dict[str, bool] = {}  # timer id -> still pending
swept: list[float] = []


def guarded(action: Callable[[Any], None]) -> Callable[[Any], None]:
    """durable_rules swallows a consequent's exception; keep it for the driver."""

    def run(context: Any) -> None:
        try:
            action(context)
        except BaseException as exc:  # re-raised by the driver
            errors.append(exc)

    run.__name__ = action.__name__
    return run


def schedule(
    context: Any, due: float, rule: str, action: int, tid: str, kind: str, trigger: list[Any]
) -> None:
    """Post the timer's base event and tell the driver when to pulse (start_timer's work)."""
    checkout_id = trigger[3]["checkout_id"]
    context.post({"id": tid, "timer": tid, "$timerName": rule, "$baseTime": due, "kind": kind,
                  "checkout_id": checkout_id, "trigger_time": trigger[4],
                  "trigger": orjson.dumps(trigger).decode()})  # fmt: skip
    heapq.heappush(wakeups, (due, RANK[rule], context.s.sid, action, tid))
    alive[tid] = True


def send(context: Any, rule: str, trigger: list[Any], now: float) -> None:
    """The policy gate: the 30-day limit, quiet hours (defer), then the send."""
    action, target, channel = TARGETS[rule]
    customer, head = context.s.sid, tuple(trigger[:4])
    held = context.s.last_contact
    if held is not None and now - CONTACT_WINDOW < held[0] <= now:
        did = decision_id(rule, customer, trigger[1], 0, "", "")
        written.append(decision(did, now, rule, customer, action, target, None, "suppressed",
                                limit_reason(held[0], held[1]), head))  # fmt: skip
        return
    end = quiet_until(context.s.customer_zone or "UTC", now)
    if end is not None:
        did = decision_id(rule, customer, trigger[1], 0, "", f"deferred:{now}")
        written.append(decision(did, now, rule, customer, action, target, None, "deferred",
                                f"{QUIET_TEXT}: deferred to {format_time(end)}", head))  # fmt: skip
        tid = decision_id("quiet", rule, customer, trigger[1], 0, now)
        schedule(context, end, rule, 0, tid, "quiet", trigger)
        return
    did = decision_id(rule, customer, trigger[1], 0, channel, "")
    written.append(decision(did, now, rule, customer, action, target, channel, "sent", None,
                            head))  # fmt: skip
    context.s.last_contact = [now, rule]


def trigger_of(fact: Any, properties: dict[str, Any]) -> list[Any]:
    return [fact.event, fact.id, fact.at, properties, fact.t]


def fire(context: Any, rule: str) -> None:
    """A timer's pulse came: re-check the rule's condition, then the policy."""
    base = context.base
    due, tid = base["$baseTime"], base["id"]
    alive.pop(tid, None)
    trigger = orjson.loads(base["trigger"])
    if rule == "order_csat":
        held = context.s.last_contact
        if held is not None and due - held[0] <= CSAT_QUIET_CONTACT:
            did = decision_id(rule, context.s.sid, trigger[1], 0, "", "")
            written.append(decision(did, due, rule, context.s.sid, "send_survey", "order_csat",
                                    None, "suppressed", f"condition no longer holds: {CSAT_TEST}",
                                    tuple(trigger[:4])))  # fmt: skip
            return
    send(context, rule, trigger, due)


def due_pulse(name: str) -> tuple[Any, Any]:
    """durable_rules' `timeout(name)`: the base event, then a pulse at or after its time;
    here the pulse also names its timer (see the module doc)."""
    return (
        c.base << (value("$m", "$timerName") == name),
        c.pulse << (value("$m", "$time") >= avalue("base", "$baseTime"))
        & (m.timer == c.base.timer),
    )


with ruleset(NAME):

    @when_all(pri(1), +m.timezone)
    @guarded
    def profile(context: Any) -> None:
        context.s.customer_zone = context.m.timezone

    # An order cancels its checkout's pending cart_exit survey (deferred or not) ...
    @when_all(
        pri(2),
        c.base << (value("$m", "$timerName") == "cart_exit"),
        c.order << (m.event == "order_completed") & (m.checkout_id == c.base.checkout_id),
    )
    @guarded
    def cart_exit_unless(context: Any) -> None:
        base, order = context.base, context.order
        alive[base["id"]] = False
        trigger = orjson.loads(base["trigger"])
        did = decision_id("cart_exit", context.s.sid, trigger[1], 0, "", "cancelled")
        reason = f"unless order_completed: it arrived at {format_time(order.t)}"
        head = tuple(trigger[:4])
        written.append(decision(did, order.t, "cart_exit", context.s.sid, "send_survey",
                                "cart_exit", None, "cancelled", reason, head))  # fmt: skip

    # ... and closes its cart_rescue absence window, within the hour.
    @when_all(
        pri(2),
        c.base << (value("$m", "$timerName") == "cart_rescue") & (m.kind == "absence"),
        c.order << (m.event == "order_completed")
        & (m.checkout_id == c.base.checkout_id)
        & (m.t > c.base.trigger_time)
        & (m.t <= avalue("base", "$baseTime")),
    )
    @guarded
    def cart_rescue_absence(context: Any) -> None:
        alive[context.base["id"]] = False

    # ... and cancels its cart_rescue reminder while it waits for the quiet hours to end.
    @when_all(
        pri(2),
        c.base << (value("$m", "$timerName") == "cart_rescue") & (m.kind == "quiet"),
        c.order << (m.event == "order_completed")
        & (m.checkout_id == c.base.checkout_id)
        & (m.t > c.base.trigger_time),
    )
    @guarded
    def cart_rescue_deferred(context: Any) -> None:
        base, order = context.base, context.order
        alive[base["id"]] = False
        trigger = orjson.loads(base["trigger"])
        did = decision_id("cart_rescue", context.s.sid, trigger[1], 0, "", "cancelled")
        reason = (
            f"{RESCUE_TEXT}: order_completed arrived at {format_time(order.t)}, "
            "before the quiet hours ended"
        )
        head = tuple(trigger[:4])
        written.append(decision(did, order.t, "cart_rescue", context.s.sid, "send_message",
                                "cart_reminder", None, "cancelled", reason, head))  # fmt: skip

    # The triggers, in fbdsl's arbitration order (priority 10, 8, 5, 0).
    @when_all(pri(10), (m.event == "order_completed") & (m.total >= 50))
    @guarded
    def order_csat(context: Any) -> None:
        fact, held = context.m, context.s.last_contact
        if held is not None and fact.t - held[0] <= CSAT_QUIET_CONTACT:
            return  # last_contact > 14d does not hold
        properties = {"order_id": fact.order_id, "checkout_id": fact.checkout_id,
                      "total": fact.total}  # fmt: skip
        tid = decision_id("send", "order_csat", context.s.sid, fact.id, 0)
        schedule(context, fact.t + CSAT_DELAY, "order_csat", 0, tid, "send",
                 trigger_of(fact, properties))  # fmt: skip

    @when_all(pri(11), (m.event == "checkout_started") & (m.total >= 100))
    @guarded
    def cart_rescue(context: Any) -> None:
        fact = context.m
        trigger = trigger_of(fact, {"checkout_id": fact.checkout_id, "total": fact.total})
        tid = decision_id("absence", "cart_rescue", context.s.sid, fact.id)
        schedule(context, fact.t + RESCUE_WINDOW, "cart_rescue", -1, tid, "absence", trigger)

    @when_all(pri(12), m.event == "checkout_started")
    @guarded
    def cart_exit(context: Any) -> None:
        fact = context.m
        trigger = trigger_of(fact, {"checkout_id": fact.checkout_id, "total": fact.total})
        tid = decision_id("send", "cart_exit", context.s.sid, fact.id, 0)
        schedule(context, fact.t + EXIT_DELAY, "cart_exit", 0, tid, "send", trigger)

    @when_all(pri(13), (m.event == "checkout_started") & (m.total >= 300))
    @guarded
    def big_basket(context: Any) -> None:
        fact = context.m
        head = (fact.event, fact.id, fact.at, {"checkout_id": fact.checkout_id,
                                               "total": fact.total})  # fmt: skip
        did = decision_id("big_basket", context.s.sid, fact.id, 0, "", "")
        extra = {"team": "sales", "due": format_time(fact.t + TASK_DUE), "notes": {}}
        written.append(decision(did, fact.t, "big_basket", context.s.sid, "create_task",
                                "call_back", None, "sent", None, head, extra))  # fmt: skip

    # Timers due: one rule per timer name, in arbitration order.
    @when_all(pri(20), *due_pulse("order_csat"))
    @guarded
    def order_csat_due(context: Any) -> None:
        fire(context, "order_csat")

    @when_all(pri(21), *due_pulse("cart_rescue"))
    @guarded
    def cart_rescue_due(context: Any) -> None:
        fire(context, "cart_rescue")

    @when_all(pri(22), *due_pulse("cart_exit"))
    @guarded
    def cart_exit_due(context: Any) -> None:
        fire(context, "cart_exit")

    @when_all(pri(30), +m.event)
    @guarded
    def done(context: Any) -> None:
        context.retract_fact(context.m)

    @when_all(pri(40), +value("$m", "$time"))
    @guarded
    def sweep(context: Any) -> None:
        swept.append(context.m["$time"])


class Sessions:
    """The customers whose session is live, least recently used first; the others parked
    with their state and their pending events (the base events of their timers)."""

    def __init__(self) -> None:
        self.live: OrderedDict[str, None] = OrderedDict()
        self.parked: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
        self.ruleset = lang.get_host().get_ruleset(NAME)

    def open(self, customer: str) -> None:
        if customer in self.live:
            self.live.move_to_end(customer)
            return
        if len(self.live) >= LIVE_SESSIONS:
            evicted, _ = self.live.popitem(last=False)
            events = self.ruleset.get_pending_events(evicted)
            self.parked[evicted] = (get_state(NAME, evicted), events)
            delete_state(NAME, evicted)
        parked = self.parked.pop(customer, None)
        if parked is not None:
            update_state(NAME, parked[0])
            for event in parked[1]:
                post(NAME, event)
        self.live[customer] = None


def decide(lines: Iterator[bytes], out: IO[bytes]) -> tuple[int, int]:
    sessions = Sessions()
    seen: set[str] = set()
    clock = float("-inf")
    pulses = 0

    def advance(until: float, inclusive: bool) -> None:
        nonlocal pulses
        while wakeups:
            due = wakeups[0][0]
            if due > until or (due == until and not inclusive):
                return
            _, _, customer, _, tid = heapq.heappop(wakeups)
            if not alive.get(tid):
                alive.pop(tid, None)
                continue  # cancelled: cancel_timer's work
            pulses += 1
            sessions.open(customer)
            post(NAME, {"sid": customer, "id": f"$pulse-{pulses}", "$time": due, "timer": tid})
            if errors:
                raise errors[0]

    decided = 0
    for raw in lines:
        document = orjson.loads(raw)
        event = document["event"]
        traits = document.get("traits")
        if event not in READ and not (traits and event in DECLARED):
            continue  # nothing reads it
        stamp = document["timestamp"]
        t = parse_time(stamp)
        advance(t, inclusive=False)
        eid = document.get("id") or derived_event_id(document)
        if eid in seen:
            continue
        seen.add(eid)
        clock = max(clock, t)
        zone = traits.get("timezone") if traits else None
        if event not in READ and zone is None:
            continue  # traits, but none a rule reads
        fact: dict[str, Any] = {"sid": document["customer_id"], "id": eid, "event": event,
                                "t": t, "at": canonical_time(stamp, t)}  # fmt: skip
        if event in READ:
            properties = document["properties"]
            fact["total"] = properties["total"]
            fact["checkout_id"] = properties.get("checkout_id", "")
            if event == "order_completed":
                fact["order_id"] = properties["order_id"]
        if zone is not None:
            fact["timezone"] = zone
        sessions.open(fact["sid"])
        assert_fact(NAME, fact)
        if errors:
            raise errors[0]
        if len(written) >= 4096:
            out.writelines(written)
            decided += len(written)
            written.clear()
    advance(clock, inclusive=True)
    if swept:
        raise AssertionError(f"{len(swept)} pulse(s) matched no timer, e.g. at {swept[0]}")
    out.writelines(written)
    return decided + len(written), sum(1 for pending in alive.values() if pending)


if __name__ == "__main__":
    main("durable_rules", decide)
