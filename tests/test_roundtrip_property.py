"""Property: generated valid programs parse, and every span points at the text it came from."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from fbdsl.compiler import ast
from fbdsl.compiler.parser import RESERVED_WORDS, parse_source

KEYWORDS = RESERVED_WORDS | {
    "count",
    "since",
    "last_sent",
    "contacts",
    "last_contact",
    "first_time",
    "never",
    "no",
    "customer",
    "survey",
    "message",
    "tag",
    "untag",
    "send",
    "create",
    "event",
    "channel",
    "team",
    "policy",
    "mode",
    "import",
    "limit",
    "quiet",
    "one",
    "priority",
    "sample",
    "holdout",
    "channels",
    "cooldown",
    "list",
    "due",
    "with",
    "from",
    "task",
    "for",
    "per",
    "hours",
    "to",
    "contact",
}

names = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(lambda n: n not in KEYWORDS)
space = st.sampled_from([" ", "  ", "\n    ", " # note\n  "])
durations = st.builds(
    lambda n, unit: f"{n}{unit}", st.integers(1, 400), st.sampled_from(["s", "m", "h", "d", "w"])
)
strings = st.from_regex(r'"[a-z _]{0,10}"', fullmatch=True)
numbers = st.one_of(
    st.integers(0, 10_000).map(str), st.from_regex(r"[0-9]{1,4}\.[0-9]{1,2}", fullmatch=True)
)


@st.composite
def operands(draw: st.DrawFn) -> str:
    kind = draw(
        st.sampled_from(
            ["field", "attr", "trait", "number", "string", "duration", "ledger", "count", "since"]
        )
    )
    if kind == "field":
        return draw(names)
    if kind == "attr":
        return f"{draw(names)}.{draw(names)}"
    if kind == "trait":
        return f"customer.{draw(names)}"
    if kind == "number":
        return draw(numbers)
    if kind == "string":
        return draw(strings)
    if kind == "duration":
        return draw(durations)
    if kind == "ledger":
        choices = [
            "last_contact",
            f"last_contact({draw(names)})",
            f"last_sent({draw(strings)})",
            f"contacts({draw(durations)})",
        ]
        return draw(st.sampled_from(choices))
    if kind == "count":
        return (
            f"count({draw(names)} where {draw(names)} > {draw(numbers)} within {draw(durations)})"
        )
    return f"since({draw(names)})"


@st.composite
def conditions(draw: st.DrawFn, depth: int = 0) -> str:
    op = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
    leaf = f"{draw(operands())}{draw(space)}{op} {draw(operands())}"
    if depth >= 2 or draw(st.booleans()):
        membership = f"{draw(names)} in [{draw(numbers)}, {draw(numbers)}]"
        return draw(st.sampled_from([leaf, "first_time", membership]))
    left = draw(conditions(depth + 1))
    right = draw(conditions(depth + 1))
    return draw(st.sampled_from([f"{left} and {right}", f"({left} or {right})", f"not ({left})"]))


@st.composite
def actions(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["send", "task", "tag"]))
    if kind == "send":
        text = f"send {draw(st.sampled_from(['survey', 'message']))} {draw(strings)}"
        if draw(st.booleans()):
            text += f" via {draw(names)} or {draw(names)}"
        if draw(st.booleans()):
            text += f" after {draw(durations)}"
        if draw(st.booleans()):
            text += f" unless {draw(names)} where {draw(names)} == {draw(names)}.{draw(names)}"
        return text
    if kind == "task":
        return f"create task {draw(strings)} for {draw(names)} due {draw(durations)} with note = {draw(names)}"  # noqa: E501
    return f"{draw(st.sampled_from(['tag', 'untag']))} {draw(strings)}"


@st.composite
def rules(draw: st.DrawFn) -> str:
    head = ""
    if draw(st.booleans()):
        head = f"rule {draw(names)}{draw(space)}"
        if draw(st.booleans()):
            head += f"priority {draw(st.integers(-5, 50))} "
        if draw(st.booleans()):
            head += f"sample {draw(st.integers(1, 100))}% "
    trigger = " or ".join(draw(st.lists(names, min_size=1, max_size=3)))
    condition = ""
    if draw(st.booleans()):
        condition = f" where {draw(conditions())}"
    if draw(st.booleans()):
        condition += f" and no {draw(names)} within {draw(durations)}"
    acts = " and ".join(draw(st.lists(actions(), min_size=1, max_size=3)))
    return f"{head}when {trigger}{condition}{draw(space)}then {acts}"


@st.composite
def declarations(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["event", "channel", "survey", "policy", "customer"]))
    if kind == "event":
        fields = "\n".join(
            f"    {draw(names)}: {draw(st.sampled_from(['int', 'number', 'string', 'time', 'list<string>']))}"  # noqa: E501
            for _ in range(draw(st.integers(0, 4)))
        )
        return f"event {draw(names)} from {draw(strings)} {{\n{fields}\n}}"
    if kind == "channel":
        return f"channel {', '.join(draw(st.lists(names, min_size=1, max_size=4)))}"
    if kind == "survey":
        return f"survey {draw(names)} {{ channels: {draw(names)} cooldown: {draw(durations)} }}"
    if kind == "customer":
        return f'customer {{ {draw(names)}: "a" | "b" = "a" }}'
    return f"policy {{ limit {draw(st.integers(1, 9))} contacts per {draw(durations)} quiet hours 21:00 to 09:00 }}"  # noqa: E501


programs = st.lists(st.one_of(rules(), declarations()), min_size=1, max_size=6).map("\n\n".join)


@settings(max_examples=150, deadline=None)
@given(programs)
def test_generated_programs_parse_and_spans_point_at_their_text(text: str) -> None:
    result = parse_source(text, "gen.fbdsl")
    assert result.diagnostics == (), (text, result.diagnostics)
    assert result.source is not None
    for node in ast.walk(result.source):
        span = getattr(node, "span", ast.NO_SPAN)
        if span is ast.NO_SPAN:
            continue
        covered = text[span.start : span.end]
        lines = text.splitlines()
        assert lines[span.line - 1][span.column - 1 :].startswith(covered.split("\n")[0])
        if isinstance(node, ast.Name):
            assert covered == node.value
        elif isinstance(node, ast.Literal | ast.Duration):
            assert covered == node.text
        elif isinstance(node, ast.RuleDecl):
            assert covered.startswith(("rule", "when"))
        elif isinstance(node, ast.Compare):
            assert node.op in covered
