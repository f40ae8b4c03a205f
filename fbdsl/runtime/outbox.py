"""Webhook delivery of decisions from the ledger's outbox.

Decisions enter the outbox in the same commit as the state that made them (OutboxSink,
sinks.py). This deliverer reads committed entries in order, POSTs them in batches (a JSON
array of decisions, `Content-Type: application/json`, signed with `X-Fbdsl-Signature:
sha256=HMAC(secret, body)` when FBDSL_WEBHOOK_SECRET is set) and, once the receiver answers
2xx, removes them from the outbox in the next commit. Any other answer, or none, is retried
with exponential backoff (with jitter, `Retry-After` honoured, capped), forever: a decision
is never dropped, and the outbox depth (a metric) shows a receiver that keeps refusing.

Delivery is at least once: a crash after the receiver's 2xx and before the removal commits
(a few milliseconds) sends that batch again after the restart; `decision_id` lets the
receiver drop the repeat. Batches go one at a time, so decisions arrive in decision order.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import random
from functools import partial
from typing import Any

import aiohttp

from fbdsl.runtime.engine_host import EngineHost, EngineStopped
from fbdsl.runtime.metrics import Counter

log = logging.getLogger("fbdsl.webhook")


class WebhookDelivery:
    def __init__(
        self,
        host: EngineHost,
        url: str,
        *,
        secret: str | None = None,
        batch_size: int = 100,
        timeout: float = 10.0,
        backoff_base: float = 0.5,
        backoff_max: float = 60.0,
    ) -> None:
        self.host = host
        self.url = url
        self.secret = secret.encode() if secret else None
        self.batch_size = batch_size
        self.timeout = timeout
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.wakeup = asyncio.Event()
        self.closing = False
        self.task: asyncio.Task[None] | None = None
        self.requests = Counter(
            "fbdsl_webhook_requests_total",
            "Webhook POSTs by result (delivered, http_STATUS, error).",
        )
        self.delivered = Counter(
            "fbdsl_webhook_decisions_delivered_total",
            "Decisions the webhook receiver acknowledged.",
        )
        self.failing_since: float | None = None

    def notify(self, added: int) -> None:
        """New decisions were committed to the outbox (called on the event loop)."""
        self.wakeup.set()

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self.run(), name="fbdsl-webhook")

    async def close(self, timeout: float) -> None:
        """Deliver what is pending for up to `timeout` seconds; the rest stays in the outbox."""
        self.closing = True
        self.wakeup.set()
        if self.task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self.task), timeout)
        except TimeoutError:
            self.task.cancel()
            log.warning("webhook: shutdown time is up; undelivered decisions stay in the outbox")
        except (EngineStopped, asyncio.CancelledError):
            pass

    async def run(self) -> None:
        host = self.host
        cursor = 0
        connector = aiohttp.TCPConnector(limit=1)
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            while True:
                self.wakeup.clear()
                rows = await host.submit(partial(host.outbox_after, cursor, self.batch_size))
                if not rows:
                    if self.closing:
                        return
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.wakeup.wait(), 1.0)
                    continue
                if not await self._deliver(session, rows):
                    return  # closing: what is left stays in the outbox
                cursor = rows[-1][0]
                await host.submit(partial(host.outbox_done, cursor))

    async def _deliver(self, session: aiohttp.ClientSession, rows: list[tuple[int, bytes]]) -> bool:
        body = b"[" + b",".join(line.rstrip(b"\n") for _, line in rows) + b"]"
        headers = {"Content-Type": "application/json", "User-Agent": "fbdsl-webhook"}
        if self.secret is not None:
            digest = hmac.new(self.secret, body, hashlib.sha256).hexdigest()
            headers["X-Fbdsl-Signature"] = f"sha256={digest}"
        attempt = 0
        while True:
            retry_after: float | None = None
            try:
                async with session.post(self.url, data=body, headers=headers) as response:
                    await response.read()
                    if 200 <= response.status < 300:
                        self.requests.inc(result="delivered")
                        self.delivered.inc(len(rows))
                        if attempt:
                            log.info(
                                "webhook: delivering again",
                                extra={"fields": {"after_attempts": attempt + 1}},
                            )
                        return True
                    result = f"http_{response.status}"
                    retry_after = _retry_after(response.headers.get("Retry-After"))
                    problem: Any = f"HTTP {response.status}"
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                result, problem = "error", f"{type(exc).__name__}: {exc}"
            self.requests.inc(result=result)
            if self.closing:
                return False
            delay = min(self.backoff_max, self.backoff_base * 2**attempt)
            delay *= random.uniform(0.5, 1.0)
            if retry_after is not None:
                delay = min(self.backoff_max, max(delay, retry_after))
            attempt += 1
            log.warning(
                "webhook: delivery failed; retrying",
                extra={
                    "fields": {
                        "url": self.url,
                        "problem": problem,
                        "attempt": attempt,
                        "retry_in_s": round(delay, 3),
                        "decisions": len(rows),
                    }
                },
            )
            try:
                await asyncio.wait_for(self._closing(), delay)
                return False  # shutdown began while waiting
            except TimeoutError:
                pass

    async def _closing(self) -> None:
        while not self.closing:
            await self.wakeup.wait()
            self.wakeup.clear()


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
