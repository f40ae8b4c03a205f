"""FB102 never-true: a condition, an `or` alternative or a `where` clause that cannot hold.

The analysis reasons over the values each subject can take (intervals of numbers and
durations, members of enums and strings, booleans), so `total > 100 and total < 50`,
`tier == "a" and tier == "b"` and `count(...) < 0` are found whatever their layout.
"""

from __future__ import annotations

from collections.abc import Iterator

from fbdsl.compiler.lint.context import LintContext, join
from fbdsl.compiler.lint.registry import Finding, lint_rule

CODE = "FB102"


@lint_rule(
    code=CODE,
    name="never-true",
    category="bugs",
    severity="error",
    summary="a condition that can never be true (`total > 100 and total < 50`, "
    '`tier == "a" and tier == "b"`), an `or` alternative that can never be true where it '
    "stands, or a `where` clause (of count, no, unless) that no event can match.",
    why="a rule whose condition can never hold never fires: whatever it was meant to do "
    "silently never happens. It is nearly always a typo (a flipped comparison, a wrong "
    "value) that a reviewer reads past.",
    bad="""
rule big_cart when cart_abandoned where total > 100 and total < 50
then send survey "cart_exit"
""",
    good="""
rule mid_cart when cart_abandoned where total > 50 and total < 100
then send survey "cart_exit"
""",
)
def check(ctx: LintContext) -> Iterator[Finding]:
    for _rule, owner, fact in ctx.condition_facts:
        if fact.kind not in ("never", "dead_alternative"):
            continue
        where = "" if owner == "condition" else f" (in {owner})"
        consequence = (
            "so the rule never fires" if owner == "condition" else "so it matches no event"
        )
        if fact.kind == "dead_alternative":
            reason = " and ".join(ctx.quote(t) for t in fact.because)
            yield Finding(
                CODE,
                f"{ctx.quote(fact.term)} can never be true here{where}"
                + (f": it contradicts {reason}" if reason else ""),
                fact.term.span,
                "remove this alternative or fix the comparison",
            )
            continue
        core = sorted(fact.because, key=lambda t: t.span.start)
        if len(core) >= 2:
            span = join(core[0].span, core[-1].span)
            terms = " and ".join(ctx.quote(t) for t in core)
            message = f"{terms} can never all be true{where}, {consequence}"
        else:
            span = (core[0] if core else fact.term).span
            message = f"{ctx.quote(core[0] if core else fact.term)} can never be true{where}, "
            message += consequence
        yield Finding(CODE, message, span, "check the comparisons and the values")
