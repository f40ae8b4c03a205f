"""Inline suppressions: `# fbdsl: ignore[FB104, FB106] reason` and the findings about them.

A suppression applies to the top-level declaration (a rule, a survey, a policy...) whose
first line it stands on, or that follows it directly: on the next line, or after further
comment lines, with no blank line in between. It silences the listed codes for findings
inside that declaration. A suppression without a reason is finding FB191; one that silences
nothing (no such finding there, an unknown code, a code of `fbdsl check`, or no declaration
to attach to) is finding FB190. Codes that are not enabled in this run are not judged.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import attrs

from fbdsl.compiler import ast
from fbdsl.compiler.lint.config import LintConfig
from fbdsl.compiler.lint.registry import REGISTRY, Finding, LintRule, register

UNUSED = "FB190"
NO_REASON = "FB191"
_SUPPRESSION = re.compile(r"#\s*fbdsl:\s*ignore\[(?P<codes>[^\]]*)\](?P<reason>.*)$")
_MENTION = re.compile(r"#\s*fbdsl:")
_CODE = re.compile(r"[A-Za-z]+[0-9]+")

register(
    LintRule(
        code=UNUSED,
        name="unused-suppression",
        category="unused",
        severity="warning",
        summary="a `# fbdsl: ignore[...]` that silences nothing: no finding of that code in "
        "the declaration it stands before, an unknown code, a code of `fbdsl check` (errors "
        "cannot be silenced), or no declaration to attach to.",
        why="a stale suppression hides the next real finding of its code in that declaration, "
        "and tells the reader about a problem that is no longer there.",
        bad="""
# fbdsl: ignore[FB104] the two rules target different segments
rule only_rule priority 5 when order_completed then send survey "nps"
""",
        good="""
rule only_rule priority 5 when order_completed then send survey "nps"
""",
    )
)
register(
    LintRule(
        code=NO_REASON,
        name="suppression-without-reason",
        category="style",
        severity="warning",
        summary="a `# fbdsl: ignore[...]` with no reason after the codes.",
        why="the reason is what the next reviewer needs to judge whether the suppression "
        "still holds; without it, silencing a finding is indistinguishable from hiding it.",
        bad="""
# fbdsl: ignore[FB110]
when cart_abandoned and last_contact > 30d then send survey "cart_exit"
""",
        good="""
# fbdsl: ignore[FB110] kept anonymous: dashboards already use the file:line name
when cart_abandoned and last_contact > 30d then send survey "cart_exit"
""",
    )
)


@attrs.frozen
class Suppression:
    comment: ast.Span
    codes: tuple[tuple[str, ast.Span], ...]  # each code with its own span
    reason: str
    target: ast.Span | None  # the declaration it applies to
    target_name: str


def parse_suppressions(source: ast.SourceFile) -> tuple[list[Suppression], list[Finding]]:
    """The suppressions of a file, and findings about malformed ones."""
    found: list[Suppression] = []
    malformed: list[Finding] = []
    for comment in source.comments:
        match = _SUPPRESSION.search(comment.text)
        if match is None:
            if _MENTION.match(comment.text):
                malformed.append(
                    Finding(
                        UNUSED,
                        "not a valid suppression, so it silences nothing",
                        comment.span,
                        "write: # fbdsl: ignore[FB104] the reason",
                    )
                )
            continue
        codes = tuple(
            (m.group(0), _sub_span(comment.span, match.start("codes") + m.start(), m.group(0)))
            for m in _CODE.finditer(match.group("codes"))
        )
        target = _target(source, comment)
        found.append(
            Suppression(
                comment.span,
                codes,
                match.group("reason").strip(),
                target.span if target is not None else None,
                _describe(target),
            )
        )
    return found, malformed


def _sub_span(span: ast.Span, offset: int, text: str) -> ast.Span:
    return ast.Span(
        span.file,
        span.line,
        span.column + offset,
        span.line,
        span.column + offset + len(text),
        span.start + offset,
        span.start + offset + len(text),
    )


def _target(source: ast.SourceFile, comment: ast.Comment) -> ast.Decl | None:
    line = comment.span.line
    for item in source.items:
        if item.span.line == line and item.span.start < comment.span.start:
            return item  # on the declaration's first line
    line_start = source.text.rfind("\n", 0, comment.span.start) + 1
    if source.text[line_start : comment.span.start].strip():
        return None  # a trailing comment on another line of a declaration
    following = next((i for i in source.items if i.span.start > comment.span.start), None)
    if following is None:
        return None
    lines = source.text.splitlines()
    between = lines[line : following.span.line - 1]
    if all(text.strip().startswith("#") for text in between):
        return following
    return None


def _describe(item: ast.Decl | None) -> str:
    if isinstance(item, ast.RuleDecl):
        return f"rule '{item.name.value}'" if item.name else "this rule"
    if item is None:
        return ""
    name = getattr(item, "name", None)
    kind = type(item).__name__.removesuffix("Decl").lower()
    return f"{kind} '{name.value}'" if isinstance(name, ast.Name) else f"this {kind}"


def apply_suppressions(
    findings: Sequence[Finding],
    suppressions: Sequence[Suppression],
    config: LintConfig,
) -> tuple[list[Finding], list[Finding], int]:
    """(findings left, findings about the suppressions themselves, how many were silenced)."""
    used: set[tuple[int, str]] = set()
    kept: list[Finding] = []
    silenced = 0
    for finding in findings:
        hit = None
        for number, suppression in enumerate(suppressions):
            target = suppression.target
            if (
                target is not None
                and target.file == finding.span.file
                and target.start <= finding.span.start
                and finding.span.end <= target.end
                and any(code == finding.code for code, _ in suppression.codes)
            ):
                hit = number
                break
        if hit is None:
            kept.append(finding)
        else:
            used.add((hit, finding.code))
            silenced += 1
    return kept, list(_judge(suppressions, used, config)), silenced


def _judge(
    suppressions: Sequence[Suppression], used: set[tuple[int, str]], config: LintConfig
) -> Iterator[Finding]:
    for number, suppression in enumerate(suppressions):
        if not suppression.reason:
            yield Finding(
                NO_REASON,
                "suppression without a reason",
                suppression.comment,
                "say why the finding does not apply: # fbdsl: ignore[FB104] the reason",
            )
        if suppression.target is None:
            yield Finding(
                UNUSED,
                "this suppression stands before no declaration, so it silences nothing",
                suppression.comment,
                "put it on the line right before the rule (or on its first line)",
            )
            continue
        for code, span in suppression.codes:
            rule = REGISTRY.get(code)
            if rule is None and re.fullmatch(r"FB0[0-9]{2}", code):
                yield Finding(
                    UNUSED,
                    f"{code} is an error of fbdsl check: errors cannot be silenced",
                    span,
                    "fix the error instead",
                )
            elif rule is None:
                yield Finding(UNUSED, f"'{code}' is not a lint code", span, _codes_hint())
            elif rule.check is None:
                continue  # FB190 and FB191 are about suppressions: they cannot be silenced
            elif config.enabled(code, rule.category) and (number, code) not in used:
                yield Finding(
                    UNUSED,
                    f"ignore[{code}] silences nothing: {suppression.target_name} has no "
                    f"{code} finding",
                    span,
                    "remove the code from the suppression",
                )


def _codes_hint() -> str:
    return "see the codes with: fbdsl lint --list"
