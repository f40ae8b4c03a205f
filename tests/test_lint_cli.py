"""`fbdsl lint`: exit codes, the four formats (SARIF validated against the OASIS schema),
configuration and its precedence, --explain and --list, suppressions end to end."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from fbdsl.cli import main

SCHEMA = Path(__file__).parent / "lint" / "sarif-schema-2.1.0.json"

HEADER = """\
event order_completed { total: number }
channel email
survey nps { channels: email }
survey csat { channels: email }
"""
# Two findings: FB110 (warning) on line 7, FB102 (error) on line 8.
FINDINGS = (
    HEADER
    + """\
policy { limit 1 contact per 30d  quiet hours 21:00 to 09:00 }
rule named when order_completed where total > 100 then send survey "nps"
when order_completed where total < 5 then send survey "csat"
rule never when order_completed where total > 10 and total < 5 then send survey "nps"
"""
)
CLEAN = (
    HEADER
    + """\
policy { limit 1 contact per 30d  quiet hours 21:00 to 09:00 }
rule big priority 1 when order_completed where total > 100 then send survey "nps"
rule small when order_completed where total < 5 then send survey "csat"
"""
)


def lint(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["lint", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder to work in, with no configuration above it that could leak in."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fbdsl.toml").write_text("[lint]\n")
    return tmp_path


def write(folder: Path, text: str, name: str = "rules.fbdsl") -> str:
    (folder / name).write_text(text)
    return name


# ---- exit codes ------------------------------------------------------------------------


def test_clean_rule_set_exits_0(project: Path) -> None:
    code, out, err = lint(write(project, CLEAN))
    assert (code, out) == (0, "")
    assert "ok: no findings in 2 rules (1 rule set)" in err


def test_findings_exit_1_with_rustc_style_text(project: Path) -> None:
    code, out, err = lint(write(project, FINDINGS))
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == (
        "rules.fbdsl:7:1: warning[FB110]: anonymous rule in a file of 3 rules: decisions will "
        "name it 'rules.fbdsl:7', which changes whenever lines move"
    )
    assert lines[1] == ' 7 | when order_completed where total < 5 then send survey "csat"'
    assert lines[2] == "   | ^^^^^^^^^^^^^^^^^^^^"
    assert "rules.fbdsl:8:39: error[FB102]: `total > 10` and `total < 5` can never" in out
    assert "1 error, 1 warning in 1 rule set" in err


def test_fail_on_error_ignores_warnings(project: Path) -> None:
    only_warning = FINDINGS.rsplit("rule never", 1)[0]
    assert lint("--fail-on", "error", write(project, only_warning))[0] == 0
    assert lint("--fail-on", "warning", write(project, only_warning))[0] == 1
    assert lint("--fail-on", "error", write(project, FINDINGS))[0] == 1


def test_errors_of_check_are_reported_and_fail(project: Path) -> None:
    broken = HEADER + 'rule r when order_completed where totl > 1 then send survey "nps"\n'
    code, out, _ = lint(write(project, broken))
    assert code == 1
    assert "rules.fbdsl:5:35: error[FB021]: order_completed has no field 'totl'" in out


def test_usage_errors_exit_2(project: Path) -> None:
    assert lint()[0] == 2  # no paths
    assert lint("--explain", "FB999")[0] == 2
    assert lint("--select", "FB9", write(project, CLEAN))[0] == 2
    assert lint("--format", "xml", write(project, CLEAN))[0] == 2
    assert lint("missing.fbdsl")[0] == 2


def test_internal_error_exits_2(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fbdsl.compiler.lint import runner

    def explode(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(runner, "lint_rule_sets", explode)
    import fbdsl.compiler.lint.runner as module

    assert module.lint_rule_sets is explode
    code, _, err = lint(write(project, CLEAN))
    assert code == 2
    assert "internal error" in err and "RuntimeError: boom" in err


# ---- formats ---------------------------------------------------------------------------


def test_json_is_versioned_with_full_spans_and_categories(project: Path) -> None:
    code, out, _ = lint("--format", "json", write(project, FINDINGS))
    assert code == 1
    document = json.loads(out)
    assert document["version"] == 1
    assert document["summary"] == {"errors": 1, "warnings": 1, "notes": 0, "suppressed": 0}
    assert document["linted"] == {"rule_sets": 1, "files": 1, "rules": 3}
    first, second = document["diagnostics"]
    assert (first["code"], first["name"], first["category"]) == (
        "FB110",
        "anonymous-rule",
        "style",
    )
    assert second["span"] == {
        "file": "rules.fbdsl",
        "line": 8,
        "column": 39,
        "end_line": 8,
        "end_column": 63,
        "start": FINDINGS.index("total > 10 and"),
        "end": FINDINGS.index("total > 10 and") + len("total > 10 and total < 5"),
    }


def test_sarif_is_valid_against_the_oasis_schema(project: Path) -> None:
    write(
        project,
        FINDINGS.replace(
            "rule never",
            'rule shadow priority 0 when order_completed then send survey "csat"\nrule never',
        ),
    )
    code, out, _ = lint("--format", "sarif", "rules.fbdsl")
    assert code == 1
    log = json.loads(out)
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validate(log, schema, cls=jsonschema.Draft7Validator)
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules][:10] == [f"FB1{n:02d}" for n in range(1, 11)]
    results = run["results"]
    assert {r["ruleId"] for r in results} == {"FB102", "FB104", "FB110"}
    for result in results:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        location = result["locations"][0]["physicalLocation"]
        assert location["artifactLocation"] == {"uri": "rules.fbdsl", "uriBaseId": "%SRCROOT%"}
    ambiguous = next(r for r in results if r["ruleId"] == "FB104")
    assert ambiguous["relatedLocations"][0]["message"]["text"] == "the other rule"
    again = lint("--format", "sarif", "rules.fbdsl")[1]
    assert again == out  # deterministic: no time stamps, no absolute paths


def test_sarif_of_a_check_error_is_valid_too(project: Path) -> None:
    write(project, HEADER + 'rule r when order_completed where totl > 1 then tag "x"\n')
    code, out, _ = lint("--format", "sarif", "rules.fbdsl")
    assert code == 1
    log = json.loads(out)
    jsonschema.validate(log, json.loads(SCHEMA.read_text()), cls=jsonschema.Draft7Validator)
    (result,) = log["runs"][0]["results"]
    assert result["ruleId"] == "FB021" and result["level"] == "error"


def test_github_annotations(project: Path) -> None:
    code, out, _ = lint("--format", "github", write(project, FINDINGS))
    assert code == 1
    first, second = out.splitlines()
    assert first.startswith(
        "::warning file=rules.fbdsl,line=7,col=1,endLine=7,endColumn=21,"
        "title=FB110 anonymous-rule::anonymous rule in a file of 3 rules"
    )
    assert second.startswith("::error file=rules.fbdsl,line=8,col=39,")


# ---- configuration ---------------------------------------------------------------------


def test_pyproject_configuration_selects_and_sets_severity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.fbdsl.lint]\nignore = ["FB102"]\n'
        '[tool.fbdsl.lint.severity]\nFB110 = "note"\n'
    )
    code, out, err = lint(write(tmp_path, FINDINGS))
    assert code == 0  # a note does not reach the default fail-on (warning)
    assert "note[FB110]" in out and "FB102" not in out
    assert "1 note in 1 rule set" in err


def test_fbdsl_toml_wins_over_pyproject_in_the_same_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.fbdsl.lint]\nignore = ["FB110"]\n')
    (tmp_path / "fbdsl.toml").write_text('[lint]\nignore = ["FB102"]\n')
    _, out, _ = lint(write(tmp_path, FINDINGS))
    assert "FB110" in out and "FB102" not in out


def test_configuration_is_found_in_a_parent_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "fbdsl.toml").write_text('[lint]\nselect = ["bugs"]\n')
    inner = tmp_path / "rules"
    inner.mkdir()
    monkeypatch.chdir(inner)
    _, out, _ = lint(write(inner, FINDINGS))
    assert "FB102" in out and "FB110" not in out  # style is not selected


def test_command_line_select_and_ignore_override_the_file(project: Path) -> None:
    (project / "fbdsl.toml").write_text('[lint]\nselect = ["FB110"]\nignore = ["FB102"]\n')
    write(project, FINDINGS)
    _, out, _ = lint("rules.fbdsl")
    assert "FB110" in out and "FB102" not in out
    _, out, _ = lint("--select", "FB102", "rules.fbdsl")
    assert "FB102" not in out  # the file's ignore still holds
    _, out, _ = lint("--select", "FB102", "--ignore", "FB110", "rules.fbdsl")
    assert "FB102" in out and "FB110" not in out


def test_config_fail_on_and_the_command_line_override(project: Path) -> None:
    (project / "fbdsl.toml").write_text('[lint]\nfail-on = "error"\n')
    only_warning = FINDINGS.rsplit("rule never", 1)[0]
    write(project, only_warning)
    assert lint("rules.fbdsl")[0] == 0
    assert lint("--fail-on", "warning", "rules.fbdsl")[0] == 1


def test_max_delay_tunes_fb107(project: Path) -> None:
    text = CLEAN.replace('send survey "csat"', 'send survey "csat" after 3d')
    write(project, text)
    assert "FB107" not in lint("rules.fbdsl")[1]
    (project / "fbdsl.toml").write_text('[lint]\nmax-delay = "2d"\n')
    _, out, _ = lint("rules.fbdsl")
    assert "warning[FB107]: 'after 3d' delays the survey \"csat\" by more than 2d" in out


def test_explicit_config_file(project: Path) -> None:
    (project / "strict.toml").write_text('[lint]\nselect = ["FB102"]\n')
    _, out, _ = lint("--config", "strict.toml", write(project, FINDINGS))
    assert "FB102" in out and "FB110" not in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[lint]\nselcet = ["FB1"]\n', "unknown lint option selcet"),
        ('[lint]\nignore = ["FB777"]\n', "matches no lint code"),
        ('[lint]\n[lint.severity]\nFB110 = "loud"\n', "must be one of error, warning, note"),
        ('[lint]\nmax-delay = "7 days"\n', "'max-delay' must be a duration"),
        ("[lint\n", "cannot read the configuration"),
    ],
)
def test_bad_configuration_is_a_usage_error(project: Path, content: str, message: str) -> None:
    (project / "fbdsl.toml").write_text(content)
    code, _, err = lint(write(project, CLEAN))
    assert code == 2
    assert message in err


# ---- documentation -----------------------------------------------------------------------


def test_explain_shows_what_why_and_examples() -> None:
    code, out, _ = lint("--explain", "fb104")
    assert code == 0
    assert out.startswith("FB104 (ambiguous-arbitration) [bugs, default warning]")
    for part in ("What it finds:", "Why it matters:", "Bad:", "Good:", "ignore[FB104]"):
        assert part in out


def test_explain_examples_really_trigger_and_fix(tmp_path: Path) -> None:
    """The bad example of each code triggers it, the good one does not (with the
    declarations they need around them)."""
    from fbdsl.compiler.lint.config import LintConfig
    from fbdsl.compiler.lint.registry import all_rules
    from fbdsl.compiler.lint.runner import lint_rule_sets

    events = (
        "event order_completed { total: number }\nevent cart_abandoned { total: number }\n"
        "event ride_rated { rating: int }\n"
    )
    around = events + (
        "channel email, sms, push, popup\n"
        "team support\nsurvey cart_exit { channels: email }\nsurvey nps { channels: "
        "email, sms, push }\nsurvey csat { channels: email }\nsurvey order_csat { channels: "
        "email }\nsurvey welcome { channels: email }\nsurvey cart_exit_v2 { channels: email }\n"
    )
    for rule in all_rules():
        for example, should in ((rule.bad, True), (rule.good, False)):
            # examples that declare their own channels need only the events
            declares = re.search(r"^channel ", example, re.MULTILINE)
            text = (events if declares else around) + example
            path = tmp_path / f"{rule.code}.fbdsl"
            path.write_text(text)
            report = lint_rule_sets([[path]], LintConfig())
            codes = {d.code for d in report.diagnostics}
            assert not any(c < "FB100" for c in codes), (rule.code, report.diagnostics)
            assert (rule.code in codes) == should, (rule.code, should, codes)


def test_list_names_every_code() -> None:
    code, out, _ = lint("--list")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 12
    assert lines[0].split() == ["FB101", "no-frequency-guard", "policy", "warning"]
    assert lines[-1].split() == ["FB191", "suppression-without-reason", "style", "warning"]


# ---- suppressions and rule sets ------------------------------------------------------------


def test_suppression_silences_and_is_counted(project: Path) -> None:
    text = FINDINGS.replace(
        "when order_completed where total < 5",
        "# fbdsl: ignore[FB110] dashboards already use the file:line name\n"
        "when order_completed where total < 5",
    )
    code, out, _ = lint("--format", "json", write(project, text))
    document = json.loads(out)
    assert [d["code"] for d in document["diagnostics"]] == ["FB102"]
    assert document["summary"]["suppressed"] == 1
    assert code == 1


def test_suppression_of_a_deselected_code_is_not_judged(project: Path) -> None:
    text = CLEAN.replace("rule small", "# fbdsl: ignore[FB104] segments differ\nrule small")
    write(project, text)
    assert "FB190" in lint("rules.fbdsl")[1]
    code, out, _ = lint("--ignore", "FB104", "rules.fbdsl")
    assert (code, out) == (0, "")


def test_collections_lint_each_rule_set_on_its_own(project: Path) -> None:
    for name in ("one", "two"):
        folder = project / "examples" / name
        folder.mkdir(parents=True)
        write(folder, CLEAN)
    code, _, err = lint("examples")
    assert code == 0
    assert "ok: no findings in 4 rules (2 rule sets)" in err
