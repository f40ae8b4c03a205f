"""Declarations across files: events, customer traits, channels, teams, surveys, messages,
policies and modes, merged (order-independent) and validated into schemas.

Declaring the same channel or team twice is harmless, and so is repeating an identical
event, survey or trait (a file imported twice); two *different* declarations of one name
are an error that points at both.

A declaration with an error is kept as far as it is understood (a field with a bad default
keeps its type, a survey with an unknown channel keeps the others), and a field whose type
is unknown is remembered as `unresolved`, so that rules using them get no second error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import attrs

from fbdsl.compiler import ast
from fbdsl.compiler import program as p
from fbdsl.compiler.diagnostics import Diagnostic, did_you_mean, error
from fbdsl.compiler.types import (
    LITERAL_TYPES,
    PRIMITIVE_NAMES,
    PRIMITIVES,
    STRING,
    TIME,
    EnumType,
    ListType,
    Type,
    assignable,
    describe,
)

UNKNOWN_CHANNEL = "FB025"
UNKNOWN_TYPE = "FB028"
NOT_IN_ENUM = "FB032"
BAD_DEFAULT = "FB034"
BAD_VALUE = "FB043"
NO_CHANNELS = "FB046"
CONFLICT = "FB051"
DUPLICATE_FIELD = "FB052"
DUPLICATE_EXTERNAL_NAME = "FB053"

IMPLICIT_FIELDS = {
    "customer_id": p.FieldSchema("customer_id", STRING, None, False),
    "timestamp": p.FieldSchema("timestamp", TIME, None, False),
    "id": p.FieldSchema("id", STRING, "", True),
}
IMPLICIT_TRAITS = {
    "tags": p.FieldSchema("tags", ListType(STRING), (), True),
    "timezone": p.FieldSchema("timezone", STRING, "UTC", True),
}


@attrs.frozen
class Declared:
    """Everything declared in a rule set, resolved."""

    events: dict[str, p.EventSchema]
    external_names: dict[str, str]
    traits: dict[str, p.FieldSchema]
    channels: tuple[str, ...]
    teams: tuple[str, ...]
    contacts: dict[str, p.ContactSchema]
    policy: p.Policy
    modes: dict[str, p.Mode]
    # (event name or "customer", field) of fields declared with an unknown type
    unresolved: frozenset[tuple[str, str]] = frozenset()


def _where(span: ast.Span) -> str:
    return f"{span.file}:{span.line}"


class DeclarationChecker:
    def __init__(self, report: Callable[[Diagnostic], None]) -> None:
        self.report = report
        self.unresolved: set[tuple[str, str]] = set()

    def _error(self, code: str, message: str, span: ast.Span, hint: str | None = None) -> None:
        self.report(error(code, message, span, hint))

    def run(self, files: Sequence[ast.SourceFile]) -> Declared:
        items = [item for source in files for item in source.items]
        channels = _unique(
            n.value for i in items if isinstance(i, ast.ChannelDecl) for n in i.names
        )
        teams = _unique(n.value for i in items if isinstance(i, ast.TeamDecl) for n in i.names)
        self.channels = channels
        events = self._events([i for i in items if isinstance(i, ast.EventDecl)])
        external: dict[str, str] = {}
        for schema in events.values():
            if schema.external_name is None:
                continue
            other = external.get(schema.external_name)
            if other is not None:
                self._error(
                    DUPLICATE_EXTERNAL_NAME,
                    f"events {other} and {schema.name} both arrive as '{schema.external_name}'",
                    schema.span,
                    "an external name can map to one event only",
                )
                continue
            external[schema.external_name] = schema.name
        traits = self._traits([i for i in items if isinstance(i, ast.CustomerDecl)])
        contacts = self._contacts([i for i in items if isinstance(i, ast.ContactDecl)])
        policy = self._policy(
            [s for i in items if isinstance(i, ast.PolicyDecl) for s in i.statements]
        )
        modes = self._modes([i for i in items if isinstance(i, ast.ModeDecl)])
        return Declared(
            events,
            external,
            traits,
            channels,
            teams,
            contacts,
            policy,
            modes,
            frozenset(self.unresolved),
        )

    # -- events and traits -----------------------------------------------------------------

    def _events(self, decls: list[ast.EventDecl]) -> dict[str, p.EventSchema]:
        first: dict[str, ast.EventDecl] = {}
        events: dict[str, p.EventSchema] = {}
        for decl in decls:
            name = decl.name.value
            if name in first:
                if decl != first[name]:
                    self._error(
                        CONFLICT,
                        f"event '{name}' is declared twice, differently",
                        decl.name.span,
                        f"the other declaration is at {_where(first[name].span)}",
                    )
                continue
            first[name] = decl
            fields = dict(IMPLICIT_FIELDS)
            for field in decl.fields:
                if field.name.value in fields:
                    reason = (
                        "is implicit on every event"
                        if field.name.value in IMPLICIT_FIELDS
                        else "is declared twice"
                    )
                    self._error(
                        DUPLICATE_FIELD, f"field '{field.name.value}' {reason}", field.name.span
                    )
                    continue
                schema = self._field(field)
                if schema is None:
                    self.unresolved.add((name, field.name.value))
                else:
                    fields[schema.name] = schema
            external = str(decl.external_name.value) if decl.external_name else None
            events[name] = p.EventSchema(name, external, fields, decl.name.span)
        return dict(sorted(events.items()))

    def _traits(self, decls: list[ast.CustomerDecl]) -> dict[str, p.FieldSchema]:
        traits = dict(IMPLICIT_TRAITS)
        first: dict[str, ast.FieldDecl] = {}
        for decl in decls:
            for field in decl.fields:
                name = field.name.value
                if name in first:
                    if field != first[name]:
                        self._error(
                            CONFLICT,
                            f"trait '{name}' is declared twice, differently",
                            field.name.span,
                            f"the other declaration is at {_where(first[name].span)}",
                        )
                    continue
                first[name] = field
                schema = self._field(field)
                if schema is None:
                    self.unresolved.add(("customer", name))
                    continue
                implicit = IMPLICIT_TRAITS.get(name)
                if implicit is not None and schema.type != implicit.type:
                    self._error(
                        CONFLICT,
                        f"the built-in trait '{name}' is {describe(implicit.type)}; "
                        f"it cannot be redeclared as {describe(schema.type)}",
                        field.type.span,
                        f"restate it as {implicit.type}, or call your trait otherwise",
                    )
                    continue
                traits[name] = schema
        return dict(sorted(traits.items()))

    def _type(self, written: ast.TypeExpr) -> Type | None:
        if isinstance(written, ast.EnumType):
            twice = sorted({v for v in written.values if written.values.count(v) > 1})
            if twice:
                self._error(BAD_VALUE, f'an enum lists "{twice[0]}" twice', written.span)
                return None
            return EnumType(written.values)
        if isinstance(written, ast.ListType):
            element = self._type(written.element)
            if element is None:
                return None
            if isinstance(element, ListType):
                self._error(UNKNOWN_TYPE, "lists of lists are not supported", written.span)
                return None
            return ListType(element)
        found = PRIMITIVES.get(written.name)
        if found is None:
            self._error(
                UNKNOWN_TYPE,
                f"unknown type '{written.name}'",
                written.span,
                did_you_mean(written.name, PRIMITIVE_NAMES)
                or f'types: {", ".join(PRIMITIVE_NAMES)}, list<T>, "a" | "b"',
            )
        return found

    def _field(self, field: ast.FieldDecl) -> p.FieldSchema | None:
        """The field's schema; None when its type is unknown. A field whose default is wrong
        keeps its type (and no default), so rules reading it are still checked."""
        t = self._type(field.type)
        if t is None:
            return None
        default = field.default
        if default is None:
            return p.FieldSchema(field.name.value, t, None, False, field.name.span)
        value = self._default_value(default, t)
        if value is _INVALID:
            return p.FieldSchema(field.name.value, t, None, False, field.name.span)
        return p.FieldSchema(field.name.value, t, value, True, field.name.span)

    def _default_value(
        self, default: ast.Literal | ast.ListLiteral, t: Type, list_type: Type | None = None
    ) -> object:
        """The Python value of a default of type `t`; `list_type` when it is a list's item."""
        if isinstance(default, ast.ListLiteral):
            if not isinstance(t, ListType):
                self._error(
                    BAD_DEFAULT,
                    f"the default is a list, but the field is {describe(t)}",
                    default.span,
                )
                return _INVALID
            items = [self._default_value(item, t.element, t) for item in default.items]
            return _INVALID if _INVALID in items else tuple(items)
        value_type = LITERAL_TYPES[default.kind]
        if not assignable(value_type, t):
            what = "the default" if list_type is None else "a list item"
            field = describe(t) if list_type is None else describe(list_type)
            self._error(
                BAD_DEFAULT,
                f"{what} is {describe(value_type)}, but the field is {field}",
                default.span,
            )
            return _INVALID
        if isinstance(t, EnumType) and default.value not in t.values:
            self._error(
                NOT_IN_ENUM,
                f"'{default.value}' is not one of {t}",
                default.span,
                did_you_mean(str(default.value), t.values),
            )
            return _INVALID
        if default.kind == "percent":
            assert isinstance(default.value, int | float)
            return default.value / 100  # as in expressions: 5% is 0.05
        return default.value

    # -- contacts --------------------------------------------------------------------------

    def _contacts(self, decls: list[ast.ContactDecl]) -> dict[str, p.ContactSchema]:
        first: dict[str, ast.ContactDecl] = {}
        contacts: dict[str, p.ContactSchema] = {}
        for decl in decls:
            name = decl.name.value
            if name in first:
                if decl != first[name]:
                    other = first[name]
                    what = (
                        f"a {other.kind} and a {decl.kind} are both called '{name}'"
                        if other.kind != decl.kind
                        else f"{decl.kind} '{name}' is declared twice, differently"
                    )
                    self._error(
                        CONFLICT,
                        what,
                        decl.name.span,
                        f"the other declaration is at {_where(other.span)}",
                    )
                continue
            first[name] = decl
            # Kept even when wrong (with what is right in it), so that sends of it are
            # checked without a second "unknown survey" error.
            if not decl.channels:
                self._error(
                    NO_CHANNELS,
                    f"{decl.kind} '{name}' has no channels",
                    decl.name.span,
                    f"add 'channels: email' (or others) inside {decl.kind} {name} {{ }}",
                )
            channels = tuple(c.value for c in decl.channels or () if self._channel(c))
            cooldown = decl.cooldown.seconds if decl.cooldown else None
            if decl.cooldown is not None and decl.cooldown.seconds <= 0:
                self._error(BAD_VALUE, "a cooldown must be longer than 0", decl.cooldown.span)
                cooldown = None
            contacts[name] = p.ContactSchema(decl.kind, name, channels, cooldown, decl.name.span)
        return dict(sorted(contacts.items()))

    def _channel(self, name: ast.Name) -> bool:
        if name.value in self.channels:
            return True
        self._error(
            UNKNOWN_CHANNEL,
            f"unknown channel '{name.value}'",
            name.span,
            did_you_mean(name.value, self.channels)
            or "declare it with 'channel NAME' or import \"std/channels\"",
        )
        return False

    # -- policies and modes ----------------------------------------------------------------

    def _policy(self, statements: Sequence[ast.PolicyStmt]) -> p.Policy:
        limits: list[p.Limit] = []
        quiet: ast.QuietHoursStmt | None = None
        one_channel = False
        for statement in statements:
            if isinstance(statement, ast.LimitStmt):
                limit = self._limit(statement)
                if limit is not None and limit not in limits:
                    limits.append(limit)
            elif isinstance(statement, ast.QuietHoursStmt):
                if quiet is not None and quiet != statement:
                    self._error(
                        CONFLICT,
                        "a policy has two different quiet hours",
                        statement.span,
                        f"the other is at {_where(quiet.span)}",
                    )
                    continue
                if statement.start.value == statement.end.value:
                    self._error(
                        BAD_VALUE,
                        "quiet hours must not start and end at the same time",
                        statement.span,
                    )
                    continue
                quiet = statement
            else:
                one_channel = True
        quiet_hours = None
        if quiet is not None:
            text = f"quiet hours {quiet.start.text} to {quiet.end.text}"
            quiet_hours = p.QuietHours(
                int(quiet.start.value), int(quiet.end.value), text, quiet.span
            )
        return p.Policy(tuple(limits), quiet_hours, one_channel)

    def _limit(self, statement: ast.LimitStmt) -> p.Limit | None:
        if statement.count < 1:
            self._error(
                BAD_VALUE,
                "a limit must allow at least 1 contact",
                statement.span,
                "to stop all contacts, use a mode with no contact rules",
            )
            return None
        if statement.window.seconds <= 0:
            self._error(BAD_VALUE, "a limit's window must be longer than 0", statement.window.span)
            return None
        channel = statement.channel
        if channel is not None and not self._channel(channel):
            return None
        word = "contact" if statement.count == 1 else "contacts"
        text = f"limit {statement.count} {word} per {statement.window.text}"
        if channel is not None:
            text += f" via {channel.value}"
        return p.Limit(
            statement.count,
            statement.window.seconds,
            channel.value if channel else None,
            text,
            statement.span,
        )

    def _modes(self, decls: list[ast.ModeDecl]) -> dict[str, p.Mode]:
        first: dict[str, ast.ModeDecl] = {}
        modes: dict[str, p.Mode] = {}
        for decl in decls:
            name = decl.name.value
            if name in first:
                if decl != first[name]:
                    self._error(
                        CONFLICT,
                        f"mode '{name}' is declared twice, differently",
                        decl.name.span,
                        f"the other declaration is at {_where(first[name].span)}",
                    )
                continue
            first[name] = decl
            policy = self._policy(decl.policy.statements) if decl.policy is not None else None
            modes[name] = p.Mode(name, policy, decl.name.span)
        return dict(sorted(modes.items()))


_INVALID = object()


def _unique(names: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for name in names:
        seen.setdefault(name, None)
    return tuple(seen)
