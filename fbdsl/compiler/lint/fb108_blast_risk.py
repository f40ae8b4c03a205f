"""FB108 blast-risk: a send that may go out on every channel of its survey at once.

Without `via`, a send's candidates are all the survey's channels; unless the policy in force
says `one channel per contact`, the engine sends on each of them that is allowed.
"""

from __future__ import annotations

from collections.abc import Iterator

from fbdsl.compiler.lint.context import DEFAULT_MODE, LintContext
from fbdsl.compiler.lint.registry import Finding, lint_rule

CODE = "FB108"


@lint_rule(
    code=CODE,
    name="blast-risk",
    category="policy",
    severity="warning",
    summary="a send with no `via` of a survey or message that allows several channels, "
    "under a policy without `one channel per contact`.",
    why="the customer then gets the same survey by e-mail, SMS and push at once: the "
    "fastest way to turn feedback into spam. Choose the channel (`via email or sms` is a "
    "fallback list: only the first allowed one is used) or make it the policy.",
    bad="""
survey nps { channels: email, sms, push }
policy { limit 1 contact per 30d }
rule ask when order_completed then send survey "nps"
""",
    good="""
survey nps { channels: email, sms, push }
policy { limit 1 contact per 30d  one channel per contact }
rule ask when order_completed then send survey "nps"
""",
)
def check(ctx: LintContext) -> Iterator[Finding]:
    for rule in ctx.rules:
        for send, written in ctx.sends(rule):
            if send.via_given or len(send.channels) < 2:
                continue
            blasting = [
                mode
                for mode in ctx.modes_of(rule)
                if not ctx.policy_in(mode).one_channel_per_contact
            ]
            if not blasting:
                continue
            where = "" if blasting[0] == DEFAULT_MODE else f" in mode {blasting[0]}"
            yield Finding(
                CODE,
                f'send {send.kind} "{send.target}" may go out on {", ".join(send.channels)} '
                f"at once{where}: it has no 'via' and the policy has no 'one channel per "
                "contact'",
                written.span,
                f"add 'via {' or '.join(send.channels)}' (a fallback list), or "
                "'one channel per contact' to the policy",
            )
