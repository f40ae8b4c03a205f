"""Cycles: rules that trigger on events their own actions cause.

fbdsl reports its own decisions back into the customer's stream as events (declared by
`import "std/fbdsl"`): `survey_sent`, `message_sent`, `task_created`, `customer_tagged`,
`customer_untagged`. A rule triggered by one of them whose actions (directly, or through
other rules) cause it again would loop. An edge is left out when the triggered rule's
condition pins a field (`tag == "vip"`, `survey in ["nps"]`) to values the action never
produces, so `when customer_tagged where tag == "vip" then tag "vip_welcomed"` is fine.
"""

from __future__ import annotations

from collections.abc import Sequence

from fbdsl.compiler import program as p
from fbdsl.compiler.diagnostics import Diagnostic, error

CYCLE = "FB060"


def caused_events(action: p.CheckedAction) -> tuple[str, dict[str, str]]:
    """The fbdsl event an action causes, with the field values it is known to carry."""
    if isinstance(action, p.CheckedSend):
        event = "survey_sent" if action.kind == "survey" else "message_sent"
        return event, {action.kind: action.target}
    if isinstance(action, p.CheckedTask):
        return "task_created", {"task": action.task, "team": action.team}
    return ("customer_untagged" if action.remove else "customer_tagged"), {"tag": action.tag}


def _pinned_values(condition: p.TExpr | None) -> dict[str, set[object]]:
    """Trigger fields the condition requires to be one of some constants (top-level `and`)."""
    pinned: dict[str, set[object]] = {}
    conjuncts = (
        condition.operands
        if isinstance(condition, p.TBool) and condition.op == "and"
        else (condition,)
        if condition is not None
        else ()
    )
    for term in conjuncts:
        if isinstance(term, p.TCompare) and term.op == "==":
            for field, const in ((term.left, term.right), (term.right, term.left)):
                if (
                    isinstance(field, p.TField)
                    and field.scope == "trigger"
                    and isinstance(const, p.TConst)
                ):
                    pinned.setdefault(field.name, set()).add(const.value)
        elif isinstance(term, p.TIn) and not term.negated and isinstance(term.value, p.TField):
            pinned.setdefault(term.value.name, set()).update(term.options)
    return pinned


def find_cycles(rules: Sequence[p.CheckedRule]) -> list[Diagnostic]:
    """One error per cycle (strongly connected component), at its first rule."""
    fbdsl_events = {
        "survey_sent",
        "message_sent",
        "task_created",
        "customer_tagged",
        "customer_untagged",
    }
    listeners: dict[str, list[tuple[p.CheckedRule, dict[str, set[object]]]]] = {}
    for rule in rules:
        for event in set(rule.triggers) & fbdsl_events:
            listeners.setdefault(event, []).append((rule, _pinned_values(rule.condition)))
    edges: dict[int, list[int]] = {}
    for source in rules:
        targets: set[int] = set()
        for action in source.actions:
            event, values = caused_events(action)
            for target, pinned in listeners.get(event, ()):
                if all(values[f] in allowed for f, allowed in pinned.items() if f in values):
                    targets.add(target.index)
        edges[source.index] = sorted(targets)
    by_index = {rule.index: rule for rule in rules}
    diagnostics = []
    for component in _strongly_connected(edges):
        first = by_index[min(component)]
        if len(component) == 1 and first.index not in edges[first.index]:
            continue
        names = [by_index[i].name for i in sorted(component)]
        if len(names) == 1:
            message = (
                f"rule '{first.name}' triggers on {', '.join(first.triggers)}, "
                "which its own actions cause: it would trigger itself forever"
            )
        else:
            message = f"rules {' -> '.join(names + names[:1])} trigger each other in a cycle"
        diagnostics.append(
            error(
                CYCLE,
                message,
                first.decl.span if first.decl.name is None else first.decl.name.span,
                'narrow the trigger (e.g. where tag == "...") so the action cannot match it',
            )
        )
    return diagnostics


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
