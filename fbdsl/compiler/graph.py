"""The RuleGraph: the compiled, inspectable program (data, not code).

    event type --dispatch--> shared field tests --> rule: late tests (cheap first)
        --> deferred conditions (absence) --> sample/holdout gate --> arbitration
        --> policy gate (contacts only) --> actions

Field tests read only the trigger's own fields and constants; each distinct test is one node,
evaluated once per event and shared by every rule that uses it. Late tests read the profile,
the history or the ledger and run only for rules whose field tests passed, cheapest first.
The graph is the only thing the runtime sees of a program; it prints as JSON or DOT.
"""

from __future__ import annotations

import attrs

from fbdsl.compiler import ast
from fbdsl.compiler import program as p
from fbdsl.compiler.render import duration_text, render, render_inner

GRAPH_FORMAT_VERSION = 1

# Cost classes of late tests: traits are a dict lookup, history a scan of a short window,
# the ledger a look at the contact log.
COST_FIELD, COST_TRAIT, COST_HISTORY, COST_LEDGER = 0, 1, 2, 3


@attrs.frozen(slots=True)
class FieldTest:
    """A predicate over the trigger's fields, shared by every rule (of one event) using it."""

    id: int
    event: str
    expr: p.TExpr
    text: str


@attrs.frozen(slots=True)
class LateTest:
    expr: p.TExpr
    cost: int
    text: str


@attrs.frozen(slots=True)
class RuleNode:
    name: str
    index: int
    priority: int
    sample: float
    holdout: float
    mode: str | None
    triggers: tuple[str, ...]
    field_tests: dict[str, tuple[int, ...]] = attrs.field(hash=False)  # per trigger event
    late_tests: tuple[LateTest, ...]
    absences: tuple[p.TAbsence, ...]
    actions: tuple[p.CheckedAction, ...]
    span: ast.Span = ast.span_field()

    @property
    def contacts(self) -> bool:
        return any(isinstance(a, p.CheckedSend) for a in self.actions)


@attrs.frozen(slots=True)
class RuleGraph:
    """What the engine runs: dispatch table, shared tests, rules, policy, schemas."""

    dispatch: dict[str, tuple[int, ...]] = attrs.field(hash=False)  # event -> rule indexes
    field_tests: tuple[FieldTest, ...]
    rules: tuple[RuleNode, ...]
    policy: p.Policy
    modes: dict[str, p.Mode] = attrs.field(hash=False)
    events: dict[str, p.EventSchema] = attrs.field(hash=False)
    external_names: dict[str, str] = attrs.field(hash=False)
    traits: dict[str, p.FieldSchema] = attrs.field(hash=False)
    contacts: dict[str, p.ContactSchema] = attrs.field(hash=False)
    history: p.HistoryNeeds


def _reads(expr: p.TExpr) -> int:
    """The cost class of an expression: the most expensive source it reads."""
    cost = COST_FIELD
    for node in ast.walk(expr):
        if isinstance(node, p.TField) and node.scope == "trigger":
            continue
        if isinstance(node, p.TTrait):
            cost = max(cost, COST_TRAIT)
        elif isinstance(node, p.TCount | p.TSince | p.TFirstTime):
            cost = max(cost, COST_HISTORY)
        elif isinstance(node, p.TLastContact | p.TLastSent | p.TContacts):
            cost = max(cost, COST_LEDGER)
    return cost


def conjuncts(condition: p.TExpr | None) -> tuple[p.TExpr, ...]:
    if condition is None:
        return ()
    if isinstance(condition, p.TBool) and condition.op == "and":
        return tuple(term for operand in condition.operands for term in conjuncts(operand))
    return (condition,)


def build_graph(program: p.CheckedProgram) -> RuleGraph:
    """Compile a checked program to its rule graph."""
    tests: list[FieldTest] = []
    test_ids: dict[tuple[str, p.TExpr], int] = {}
    nodes: list[RuleNode] = []
    for rule in program.rules:
        field_terms: list[p.TExpr] = []
        late: list[LateTest] = []
        absences: list[p.TAbsence] = []
        for term in conjuncts(rule.condition):
            if isinstance(term, p.TAbsence):
                absences.append(term)
                continue
            cost = _reads(term)
            if cost == COST_FIELD:
                field_terms.append(term)
            else:
                late.append(LateTest(term, cost, render(term, rule.triggers[0])))
        late.sort(key=lambda test: test.cost)  # stable: same cost keeps source order
        per_event: dict[str, tuple[int, ...]] = {}
        for event in rule.triggers:
            ids = []
            for term in field_terms:
                key = (event, term)
                if key not in test_ids:
                    test_ids[key] = len(tests)
                    tests.append(FieldTest(len(tests), event, term, render(term, event)))
                ids.append(test_ids[key])
            per_event[event] = tuple(ids)
        nodes.append(
            RuleNode(
                rule.name,
                rule.index,
                rule.priority,
                rule.sample,
                rule.holdout,
                rule.mode,
                rule.triggers,
                per_event,
                tuple(late),
                tuple(absences),
                rule.actions,
                rule.decl.span,
            )
        )
    dispatch: dict[str, list[int]] = {}
    for node in nodes:
        for event in node.triggers:
            dispatch.setdefault(event, []).append(node.index)
    ordered = {
        event: tuple(sorted(indexes, key=lambda i: (-nodes[i].priority, i)))
        for event, indexes in sorted(dispatch.items())
    }
    return RuleGraph(
        ordered,
        tuple(tests),
        tuple(nodes),
        program.policy,
        program.modes,
        program.events,
        program.external_names,
        program.traits,
        program.contacts,
        program.history,
    )


# ---- printing --------------------------------------------------------------------------


def _action_json(action: p.CheckedAction, trigger: str) -> dict[str, object]:
    if isinstance(action, p.CheckedSend):
        out: dict[str, object] = {
            "action": f"send_{action.kind}",
            "target": action.target,
            "channels": list(action.channels),
        }
        if action.after is not None:
            out["after"] = duration_text(action.after)
        if action.unless is not None:
            unless = action.unless.event
            if action.unless.where is not None:
                unless += " where " + render_inner(action.unless.where, trigger)
            out["unless"] = unless
        return out
    if isinstance(action, p.CheckedTask):
        return {
            "action": "create_task",
            "target": action.task,
            "team": action.team,
            "due": duration_text(action.due) if action.due is not None else None,
            "notes": {key: render(value, trigger) for key, value in action.notes},
        }
    return {"action": "untag" if action.remove else "tag", "target": action.tag}


def _policy_json(policy: p.Policy) -> dict[str, object]:
    return {
        "limits": [limit.text for limit in policy.limits],
        "quiet_hours": policy.quiet_hours.text if policy.quiet_hours else None,
        "one_channel_per_contact": policy.one_channel_per_contact,
    }


def graph_to_json(graph: RuleGraph) -> dict[str, object]:
    return {
        "version": GRAPH_FORMAT_VERSION,
        "dispatch": {
            event: [graph.rules[i].name for i in order] for event, order in graph.dispatch.items()
        },
        "field_tests": [
            {
                "id": t.id,
                "event": t.event,
                "test": t.text,
                "shared_by": [
                    r.name for r in graph.rules if t.id in r.field_tests.get(t.event, ())
                ],
            }
            for t in graph.field_tests
        ],
        "rules": [
            {
                "name": rule.name,
                "priority": rule.priority,
                "sample": rule.sample,
                "holdout": rule.holdout,
                "mode": rule.mode,
                "triggers": list(rule.triggers),
                "field_tests": {e: list(ids) for e, ids in rule.field_tests.items()},
                "late_tests": [{"test": t.text, "cost": t.cost} for t in rule.late_tests],
                "absences": [render(a, rule.triggers[0]) for a in rule.absences],
                "contact": rule.contacts,
                "actions": [_action_json(a, rule.triggers[0]) for a in rule.actions],
            }
            for rule in graph.rules
        ],
        "policy": _policy_json(graph.policy),
        "modes": {
            name: _policy_json(mode.policy) if mode.policy else None
            for name, mode in graph.modes.items()
        },
        "history": {
            "count_windows": {
                e: duration_text(w) for e, w in graph.history.window_by_event.items()
            },
            "since": sorted(graph.history.last_seen_events),
            "first_time": sorted(graph.history.first_time_events),
        },
    }


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def graph_to_dot(graph: RuleGraph) -> str:
    """Graphviz: events -> shared tests -> rules -> policy gate / actions."""
    lines = ["digraph fbdsl {", "  rankdir=LR;", '  node [fontname="Helvetica"];']
    for event in graph.dispatch:
        lines.append(
            f'  "event:{event}" [shape=box, style=filled, fillcolor="#dde8ff", label="{event}"];'
        )
    for test in graph.field_tests:
        lines.append(f'  "test:{test.id}" [shape=diamond, label="{_dot_text(test.text)}"];')
        lines.append(f'  "event:{test.event}" -> "test:{test.id}";')
    lines.append('  "policy" [shape=octagon, label="policy gate"];')
    for rule in graph.rules:
        late = "\\n".join(_dot_text(t.text) for t in rule.late_tests)
        label = f"{_dot_text(rule.name)}\\npriority {rule.priority}"
        if late:
            label += f"\\n{late}"
        lines.append(f'  "rule:{rule.index}" [shape=ellipse, label="{label}"];')
        for event in rule.triggers:
            ids = rule.field_tests[event]
            if ids:
                lines.extend(f'  "test:{i}" -> "rule:{rule.index}";' for i in ids)
            else:
                lines.append(f'  "event:{event}" -> "rule:{rule.index}";')
        for position, action in enumerate(rule.actions):
            described = _action_json(action, rule.triggers[0])
            action_id = f"action:{rule.index}:{position}"
            lines.append(
                f'  "{action_id}" [shape=note, label="{described["action"]} '
                f'{_dot_text(str(described["target"]))}"];'
            )
            source = "policy" if isinstance(action, p.CheckedSend) else f"rule:{rule.index}"
            if isinstance(action, p.CheckedSend):
                lines.append(f'  "rule:{rule.index}" -> "policy";')
            lines.append(f'  "{source}" -> "{action_id}";')
    lines.append("}")
    return "\n".join(dict.fromkeys(lines)) + "\n"
