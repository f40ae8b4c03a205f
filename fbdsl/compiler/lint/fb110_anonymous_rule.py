"""FB110 anonymous-rule: an unnamed rule in a file that holds several rules."""

from __future__ import annotations

from collections.abc import Iterator

from fbdsl.compiler import ast
from fbdsl.compiler.checker import rule_display_name
from fbdsl.compiler.lint.context import LintContext, join
from fbdsl.compiler.lint.registry import Finding, lint_rule

CODE = "FB110"


@lint_rule(
    code=CODE,
    name="anonymous-rule",
    category="style",
    severity="warning",
    summary="an anonymous rule (no `rule NAME`) in a file with more than one rule.",
    why="decisions name an anonymous rule after its file and line (`cart.fbdsl:12`): adding "
    "a line above it renames it, which breaks dashboards, holdout analysis and the audit "
    "trail. A one-liner alone in its file is fine.",
    bad="""
rule first_order when order_completed and first_time then send survey "welcome"
when cart_abandoned and last_contact > 30d then send survey "cart_exit"
""",
    good="""
rule first_order when order_completed and first_time then send survey "welcome"
rule cart_exit when cart_abandoned and last_contact > 30d then send survey "cart_exit"
""",
)
def check(ctx: LintContext) -> Iterator[Finding]:
    for source in ctx.program.files:
        rules = [item for item in source.items if isinstance(item, ast.RuleDecl)]
        if len(rules) < 2:
            continue
        for rule in rules:
            if rule.name is None:
                span = join(rule.trigger.span, rule.trigger.events[-1].span)
                yield Finding(
                    CODE,
                    f"anonymous rule in a file of {len(rules)} rules: decisions will name it "
                    f"'{rule_display_name(rule)}', which changes "
                    "whenever lines move",
                    span,
                    "name it: rule some_name when ...",
                )
