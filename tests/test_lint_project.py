"""The project's own rule files are reviewed like any other: every file of examples/ and
stdlib/ is in the canonical layout (`fbdsl fmt --check`), and lints clean, each rule set
grouped as `fbdsl check` groups it. .ci/run runs the same two commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from fbdsl.compiler.diagnostics import render_all_text
from fbdsl.compiler.fmt import format_source
from fbdsl.compiler.lint.config import LintConfig
from fbdsl.compiler.lint.runner import lint_rule_sets
from fbdsl.compiler.loader import rule_sets_for

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = [ROOT / "examples", ROOT / "stdlib"]
FILES = sorted(p for folder in FOLDERS if folder.is_dir() for p in folder.rglob("*.fbdsl"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_project_file_is_in_the_canonical_layout(path: Path) -> None:
    text = path.read_text("utf-8")
    result = format_source(text, str(path.relative_to(ROOT)))
    assert result.text is not None, result.diagnostics
    assert result.text == text, f"run: fbdsl fmt {path.relative_to(ROOT)}"


def test_project_rule_sets_lint_clean() -> None:
    groups = rule_sets_for([f for f in FOLDERS if f.is_dir()])
    assert groups, "no rule sets found"
    report = lint_rule_sets(groups, LintConfig())
    assert report.diagnostics == (), render_all_text(report.diagnostics, report.sources)
