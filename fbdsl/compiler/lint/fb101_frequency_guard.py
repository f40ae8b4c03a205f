"""FB101 no-frequency-guard: a contact that nothing stops from repeating.

A send is guarded on a channel when the policy in force has a limit counting that channel,
when its survey or message has a cooldown, or when the rule's condition has a top-level term
that is false right after a contact (`last_contact > 30d`), bounded (`contacts(30d) < 2`) or
true once per customer (`first_time`). Every mode the rule runs in is checked with the policy
of that mode.
"""

from __future__ import annotations

from collections.abc import Iterator

from fbdsl.compiler.lint.contact_facts import condition_guard, covering_limit
from fbdsl.compiler.lint.context import DEFAULT_MODE, LintContext
from fbdsl.compiler.lint.registry import Finding, lint_rule

CODE = "FB101"


@lint_rule(
    code=CODE,
    name="no-frequency-guard",
    category="policy",
    severity="warning",
    summary="a contact rule with no frequency guard at all: no policy limit covers its "
    "channels, its survey has no cooldown, and its condition reads neither last_contact nor "
    "contacts(...).",
    why="without a guard, every matching event contacts the customer again: a customer who "
    "abandons five carts in a day gets five surveys. The contact policy exists to prevent "
    "exactly this, and a send it does not cover escapes it.",
    bad="""
channel email
survey cart_exit { channels: email }
rule ask when cart_abandoned then send survey "cart_exit"
""",
    good="""
channel email
survey cart_exit { channels: email }
policy { limit 1 contact per 30d }
rule ask when cart_abandoned then send survey "cart_exit"
""",
)
def check(ctx: LintContext) -> Iterator[Finding]:
    contacts = ctx.program.contacts
    for rule in ctx.rules:
        formula = ctx.formula(rule)
        for send, written in ctx.sends(rule):
            if contacts[send.target].cooldown is not None:
                continue
            unguarded: dict[str, list[str]] = {}
            for mode in ctx.modes_of(rule):
                policy = ctx.policy_in(mode)
                for channel in send.channels:
                    if covering_limit(policy, channel) is not None:
                        continue
                    if condition_guard(formula, channel, send.target) is not None:
                        continue
                    unguarded.setdefault(mode, []).append(channel)
            if not unguarded:
                continue
            mode, channels = next(iter(unguarded.items()))
            where = "" if mode == DEFAULT_MODE else f" in mode {mode}"
            yield Finding(
                CODE,
                f"rule '{rule.name}' may contact a customer on {', '.join(channels)}{where} "
                "with no frequency guard",
                written.span,
                "add a limit to the policy (limit 1 contact per 30d), a cooldown to the "
                f"{send.kind}, or a condition such as 'last_contact > 30d'",
            )
