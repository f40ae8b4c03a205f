"""Parser: the AST built from text, with spans pointing at the text they came from."""

from fbdsl.compiler import ast
from fbdsl.compiler.parser import parse_source

ONE_LINER = 'when cart_abandoned and last_contact > 30d then send survey "cart_exit"'


def test_the_brief_one_liner_parses_to_the_expected_rule() -> None:
    result = parse_source(ONE_LINER, "brief.fbdsl")
    assert result.diagnostics == ()
    assert result.source is not None
    (rule,) = result.source.items
    assert isinstance(rule, ast.RuleDecl)
    assert rule.name is None
    assert [n.value for n in rule.trigger.events] == ["cart_abandoned"]
    condition = rule.trigger.condition
    assert isinstance(condition, ast.Compare)
    assert condition.op == ">"
    assert isinstance(condition.left, ast.LastContact)
    assert condition.right == ast.Literal("duration", 30 * 86400, "30d")
    (action,) = rule.actions
    assert isinstance(action, ast.SendAction)
    assert (action.kind, action.target.value) == ("survey", "cart_exit")


def test_spans_point_at_their_text() -> None:
    result = parse_source(ONE_LINER, "brief.fbdsl")
    assert result.source is not None
    for node in ast.walk(result.source):
        span = getattr(node, "span", None)
        if span is None or span is ast.NO_SPAN:
            continue
        text = ONE_LINER[span.start : span.end]
        if isinstance(node, ast.Name):
            assert text == node.value
        if isinstance(node, ast.Literal):
            assert text == node.text


def test_durations_combine_units() -> None:
    result = parse_source("survey s { cooldown: 1d12h }", "d.fbdsl")
    assert result.source is not None
    (survey,) = result.source.items
    assert isinstance(survey, ast.ContactDecl)
    assert survey.cooldown is not None
    assert survey.cooldown.seconds == 36 * 3600


def test_nodes_with_options_span_from_their_keyword_to_their_last_option() -> None:
    text = (
        "survey s { channels: email  cooldown: 1d }\n"
        'when a then send survey "s" via email after 2h and create task "x" for t due 1h\n'
    )
    result = parse_source(text, "options.fbdsl")
    assert result.source is not None
    survey, rule = result.source.items
    assert isinstance(rule, ast.RuleDecl)
    spanned = [text[n.span.start : n.span.end] for n in (survey, *rule.actions)]
    assert spanned == [
        "survey s { channels: email  cooldown: 1d }",
        'send survey "s" via email after 2h',
        'create task "x" for t due 1h',
    ]
