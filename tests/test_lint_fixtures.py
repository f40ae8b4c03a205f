"""Lint fixtures: one file per code in tests/lint/fixtures, with snippets that must and must
not trigger it.

A fixture file starts with a prelude (declarations every snippet shares), then snippets,
each opened by `### must trigger: why` or `### must not trigger: why`. A snippet is linted as
a rule set of its own (prelude + snippet, in one file). `# E: FB104` at the end of a line says
a finding of that code must start on that line; the marker is removed before linting. The
findings compared are those of the file's code and of any code a marker names, so a snippet
that marks nothing must produce no finding of the file's code at all.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fbdsl.compiler.lint.config import LintConfig
from fbdsl.compiler.lint.registry import all_rules
from fbdsl.compiler.lint.runner import lint_rule_sets

FIXTURES = Path(__file__).parent / "lint" / "fixtures"
MARKER = re.compile(r"\s*# E: (FB[0-9]{3}(?:, FB[0-9]{3})*)\s*$")
HEADER = re.compile(r"^### (must trigger|must not trigger): (.+)$")


def snippets(path: Path) -> list[tuple[str, str, str]]:
    """(kind, title, text) of each snippet, the prelude prepended."""
    prelude: list[str] = []
    found: list[tuple[str, str, list[str]]] = []
    for line in path.read_text().splitlines():
        header = HEADER.match(line)
        if header:
            found.append((header.group(1), header.group(2), []))
        elif found:
            found[-1][2].append(line)
        else:
            prelude.append(line)
    return [(kind, title, "\n".join([*prelude, *body]) + "\n") for kind, title, body in found]


def expectations(text: str) -> tuple[str, set[tuple[str, int]]]:
    """The text without markers, and the (code, line) each marker asks for."""
    lines, expected = [], set()
    for number, line in enumerate(text.splitlines(), 1):
        marker = MARKER.search(line)
        if marker:
            expected.update((code, number) for code in marker.group(1).split(", "))
            line = line[: marker.start()]
        lines.append(line)
    return "\n".join(lines) + "\n", expected


CASES = [
    pytest.param(path.stem, kind, text, id=f"{path.stem}-{index}-{kind.replace(' ', '_')}")
    for path in sorted(FIXTURES.glob("FB*.fbdsl"))
    for index, (kind, _title, text) in enumerate(snippets(path))
]


@pytest.mark.parametrize(("code", "kind", "text"), CASES)
def test_snippet(code: str, kind: str, text: str, tmp_path: Path) -> None:
    source, expected = expectations(text)
    path = tmp_path / "rules.fbdsl"
    path.write_text(source)
    report = lint_rule_sets([[path]], LintConfig())
    errors = [d for d in report.diagnostics if d.code < "FB100"]
    assert errors == [], errors  # every snippet must pass `fbdsl check`
    considered = {code} | {c for c, _ in expected}
    found = {(d.code, d.span.line) for d in report.diagnostics if d.code in considered}
    assert found == expected, [d.message for d in report.diagnostics if d.code in considered]
    if kind == "must trigger":
        assert any(c == code for c, _ in expected)
    else:
        assert not any(c == code for c, _ in expected)


def test_every_code_has_a_fixture_with_three_of_each_kind() -> None:
    codes = {rule.code for rule in all_rules()}
    assert {path.stem for path in FIXTURES.glob("FB*.fbdsl")} == codes
    for code in codes:
        kinds = [kind for kind, _, _ in snippets(FIXTURES / f"{code}.fbdsl")]
        assert kinds.count("must trigger") >= 3, code
        assert kinds.count("must not trigger") >= 3, code
