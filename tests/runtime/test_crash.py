"""Crash safety: `fbdsl run` killed with SIGKILL at random points, then resumed on the same
ledger and decisions file with the whole stream, writes exactly the bytes of one
uninterrupted run: no decision lost, none doubled, pending timers carried over."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fbdsl.runtime.batch import run_batch
from fbdsl.runtime.ledger import open_ledger
from fbdsl.runtime.sinks import FileSink
from tests.runtime.helpers import graph_of

RULES = """
event cart_updated { cart_id: string  total: number }
event order_completed { cart_id: string  total: number }
customer { timezone: string = "UTC" }
channel email, push
team sales
survey cart_exit { channels: email, push }
survey order_nps { channels: email  cooldown: 20d }
policy { limit 1 contact per 7d  quiet hours 22:00 to 08:00  one channel per contact }

rule abandoned priority 5
when cart_updated where total > 20
    and no order_completed where cart_id == cart_updated.cart_id within 1h
then send survey "cart_exit" after 30m unless order_completed where cart_id == cart_updated.cart_id

rule nps priority 1 when order_completed then send survey "order_nps" after 2h
rule big when order_completed where total > 150 then create task "thank_you_call" for sales
"""


def stream(count: int, seed: int = 11) -> bytes:
    rng = random.Random(seed)
    lines = []
    start = 1767225600  # 2026-01-01T00:00:00Z
    for index in range(count):
        name = "cart_updated" if rng.random() < 0.6 else "order_completed"
        customer = f"c{rng.randrange(40)}"
        at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + index * 97))
        cart = f"{customer}-{rng.randrange(2)}"
        properties = {"cart_id": cart, "total": rng.randrange(5, 300)}
        lines.append(
            orjson.dumps(
                {
                    "id": f"e{index}",
                    "event": name,
                    "customer_id": customer,
                    "timestamp": at,
                    "properties": properties,
                }
            )
        )
    return b"\n".join(lines) + b"\n"


def fbdsl_run(rules: Path, events: Path, ledger: Path, out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "fbdsl.cli",
        "run",
        str(rules),
        "--events",
        str(events),
        "--ledger",
        str(ledger),
        "--out",
        str(out),
        "--flush",
        "--commit-every",
        "40",
        "--quiet",
    ]


class Reference(NamedTuple):
    rules: Path
    events: Path
    expected: bytes

    def __repr__(self) -> str:  # hypothesis prints it with a failing example
        return f"Reference({self.rules.parent})"


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    """The rules, the stream, and the decisions of one uninterrupted run."""
    folder = tmp_path_factory.mktemp("crash")
    rules = folder / "rules.fbdsl"
    rules.write_text(RULES)
    events = folder / "events.jsonl"
    events.write_bytes(stream(4000))
    out = folder / "reference.jsonl"
    ledger = open_ledger(folder / "reference.sqlite")
    sink = FileSink(out, ledger)
    with events.open("rb") as lines:
        run_batch(graph_of(RULES), lines, ledger, sink, flush=True, commit_every=40)
    sink.close()
    ledger.close()
    expected = out.read_bytes()
    statuses = {orjson.loads(line)["status"] for line in expected.splitlines()}
    assert {"sent", "suppressed", "cancelled", "deferred"} <= statuses
    return Reference(rules, events, expected)


@pytest.mark.slow
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kill_at=st.floats(0.0, 0.98), second_kill_at=st.none() | st.floats(0.0, 0.98))
@example(kill_at=0.0, second_kill_at=None)  # killed before its first commit
def test_kill_9_at_random_points_then_resume_gives_one_runs_bytes(
    reference: Reference, kill_at: float, second_kill_at: float | None
) -> None:
    rules, events, expected = reference
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "out.jsonl"
        command = fbdsl_run(rules, events, Path(folder) / "ledger.sqlite", out)
        # Kill once the decisions file has grown past a point of the final output; maybe
        # kill the resumed run too.
        for fraction in (kill_at, second_kill_at):
            if fraction is not None:
                killed = run_and_kill(command, out, int(fraction * len(expected)))
                assert killed or out.read_bytes() == expected
        resumed = subprocess.run(command, capture_output=True)
        assert resumed.returncode == 0, resumed.stderr.decode()
        assert out.read_bytes() == expected


def run_and_kill(command: list[str], out: Path, size: int) -> bool:
    """Start the run; SIGKILL it once `out` holds `size` bytes. False if it finished first."""
    process = subprocess.Popen(command)
    while process.poll() is None:
        if out.exists() and out.stat().st_size >= size:
            os.kill(process.pid, signal.SIGKILL)
            break
        time.sleep(0.001)
    return process.wait() == -signal.SIGKILL


class Crash(Exception):
    """Stands for the process dying inside a commit."""


@pytest.mark.parametrize("crash_at_commit", [1, 5, 30])
def test_lines_written_ahead_of_a_commit_that_never_happened_are_cut_on_resume(
    reference: Reference,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    crash_at_commit: int,
) -> None:
    """The usual run hands its decisions to the file a few at a time, ahead of the commit
    that makes them durable (batch.ENCODED_BATCH): a run that dies before that commit leaves
    them beyond the size the ledger recorded, and the resumed run cuts them off and decides
    those events again."""
    import fbdsl.runtime.batch as batch
    from fbdsl.runtime.ledger.sqlite import SqliteLedger

    monkeypatch.setattr(batch, "ENCODED_BATCH", 2)
    rules, events, expected = reference
    graph = graph_of(rules.read_text())
    out, path = tmp_path / "out.jsonl", tmp_path / "ledger.sqlite"
    real_commit = SqliteLedger.commit
    commits = 0

    def dying_commit(self: SqliteLedger) -> None:
        nonlocal commits
        commits += 1
        if commits == crash_at_commit:
            raise Crash
        real_commit(self)

    ledger = open_ledger(path)
    sink = FileSink(out, ledger)  # (its first commit records the empty file)
    monkeypatch.setattr(SqliteLedger, "commit", dying_commit)
    with pytest.raises(Crash), events.open("rb") as lines:
        run_batch(graph, lines, ledger, sink, flush=True, commit_every=40)
    sink.close()
    ledger.close()  # (what was not committed is lost, as in a crash)
    written_ahead = out.stat().st_size
    monkeypatch.setattr(SqliteLedger, "commit", real_commit)

    ledger = open_ledger(path)
    sink = FileSink(out, ledger)
    assert sink.cut > 0
    assert sink.cut <= written_ahead
    assert expected.startswith(out.read_bytes())
    with events.open("rb") as lines:
        run_batch(graph, lines, ledger, sink, flush=True, commit_every=40)
    sink.close()
    ledger.close()
    assert out.read_bytes() == expected


@pytest.mark.parametrize("to_file", [True, False])
def test_decisions_encoded_ahead_of_the_commit_are_the_same_bytes(
    reference: Reference, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, to_file: bool
) -> None:
    """Decisions encoded a few at a time, ahead of their commit (to a file: written; to a
    stream: held until the commit), are the bytes of the run that encodes them at the
    commit (the reference: fewer than ENCODED_BATCH decisions between its commits)."""
    import io

    import fbdsl.runtime.batch as batch
    from fbdsl.runtime.sinks import StreamSink

    monkeypatch.setattr(batch, "ENCODED_BATCH", 3)
    rules, events, expected = reference
    ledger = open_ledger(tmp_path / "ledger.sqlite")
    out = tmp_path / "out.jsonl"
    stream_out = io.BytesIO()
    sink = FileSink(out, ledger) if to_file else StreamSink(stream_out)
    with events.open("rb") as lines:
        report = run_batch(graph_of(rules.read_text()), lines, ledger, sink, flush=True)
    sink.close()
    ledger.close()
    written = out.read_bytes() if to_file else stream_out.getvalue()
    assert written == expected
    assert report.decisions == report.written == expected.count(b"\n")
