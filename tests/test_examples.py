"""Golden examples: every folder of examples/ runs and gives its expected decisions, byte
for byte.

An example folder holds its rules (`*.fbdsl`), `events.jsonl`, `expected.jsonl` and, when it
needs more than the defaults, `args` (extra `fbdsl run` options on one line, such as
`--mode crisis`). The run uses a fresh memory ledger. To regenerate the expected files after
a deliberate change of behaviour, run `FBDSL_UPDATE_GOLDEN=1 python -m pytest
tests/test_examples.py` and review the diff like code.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from fbdsl.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p for p in (ROOT / "examples").iterdir() if (p / "events.jsonl").is_file())
SHARED_OLIST = ROOT.parent / "shared" / "data" / "olist" / "olist_events.jsonl"


def run_example(folder: Path, events: Path | None = None) -> tuple[bytes, str]:
    args_file = folder / "args"
    extra = shlex.split(args_file.read_text()) if args_file.is_file() else []
    events = events or folder / "events.jsonl"
    command = ["run", str(folder), "--events", str(events), "--ledger", ":memory:"]
    command += ["--out", "-", "--dead-letter", os.devnull, *extra]
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 0, result.output + result.stderr
    return result.stdout_bytes, result.stderr


def test_there_is_an_example_per_trigger_strategy() -> None:
    names = {folder.name for folder in EXAMPLES}
    assert len(names) >= 9, names


@pytest.mark.parametrize("folder", EXAMPLES, ids=lambda p: p.name)
def test_example_gives_its_expected_decisions(folder: Path) -> None:
    decisions, _ = run_example(folder)
    expected = folder / "expected.jsonl"
    if os.environ.get("FBDSL_UPDATE_GOLDEN"):
        expected.write_bytes(decisions)
    assert decisions, f"{folder.name} decides nothing"
    assert decisions == expected.read_bytes()
    statuses = {orjson.loads(line)["status"] for line in decisions.splitlines()}
    assert "sent" in statuses, f"{folder.name}: an example should show a contact going out"


@pytest.mark.skipif(not SHARED_OLIST.is_file(), reason=f"{SHARED_OLIST} is not on this machine")
def test_olist_rules_on_the_whole_shared_data_set() -> None:
    """The bundled olist slice is a prefix of the shared file: the full run's decisions
    begin with the slice's (nothing decided on the prefix depends on later events)."""
    folder = ROOT / "examples" / "olist"
    decisions, summary = run_example(folder, SHARED_OLIST)
    assert "rejected 0" in summary
    sliced = (folder / "expected.jsonl").read_bytes()
    assert len(decisions) > 5 * len(sliced)
    assert decisions.startswith(sliced)
