"""Lint output: rustc-style text, versioned JSON, GitHub workflow annotations; the summary
line and the exit decision. SARIF has a module of its own (`sarif.py`)."""

from __future__ import annotations

import json

from fbdsl.compiler.diagnostics import ERROR, NOTE, WARNING, Diagnostic, render_all_text
from fbdsl.compiler.lint.registry import REGISTRY, severity_rank
from fbdsl.compiler.lint.runner import LintReport

JSON_FORMAT_VERSION = 1


def counts(report: LintReport) -> dict[str, int]:
    by = {ERROR: 0, WARNING: 0, NOTE: 0}
    for diagnostic in report.diagnostics:
        by[diagnostic.severity] += 1
    return {"errors": by[ERROR], "warnings": by[WARNING], "notes": by[NOTE]}


def fails(report: LintReport, fail_on: str) -> bool:
    """Whether any finding is at or above the `fail_on` severity."""
    threshold = severity_rank(fail_on)
    return any(severity_rank(d.severity) <= threshold for d in report.diagnostics)


def render_text(report: LintReport) -> str:
    if not report.diagnostics:
        return ""
    return render_all_text(report.diagnostics, report.sources) + "\n"


def summary_line(report: LintReport) -> str:
    sets = f"{report.rule_sets} rule set{'s' if report.rule_sets != 1 else ''}"
    suppressed = f", {report.suppressed} suppressed" if report.suppressed else ""
    if not report.diagnostics:
        return f"ok: no findings in {report.rules} rules ({sets}{suppressed})"
    parts = [
        f"{number} {word if number == 1 else word + 's'}"
        for word, number in (
            ("error", counts(report)["errors"]),
            ("warning", counts(report)["warnings"]),
            ("note", counts(report)["notes"]),
        )
        if number
    ]
    return f"{', '.join(parts)} in {sets}{suppressed}"


def render_json(report: LintReport) -> str:
    document = {
        "version": JSON_FORMAT_VERSION,
        "tool": "fbdsl lint",
        "diagnostics": [_json(d) for d in report.diagnostics],
        "summary": {**counts(report), "suppressed": report.suppressed},
        "linted": {"rule_sets": report.rule_sets, "files": report.files, "rules": report.rules},
    }
    return json.dumps(document, indent=2, ensure_ascii=False)


def _json(diagnostic: Diagnostic) -> dict[str, object]:
    rule = REGISTRY.get(diagnostic.code)
    document = diagnostic.to_json()
    document["name"] = rule.name if rule else None
    document["category"] = rule.category if rule else None
    document.setdefault("related", [])
    return document


_GITHUB_LEVEL = {ERROR: "error", WARNING: "warning", NOTE: "notice"}


def render_github(report: LintReport) -> str:
    """One `::warning file=...,line=...::message` workflow command per finding."""
    lines = []
    for d in report.diagnostics:
        span = d.span
        rule = REGISTRY.get(d.code)
        title = f"{d.code} {rule.name}" if rule else d.code
        properties = ",".join(
            f"{key}={_escape_property(str(value))}"
            for key, value in (
                ("file", span.file),
                ("line", span.line),
                ("col", span.column),
                ("endLine", span.end_line),
                ("endColumn", span.end_column),
                ("title", title),
            )
        )
        message = d.message + (f" (hint: {d.hint})" if d.hint else "")
        lines.append(f"::{_GITHUB_LEVEL[d.severity]} {properties}::{_escape_data(message)}")
    return "\n".join(lines) + ("\n" if lines else "")


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")
