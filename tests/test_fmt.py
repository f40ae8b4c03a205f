"""`fbdsl fmt`: the canonical layout, comments kept, idempotence and the same AST (a
hypothesis property over generated programs, and every file of the project), the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings

from fbdsl.cli import main
from fbdsl.compiler.fmt import format_source
from fbdsl.compiler.parser import parse_source
from tests.test_roundtrip_property import programs

ROOT = Path(__file__).resolve().parent.parent


def fmt(text: str) -> str:
    result = format_source(text, "rules.fbdsl")
    assert result.text is not None, result.diagnostics
    return result.text


def assert_same_program(before: str, after: str) -> None:
    """Same AST (spans aside), the same comments, and formatting again changes nothing."""
    a = parse_source(before, "x.fbdsl").source
    b = parse_source(after, "x.fbdsl").source
    assert a is not None and b is not None
    assert a.items == b.items
    assert sorted(c.text.rstrip() for c in a.comments) == sorted(
        c.text.rstrip() for c in b.comments
    )
    assert fmt(after) == after


# ---- layout ------------------------------------------------------------------------------


def test_declarations_written_on_one_line_stay_so_spacing_canonical() -> None:
    text = (
        'import   "std/channels"\nevent  cart { id:string total : number=0 }\n'
        "channel email,sms\nsurvey s{channels:email cooldown:30d}\n"
        "policy{limit 2 contact per 30d one channel per contact}\n"
    )
    assert fmt(text) == (
        'import "std/channels"\n'
        "event cart { id: string  total: number = 0 }\n"
        "channel email, sms\n"
        "survey s { channels: email  cooldown: 30d }\n"
        "policy { limit 2 contacts per 30d  one channel per contact }\n"
    )


def test_blocks_written_over_several_lines_get_one_member_a_line() -> None:
    text = 'event cart {\n  id: string  total: number\n    tags: list<string> = ["a"] }\n'
    text += "mode crisis { policy {\nlimit 1 contact per 7d\n quiet hours 21:00 to 09:00 } }\n"
    assert fmt(text) == (
        "event cart {\n"
        "    id: string\n"
        "    total: number\n"
        '    tags: list<string> = ["a"]\n'
        "}\n"
        "\n"
        "mode crisis {\n"
        "    policy {\n"
        "        limit 1 contact per 7d\n"
        "        quiet hours 21:00 to 09:00\n"
        "    }\n"
        "}\n"
    )


def test_a_one_line_rule_that_fits_stays_on_one_line() -> None:
    text = 'when   cart_abandoned and last_contact>30d then send survey "cart_exit"\n'
    assert fmt(text) == 'when cart_abandoned and last_contact > 30d then send survey "cart_exit"\n'


def test_a_rule_too_long_for_100_columns_is_broken_at_its_three_groups() -> None:
    text = (
        "rule cart_exit_survey priority 10 sample 25% when cart_abandoned where total > 50 and "
        'last_contact > 30d and customer.tier == "premium" then send survey "cart_exit" via '
        'email after 2h unless order_completed and tag "asked"\n'
    )
    assert fmt(text) == (
        "rule cart_exit_survey priority 10 sample 25%\n"
        "when cart_abandoned where total > 50 and last_contact > 30d and "
        'customer.tier == "premium"\n'
        'then send survey "cart_exit" via email after 2h unless order_completed and tag "asked"\n'
    )


def test_a_group_too_long_for_its_line_gets_one_term_or_action_a_line() -> None:
    long_terms = " and ".join(f"field_{i} > {i}" for i in range(8))
    text = f'rule r when e where {long_terms} then tag "a" and tag "b" and tag "c"\n'
    assert fmt(text) == (
        "rule r\n"
        "when e where field_0 > 0\n"
        + "".join(f"    and field_{i} > {i}\n" for i in range(1, 8))
        + 'then tag "a" and tag "b" and tag "c"\n'
    )


def test_a_broken_rule_gets_the_canonical_joints() -> None:
    text = (
        "rule r\n  priority 10 sample 25%\nwhen a where x > 1 and y > 2\n"
        '   and z > 3 then tag "t"\n'
    )
    assert fmt(text) == (
        "rule r\n"
        "    priority 10\n"
        "    sample 25%\n"
        "when a where x > 1\n"
        "    and y > 2\n"
        "    and z > 3\n"
        'then tag "t"\n'
    )


def test_a_long_action_continues_with_its_unless_or_with_clause() -> None:
    text = (
        'rule late\nwhen order_delivered\nthen send survey "delivery_csat" after 1d unless '
        "review_submitted where order_id == order_delivered.order_id\n"
        '    and create task "call_back" for customer_care due 1d with order = order_id, '
        "score = score, comment = comment\n"
    )
    assert fmt(text) == (
        "rule late\n"
        "when order_delivered\n"
        'then send survey "delivery_csat" after 1d\n'
        "    unless review_submitted where order_id == order_delivered.order_id\n"
        '    and create task "call_back" for customer_care due 1d\n'
        "        with order = order_id, score = score, comment = comment\n"
    )


def test_parentheses_where_the_grammar_or_the_reader_needs_them() -> None:
    text = (
        "when e where (a or b and c) and not x == 1 and (p and q) and a - (b - c) * 2 > -d "
        'then tag "t"\n'
    )
    assert fmt(text) == (
        "when e where (a or (b and c)) and not (x == 1) and (p and q) and a - (b - c) * 2 > -d "
        'then tag "t"\n'
    )


def test_where_or_and_after_the_trigger_is_kept_as_written() -> None:
    assert fmt('when e where first_time then tag "t"\n') == 'when e where first_time then tag "t"\n'
    assert fmt('when e and x > 1 then tag "t"\n') == 'when e and x > 1 then tag "t"\n'


def test_string_rule_names_and_enums_keep_their_escapes() -> None:
    text = 'rule "say \\"hi\\"" when e then tag "t"\ncustomer { tier: "a\\\\b" | "c" }\n'
    assert fmt(text) == text


# ---- comments ----------------------------------------------------------------------------


def test_comments_stay_where_they_were() -> None:
    text = """\
# header comment

import "std/channels"   # why we import it

# the schema
event cart {            # opens
    id: string          # the cart
    # a note before the total
    total: number

    # after a blank line
}
rule r  # named
    priority 10         # wins
when cart where total > 1   # only big carts
then tag "big"
# the end
"""
    assert (
        fmt(text)
        == """\
# header comment

import "std/channels"  # why we import it

# the schema
event cart {    # opens
    id: string  # the cart
    # a note before the total
    total: number

    # after a blank line
}

rule r                     # named
    priority 10            # wins
when cart where total > 1  # only big carts
then tag "big"
# the end
"""
    )


def test_a_comment_inside_a_one_line_rule_breaks_it() -> None:
    text = 'when e # why\n where x > 1 then tag "t"\n'
    assert fmt(text) == 'when e where x > 1  # why\nthen tag "t"\n'


def test_files_with_syntax_errors_are_left_alone() -> None:
    result = format_source('when e wher x > 1 then tag "t"\n', "bad.fbdsl")
    assert result.text is None
    assert result.diagnostics[0].code == "FB001"


# ---- properties ----------------------------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(programs)
def test_generated_programs_format_idempotently_to_the_same_ast(text: str) -> None:
    assert_same_program(text, fmt(text))


PROJECT_FILES = sorted(
    path
    for folder in ("examples", "stdlib", "tests/fixtures/design")
    for path in (ROOT / folder).rglob("*.fbdsl")
)


@pytest.mark.parametrize("path", PROJECT_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_project_files_format_idempotently_to_the_same_ast(path: Path) -> None:
    text = path.read_text()
    assert_same_program(text, fmt(text))


# ---- the command ---------------------------------------------------------------------------

UGLY = 'when  e where x>1 then tag "t"\n'
PRETTY = 'when e where x > 1 then tag "t"\n'


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["fmt", *args], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_fmt_rewrites_in_place(tmp_path: Path) -> None:
    (tmp_path / "a.fbdsl").write_text(UGLY)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.fbdsl").write_text(PRETTY)
    code, _, err = run(str(tmp_path))
    assert code == 0
    assert (tmp_path / "a.fbdsl").read_text() == PRETTY
    assert "reformatted" in err and "1 file(s) reformatted, 1 unchanged, 0 not parsed" in err


def test_fmt_check_exits_1_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "a.fbdsl"
    path.write_text(UGLY)
    code, out, err = run("--check", str(path))
    assert (code, out) == (1, "")
    assert path.read_text() == UGLY
    assert "would reformat" in err
    path.write_text(PRETTY)
    assert run("--check", str(path))[0] == 0


def test_fmt_diff_prints_a_unified_diff(tmp_path: Path) -> None:
    path = tmp_path / "a.fbdsl"
    path.write_text(UGLY)
    code, out, _ = run("--diff", str(path))
    assert code == 1
    assert f"-{UGLY}" in out and f"+{PRETTY}" in out
    assert path.read_text() == UGLY


def test_fmt_reads_standard_input() -> None:
    assert run("-", stdin=UGLY)[:2] == (0, PRETTY)
    assert run("--check", "-", stdin=UGLY)[0] == 1


def test_fmt_reports_syntax_errors_and_leaves_the_file(tmp_path: Path) -> None:
    path = tmp_path / "a.fbdsl"
    broken = 'when e wher x > 1 then tag "t"\n'
    path.write_text(broken)
    code, _, err = run(str(path))
    assert code == 1
    assert "error[FB001]" in err and "not formatted (syntax errors)" in err
    assert path.read_text() == broken


def test_fmt_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    assert run(str(tmp_path / "nope.fbdsl"))[0] == 2
