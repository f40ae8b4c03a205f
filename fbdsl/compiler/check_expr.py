"""Name resolution and typing of expressions: AST `Expr` -> typed `TExpr` plus diagnostics.

A `Scope` says what bare names mean where the expression stands: in a rule's condition they
are the trigger's fields; inside `no E where`, `count(E where ...)` and `unless E where` they
are E's fields, and `TRIGGER.field` reaches back to the trigger.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import attrs

from fbdsl.compiler import ast
from fbdsl.compiler import program as p
from fbdsl.compiler.diagnostics import Diagnostic, did_you_mean, error
from fbdsl.compiler.types import (
    BOOL,
    CLOCK,
    DURATION,
    EMPTY_LIST,
    INT,
    LITERAL_TYPES,
    NUMBER,
    TIME,
    EnumType,
    ListType,
    Type,
    arithmetic_result,
    describe,
    is_numeric,
    is_ordered,
    is_stringlike,
    same_family,
)

UNKNOWN_EVENT = "FB020"
UNKNOWN_FIELD = "FB021"
UNKNOWN_TRAIT = "FB022"
UNKNOWN_CONTACT = "FB023"
UNKNOWN_CHANNEL = "FB025"
TYPE_MISMATCH = "FB030"
DURATION_EXPECTED = "FB031"
NOT_IN_ENUM = "FB032"
NOT_A_CONDITION = "FB033"
FIELD_NOT_ON_EVERY_TRIGGER = "FB035"
EVENT_NOT_IN_SCOPE = "FB036"
MISPLACED_PREDICATE = "FB037"


@attrs.frozen
class Scope:
    """What names mean here. `subject`: the event of a `no`/`count`/`unless` clause."""

    triggers: tuple[str, ...]
    subject: str | None = None
    top_level_conjunct: bool = False  # where `no E within D` may stand

    @property
    def inner(self) -> bool:
        return self.subject is not None


@attrs.frozen
class Symbols:
    """The declarations expressions can refer to."""

    events: Mapping[str, p.EventSchema]
    traits: Mapping[str, p.FieldSchema]
    channels: tuple[str, ...]
    contacts: Mapping[str, p.ContactSchema]
    # (event or "customer", field) declared with an unknown type: already reported, so a
    # reference to one is an error without a second message
    unresolved: frozenset[tuple[str, str]] = frozenset()

    def channel_hint(self, name: str) -> str:
        """What to suggest for an unknown channel."""
        return (
            did_you_mean(name, self.channels)
            or "declare it with 'channel NAME' or import \"std/channels\""
        )


class ExpressionChecker:
    """Types expressions against `Symbols`, reporting into `report`."""

    def __init__(self, symbols: Symbols, report: Callable[[Diagnostic], None]) -> None:
        self.symbols = symbols
        self.report = report
        self._dispatch: dict[type, Callable[..., p.TExpr | None]] = {}

    # -- entry points ----------------------------------------------------------------------

    def condition(self, expr: ast.Expr, scope: Scope) -> p.TExpr | None:
        """A rule condition or a `where` clause: must be a bool."""
        typed = self.expr(expr, scope)
        if typed is not None and typed.type != BOOL:
            self.report(
                error(
                    NOT_A_CONDITION,
                    f"a condition must be true or false, but this is {describe(typed.type)}",
                    expr.span,
                    "compare it with something, e.g. 'total > 50'",
                )
            )
            return None
        return typed

    def expr(self, expr: ast.Expr, scope: Scope) -> p.TExpr | None:
        """Type one expression; None when it has errors (already reported)."""
        method = self._dispatch.get(type(expr))
        if method is None:
            method = getattr(type(self), "_" + type(expr).__name__)
            self._dispatch[type(expr)] = method
        result: p.TExpr | None = method(self, expr, scope)
        return result

    # -- references ------------------------------------------------------------------------

    def _event(self, name: ast.Name) -> p.EventSchema | None:
        schema = self.symbols.events.get(name.value)
        if schema is None:
            self.report(
                error(
                    UNKNOWN_EVENT,
                    f"unknown event '{name.value}'",
                    name.span,
                    did_you_mean(name.value, self.symbols.events)
                    or "declare it with 'event NAME { ... }' or import a module that does",
                )
            )
        return schema

    def _field_type(self, event: str, field: ast.Name, hint: str | None = None) -> Type | None:
        schema = self.symbols.events.get(event)
        if schema is None:
            return None
        found = schema.fields.get(field.value)
        if found is None:
            if (event, field.value) in self.symbols.unresolved:
                return None
            self.report(
                error(
                    UNKNOWN_FIELD,
                    f"{event} has no field '{field.value}'",
                    field.span,
                    hint or did_you_mean(field.value, schema.fields),
                )
            )
            return None
        return found.type

    def _NameRef(self, expr: ast.NameRef, scope: Scope) -> p.TExpr | None:
        name = expr.name
        if scope.subject is not None:
            hint = None
            owners = [
                t
                for t in scope.triggers
                if t in self.symbols.events and name.value in self.symbols.events[t].fields
            ]
            if len(scope.triggers) == 1 and owners and scope.subject not in scope.triggers:
                hint = (
                    f"bare names here are fields of {scope.subject}; for the trigger's, "
                    f"write {owners[0]}.{name.value}"
                )
            t = self._field_type(scope.subject, name, hint)
            return p.TField("subject", name.value, t, expr.span) if t is not None else None
        return self._trigger_field(name, scope, expr.span)

    def _trigger_field(self, name: ast.Name, scope: Scope, span: ast.Span) -> p.TExpr | None:
        events = [self.symbols.events[e] for e in scope.triggers if e in self.symbols.events]
        if not events:
            return None
        having = [e for e in events if name.value in e.fields]
        if any((e.name, name.value) in self.symbols.unresolved for e in events):
            return None
        if not having:
            self._field_type(events[0].name, name)  # reports the unknown field
            return None
        if len(having) < len(events):
            missing = next(e for e in events if name.value not in e.fields)
            self.report(
                error(
                    FIELD_NOT_ON_EVERY_TRIGGER,
                    f"'{name.value}' is not a field of every trigger: {missing.name} has none",
                    name.span,
                    f"a rule triggered by {' or '.join(scope.triggers)} can only read fields "
                    "they all have",
                )
            )
            return None
        types = {e.fields[name.value].type for e in events}
        if len(types) > 1:
            self.report(
                error(
                    FIELD_NOT_ON_EVERY_TRIGGER,
                    f"'{name.value}' has different types on the triggers "
                    f"({', '.join(sorted(str(t) for t in types))})",
                    name.span,
                    "split the rule per trigger event",
                )
            )
            return None
        return p.TField("trigger", name.value, types.pop(), span)

    def _AttributeRef(self, expr: ast.AttributeRef, scope: Scope) -> p.TExpr | None:
        owner, field = expr.owner.value, expr.field
        if owner == scope.subject:
            t = self._field_type(owner, field)
            return p.TField("subject", field.value, t, expr.span) if t is not None else None
        if owner in scope.triggers:
            if len(scope.triggers) > 1:
                self.report(
                    error(
                        EVENT_NOT_IN_SCOPE,
                        f"'{owner}.{field.value}' exists only when {owner} is the trigger, "
                        f"but this rule is also triggered by "
                        f"{' or '.join(t for t in scope.triggers if t != owner)}",
                        expr.span,
                        f"write the bare name '{field.value}' if every trigger has it",
                    )
                )
                return None
            t = self._field_type(owner, field)
            return p.TField("trigger", field.value, t, expr.span) if t is not None else None
        if owner in self.symbols.events:
            in_scope = [*scope.triggers, *([scope.subject] if scope.subject else [])]
            self.report(
                error(
                    EVENT_NOT_IN_SCOPE,
                    f"'{owner}' is not the trigger of this rule, so '{owner}.{field.value}' "
                    "has no value here",
                    expr.owner.span,
                    f"events in scope here: {', '.join(in_scope)}",
                )
            )
            return None
        candidates = [*self.symbols.events, "customer"]
        self.report(
            error(
                UNKNOWN_EVENT,
                f"unknown event '{owner}'",
                expr.owner.span,
                did_you_mean(owner, candidates),
            )
        )
        return None

    def _TraitRef(self, expr: ast.TraitRef, scope: Scope) -> p.TExpr | None:
        trait = self.symbols.traits.get(expr.trait.value)
        if trait is None:
            if ("customer", expr.trait.value) in self.symbols.unresolved:
                return None
            self.report(
                error(
                    UNKNOWN_TRAIT,
                    f"the customer has no trait '{expr.trait.value}'",
                    expr.trait.span,
                    did_you_mean(expr.trait.value, self.symbols.traits)
                    or "declare it in a 'customer { ... }' block",
                )
            )
            return None
        return p.TTrait(trait.name, trait.type, expr.span)

    # -- ledger and history predicates -----------------------------------------------------

    def _predicate_allowed(self, what: str, span: ast.Span, scope: Scope) -> bool:
        if scope.inner:
            self.report(
                error(
                    MISPLACED_PREDICATE,
                    f"{what} cannot be used inside a 'where' about another event",
                    span,
                    "move it to the rule's own condition",
                )
            )
            return False
        return True

    def _LastContact(self, expr: ast.LastContact, scope: Scope) -> p.TExpr | None:
        if not self._predicate_allowed("last_contact", expr.span, scope):
            return None
        channel = expr.channel
        if channel is not None and channel.value not in self.symbols.channels:
            self.report(
                error(
                    UNKNOWN_CHANNEL,
                    f"unknown channel '{channel.value}'",
                    channel.span,
                    self.symbols.channel_hint(channel.value),
                )
            )
            return None
        return p.TLastContact(channel.value if channel else None, span=expr.span)

    def _LastSent(self, expr: ast.LastSent, scope: Scope) -> p.TExpr | None:
        if not self._predicate_allowed("last_sent", expr.span, scope):
            return None
        target = str(expr.target.value)
        if target not in self.symbols.contacts:
            self.report(
                error(
                    UNKNOWN_CONTACT,
                    f"no survey or message is called '{target}'",
                    expr.target.span,
                    did_you_mean(target, self.symbols.contacts),
                )
            )
            return None
        return p.TLastSent(target, span=expr.span)

    def _ContactsIn(self, expr: ast.ContactsIn, scope: Scope) -> p.TExpr | None:
        if not self._predicate_allowed("contacts(...)", expr.span, scope):
            return None
        return p.TContacts(expr.window.seconds, span=expr.span)

    def _CountOf(self, expr: ast.CountOf, scope: Scope) -> p.TExpr | None:
        if not self._predicate_allowed("count(...)", expr.span, scope):
            return None
        if self._event(expr.event) is None:
            return None
        where = self._inner_where(expr.where, expr.event.value, scope)
        if expr.where is not None and where is None:
            return None
        return p.TCount(expr.event.value, where, expr.window.seconds, span=expr.span)

    def _SinceLast(self, expr: ast.SinceLast, scope: Scope) -> p.TExpr | None:
        if not self._predicate_allowed("since(...)", expr.span, scope):
            return None
        if self._event(expr.event) is None:
            return None
        return p.TSince(expr.event.value, span=expr.span)

    def _FirstTime(self, expr: ast.FirstTime, scope: Scope) -> p.TExpr | None:
        if not self._predicate_allowed("first_time", expr.span, scope):
            return None
        return p.TFirstTime(span=expr.span)

    def _Never(self, expr: ast.Never, scope: Scope) -> p.TExpr | None:
        return p.TNever(span=expr.span)

    def _Absence(self, expr: ast.Absence, scope: Scope) -> p.TExpr | None:
        if scope.inner or not scope.top_level_conjunct:
            self.report(
                error(
                    MISPLACED_PREDICATE,
                    "'no ... within' must be one of the rule's 'and' conditions",
                    expr.span,
                    "it cannot stand under 'or' or 'not', nor inside another clause",
                )
            )
            return None
        if self._event(expr.event) is None:
            return None
        where = self._inner_where(expr.where, expr.event.value, scope)
        if expr.where is not None and where is None:
            return None
        return p.TAbsence(expr.event.value, where, expr.window.seconds, span=expr.span)

    def inner_scope(self, subject: str, scope: Scope) -> Scope:
        return Scope(scope.triggers, subject)

    def _inner_where(self, where: ast.Expr | None, subject: str, scope: Scope) -> p.TExpr | None:
        if where is None:
            return None
        return self.condition(where, self.inner_scope(subject, scope))

    # -- operators -------------------------------------------------------------------------

    def _BoolOp(self, expr: ast.BoolOp, scope: Scope) -> p.TExpr | None:
        conjunct = scope.top_level_conjunct and expr.op == "and"
        inner = attrs.evolve(scope, top_level_conjunct=conjunct)
        operands = [self.condition(operand, inner) for operand in expr.operands]
        if any(o is None for o in operands):
            return None
        return p.TBool(expr.op, tuple(o for o in operands if o is not None), span=expr.span)

    def _Not(self, expr: ast.Not, scope: Scope) -> p.TExpr | None:
        operand = self.condition(expr.operand, attrs.evolve(scope, top_level_conjunct=False))
        return p.TNot(operand, span=expr.span) if operand is not None else None

    def _operands(self, scope: Scope, *exprs: ast.Expr) -> list[p.TExpr] | None:
        inner = attrs.evolve(scope, top_level_conjunct=False)
        typed = [self.expr(e, inner) for e in exprs]
        if any(t is None for t in typed):
            return None
        return [t for t in typed if t is not None]

    def _Compare(self, expr: ast.Compare, scope: Scope) -> p.TExpr | None:
        operands = self._operands(scope, expr.left, expr.right)
        if operands is None:
            return None
        left, right = operands
        if not self._comparable(expr, left, right):
            return None
        return p.TCompare(expr.op, left, right, span=expr.span)

    def _comparable(self, expr: ast.Compare, left: p.TExpr, right: p.TExpr) -> bool:
        lt, rt = left.type, right.type
        for side, other, other_ast in ((left, right, expr.right), (right, left, expr.left)):
            if side.type == DURATION and _bare_number(other_ast):
                self._duration_expected(other_ast)
                return False
            if (
                isinstance(side.type, EnumType)
                and isinstance(other, p.TConst)
                and isinstance(other.value, str)
            ):
                return self._enum_member(side.type, other.value, other_ast)
        if expr.op in ("==", "!="):
            if same_family(lt, rt):
                return True
        elif is_ordered(lt) and is_ordered(rt) and same_family(lt, rt):
            return True
        elif is_stringlike(lt) and is_stringlike(rt):
            self.report(
                error(
                    TYPE_MISMATCH,
                    f"'{expr.op}' does not order strings; only == and != compare them",
                    expr.op_span,
                )
            )
            return False
        hint = None
        if isinstance(expr.right, ast.Literal) and expr.right.kind == "string" and is_numeric(lt):
            hint = f"remove the quotes: {expr.right.value}"
        self.report(
            error(
                TYPE_MISMATCH,
                f"cannot compare {describe(lt)} with {describe(rt)} using '{expr.op}'",
                expr.span,
                hint,
            )
        )
        return False

    def _duration_expected(self, literal: ast.Expr) -> None:
        assert isinstance(literal, ast.Literal)
        self.report(
            error(
                DURATION_EXPECTED,
                f"'{literal.text}' is a number, but a duration is expected here",
                literal.span,
                f"give it a unit: '{literal.text}d', '{literal.text}h'..."
                if literal.kind == "int"
                else "durations are whole numbers with a unit: '36h', '1d12h'...",
            )
        )

    def _enum_member(self, enum: EnumType, value: str, literal: ast.Expr) -> bool:
        if value in enum.values:
            return True
        self.report(
            error(
                NOT_IN_ENUM,
                f"'{value}' is not one of {enum}",
                literal.span,
                did_you_mean(value, enum.values),
            )
        )
        return False

    def _InList(self, expr: ast.InList, scope: Scope) -> p.TExpr | None:
        operands = self._operands(scope, expr.value)
        if operands is None:
            return None
        (value,) = operands
        options: list[object] = []
        ok = True
        for item in expr.options.items:
            item_type = LITERAL_TYPES[item.kind]
            if isinstance(value.type, EnumType) and isinstance(item.value, str):
                ok = self._enum_member(value.type, item.value, item) and ok
            elif not same_family(value.type, item_type):
                self.report(
                    error(
                        TYPE_MISMATCH,
                        f"this item is {describe(item_type)}, but the value looked for is "
                        f"{describe(value.type)}",
                        item.span,
                    )
                )
                ok = False
            options.append(item.value)
        if not ok:
            return None
        return p.TIn(value, tuple(options), expr.negated, span=expr.span)

    def _Contains(self, expr: ast.Contains, scope: Scope) -> p.TExpr | None:
        operands = self._operands(scope, expr.container, expr.item)
        if operands is None:
            return None
        container, item = operands
        ct = container.type
        if isinstance(ct, ListType) and (ct == EMPTY_LIST or same_family(ct.element, item.type)):
            return p.TContains(container, item, span=expr.span)
        if is_stringlike(ct) and is_stringlike(item.type):
            return p.TContains(container, item, span=expr.span)
        self.report(
            error(
                TYPE_MISMATCH,
                f"'contains' needs a list or a string on its left and a matching item; "
                f"found {describe(ct)} and {describe(item.type)}",
                expr.span,
            )
        )
        return None

    def _Arithmetic(self, expr: ast.Arithmetic, scope: Scope) -> p.TExpr | None:
        operands = self._operands(scope, expr.left, expr.right)
        if operands is None:
            return None
        left, right = operands
        result = arithmetic_result(expr.op, left.type, right.type)
        if result is None and expr.op in "+-":
            for side, other_ast in ((left, expr.right), (right, expr.left)):
                if side.type in (DURATION, TIME) and _bare_number(other_ast):
                    self._duration_expected(other_ast)
                    return None
        if result is None:
            self.report(
                error(
                    TYPE_MISMATCH,
                    f"'{expr.op}' does not apply to {describe(left.type)} and "
                    f"{describe(right.type)}",
                    expr.op_span,
                )
            )
            return None
        return p.TArith(expr.op, left, right, result, span=expr.span)

    def _Negate(self, expr: ast.Negate, scope: Scope) -> p.TExpr | None:
        operands = self._operands(scope, expr.operand)
        if operands is None:
            return None
        (operand,) = operands
        if not (is_numeric(operand.type) or operand.type == DURATION):
            self.report(
                error(
                    TYPE_MISMATCH,
                    f"'-' does not apply to {describe(operand.type)}",
                    expr.span,
                )
            )
            return None
        return p.TNeg(operand, operand.type, span=expr.span)

    # -- literals --------------------------------------------------------------------------

    def _Literal(self, expr: ast.Literal, scope: Scope) -> p.TExpr | None:
        t = LITERAL_TYPES[expr.kind]
        if t == CLOCK:
            self.report(
                error(
                    TYPE_MISMATCH,
                    "a time of day is only meaningful in 'quiet hours'",
                    expr.span,
                    "compare durations instead, e.g. 'since(order_completed) > 2h'",
                )
            )
            return None
        value = expr.value
        if expr.kind == "percent":
            assert isinstance(value, int | float)
            value = value / 100
        return p.TConst(value, t, expr.span)

    def _ListLiteral(self, expr: ast.ListLiteral, scope: Scope) -> p.TExpr | None:
        items = [self._Literal(item, scope) for item in expr.items]
        if any(i is None for i in items):
            return None
        types = {i.type for i in items if i is not None}
        if not types:
            return p.TConst((), EMPTY_LIST, expr.span)
        element = NUMBER if types == {INT, NUMBER} else next(iter(types))
        if len(types) > 1 and types != {INT, NUMBER}:
            self.report(error(TYPE_MISMATCH, "a list's items must all have one type", expr.span))
            return None
        values = tuple(i.value for i in items if isinstance(i, p.TConst))
        return p.TConst(values, ListType(element), expr.span)


def _bare_number(expr: ast.Expr) -> bool:
    """A number literal written without a unit (`30`, `2.5`; not `25%`)."""
    return isinstance(expr, ast.Literal) and expr.kind in ("int", "number")
