"""FB103 always-true: a condition or term that is always true, or that adds nothing."""

from __future__ import annotations

from collections.abc import Iterator

from fbdsl.compiler.lint.context import LintContext
from fbdsl.compiler.lint.registry import Finding, lint_rule

CODE = "FB103"


@lint_rule(
    code=CODE,
    name="always-true",
    category="bugs",
    severity="warning",
    summary="a condition that is always true (`score <= 2 or score > 1`), a term already "
    "implied by the others (`total > 50` next to `total > 100`), or an `or` alternative "
    "that another one already covers.",
    why="a term that can never make a difference hides what the rule really tests: the "
    "author meant something else (`score <= 2 or score > 9`?), or left a stale term behind "
    "after an edit. Either way the reviewer reads a condition that does not do what it says.",
    bad="""
rule unhappy when ride_rated where rating <= 2 or rating > 1
then create task "call_back" for support
""",
    good="""
rule unhappy when ride_rated where rating <= 2
then create task "call_back" for support
""",
)
def check(ctx: LintContext) -> Iterator[Finding]:
    for _rule, owner, fact in ctx.condition_facts:
        where = "" if owner == "condition" else f" (in {owner})"
        term = ctx.quote(fact.term)
        if fact.kind == "always":
            if fact.because:
                others = " and ".join(ctx.quote(t) for t in fact.because)
                message = f"{term} is redundant{where}: {others} already implies it"
            else:
                message = f"{term} is always true{where}"
            yield Finding(CODE, message, fact.term.span, "remove it, or fix the comparison")
        elif fact.kind == "covered_alternative":
            others = " or ".join(ctx.quote(t) for t in fact.because)
            yield Finding(
                CODE,
                f"{term} is redundant{where}: {others} already covers it",
                fact.term.span,
                "remove this alternative, or fix the comparison",
            )
