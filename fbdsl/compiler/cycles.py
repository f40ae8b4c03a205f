"""Cycles: rules that trigger on events their own actions cause.

fbdsl reports its own decisions back into the customer's stream as events (declared by
`import "std/fbdsl"`): `survey_sent`, `message_sent`, `task_created`, `customer_tagged`,
`customer_untagged`. A rule triggered by one of them whose actions (directly, or through
other rules) cause it again would loop. An edge is left out when the triggered rule's
condition (its top-level `and` terms) rules out the values the action produces: it pins a
field (`tag == "vip"`, `survey in ["nps"]`, `tag == "a" or tag == "b"`) to other values, or
excludes them (`tag != "vip"`, `rule_name not in [...]`). So `when customer_tagged where
tag == "vip" then tag "vip_welcomed"` is fine.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs

from fbdsl.compiler import program as p
from fbdsl.compiler.diagnostics import Diagnostic, error

CYCLE = "FB060"
FBDSL_EVENTS = frozenset(
    {"survey_sent", "message_sent", "task_created", "customer_tagged", "customer_untagged"}
)


def caused_events(rule: p.CheckedRule, action: p.CheckedAction) -> tuple[str, dict[str, str]]:
    """The fbdsl event an action causes, with the field values it is known to carry."""
    values = {"rule_name": rule.name}
    if isinstance(action, p.CheckedSend):
        event = "survey_sent" if action.kind == "survey" else "message_sent"
        return event, {**values, action.kind: action.target}
    if isinstance(action, p.CheckedTask):
        return "task_created", {**values, "task": action.task, "team": action.team}
    event = "customer_untagged" if action.remove else "customer_tagged"
    return event, {**values, "tag": action.tag}


@attrs.frozen
class FieldConstraint:
    """What a condition requires of one trigger field: one of `allowed` (None: any value),
    none of `excluded`."""

    allowed: frozenset[object] | None = None
    excluded: frozenset[object] = frozenset()

    def admits(self, value: object) -> bool:
        return (self.allowed is None or value in self.allowed) and value not in self.excluded

    def narrowed(
        self, allowed: Iterable[object] | None = None, excluded: Iterable[object] = ()
    ) -> FieldConstraint:
        """This constraint and another one (`allowed` None: any value)."""
        together = self.allowed
        if allowed is not None:
            allow = frozenset(allowed)
            together = allow if together is None else together & allow
        return FieldConstraint(together, self.excluded | frozenset(excluded))


def _trigger_field(expr: p.TExpr) -> str | None:
    return expr.name if isinstance(expr, p.TField) and expr.scope == "trigger" else None


def _pins(term: p.TExpr) -> tuple[str, set[object]] | None:
    """(field, values) when `term` holds exactly when a trigger field is one of the values:
    `f == "a"`, `f in ["a", "b"]`, or an `or` of such terms about one field."""
    if isinstance(term, p.TCompare) and term.op == "==":
        for side, other in ((term.left, term.right), (term.right, term.left)):
            field = _trigger_field(side)
            if field is not None and isinstance(other, p.TConst):
                return field, {other.value}
    elif isinstance(term, p.TIn) and not term.negated:
        field = _trigger_field(term.value)
        if field is not None:
            return field, set(term.options)
    elif isinstance(term, p.TBool) and term.op == "or":
        parts = [_pins(operand) for operand in term.operands]
        fields = {part[0] for part in parts if part is not None}
        if None not in parts and len(fields) == 1:
            return fields.pop(), {v for part in parts if part is not None for v in part[1]}
    return None


def _excludes(term: p.TExpr) -> tuple[str, set[object]] | None:
    """(field, values) when `term` rules those values of a trigger field out: `f != "a"`,
    `f not in ["a", "b"]`."""
    if isinstance(term, p.TCompare) and term.op == "!=":
        for side, other in ((term.left, term.right), (term.right, term.left)):
            field = _trigger_field(side)
            if field is not None and isinstance(other, p.TConst):
                return field, {other.value}
    elif isinstance(term, p.TIn) and term.negated:
        field = _trigger_field(term.value)
        if field is not None:
            return field, set(term.options)
    return None


def field_constraints(condition: p.TExpr | None) -> dict[str, FieldConstraint]:
    """What the top-level `and` terms of a condition require of trigger fields."""
    if condition is None:
        return {}
    is_and = isinstance(condition, p.TBool) and condition.op == "and"
    conjuncts = condition.operands if isinstance(condition, p.TBool) and is_and else (condition,)
    constraints: dict[str, FieldConstraint] = {}
    for term in conjuncts:
        pinned = _pins(term)
        if pinned is not None:
            field, values = pinned
            constraints[field] = constraints.get(field, FieldConstraint()).narrowed(values)
        excluded = _excludes(term)
        if excluded is not None:
            field, values = excluded
            constraints[field] = constraints.get(field, FieldConstraint()).narrowed(excluded=values)
    return constraints


def find_cycles(rules: Sequence[p.CheckedRule]) -> list[Diagnostic]:
    """One error per cycle (strongly connected component), at its first rule."""
    listeners: dict[str, list[tuple[p.CheckedRule, dict[str, FieldConstraint]]]] = {}
    for rule in rules:
        for event in sorted(set(rule.triggers) & FBDSL_EVENTS):
            listeners.setdefault(event, []).append((rule, field_constraints(rule.condition)))
    edges: dict[int, list[int]] = {}
    for source in rules:
        targets: set[int] = set()
        for action in source.actions:
            event, values = caused_events(source, action)
            for target, constraints in listeners.get(event, ()):
                if all(c.admits(values[f]) for f, c in constraints.items() if f in values):
                    targets.add(target.index)
        edges[source.index] = sorted(targets)
    by_index = {rule.index: rule for rule in rules}
    diagnostics = []
    for component in _strongly_connected(edges):
        first = by_index[min(component)]
        if len(component) == 1 and first.index not in edges[first.index]:
            continue
        path = _cycle_through(first.index, edges, set(component))
        if len(path) == 1:
            message = (
                f"rule '{first.name}' triggers on {', '.join(first.triggers)}, "
                "which its own actions cause: it would trigger itself forever"
            )
        else:
            names = [by_index[i].name for i in [*path, path[0]]]
            message = f"rules {' -> '.join(names)} trigger each other in a cycle"
            others = sorted(set(component) - set(path))
            if others:
                also = ", ".join(by_index[i].name for i in others)
                message += f" (and with it: {also})"
        diagnostics.append(
            error(
                CYCLE,
                message,
                first.decl.span if first.decl.name is None else first.decl.name.span,
                'narrow the trigger (e.g. where tag == "...") so the action cannot match it',
            )
        )
    return diagnostics


def _cycle_through(start: int, edges: dict[int, list[int]], members: set[int]) -> list[int]:
    """A shortest cycle from `start` back to it inside one component (each rule causes the
    next): breadth-first, so the path printed is one that really exists."""
    if start in edges[start] and len(members) == 1:
        return [start]
    came_from: dict[int, int] = {}
    frontier = [start]
    while frontier:
        following: list[int] = []
        for node in frontier:
            for child in edges[node]:
                if child == start and node != start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return path[::-1]
                if child in members and child not in came_from:
                    came_from[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError("a strongly connected component has a cycle through each member")


def _strongly_connected(edges: dict[int, list[int]]) -> list[list[int]]:
    """Tarjan's algorithm, iterative; components in a deterministic order."""
    index_of: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    components: list[list[int]] = []
    counter = 0
    for root in sorted(edges):
        if root in index_of:
            continue
        work = [(root, 0)]
        while work:
            node, child_position = work.pop()
            if child_position == 0:
                index_of[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            children = edges.get(node, [])
            if child_position < len(children):
                work.append((node, child_position + 1))
                child = children[child_position]
                if child not in index_of:
                    work.append((child, 0))
                elif child in on_stack:
                    low[node] = min(low[node], index_of[child])
                continue
            for child in children:
                if child in on_stack:
                    low[node] = min(low[node], low[child])
            if low[node] == index_of[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return sorted(components)
