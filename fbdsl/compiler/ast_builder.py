"""Lark productions -> AST nodes: the transformer that builds the attrs AST as the parser
reduces, with every node's span (first to last token, keywords included).

Each `AstBuilder` method implements the grammar production it names (its docstring quotes
the production). The `_production` wrapper computes the node's span from its first and last
child and drops the keyword tokens the grammar keeps only for spans, so a method sees just
the children that carry meaning. Literal values (durations, strings) are decoded here too.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

import attrs
from lark import Token, Transformer

from fbdsl.compiler import ast
from fbdsl.compiler.diagnostics import Diagnostic, error

DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
_DURATION_PART = re.compile(r"([0-9]+)([smhdwy])")
_ESCAPE = re.compile(r"\\(.)")


def parse_duration(text: str) -> int:
    """Seconds of a duration literal such as `1d12h`."""
    return sum(int(n) * DURATION_UNITS[unit] for n, unit in _DURATION_PART.findall(text))


def unescape_string(raw: str) -> str:
    """The value of a string token (quotes removed, `\\"` and `\\\\` resolved)."""
    body = raw[1:-1]
    return _ESCAPE.sub(lambda m: m.group(1), body)


def token_span(path: str, token: Token) -> ast.Span:
    """The span of one token as Lark positioned it."""
    return ast.Span(
        path,
        token.line or 0,
        token.column or 0,
        token.end_line or 0,
        token.end_column or 0,
        token.start_pos or 0,
        token.end_pos or 0,
    )


# Keyword and bracket tokens the grammar keeps only so that node spans include them.
SYNTAX_TOKENS = frozenset(
    {
        "IMPORT",
        "EVENT",
        "CUSTOMER",
        "CHANNEL",
        "CHANNELS",
        "COOLDOWN",
        "TEAM",
        "POLICY",
        "LIMIT",
        "QUIET",
        "ONE",
        "CONTACT",
        "CONTACTS",
        "MODE",
        "RULE",
        "PRIORITY",
        "SAMPLE",
        "HOLDOUT",
        "IN",
        "WHEN",
        "SEND",
        "CREATE",
        "VIA",
        "AFTER",
        "UNLESS",
        "DUE",
        "WITH",
        "LAST_CONTACT",
        "LAST_SENT",
        "COUNT",
        "SINCE",
        "FIRST_TIME",
        "NEVER",
        "NO",
        "TRUE",
        "FALSE",
        "LPAR",
        "RPAR",
        "LSQB",
        "RSQB",
        "RBRACE",
    }
)


def _edge_span(path: str, item: Any, last: bool) -> ast.Span | None:
    """The span of a child of a production, or None for a missing optional part."""
    if item is None:
        return None
    if isinstance(item, Token):
        return token_span(path, item)
    if isinstance(item, tuple | list):
        for element in reversed(item) if last else item:
            found = _edge_span(path, element, last)
            if found is not None:
                return found
        return None
    span = getattr(item, "span", None)
    return span if isinstance(span, ast.Span) and span is not ast.NO_SPAN else None


def _production(method: Callable[[Any, ast.Span, list[Any]], Any]) -> Callable[..., Any]:
    """Wrap a builder method: compute the node's span from its first and last child (keyword
    tokens included), then hand it the children without the keyword tokens."""

    @functools.wraps(method)
    def build(self: AstBuilder, children: list[Any]) -> Any:
        first = _edge_span(self.path, children, last=False)
        end = _edge_span(self.path, children, last=True)
        span = _join(self.path, first, end) if first and end else ast.NO_SPAN
        kept = [c for c in children if not (type(c) is Token and c.type in SYNTAX_TOKENS)]
        return method(self, span, kept)

    return build


def _productions(cls: type[AstBuilder]) -> type[AstBuilder]:
    for name, value in list(vars(cls).items()):
        if callable(value) and not name.startswith("_"):
            setattr(cls, name, _production(value))
    return cls


def _join(path: str, first: ast.Span, last: ast.Span) -> ast.Span:
    return ast.Span(
        path, first.line, first.column, last.end_line, last.end_column, first.start, last.end
    )


@_productions
class AstBuilder(Transformer[Token, list[ast.Decl]]):
    """Builds AST nodes from the Lark tree. Each method implements the production it names."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.diagnostics: list[Diagnostic] = []

    # -- helpers ---------------------------------------------------------------------------

    def _tok(self, token: Token) -> ast.Span:
        return token_span(self.path, token)

    def _name(self, token: Token) -> ast.Name:
        return ast.Name(str(token), self._tok(token))

    def _percent(self, token: Token) -> ast.Literal:
        return ast.Literal("percent", float(str(token)[:-1]), str(token), self._tok(token))

    def _duration(self, token: Token) -> ast.Duration:
        return ast.Duration(parse_duration(str(token)), str(token), self._tok(token))

    def _string(self, token: Token) -> ast.Literal:
        raw = str(token)
        bad = next((m for m in _ESCAPE.finditer(raw) if m.group(1) not in '"\\'), None)
        if bad:
            offset = bad.start()
            span = self._tok(token)
            span = attrs.evolve(
                span,
                column=span.column + offset,
                end_column=span.column + offset + 2,
                start=span.start + offset,
                end=span.start + offset + 2,
                end_line=span.line,
            )
            self.diagnostics.append(
                error(
                    "FB004",
                    f"unknown escape '\\{bad.group(1)}' in a string",
                    span,
                    'only \\" and \\\\ are escapes; write the character itself',
                )
            )
        return ast.Literal("string", unescape_string(raw), raw, self._tok(token))

    # -- file ------------------------------------------------------------------------------

    def start(self, span: ast.Span, items: list[ast.Decl]) -> list[ast.Decl]:
        """start: item*"""
        return items

    def import_decl(self, span: ast.Span, children: list[Token]) -> ast.Import:
        """import_decl: "import" STRING"""
        return ast.Import(self._string(children[0]), span)

    # -- declarations ----------------------------------------------------------------------

    def event_decl(self, span: ast.Span, children: list[Any]) -> ast.EventDecl:
        """event_decl: "event" NAME [from STRING] "{" field_decl* "}" """
        name, external, *fields = children
        return ast.EventDecl(
            self._name(name),
            self._string(external) if external is not None else None,
            tuple(fields),
            span,
        )

    def customer_decl(self, span: ast.Span, fields: list[ast.FieldDecl]) -> ast.CustomerDecl:
        """customer_decl: "customer" "{" field_decl* "}" """
        return ast.CustomerDecl(tuple(fields), span)

    def field_decl(self, span: ast.Span, children: list[Any]) -> ast.FieldDecl:
        """field_decl: NAME ":" type_expr ["=" literal]"""
        name, type_expr, default = children
        return ast.FieldDecl(self._name(name), type_expr, default, span)

    def named_type(self, span: ast.Span, children: list[Token]) -> ast.NamedType:
        return ast.NamedType(str(children[0]), self._tok(children[0]))

    def list_type(self, span: ast.Span, children: list[Any]) -> ast.ListType:
        return ast.ListType(children[1], span)

    def enum_type(self, span: ast.Span, children: list[Token]) -> ast.EnumType:
        values = tuple(str(self._string(t).value) for t in children)
        return ast.EnumType(values, span)

    def name_list(self, span: ast.Span, children: list[Token]) -> tuple[ast.Name, ...]:
        return tuple(self._name(t) for t in children)

    def channel_decl(self, span: ast.Span, children: list[Any]) -> ast.ChannelDecl:
        """channel_decl: "channel" NAME ("," NAME)*"""
        return ast.ChannelDecl(children[0], span)

    def team_decl(self, span: ast.Span, children: list[Any]) -> ast.TeamDecl:
        """team_decl: "team" NAME ("," NAME)*"""
        return ast.TeamDecl(children[0], span)

    def contact_decl(self, span: ast.Span, children: list[Any]) -> ast.ContactDecl:
        """contact_decl: ("survey" | "message") NAME "{" contact_option* "}" """
        kind, name, *options = children
        given = self._options(options)
        return ast.ContactDecl(
            str(kind), self._name(name), given.get("channels"), given.get("cooldown"), span
        )

    def channels_option(self, span: ast.Span, children: list[Any]) -> tuple[str, Any, ast.Span]:
        return ("channels", children[0], span)

    def cooldown_option(self, span: ast.Span, children: list[Token]) -> tuple[str, Any, ast.Span]:
        return ("cooldown", self._duration(children[0]), span)

    def _options(self, options: list[tuple[str, Any, ast.Span]]) -> dict[str, Any]:
        """The value of each option by keyword; one given twice is reported (the last wins)."""
        given: dict[str, Any] = {}
        for keyword, value, option_span in options:
            if keyword in given:
                self._duplicate_option(keyword, option_span)
            given[keyword] = value
        return given

    def _duplicate_option(self, keyword: str, span: ast.Span) -> None:
        hint = "keep one of them"
        if keyword == "with":
            hint = "give all notes in one 'with', separated by commas: with a = 1, b = 2"
        elif keyword == "via":
            hint = "list the channels in one 'via', in fallback order: via email or sms"
        self.diagnostics.append(error("FB044", f"'{keyword}' is given twice", span, hint))

    def policy_decl(self, span: ast.Span, children: list[Any]) -> ast.PolicyDecl:
        """policy_decl: "policy" "{" policy_stmt* "}" """
        return ast.PolicyDecl(tuple(children), span)

    def limit_stmt(self, span: ast.Span, children: list[Token | None]) -> ast.LimitStmt:
        """limit_stmt: "limit" INT ("contact" | "contacts") "per" DURATION ["via" NAME]"""
        count, window, channel = children[0], children[1], children[-1]
        assert count is not None and window is not None
        return ast.LimitStmt(
            int(count),
            self._duration(window),
            self._name(channel) if channel is not None else None,
            span,
        )

    def quiet_hours_stmt(self, span: ast.Span, children: list[Token]) -> ast.QuietHoursStmt:
        """quiet_hours_stmt: "quiet" "hours" CLOCK "to" CLOCK"""
        start, end = (self._clock(t) for t in children)
        return ast.QuietHoursStmt(start, end, span)

    def one_channel_stmt(self, span: ast.Span, children: list[Any]) -> ast.OneChannelStmt:
        """one_channel_stmt: "one" "channel" "per" "contact" """
        return ast.OneChannelStmt(span)

    def mode_decl(self, span: ast.Span, children: list[Any]) -> ast.ModeDecl:
        """mode_decl: "mode" NAME "{" policy_decl? "}" """
        name, *rest = children
        return ast.ModeDecl(self._name(name), rest[0] if rest else None, span)

    # -- rules -----------------------------------------------------------------------------

    def named_rule(self, span: ast.Span, children: list[Any]) -> ast.RuleDecl:
        """named_rule: "rule" (NAME | STRING) rule_option* trigger "then" actions"""
        name_token, *options, trigger, actions = children
        is_string = name_token.type == "STRING"
        if is_string:
            literal = self._string(name_token)
            name = ast.Name(str(literal.value), literal.span)
        else:
            name = self._name(name_token)
        return ast.RuleDecl(name, is_string, tuple(options), trigger, tuple(actions), span)

    def anonymous_rule(self, span: ast.Span, children: list[Any]) -> ast.RuleDecl:
        """anonymous_rule: trigger "then" actions"""
        trigger, actions = children
        return ast.RuleDecl(None, False, (), trigger, tuple(actions), span)

    def priority_option(self, span: ast.Span, children: list[Token | None]) -> ast.RuleOption:
        minus, number = children
        assert number is not None
        value = -int(number) if minus is not None else int(number)
        text = f"-{number}" if minus is not None else str(number)
        start_token = minus if minus is not None else number
        literal_span = _join(self.path, self._tok(start_token), self._tok(number))
        return ast.RuleOption("priority", ast.Literal("int", value, text, literal_span), span)

    def sample_option(self, span: ast.Span, children: list[Token]) -> ast.RuleOption:
        return ast.RuleOption("sample", self._percent(children[0]), span)

    def holdout_option(self, span: ast.Span, children: list[Token]) -> ast.RuleOption:
        return ast.RuleOption("holdout", self._percent(children[0]), span)

    def mode_option(self, span: ast.Span, children: list[Token]) -> ast.RuleOption:
        return ast.RuleOption("mode", self._name(children[0]), span)

    def trigger(self, span: ast.Span, children: list[Any]) -> ast.Trigger:
        """trigger: "when" NAME ("or" NAME)* [("where" | "and") expr]"""
        *names, condition = children
        return ast.Trigger(tuple(self._name(t) for t in names), condition, span)

    def actions(self, span: ast.Span, children: list[ast.Action]) -> list[ast.Action]:
        return children

    def send_action(self, span: ast.Span, children: list[Any]) -> ast.SendAction:
        """send_action: "send" ("survey" | "message") STRING send_option*"""
        kind, target, *options = children
        given = self._options(options)
        return ast.SendAction(
            str(kind),
            self._string(target),
            given.get("via", ()),
            given.get("after"),
            given.get("unless"),
            span,
        )

    def via_option(self, span: ast.Span, children: list[Token]) -> tuple[str, Any, ast.Span]:
        return ("via", tuple(self._name(t) for t in children), span)

    def after_option(self, span: ast.Span, children: list[Token]) -> tuple[str, Any, ast.Span]:
        return ("after", self._duration(children[0]), span)

    def unless_option(self, span: ast.Span, children: list[Any]) -> tuple[str, Any, ast.Span]:
        event, where = children
        return ("unless", ast.Unless(self._name(event), where, span), span)

    def task_action(self, span: ast.Span, children: list[Any]) -> ast.TaskAction:
        """task_action: "create" "task" STRING "for" NAME task_option*"""
        task, team, *options = children
        given = self._options(options)
        return ast.TaskAction(
            self._string(task), self._name(team), given.get("due"), given.get("with", ()), span
        )

    def due_option(self, span: ast.Span, children: list[Token]) -> tuple[str, Any, ast.Span]:
        return ("due", self._duration(children[0]), span)

    def with_option(self, span: ast.Span, children: list[ast.Note]) -> tuple[str, Any, ast.Span]:
        return ("with", tuple(children), span)

    def note(self, span: ast.Span, children: list[Any]) -> ast.Note:
        key, value = children
        return ast.Note(self._name(key), value, span)

    def tag_action(self, span: ast.Span, children: list[Token]) -> ast.TagAction:
        """tag_action: ("tag" | "untag") STRING"""
        word, tag = children
        return ast.TagAction(str(word) == "untag", self._string(tag), span)

    # -- expressions -----------------------------------------------------------------------

    def _chain(self, op: str, span: ast.Span, children: list[ast.Expr]) -> ast.Expr:
        if len(children) == 1:
            return children[0]
        return ast.BoolOp(op, tuple(children), span)

    def or_chain(self, span: ast.Span, children: list[ast.Expr]) -> ast.Expr:
        return self._chain("or", span, children)

    def and_chain(self, span: ast.Span, children: list[ast.Expr]) -> ast.Expr:
        return self._chain("and", span, children)

    def not_op(self, span: ast.Span, children: list[ast.Expr]) -> ast.Not:
        return ast.Not(children[0], span)

    def comparison(self, span: ast.Span, children: list[Any]) -> ast.Compare:
        left, op, right = children
        return ast.Compare(str(op), left, right, self._tok(op), span)

    def in_op(self, span: ast.Span, children: list[Any]) -> ast.InList:
        return ast.InList(children[0], children[1], False, span)

    def not_in_op(self, span: ast.Span, children: list[Any]) -> ast.InList:
        return ast.InList(children[0], children[1], True, span)

    def contains_op(self, span: ast.Span, children: list[Any]) -> ast.Contains:
        return ast.Contains(children[0], children[1], span)

    def binary(self, span: ast.Span, children: list[Any]) -> ast.Arithmetic:
        left, op, right = children
        return ast.Arithmetic(str(op), left, right, self._tok(op), span)

    def negate(self, span: ast.Span, children: list[Any]) -> ast.Expr:
        operand = children[1]
        if isinstance(operand, ast.Literal) and operand.kind in ("int", "number", "duration"):
            value = operand.value
            assert isinstance(value, int | float)
            return ast.Literal(operand.kind, -value, "-" + operand.text, span)
        return ast.Negate(operand, span)

    def name_ref(self, span: ast.Span, children: list[Token]) -> ast.NameRef:
        name = self._name(children[0])
        return ast.NameRef(name, name.span)

    def attribute_ref(self, span: ast.Span, children: list[Token]) -> ast.AttributeRef:
        owner, field = children
        return ast.AttributeRef(self._name(owner), self._name(field), span)

    def trait_ref(self, span: ast.Span, children: list[Token]) -> ast.TraitRef:
        return ast.TraitRef(self._name(children[0]), span)

    def last_contact(self, span: ast.Span, children: list[Token]) -> ast.LastContact:
        return ast.LastContact(None, span)

    def last_contact_on(self, span: ast.Span, children: list[Token]) -> ast.LastContact:
        return ast.LastContact(self._name(children[0]), span)

    def parenthesized(self, span: ast.Span, children: list[ast.Expr]) -> ast.Expr:
        return children[0]

    def last_sent(self, span: ast.Span, children: list[Token]) -> ast.LastSent:
        return ast.LastSent(self._string(children[0]), span)

    def contacts_in(self, span: ast.Span, children: list[Token]) -> ast.ContactsIn:
        return ast.ContactsIn(self._duration(children[0]), span)

    def count_of(self, span: ast.Span, children: list[Any]) -> ast.CountOf:
        event, where, window = children
        return ast.CountOf(self._name(event), where, self._duration(window), span)

    def since_last(self, span: ast.Span, children: list[Token]) -> ast.SinceLast:
        return ast.SinceLast(self._name(children[0]), span)

    def first_time(self, span: ast.Span, children: list[Any]) -> ast.FirstTime:
        return ast.FirstTime(span)

    def never(self, span: ast.Span, children: list[Any]) -> ast.Never:
        return ast.Never(span)

    def absence(self, span: ast.Span, children: list[Any]) -> ast.Absence:
        event, where, window = children
        return ast.Absence(self._name(event), where, self._duration(window), span)

    # -- literals --------------------------------------------------------------------------

    def int_lit(self, span: ast.Span, children: list[Token]) -> ast.Literal:
        token = children[0]
        return ast.Literal("int", int(token), str(token), self._tok(token))

    def number_lit(self, span: ast.Span, children: list[Token]) -> ast.Literal:
        token = children[0]
        return ast.Literal("number", float(token), str(token), self._tok(token))

    def negative_int_lit(self, span: ast.Span, children: list[Token]) -> ast.Literal:
        token = children[1]
        return ast.Literal("int", -int(token), f"-{token}", span)

    def negative_number_lit(self, span: ast.Span, children: list[Token]) -> ast.Literal:
        token = children[1]
        return ast.Literal("number", -float(token), f"-{token}", span)

    def string_lit(self, span: ast.Span, children: list[Token]) -> ast.Literal:
        return self._string(children[0])

    def duration_lit(self, span: ast.Span, children: list[Token]) -> ast.Literal:
        token = children[0]
        return ast.Literal("duration", parse_duration(str(token)), str(token), self._tok(token))

    def percent_lit(self, span: ast.Span, children: list[Token]) -> ast.Literal:
        return self._percent(children[0])

    def clock_lit(self, span: ast.Span, children: list[Token]) -> ast.Literal:
        return self._clock(children[0])

    def _clock(self, token: Token) -> ast.Literal:
        hours, minutes = (int(part) for part in str(token).split(":"))
        if hours > 23 or minutes > 59:
            self.diagnostics.append(
                error(
                    "FB042",
                    f"'{token}' is not a time of day",
                    self._tok(token),
                    "clock times run from 00:00 to 23:59",
                )
            )
        return ast.Literal("clock", hours * 60 + minutes, str(token), self._tok(token))

    def true_lit(self, span: ast.Span, children: list[Any]) -> ast.Literal:
        return ast.Literal("bool", True, "true", span)

    def false_lit(self, span: ast.Span, children: list[Any]) -> ast.Literal:
        return ast.Literal("bool", False, "false", span)

    def list_literal(self, span: ast.Span, children: list[Any]) -> ast.ListLiteral:
        items = tuple(child for child in children if child is not None)
        return ast.ListLiteral(items, span)

    def comp_op(self, span: ast.Span, children: list[Token]) -> Token:  # pragma: no cover
        return children[0]
