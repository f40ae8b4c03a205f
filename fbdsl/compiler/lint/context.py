"""What a lint check may look at: the checked program, its source, and derived facts.

A `LintContext` wraps one checked rule set (`CheckedProgram`) with the facts several checks
share: which files belong to the project (as opposed to the standard library or an imported
library file), the policy in force in each mode a rule runs in, the source text of a span,
each rule's condition as a formula. Nothing here re-parses or re-resolves.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache, cached_property
from importlib import resources
from pathlib import Path

import attrs

import fbdsl.resources
from fbdsl.compiler import ast
from fbdsl.compiler import program as p
from fbdsl.compiler.lint import conditions as c
from fbdsl.compiler.lint.config import LintConfig

STDLIB_DISPLAY_PREFIX = "<stdlib>/"
DEFAULT_MODE = "default"


@attrs.define
class LintContext:
    program: p.CheckedProgram
    own_files: frozenset[str]  # display paths of the files the command line named
    config: LintConfig

    # -- files -----------------------------------------------------------------------------

    @cached_property
    def texts(self) -> dict[str, str]:
        return {f.path: f.text for f in self.program.files}

    def is_library(self, path: str) -> bool:
        """A file of the standard library, or one the rule set only imports."""
        return path not in self.own_files or is_stdlib_path(path)

    def source(self, span: ast.Span) -> str:
        """The text a span covers, on one line (runs of white space become one space)."""
        text = self.texts.get(span.file, "")
        return re.sub(r"\s+", " ", text[span.start : span.end]).strip()

    def quote(self, node: object) -> str:
        span = getattr(node, "span", ast.NO_SPAN)
        return f"`{self.source(span)}`"

    # -- rules -----------------------------------------------------------------------------

    @property
    def rules(self) -> tuple[p.CheckedRule, ...]:
        return self.program.rules

    def head(self, rule: p.CheckedRule) -> ast.Span:
        """Where a rule is named: its name, or `when EVENT` for an anonymous rule."""
        decl = rule.decl
        if decl.name is not None:
            return decl.name.span
        return join(decl.trigger.span, decl.trigger.events[-1].span)

    @cached_property
    def _formulas(self) -> dict[int, c.Formula]:
        return {
            rule.index: c.formula(rule.condition) if rule.condition is not None else c.TRUE
            for rule in self.program.rules
        }

    def formula(self, rule: p.CheckedRule) -> c.Formula:
        """The rule's condition as a formula (true when it has none)."""
        return self._formulas[rule.index]

    @cached_property
    def _negations(self) -> dict[int, c.Formula]:
        return {index: c.negate(f) for index, f in self._formulas.items()}

    def negated_formula(self, rule: p.CheckedRule) -> c.Formula:
        return self._negations[rule.index]

    @cached_property
    def _subjects(self) -> dict[int, frozenset[object]]:
        return {index: c.subjects(f) for index, f in self._formulas.items()}

    def subjects(self, rule: p.CheckedRule) -> frozenset[object]:
        """Every subject the rule's condition reads."""
        return self._subjects[rule.index]

    @cached_property
    def condition_facts(self) -> list[tuple[p.CheckedRule, str, c.ConditionFact]]:
        """What FB102 and FB103 report: facts about each rule's condition and about every
        `where` clause about another event, as (rule, where it stands, fact)."""
        out: list[tuple[p.CheckedRule, str, c.ConditionFact]] = []
        for rule in self.program.rules:
            if rule.condition is not None:
                out += [(rule, "condition", fact) for fact in c.analyze(rule.condition)]
            for owner, clause in c.where_clauses(rule):
                out += [(rule, owner, fact) for fact in c.analyze(clause)]
        return out

    def sends(self, rule: p.CheckedRule) -> Iterator[tuple[p.CheckedSend, ast.SendAction]]:
        """Each send of a rule with its syntax (the program exists only without errors, so
        the checked actions match the written ones one to one)."""
        for checked, written in zip(rule.actions, rule.decl.actions, strict=True):
            if isinstance(checked, p.CheckedSend):
                assert isinstance(written, ast.SendAction)
                yield checked, written

    def absences(self, rule: p.CheckedRule) -> list[p.TAbsence]:
        if rule.condition is None:
            return []
        return [n for n in ast.walk(rule.condition) if isinstance(n, p.TAbsence)]

    # -- policies and modes ----------------------------------------------------------------

    def policy_in(self, mode: str) -> p.Policy:
        """The policy in force in a mode: the mode's own, else the default one."""
        if mode == DEFAULT_MODE:
            return self.program.policy
        own = self.program.modes[mode].policy
        return own if own is not None else self.program.policy

    def modes_of(self, rule: p.CheckedRule) -> list[str]:
        """The modes a rule is active in: its own, or (without `in mode`) every mode."""
        if rule.mode is not None:
            return [rule.mode]
        return [DEFAULT_MODE, *sorted(self.program.modes)]

    def both_active(self, a: p.CheckedRule, b: p.CheckedRule) -> bool:
        return a.mode is None or b.mode is None or a.mode == b.mode

    def policy_decl_span(self, mode: str) -> ast.Span | None:
        """Where the policy of a mode is written (for the default policy: its first block in
        a project file), or None if it is not written in the project."""
        for source in self.program.files:
            if self.is_library(source.path):
                continue
            for item in source.items:
                if mode == DEFAULT_MODE and isinstance(item, ast.PolicyDecl):
                    return item.span
                if (
                    isinstance(item, ast.ModeDecl)
                    and item.name.value == mode
                    and item.policy is not None
                ):
                    return item.policy.span
        return None

    def mode_has_own_policy(self, mode: str) -> bool:
        return mode != DEFAULT_MODE and self.program.modes[mode].policy is not None


def join(first: ast.Span, last: ast.Span) -> ast.Span:
    """The span from the start of `first` to the end of `last` (same file)."""
    return ast.Span(
        first.file, first.line, first.column, last.end_line, last.end_column, first.start, last.end
    )


def is_stdlib_path(path: str) -> bool:
    """Whether a displayed path is a standard-library module (imported as `std/...`, or a
    file of the stdlib folder named on the command line)."""
    if path.startswith(STDLIB_DISPLAY_PREFIX):
        return True
    root = stdlib_root()
    if root is None:
        return False
    try:
        Path(path).resolve().relative_to(root)
    except ValueError:
        return False
    return True


@cache
def stdlib_root() -> Path | None:
    """The folder of the standard library (the checkout's stdlib/, or the installed copy)."""
    checkout = Path(fbdsl.resources.__file__).resolve().parent.parent
    if (checkout / "stdlib").is_dir() and (checkout / "pyproject.toml").is_file():
        return checkout / "stdlib"
    try:
        return Path(str(resources.files("fbdsl._stdlib"))).resolve()
    except (ModuleNotFoundError, TypeError):  # pragma: no cover - a broken installation
        return None
