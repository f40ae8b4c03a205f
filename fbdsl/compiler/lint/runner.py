"""Lint rule sets: load, check, run every enabled lint code, apply suppressions, rank.

Errors of `fbdsl check` are part of the report (code FB0xx, severity error); a rule set with
errors is not linted further, since its program does not exist. Findings are deduplicated
(a file imported by several rule sets is reported once) and sorted by file and position.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import attrs

from fbdsl.compiler.checker import check
from fbdsl.compiler.diagnostics import Diagnostic, Related, SourceMap
from fbdsl.compiler.lint.config import LintConfig
from fbdsl.compiler.lint.context import LintContext, is_stdlib_path
from fbdsl.compiler.lint.registry import REGISTRY, Finding, all_rules
from fbdsl.compiler.lint.suppressions import Suppression, apply_suppressions, parse_suppressions
from fbdsl.compiler.loader import display_path, load_rule_set


@attrs.frozen
class LintReport:
    diagnostics: tuple[Diagnostic, ...]
    sources: SourceMap
    rule_sets: int
    files: int
    rules: int
    suppressed: int


def lint_rule_sets(groups: Sequence[Sequence[Path]], config: LintConfig) -> LintReport:
    """Lint each group of files as one rule set (as `fbdsl check` groups them)."""
    rules = all_rules()
    diagnostics: list[Diagnostic] = []
    sources = SourceMap()
    files: set[str] = set()
    rule_count = suppressed = 0
    for group in groups:
        loaded = load_rule_set(group)
        sources.merge(loaded.sources)
        files.update(f.path for f in loaded.files)
        if loaded.diagnostics:
            diagnostics.extend(loaded.diagnostics)
            continue
        result = check(loaded.files)
        diagnostics.extend(result.diagnostics)
        if result.program is None:
            continue
        rule_count += len(result.program.rules)
        own = frozenset(display_path(path) for path in group)
        context = LintContext(result.program, own, config)
        findings: list[Finding] = []
        for rule in rules:
            if rule.check is not None and config.enabled(rule.code, rule.category):
                findings.extend(rule.check(context))
        marks: list[Suppression] = []
        for source in result.program.files:
            if is_stdlib_path(source.path):
                continue
            parsed, malformed = parse_suppressions(source)
            marks.extend(parsed)
            findings.extend(malformed)
        kept, about_marks, silenced = apply_suppressions(findings, marks, config)
        suppressed += silenced
        diagnostics.extend(
            to_diagnostic(f, config)
            for f in [*kept, *about_marks]
            if config.enabled(f.code, REGISTRY[f.code].category)
        )
    unique = sorted(set(diagnostics), key=Diagnostic.sort_key)
    return LintReport(tuple(unique), sources, len(groups), len(files), rule_count, suppressed)


def to_diagnostic(finding: Finding, config: LintConfig) -> Diagnostic:
    rule = REGISTRY[finding.code]
    return Diagnostic(
        finding.code,
        config.severity_of(finding.code, rule.severity),
        finding.message,
        finding.span,
        finding.hint,
        tuple(Related(message, span) for message, span in finding.related),
    )
