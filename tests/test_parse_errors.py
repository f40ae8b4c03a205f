"""Friendly parse errors: each common mistake gets a named message at the exact spot."""

from __future__ import annotations

import pytest

from fbdsl.compiler.parser import parse_source

# fmt: off
CASES = [
    # (source, code, line, column, message, hint fragment)
    (
        'when cart_abandoned where total > 50 send survey "s"',
        "FB001", 1, 38, "missing 'then' before 'send'", "when ... then ACTION",
    ),
    (
        'when cart_abandoned where currency = "EUR" then tag "x"',
        "FB001", 1, 36, "'=' assigns a value; to compare, write '=='", "write '=='",
    ),
    (
        'survey s { channels: email  cooldown: 90 }',
        "FB001", 1, 39, "a duration needs a unit: '90' alone is not a duration", "'90d'",
    ),
    (
        'when a where last_contact > 30days then tag "x"',
        "FB001", 1, 29, "'30days': unknown duration unit 'days'", "units: s, m, h, d, w, y",
    ),
    (
        'when a then send survey "cart_exit',
        "FB002", 1, 25, "unterminated string", 'close it with "',
    ),
    (
        'when a where x == "abc then tag "x"',
        "FB002", 1, 19, "unterminated string: the quotes on this line do not pair up",
        "every string",
    ),
    (
        "when a where tier == 'gold' then tag \"x\"",
        "FB003", 1, 22, "strings use double quotes", 'write "gold"',
    ),
    (
        'when Cart_Abandoned then tag "x"',
        "FB003", 1, 6, "'Cart_Abandoned': names are lowercase (letters, digits and _)",
        "write 'cart_abandoned'",
    ),
    (
        'when a where x > 1 && y < 2 then tag "x"',
        "FB003", 1, 20, "'&&' is not an operator", "write 'and'",
    ),
    (
        'when a where 1 < x < 3 then tag "x"',
        "FB001", 1, 20, "comparisons do not chain", "'a < b and b < c'",
    ),
    (
        "when a then",
        "FB001", 1, 11, "expected an action after 'then' or 'and'", 'send survey "nps"',
    ),
    (
        "when a where x > 1",
        "FB001", 1, 18, "the rule ends before 'then'", "when EVENT",
    ),
    (
        "when a then send survey cart_exit",
        "FB001", 1, 25, "expected a string, found the name 'cart_exit'", '"cart_exit"',
    ),
    (
        'when a then send email "x"',
        "FB001", 1, 18, "send what? 'email' is neither 'survey' nor 'message'",
        'send survey "id"',
    ),
    (
        'rule r prio 10 when a then tag "x"',
        "FB001", 1, 8, "unknown rule option 'prio' (or a missing 'when')", "priority",
    ),
    (
        'rule when a then tag "x"',
        "FB001", 1, 6, "the rule needs a name after 'rule'", "anonymous one-liner",
    ),
    (
        'event e { in: int }',
        "FB001", 1, 11, "'in' is a keyword and cannot be used as a name here", "'in_'",
    ),
    (
        'when a where x > 1 and then tag "x"',
        "FB001", 1, 24, "expected an expression, found 'then'", None,
    ),
    (
        'when a where count > 1 then tag "x"',
        "FB001", 1, 20, "'count' is a predicate and needs '(...)' here", "EVENT.count",
    ),
    (
        'when a then send survey "s" unless b where x == 1 and y == 2',
        "FB001", 1, 55, "expected an action, found 'y'", "put a longer condition in parentheses",
    ),
    (
        "event e {\n  x: int\n",
        "FB001", 2, 8, "a '{' block is not closed", "add '}'",
    ),
    (
        'when a where x == "a\\qb" then tag "x"',
        "FB004", 1, 21, "unknown escape '\\q' in a string", "write the character itself",
    ),
    (
        "policy { quiet hours 25:00 to 09:00 }",
        "FB042", 1, 22, "'25:00' is not a time of day", "00:00 to 23:59",
    ),
]
# fmt: on


@pytest.mark.parametrize(("source", "code", "line", "column", "message", "hint"), CASES)
def test_friendly_parse_error(
    source: str, code: str, line: int, column: int, message: str, hint: str | None
) -> None:
    result = parse_source(source, "t.fbdsl")
    assert len(result.diagnostics) == 1, result.diagnostics
    (diagnostic,) = result.diagnostics
    assert (diagnostic.code, diagnostic.span.line, diagnostic.span.column) == (code, line, column)
    assert diagnostic.message == message
    if hint is not None:
        assert diagnostic.hint is not None and hint in diagnostic.hint


def test_each_broken_declaration_is_reported_not_only_the_first() -> None:
    source = (
        'when a then tag "ok"\n'
        'rule r when b where x > then tag "y"\n'
        "channel email\n"
        "rule q when c where y < 2 then\n"
    )
    result = parse_source(source, "t.fbdsl")
    assert result.source is None
    assert [(d.span.line, d.message) for d in result.diagnostics] == [
        (2, "expected an expression, found 'then'"),
        (4, "expected an action after 'then' or 'and'"),
    ]


def test_offsets_of_errors_in_later_declarations_are_exact() -> None:
    source = 'channel email\n\nwhen a where x = 1 then tag "x"\n'
    (diagnostic,) = parse_source(source, "t.fbdsl").diagnostics
    assert source[diagnostic.span.start : diagnostic.span.end] == "="
