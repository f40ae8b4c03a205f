"""The engine: events in order -> decisions, against the ledger, on event time.

For each event: fire the timers its time passes; skip it if its id was seen; update the
profile and history; cancel the customer's pending sends it is an `unless` for and the
absence windows it breaks; run the matcher of its type (compiled from the rule graph) and
decide every matching rule in priority order. Deciding a rule: sample gate, holdout, then
each action (contacts through the policy gate, which reserves the slot before the next rule
is decided). Delayed sends, absence windows and quiet-hour deferrals become timers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from fbdsl.compiler import program as p
from fbdsl.compiler.ast import walk
from fbdsl.compiler.graph import RuleGraph, RuleNode
from fbdsl.compiler.render import render
from fbdsl.compiler.types import TIME
from fbdsl.runtime import decisions as d
from fbdsl.runtime.actions import ActionRunner, action_name, action_target
from fbdsl.runtime.codegen import (
    compile_field_copy,
    compile_gates,
    compile_matchers,
    compile_predicate,
    compile_trigger_view,
)
from fbdsl.runtime.events import Event, TraitUpdate
from fbdsl.runtime.ledger import Ledger
from fbdsl.runtime.policy import PolicyGate
from fbdsl.runtime.state import ALL_CHANNELS, NO_NAMES, CustomerState
from fbdsl.runtime.timers import ABSENCE, QUIET, SEND, Timer, Trigger
from fbdsl.runtime.timeutil import INFINITY, format_time

DEFAULT_MODE = "default"
OPT_OUT_EVENT, OPT_IN_EVENT = "unsubscribed", "resubscribed"
# fbdsl's own events (std/fbdsl), fed back when an action is carried out.
FEEDBACK_EVENTS = {
    "send_survey": "survey_sent",
    "send_message": "message_sent",
    "create_task": "task_created",
    "tag": "customer_tagged",
    "untag": "customer_untagged",
}


@attrs.define
class Counters:
    events: int = 0
    duplicates: int = 0
    late: int = 0
    ignored: int = 0  # declared events nothing reads
    trait_updates: int = 0
    timers_fired: int = 0
    timers_dropped: int = 0  # due, but their rule is not active in this mode (or is gone)
    by_rule_status: dict[tuple[str, str], int] = attrs.Factory(dict)

    def merged(self, other: Counters) -> Counters:
        """The sum of two sets of counters (an engine's, and those of the engines before it
        in a long-running process)."""
        total = Counters(
            **{
                field.name: getattr(self, field.name) + getattr(other, field.name)
                for field in attrs.fields(Counters)
                if field.name != "by_rule_status"
            }
        )
        total.by_rule_status = dict(self.by_rule_status)
        for key, count in other.by_rule_status.items():
            total.by_rule_status[key] = total.by_rule_status.get(key, 0) + count
        return total


# How `_decide` carries out an action: at once through the policy gate, on a timer, or not
# a contact (tasks, tags).
SEND_NOW, SEND_LATER, OTHER = "send now", "send later", "other"


@attrs.frozen
class CompiledRule:
    node: RuleNode
    late_tests: tuple[tuple[str, Callable[..., bool]], ...]  # (text, predicate)
    absences: tuple[tuple[p.TAbsence, Callable[..., bool] | None], ...]
    unless: dict[int, tuple[str, Callable[..., bool] | None]]  # action index -> watch
    notes: dict[int, tuple[tuple[str, Callable[..., Any], bool], ...]]  # key, fn, is time
    plan: tuple[tuple[int, str], ...]  # (action index, SEND_NOW | SEND_LATER | OTHER)
    described: tuple[tuple[str, str, str], ...]  # per action: (rule, action name, target)
    id_prefix: Any  # d.id_prefix of the rule's name: its decisions' ids start with it


class TriggerViews(dict[str, Callable[[Trigger], dict[str, Any]]]):
    """Per event type, the function making a trigger's view for its decisions (its declared
    fields, times as RFC 3339: `decisions.trigger_view`), compiled when first needed."""

    def __init__(self, graph: RuleGraph) -> None:
        super().__init__()
        self.graph = graph

    def __missing__(self, event: str) -> Callable[[Trigger], dict[str, Any]]:
        schema = self.graph.events[event]
        names = tuple(f for f in schema.fields if f not in p.IMPLICIT_EVENT_FIELDS)
        times = frozenset(f.name for f in schema.fields.values() if f.type == TIME)
        view = self[event] = compile_trigger_view(event, names, times)
        return view


class Engine:
    def __init__(
        self,
        graph: RuleGraph,
        ledger: Ledger,
        mode: str = DEFAULT_MODE,
        allowed_lateness: float = 0.0,
    ) -> None:
        if mode != DEFAULT_MODE and mode not in graph.modes:
            known = ", ".join([DEFAULT_MODE, *graph.modes])
            raise ValueError(f"unknown mode {mode!r} (modes: {known})")
        self.graph = graph
        self.ledger = ledger
        self.mode = mode
        self.allowed_lateness = allowed_lateness
        mode_policy = graph.modes[mode].policy if mode in graph.modes else None
        self.policy = mode_policy or graph.policy
        active = [r for r in graph.rules if r.mode is None or r.mode == mode]
        self.matchers, self.source = compile_matchers(graph, active)
        self.rules = {rule.index: self._compile_rule(rule) for rule in active}
        timezone = graph.traits["timezone"].default if "timezone" in graph.traits else "UTC"
        self.gate = PolicyGate(self.policy, graph.contacts, str(timezone))
        self.history_keep = dict(graph.history.window_by_event)
        self.history_events = set(self.history_keep)
        self.history_fields = _history_fields(graph)
        self.last_seen_events = graph.history.last_seen_events | graph.history.first_time_events
        self.watched_events = {a.event for r in active for a in r.absences} | {
            a.unless.event
            for r in active
            for a in r.actions
            if isinstance(a, p.CheckedSend) and a.unless is not None
        }
        # Events that change a customer's state whether or not a rule matches them.
        kept = (
            self.history_events
            | self.last_seen_events
            | self.watched_events
            | {OPT_OUT_EVENT, OPT_IN_EVENT}
        )
        # Events that change a customer's state or may decide something.
        self.relevant_events = set(self.matchers) | kept
        # Events whose only use is to trigger rules, and whose own fields pass no rule's
        # field tests, cannot change anything: the decoder counts them as ignored, as it
        # does the events nothing reads (docs/running.md), before they are even sent here.
        active_indexes = {rule.index for rule in active}
        self.gates = compile_gates(
            graph,
            {
                event: [graph.rules[i] for i in graph.dispatch[event] if i in active_indexes]
                for event in sorted(set(self.matchers) - kept)
            },
        )
        self.views = TriggerViews(graph)
        self.counters = Counters()
        self.clock = -INFINITY
        self.rules_by_name = {rule.node.name: rule for rule in self.rules.values()}
        ranked = sorted(graph.rules, key=lambda rule: (-rule.priority, rule.index))
        self.rank = {rule.name: rank for rank, rule in enumerate(ranked)}
        self.output: list[d.Decision] = []
        self._feedback: list[Event] = []
        listened = set(self.matchers) | self.history_events
        self.listens_to_sends = bool({"survey_sent", "message_sent"} & listened)
        self.actions = ActionRunner(self, _contact_keep(graph))
        # process() of each event type read (a caller may call one itself, for an event of
        # that type, rather than through process()).
        self.handlers = {name: self._make_handler(name) for name in self.relevant_events}
        self._generic_handler = self._make_handler(None)

    # -- compilation -----------------------------------------------------------------------

    def _compile_rule(self, rule: RuleNode) -> CompiledRule:
        event = rule.triggers[0]
        late = tuple(
            (test.text, compile_predicate(self.graph, test.expr, event)) for test in rule.late_tests
        )
        absences = tuple(
            (a, compile_predicate(self.graph, a.where, event) if a.where else None)
            for a in rule.absences
        )
        unless: dict[int, tuple[str, Callable[..., bool] | None]] = {}
        notes: dict[int, tuple[tuple[str, Callable[..., Any], bool], ...]] = {}
        for index, action in enumerate(rule.actions):
            if isinstance(action, p.CheckedSend) and action.unless is not None:
                where = action.unless.where
                fn = compile_predicate(self.graph, where, event) if where else None
                unless[index] = (action.unless.event, fn)
            elif isinstance(action, p.CheckedTask):
                notes[index] = tuple(
                    (key, compile_predicate(self.graph, value, event), value.type == TIME)
                    for key, value in action.notes
                )
        plan = tuple(
            (
                index,
                (SEND_LATER if action.after is not None else SEND_NOW)
                if isinstance(action, p.CheckedSend)
                else OTHER,
            )
            for index, action in enumerate(rule.actions)
        )
        described = tuple(
            (rule.name, action_name(action), action_target(action)) for action in rule.actions
        )
        return CompiledRule(
            rule, late, absences, unless, notes, plan, described, d.id_prefix(rule.name)
        )

    # -- input -----------------------------------------------------------------------------

    def process(self, event: Event) -> None:
        """Decide everything one event causes (after firing the timers it passes).

        An event that nothing reads (no rule, history window, `unless` or absence window,
        or opt-out, and no traits) is only counted as ignored: it is not even remembered for
        de-duplication, so that a sidecar seeing every event of a product keeps no trace of
        the page views no rule cares about. (The decoder drops such lines before they are
        even validated; this is for callers that build events themselves.)"""
        handle = self.handlers.get(event.name)
        if handle is None:
            if not event.traits:
                self.counters.ignored += 1
                return
            handle = self._generic_handler
        handle(event)

    def identify(self, update: TraitUpdate) -> None:
        if not self.ledger.first_sight(update.id, update.timestamp):
            self.counters.duplicates += 1
            return
        self.advance(update.timestamp, inclusive=False)
        state = self.ledger.customer(update.customer_id)
        self._apply_traits(state, update.traits)
        self.counters.trait_updates += 1
        self.ledger.touch(state)

    def _process(self, event: Event) -> None:
        """Update the customer's state for one (new) event and decide what it triggers."""
        self.handlers.get(event.name, self._generic_handler)(event, False)

    def _make_handler(self, name: str | None) -> Callable[[Event, bool], None]:
        """process() for one event type (`name`; None for an event only its traits make
        relevant), with everything that does not depend on the event decided once, here:
        which parts of the state it touches, its matcher.

        The handler skips a duplicate, fires the timers the event passes, updates the state
        and decides, then processes the events the actions fed back; for an event `arrived`
        False (one fed back) it only updates and decides."""
        ledger, counters, lateness, rules, feedback = (
            self.ledger,
            self.counters,
            self.allowed_lateness,
            self.rules,
            self._feedback,
        )
        first_sight, timers = ledger.first_sight, ledger.timers
        customer, touch = ledger.customer, ledger.touch
        apply_traits, decide, wait = self._apply_traits, self._decide, self._open_absence_window
        opt_out, opt_in = name == OPT_OUT_EVENT, name == OPT_IN_EVENT
        keep = self.history_keep.get(name, 0.0) if name is not None else 0.0
        kept_fields = self.history_fields.get(name) if name is not None else None
        copy_kept = compile_field_copy(kept_fields) if kept_fields is not None else None
        track_last_seen = name in self.last_seen_events
        watched = name in self.watched_events
        matcher = self.matchers.get(name) if name is not None else None

        def handle(event: Event, arrived: bool = True) -> None:
            now = event.timestamp
            if arrived:
                if not first_sight(event.id, now):  # (marked seen now if it is new)
                    counters.duplicates += 1
                    return
                if timers.count and not timers.none_due_before(now):
                    self.advance(now, inclusive=False)
            else:
                first_sight(event.id, now)  # (an id of its own: marked, never a duplicate)
            counters.events += 1
            if now > self.clock:
                self.clock = now
            state = customer(event.customer_id)
            newest = state.newest
            if now < newest - lateness:
                counters.late += 1
            if now > newest:
                # Only for counting late events: not worth a write of its own (saved with the
                # customer's next real change).
                state.newest = now
            changed = False
            if event.traits:
                apply_traits(state, event.traits)
                changed = True
            if opt_out:
                state.opt_outs = state.opt_outs | {_channel_of(event)}
                changed = True
            elif opt_in:
                state.opt_outs = state.opt_outs - {_channel_of(event)}
                changed = True
            # (Only events some rule reads `since` or `first_time` of are tracked: for the
            # others nothing reads `prev`.)
            prev = state.last_seen.get(event.name) if track_last_seen else None
            if copy_kept is not None:
                state.record_event(event.name, now, copy_kept(event.fields), keep)
                changed = True
            if track_last_seen and (prev is None or now > prev):
                state.last_seen[event.name] = now
                changed = True
            if watched and state.timers:
                self._watch(event, state)
                changed = True
            if matcher is not None:
                matched = matcher(event.fields, state, now, prev)
                if matched:
                    trigger = Trigger(event.name, event.id, now, event.fields, prev)
                    for node in matched:
                        rule = rules[node.index]
                        if rule.absences:
                            wait(rule, trigger, state)
                        else:
                            decide(rule, trigger, state, now, True)
                    changed = True
            if changed:
                touch(state)
            if arrived:
                while feedback:
                    self._process(feedback.pop(0))

        return handle

    def _apply_traits(self, state: CustomerState, traits: dict[str, Any]) -> None:
        """Profile traits, already converted to their declared types by the decoder."""
        for key, value in traits.items():
            if key == "tags":
                state.tags = frozenset(value) if value else NO_NAMES
            elif key == "unsubscribed":
                state.opt_outs = state.opt_outs | {ALL_CHANNELS}
            elif value is None:
                state.traits.pop(key, None)
            else:
                state.traits[key] = value

    # -- time ------------------------------------------------------------------------------

    def advance(self, until: float, inclusive: bool, budget: int | None = None) -> bool:
        """Fire every timer due before `until` (or at it, if inclusive), in order; or only
        `budget` of them, returning True if that stopped it (so the caller can commit)."""
        timers = self.ledger.timers
        fired = 0
        while True:
            if budget is not None and fired >= budget:
                return True
            key = timers.pop_due(until, inclusive)
            if key is None:
                return False
            fired += 1
            state = self.ledger.customer(key[2])
            timer = state.timers.pop(key[4])  # the index and the states commit together
            self.ledger.touch(state)
            self.counters.timers_fired += 1
            self.clock = max(self.clock, timer.due)
            self._fire(timer, state)
            while self._feedback:
                self._process(self._feedback.pop(0))

    def schedule(
        self,
        state: CustomerState,
        timer_id: str,
        due: float,
        kind: str,
        rule: CompiledRule,
        action: int,
        trigger: Trigger,
    ) -> None:
        """Set a timer (once: an id already pending is left as it is)."""
        if timer_id in state.timers:
            return
        name = rule.node.name
        timer = Timer(
            timer_id, due, kind, name, self.rank[name], state.customer_id, action, trigger
        )
        state.timers[timer_id] = timer
        self.ledger.timers.add(timer.key)
        self.ledger.touch(state)

    def _cancel(self, state: CustomerState, timer: Timer) -> None:
        del state.timers[timer.id]
        self.ledger.timers.remove(timer.id)

    def _fire(self, timer: Timer, state: CustomerState) -> None:
        rule = self.rules_by_name.get(timer.rule)
        if rule is None:  # not active in this mode, or gone from the rule set
            self.counters.timers_dropped += 1
            return
        if timer.kind == ABSENCE:
            self._decide(rule, timer.trigger, state, timer.due, late_checked=False)
        else:
            self.actions.fire_send(rule, timer, state)

    def _watch(self, event: Event, state: CustomerState) -> None:
        """Cancel the customer's pending sends and absence windows this event breaks.

        **Decision:** a send deferred by quiet hours keeps its rule's absence conditions in
        force until it goes out: quiet hours move a send, they do not change what it means
        ("no purchase before we ask"). So an event that would have broken the window,
        arriving while the send waits, cancels it. (A plain `after` delay does not: it is
        the rule's own wording, and `unless` says what cancels it.)"""
        for timer in sorted(state.timers.values(), key=lambda timer: timer.key):
            rule = self.rules_by_name.get(timer.rule)
            if rule is None:
                continue
            trigger = timer.trigger
            if timer.kind == ABSENCE or (timer.kind == QUIET and rule.absences):
                broken = self._broken_absence(rule, timer, event, state)
                if broken is not None:
                    self._cancel(state, timer)
                    if timer.kind == QUIET:
                        reason = (
                            f"{render(broken, trigger.event)}: {event.name} arrived at "
                            f"{format_time(event.timestamp)}, before the quiet hours ended"
                        )
                        self.actions.cancelled(rule, timer, state, event.timestamp, reason)
                    continue
                if timer.kind == ABSENCE:
                    continue
            watch = rule.unless.get(timer.action)
            if watch is None or watch[0] != event.name:
                continue
            where = watch[1]
            if where is None or where(
                event.fields, state, event.timestamp, trigger.prev, trigger.fields
            ):
                self._cancel(state, timer)
                reason = f"unless {event.name}: it arrived at {format_time(event.timestamp)}"
                self.actions.cancelled(rule, timer, state, event.timestamp, reason)

    @staticmethod
    def _broken_absence(
        rule: CompiledRule, timer: Timer, event: Event, state: CustomerState
    ) -> p.TAbsence | None:
        """The absence condition of `rule` that `event` breaks for `timer`, if any: a
        matching event after the trigger (and, while the window is open, within it)."""
        trigger = timer.trigger
        for absence, where in rule.absences:
            if absence.event != event.name or event.timestamp <= trigger.timestamp:
                continue
            if timer.kind == ABSENCE and event.timestamp > trigger.timestamp + absence.window:
                continue
            if where is None or where(
                event.fields, state, event.timestamp, trigger.prev, trigger.fields
            ):
                return absence
        return None

    # -- deciding --------------------------------------------------------------------------

    def _open_absence_window(
        self, rule: CompiledRule, trigger: Trigger, state: CustomerState
    ) -> None:
        """A rule with `no E within D` decides when its longest window has passed (a timer),
        unless an event breaks it first (`_watch`)."""
        window = max(absence.window for absence, _ in rule.absences)
        timer_id = d.id_of(f"absence\x1f{rule.node.name}\x1f{state.customer_id}\x1f{trigger.id}")
        self.schedule(state, timer_id, trigger.timestamp + window, ABSENCE, rule, -1, trigger)

    def failing_test(
        self, rule: CompiledRule, trigger: Trigger, state: CustomerState, now: float
    ) -> str | None:
        """The first late test that does not hold now, as written, or None."""
        for text, test in rule.late_tests:
            if not test(trigger.fields, state, now, trigger.prev, trigger.fields):
                return text
        return None

    def _decide(
        self,
        rule: CompiledRule,
        trigger: Trigger,
        state: CustomerState,
        now: float,
        late_checked: bool,
    ) -> None:
        if not late_checked and self.failing_test(rule, trigger, state, now) is not None:
            return
        node = rule.node
        if node.sample < 1 and d.fraction("sample", node.name, state.customer_id) >= node.sample:
            reason = f"sample {node.sample * 100:g}%: the customer is outside the sample"
            for index in range(len(node.actions)):
                self.actions.refuse(rule, index, trigger, state, now, reason)
            return
        held = (
            node.holdout > 0 and d.fraction("holdout", node.name, state.customer_id) < node.holdout
        )
        for index, how in rule.plan:
            if how is SEND_NOW:
                self.actions.send(rule, index, trigger, state, now, held)
            elif how is SEND_LATER:
                after = node.actions[index].after  # type: ignore[union-attr]
                timer_id = d.id_of(
                    f"send\x1f{node.name}\x1f{state.customer_id}\x1f{trigger.id}\x1f{index}"
                )
                self.schedule(state, timer_id, now + after, SEND, rule, index, trigger)
            else:
                self.actions.run(rule, index, trigger, state, now, held)

    # -- output ----------------------------------------------------------------------------

    def feed_back(
        self, action: str, state: CustomerState, now: float, did: str, fields: dict[str, Any]
    ) -> None:
        """Report a carried-out action as fbdsl's own event, if any rule listens to it."""
        name = FEEDBACK_EVENTS[action]
        if name not in self.matchers and name not in self.history_events:
            return
        schema = self.graph.events[name]
        values = {key: fields.get(key, "") for key in schema.fields}
        values.update(customer_id=state.customer_id, timestamp=now, id=f"fbdsl:{did}")
        self._feedback.append(Event(name, state.customer_id, now, f"fbdsl:{did}", values, None, 0))

    def trigger_view(self, trigger: Trigger) -> dict[str, Any]:
        """The trigger as its decisions show it, made once per trigger."""
        view = trigger.view
        if view is None:
            view = trigger.view = self.views[trigger.event](trigger)
        return view

    def take_output(self) -> list[d.Decision]:
        out, self.output = self.output, []
        return out


def _channel_of(event: Event) -> str:
    channel = event.fields.get("channel")
    return ALL_CHANNELS if not channel or channel == "all" else str(channel)


def _history_fields(graph: RuleGraph) -> dict[str, tuple[str, ...]]:
    """Per event kept in history, the fields its entries keep: every declared one (not only
    those today's `count(E where ...)` read), so that a rule added later counts the history
    kept before it."""
    return {
        event: tuple(f for f in graph.events[event].fields if f not in p.IMPLICIT_EVENT_FIELDS)
        for event in graph.history.window_by_event
    }


def _contact_keep(graph: RuleGraph) -> float:
    """How long contacts must be kept: the longest limit, cooldown or contacts(D) window."""
    windows = [limit.window for limit in graph.policy.limits]
    windows += [
        lim.window for mode in graph.modes.values() if mode.policy for lim in mode.policy.limits
    ]
    windows += [c.cooldown for c in graph.contacts.values() if c.cooldown]
    for rule in graph.rules:
        for test in rule.late_tests:
            windows += [n.window for n in walk(test.expr) if isinstance(n, p.TContacts)]
    return float(max(windows, default=0))
