"""Crash safety: `fbdsl run` killed with SIGKILL at random points, then resumed on the same
ledger and decisions file with the whole stream, writes exactly the bytes of one
uninterrupted run: no decision lost, none doubled, pending timers carried over."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

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


@pytest.mark.slow
def test_kill_9_at_random_points_then_resume_gives_one_runs_bytes(tmp_path: Path) -> None:
    rules = tmp_path / "rules.fbdsl"
    rules.write_text(RULES)
    events = tmp_path / "events.jsonl"
    events.write_bytes(stream(4000))

    reference = tmp_path / "reference.jsonl"
    ledger = open_ledger(tmp_path / "reference.sqlite")
    sink = FileSink(reference, ledger)
    run_batch(graph_of(RULES), events.open("rb"), ledger, sink, flush=True, commit_every=40)
    sink.close()
    ledger.close()
    expected = reference.read_bytes()
    statuses = {orjson.loads(line)["status"] for line in expected.splitlines()}
    assert {"sent", "suppressed", "cancelled", "deferred"} <= statuses

    rng = random.Random(5)
    interrupted = 0
    for attempt in range(6):
        out = tmp_path / f"out{attempt}.jsonl"
        ledger_path = tmp_path / f"ledger{attempt}.sqlite"
        command = fbdsl_run(rules, events, ledger_path, out)
        # Kill once the decisions file has grown past a random point of the final output.
        kill_at = rng.randrange(1, len(expected))
        process = subprocess.Popen(command)
        while process.poll() is None:
            if out.exists() and out.stat().st_size >= kill_at:
                os.kill(process.pid, signal.SIGKILL)
                break
            time.sleep(0.001)
        if process.wait() == -signal.SIGKILL:
            interrupted += 1
        resumed = subprocess.run(command, capture_output=True)
        assert resumed.returncode == 0, resumed.stderr.decode()
        assert out.read_bytes() == expected, f"attempt {attempt}: killed at {kill_at} bytes"
    assert interrupted >= 3, "the runs finished before they could be killed"
