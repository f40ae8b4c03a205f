"""`fbdsl check`: exit codes, text and JSON output, rule-set grouping."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from fbdsl.cli import main

GOOD = """
event cart_abandoned { cart_id: string  total: number }
channel email
survey cart_exit { channels: email }
when cart_abandoned and last_contact > 30d then send survey "cart_exit"
"""
BAD = GOOD.replace("last_contact > 30d", "totl > 50")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_clean_rule_set_exits_0(tmp_path: Path) -> None:
    (tmp_path / "rules.fbdsl").write_text(GOOD)
    code, out, err = run("check", str(tmp_path / "rules.fbdsl"))
    assert code == 0
    assert out == ""
    assert "ok: 1 rules in 1 files" in err


def test_errors_exit_1_with_rustc_style_text(tmp_path: Path) -> None:
    path = tmp_path / "rules.fbdsl"
    path.write_text(BAD)
    code, out, err = run("check", str(path))
    assert code == 1
    lines = out.splitlines()
    assert lines[0].endswith("rules.fbdsl:5:25: error[FB021]: cart_abandoned has no field 'totl'")
    assert lines[1] == ' 5 | when cart_abandoned and totl > 50 then send survey "cart_exit"'
    assert lines[2] == "   |                         ^^^^"
    assert lines[3] == "   = hint: did you mean 'total'?"
    assert "1 error in 1 rule set" in err


def test_json_format_is_versioned_with_full_spans(tmp_path: Path) -> None:
    path = tmp_path / "rules.fbdsl"
    path.write_text(BAD)
    code, out, _ = run("check", "--format", "json", str(path))
    assert code == 1
    document = json.loads(out)
    assert document["version"] == 1
    assert document["summary"] == {"errors": 1, "warnings": 0}
    (diagnostic,) = document["diagnostics"]
    assert diagnostic["code"] == "FB021"
    assert diagnostic["hint"] == "did you mean 'total'?"
    span = diagnostic["span"]
    assert (span["line"], span["column"], span["end_line"], span["end_column"]) == (5, 25, 5, 29)
    assert BAD[span["start"] : span["end"]] == "totl"


def test_json_format_when_clean(tmp_path: Path) -> None:
    (tmp_path / "rules.fbdsl").write_text(GOOD)
    code, out, _ = run("check", "--format", "json", str(tmp_path))
    assert code == 0
    document = json.loads(out)
    assert document["diagnostics"] == []
    assert document["checked"] == {"rule_sets": 1, "files": 1, "rules": 1}


def test_parse_errors_exit_1(tmp_path: Path) -> None:
    path = tmp_path / "rules.fbdsl"
    path.write_text('when a where x > 1 send survey "s"\n')
    code, out, _ = run("check", str(path))
    assert code == 1
    assert "error[FB001]: missing 'then' before 'send'" in out


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert run("check")[0] == 2
    assert run("check", str(tmp_path / "missing.fbdsl"))[0] == 2
    assert run("check", "--format", "xml", str(tmp_path))[0] == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run("check", str(empty))
    assert code == 2
    assert "no .fbdsl files" in err


def test_unreadable_file_is_an_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "latin1.fbdsl"
    path.write_bytes(b"channel email # caf\xe9\n")
    code, out, _ = run("check", str(path))
    assert code == 1
    assert "error[FB011]: cannot read" in out


def test_a_directory_of_rule_sets_checks_each_on_its_own(tmp_path: Path) -> None:
    # Two examples that would conflict if merged (different 'cart_abandoned' events).
    for name, field in (("one", "total: number"), ("two", "total: int")):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "rules.fbdsl").write_text(GOOD.replace("total: number", field))
    code, _, err = run("check", str(tmp_path))
    assert code == 0
    assert "ok: 2 rules in 2 files (2 rule sets)" in err


def test_files_of_one_directory_form_one_rule_set(tmp_path: Path) -> None:
    (tmp_path / "a.fbdsl").write_text("event e { x: int }\nchannel email\n")
    (tmp_path / "b.fbdsl").write_text("event e { x: string }\n")
    code, out, _ = run("check", str(tmp_path))
    assert code == 1
    assert "error[FB051]: event 'e' is declared twice, differently" in out
