"""The sidecar (`fbdsl serve`): an aiohttp server around one engine thread.

The event loop thread speaks HTTP (http_ingest.py, http_ops.py), watches the rule files,
delivers the webhook (outbox.py) and handles signals; the engine thread (engine_host.py)
owns the engine, the ledger and the sinks. Lifecycle:

- start: bind the port (a `listening` log line names it), start the engine thread, which
  first drops the pending timers of rules changed since the ledger last ran, then ticks
  the wall clock so that timers fire without new events;
- SIGHUP or a changed rule file: reload (compile off the loop; swap in on the engine
  thread if it checks, else keep the old rules and report why);
- SIGTERM or SIGINT: stop accepting, let in-flight requests finish, deliver what the
  outbox holds while time allows, commit and close the ledger, exit 0; all within
  `shutdown_timeout` seconds.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import time
from pathlib import Path
from typing import Any

import attrs
from aiohttp import web

from fbdsl.runtime import metrics as m
from fbdsl.runtime.engine_host import EngineHost, EngineStopped, new_engine
from fbdsl.runtime.http_auth import Credentials
from fbdsl.runtime.http_ingest import ingest_routes
from fbdsl.runtime.http_ops import ops_routes
from fbdsl.runtime.outbox import WebhookDelivery
from fbdsl.runtime.reload import (
    CompileFailure,
    RuleFilesWatcher,
    RuleSet,
    compile_rule_set,
)
from fbdsl.runtime.timeutil import format_time

log = logging.getLogger("fbdsl.server")


@attrs.define
class ServeConfig:
    rules: list[Path]
    host: str = "127.0.0.1"
    port: int = 8080
    max_body: int = 1 << 20
    shutdown_timeout: float = 10.0
    watch_interval: float = 1.0  # 0: no polling (SIGHUP only)
    max_queued_events: int = 100_000
    webhook: str | None = None
    webhook_secret: str | None = None
    webhook_batch: int = 100


class Sidecar:
    def __init__(self, config: ServeConfig, credentials: Credentials, host: EngineHost) -> None:
        self.config = config
        self.credentials = credentials
        self.host = host
        self.metrics = m.SidecarMetrics()
        host.commit_histogram = self.metrics.commit
        self.draining = False
        self.last_reload: dict[str, Any] | None = None
        self.swap_lock = asyncio.Lock()
        self.stopped = asyncio.Event()
        self.exit_code = 0
        self.webhook: WebhookDelivery | None = None
        if config.webhook:
            self.webhook = WebhookDelivery(
                host, config.webhook, secret=config.webhook_secret, batch_size=config.webhook_batch
            )
            host.on_commit = self.webhook.notify
        host.on_fatal = self._engine_failed
        self.app = web.Application(client_max_size=config.max_body)
        self.app.add_routes(ingest_routes(self) + ops_routes(self))
        self.runner = web.AppRunner(
            self.app, access_log=None, shutdown_timeout=config.shutdown_timeout / 2
        )
        self.port = config.port
        self._tasks: list[asyncio.Task[Any]] = []

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.config.host, self.config.port)
        await site.start()
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]
        self.host.start(loop)
        if self.webhook is not None:
            self.webhook.start()
        if self.config.watch_interval > 0:
            self._tasks.append(loop.create_task(self._watch(), name="fbdsl-watch"))
        self._tasks.append(loop.create_task(_freeze_survivors(), name="fbdsl-gc"))
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.begin_shutdown, signum)
        loop.add_signal_handler(signal.SIGHUP, self._reload_soon, "SIGHUP")
        rules = self.host.rules
        log.info(
            "listening",
            extra={
                "fields": {
                    "host": self.config.host,
                    "port": self.port,
                    "rules": len(rules.graph.rules),
                    "digest": rules.digest,
                    "mode": self.host.engine.mode,
                    "webhook": self.config.webhook is not None,
                }
            },
        )

    def begin_shutdown(self, signum: int | None = None) -> None:
        if not self.draining:
            name = signal.Signals(signum).name if signum else "request"
            log.info("shutting down", extra={"fields": {"signal": name}})
            self.draining = True
            self.stopped.set()

    def _engine_failed(self, exc: BaseException) -> None:
        self.exit_code = 1
        self.begin_shutdown()

    async def run(self) -> int:
        """Serve until SIGTERM/SIGINT (or an engine failure); then shut down."""
        await self.start()
        await self.stopped.wait()
        return await self.shutdown()

    async def shutdown(self) -> int:
        started = time.monotonic()
        budget = self.config.shutdown_timeout

        def left() -> float:
            return max(0.1, budget - (time.monotonic() - started))

        self.draining = True
        for task in self._tasks:
            task.cancel()
        await self.runner.cleanup()  # stop listening; in-flight requests finish
        if self.webhook is not None:
            await self.webhook.close(left() * 0.5)
        finished = await self.host.stop(left())
        if not finished:
            log.error(
                "the engine thread did not finish in time; exiting anyway (answered "
                "requests were committed before their answers)"
            )
            self.exit_code = 1
        if self.host.failed is not None:
            self.exit_code = 1
        log.info(
            "stopped",
            extra={
                "fields": {
                    "seconds": round(time.monotonic() - started, 3),
                    "exit_code": self.exit_code,
                }
            },
        )
        return self.exit_code

    # -- reload and mode ---------------------------------------------------------------------

    def _reload_soon(self, trigger: str) -> None:
        asyncio.get_running_loop().create_task(self.reload(trigger))

    async def _watch(self) -> None:
        watcher = RuleFilesWatcher(self.config.rules)
        while True:
            await asyncio.sleep(self.config.watch_interval)
            if not await asyncio.to_thread(watcher.changed):
                continue
            # Editors write in steps: wait until the files stay put for a moment.
            while True:
                await asyncio.sleep(0.2)
                if not await asyncio.to_thread(watcher.changed):
                    break
            await self.reload("file change")

    async def reload(self, trigger: str) -> dict[str, Any]:
        """Compile the rule set again and swap it in if it checks (see the module doc)."""
        async with self.swap_lock:
            started = time.time()
            compiled = await asyncio.to_thread(compile_rule_set, self.config.rules)
            host = self.host
            mode = host.engine.mode
            problem: str | None = None
            if isinstance(compiled, CompileFailure):
                result = "failed"
                problem = compiled.diagnostics
            elif mode != "default" and mode not in compiled.graph.modes:
                result, problem = "refused", f"the active mode {mode!r} is not declared any more"
            else:
                result = "ok"
                if compiled.digest != host.rules.digest:
                    engine, decoder = await asyncio.to_thread(
                        new_engine, compiled, host.ledger, mode
                    )
            record: dict[str, Any] = {
                "ok": result == "ok",
                "at": format_time(started),
                "trigger": trigger,
                "result": result,
            }
            if problem is not None:
                record["diagnostics"] = problem
                self.metrics.reloads.inc(result=result)
                self.last_reload = record
                log.error("reload rejected: the running rules stay", extra={"fields": record})
                return record
            assert isinstance(compiled, RuleSet)
            if compiled.digest == host.rules.digest:
                record["result"] = "unchanged"
                self.metrics.reloads.inc(result="unchanged")
                self.last_reload = record
                log.info("reload: the rule set did not change", extra={"fields": record})
                return record
            try:
                outcome = await host.submit(
                    lambda: host.swap(compiled, engine, decoder), mutates=True
                )
            except EngineStopped as exc:
                record.update(ok=False, result="failed", diagnostics=str(exc))
                self.last_reload = record
                return record
            record.update(rules=len(compiled.graph.rules), digest=compiled.digest, **outcome)
            self.metrics.reloads.inc(result="ok")
            self.last_reload = record
            log.info("rules reloaded", extra={"fields": record})
            return record

    async def switch_mode(self, mode: str, by: str, reason: str | None) -> dict[str, Any] | str:
        """Switch the active mode; the error text for an unknown mode."""
        async with self.swap_lock:
            host = self.host
            rules = host.rules
            if mode != "default" and mode not in rules.graph.modes:
                known = ", ".join(["default", *rules.graph.modes])
                return f"unknown mode {mode!r} (modes: {known})"
            engine, decoder = await asyncio.to_thread(new_engine, rules, host.ledger, mode)
            record: dict[str, Any] = await host.submit(
                lambda: host.set_mode(rules, engine, decoder, by, reason), mutates=True
            )
            log.warning("mode changed", extra={"fields": record})
            return record

    # -- metrics -----------------------------------------------------------------------------

    def metric_families(self) -> list[m.Family]:
        snapshot = self.host.snapshot
        counters = snapshot["counters"]
        metrics = self.metrics
        families = [
            metrics.received.family(),
            metrics.accepted.family(),
            metrics.rejected.family(),
            metrics.duplicates.family(),
            metrics.ignored.family(),
            metrics.requests.family(),
            metrics.latency.family(),
            metrics.commit.family(),
            metrics.reloads.family(),
        ]
        decisions = m.Family("fbdsl_decisions_total", "counter", "Decisions by rule and status.")
        for (rule, status), count in sorted(counters.by_rule_status.items()):
            decisions.add(count, rule=rule, status=status)
        families.append(decisions)
        families += [
            m.Family(
                "fbdsl_events_processed_total", "counter", "Events the engine decided on."
            ).add(counters.events),
            m.Family("fbdsl_trait_updates_total", "counter", "Identify calls applied.").add(
                counters.trait_updates
            ),
            m.Family(
                "fbdsl_events_late_total", "counter", "Events older than their customer's newest."
            ).add(counters.late),
            m.Family("fbdsl_timers_pending", "gauge", "Timers waiting to fire.").add(
                snapshot["timers_pending"]
            ),
            m.Family("fbdsl_timers_fired_total", "counter", "Timers fired.").add(
                counters.timers_fired
            ),
            m.Family(
                "fbdsl_timers_dropped_total",
                "counter",
                "Timers dropped: rule inactive in the mode or gone, or changed by a reload.",
            )
            .add(counters.timers_dropped, reason="rule_inactive")
            .add(snapshot["timers_dropped_by_reload"], reason="rule_changed"),
            m.Family("fbdsl_outbox_depth", "gauge", "Decisions waiting for webhook delivery.").add(
                snapshot["outbox_depth"]
            ),
            m.Family("fbdsl_commits_total", "counter", "Ledger group commits.").add(
                snapshot["commits"]
            ),
            m.Family("fbdsl_rules_loaded", "gauge", "Rules in the running rule set.").add(
                len(snapshot["rules"].graph.rules)
            ),
            m.Family("fbdsl_rules_info", "gauge", "The running rule set and mode.").add(
                1, digest=snapshot["rules"].digest, mode=snapshot["mode"]
            ),
            m.Family("fbdsl_engine_up", "gauge", "1 while the engine thread runs.").add(
                0 if self.host.failed is not None else 1
            ),
        ]
        if self.webhook is not None:
            families += [self.webhook.requests.family(), self.webhook.delivered.family()]
        return families


GC_FREEZE_EVERY = 1.0  # seconds


async def _freeze_survivors() -> None:
    """Keep the cyclic garbage collector's passes short.

    The ledger's state cache is a large, long-lived heap; a full collection walks all of
    it (hundreds of ms with 100,000 customers), and raising the thresholds only makes each
    young collection long instead (40-70 ms measured at 200,000). So every few seconds the
    survivors are frozen (`gc.freeze`): collections then walk only what is younger. Frozen
    objects are still freed by reference counting; only a reference cycle that lived
    through a freeze is never collected, and the engine makes almost none."""
    gc.collect()
    while True:
        gc.freeze()
        await asyncio.sleep(GC_FREEZE_EVERY)
