"""The registry of lint codes: what each FBxxx is called, finds, why, and how it is checked.

Each lint module defines one `LintRule` with its documentation (shown by `fbdsl lint
--explain`) and registers it with `@lint_rule(...)` on its check function. The check gets a
`LintContext` and yields `Finding`s; severity, selection and suppression are applied later,
by the runner, so checks only say what they found and where.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import attrs

from fbdsl.compiler.ast import Span
from fbdsl.compiler.diagnostics import ERROR, NOTE, WARNING

if TYPE_CHECKING:
    from fbdsl.compiler.lint.context import LintContext

CATEGORIES = ("bugs", "policy", "style", "unused")
SEVERITIES = (ERROR, WARNING, NOTE)  # most severe first


@attrs.frozen
class Finding:
    """What a check found: the exact span, a one-line message, an optional hint, and other
    places that explain it (the other rule of a conflict, the policy that misses a limit)."""

    code: str
    message: str
    span: Span
    hint: str | None = None
    related: tuple[tuple[str, Span], ...] = ()


Check = Callable[["LintContext"], Iterable[Finding]]


@attrs.frozen
class LintRule:
    """One lint code and its documentation."""

    code: str
    name: str  # kebab-case, e.g. "no-frequency-guard"
    category: str
    severity: str
    summary: str  # one line: what it finds
    why: str  # why it matters
    bad: str  # an example that triggers it
    good: str  # the example fixed
    config: str = ""  # the options that tune it, if any
    check: Check | None = attrs.field(default=None, eq=False, repr=False)

    def explain(self) -> str:
        """The text of `fbdsl lint --explain CODE`."""
        parts = [
            f"{self.code} ({self.name}) [{self.category}, default {self.severity}]",
            "",
            f"What it finds: {self.summary}",
            "",
            f"Why it matters: {self.why}",
            "",
            "Bad:",
            _indent(self.bad),
            "",
            "Good:",
            _indent(self.good),
        ]
        if self.config:
            parts += ["", f"Configuration: {self.config}"]
        parts += [
            "",
            f"Silence one finding with a reason, on the line before the declaration or on its "
            f"first line:  # fbdsl: ignore[{self.code}] why this is fine here",
        ]
        return "\n".join(parts)


def _indent(text: str) -> str:
    return "\n".join(("    " + line) if line else "" for line in text.strip("\n").splitlines())


REGISTRY: dict[str, LintRule] = {}


def register(rule: LintRule) -> LintRule:
    if rule.code in REGISTRY:
        raise ValueError(f"lint code {rule.code} is registered twice")
    if rule.category not in CATEGORIES or rule.severity not in SEVERITIES:
        raise ValueError(f"{rule.code}: bad category or severity")
    REGISTRY[rule.code] = rule
    return rule


def lint_rule(**documentation: str) -> Callable[[Check], Check]:
    """Register the decorated function as the check of a new lint code."""

    def wrap(check: Check) -> Check:
        register(LintRule(**documentation, check=check))  # type: ignore[arg-type]
        return check

    return wrap


def all_rules() -> list[LintRule]:
    """Every lint code, sorted (importing the lint modules registers them)."""
    from fbdsl.compiler.lint import checks  # noqa: F401  (registers every code)

    return [REGISTRY[code] for code in sorted(REGISTRY)]


def severity_rank(severity: str) -> int:
    """0 for error, 1 for warning, 2 for note: lower is more severe."""
    return SEVERITIES.index(severity)
