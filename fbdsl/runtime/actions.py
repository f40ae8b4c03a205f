"""Carrying out a rule's actions, and the decisions that record them.

Sends go through the policy gate: a refusal is a `suppressed` decision naming the policy
line; quiet hours defer the send (a `deferred` decision, then a timer); otherwise the slot
is reserved in the customer's state before the next rule is decided. Tasks and tags never
touch the customer and always carry out (unless held out).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fbdsl.compiler import program as p
from fbdsl.runtime import decisions as d
from fbdsl.runtime.decisions import Decision
from fbdsl.runtime.state import Contact, CustomerState
from fbdsl.runtime.timers import QUIET, Timer, Trigger
from fbdsl.runtime.timeutil import format_time

if TYPE_CHECKING:
    from fbdsl.runtime.engine import CompiledRule, Engine


def action_name(action: p.CheckedAction) -> str:
    if isinstance(action, p.CheckedSend):
        return f"send_{action.kind}"
    if isinstance(action, p.CheckedTask):
        return "create_task"
    return "untag" if action.remove else "tag"


def action_target(action: p.CheckedAction) -> str:
    if isinstance(action, p.CheckedSend):
        return action.target
    if isinstance(action, p.CheckedTask):
        return action.task
    return action.tag


class ActionRunner:
    def __init__(self, engine: Engine, contact_keep: float) -> None:
        self.engine = engine
        self.contact_keep = contact_keep
        self.mode = engine.mode
        self.gate = engine.gate
        self.quiet_hours = engine.policy.quiet_hours is not None

    # -- decisions -------------------------------------------------------------------------

    def _decision(
        self,
        rule: CompiledRule,
        index: int,
        trigger: Trigger,
        state: CustomerState,
        now: float,
        channel: str | None,
        status: str,
        reason: str | None,
        task: tuple[str, str | None, dict[str, Any]] | None = None,
        salt: str = "",
    ) -> str:
        """Emit one decision (the format of decisions.py) and return its id. `task`: a
        task's team, due time and notes."""
        engine = self.engine
        name, action, target = rule.described[index]
        customer_id = state.customer_id
        # d.id_of(f"{name}\x1f{customer_id}\x1f{trigger.id}\x1f{index}\x1f{channel}\x1f{salt}")
        hasher = rule.id_prefix.copy()
        rest = f"{customer_id}\x1f{trigger.id}\x1f{index}\x1f{channel or ''}\x1f{salt}"
        hasher.update(rest.encode())
        did = hasher.hexdigest()
        view = trigger.view
        if view is None:
            view = trigger.view = engine.views[trigger.event](trigger)
        at = view["timestamp"] if now == trigger.timestamp else format_time(now)
        decision = Decision(
            did, at, name, customer_id, action, target, channel, status, reason, view, self.mode
        )
        if task is not None:
            decision.team, decision.due, decision.notes = task
        engine.output.append(decision)
        counts = engine.counters.by_rule_status
        key = (name, status)
        counts[key] = counts.get(key, 0) + 1
        return did

    def refuse(
        self,
        rule: CompiledRule,
        index: int,
        trigger: Trigger,
        state: CustomerState,
        now: float,
        reason: str,
    ) -> None:
        self._decision(rule, index, trigger, state, now, None, d.SUPPRESSED, reason)

    def cancelled(
        self, rule: CompiledRule, timer: Timer, state: CustomerState, now: float, reason: str
    ) -> None:
        self._decision(
            rule,
            timer.action,
            timer.trigger,
            state,
            now,
            None,
            d.CANCELLED,
            reason,
            salt="cancelled",
        )

    # -- running ---------------------------------------------------------------------------

    def run(
        self,
        rule: CompiledRule,
        index: int,
        trigger: Trigger,
        state: CustomerState,
        now: float,
        held: bool,
    ) -> None:
        action = rule.node.actions[index]
        if isinstance(action, p.CheckedSend):
            self.send(rule, index, trigger, state, now, held)
            return
        status = d.HELD_OUT if held else d.SENT
        if isinstance(action, p.CheckedTask):
            notes = {}
            for key, fn, is_time in rule.notes.get(index, ()):
                value = fn(trigger.fields, state, now, trigger.prev, trigger.fields)
                notes[key] = format_time(value) if is_time and value is not None else value
            due = format_time(now + action.due) if action.due is not None else None
            task = (action.team, due, notes)
            did = self._decision(rule, index, trigger, state, now, None, status, None, task)
            if not held:
                self.engine.feed_back(
                    "create_task",
                    state,
                    now,
                    did,
                    {"task": action.task, "team": action.team, "rule_name": rule.node.name},
                )
            return
        assert isinstance(action, p.CheckedTag)
        did = self._decision(rule, index, trigger, state, now, None, status, None)
        if not held:
            if action.remove:
                state.tags = state.tags - {action.tag}
            else:
                state.tags = state.tags | {action.tag}
            self.engine.feed_back(
                action_name(action),
                state,
                now,
                did,
                {"tag": action.tag, "rule_name": rule.node.name},
            )

    def fire_send(self, rule: CompiledRule, timer: Timer, state: CustomerState) -> None:
        """A delayed or deferred send is due: re-check the conditions, then the policy."""
        now = timer.due
        failing = self.engine.failing_test(rule, timer.trigger, state, now)
        if failing is not None:
            self.refuse(
                rule,
                timer.action,
                timer.trigger,
                state,
                now,
                f"condition no longer holds: {failing}",
            )
            return
        node = rule.node
        held = node.holdout > 0 and (
            d.fraction("holdout", node.name, state.customer_id) < node.holdout
        )
        self.send(rule, timer.action, timer.trigger, state, now, held)

    def send(
        self,
        rule: CompiledRule,
        index: int,
        trigger: Trigger,
        state: CustomerState,
        now: float,
        held: bool,
    ) -> None:
        engine = self.engine
        action: p.CheckedSend = rule.node.actions[index]  # type: ignore[assignment]
        gate = self.gate
        blocked = gate.blocked(state, now, action)
        if blocked is not None:
            self._decision(rule, index, trigger, state, now, None, d.SUPPRESSED, blocked)
            return
        if self.quiet_hours:
            quiet_end = gate.quiet_until(state, now)
            if quiet_end is not None:
                self._defer(rule, index, trigger, state, now, quiet_end)
                return
        fallback = action.via_given or engine.policy.one_channel_per_contact
        # Without opt-outs or per-channel limits, no channel is refused.
        per_channel = bool(state.opt_outs or gate.channel_limits)
        skipped: list[str] = []
        chosen = 0
        for channel in action.channels:
            why = gate.channel_blocked(state, now, channel) if per_channel else None
            if why is None and chosen:
                why = gate.limit_blocked(state, now)  # a blast: each channel counts
            if why is not None:
                skipped.append(f"{channel}: {why}")
                if not fallback:
                    self._decision(rule, index, trigger, state, now, channel, d.SUPPRESSED, why)
                continue
            chosen += 1
            if held or skipped:
                notes = (
                    [f"holdout {rule.node.holdout * 100:g}%: control group, not sent"]
                    if held
                    else []
                )
                if skipped and fallback:
                    notes.append("fallback after " + "; ".join(skipped))
                reason = "; ".join(notes) or None
            else:
                reason = None
            status = d.HELD_OUT if held else d.SENT
            did = self._decision(rule, index, trigger, state, now, channel, status, reason)
            # A held-out contact is recorded too, as a ghost: it takes the slot and counts
            # toward limits and cooldowns like a sent one, so that the control group meets the
            # same contact pressure as the treated group (no other rule contacts it instead).
            # Nothing goes out, and no survey_sent event follows.
            state.add_contact(
                Contact(now, action.target, channel, rule.node.name, did, held), self.contact_keep
            )
            if not held and engine.listens_to_sends:
                engine.feed_back(
                    f"send_{action.kind}",
                    state,
                    now,
                    did,
                    {action.kind: action.target, "channel": channel, "rule_name": rule.node.name},
                )
            if fallback:
                break
        if not chosen and fallback:
            self.refuse(
                rule, index, trigger, state, now, "no channel allowed: " + "; ".join(skipped)
            )

    def _defer(
        self,
        rule: CompiledRule,
        index: int,
        trigger: Trigger,
        state: CustomerState,
        now: float,
        quiet_end: float,
    ) -> None:
        """Quiet hours: a `deferred` decision, and a timer at their end."""
        engine = self.engine
        quiet = engine.policy.quiet_hours
        assert quiet is not None
        reason = f"{quiet.text}: deferred to {format_time(quiet_end)}"
        self._decision(
            rule, index, trigger, state, now, None, d.DEFERRED, reason, salt=f"deferred:{now}"
        )
        timer_id = d.id_of(
            f"quiet\x1f{rule.node.name}\x1f{state.customer_id}\x1f{trigger.id}\x1f{index}\x1f{now}"
        )
        engine.schedule(state, timer_id, quiet_end, QUIET, rule, index, trigger)
