"""FB107 stale-delay: a send delayed so long that the feedback it asks for is stale."""

from __future__ import annotations

from collections.abc import Iterator

from fbdsl.compiler.lint.context import LintContext
from fbdsl.compiler.lint.registry import Finding, lint_rule
from fbdsl.compiler.render import duration_text

CODE = "FB107"


@lint_rule(
    code=CODE,
    name="stale-delay",
    category="policy",
    severity="warning",
    summary="a send whose `after` delay is longer than the threshold (7d by default): by the "
    "time the survey arrives, the moment it asks about is long gone.",
    why="feedback is worth most while the experience is fresh; a week later answers are "
    "vague, response rates drop, and the customer may have had other experiences since. A "
    "long wait for something to happen (or not) is what `no EVENT within D` is for.",
    bad="""
rule late_csat when order_completed then send survey "order_csat" after 30d
""",
    good="""
rule timely_csat when order_completed then send survey "order_csat" after 2d
""",
    config='max-delay = "7d" in [tool.fbdsl.lint] sets the threshold.',
)
def check(ctx: LintContext) -> Iterator[Finding]:
    limit = ctx.config.max_delay
    for rule in ctx.rules:
        for send, written in ctx.sends(rule):
            if send.after is None or send.after <= limit or written.after is None:
                continue
            yield Finding(
                CODE,
                f"'after {written.after.text}' delays the {send.kind} \"{send.target}\" by more "
                f"than {duration_text(limit)}: the feedback will be stale",
                written.after.span,
                f"ask sooner (at most {duration_text(limit)}), or wait for an event instead",
            )
