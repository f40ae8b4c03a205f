"""The fbdsl engine as a W1 contender: `fbdsl run` on bench/w1/rules.fbdsl, in this process.

    python bench/w1/fbdsl_engine.py --events bench/data/w1.jsonl --out /tmp/engine.jsonl \
        --ledger bench/data/w1-ledger.sqlite      # or --ledger :memory:

Exactly what a user runs (`fbdsl run RULES --events FILE --ledger PATH --out FILE -q`),
called in-process so that the measurement (wall time from before the rules are compiled to
after the last decision is written and the ledger closed, and the peak RSS) covers the
engine alone. (Closing the ledger leaves its writer process to copy the WAL back into the
file after the run has returned, as `fbdsl run` does: not in the wall time; its CPU time is
counted, once it has exited.) The modules `fbdsl run` imports when it starts (the compiler,
Lark, the runtime, the ledgers) are imported first, before the clock starts, as every other
contender imports its own (rule-engine, durable_rules, orjson) before its clock starts: the
imports are start-up, the same for ten events as for a million. (The Lark parser is still
built, and the rules compiled, inside the measured time.) An SQLite ledger file is removed
first, so every run starts from an empty ledger, as the other contenders start from empty
state.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from common import (  # bench/w1/common.py: its directory is on the path
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
import fbdsl.runtime.sinks  # (imported before the clock starts: the docstring says why)
from fbdsl.cli import main as fbdsl_main


def _fresh(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", ".lock"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def run() -> None:
    parser = argparse.ArgumentParser(description="W1 contender: the fbdsl engine")
    parser.add_argument("--events", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--ledger", required=True, help="an SQLite file, or :memory:")
    args = parser.parse_args()
    if args.ledger != ":memory:":
        _fresh(Path(args.ledger))
    args.out.unlink(missing_ok=True)  # `fbdsl run` appends to an existing decisions file
    command = [
        "run", str(RULES_PATH), "--events", str(args.events), "--ledger", args.ledger,
        "--out", str(args.out), "--dead-letter", f"{args.out}.rejected.jsonl", "-q",
    ]  # fmt: skip
    started, cpu = time.perf_counter(), cpu_seconds()
    try:
        fbdsl_main(command, standalone_mode=False)
    except SystemExit as exc:  # click exits only on an error here
        sys.exit(f"fbdsl run failed with exit code {exc.code}")
    seconds = time.perf_counter() - started
    # The ledger's writer finishes on its own once the run has returned (its last WAL
    # checkpoint): not in the wall time, but its CPU time is counted once it has exited.
    # (An engine from before that change, --engine-rev, has no writers to wait for.)
    getattr(fbdsl.runtime.ledger.writer, "wait_for_detached", lambda: None)()
    cpu = cpu_seconds() - cpu
    decisions = sum(1 for _ in args.out.open("rb"))
    name = "fbdsl (memory ledger)" if args.ledger == ":memory:" else "fbdsl (SQLite ledger)"
    report(name, decisions, seconds, cpu_seconds=cpu, fbdsl=str(Path(fbdsl.__file__).parent))


if __name__ == "__main__":
    run()
