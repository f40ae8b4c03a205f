"""The fbdsl abstract syntax tree: frozen, slotted attrs nodes, each carrying its Span.

The parser (`parser.py`) builds these from Lark's parse tree; the checker resolves and types
them; the formatter prints them back. Spans are excluded from equality (`eq=False`), so two
programs that differ only in layout compare equal: the formatter's "same AST" property and
the rule graph's sharing of identical tests both rely on that.
"""

from __future__ import annotations

from typing import TypeAlias

import attrs


@attrs.frozen(slots=True)
class Span:
    """Where a node came from: 1-based line/column, end exclusive, and character offsets."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int
    start: int
    end: int

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
            "start": self.start,
            "end": self.end,
        }


NO_SPAN = Span("<builtin>", 0, 0, 0, 0, 0, 0)


def span_field() -> Span:
    return attrs.field(eq=False, repr=False, default=NO_SPAN)  # type: ignore[no-any-return]


@attrs.frozen(slots=True)
class Name:
    """An identifier as written, with its own span (for precise carets)."""

    value: str
    span: Span = span_field()


@attrs.frozen(slots=True)
class Duration:
    """A duration literal: `1d12h` is 129600 seconds; `text` keeps the spelling."""

    seconds: int
    text: str
    span: Span = span_field()


# ---- types as written ----------------------------------------------------------------------


@attrs.frozen(slots=True)
class NamedType:
    name: str  # int, number, string, bool, time, duration (anything else is an error)
    span: Span = span_field()


@attrs.frozen(slots=True)
class ListType:
    element: TypeExpr
    span: Span = span_field()


@attrs.frozen(slots=True)
class EnumType:
    values: tuple[str, ...]
    span: Span = span_field()


TypeExpr: TypeAlias = NamedType | ListType | EnumType


# ---- expressions ---------------------------------------------------------------------------


@attrs.frozen(slots=True)
class Literal:
    """A constant. kind: int, number, string, bool, duration, percent, clock.

    value: int/float/str/bool; durations in seconds, percents as a float (25% -> 25.0),
    clock times in minutes after midnight.
    """

    kind: str
    value: int | float | str | bool
    text: str
    span: Span = span_field()


@attrs.frozen(slots=True)
class ListLiteral:
    items: tuple[Literal, ...]
    span: Span = span_field()


@attrs.frozen(slots=True)
class NameRef:
    """A bare name in an expression: a field of the event in scope."""

    name: Name
    span: Span = span_field()


@attrs.frozen(slots=True)
class AttributeRef:
    """`event.field`: a field of a named event (the trigger, or the scope event)."""

    owner: Name
    field: Name
    span: Span = span_field()


@attrs.frozen(slots=True)
class TraitRef:
    """`customer.trait`: a profile trait (or `customer.tags`)."""

    trait: Name
    span: Span = span_field()


@attrs.frozen(slots=True)
class LastContact:
    """`last_contact` or `last_contact(channel)`: duration since the last contact, or never."""

    channel: Name | None
    span: Span = span_field()


@attrs.frozen(slots=True)
class LastSent:
    """`last_sent("id")`: duration since that survey or message was last sent, or never."""

    target: Literal
    span: Span = span_field()


@attrs.frozen(slots=True)
class ContactsIn:
    """`contacts(30d)`: number of contacts in the last window."""

    window: Duration
    span: Span = span_field()


@attrs.frozen(slots=True)
class CountOf:
    """`count(E [where C] within D)`: matching events of the customer in the window."""

    event: Name
    where: Expr | None
    window: Duration
    span: Span = span_field()


@attrs.frozen(slots=True)
class SinceLast:
    """`since(E)`: duration since the customer's previous E, or never."""

    event: Name
    span: Span = span_field()


@attrs.frozen(slots=True)
class FirstTime:
    """`first_time`: the trigger is the customer's first event of its type."""

    span: Span = span_field()


@attrs.frozen(slots=True)
class Never:
    """`never`: the duration greater than any other (what `last_contact` is with no contact)."""

    span: Span = span_field()


@attrs.frozen(slots=True)
class Absence:
    """`no E [where C] within D`: no matching E for the customer within D after the trigger."""

    event: Name
    where: Expr | None
    window: Duration
    span: Span = span_field()


@attrs.frozen(slots=True)
class BoolOp:
    """`a and b and c` / `a or b` (flattened)."""

    op: str  # "and" | "or"
    operands: tuple[Expr, ...]
    span: Span = span_field()


@attrs.frozen(slots=True)
class Not:
    operand: Expr
    span: Span = span_field()


@attrs.frozen(slots=True)
class Compare:
    op: str  # == != < <= > >=
    left: Expr
    right: Expr
    op_span: Span = span_field()
    span: Span = span_field()


@attrs.frozen(slots=True)
class InList:
    value: Expr
    options: ListLiteral
    negated: bool
    span: Span = span_field()


@attrs.frozen(slots=True)
class Contains:
    container: Expr
    item: Expr
    span: Span = span_field()


@attrs.frozen(slots=True)
class Arithmetic:
    op: str  # + - * /
    left: Expr
    right: Expr
    op_span: Span = span_field()
    span: Span = span_field()


@attrs.frozen(slots=True)
class Negate:
    operand: Expr
    span: Span = span_field()


Expr: TypeAlias = (
    Literal
    | ListLiteral
    | NameRef
    | AttributeRef
    | TraitRef
    | LastContact
    | LastSent
    | ContactsIn
    | CountOf
    | SinceLast
    | FirstTime
    | Never
    | Absence
    | BoolOp
    | Not
    | Compare
    | InList
    | Contains
    | Arithmetic
    | Negate
)


# ---- declarations --------------------------------------------------------------------------


@attrs.frozen(slots=True)
class Import:
    path: Literal
    span: Span = span_field()


@attrs.frozen(slots=True)
class FieldDecl:
    name: Name
    type: TypeExpr
    default: Literal | ListLiteral | None
    span: Span = span_field()


@attrs.frozen(slots=True)
class EventDecl:
    name: Name
    external_name: Literal | None
    fields: tuple[FieldDecl, ...]
    span: Span = span_field()


@attrs.frozen(slots=True)
class CustomerDecl:
    fields: tuple[FieldDecl, ...]
    span: Span = span_field()


@attrs.frozen(slots=True)
class ChannelDecl:
    names: tuple[Name, ...]
    span: Span = span_field()


@attrs.frozen(slots=True)
class TeamDecl:
    names: tuple[Name, ...]
    span: Span = span_field()


@attrs.frozen(slots=True)
class ContactDecl:
    """`survey NAME { ... }` or `message NAME { ... }`."""

    kind: str  # "survey" | "message"
    name: Name
    channels: tuple[Name, ...] | None
    cooldown: Duration | None
    span: Span = span_field()


@attrs.frozen(slots=True)
class LimitStmt:
    """`limit N contact(s) per D [via channel]`."""

    count: int
    window: Duration
    channel: Name | None
    span: Span = span_field()


@attrs.frozen(slots=True)
class QuietHoursStmt:
    """`quiet hours HH:MM to HH:MM` (minutes after midnight, customer's local time)."""

    start: Literal
    end: Literal
    span: Span = span_field()


@attrs.frozen(slots=True)
class OneChannelStmt:
    span: Span = span_field()


PolicyStmt: TypeAlias = LimitStmt | QuietHoursStmt | OneChannelStmt


@attrs.frozen(slots=True)
class PolicyDecl:
    statements: tuple[PolicyStmt, ...]
    span: Span = span_field()


@attrs.frozen(slots=True)
class ModeDecl:
    name: Name
    policy: PolicyDecl | None
    span: Span = span_field()


# ---- rules ---------------------------------------------------------------------------------


@attrs.frozen(slots=True)
class Unless:
    event: Name
    where: Expr | None
    span: Span = span_field()


@attrs.frozen(slots=True)
class SendAction:
    """`send survey|message "id" [via a or b] [after D] [unless E [where C]]`."""

    kind: str  # "survey" | "message"
    target: Literal
    via: tuple[Name, ...]
    after: Duration | None
    unless: Unless | None
    span: Span = span_field()


@attrs.frozen(slots=True)
class Note:
    key: Name
    value: Expr
    span: Span = span_field()


@attrs.frozen(slots=True)
class TaskAction:
    """`create task "name" for team [due D] [with k = v, ...]`."""

    task: Literal
    team: Name
    due: Duration | None
    notes: tuple[Note, ...]
    span: Span = span_field()


@attrs.frozen(slots=True)
class TagAction:
    """`tag "x"` / `untag "x"`."""

    remove: bool
    tag: Literal
    span: Span = span_field()


Action: TypeAlias = SendAction | TaskAction | TagAction


@attrs.frozen(slots=True)
class Trigger:
    events: tuple[Name, ...]
    condition: Expr | None
    span: Span = span_field()


@attrs.frozen(slots=True)
class RuleOption:
    """`priority 10`, `sample 25%`, `holdout 10%` or `in mode crisis`, as written."""

    keyword: str  # "priority" | "sample" | "holdout" | "mode"
    value: Literal | Name
    span: Span = span_field()


@attrs.frozen(slots=True)
class RuleDecl:
    """A rule. `name` is None for an anonymous rule (one-liner)."""

    name: Name | None
    name_is_string: bool
    options: tuple[RuleOption, ...]
    trigger: Trigger
    actions: tuple[Action, ...]
    span: Span = span_field()

    def option(self, keyword: str) -> RuleOption | None:
        """The first option with that keyword (the checker reports repeats)."""
        for option in self.options:
            if option.keyword == keyword:
                return option
        return None


Decl: TypeAlias = (
    Import
    | EventDecl
    | CustomerDecl
    | ChannelDecl
    | TeamDecl
    | ContactDecl
    | PolicyDecl
    | ModeDecl
    | RuleDecl
)


@attrs.frozen(slots=True)
class Comment:
    """A `#` comment, kept for the formatter."""

    text: str
    span: Span = span_field()


@attrs.frozen(slots=True)
class SourceFile:
    """One parsed `.fbdsl` file: its declarations in order, and its comments."""

    path: str
    text: str = attrs.field(eq=False, repr=False)
    items: tuple[Decl, ...]
    comments: tuple[Comment, ...] = attrs.field(eq=False, default=())


_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}


def _child_fields(cls: type) -> tuple[str, ...]:
    names = _CHILD_FIELDS.get(cls)
    if names is None:
        names = tuple(f.name for f in attrs.fields(cls) if f.default is not NO_SPAN)
        _CHILD_FIELDS[cls] = names
    return names


def walk(node: object) -> list[object]:
    """All attrs nodes below `node` (itself included), depth first, in field order."""
    out: list[object] = []
    stack: list[object] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, tuple):
            stack.extend(reversed(current))
            continue
        cls = type(current)
        if not hasattr(cls, "__attrs_attrs__") or cls is Span:
            continue
        out.append(current)
        stack.extend(reversed([getattr(current, name) for name in _child_fields(cls)]))
    return out
