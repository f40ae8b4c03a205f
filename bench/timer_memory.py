"""W2 memory: what a pending timer costs, and whether a million of them stay bounded.

    python bench/timer_memory.py                      # N = 100k and 1M (about 10 minutes)
    python bench/timer_memory.py --customers 1000 10000   # a quick run

For each N, three event files (bench/data/, generated when missing): N customers each
starting one checkout under 100 (bench/w2/rules.fbdsl gives it exactly one timer, the
2-hour cart_exit survey), all within one hour, so every timer is still pending at the end
of `fbdsl run` without `--flush`; the same N customers each making a small order (read,
remembered, but no timer: the customers' own cost); and an empty file (N = 0). Each file
is run by the engine with the memory ledger, by the engine with the SQLite ledger (a fresh
file) and by the hand-written baseline (bench/w2/handwritten.py), each in its own process
reporting its peak RSS (VmHWM) and the timers it left pending (checked: N).

Reported: bytes per pending timer = (RSS(N) - RSS(0)) / N, the customer's state included
(what a million customers each leaving a timer cost), and the timer alone = (RSS(N with
timers) - RSS(N without)) / N. The SQLite ledger keeps at most 100,000 customer states and
200,000 timer keys in memory by design: its RSS should stay flat from 100k to 1M.

Then the timers fire, for each N: `fbdsl run --flush` on the SQLite ledger a run of the N
checkouts left, with no new event (every timer is due in daytime UTC: N surveys sent),
giving the peak RSS and the time of firing them; and, for the memory ledger (which cannot
outlive its process), one run with `--flush` that reads the N checkouts and fires them. A
run that fails, or fires fewer than N timers, is shown in the table and makes the script
exit 1.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
from run_w1 import DATA, ROOT, engine_description, engine_snapshot, machine

BENCH = Path(__file__).resolve().parent
W2 = BENCH / "w2"
START = 1772445600  # 2026-03-02T10:00:00Z: the timers fall due between 12:00 and 13:00 UTC
SPREAD = 3600


def _time(seconds: int) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def event_files(customers: int) -> tuple[Path, Path]:
    """(N checkouts: one timer each; N small orders: no timer), generated when missing."""
    pending, plain = DATA / f"timers-{customers}.jsonl", DATA / f"no-timers-{customers}.jsonl"
    if not pending.exists() or not plain.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        with pending.open("wb") as timers, plain.open("wb") as orders:
            for number in range(customers):
                at = _time(START + number * SPREAD // max(customers, 1))
                common = {"customer_id": f"cust-{number:07d}", "timestamp": at}
                checkout = {"checkout_id": f"k{number}", "total": 42.5}
                order = {"order_id": f"o{number}", "total": 20}
                timers.write(orjson.dumps({"id": f"c{number}", "event": "checkout_started",
                                           **common, "properties": checkout}) + b"\n")  # fmt: skip
                orders.write(orjson.dumps({"id": f"o{number}", "event": "order_completed",
                                           **common, "properties": order}) + b"\n")  # fmt: skip
    return pending, plain


def measure(script: str, events: Path, out: Path, env: dict[str, str], *extra: str,
            may_fail: bool = False) -> dict[str, Any]:  # fmt: skip
    """One contender run's report; with `may_fail`, a failed run gives {"error": ...}."""
    command = [sys.executable, str(W2 / script), "--events", str(events), "--out", str(out),
               *extra]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        if may_fail:
            last = [line for line in done.stderr.splitlines() if line.strip()][-3:]
            return {"error": " / ".join(line.strip() for line in last)}
        sys.exit(f"{' '.join(command)} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return orjson.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def flush_row(label: str, timers: int, run: dict[str, Any]) -> str:
    if "error" in run:
        return f"| {label} | {timers:,} | FAILED: {run['error']} | | | |"
    return (f"| {label} | {timers:,} | {run['decisions']:,} | {run['pending']} "
            f"| {run['peak_rss_mb']:.0f} | {run['seconds']:.1f} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--engine-rev", default=None,
                        help="measure the engine of this git revision (see run_w1.py)")  # fmt: skip
    args = parser.parse_args()
    header = machine()
    snapshot = engine_snapshot(args.engine_rev) if args.engine_rev else None
    env = dict(os.environ)
    if snapshot is not None:
        env["PYTHONPATH"] = str(snapshot)
    work = DATA / "timer-memory"
    work.mkdir(parents=True, exist_ok=True)
    empty = work / "empty.jsonl"
    empty.write_bytes(b"")
    contenders = {  # name -> (script, extra arguments)
        "fbdsl (memory)": ("fbdsl_engine.py", ["--ledger", ":memory:"]),
        "fbdsl (SQLite)": ("fbdsl_engine.py", ["--ledger", str(work / "ledger.sqlite")]),
        "hand-written": ("handwritten.py", []),
    }
    rows = ["| contender | customers | pending timers | peak RSS MB | bytes per pending timer "
            "| the timer alone, bytes | wall s |",
            "|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for name, (script, extra) in contenders.items():
        base = measure(script, empty, work / "out.jsonl", env, *extra)
        print(f"  {name}: {base['peak_rss_mb']:.0f} MB with no event", file=sys.stderr)
        rows.append(f"| {name} | 0 | 0 | {base['peak_rss_mb']:.0f} | - | - | - |")
        for customers in args.customers:
            pending_file, plain_file = event_files(customers)
            plain = measure(script, plain_file, work / "out.jsonl", env, *extra)
            timers = measure(script, pending_file, work / "out.jsonl", env, *extra)
            if timers["pending"] != customers or plain["pending"] != 0:
                sys.exit(f"{name}: {timers['pending']} timers pending for {customers} customers")
            per_timer = (timers["peak_rss_mb"] - base["peak_rss_mb"]) * 2**20 / customers
            alone = (timers["peak_rss_mb"] - plain["peak_rss_mb"]) * 2**20 / customers
            print(f"  {name}: {customers:,} timers, {timers['peak_rss_mb']:.0f} MB",
                  file=sys.stderr)  # fmt: skip
            rows.append(f"| {name} | {customers:,} | {timers['pending']:,} "
                        f"| {timers['peak_rss_mb']:.0f} | {per_timer:,.0f} | {alone:,.0f} "
                        f"| {timers['seconds']:.1f} |")  # fmt: skip
    flush = ["| run | timers due | decisions | pending after | peak RSS MB | wall s |",
             "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    failed = []
    ledger = str(work / "ledger.sqlite")
    for customers in args.customers:
        pending_file, _ = event_files(customers)
        measure("fbdsl_engine.py", pending_file, work / "out.jsonl", env, "--ledger", ledger)
        runs = {
            "SQLite ledger left by the run above: `--flush`, no new event": measure(
                "fbdsl_engine.py", empty, work / "fired.jsonl", env, "--ledger", ledger,
                "--keep-ledger", "--flush", may_fail=True),
            "memory ledger: read the checkouts, then `--flush`": measure(
                "fbdsl_engine.py", pending_file, work / "fired.jsonl", env, "--ledger",
                ":memory:", "--flush", may_fail=True),
        }  # fmt: skip
        for label, run in runs.items():
            print(f"  flush, {label}: {customers:,} timers: {run}", file=sys.stderr)
            flush.append(flush_row(label, customers, run))
            if "error" in run or run["decisions"] != customers or run["pending"]:
                failed.append(f"{label}, {customers:,} timers")
    print(f"W2 timer memory, {header}; {engine_description(snapshot)}")
    print()
    print("\n".join(rows))
    print()
    print("\n".join(flush))
    if failed:
        print(f"\nFAILED to fire every timer: {'; '.join(failed)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
