"""FB109 no-quiet-hours: a policy without quiet hours under which rules may text, call or
push. Which channels interrupt is configurable (`interrupting-channels`)."""

from __future__ import annotations

from collections.abc import Iterator

from fbdsl.compiler.lint.context import DEFAULT_MODE, LintContext
from fbdsl.compiler.lint.registry import Finding, lint_rule

CODE = "FB109"


@lint_rule(
    code=CODE,
    name="no-quiet-hours",
    category="policy",
    severity="warning",
    summary="a policy with no `quiet hours` although rules under it may contact customers "
    "on an interrupting channel (sms, call or push by default).",
    why="an SMS or a push at 3 a.m. (in the customer's own time zone) wakes people up and "
    "costs more goodwill than any answer is worth. Quiet hours defer such contacts to the "
    "morning instead of dropping them.",
    bad="""
policy { limit 1 contact per 30d }
rule ask when order_completed then send survey "nps" via sms
""",
    good="""
policy { limit 1 contact per 30d  quiet hours 21:00 to 09:00 }
rule ask when order_completed then send survey "nps" via sms
""",
    config='interrupting-channels = ["sms", "call", "push"] in [tool.fbdsl.lint].',
)
def check(ctx: LintContext) -> Iterator[Finding]:
    interrupting = set(ctx.config.interrupting_channels)
    modes = [DEFAULT_MODE, *(m for m in sorted(ctx.program.modes) if ctx.mode_has_own_policy(m))]
    for mode in modes:
        if ctx.policy_in(mode).quiet_hours is not None:
            continue
        offender = None
        for rule in ctx.rules:
            if mode not in ctx.modes_of(rule):
                continue
            for send, written in ctx.sends(rule):
                channels = [ch for ch in send.channels if ch in interrupting]
                if channels:
                    offender = (rule, written, channels)
                    break
            if offender:
                break
        if offender is None:
            continue
        rule, written, channels = offender
        policy_span = ctx.policy_decl_span(mode)
        which = "the policy" if mode == DEFAULT_MODE else f"the policy of mode {mode}"
        message = (
            f"{which} has no quiet hours, but rule '{rule.name}' may contact customers on "
            f"{', '.join(channels)} at any hour"
        )
        hint = "add 'quiet hours 21:00 to 09:00' (customer's local time; contacts are deferred)"
        if policy_span is None:
            yield Finding(CODE, message, written.span, hint)
        else:
            yield Finding(CODE, message, policy_span, hint, (("the send", written.span),))
