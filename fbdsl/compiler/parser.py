"""Text -> AST: the Lark (LALR) parser, its lexer rules, and recovery from parse errors.

`parse_source(text, path)` returns a `ParseResult`: the `SourceFile` (or None) and the
diagnostics. The AST is built while Lark reduces (`ast_builder.AstBuilder`), so there is no
parse tree and no second pass. A file that fails to parse is cut at its top-level
declarations and each piece is parsed on its own, so one broken rule does not hide the
errors of the next one; `syntax_errors` turns each failure into a friendly message.

Keywords are contextual (the contextual lexer): where the parser can take a name and not
the keyword, a keyword-shaped word is read as the name (`channel: string` is a field), except
the reserved words, which are keywords everywhere.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache

import attrs
from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from fbdsl.compiler import ast
from fbdsl.compiler.ast_builder import (
    DURATION_UNITS,
    SYNTAX_TOKENS,
    AstBuilder,
    parse_duration,
    token_span,
    unescape_string,
)
from fbdsl.compiler.diagnostics import Diagnostic, error
from fbdsl.compiler.syntax_errors import explain_unexpected_characters, explain_unexpected_token
from fbdsl.resources import grammar_text

__all__ = [
    "DURATION_UNITS",
    "RESERVED_WORDS",
    "SYNTAX_TOKENS",
    "TOP_LEVEL_KEYWORDS",
    "AstBuilder",
    "ParseResult",
    "lark_parser",
    "parse_duration",
    "parse_source",
    "unescape_string",
]

TOP_LEVEL_KEYWORDS = (
    "import",
    "event",
    "customer",
    "channel",
    "team",
    "survey",
    "message",
    "policy",
    "mode",
    "rule",
    "when",
)
_TOP_LEVEL_START = re.compile(rf"^(?:{'|'.join(TOP_LEVEL_KEYWORDS)})\b", re.MULTILINE)
_NAME_SHAPE = re.compile(r"[a-z_][a-z0-9_]*\Z")


@attrs.frozen
class ParseResult:
    source: ast.SourceFile | None
    diagnostics: tuple[Diagnostic, ...]


class _CommentCollector:
    """Lark calls this for every comment token."""

    def __init__(self) -> None:
        self.tokens: list[Token] = []

    def __call__(self, token: Token) -> None:
        self.tokens.append(token)


_comments = _CommentCollector()
# One parser, AST builder and comment list serve every parse; the lock keeps parses apart.
_parse_lock = threading.Lock()

# Words that are keywords everywhere, even where a name could stand: without this,
# `when a where x > 1 and then ...` would read `then` as a field name.
RESERVED_WORDS = frozenset(
    {
        "and",
        "or",
        "not",
        "when",
        "then",
        "where",
        "within",
        "in",
        "contains",
        "true",
        "false",
        "unless",
        "after",
        "via",
        "rule",
    }
)
_RESERVED_TERMINALS = {
    "and": "_AND",
    "or": "_OR",
    "not": "_NOT",
    "when": "WHEN",
    "then": "_THEN",
    "where": "_WHERE",
    "via": "VIA",
}


def _reserve_keywords(token: Token) -> Token:
    value = str(token)
    if value in RESERVED_WORDS:
        return Token.new_borrow_pos(_RESERVED_TERMINALS.get(value, value.upper()), value, token)
    return token


@lru_cache(maxsize=1)
def lark_parser() -> Lark:
    """The parser. It builds AST nodes as it reduces: no parse tree, no second pass."""
    return Lark(
        grammar_text(),
        parser="lalr",
        lexer="contextual",
        maybe_placeholders=True,
        transformer=_builder(),
        cache=True,  # the grammar analysis is kept in the temp dir: start-up ~0.3 s -> ~0.1 s
        lexer_callbacks={"COMMENT": _comments, "NAME": _reserve_keywords},
    )


@lru_cache(maxsize=1)
def _builder() -> AstBuilder:
    return AstBuilder("<none>")


def _keyword_as_name(exc: UnexpectedInput) -> bool:
    """Lark's on_error hook: a keyword where only a name fits is that name.

    The contextual lexer offers every terminal the LALR state might take next, and after a
    value that may end an expression that includes the keywords that start a declaration:
    `event e { a: int = 0  team: string }` lexes `team` as the keyword. When the parser then
    cannot take the keyword but can take a name, the word is fed again as a NAME and parsing
    resumes. Reserved words stay keywords (their error says so).
    """
    if not isinstance(exc, UnexpectedToken):
        return False
    token = exc.token
    value = str(token)
    if token.type == "NAME" or value in RESERVED_WORDS or not _NAME_SHAPE.match(value):
        return False
    interactive = exc.interactive_parser
    if "NAME" not in interactive.accepts():
        return False
    interactive.feed_token(Token.new_borrow_pos("NAME", value, token))
    return True


def _parse(text: str) -> list[ast.Decl]:
    items: list[ast.Decl] = lark_parser().parse(text, on_error=_keyword_as_name)
    return items


def parse_source(text: str, path: str) -> ParseResult:
    """Parse one file. On failure, report the first error of each top-level declaration."""
    builder = _builder()
    with _parse_lock:
        builder.path, builder.diagnostics, _comments.tokens = path, [], []
        try:
            items = _parse(text)
        except UnexpectedInput as exc:
            return ParseResult(None, tuple(_errors_by_declaration(text, path, exc)))
        comments = tuple(ast.Comment(str(t), token_span(path, t)) for t in _comments.tokens)
        diagnostics = tuple(builder.diagnostics)
    source = ast.SourceFile(path=path, text=text, items=tuple(items), comments=comments)
    return ParseResult(source, diagnostics)


def _errors_by_declaration(text: str, path: str, first: UnexpectedInput) -> list[Diagnostic]:
    """Re-parse each top-level chunk alone (positions kept) and report each chunk's error."""
    starts = [m.start() for m in _TOP_LEVEL_START.finditer(text)]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    diagnostics: list[Diagnostic] = []
    for index, start in enumerate(starts):
        end = starts[index + 1] if index + 1 < len(starts) else len(text)
        newlines = text.count("\n", 0, start)
        # Line breaks before the chunk keep line numbers; the offset is fixed up after.
        chunk = "\n" * newlines + text[start:end]
        shift = start - newlines
        try:
            _parse(chunk)
        except UnexpectedInput as exc:
            diagnostics.append(_friendly(exc, chunk, path, shift))
    if not diagnostics:  # the error needs more than one chunk to show up
        diagnostics.append(_friendly(first, text, path, 0))
    return diagnostics


def _friendly(exc: UnexpectedInput, text: str, path: str, shift: int) -> Diagnostic:
    if isinstance(exc, UnexpectedCharacters):
        code, message, hint, span = explain_unexpected_characters(exc, text, path)
    elif isinstance(exc, UnexpectedToken | UnexpectedEOF):
        code, message, hint, span = explain_unexpected_token(exc, text, path, lark_parser())
    else:  # pragma: no cover - Lark raises only the two kinds above for LALR
        code, message, hint, span = "FB001", str(exc), None, ast.NO_SPAN
    span = attrs.evolve(span, start=span.start + shift, end=span.end + shift)
    return error(code, message, span, hint)
