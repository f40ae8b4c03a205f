"""Checker fixtures: every file in fixtures/check/ states its expected errors inline.

An expectation is a comment on the line that causes the error (mypy-style):

    when cart_abandoned where totl > 50 then tag "x"  # E FB021:27 cart_abandoned has no fi...

`E CODE:COLUMN MESSAGE`; several on one line are separated by ` # E `. The test asserts
that the file produces exactly these diagnostics (code, line, column and message), all in
the fixture itself (an error in a file it imports would be unexpected), no more. Files
under fixtures/check/ok/ must check clean; fixtures/check/imported/ holds files the
fixtures import. The rule set is loaded from the fixture's folder, so the paths in messages
are relative to it. A fixture is read as UTF-8 with undecodable bytes replaced (one of them
is deliberately not UTF-8).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fbdsl.compiler.checker import check
from fbdsl.compiler.loader import load_rule_set, load_text

FIXTURES = Path(__file__).parent / "fixtures" / "check"
EXPECTATION = re.compile(r"E (FB\d{3}):(\d+) (.+?)(?=\s+# E |$)")

Found = tuple[str, str, int, int, str]  # (file, code, line, column, message)


def expected_diagnostics(path: Path) -> set[Found]:
    expected = set()
    text = path.read_bytes().decode("utf-8", "replace")
    for number, line in enumerate(text.splitlines(), 1):
        if "# E " not in line:
            continue
        comment = line[line.index("# E ") + 2 :]
        for code, column, message in EXPECTATION.findall(comment):
            expected.add((path.name, code, number, int(column), message.strip()))
    return expected


def actual_diagnostics(path: Path, monkeypatch: pytest.MonkeyPatch) -> set[Found]:
    monkeypatch.chdir(path.parent)
    loaded = load_rule_set([Path(path.name)])
    diagnostics = list(loaded.diagnostics)
    if not loaded.diagnostics:
        diagnostics.extend(check(loaded.files).diagnostics)
    return {(d.span.file, d.code, d.span.line, d.span.column, d.message) for d in diagnostics}


ERROR_FIXTURES = sorted(p for p in FIXTURES.glob("*.fbdsl"))
OK_FIXTURES = sorted((FIXTURES / "ok").glob("*.fbdsl"))


@pytest.mark.parametrize("path", ERROR_FIXTURES, ids=lambda p: p.name)
def test_fixture_reports_exactly_its_inline_expectations(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = expected_diagnostics(path)
    assert expected, f"{path.name} states no expectation"
    assert sorted(actual_diagnostics(path, monkeypatch)) == sorted(expected)


@pytest.mark.parametrize("path", OK_FIXTURES, ids=lambda p: p.name)
def test_ok_fixture_checks_clean(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert expected_diagnostics(path) == set(), "an ok fixture states no expectation"
    assert sorted(actual_diagnostics(path, monkeypatch)) == []


def test_every_checker_error_code_has_a_fixture() -> None:
    codes = {code for path in ERROR_FIXTURES for _, code, *_ in expected_diagnostics(path)}
    count = sum(len(expected_diagnostics(path)) for path in ERROR_FIXTURES)
    assert count >= 40
    documented = set(re.findall(r"^\| (FB0\d\d) \|", DOC.read_text("utf-8"), re.MULTILINE))
    parse_only = {"FB001", "FB002", "FB003"}
    assert documented - parse_only <= codes


DOC = Path(__file__).parent.parent / "docs" / "language.md"


HINTS = [
    (  # a bare name inside `unless E where` is E's field; the trigger's is reached by name
        "event a { k: string  x: int }\nevent b { k: string }\nchannel email\n"
        "survey s { channels: email }\n"
        'when a then send survey "s" unless b where x == 1',
        "FB021",
        "bare names here are fields of b; for the trigger's, write a.x",
    ),
    (
        "event a { x: int }\nchannel email\nsurvey s { channels: email }\n"
        'when a then send survey "s" via fax',
        "FB025",
        "declare it with 'channel NAME' or import \"std/channels\"",
    ),
    (
        "event a { x: int }\nchannel email\nmessage m { channels: email }\n"
        'when a then send survey "m"',
        "FB023",
        'write send message "m"',
    ),
    (
        "customer { tags: list<int> }",
        "FB051",
        "restate it as list<string>, or call your trait otherwise",
    ),
    (
        'event a { x: int }\nwhen a or a then tag "t"',
        "FB044",
        "keep one: the rule would run twice for each such event",
    ),
    (
        'event a { x: int }\nwhen a where since(a) > 1.5 then tag "t"',
        "FB031",
        "durations are whole numbers with a unit: '36h', '1d12h'...",
    ),
]


@pytest.mark.parametrize(("text", "code", "hint"), HINTS, ids=[h[1] for h in HINTS])
def test_hints_say_how_to_fix_it(text: str, code: str, hint: str) -> None:
    loaded = load_text(text, "rules.fbdsl")
    assert loaded.diagnostics == ()
    diagnostics = check(loaded.files).diagnostics
    assert [(d.code, d.hint) for d in diagnostics] == [(code, hint)]
