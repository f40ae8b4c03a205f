"""The sidecar's engine thread: the one thread that touches the engine, the ledger and the
decision sinks.

The HTTP side (event loop thread) hands work over as *jobs* (plain functions). The thread
runs them in *rounds*: it takes every job waiting (up to a bound), runs them in order, fires
the timers the wall clock has passed, then commits once: decisions to the sinks, then the
ledger transaction that makes the state, the seen ids, the audit log and the outbox durable
together (group commit, as batch runs do: see sinks.py). Only then are the jobs' results
handed back, so a request is answered 2xx only after the commit that made its events
durable. While one round commits, the next round's requests queue up, so the cost of a
commit is shared by everything that arrived meanwhile.

An exception inside the engine leaves its in-memory state half-changed: the thread then
stops without committing, every waiting request is answered 503, and the server exits
(status 1) so that a supervisor restarts it from the last commit.

Crash tests need a `kill -9` at the worst moment: with the environment variable
`FBDSL_FAILPOINT=kill-before-commit:N`, the process kills itself (SIGKILL) in the Nth
round that made decisions, after writing them to the sinks and before the ledger commit.
`FBDSL_FAILPOINT=engine-error:N` raises an exception inside the Nth job that feeds the
engine, as a bug in the engine would.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import attrs
import orjson

from fbdsl.runtime import decisions as d
from fbdsl.runtime.engine import Counters, Engine
from fbdsl.runtime.events import Decoded, Decoder, Event, Rejected
from fbdsl.runtime.fingerprints import changed_rules, drop_timers_of_changed_rules
from fbdsl.runtime.ledger import Ledger
from fbdsl.runtime.metrics import Histogram
from fbdsl.runtime.reload import RuleSet
from fbdsl.runtime.sinks import DeadLetterFile, Sink
from fbdsl.runtime.timeutil import format_time

log = logging.getLogger("fbdsl.engine")

MODE_KEY = "serve.mode"
MODE_LOG_KEY = "serve.mode_changes"
MODE_LOG_KEEP = 100


class EngineStopped(Exception):
    """The engine thread has stopped (shutdown, or a fatal error): nothing was committed."""


@attrs.define
class IngestResult:
    accepted: int = 0  # events and identify calls handed to the engine
    ignored: int = 0  # undeclared, or read by no rule
    duplicates: int = 0
    rejected: list[Rejected] = attrs.Factory(list)


@attrs.define
class Job:
    run: Callable[[], Any]
    future: asyncio.Future[Any]
    weight: int  # events it carries (bounds the size of a round)
    mutates: bool  # touches the engine: an exception is fatal


_STOP = object()


FAILPOINTS = ("kill-before-commit", "engine-error")


def _failpoint(value: str | None) -> tuple[str, int] | None:
    if not value:
        return None
    name, _, count = value.partition(":")
    if name not in FAILPOINTS or not count.isdigit():
        expected = " or ".join(f"{n}:N" for n in FAILPOINTS)
        raise ValueError(f"FBDSL_FAILPOINT: expected {expected}, not {value!r}")
    return name, int(count)


def new_engine(rules: RuleSet, ledger: Ledger, mode: str) -> tuple[Engine, Decoder]:
    """An engine and its decoder for a rule set. Touches no ledger state, so it can be built
    on any thread and swapped in on the engine thread."""
    graph = rules.graph
    engine = Engine(graph, ledger, mode=mode)
    decoder = Decoder(
        graph.events,
        graph.external_names,
        graph.traits,
        read=frozenset(engine.relevant_events),
        gates=engine.gates,
    )
    return engine, decoder


class EngineHost:
    def __init__(
        self,
        rules: RuleSet,
        ledger: Ledger,
        sinks: list[Sink],
        mode: str,
        dead_letters: DeadLetterFile | None,
        *,
        clock: Callable[[], float] = time.time,
        max_future: float = 300.0,
        tick: float = 0.25,
        round_events: int = 5000,
        timer_budget: int = 5000,
    ) -> None:
        self.rules = rules
        self.ledger = ledger
        self.sinks = sinks
        self.dead_letters = dead_letters
        self.clock = clock
        self.max_future = max_future
        self.tick = tick
        self.round_events = round_events
        self.timer_budget = timer_budget
        self.engine, self.decoder = new_engine(rules, ledger, mode)
        self.base = Counters()  # totals of the engines replaced by reloads and mode changes
        self.jobs: queue.SimpleQueue[Job | object] = queue.SimpleQueue()
        self.queued_events = 0  # weight of the jobs submitted and not yet run
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=self._run, name="fbdsl-engine", daemon=True)
        self.failed: BaseException | None = None
        self.stopped = False
        self.on_commit: Callable[[int], None] | None = None  # outbox entries added (loop side)
        self.on_fatal: Callable[[BaseException], None] | None = None
        self.snapshot: dict[str, Any] = {}
        self.commits = 0
        self.commit_histogram: Histogram | None = None
        self.timers_dropped_by_reload = 0
        self._round: list[Job] = []
        failpoint = _failpoint(os.environ.get("FBDSL_FAILPOINT"))
        self._kill_at = failpoint[1] if failpoint and failpoint[0] == "kill-before-commit" else None
        self._error_at = failpoint[1] if failpoint and failpoint[0] == "engine-error" else None
        self._deciding_rounds = 0
        self._engine_jobs = 0
        self._publish()

    # -- starting, submitting, stopping (event loop side) -----------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.thread.start()

    def submit(self, run: Callable[[], Any], weight: int = 0, mutates: bool = False) -> Any:
        """Run `run` on the engine thread; the future resolves after the round's commit."""
        assert self.loop is not None
        future: asyncio.Future[Any] = self.loop.create_future()
        if self.failed is not None or self.stopped:
            future.set_exception(EngineStopped("the engine has stopped"))
            return future
        self.queued_events += weight
        self.jobs.put(Job(run, future, weight, mutates))
        return future

    async def stop(self, timeout: float) -> bool:
        """Finish the queued jobs, commit, close the sinks and the ledger. False if the thread
        did not finish within `timeout` seconds."""
        if not self.thread.is_alive():
            return True
        self.stopped = True
        self.jobs.put(_STOP)
        deadline = time.monotonic() + timeout
        while self.thread.is_alive() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return not self.thread.is_alive()

    # -- the thread --------------------------------------------------------------------------

    def _run(self) -> None:
        more_timers = False
        try:
            self._drop_timers_of_changed_rules(startup=True)
            self.ledger.commit()
            while True:
                jobs, stop = self._take(0.0 if more_timers else self.tick)
                self._round = jobs
                done: list[tuple[Job, Any, BaseException | None]] = []
                for job in jobs:
                    self.queued_events -= job.weight
                    if job.mutates:
                        self._engine_jobs += 1
                        if self._engine_jobs == self._error_at:
                            raise RuntimeError("failpoint engine-error")
                    try:
                        done.append((job, job.run(), None))
                    except Exception as exc:
                        if job.mutates:
                            raise
                        done.append((job, None, exc))
                if not stop:
                    more_timers = self.engine.advance(self.clock(), True, self.timer_budget)
                self._commit()
                self._publish()
                self._resolve(done)
                self._round = []
                if stop:
                    break
        except BaseException as exc:  # a bug in the engine or a broken ledger: stop here
            self._fail(exc)
            return
        self._fail_queued(EngineStopped("the engine has stopped (shutdown)"))
        self._close()

    def _take(self, timeout: float) -> tuple[list[Job], bool]:
        """The jobs of the next round (waiting up to `timeout` for the first)."""
        jobs: list[Job] = []
        weight = 0
        try:
            item = self.jobs.get(timeout=timeout) if timeout > 0 else self.jobs.get_nowait()
        except queue.Empty:
            return jobs, False
        while True:
            if item is _STOP:
                return jobs, True
            assert isinstance(item, Job)
            jobs.append(item)
            weight += item.weight + 1
            if weight >= self.round_events:
                return jobs, False
            try:
                item = self.jobs.get_nowait()
            except queue.Empty:
                return jobs, False

    def _commit(self) -> None:
        started = time.perf_counter()
        decided = self.engine.take_output()
        added = 0
        if decided:
            encoded = d.encode_all(decided)
            for sink in self.sinks:
                sink.write(encoded, self.ledger)
            self.ledger.log_decisions(zip([x.customer_id for x in decided], encoded, strict=True))
            added = len(encoded)
            self._deciding_rounds += 1
            if self._deciding_rounds == self._kill_at:
                log.warning("failpoint kill-before-commit: SIGKILL")
                os.kill(os.getpid(), signal.SIGKILL)
        if self.dead_letters is not None:
            self.dead_letters.sync()
        self.ledger.commit()
        self.commits += 1
        if self.commit_histogram is not None:
            self.commit_histogram.observe(time.perf_counter() - started)
        if added and self.on_commit is not None and self.loop is not None:
            self.loop.call_soon_threadsafe(self.on_commit, added)

    def _resolve(self, done: list[tuple[Job, Any, BaseException | None]]) -> None:
        if not done or self.loop is None:
            return

        def resolve() -> None:
            for job, result, error in done:
                if job.future.done():  # the request was cancelled meanwhile
                    continue
                if error is None:
                    job.future.set_result(result)
                else:
                    job.future.set_exception(error)

        self.loop.call_soon_threadsafe(resolve)

    def _fail(self, exc: BaseException) -> None:
        self.failed = exc
        log.critical(
            "engine stopped by an internal error; nothing since the last commit was acknowledged",
            exc_info=exc,
        )
        self._fail_queued(EngineStopped(f"the engine has stopped: {exc}"), self._round)
        if self.loop is not None and self.on_fatal is not None:
            self.loop.call_soon_threadsafe(self.on_fatal, exc)
        with contextlib.suppress(Exception):  # already broken: the process goes down anyway
            self.ledger.close()

    def _fail_queued(self, error: Exception, also: list[Job] | None = None) -> None:
        """Answer every job still queued (and `also`) with `error`."""
        pending = list(also or [])
        while True:
            try:
                item = self.jobs.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, Job):
                pending.append(item)
        if not pending or self.loop is None:
            return

        def fail_all() -> None:
            for job in pending:
                if not job.future.done():
                    job.future.set_exception(error)

        self.loop.call_soon_threadsafe(fail_all)

    def _close(self) -> None:
        for sink in self.sinks:
            sink.close()
        if self.dead_letters is not None:
            self.dead_letters.close()
        self.ledger.close()

    # -- metrics -----------------------------------------------------------------------------

    def counters(self) -> Counters:
        """Totals over every engine this host has run (engine thread only)."""
        return self.base.merged(self.engine.counters)

    def _publish(self) -> None:
        """A consistent copy of the figures, for /metrics on the loop thread."""
        self.snapshot = {
            "counters": self.counters(),
            "timers_pending": len(self.ledger.timers),
            "outbox_depth": self.ledger.outbox_depth(),
            "commits": self.commits,
            "timers_dropped_by_reload": self.timers_dropped_by_reload,
            "mode": self.engine.mode,
            "rules": self.rules,
        }

    # -- jobs (run on the engine thread) -----------------------------------------------------

    def ingest(self, endpoint: str, decode: Callable[[Decoder], Decoded]) -> IngestResult:
        """Decode a request's payload and decide its events."""
        decoded = decode(self.decoder)
        engine = self.engine
        counters = engine.counters
        duplicates, ignored = counters.duplicates, counters.ignored
        result = IngestResult(ignored=decoded.ignored, rejected=list(decoded.rejected))
        horizon = self.clock() + self.max_future
        for item in decoded.items:
            if item.timestamp > horizon:
                result.rejected.append(self._too_far_ahead(item, horizon))
                continue
            if isinstance(item, Event):
                engine.process(item)
            else:
                engine.identify(item)
            result.accepted += 1
        result.duplicates = counters.duplicates - duplicates
        result.ignored += counters.ignored - ignored
        result.accepted -= result.duplicates + (counters.ignored - ignored)
        if result.rejected and self.dead_letters is not None:
            received = format_time(self.clock())
            for rejected in result.rejected:
                self.dead_letters.write(
                    {
                        "received_at": received,
                        "endpoint": endpoint,
                        "line": rejected.line,
                        "reason": rejected.reason,
                        "raw": rejected.raw,
                    }
                )
        return result

    def _too_far_ahead(self, item: Any, horizon: float) -> Rejected:
        ahead = item.timestamp - (horizon - self.max_future)
        reason = (
            f"'timestamp' {format_time(item.timestamp)} is {ahead:.0f}s ahead of the server's "
            f"clock (at most {self.max_future:.0f}s allowed): a timer would fire early"
        )
        if isinstance(item, Event):
            raw = {"event": item.name, **item.fields, "timestamp": format_time(item.timestamp)}
        else:
            raw = {
                "type": "identify",
                "userId": item.customer_id,
                "traits": item.traits,
                "timestamp": format_time(item.timestamp),
                "messageId": item.id,
            }
        return Rejected(item.line, reason, orjson.dumps(raw, default=str).decode())

    def decisions_for(self, customer_id: str, limit: int) -> list[bytes]:
        return self.ledger.decisions_for(customer_id, limit)

    def outbox_after(self, seq: int, limit: int) -> list[tuple[int, bytes]]:
        return self.ledger.outbox_after(seq, limit)

    def outbox_done(self, seq: int) -> None:
        self.ledger.outbox_done(seq)

    def ping(self) -> bool:
        """Readiness: the ledger answers a query."""
        self.ledger.meta("schema_version")
        return True

    def swap(self, rules: RuleSet, engine: Engine, decoder: Decoder) -> dict[str, Any]:
        """Put a newly built engine in place (a reload, or a mode change): the old one's
        undelivered output moves over; timers of changed rules are dropped."""
        old = self.engine
        engine.output.extend(old.take_output())
        engine.clock = old.clock
        self.base = self.base.merged(old.counters)
        previous = self.rules
        self.engine, self.decoder, self.rules = engine, decoder, rules
        dropped = self._drop_timers_of_changed_rules(startup=False)
        return {
            "timers_dropped": dropped,
            "changed": sorted(changed_rules(previous.fingerprints, rules.fingerprints)),
        }

    def set_mode(
        self, rules: RuleSet, engine: Engine, decoder: Decoder, by: str, reason: str | None
    ) -> dict[str, Any]:
        previous = self.engine.mode
        self.swap(rules, engine, decoder)
        record = {
            "at": format_time(self.clock()),
            "mode": engine.mode,
            "previous": previous,
            "by": by,
            "reason": reason,
        }
        history = orjson.loads(self.ledger.meta(MODE_LOG_KEY) or "[]")
        history = [*history, record][-MODE_LOG_KEEP:]
        self.ledger.set_meta(MODE_LOG_KEY, orjson.dumps(history).decode())
        self.ledger.set_meta(MODE_KEY, engine.mode)
        return record

    def mode_changes(self) -> list[dict[str, Any]]:
        return list(orjson.loads(self.ledger.meta(MODE_LOG_KEY) or "[]"))

    # -- timers of changed rules -------------------------------------------------------------

    def _drop_timers_of_changed_rules(self, startup: bool) -> int:
        dropped = drop_timers_of_changed_rules(self.ledger, self.rules.fingerprints)
        total = sum(dropped.values())
        self.timers_dropped_by_reload += total
        if total:
            log.warning(
                "pending timers of changed rules dropped",
                extra={"fields": {"dropped": dropped, "at_startup": startup}},
            )
        return total


def startup_mode(ledger: Ledger, given: str | None, known: list[str], now: float) -> str:
    """The mode to start in: `given` (`--mode`; a change is recorded), else the mode last
    recorded in the ledger (by `POST /v1/mode`), else default. Called before the engine
    thread starts. ValueError for a mode the rules do not declare."""
    recorded = ledger.meta(MODE_KEY)
    if given is None:
        mode = recorded if recorded in known else "default"
        if recorded is not None and recorded not in known:
            log.warning(
                "the recorded mode is not declared by these rules: starting in default",
                extra={"fields": {"recorded_mode": recorded}},
            )
        return mode
    if given not in known:
        raise ValueError(f"unknown mode {given!r} (modes: {', '.join(known)})")
    if given != (recorded or "default"):
        record = {
            "at": format_time(now),
            "mode": given,
            "previous": recorded or "default",
            "by": "command line (--mode)",
            "reason": None,
        }
        history = [*orjson.loads(ledger.meta(MODE_LOG_KEY) or "[]"), record][-MODE_LOG_KEEP:]
        ledger.set_meta(MODE_LOG_KEY, orjson.dumps(history).decode())
        ledger.set_meta(MODE_KEY, given)
        ledger.commit()
    return given
