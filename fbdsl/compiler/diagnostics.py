"""Diagnostics: the one Diagnostic type every compiler stage reports, and its renderers.

Errors are values until the edge: stages collect Diagnostics, the CLI renders them (text in
the rustc style, or versioned JSON) and chooses the exit code.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs

from fbdsl.compiler.ast import Span

JSON_FORMAT_VERSION = 1

ERROR = "error"
WARNING = "warning"
NOTE = "note"


@attrs.frozen(slots=True)
class Related:
    """Another place that explains a diagnostic (the other rule of a conflict, say)."""

    message: str
    span: Span

    def to_json(self) -> dict[str, object]:
        return {"message": self.message, "span": self.span.to_json()}


@attrs.frozen(slots=True)
class Diagnostic:
    """One finding: a stable code, a one-line message, the exact span, an optional hint, and
    the other places that explain it (`related`, used by lint)."""

    code: str
    severity: str
    message: str
    span: Span
    hint: str | None = None
    related: tuple[Related, ...] = ()

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.span.file, self.span.start, self.span.end, self.code)

    def to_json(self) -> dict[str, object]:
        document: dict[str, object] = {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "hint": self.hint,
            "span": self.span.to_json(),
        }
        if self.related:
            document["related"] = [r.to_json() for r in self.related]
        return document


def error(code: str, message: str, span: Span, hint: str | None = None) -> Diagnostic:
    return Diagnostic(code, ERROR, message, span, hint)


class SourceMap:
    """The text of every file seen, so that renderers can quote the offending line."""

    def __init__(self) -> None:
        self._texts: dict[str, str] = {}

    def add(self, path: str, text: str) -> None:
        self._texts[path] = text

    def merge(self, other: SourceMap) -> None:
        self._texts.update(other._texts)

    def line(self, path: str, line: int) -> str | None:
        text = self._texts.get(path)
        if text is None or line < 1:
            return None
        lines = text.splitlines()
        return lines[line - 1] if line <= len(lines) else ""


def render_text(diagnostic: Diagnostic, sources: SourceMap) -> str:
    """rustc-style: `file:line:col: error[FB021]: message`, the line, a caret, the hint."""
    span = diagnostic.span
    head = f"{span.file}:{span.line}:{span.column}: {diagnostic.severity}[{diagnostic.code}]: "
    out = [head + diagnostic.message]
    source_line = sources.line(span.file, span.line)
    if source_line is not None:
        gutter = str(span.line)
        pad = " " * len(gutter)
        expanded = source_line.expandtabs(1)
        start = max(span.column - 1, 0)
        if span.end_line == span.line:
            width = max(span.end_column - span.column, 1)
        else:
            width = max(len(expanded) - start, 1)
        out.append(f" {gutter} | {expanded}")
        out.append(f" {pad} | {' ' * start}{'^' * width}")
        if diagnostic.hint:
            out.append(f" {pad} = hint: {diagnostic.hint}")
    else:
        pad = " "
        if diagnostic.hint:
            out.append(f"  = hint: {diagnostic.hint}")
    for related in diagnostic.related:
        where = f"{related.span.file}:{related.span.line}:{related.span.column}"
        out.append(f" {pad} = note: {related.message}: {where}")
    return "\n".join(out)


def render_all_text(diagnostics: Iterable[Diagnostic], sources: SourceMap) -> str:
    return "\n\n".join(render_text(d, sources) for d in diagnostics)


def to_json_document(diagnostics: Sequence[Diagnostic]) -> dict[str, object]:
    """The versioned JSON shape of `--format json`."""
    return {
        "version": JSON_FORMAT_VERSION,
        "diagnostics": [d.to_json() for d in diagnostics],
        "summary": {
            "errors": sum(1 for d in diagnostics if d.severity == ERROR),
            "warnings": sum(1 for d in diagnostics if d.severity == WARNING),
        },
    }


def closest(name: str, candidates: Iterable[str], max_distance: int | None = None) -> str | None:
    """The candidate nearest to `name` by edit distance, if near enough to be a typo."""
    limit = max_distance if max_distance is not None else max(1, min(3, len(name) // 3 + 1))
    best: tuple[int, str] | None = None
    for candidate in sorted(set(candidates)):
        if candidate == name:
            continue
        distance = edit_distance(name, candidate, limit)
        if distance <= limit and (best is None or distance < best[0]):
            best = (distance, candidate)
    return best[1] if best else None


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    suggestion = closest(name, candidates)
    return f"did you mean '{suggestion}'?" if suggestion else None


def edit_distance(a: str, b: str, limit: int) -> int:
    """Damerau-Levenshtein (optimal string alignment) distance, cut off above `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous_previous: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, char_b in enumerate(b, 1):
            cost = 0 if char_a == char_b else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                current[j] = min(current[j], previous_previous[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous_previous, previous = previous, current
    return previous[-1]
