"""FB104 ambiguous-arbitration: two contact rules that can fire on one event at one priority.

Rules triggered by one event are decided by priority, then file order. When two contact
rules share a trigger, a priority, the moment they contact (the same `after`) and a mode, and
their conditions can hold together (the formulas of both are satisfiable at once), which one
reaches the customer depends on where they stand in the files.
"""

from __future__ import annotations

from collections.abc import Iterator

from fbdsl.compiler import program as p
from fbdsl.compiler.lint import conditions as c
from fbdsl.compiler.lint import regions as r
from fbdsl.compiler.lint.context import LintContext
from fbdsl.compiler.lint.registry import Finding, lint_rule

CODE = "FB104"


@lint_rule(
    code=CODE,
    name="ambiguous-arbitration",
    category="bugs",
    severity="warning",
    summary="two rules that contact on the same trigger, at the same moment, with equal "
    "priority and conditions that can both hold for one event.",
    why="arbitration then falls back to file order: moving a rule to another file, or "
    "renaming a file, silently changes which survey customers get (or, without a limit, "
    "they get both). The intent belongs in the rules, as a priority.",
    bad="""
rule nps_after_order when order_completed where total > 50 then send survey "nps"
rule csat_after_order when order_completed where total > 20 then send survey "csat"
""",
    good="""
rule nps_after_order priority 10 when order_completed where total > 50
then send survey "nps"
rule csat_after_order when order_completed where total > 20 then send survey "csat"
""",
)
def check(ctx: LintContext) -> Iterator[Finding]:
    candidates = [rule for rule in ctx.rules if rule.contacts and not ctx.absences(rule)]
    summaries = {rule.index: c.hull(ctx.formula(rule)) for rule in candidates}
    groups: dict[tuple[str, int], list[p.CheckedRule]] = {}
    for rule in candidates:
        for event in rule.triggers:
            groups.setdefault((event, rule.priority), []).append(rule)
    for rule in candidates:
        found = _first_overlap(ctx, rule, groups, summaries)
        if found is None:
            continue
        other, event = found
        yield Finding(
            CODE,
            f"rules '{other.name}' and '{rule.name}' can both contact a customer on the same "
            f"{event} with equal priority {rule.priority}: file order decides",
            ctx.head(rule),
            "give the one that should win a higher priority, or make the conditions exclusive",
            (("the other rule", ctx.head(other)),),
        )


def _first_overlap(
    ctx: LintContext,
    rule: p.CheckedRule,
    groups: dict[tuple[str, int], list[p.CheckedRule]],
    summaries: dict[int, dict[object, r.Region]],
) -> tuple[p.CheckedRule, str] | None:
    for event in rule.triggers:
        for other in groups[(event, rule.priority)]:
            if other.index >= rule.index:
                break
            if not ctx.both_active(rule, other) or _delay(rule) != _delay(other):
                continue
            if _disjoint(summaries[rule.index], summaries[other.index]):
                continue
            try:
                if c.satisfiable([ctx.formula(rule), ctx.formula(other)]):
                    return other, event
            except c.Unknown:
                continue
    return None


def _delay(rule: p.CheckedRule) -> int:
    """When the rule's first contact is decided, after the trigger."""
    return min(a.after or 0 for a in rule.actions if isinstance(a, p.CheckedSend))


def _disjoint(a: dict[object, r.Region], b: dict[object, r.Region]) -> bool:
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    for subject, region in small.items():
        other = large.get(subject)
        if other is not None and region.intersect(other).is_empty():
            return True
    return False
