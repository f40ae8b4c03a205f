"""FB106 shadowed-rule: a contact rule that a higher-priority rule always beats to the slot.

Rule B is shadowed by rule A when, on every event B fires on, A fires too, first, and its
contact leaves B no room. Concretely: A has a higher priority; every trigger of B triggers A;
A is active whenever B is; B's condition implies A's (checked on the formulas); A always
contacts (sample 100%, no `after`, `unless` or `no ... within`, no cooldown B does not share);
B can only use channels A can; and in every mode B runs in, a `limit 1 ...` covering both, or
a term of B's own condition such as `last_contact > 30d`, refuses B right after A's contact.
"""

from __future__ import annotations

from collections.abc import Iterator

from fbdsl.compiler import program as p
from fbdsl.compiler.lint import conditions as c
from fbdsl.compiler.lint.contact_facts import refused_after_contact
from fbdsl.compiler.lint.context import LintContext
from fbdsl.compiler.lint.registry import Finding, lint_rule

CODE = "FB106"


@lint_rule(
    code=CODE,
    name="shadowed-rule",
    category="bugs",
    severity="warning",
    summary="a contact rule that never gets to contact anyone: a higher-priority rule fires "
    "on every event it fires on and always takes the contact slot first.",
    why="the shadowed rule looks alive in review and in the files, but it only ever "
    "produces suppressed decisions. Usually its condition was meant to be narrower than the "
    "other rule's, or the priorities are the wrong way round.",
    bad="""
policy { limit 1 contact per 30d }
rule any_order priority 10 when order_completed then send survey "csat" via email
rule big_order when order_completed where total > 100 then send survey "nps" via email
""",
    good="""
policy { limit 1 contact per 30d }
rule big_order priority 10 when order_completed where total > 100
then send survey "nps" via email
rule any_order when order_completed then send survey "csat" via email
""",
)
def check(ctx: LintContext) -> Iterator[Finding]:
    winners = [rule for rule in ctx.rules if _always_contacts(ctx, rule)]
    by_event: dict[str, list[p.CheckedRule]] = {}
    for rule in sorted(winners, key=lambda w: (-w.priority, w.index)):
        for event in rule.triggers:
            by_event.setdefault(event, []).append(rule)
    for rule in ctx.rules:
        if not rule.contacts:
            continue
        for winner in by_event.get(rule.triggers[0], []):
            if winner.priority <= rule.priority:
                break
            reason = _shadows(ctx, winner, rule)
            if reason is None:
                continue
            yield Finding(
                CODE,
                f"rule '{rule.name}' never contacts anyone: rule '{winner.name}' (priority "
                f"{winner.priority}) fires on every event it fires on and takes the contact "
                f"first ({reason})",
                ctx.head(rule),
                "narrow the higher-priority rule, or give this one the higher priority",
                (("the rule that takes the contact", ctx.head(winner)),),
            )
            break


def _always_contacts(ctx: LintContext, rule: p.CheckedRule) -> bool:
    if not rule.contacts or rule.sample < 1 or ctx.absences(rule):
        return False
    return all(send.after is None and send.unless is None for send, _ in ctx.sends(rule))


def _channels(ctx: LintContext, rule: p.CheckedRule) -> set[str]:
    return {channel for send, _ in ctx.sends(rule) for channel in send.channels}


def _shadows(ctx: LintContext, winner: p.CheckedRule, rule: p.CheckedRule) -> str | None:
    """Why `winner` always takes the slot before `rule`, or None if it may not."""
    if not set(rule.triggers) <= set(winner.triggers):
        return None
    if winner.mode is not None and winner.mode != rule.mode:
        return None
    theirs, mine = _channels(ctx, winner), _channels(ctx, rule)
    if not mine <= theirs:
        return None
    my_targets = {send.target for send, _ in ctx.sends(rule)}
    their_targets = {send.target for send, _ in ctx.sends(winner)}
    for target in their_targets:
        if ctx.program.contacts[target].cooldown is not None and target not in my_targets:
            return None
    # Subjects are independent: if `rule` never reads a subject `winner` must constrain,
    # `rule` cannot imply `winner` (a cheap refutation before the search).
    mine_read = ctx.subjects(rule)
    for subject, region in c.top_level_atoms(ctx.formula(winner)):
        if subject not in mine_read and not _everything(subject, region):
            return None
    reasons = []
    for mode in ctx.modes_of(rule):
        reason = refused_after_contact(
            ctx.policy_in(mode), ctx.formula(rule), mine, theirs, their_targets
        )
        if reason is None:
            return None
        reasons.append(reason)
    try:
        if c.satisfiable([ctx.formula(rule), ctx.negated_formula(winner)]):
            return None
    except c.Unknown:
        return None
    return reasons[0]


def _everything(subject: object, region: object) -> bool:
    domain = c.domain_of_subject(subject)
    return domain.is_everything(region)  # type: ignore[arg-type]
