"""FB105 unused-declaration: a survey, message, team or channel that nothing uses.

Only declarations in the project's own files (those the command line names) are reported:
the standard library and files a rule set merely imports are libraries, which declare more
than one rule set needs. A rule set without any rule is itself a library and is skipped.
"""

from __future__ import annotations

from collections.abc import Iterator

from fbdsl.compiler import ast
from fbdsl.compiler import program as p
from fbdsl.compiler.lint.context import LintContext
from fbdsl.compiler.lint.registry import Finding, lint_rule

CODE = "FB105"


@lint_rule(
    code=CODE,
    name="unused-declaration",
    category="unused",
    severity="warning",
    summary="a survey, message, team or channel declared in the project that no rule, "
    "contact or policy uses.",
    why="an unused declaration is either dead weight or a sign of a mistake: the rule that "
    "was meant to send the survey sends another one, or was deleted while its survey stayed. "
    "Declarations from the standard library are not reported.",
    bad="""
channel email
survey cart_exit { channels: email  cooldown: 30d }
survey cart_exit_v2 { channels: email }
rule ask when cart_abandoned then send survey "cart_exit"
""",
    good="""
channel email
survey cart_exit { channels: email  cooldown: 30d }
rule ask when cart_abandoned then send survey "cart_exit"
""",
)
def check(ctx: LintContext) -> Iterator[Finding]:
    if not ctx.rules:
        return
    used = _uses(ctx.program)
    for source in ctx.program.files:
        if ctx.is_library(source.path):
            continue
        for item in source.items:
            if isinstance(item, ast.ContactDecl):
                if item.name.value not in used["contact"]:
                    yield _finding(item.kind, item.name, "no rule sends or reads it")
            elif isinstance(item, ast.TeamDecl):
                for name in item.names:
                    if name.value not in used["team"]:
                        yield _finding("team", name, "no rule creates a task for it")
            elif isinstance(item, ast.ChannelDecl):
                for name in item.names:
                    if name.value not in used["channel"]:
                        yield _finding(
                            "channel", name, "no survey, message, rule or policy names it"
                        )


def _finding(kind: str, name: ast.Name, why: str) -> Finding:
    return Finding(
        CODE,
        f"{kind} '{name.value}' is declared but never used: {why}",
        name.span,
        "remove it, or use it",
    )


def _uses(program: p.CheckedProgram) -> dict[str, set[str]]:
    contacts: set[str] = set()
    teams: set[str] = set()
    channels: set[str] = set()
    for schema in program.contacts.values():
        channels.update(schema.channels)
    policies = [program.policy, *(m.policy for m in program.modes.values() if m.policy)]
    for policy in policies:
        channels.update(limit.channel for limit in policy.limits if limit.channel)
    for rule in program.rules:
        for action in rule.actions:
            if isinstance(action, p.CheckedSend):
                contacts.add(action.target)
                channels.update(action.channels)
            elif isinstance(action, p.CheckedTask):
                teams.add(action.team)
        roots = [rule.condition] if rule.condition is not None else []
        for node in (n for root in roots for n in ast.walk(root)):
            if isinstance(node, p.TLastSent):
                contacts.add(node.target)
            elif isinstance(node, p.TLastContact) and node.channel is not None:
                channels.add(node.channel)
    return {"contact": contacts, "team": teams, "channel": channels}
