"""The checked program: what the checker hands to the later stages.

Everything here is resolved and typed: event schemas with their fields, the policy, the
modes, and each rule's condition and actions as a typed expression tree (`TExpr`) whose
every reference says where its value comes from (trigger field, other event's field, trait,
ledger, history). The rule graph, lint and engine build on this without re-parsing or
re-resolving anything.
"""

from __future__ import annotations

from typing import TypeAlias

import attrs

from fbdsl.compiler import ast
from fbdsl.compiler.types import BOOL, DURATION, INT, Type

IMPLICIT_EVENT_FIELDS = ("customer_id", "timestamp", "id")

# ---- typed expressions -----------------------------------------------------------------


@attrs.frozen(slots=True)
class TConst:
    """A constant: int/float/str/bool, seconds for durations, a tuple for lists."""

    value: object
    type: Type
    span: ast.Span = ast.span_field()


@attrs.frozen(slots=True)
class TField:
    """A field of an event. scope: "trigger" (the rule's trigger) or "subject" (the event a
    `no`/`count`/`unless` clause is about)."""

    scope: str
    name: str
    type: Type
    span: ast.Span = ast.span_field()


@attrs.frozen(slots=True)
class TTrait:
    """`customer.name`: a profile trait (tags included)."""

    name: str
    type: Type
    span: ast.Span = ast.span_field()


@attrs.frozen(slots=True)
class TLastContact:
    """Duration since the last contact (on `channel` if given); never if none. Ledger."""

    channel: str | None
    type: Type = DURATION
    span: ast.Span = ast.span_field()


@attrs.frozen(slots=True)
class TLastSent:
    """Duration since survey/message `target` was last sent; never if never. Ledger."""

    target: str
    type: Type = DURATION
    span: ast.Span = ast.span_field()


@attrs.frozen(slots=True)
class TContacts:
    """Number of contacts in the last `window` seconds. Ledger."""

    window: int
    type: Type = INT
    span: ast.Span = ast.span_field()


@attrs.frozen(slots=True)
class TCount:
    """Number of `event` (matching `where`) in the last `window` seconds. History."""

    event: str
    where: TExpr | None
    window: int
    type: Type = INT
    span: ast.Span = ast.span_field()


@attrs.frozen(slots=True)
class TSince:
    """Duration since the previous `event` of the customer; never if none. History."""

    event: str
    type: Type = DURATION
    span: ast.Span = ast.span_field()


@attrs.frozen(slots=True)
class TFirstTime:
    """The trigger is the customer's first event of its type. History."""

    type: Type = BOOL
    span: ast.Span = ast.span_field()


@attrs.frozen(slots=True)
class TNever:
    """The duration greater than every other."""

    type: Type = DURATION
    span: ast.Span = ast.span_field()


@attrs.frozen(slots=True)
class TAbsence:
    """No `event` (matching `where`) within `window` seconds after the trigger. Deferred."""

    event: str
    where: TExpr | None
    window: int
    type: Type = BOOL
    span: ast.Span = ast.span_field()


@attrs.frozen(slots=True)
class TBool:
    op: str  # "and" | "or"
    operands: tuple[TExpr, ...]
    type: Type = BOOL
    span: ast.Span = ast.span_field()


@attrs.frozen(slots=True)
class TNot:
    operand: TExpr
    type: Type = BOOL
    span: ast.Span = ast.span_field()


@attrs.frozen(slots=True)
class TCompare:
    op: str
    left: TExpr
    right: TExpr
    type: Type = BOOL
    span: ast.Span = ast.span_field()


@attrs.frozen(slots=True)
class TIn:
    value: TExpr
    options: tuple[object, ...]
    negated: bool
    type: Type = BOOL
    span: ast.Span = ast.span_field()


@attrs.frozen(slots=True)
class TContains:
    container: TExpr
    item: TExpr
    type: Type = BOOL
    span: ast.Span = ast.span_field()


@attrs.frozen(slots=True)
class TArith:
    op: str
    left: TExpr
    right: TExpr
    type: Type
    span: ast.Span = ast.span_field()


@attrs.frozen(slots=True)
class TNeg:
    operand: TExpr
    type: Type
    span: ast.Span = ast.span_field()


TExpr: TypeAlias = (
    TConst
    | TField
    | TTrait
    | TLastContact
    | TLastSent
    | TContacts
    | TCount
    | TSince
    | TFirstTime
    | TNever
    | TAbsence
    | TBool
    | TNot
    | TCompare
    | TIn
    | TContains
    | TArith
    | TNeg
)

# ---- declarations ----------------------------------------------------------------------


@attrs.frozen(slots=True)
class FieldSchema:
    """A declared field or trait. `default` is the Python value; required when it has none."""

    name: str
    type: Type
    default: object
    has_default: bool
    span: ast.Span = ast.span_field()


@attrs.frozen(slots=True)
class EventSchema:
    name: str
    external_name: str | None
    fields: dict[str, FieldSchema] = attrs.field(hash=False)
    span: ast.Span = ast.span_field()


@attrs.frozen(slots=True)
class ContactSchema:
    """A survey or a message: its allowed channels in fallback order, its cooldown."""

    kind: str  # "survey" | "message"
    name: str
    channels: tuple[str, ...]
    cooldown: int | None
    span: ast.Span = ast.span_field()


@attrs.frozen(slots=True)
class Limit:
    """At most `count` contacts per rolling `window` seconds (on `channel`, if given)."""

    count: int
    window: int
    channel: str | None
    text: str  # as written, for decision reasons: "limit 1 contact per 30d"
    span: ast.Span = ast.span_field()


@attrs.frozen(slots=True)
class QuietHours:
    start_minute: int
    end_minute: int
    text: str
    span: ast.Span = ast.span_field()


@attrs.frozen(slots=True)
class Policy:
    limits: tuple[Limit, ...] = ()
    quiet_hours: QuietHours | None = None
    one_channel_per_contact: bool = False


@attrs.frozen(slots=True)
class Mode:
    name: str
    policy: Policy | None  # None: the default policy applies in this mode
    span: ast.Span = ast.span_field()


# ---- rules -----------------------------------------------------------------------------


@attrs.frozen(slots=True)
class CheckedUnless:
    event: str
    where: TExpr | None
    span: ast.Span = ast.span_field()


@attrs.frozen(slots=True)
class CheckedSend:
    kind: str  # "survey" | "message"
    target: str
    channels: tuple[str, ...]  # the candidates in order: `via`, else the survey's channels
    via_given: bool  # `via a or b` is a fallback list: only the first allowed channel is used
    after: int | None
    unless: CheckedUnless | None
    span: ast.Span = ast.span_field()


@attrs.frozen(slots=True)
class CheckedTask:
    task: str
    team: str
    due: int | None
    notes: tuple[tuple[str, TExpr], ...]
    span: ast.Span = ast.span_field()


@attrs.frozen(slots=True)
class CheckedTag:
    tag: str
    remove: bool
    span: ast.Span = ast.span_field()


CheckedAction: TypeAlias = CheckedSend | CheckedTask | CheckedTag


@attrs.frozen(slots=True)
class CheckedRule:
    """A resolved rule. `index` is its file order across the rule set (arbitration ties)."""

    name: str
    index: int
    decl: ast.RuleDecl = attrs.field(eq=False, repr=False)
    priority: int
    sample: float  # fraction in (0, 1]
    holdout: float  # fraction in [0, 1)
    mode: str | None
    triggers: tuple[str, ...]
    condition: TExpr | None
    actions: tuple[CheckedAction, ...]

    @property
    def contacts(self) -> bool:
        """Whether the rule contacts the customer (sends), so the policy gate applies."""
        return any(isinstance(a, CheckedSend) for a in self.actions)


@attrs.frozen(slots=True)
class HistoryNeeds:
    """What per-customer history the rules read, so the engine keeps no more than that."""

    window_by_event: dict[str, int] = attrs.field(factory=dict, hash=False)  # count(... within)
    last_seen_events: frozenset[str] = frozenset()  # since(E)
    first_time_events: frozenset[str] = frozenset()  # first_time on these triggers


@attrs.frozen(slots=True)
class CheckedProgram:
    files: tuple[ast.SourceFile, ...] = attrs.field(repr=False)
    events: dict[str, EventSchema] = attrs.field(hash=False)
    external_names: dict[str, str] = attrs.field(hash=False)
    traits: dict[str, FieldSchema] = attrs.field(hash=False)
    channels: tuple[str, ...]
    teams: tuple[str, ...]
    contacts: dict[str, ContactSchema] = attrs.field(hash=False)
    policy: Policy
    modes: dict[str, Mode] = attrs.field(hash=False)
    rules: tuple[CheckedRule, ...]
    history: HistoryNeeds
