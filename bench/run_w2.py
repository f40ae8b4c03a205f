"""W2 time: the fbdsl engine's delays, absence windows and quiet hours against a hand-written
heap of timers and durable_rules' timers.

    python bench/run_w2.py                       # 1M events, 100k customers (the figures)
    python bench/run_w2.py --events 20000 --customers 2000   # a quick run
    python bench/run_w2.py --peer-events 200000  # durable_rules on the first 200k lines only

Generates the event file if it is missing (bench/generate_w2_events.py, into bench/data/),
then runs every contender (bench/w2/) in its own process on that same file, one after the
other: the hand-written ceiling, the engine with the SQLite ledger (the target) and with the
memory ledger, and durable_rules. Each reports its wall time, peak RSS and the timers still
pending at the end. Every contender's decisions are reduced to (trigger id, rule, customer,
action, target, channel, status, reason, at) -- W1's tuple plus the decision's time, which
is what W2 is about -- and must equal the engine's, as must the count of pending timers, or
the run fails (exit 1). `--check-targets` also fails it when the engine (SQLite) runs at
less than 40% of the hand-written throughput (issue 4).

The measurement and the comparison are W1's (bench/run_w1.py), imported.
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
from pathlib import Path

import orjson
import run_w1
from run_w1 import (
    DATA,
    DURABLE,
    ENGINE_MEMORY,
    ENGINE_SQLITE,
    HANDWRITTEN,
    ROOT,
    Key,
    Result,
    best_of,
    count_lines,
    decisions_path,
    differences,
    digest,
    engine_description,
    engine_snapshot,
    machine,
    prefix_file,
)

BENCH = Path(__file__).resolve().parent
W2 = BENCH / "w2"
CONTENDERS = (HANDWRITTEN, ENGINE_SQLITE, ENGINE_MEMORY, DURABLE)
TARGET_SHARE = 0.40


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the file")
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--events-file", type=Path, default=None,
                        help="run on this JSON lines file instead of a generated one")  # fmt: skip
    parser.add_argument("--work", type=Path, default=DATA,
                        help="where decisions and ledgers go (bench/data/)")  # fmt: skip
    parser.add_argument("--peer-events", type=int, default=None,
                        help="run durable_rules on the first N lines only (the engine and the "
                        "baseline run there too, for the comparison)")  # fmt: skip
    parser.add_argument("--repeat", type=int, default=1, help="runs per contender; best kept")
    parser.add_argument("--only", default=None,
                        help="comma-separated contenders besides the baseline and the engine "
                        "(SQLite), e.g. durable_rules")  # fmt: skip
    parser.add_argument("--engine-rev", default=None,
                        help="measure the engine of this git revision (a snapshot in "
                        "bench/data/) instead of the working tree, e.g. HEAD")  # fmt: skip
    parser.add_argument("--check-targets", action="store_true", help="exit 1 on a missed target")
    return parser.parse_args()


def event_file(events: int, customers: int) -> Path:
    """The generated file (created when missing; bench/data/ is not versioned)."""
    default = (events, customers) == (1_000_000, 100_000)
    path = DATA / ("w2.jsonl" if default else f"w2-{events}x{customers}.jsonl")
    if not path.exists():
        print(f"generating {path.relative_to(ROOT)} ...", file=sys.stderr)
        command = [sys.executable, str(BENCH / "generate_w2_events.py"), "--events",
                   str(events), "--customers", str(customers), "--out", str(path)]  # fmt: skip
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return path


def command_for(contender: str, events: Path, out: Path) -> list[str]:
    common = ["--events", str(events), "--out", str(out)]
    if contender == HANDWRITTEN:
        return [sys.executable, str(W2 / "handwritten.py"), *common]
    if contender == DURABLE:
        return [sys.executable, str(W2 / "peer_durable_rules.py"), *common]
    ledger = str(out.with_suffix(".ledger.sqlite")) if contender == ENGINE_SQLITE else ":memory:"
    return [sys.executable, str(W2 / "fbdsl_engine.py"), *common, "--ledger", ledger]


def normalised(path: Path) -> collections.Counter[Key]:
    """Decisions as a multiset of (trigger id, rule, customer, action, target, channel,
    status, reason, at)."""
    keys: collections.Counter[Key] = collections.Counter()
    with path.open("rb") as handle:
        for line in handle:
            d = orjson.loads(line)
            keys[(d["trigger"]["id"], d["rule"], d["customer_id"], d["action"], d["target"],
                  d["channel"], d["status"], d["reason"], d["at"])] += 1  # fmt: skip
    return keys


def run(contender: str, events: Path, lines: int, repeat: int, work: Path,
        snapshot: Path | None) -> tuple[Result, int]:  # fmt: skip
    """Best of `repeat` runs: the result and the timers the contender left pending."""
    out = decisions_path(work, contender, events)
    out.parent.mkdir(parents=True, exist_ok=True)
    command = command_for(contender, events, out)
    best, peak = best_of(contender, command, lines, repeat, snapshot)
    result = Result(contender, events, lines, best["seconds"], peak, normalised(out),
                    best.get("cpu_seconds"))  # fmt: skip
    return result, int(best["pending"])


def targets(groups: list[list[Result]]) -> list[tuple[str, bool]]:
    """Issue 4's throughput target, on the lines both sides ran; durable_rules for reading."""
    checks = []
    for group in groups:
        by_name = {r.contender: r for r in group}
        engine, base = by_name.get(ENGINE_SQLITE), by_name.get(HANDWRITTEN)
        if engine is None or base is None:
            continue
        rate = engine.lines / engine.seconds
        share = rate / (base.lines / base.seconds)
        checks.append((f"engine (SQLite) / hand-written = {share:.0%} (target >= "
                       f"{TARGET_SHARE:.0%}) on {engine.lines:,} events",
                       share >= TARGET_SHARE))  # fmt: skip
    return checks


def main() -> None:
    args = parse_args()
    wanted = list(CONTENDERS)
    if args.only:
        chosen = {name.strip() for name in args.only.split(",")}
        if chosen - set(CONTENDERS):
            sys.exit(f"unknown contender(s) {', '.join(sorted(chosen - set(CONTENDERS)))}; "
                     f"known: {', '.join(CONTENDERS)}")  # fmt: skip
        wanted = [c for c in CONTENDERS if c in chosen or c in (HANDWRITTEN, ENGINE_SQLITE)]
    full = args.events_file or event_file(args.events, args.customers)
    lines = count_lines(full)
    header = machine()
    snapshot = engine_snapshot(args.engine_rev) if args.engine_rev else None
    print(f"{full}: {lines:,} lines, sha256 {digest(full)}", file=sys.stderr)
    prefix_lines = args.peer_events if args.peer_events and args.peer_events < lines else None
    on_full = [c for c in wanted if prefix_lines is None or c != DURABLE]
    plan = [(full, lines, on_full)]
    if prefix_lines is not None and DURABLE in wanted:
        prefix = prefix_file(full, prefix_lines, args.work)
        plan.append((prefix, prefix_lines, [HANDWRITTEN, ENGINE_SQLITE, DURABLE]))
    groups: list[list[Result]] = []
    pending: list[dict[str, int]] = []
    for events, count, contenders in plan:
        ran = [run(c, events, count, args.repeat, args.work, snapshot) for c in contenders]
        groups.append([result for result, _ in ran])
        pending.append({result.contender: left for result, left in ran})
    problems = []
    for group, left in zip(groups, pending, strict=True):
        reference = next(r for r in group if r.contender == ENGINE_SQLITE)
        for result in group:
            problems += differences(result, reference)
            if left[result.contender] != left[ENGINE_SQLITE]:
                problems.append(f"{result.contender} left {left[result.contender]} timer(s) "
                                f"pending, the engine {left[ENGINE_SQLITE]}")  # fmt: skip
    print(f"W2, {header}; {engine_description(snapshot)}")
    source = full.name if args.events_file else f"{full.name}, {args.customers:,} customers"
    print(f"{lines:,} events ({source}), best of {args.repeat}")
    print()
    print("\n".join(run_w1.table(groups)))
    if prefix_lines is not None:
        print(f"\n(prefix: the first {prefix_lines:,} lines of the same file)")
    for group, left in zip(groups, pending, strict=True):
        by_name = {r.contender: r for r in group}
        if DURABLE in by_name and ENGINE_SQLITE in by_name:
            times = (by_name[ENGINE_SQLITE].lines / by_name[ENGINE_SQLITE].seconds) / (
                by_name[DURABLE].lines / by_name[DURABLE].seconds
            )
            print(f"\nengine (SQLite) / durable_rules = {times:.1f}x on "
                  f"{by_name[DURABLE].lines:,} events")  # fmt: skip
        print(f"timers pending at the end: {left[ENGINE_SQLITE]:,} (engine)")
    print()
    for text, ok in targets(groups):
        print(f"{'met   ' if ok else 'MISSED'} {text}")
    if problems:
        print("\n".join(["", "DECISIONS DIFFER:", *problems]))
        sys.exit(1)
    print("all contenders made the same decisions as the engine and left as many timers")
    if args.check_targets and not all(ok for _, ok in targets(groups)):
        sys.exit(1)


if __name__ == "__main__":
    main()
