"""The fbdsl engine as a W2 contender: `fbdsl run` on bench/w2/rules.fbdsl, in this process.

    python bench/w2/fbdsl_engine.py --events bench/data/w2.jsonl --out /tmp/engine.jsonl \
        --ledger bench/data/w2-ledger.sqlite      # or --ledger :memory:

Exactly what a user runs (`fbdsl run RULES --events FILE --ledger PATH --out FILE`),
called in-process so that the measurement (wall time from before the rules are compiled to
after the last decision is written and the ledger closed, and the peak RSS) covers the
engine alone, as bench/w1/fbdsl_engine.py does (its imports too are made before the clock
starts, as there); the run's summary (captured, not shown) gives
the timers still pending and the lines rejected. An SQLite ledger file is removed first,
unless `--keep-ledger` (bench/timer_memory.py fires the timers a first run left pending, in
a second run on the same ledger with `--flush`).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import sys
import time
from pathlib import Path

from shared import (  # bench/w2/shared.py: its directory is on the path
    RULES_PATH,
    cpu_seconds,
    report,
)

import fbdsl
import fbdsl.compiler.diagnostics
import fbdsl.compiler.pipeline
import fbdsl.runtime.batch
import fbdsl.runtime.ledger.memory
import fbdsl.runtime.ledger.sqlite
import fbdsl.runtime.ledger.writer
import fbdsl.runtime.sinks  # (imported before the clock starts, as for W1)
from fbdsl.cli import main as fbdsl_main


def run() -> None:
    parser = argparse.ArgumentParser(description="W2 contender: the fbdsl engine")
    parser.add_argument("--events", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--ledger", required=True, help="an SQLite file, or :memory:")
    parser.add_argument("--flush", action="store_true", help="fire every pending timer")
    parser.add_argument("--keep-ledger", action="store_true", help="continue an SQLite ledger")
    args = parser.parse_args()
    if args.ledger != ":memory:" and not args.keep_ledger:
        for suffix in ("", "-wal", "-shm", ".lock"):
            Path(f"{args.ledger}{suffix}").unlink(missing_ok=True)
    args.out.unlink(missing_ok=True)  # `fbdsl run` appends to an existing decisions file
    command = [
        "run", str(RULES_PATH), "--events", str(args.events), "--ledger", args.ledger,
        "--out", str(args.out), "--dead-letter", f"{args.out}.rejected.jsonl",
    ]  # fmt: skip
    if args.flush:
        command.append("--flush")
    summary = io.StringIO()  # the run's summary (stderr): timers pending, lines rejected
    started, cpu = time.perf_counter(), cpu_seconds()
    try:
        with contextlib.redirect_stderr(summary):
            fbdsl_main(command, standalone_mode=False)
    except SystemExit as exc:  # click exits only on an error here
        sys.exit(f"fbdsl run failed with exit code {exc.code}:\n{summary.getvalue()}")
    seconds = time.perf_counter() - started
    # The ledger's writer finishes on its own once the run has returned (its last WAL
    # checkpoint): not in the wall time, but its CPU time is counted once it has exited.
    # (An engine from before that change, --engine-rev, has no writers to wait for.)
    getattr(fbdsl.runtime.ledger.writer, "wait_for_detached", lambda: None)()
    cpu = cpu_seconds() - cpu
    counts = re.search(r"rejected (\d+) .*pending (\d+)", summary.getvalue(), re.DOTALL)
    assert counts is not None, summary.getvalue()
    decisions = sum(1 for _ in args.out.open("rb"))
    name = "fbdsl (memory ledger)" if args.ledger == ":memory:" else "fbdsl (SQLite ledger)"
    report(name, decisions, seconds, cpu_seconds=cpu, pending=int(counts[2]),
           rejected=int(counts[1]), fbdsl=str(Path(fbdsl.__file__).parent))  # fmt: skip


if __name__ == "__main__":
    run()
