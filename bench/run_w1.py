"""W1 throughput: the fbdsl engine against hand-written Python and two rule-engine peers.

    python bench/run_w1.py                      # 1M events, 100k customers (the figures)
    python bench/run_w1.py --events 20000       # a quick run
    python bench/run_w1.py --peer-events 200000 # the peers on the first 200k lines only

Generates the event file if it is missing (bench/generate_events.py, into bench/data/), then
runs every contender (bench/w1/) in its own process on that same file, one after the other:
the hand-written ceiling, the engine with the SQLite ledger (the target) and with the memory
ledger, rule-engine and durable_rules; with `--repeat N`, N such rounds (each contender's
fastest run is kept, and each round's ratios are printed too). Each reports its wall time
and peak RSS from inside its process. Every contender's decisions are reduced to (trigger
id, rule, customer, action, target, channel, status, reason) and must equal the engine's,
or the run fails (exit 1).
The table gives events (input lines) per second and the ratio to the hand-written baseline
measured on the same lines. `--check-targets` also fails the run when the engine misses the
issue's targets: at least half the hand-written throughput and ten times durable_rules'.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import attrs
import orjson

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DATA = BENCH / "data"
W1 = BENCH / "w1"
HANDWRITTEN, ENGINE_SQLITE, ENGINE_MEMORY = "hand-written", "fbdsl (SQLite)", "fbdsl (memory)"
RULE_ENGINE, DURABLE = "rule-engine", "durable_rules"
PEERS = (RULE_ENGINE, DURABLE)
Key = tuple[object, ...]


@attrs.frozen
class Result:
    contender: str
    events_file: Path
    lines: int
    seconds: float
    peak_rss_mb: float
    decisions: collections.Counter[Key]
    cpu_seconds: float | None = None  # of the fastest run; child processes included


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the file")
    parser.add_argument(
        "--events-file",
        type=Path,
        default=None,
        help="run on this JSON lines file instead of a generated one (crafted cases, real data)",
    )
    parser.add_argument(
        "--work", type=Path, default=DATA, help="where decisions and ledgers go (bench/data/)"
    )
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument(
        "--peer-events",
        type=int,
        default=None,
        help="run the peers on the first N lines only (the engine and the baseline run there "
        "too, for the comparison); default: the whole file",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per contender; best kept")
    parser.add_argument(
        "--only", default=None, help="comma-separated contenders (default: all), e.g. rule-engine"
    )
    parser.add_argument(
        "--engine-rev",
        default=None,
        help="measure the engine of this git revision (a snapshot in bench/data/) instead of "
        "the working tree, e.g. HEAD while others edit fbdsl/",
    )
    parser.add_argument("--check-targets", action="store_true", help="exit 1 on a missed target")
    return parser.parse_args()


# -- the event files -------------------------------------------------------------------------


def event_file(events: int, customers: int) -> Path:
    """The generated file (created when missing; bench/data/ is not versioned)."""
    name = (
        "w1.jsonl"
        if (events, customers) == (1_000_000, 100_000)
        else f"w1-{events}x{customers}.jsonl"
    )
    path = DATA / name
    if not path.exists():
        print(f"generating {path.relative_to(ROOT)} ...", file=sys.stderr)
        command = [sys.executable, str(BENCH / "generate_events.py"), "--events", str(events),
                   "--customers", str(customers), "--out", str(path)]  # fmt: skip
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return path


def prefix_file(path: Path, lines: int, work: Path) -> Path:
    """The first `lines` lines of `path`, as a file of their own."""
    prefix = work / f"{path.stem}.head{lines}.jsonl"
    if not prefix.exists():
        with path.open("rb") as source, prefix.open("wb") as out:
            for number, line in enumerate(source):
                if number == lines:
                    break
                out.write(line)
    return prefix


def count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for _ in handle)


def digest(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()[:16]


# -- the engine under test ------------------------------------------------------------------


def git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def engine_snapshot(rev: str) -> Path:
    """The engine's sources at `rev` (fbdsl/, grammar/, stdlib/), for PYTHONPATH."""
    commit = git("rev-parse", "--short", rev)
    target = DATA / f"engine-{commit}"
    if not (target / "fbdsl").is_dir():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "archive", commit, "fbdsl", "grammar", "stdlib", "pyproject.toml"],
            cwd=ROOT, capture_output=True, check=True,
        ).stdout  # fmt: skip
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def engine_description(snapshot: Path | None) -> str:
    if snapshot is not None:
        return f"engine at commit {snapshot.name.removeprefix('engine-')}"
    changed = git("status", "--porcelain", "--", "fbdsl", "grammar", "stdlib")
    dirty = " + uncommitted changes in fbdsl/" if changed else ""
    return f"engine from the working tree (commit {git('rev-parse', '--short', 'HEAD')}{dirty})"


# -- running contenders ----------------------------------------------------------------------


def command_for(contender: str, events: Path, out: Path) -> list[str]:
    common = ["--events", str(events), "--out", str(out)]
    python = sys.executable
    if contender == HANDWRITTEN:
        return [python, str(W1 / "handwritten.py"), *common]
    if contender == ENGINE_SQLITE:
        ledger = out.with_suffix(".ledger.sqlite")
        return [python, str(W1 / "fbdsl_engine.py"), *common, "--ledger", str(ledger)]
    if contender == ENGINE_MEMORY:
        return [python, str(W1 / "fbdsl_engine.py"), *common, "--ledger", ":memory:"]
    if contender == RULE_ENGINE:
        return [python, str(W1 / "peer_rule_engine.py"), *common]
    if contender == DURABLE:
        return [python, str(W1 / "peer_durable_rules.py"), *common]
    raise ValueError(f"unknown contender {contender!r}")


def normalised(path: Path) -> collections.Counter[Key]:
    """Each decision as (trigger id, rule, customer, action, target, channel, status, reason)."""
    keys: collections.Counter[Key] = collections.Counter()
    with path.open("rb") as handle:
        for line in handle:
            d = orjson.loads(line)
            keys[
                (d["trigger"]["id"], d["rule"], d["customer_id"], d["action"], d["target"],
                 d["channel"], d["status"], d["reason"])
            ] += 1  # fmt: skip
    return keys


def decisions_path(work: Path, contender: str, events: Path) -> Path:
    """Where a contender's decisions on `events` go, e.g. decisions/fbdsl-sqlite.w1.jsonl."""
    slug = "-".join("".join(ch if ch.isalnum() else " " for ch in contender.lower()).split())
    return work / "decisions" / f"{slug}.{events.stem}.jsonl"


def measure(contender: str, command: list[str], snapshot: Path | None) -> dict[str, Any]:
    """One run of a contender, in its own process: the JSON object it prints last."""
    env = dict(os.environ)
    if snapshot is not None and contender in (ENGINE_SQLITE, ENGINE_MEMORY):
        env["PYTHONPATH"] = str(snapshot)
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"{contender} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    measured: dict[str, Any] = orjson.loads(done.stdout.strip().splitlines()[-1])
    if snapshot is not None and "fbdsl" in measured:
        assert str(measured["fbdsl"]).startswith(str(snapshot)), measured["fbdsl"]
    return measured


def best_of(
    contender: str, command: list[str], lines: int, repeat: int, snapshot: Path | None
) -> tuple[dict[str, Any], float]:
    """Run a contender `repeat` times in a row: its fastest measurement and its peak RSS
    over the runs (W2's measurement; W1 runs rounds instead: `run_rounds`)."""
    runs = [measure(contender, command, snapshot) for _ in range(repeat)]
    best = min(runs, key=lambda measured: float(measured["seconds"]))
    print(f"  {contender:<16} {lines / best['seconds']:>10,.0f} events/s", file=sys.stderr)
    return best, max(float(measured["peak_rss_mb"]) for measured in runs)


def run_rounds(
    contenders: list[str],
    events: Path,
    lines: int,
    repeat: int,
    work: Path,
    snapshot: Path | None,
) -> tuple[list[Result], list[dict[str, float]]]:
    """`repeat` rounds, each running every contender once, in turn: so that a slow spell of
    the machine (they last minutes here) falls on every contender of a round, not on one
    contender's repeats. Each contender's fastest run (and its peak RSS over the runs), and
    each round's seconds by contender."""
    outs = {c: decisions_path(work, c, events) for c in contenders}
    commands = {c: command_for(c, events, outs[c]) for c in contenders}
    for out in outs.values():
        out.parent.mkdir(parents=True, exist_ok=True)
    best: dict[str, dict[str, Any]] = {}
    peak: dict[str, float] = {}
    rounds = []
    for _ in range(repeat):
        seconds = {}
        for contender in contenders:
            measured = measure(contender, commands[contender], snapshot)
            seconds[contender] = measured["seconds"]
            peak[contender] = max(peak.get(contender, 0.0), measured["peak_rss_mb"])
            if contender not in best or measured["seconds"] < best[contender]["seconds"]:
                best[contender] = measured
            print(f"  {contender:<16} {lines / measured['seconds']:>10,.0f} events/s",
                  file=sys.stderr)  # fmt: skip
        rounds.append(seconds)
    results = [
        Result(
            c,
            events,
            lines,
            best[c]["seconds"],
            peak[c],
            normalised(outs[c]),
            best[c].get("cpu_seconds"),
        )
        for c in contenders
    ]
    return results, rounds


def round_ratios(rounds: list[dict[str, float]]) -> list[str]:
    """Each round's ratios, measured minutes apart at most: how much the figures move."""
    shares = [f"{r[HANDWRITTEN] / r[ENGINE_SQLITE]:.0%}" for r in rounds if HANDWRITTEN in r]
    lines = [f"engine (SQLite) / hand-written by round: {', '.join(shares)}"] if shares else []
    times = [f"{r[DURABLE] / r[ENGINE_SQLITE]:.1f}x" for r in rounds if DURABLE in r]
    if times:
        lines.append(f"engine (SQLite) / durable_rules by round: {', '.join(times)}")
    return lines


def differences(result: Result, reference: Result) -> list[str]:
    """What tells the two decision sets apart (empty when they are equal)."""
    if result.decisions == reference.decisions:
        return []
    missing = reference.decisions - result.decisions
    extra = result.decisions - reference.decisions
    report = [
        f"{result.contender} disagrees with {reference.contender} on {result.events_file.name}: "
        f"{sum(missing.values())} decision(s) missing, {sum(extra.values())} extra"
    ]
    report += [f"  missing {key}" for key in sorted(missing, key=repr)[:5]]
    report += [f"  extra   {key}" for key in sorted(extra, key=repr)[:5]]
    return report


# -- reporting -------------------------------------------------------------------------------


def table(groups: Iterable[list[Result]]) -> list[str]:
    rows = [
        "| contender | events | wall s | CPU s | events/s | vs hand-written | peak RSS MB "
        "| decisions |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for number, group in enumerate(groups):
        baseline = next((r for r in group if r.contender == HANDWRITTEN), None)
        for r in group:
            rate = r.lines / r.seconds
            ratio = f"{rate / (baseline.lines / baseline.seconds):.0%}" if baseline else "-"
            name = r.contender if number == 0 else f"{r.contender}, prefix"
            cpu = "-" if r.cpu_seconds is None else f"{r.cpu_seconds:.2f}"
            rows.append(
                f"| {name} | {r.lines:,} | {r.seconds:.2f} | {cpu} | {rate:,.0f} | {ratio} "
                f"| {r.peak_rss_mb:.0f} | {sum(r.decisions.values()):,} |"
            )
    return rows


def targets(groups: list[list[Result]]) -> list[tuple[str, bool]]:
    """The issue's two targets, each checked on the lines both sides ran."""
    checks = []
    for group in groups:
        by_name = {r.contender: r for r in group}
        engine = by_name.get(ENGINE_SQLITE)
        if engine is None:
            continue
        rate = engine.lines / engine.seconds
        if HANDWRITTEN in by_name:
            base = by_name[HANDWRITTEN]
            share = rate / (base.lines / base.seconds)
            checks.append((f"engine (SQLite) / hand-written = {share:.0%} (target >= 50%) "
                           f"on {engine.lines:,} events", share >= 0.5))  # fmt: skip
        if DURABLE in by_name:
            peer = by_name[DURABLE]
            times = rate / (peer.lines / peer.seconds)
            checks.append((f"engine (SQLite) / durable_rules = {times:.1f}x (target >= 10x) "
                           f"on {engine.lines:,} events", times >= 10))  # fmt: skip
    return checks


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}; {cpu}, {os.cpu_count()} cores; "
        f"Python {platform.python_version()}; load average {load} at the start"
    )


def main() -> None:
    args = parse_args()
    wanted = [HANDWRITTEN, ENGINE_SQLITE, ENGINE_MEMORY, RULE_ENGINE, DURABLE]
    if args.only:
        chosen = {name.strip() for name in args.only.split(",")}
        unknown = chosen - set(wanted)
        if unknown:
            sys.exit(
                f"unknown contender(s) {', '.join(sorted(unknown))}; known: {', '.join(wanted)}"
            )
        wanted = [name for name in wanted if name in chosen or name in (HANDWRITTEN, ENGINE_SQLITE)]
    full = args.events_file or event_file(args.events, args.customers)
    lines = count_lines(full)
    header = machine()
    snapshot = engine_snapshot(args.engine_rev) if args.engine_rev else None
    print(f"{full}: {lines:,} lines, sha256 {digest(full)}", file=sys.stderr)
    prefix_lines = args.peer_events if args.peer_events and args.peer_events < lines else None
    on_full = [c for c in wanted if prefix_lines is None or c not in PEERS]
    group, rounds = run_rounds(on_full, full, lines, args.repeat, args.work, snapshot)
    groups = [group]
    if prefix_lines is not None:
        prefix = prefix_file(full, prefix_lines, args.work)
        on_prefix = [HANDWRITTEN, ENGINE_SQLITE, *(c for c in wanted if c in PEERS)]
        group, _ = run_rounds(on_prefix, prefix, prefix_lines, args.repeat, args.work, snapshot)
        groups.append(group)
    problems = []
    for group in groups:
        reference = next(r for r in group if r.contender == ENGINE_SQLITE)
        for result in group:
            problems += differences(result, reference)
    print(f"W1, {header}; {engine_description(snapshot)}")
    source = full.name if args.events_file else f"{full.name}, {args.customers:,} customers"
    print(f"{lines:,} events ({source}), best of {args.repeat} (rounds: each contender once)")
    print()
    print("\n".join(table(groups)))
    if prefix_lines is not None:
        print(f"\n(prefix: the first {prefix_lines:,} lines of the same file)")
    print()
    checks = targets(groups)
    for text, ok in checks:
        print(f"{'met   ' if ok else 'MISSED'} {text}")
    if args.repeat > 1:
        print("\n".join(round_ratios(rounds)))
    if problems:
        print("\n".join(["", "DECISIONS DIFFER:", *problems]))
        sys.exit(1)
    print("all contenders made the same decisions as the engine")
    if args.check_targets and not all(ok for _, ok in checks):
        sys.exit(1)


if __name__ == "__main__":
    main()
