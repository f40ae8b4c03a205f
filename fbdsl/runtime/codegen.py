"""RuleGraph -> Python source: one matcher function per event type, compiled once.

A matcher evaluates the event's shared field tests once, then, for each rule of that event
in priority order, the rule's field tests and its late tests (cheap first, short-circuit),
and returns the rules that match. No tree is walked per event: the conditions are plain
Python expressions over `f` (the trigger's fields), `st` (the customer's state), `now` and
`prev` (when the customer last had an event of this type, for `since` and `first_time`).

Also per event type, compiled the same way: its decisions' `trigger` view and the copy of
its fields that history keeps (a dict display each, instead of a loop with a test per field).

Missing values: a trait without a default may be absent (None); a comparison with an absent
value is false, arithmetic with one is absent. Division by zero yields NaN, which compares
false (and `!=` true).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

from fbdsl.compiler import program as p
from fbdsl.compiler.graph import RuleGraph, RuleNode
from fbdsl.runtime.state import CustomerState
from fbdsl.runtime.timers import Trigger
from fbdsl.runtime.timeutil import INFINITY, format_time

Matcher = Callable[[dict[str, Any], CustomerState, float, "float | None"], list[RuleNode]]

_COMPARE = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_ARITH = {"+": operator.add, "-": operator.sub, "*": operator.mul}


def _div(a: float, b: float) -> float:
    return a / b if b else math.nan


def _maybe_compare(op: str, a: Any, b: Any) -> bool:
    if a is None or b is None:
        return False
    return bool(_COMPARE[op](a, b))


def _maybe_arith(op: str, a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    return _div(a, b) if op == "/" else _ARITH[op](a, b)


def _count(st: CustomerState, event: str, now: float, window: float, where: Any, f: Any) -> int:
    entries = st.history.get(event)
    if not entries:
        return 0
    start = now - window
    count = 0
    if where is None:
        for at, _ in entries:
            if start < at <= now:
                count += 1
    else:
        for at, s in entries:
            if start < at <= now and where(s, f):
                count += 1
    return count


class _Source:
    """Builds the source of one module: hoisted constants and the matcher functions."""

    def __init__(self, graph: RuleGraph) -> None:
        self.graph = graph
        self.constants: dict[str, Any] = {}
        self.lines: list[str] = []

    def constant(self, value: Any) -> str:
        for name, existing in self.constants.items():
            if type(existing) is type(value) and existing == value:
                return name
        name = f"K{len(self.constants)}"
        self.constants[name] = value
        return name

    # -- expressions -----------------------------------------------------------------------

    def expr(self, e: p.TExpr, event: str, history: str | None = None) -> tuple[str, bool]:
        """(python source, may be None). `history`: inside `count(E where ...)`, the event E
        whose kept history entries `s` holds."""
        match e:
            case p.TConst():
                if isinstance(e.value, tuple):
                    return self.constant(e.value), False
                return repr(e.value), False
            case p.TField():
                if e.scope == "subject" and history is not None:
                    return self.history_field(history, e.name)
                target = "s" if e.scope == "subject" else "f"
                return f"{target}[{e.name!r}]", False
            case p.TTrait():
                return self.trait(e)
            case p.TLastContact():
                return f"st.since_contact(now, {e.channel!r})", False
            case p.TLastSent():
                return f"st.since_sent(now, {e.target!r})", False
            case p.TContacts():
                return f"st.contacts_within(now, {float(e.window)!r})", False
            case p.TCount():
                where = "None"
                if e.where is not None:
                    body, _ = self.expr(e.where, event, history=e.event)
                    where = f"(lambda s, f: {body})"
                return f"_count(st, {e.event!r}, now, {float(e.window)!r}, {where}, f)", False
            case p.TSince():
                if e.event == event:
                    return "(_INF if prev is None else now - prev)", False
                return f"(now - st.last_seen.get({e.event!r}, -_INF))", False
            case p.TFirstTime():
                return "(prev is None)", False
            case p.TNever():
                return "_INF", False
            case p.TBool():
                parts = [self.expr(o, event, history)[0] for o in e.operands]
                return "(" + f" {e.op} ".join(parts) + ")", False
            case p.TNot():
                return f"(not {self.expr(e.operand, event, history)[0]})", False
            case p.TCompare():
                (left, left_none), (right, right_none) = (
                    self.expr(e.left, event, history),
                    self.expr(e.right, event, history),
                )
                if left_none or right_none:
                    return f"_maybe_compare({e.op!r}, {left}, {right})", False
                return f"({left} {e.op} {right})", False
            case p.TIn():
                value, none = self.expr(e.value, event, history)
                options = self.constant(frozenset(e.options))
                keyword = "not in" if e.negated else "in"
                if none:
                    return f"({value} is not None and {value} {keyword} {options})", False
                return f"({value} {keyword} {options})", False
            case p.TContains():
                if isinstance(e.container, p.TTrait) and e.container.name == "tags":
                    container, c_none = "st.tags", False  # the set itself: O(1) membership
                else:
                    container, c_none = self.expr(e.container, event, history)
                item, i_none = self.expr(e.item, event, history)
                if c_none or i_none:
                    return (
                        f"({container} is not None and {item} is not None "
                        f"and {item} in {container})"
                    ), False
                return f"({item} in {container})", False
            case p.TArith():
                (left, left_none), (right, right_none) = (
                    self.expr(e.left, event, history),
                    self.expr(e.right, event, history),
                )
                if left_none or right_none:
                    return f"_maybe_arith({e.op!r}, {left}, {right})", True
                if e.op == "/":
                    return f"_div({left}, {right})", False
                return f"({left} {e.op} {right})", False
            case p.TNeg():
                operand, none = self.expr(e.operand, event, history)
                return (
                    f"(None if {operand} is None else -{operand})" if none else f"(-{operand})"
                ), none
            case p.TAbsence():
                raise ValueError("absence conditions are timers, not tests")
        raise TypeError(f"cannot compile {type(e).__name__}")  # pragma: no cover

    def history_field(self, event: str, name: str) -> tuple[str, bool]:
        """A field of a kept history entry. An entry kept before the field was declared
        lacks it: it reads as the field's default, as an event without it would decode;
        without a default, as absent (a comparison with it is false)."""
        schema = self.graph.events[event].fields[name]
        if schema.has_default:
            default = schema.default
            literal = self.constant(default) if isinstance(default, tuple) else repr(default)
            return f"s.get({name!r}, {literal})", False
        return f"s.get({name!r})", True

    def trait(self, e: p.TTrait) -> tuple[str, bool]:
        if e.name == "tags":
            return "tuple(sorted(st.tags))", False  # as a value, tags are a sorted list
        schema = self.graph.traits[e.name]
        if schema.has_default:
            default = schema.default
            literal = self.constant(default) if isinstance(default, tuple) else repr(default)
            return f"st.traits.get({e.name!r}, {literal})", False
        return f"st.traits.get({e.name!r})", True

    # -- matchers --------------------------------------------------------------------------

    def matcher(self, event: str, rules: list[RuleNode]) -> str:
        name = f"match_{event}"
        body = [f"def {name}(f, st, now, prev):", "    out = []"]
        shared = sorted({i for rule in rules for i in rule.field_tests[event]})
        for test_id in shared:
            source, _ = self.expr(self.graph.field_tests[test_id].expr, event)
            body.append(f"    t{test_id} = {source}")
        for rule in rules:
            terms = [f"t{i}" for i in rule.field_tests[event]]
            if not rule.absences:  # with an absence window, late tests wait for it to pass
                terms += [self.expr(test.expr, event)[0] for test in rule.late_tests]
            body.append(f"    # rule {rule.name}")
            if terms:
                body.append(f"    if {' and '.join(terms)}:")
                body.append(f"        out.append(R{rule.index})")
            else:
                body.append(f"    out.append(R{rule.index})")
        body.append("    return out")
        self.lines.extend(body)
        self.lines.append("")
        return name


def _namespace(source: _Source) -> dict[str, Any]:
    return {
        "_INF": INFINITY,
        "_div": _div,
        "_count": _count,
        "_maybe_compare": _maybe_compare,
        "_maybe_arith": _maybe_arith,
        **source.constants,
    }


def compile_matchers(graph: RuleGraph, active: list[RuleNode]) -> tuple[dict[str, Matcher], str]:
    """Matchers for the active rules (priority order kept), and their source (for `graph`)."""
    source = _Source(graph)
    names: dict[str, str] = {}
    active_indexes = {rule.index for rule in active}
    for event, order in graph.dispatch.items():
        rules = [graph.rules[i] for i in order if i in active_indexes]
        if rules:
            names[event] = source.matcher(event, rules)
    text = "\n".join(source.lines)
    namespace = _namespace(source)
    namespace.update({f"R{rule.index}": rule for rule in graph.rules})
    exec(compile(text, "<fbdsl rule graph>", "exec"), namespace)
    return {event: namespace[name] for event, name in names.items()}, text


def compile_gates(
    graph: RuleGraph, rules_by_event: dict[str, list[RuleNode]]
) -> dict[str, Callable[[dict[str, Any]], bool]]:
    """Per event type, whether an event's own fields pass every field test of at least one
    of its rules (`rules_by_event`): the rules' field tests alone, an `or` of `and`s. An
    event type with a rule that has no field test gets none (every event may match)."""
    source = _Source(graph)
    names: dict[str, str] = {}
    for event, rules in rules_by_event.items():
        if not rules or any(not rule.field_tests[event] for rule in rules):
            continue
        alternatives = [
            "(" + " and ".join(
                source.expr(graph.field_tests[i].expr, event)[0] for i in rule.field_tests[event]
            ) + ")"
            for rule in rules
        ]  # fmt: skip
        names[event] = f"gate_{event}"
        source.lines += [f"def gate_{event}(f):", f"    return {' or '.join(alternatives)}", ""]
    namespace = _namespace(source)
    exec(compile("\n".join(source.lines), "<fbdsl field gates>", "exec"), namespace)
    return {event: namespace[name] for event, name in names.items()}


def compile_predicate(
    graph: RuleGraph, expr: p.TExpr, event: str
) -> Callable[[dict[str, Any], CustomerState, float, float | None, dict[str, Any]], Any]:
    """One expression as `fn(s, st, now, prev, f)`: `s` the fields of the event a `where`
    is about (for trigger-scope expressions pass the trigger's fields), `f` the trigger's."""
    source = _Source(graph)
    body, _ = source.expr(expr, event)
    code = f"lambda s, st, now, prev, f: {body}"
    return eval(compile(code, "<fbdsl expression>", "eval"), _namespace(source))  # type: ignore[no-any-return]


def compile_trigger_view(
    event: str, names: tuple[str, ...], times: frozenset[str]
) -> Callable[[Trigger], dict[str, Any]]:
    """`decisions.trigger_view` for the triggers of one event type (`names` its declared
    fields, `times` those that are times) as one function of the trigger."""
    properties = ", ".join(
        f"{name!r}: _fmt(f[{name!r}])" if name in times else f"{name!r}: f[{name!r}]"
        for name in names
    )
    source = "\n".join(
        [
            "def view(t):",
            "    f = t.fields",
            f"    return {{'event': {event!r}, 'id': t.id, 'timestamp': _fmt(t.timestamp),",
            f"            'properties': {{{properties}}}}}",
        ]
    )
    namespace: dict[str, Any] = {"_fmt": format_time}
    exec(compile(source, f"<fbdsl trigger view of {event}>", "exec"), namespace)
    return namespace["view"]  # type: ignore[no-any-return]


def compile_field_copy(names: tuple[str, ...]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """`{name: fields[name] for name in names}` as one dict display."""
    items = ", ".join(f"{name!r}: f[{name!r}]" for name in names)
    return eval(compile(f"lambda f: {{{items}}}", "<fbdsl field copy>", "eval"))  # type: ignore[no-any-return]
