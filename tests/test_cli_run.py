"""`fbdsl run` and `fbdsl graph` from the command line: exit codes, output, summary, files."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from fbdsl.cli import main
from fbdsl.runtime.ledger import open_ledger

RULES = """
event cart_abandoned from "Cart Abandoned" { cart_id: string  total: number }
channel email
survey cart_exit { channels: email }
policy { limit 1 contact per 30d }
rule big priority 5 when cart_abandoned where total > 50 then send survey "cart_exit"
when cart_abandoned and last_contact > 30d then send survey "cart_exit"
"""

EVENTS = [
    {"id": "e1", "event": "Cart Abandoned", "customer_id": "c1",
     "timestamp": "2026-01-01T10:00:00Z", "properties": {"cart_id": "k1", "total": 80}},
    {"id": "e2", "event": "Cart Abandoned", "customer_id": "c2",
     "timestamp": "2026-01-01T11:00:00Z", "properties": {"cart_id": "k2", "total": 20}},
    {"id": "e3", "event": "cart_abandoned", "customer_id": "c3",
     "timestamp": "2026-01-01T12:00:00Z", "properties": {"cart_id": "k3"}},
    {"id": "e4", "event": "Page Viewed", "customer_id": "c3",
     "timestamp": "2026-01-01T12:30:00Z", "properties": {}},
]  # fmt: skip


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "rules.fbdsl").write_text(RULES)
    lines = [json.dumps(e) for e in EVENTS] + ["{not json"]
    (tmp_path / "events.jsonl").write_text("\n".join(lines) + "\n")
    return tmp_path


def invoke(project: Path, *args: str) -> tuple[int, list[dict[str, object]], str]:
    command = ["run", str(project / "rules.fbdsl"), "--events", str(project / "events.jsonl")]
    result = CliRunner().invoke(main, [*command, *args])
    decisions = [orjson.loads(line) for line in result.stdout_bytes.splitlines()]
    return result.exit_code, decisions, result.stderr


def test_run_writes_decisions_a_summary_and_dead_letters(project: Path) -> None:
    ledger = project / "ledger.sqlite"
    code, decisions, summary = invoke(project, "--ledger", str(ledger))
    assert code == 0
    assert [(d["rule"], d["customer_id"], d["status"]) for d in decisions] == [
        ("big", "c1", "sent"),
        ("rules.fbdsl:7", "c1", "suppressed"),
        ("rules.fbdsl:7", "c2", "sent"),
    ]
    rows = [line.split() for line in summary.splitlines()]
    assert ["rule", "sent", "suppressed"] in rows
    assert ["big", "1", "0"] in rows and ["rules.fbdsl:7", "1", "1"] in rows
    assert "lines 5  events 2  trait updates 0  rejected 2  ignored 1  duplicates 0" in summary
    dead = project / "events.jsonl.rejected.jsonl"
    assert "2 rejected line(s) written to" in summary
    records = [orjson.loads(line) for line in dead.read_bytes().splitlines()]
    assert [r["line"] for r in records] == [3, 5]
    assert records[0]["reason"] == "cart_abandoned: missing required field 'total'"
    assert records[1]["reason"].startswith("invalid JSON: ")  # orjson's own words follow
    assert records[1]["raw"] == "{not json"


def test_a_second_run_on_the_same_ledger_continues_from_its_state(project: Path) -> None:
    ledger = project / "ledger.sqlite"
    invoke(project, "--ledger", str(ledger))
    code, decisions, summary = invoke(project, "--ledger", str(ledger))
    assert code == 0 and decisions == []
    assert "duplicates 2" in summary
    log = open_ledger(ledger)
    assert log.decisions() == []  # the output is the record: no second copy by default
    log.close()


def test_audit_log_keeps_every_decision_in_the_ledger_even_those_filtered_out(
    project: Path,
) -> None:
    ledger = project / "ledger.sqlite"
    code, written, _ = invoke(
        project, "--ledger", str(ledger), "--audit-log", "--status", "suppressed"
    )
    assert code == 0 and [d["status"] for d in written] == ["suppressed"]
    log = open_ledger(ledger)
    logged = [orjson.loads(line) for line in log.decisions()]
    log.close()
    assert [(d["rule"], d["status"]) for d in logged] == [
        ("big", "sent"),
        ("rules.fbdsl:7", "suppressed"),
        ("rules.fbdsl:7", "sent"),
    ]


def test_status_filter_out_file_and_quiet(project: Path) -> None:
    out = project / "decisions.jsonl"
    code, printed, stderr = invoke(
        project, "--ledger", ":memory:", "--status", "suppressed", "--out", str(out), "-q"
    )
    assert code == 0 and printed == [] and stderr == ""
    written = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [d["status"] for d in written] == ["suppressed"]


def test_usage_errors_exit_2(project: Path) -> None:
    memory = ("--ledger", ":memory:")
    assert invoke(project, *memory, "--mode", "crisis")[0] == 2
    assert invoke(project, *memory, "--status", "sent,lost")[0] == 2
    assert invoke(project, *memory, "--until", "tomorrow")[0] == 2
    assert invoke(project, *memory, "--allowed-lateness", "soon")[0] == 2
    result = CliRunner().invoke(main, ["run", str(project), "--events", "missing.jsonl"])
    assert result.exit_code == 2 and "no such file: missing.jsonl" in result.stderr


def test_a_ledger_in_use_or_foreign_exits_2(project: Path) -> None:
    ledger = project / "ledger.sqlite"
    holder = open_ledger(ledger)
    code, _, stderr = invoke(project, "--ledger", str(ledger))
    holder.close()
    assert code == 2 and "in use by another fbdsl process" in stderr
    with sqlite3.connect(project / "other.sqlite") as db:
        db.execute("CREATE TABLE t (x)")
    code, _, stderr = invoke(project, "--ledger", str(project / "other.sqlite"))
    assert code == 2 and "is not an fbdsl ledger" in stderr


def test_rules_that_do_not_check_exit_1_and_run_nothing(project: Path) -> None:
    (project / "rules.fbdsl").write_text(RULES.replace("total > 50", "totl > 50"))
    code, decisions, stderr = invoke(project, "--ledger", ":memory:")
    assert code == 1 and decisions == []
    assert "cart_abandoned has no field 'totl'" in stderr
    assert "1 error: nothing was run" in stderr


def test_graph_prints_json_dot_and_python(project: Path) -> None:
    rules = str(project / "rules.fbdsl")
    result = CliRunner().invoke(main, ["graph", rules])
    assert result.exit_code == 0
    graph = json.loads(result.stdout)
    assert graph["version"] == 1
    assert graph["dispatch"] == {"cart_abandoned": ["big", "rules.fbdsl:7"]}
    assert graph["rules"][1]["late_tests"] == [{"test": "last_contact > 30d", "cost": 3}]
    dot = CliRunner().invoke(main, ["graph", rules, "--format", "dot"]).stdout
    assert dot.startswith("digraph fbdsl {") and '"rule:0" -> "policy";' in dot
    source = CliRunner().invoke(main, ["graph", rules, "--format", "python"]).stdout
    assert "def match_cart_abandoned(f, st, now, prev):" in source


def test_decisions_to_a_device_are_streamed(project: Path) -> None:
    code, printed, _ = invoke(project, "--ledger", ":memory:", "--out", "/dev/null")
    assert code == 0 and printed == []


def test_graph_shows_a_correlated_unless_with_the_trigger_named(tmp_path: Path) -> None:
    rules = tmp_path / "rules.fbdsl"
    rules.write_text(
        "event checkout_started { checkout_id: string }\n"
        "event order_completed { checkout_id: string }\n"
        "channel email\nsurvey s { channels: email }\n"
        'rule r when checkout_started then send survey "s" after 2h\n'
        "    unless order_completed where checkout_id == checkout_started.checkout_id\n"
    )
    graph = json.loads(CliRunner().invoke(main, ["graph", str(rules)]).stdout)
    (action,) = graph["rules"][0]["actions"]
    assert action["unless"] == ("order_completed where checkout_id == checkout_started.checkout_id")
