"""Batch runs (`fbdsl run`): read an event stream, decide, write decisions, report.

The ledger is committed every `commit_every` events and at the end; each batch of decisions
is handed to the sink before the commit that makes it durable, as it is encoded, and the
sink flushes it just before that commit (see sinks.py for what that means across crashes).
The output is the run's record of its decisions: the ledger keeps a second copy (the audit
log the sidecar serves) only when asked (`audit_log`).
Rejected lines go to the dead-letter file with their line number and reason; the run goes
on.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import IO

import attrs
import orjson

from fbdsl.compiler.graph import RuleGraph
from fbdsl.runtime import decisions as d
from fbdsl.runtime.engine import DEFAULT_MODE, Engine
from fbdsl.runtime.events import IGNORED, Decoded, Decoder, Event, Rejected
from fbdsl.runtime.fingerprints import drop_timers_of_changed_rules, rule_fingerprints
from fbdsl.runtime.ledger import Ledger
from fbdsl.runtime.prefilter import Prefilter
from fbdsl.runtime.prefilter import available as prefilter_available
from fbdsl.runtime.sinks import FileSink, Sink, StreamSink
from fbdsl.runtime.timeutil import INFINITY

# Where a file's last commits before the end go (shares of its bytes read), so that the one
# the run waits for at its end is small and the one before it is applied meanwhile: the
# writer applies a commit in about a quarter of the time the run took to make it.
LAST_STRETCHES = (0.8, 0.96)
# Decisions encoded at a time (see `encode_decided` in run_batch).
ENCODED_BATCH = 4096


@attrs.define
class RunReport:
    lines: int = 0
    events: int = 0
    trait_updates: int = 0
    rejected: int = 0
    ignored: int = 0
    duplicates: int = 0
    late: int = 0
    timers_fired: int = 0
    timers_pending: int = 0
    timers_dropped: int = 0
    decisions: int = 0
    written: int = 0
    by_rule_status: dict[tuple[str, str], int] = attrs.Factory(dict)


class DeadLetters:
    """Rejected lines, as JSON lines `{"line", "reason", "raw"}`; the file is created lazily."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.handle: IO[bytes] | None = None

    def write(self, rejected: Rejected) -> None:
        if self.path is None:
            return
        if self.handle is None:
            self.handle = open(self.path, "ab")  # noqa: SIM115 - closed by close()
        record = {"line": rejected.line, "reason": rejected.reason, "raw": rejected.raw}
        self.handle.write(orjson.dumps(record) + b"\n")

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()


@contextmanager
def _no_collections() -> Iterator[None]:
    """The cyclic garbage collector, paused for the run (used as a decorator of run_batch).

    A run keeps millions of objects alive (states, history, decisions until their commit)
    and makes no reference cycles (measured on W1: none collected in a whole run); every
    young collection walks what is young, and a run makes it all young: 7 collections of
    20-90 ms each on W1, 8% of its time, for nothing. At the end, the survivors are moved
    to the oldest generation at once (`gc.freeze` then `gc.unfreeze`, two list splices), so
    that the next young collection does not walk them all either; a full collection (rare,
    and it walks them anyway) would still free a cycle made during the run. Skipped when the
    caller keeps objects frozen itself (the sidecar does): unfreezing would undo its work."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()
        if was_enabled:
            gc.enable()


@_no_collections()
def run_batch(
    graph: RuleGraph,
    lines: Iterable[bytes],
    ledger: Ledger,
    out: IO[bytes] | Sink,
    *,
    mode: str = DEFAULT_MODE,
    statuses: frozenset[str] = frozenset(d.STATUSES),
    dead_letters: DeadLetters | None = None,
    strict: bool = False,
    until: float | None = None,
    flush: bool = False,
    allowed_lateness: float = 0.0,
    commit_every: int = 250_000,
    audit_log: bool = False,
    on_rejected: Callable[[Rejected], None] | None = None,
    progress: Callable[[int], None] | None = None,
    prefilter: bool = False,
    input_size: int | None = None,
) -> RunReport:
    """Decide a stream of lines: the decisions to `out`, the rejected lines to
    `dead_letters`, the state to the ledger (committed every `commit_every` units and at
    the end). `prefilter`: drop the lines no rule reads in a reader process (prefilter.py).
    `input_size`: the input's size in bytes, if known (a file): with a reader process, the
    run commits once more as the last 20% begin and as the last 4% begin, so that the last
    commit, the only one a run with write-behind waits for (docs/running.md), is small, and
    the one before it is applied while the run goes on."""
    engine = Engine(graph, ledger, mode=mode, allowed_lateness=allowed_lateness)
    decoder = Decoder(
        graph.events,
        graph.external_names,
        graph.traits,
        strict=strict,
        read=frozenset(engine.relevant_events),
        gates=engine.gates,
    )
    report = RunReport()
    sink = out if isinstance(out, StreamSink | FileSink) else StreamSink(out)
    # Timers set by another definition of their rule (an edit since the last run on this
    # ledger) are not carried out under this one: dropped and counted (fingerprints.py).
    changed = drop_timers_of_changed_rules(ledger, rule_fingerprints(graph))
    report.timers_dropped = sum(changed.values())

    every_status = statuses >= frozenset(d.STATUSES)

    # The usual run (every status, no audit log) encodes its decisions as they accumulate,
    # ENCODED_BATCH at a time, and hands the lines to the sink at once (a file writes them,
    # to be made durable by the commit: sinks.py): W1 kept 130,000 Decisions, then their
    # 60 MB of lines, and a copy of those, until its first commit.
    encode_early = every_status and not audit_log
    encode_at = ENCODED_BATCH if encode_early else INFINITY
    encoded = 0  # decisions encoded since the last commit

    def encode_decided() -> None:
        nonlocal encoded
        decided = engine.take_output()
        sink.append(d.encode_lines(decided))
        encoded += len(decided)

    def commit() -> None:
        nonlocal encoded
        decided = engine.take_output()
        if encode_early:  # (the usual run: the rest of the lines, in one piece)
            sink.write([d.encode_lines(decided)], ledger)
            count = written = encoded + len(decided)
            encoded = 0
        else:
            lines = d.encode_all(decided)
            selected = lines
            if not every_status:
                selected = [
                    line
                    for decision, line in zip(decided, lines, strict=True)
                    if decision.status in statuses
                ]
            sink.write(selected, ledger)
            if audit_log:
                ledger.log_decisions(zip([x.customer_id for x in decided], lines, strict=True))
            count, written = len(decided), len(selected)
        ledger.commit()
        report.decisions += count
        report.written += written

    # Commit after `commit_every` units of work: input items and timers fired alike, so a
    # burst of timers (a long quiet spell, --flush) is committed in bounded batches too.
    counters = engine.counters
    items = committed_work = 0

    def commit_if_due() -> None:
        nonlocal committed_work
        if items + counters.timers_fired - committed_work >= commit_every:
            commit()
            committed_work = items + counters.timers_fired

    timers, ignored = ledger.timers, 0
    process, identify, handlers = engine.process, engine.identify, engine.handlers

    def fire_timers_due_before(at: float) -> None:
        while not timers.none_due_before(at) and engine.advance(at, False, commit_every):
            commit_if_due()

    # The lines no rule reads are dropped by a reader process where one can be forked, and
    # most others decoded there too (prefilter.py); else all are decoded here.
    source: Prefilter | _Decoding
    # Bytes read when to commit once more: the next of `stretches`.
    stretches: Iterator[float] = iter(())
    if prefilter and prefilter_available():
        source = Prefilter(lines, decoder.decode_line, progress)
        if input_size is not None:
            stretches = iter([input_size * share for share in LAST_STRETCHES])
    else:
        source = _Decoding(lines, decoder.decode_line, progress)
    last_stretch = next(stretches, INFINITY)
    try:
        for decoded in source:
            if type(decoded) is Event:  # decoded by the reader process: most events
                if timers.count:
                    fire_timers_due_before(decoded.timestamp)
                # (the event type's handler called here: Engine.process, one call less)
                handle = handlers.get(decoded.name)
                if handle is None:
                    process(decoded)
                else:
                    handle(decoded)
                items += 1
            elif decoded is IGNORED:
                ignored += 1
                continue
            else:
                ignored += decoded.ignored
                for rejected in decoded.rejected:
                    report.rejected += 1
                    if dead_letters is not None:
                        dead_letters.write(rejected)
                    if on_rejected is not None:
                        on_rejected(rejected)
                for item in decoded.items:
                    if timers.count:
                        fire_timers_due_before(item.timestamp)
                    if isinstance(item, Event):
                        process(item)
                    else:
                        identify(item)
                    items += 1
            if len(engine.output) >= encode_at:
                encode_decided()
            if items + counters.timers_fired - committed_work >= commit_every:
                commit_if_due()
            elif source.read >= last_stretch:  # (only a reader counts the bytes read)
                last_stretch = next(stretches, INFINITY)
                commit()
                committed_work = items + counters.timers_fired
    finally:
        source.close()
    number, ignored = source.lines, ignored + source.ignored
    report.ignored += ignored
    report.lines = number
    end = INFINITY if flush else until if until is not None else engine.clock
    while engine.advance(end, inclusive=True, budget=commit_every):
        commit_if_due()
    commit()
    report.events = counters.events
    report.trait_updates = counters.trait_updates
    report.duplicates = counters.duplicates
    report.ignored += counters.ignored
    report.late = counters.late
    report.timers_fired = counters.timers_fired
    report.timers_pending = len(ledger.timers)
    report.timers_dropped += counters.timers_dropped
    report.by_rule_status = dict(sorted(counters.by_rule_status.items()))
    return report


class _Decoding:
    """The lines decoded in this process (no reader process): what `decode` makes of each;
    `lines` counts them once they are all read. (Prefilter's interface.)"""

    ignored = 0  # (all counted by the caller, from what `decode` returns)
    read = 0  # (bytes read: not counted here)

    def __init__(
        self,
        lines: Iterable[bytes],
        decode: Callable[[bytes, int], Decoded],
        progress: Callable[[int], None] | None,
    ) -> None:
        self.source, self.decode, self.progress = lines, decode, progress
        self.lines = 0

    def __iter__(self) -> Iterator[Decoded]:
        decode, progress, number = self.decode, self.progress, 0
        if progress is None:
            for number, raw in enumerate(self.source, 1):
                yield decode(raw, number)
        else:
            for number, raw in enumerate(self.source, 1):
                progress(len(raw))
                yield decode(raw, number)
        self.lines = number

    def close(self) -> None:
        pass


def summary_table(report: RunReport) -> str:
    """The end-of-run table: decisions by rule and status, then the input counts."""
    statuses = [s for s in d.STATUSES if any(k[1] == s for k in report.by_rule_status)]
    rules = sorted({rule for rule, _ in report.by_rule_status})
    lines = []
    if rules:
        width = max(len("rule"), *(len(r) for r in rules))
        header = "rule".ljust(width) + "".join(f"  {s:>10}" for s in statuses)
        lines += [header, "-" * len(header)]
        for rule in rules:
            counts = "".join(f"  {report.by_rule_status.get((rule, s), 0):>10}" for s in statuses)
            lines.append(rule.ljust(width) + counts)
        lines.append("")
    lines.append(
        f"lines {report.lines}  events {report.events}  trait updates {report.trait_updates}  "
        f"rejected {report.rejected}  ignored {report.ignored}  duplicates {report.duplicates}  "
        f"late {report.late}"
    )
    lines.append(
        f"decisions {report.decisions} (written {report.written})  timers fired "
        f"{report.timers_fired}, pending {report.timers_pending}"
        + (
            f", dropped {report.timers_dropped} (their rule changed, is gone or is not active)"
            if report.timers_dropped
            else ""
        )
    )
    return "\n".join(lines)
