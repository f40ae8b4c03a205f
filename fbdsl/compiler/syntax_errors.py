"""Friendly parse errors: turn Lark's raw failures into messages a rule author understands.

Each known mistake is recognised by its shape (the token found, the tokens the parser
expected, the text around it), in the spirit of Lark's `match_examples`: a missing `then`,
an unterminated string, `=` where `==` was meant, a duration without a unit... Anything
else gets "expected X, found Y" with the expected tokens in words.
"""

from __future__ import annotations

import re

from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken

from fbdsl.compiler.ast import Span
from fbdsl.compiler.diagnostics import did_you_mean

SYNTAX = "FB001"
UNTERMINATED_STRING = "FB002"
BAD_CHARACTER = "FB003"

Explained = tuple[str, str, str | None, Span]

_WORDS = {
    "NAME": "a name",
    "STRING": 'a string ("...")',
    "INT": "a whole number",
    "DECIMAL": "a number",
    "DURATION": "a duration (like 30d)",
    "PERCENT": "a percentage (like 25%)",
    "CLOCK": "a time of day (like 21:00)",
    "$END": "the end of the file",
}
_EXPRESSION_START = {
    "NAME",
    "INT",
    "DECIMAL",
    "STRING",
    "DURATION",
    "PERCENT",
    "CLOCK",
    "TRUE",
    "FALSE",
    "LPAR",
    "LSQB",
    "MINUS",
    "LAST_CONTACT",
    "LAST_SENT",
    "CONTACTS",
    "COUNT",
    "SINCE",
    "FIRST_TIME",
    "NEVER",
    "NO",
    "CUSTOMER",
    "_NOT",
}
_OPERATORS = {
    "EQ",
    "NE",
    "LT",
    "GT",
    "LE",
    "GE",
    "PLUS",
    "MINUS",
    "STAR",
    "SLASH",
    "IN",
    "CONTAINS",
    "_NOT",
    "_AND",
    "_OR",
}
_ACTION_START = {"SEND", "CREATE", "TAG", "UNTAG"}
_COMPARISONS = {"EQ", "NE", "LT", "GT", "LE", "GE"}
_RULE_OPTIONS = ("priority", "sample", "holdout", "in")
_DURATION_UNITS_HINT = "units: s, m, h, d, w, y; they combine, as in 1d12h"
_NAME_SHAPE = re.compile(r"[a-z_][a-z0-9_]*\Z")
# `with k = VALUE` up to the failing token (on one line): VALUE is a sum, not a comparison
_NOTE_VALUE = re.compile(r"\bwith\b[^\n]*?\b([a-z_][a-z0-9_]*)\s*=(?!=)\s*([^=,\n]*)\Z")


def _span_at(path: str, text: str, pos: int, length: int) -> Span:
    line = text.count("\n", 0, pos) + 1
    line_start = text.rfind("\n", 0, pos) + 1
    column = pos - line_start + 1
    return Span(path, line, column, line, column + max(length, 1), pos, pos + max(length, 1))


def _token_span(path: str, text: str, token: Token) -> Span:
    if token.type == "$END" or token.start_pos is None:
        end = len(text.rstrip())
        return _span_at(path, text, max(end - 1, 0), 1) if end else _span_at(path, text, 0, 1)
    return _span_at(path, text, token.start_pos, len(str(token)))


def _terminal_word(name: str, parser: Lark) -> str:
    if name in _WORDS:
        return _WORDS[name]
    try:
        pattern = parser.get_terminal(name).pattern
    except KeyError:
        return name.lower()
    if pattern.type == "str":
        return f"'{pattern.value}'"
    return name.lower()


def describe_expected(expected: set[str], parser: Lark) -> str:
    """The expected tokens in words, with the big groups summarised."""
    rest = set(expected)
    words: list[str] = []
    if {"NAME", "INT", "LPAR"} <= rest:
        words.append("an expression")
        rest -= _EXPRESSION_START
    if len(rest & _OPERATORS) >= 3:
        words.append("an operator")
        rest -= _OPERATORS
    if len(rest & _ACTION_START) >= 3:
        words.append("an action (send, create task, tag, untag)")
        rest -= _ACTION_START
    words.extend(sorted(_terminal_word(name, parser) for name in rest))
    if not words:
        return "something else"
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _accepted(exc: UnexpectedToken) -> set[str]:
    """What the parser could take at the failure (exact, unlike the lexer's guess)."""
    interactive = getattr(exc, "interactive_parser", None)
    if interactive is not None:
        try:
            return set(interactive.accepts())
        except Exception:  # pragma: no cover - accepts() replays the parser; fall back
            pass
    return set(exc.expected)


def _as_keyword(token: Token, parser: Lark) -> Token:
    """A keyword the contextual lexer read as a NAME gets its keyword type back."""
    if token.type != "NAME":
        return token
    for terminal in parser.terminals:
        if terminal.pattern.type == "str" and terminal.pattern.value == str(token):
            return Token.new_borrow_pos(terminal.name, str(token), token)
    return token


def _unbalanced_quote(text: str, token: Token) -> int | None:
    """Offset of the first quote of the failing line if that line ends inside a string."""
    if token.start_pos is None:
        return None
    start = text.rfind("\n", 0, token.start_pos) + 1
    end = text.find("\n", token.start_pos)
    line = text[start : len(text) if end == -1 else end]
    in_string = False
    index = 0
    while index < len(line):
        char = line[index]
        if in_string and char == "\\":
            index += 2
            continue
        if char == '"':
            in_string = not in_string
        elif char == "#" and not in_string:
            break
        index += 1
    return start + line.index('"') if in_string else None


def _found(token: Token) -> str:
    if token.type == "$END":
        return "the end of the file"
    return f"'{token}'"


def explain_unexpected_characters(exc: UnexpectedCharacters, text: str, path: str) -> Explained:
    pos = exc.pos_in_stream
    char = text[pos] if pos < len(text) else ""
    line_end = text.find("\n", pos)
    line_end = len(text) if line_end == -1 else line_end
    if char == '"':
        span = _span_at(path, text, pos, line_end - pos)
        return (
            UNTERMINATED_STRING,
            "unterminated string",
            'close it with " on the same line (write \\" for a quote inside)',
            span,
        )
    if char == "'":
        word = re.match(r"'([^'\n]*)'?", text[pos:])
        inner = word.group(1) if word else ""
        span = _span_at(path, text, pos, word.end() if word else 1)
        return (BAD_CHARACTER, "strings use double quotes", f'write "{inner}"', span)
    if char.isalpha() and char.isascii():
        word_match = re.match(r"[A-Za-z_][A-Za-z0-9_]*", text[pos:])
        word = word_match.group(0) if word_match else char
        start = pos
        while start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
            start -= 1
        whole = text[start : pos + len(word)]
        span = _span_at(path, text, start, len(whole))
        return (
            BAD_CHARACTER,
            f"'{whole}': names are lowercase (letters, digits and _)",
            f"write '{whole.lower()}'",
            span,
        )
    pair = text[pos : pos + 2]
    if pair in ("&&", "||"):
        word = "and" if pair == "&&" else "or"
        return (
            BAD_CHARACTER,
            f"'{pair}' is not an operator",
            f"write '{word}'",
            _span_at(path, text, pos, 2),
        )
    if char == "!":
        return (
            BAD_CHARACTER,
            "'!' is not an operator",
            "write 'not' (or '!=' to compare)",
            _span_at(path, text, pos, 1),
        )
    shown = char if char.isprintable() else repr(char)
    return (BAD_CHARACTER, f"unexpected character '{shown}'", None, _span_at(path, text, pos, 1))


def explain_unexpected_token(
    exc: UnexpectedToken | UnexpectedEOF, text: str, path: str, parser: Lark
) -> Explained:
    if isinstance(exc, UnexpectedEOF):
        token = Token("$END", "")
        expected = set(exc.expected)
    else:
        token = _as_keyword(exc.token, parser)
        expected = _accepted(exc)
    span = _token_span(path, text, token)
    unbalanced = _unbalanced_quote(text, token)
    if unbalanced is not None:
        return (
            UNTERMINATED_STRING,
            "unterminated string: the quotes on this line do not pair up",
            'check that every string on this line is closed with "',
            _span_at(path, text, unbalanced, 1),
        )
    expected_words = describe_expected(expected, parser)
    found = _found(token)

    if token.type == "$END":
        if "_THEN" in expected:
            return (
                SYNTAX,
                "the rule ends before 'then'",
                "a rule reads: when EVENT [where CONDITION] then ACTION",
                span,
            )
        if expected & _ACTION_START and "_THEN" not in expected:
            return (
                SYNTAX,
                "expected an action after 'then' or 'and'",
                'for example: send survey "nps"',
                span,
            )
        if "RBRACE" in expected:
            return (SYNTAX, "a '{' block is not closed", "add '}' at its end", span)
        return (SYNTAX, f"unexpected end of file: expected {expected_words}", None, span)

    if token.type == "_ASSIGN" and "EQ" in expected:
        return (
            SYNTAX,
            "'=' assigns a value; to compare, write '=='",
            f"write '==' at line {span.line}, column {span.column}",
            span,
        )

    before = text[: token.start_pos] if token.start_pos is not None else ""
    glued_number = re.search(r"[0-9]+\Z", before)
    if token.type == "NAME" and glued_number:
        number = glued_number.group(0)
        whole = _span_at(path, text, glued_number.start(), len(number) + len(str(token)))
        return (
            SYNTAX,
            f"'{number}{token}': unknown duration unit '{token}'",
            f"write {number}d, {number}h...; {_DURATION_UNITS_HINT}",
            whole,
        )

    if token.type in ("INT", "DECIMAL") and "DURATION" in expected and "INT" not in expected:
        return (
            SYNTAX,
            f"a duration needs a unit: '{token}' alone is not a duration",
            f"write '{token}d' or '{token}h'; {_DURATION_UNITS_HINT}",
            span,
        )

    if token.type in _ACTION_START and "_THEN" in expected:
        return (
            SYNTAX,
            f"missing 'then' before '{token}'",
            f"write 'then {token} ...': a rule reads when ... then ACTION",
            span,
        )

    if token.type in ("WHEN", "SEND") and expected == {"NAME", "STRING"}:
        return (
            SYNTAX,
            "the rule needs a name after 'rule'",
            "write 'rule my_rule when ...', or drop 'rule' for an anonymous one-liner",
            span,
        )

    note = _NOTE_VALUE.search(before)
    if token.type in _COMPARISONS | {"IN", "CONTAINS"} and note and "WITH" in expected:
        key, value = note.group(1), note.group(2).strip()
        return (
            SYNTAX,
            f"the value of note '{key}' is a number, text or sum, not a comparison",
            f"to note whether it holds, put it in parentheses: {key} = ({value} {token} ...)",
            span,
        )

    if (
        token.type in _COMPARISONS
        and not (expected & _COMPARISONS)
        and expected & (_OPERATORS | {"_THEN", "RPAR"})
    ):
        return (
            SYNTAX,
            "comparisons do not chain",
            "join two comparisons with 'and', as in 'a < b and b < c'",
            span,
        )

    customer = re.search(r"\bcustomer(?=\s*\Z)", before)
    if expected == {"DOT"} and customer:
        return (
            SYNTAX,
            "'customer' starts a trait: write customer.NAME",
            "to read a field called customer, write EVENT.customer",
            _span_at(path, text, customer.start(), len("customer")),
        )

    predicate = re.search(r"\b(count|since|last_sent|contacts)\s*\Z", before)
    if expected == {"LPAR"} and predicate:
        word = predicate.group(1)
        return (
            SYNTAX,
            f"'{word}' is a predicate and needs '(...)' here",
            f"to read a field called {word}, write EVENT.{word}",
            span,
        )

    if (
        "NAME" in expected
        and "INT" not in expected
        and token.type != "NAME"
        and _NAME_SHAPE.match(str(token))
    ):
        return (
            SYNTAX,
            f"'{token}' is a keyword and cannot be used as a name here",
            f"choose another name, such as '{token}_'",
            span,
        )

    if "STRING" in expected and token.type == "NAME" and "NAME" not in expected:
        return (
            SYNTAX,
            f"expected a string, found the name '{token}'",
            f'put it in double quotes: "{token}"',
            span,
        )

    if {"SURVEY", "MESSAGE"} <= expected and token.type == "NAME":
        return (
            SYNTAX,
            f"send what? '{token}' is neither 'survey' nor 'message'",
            'write send survey "id" or send message "id"',
            span,
        )

    if token.type == "NAME" and "PRIORITY" in expected and "WHEN" in expected:
        hint = (
            did_you_mean(str(token), _RULE_OPTIONS)
            or "rule options: priority, sample, holdout, in mode"
        )
        return (SYNTAX, f"unknown rule option '{token}' (or a missing 'when')", hint, span)

    if expected and expected <= _ACTION_START | {"_AND"}:
        hint = "actions start with send, create task, tag or untag"
        if re.search(r"\b(unless|with)\b[^\n]*\Z", before):
            hint = (
                "after 'unless E where' or 'with k =' only one comparison or value fits; "
                "put a longer condition in parentheses"
            )
        return (SYNTAX, f"expected an action, found {found}", hint, span)

    if "WHEN" in expected and token.type in ("NAME", "SEND"):
        return (
            SYNTAX,
            f"expected 'when' before the trigger, found {found}",
            "a rule reads: rule NAME [options] when EVENT ... then ACTION",
            span,
        )

    return (SYNTAX, f"expected {expected_words}, found {found}", None, span)
