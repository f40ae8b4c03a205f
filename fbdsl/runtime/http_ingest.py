"""The ingestion endpoints: Segment/RudderStack `POST /v1/track`, `/v1/identify`,
`/v1/batch` (Basic auth with a write key) and fbdsl's `POST /v1/events` (bearer token).

Each request: authentication (401/403), content type (415), body size (413), then the
payload goes to the engine thread, which decodes it, decides its events and commits; the
answer comes after that commit. 200 when every item was taken (`accepted`, `duplicates`,
`ignored` counts); 400 when any item was rejected, with the counts and each reason (the
items that were taken are durable all the same: resending the whole request is safe, ids
de-duplicate). Error bodies carry `code` and `message`, as the Segment API's do, so its
client reports them. 503 (with `Retry-After`) when the engine is overloaded or stopped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import orjson
from aiohttp import web

from fbdsl.runtime.engine_host import EngineStopped, IngestResult
from fbdsl.runtime.http_auth import EVENTS, SEGMENT
from fbdsl.runtime.http_payloads import Decode, native_events, segment_batch, single_call

if TYPE_CHECKING:
    from fbdsl.runtime.server import Sidecar

JSON_TYPES = frozenset({"application/json"})
NATIVE_TYPES = frozenset(
    {
        "application/json",
        "application/x-ndjson",
        "application/jsonl",
        "application/x-jsonlines",
        "application/json-seq",
    }
)
log = logging.getLogger("fbdsl.http")

ERRORS_SHOWN = 100  # reasons listed in a response (all go to the dead-letter file)


def json_response(
    status: int, document: object, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status,
        body=orjson.dumps(document),
        content_type="application/json",
        headers=headers,
    )


def error(status: int, code: str, message: str, **more: object) -> web.Response:
    headers = {"Retry-After": "1"} if status == 503 else None
    return json_response(
        status, {"success": False, "code": code, "message": message, **more}, headers
    )


async def read_body(request: web.Request, limit: int) -> bytes | web.Response:
    """The request body (decompressed), or the 413 answer past `limit` bytes."""
    too_large = error(413, "payload_too_large", f"the body is larger than {limit} bytes")
    if request.content_length is not None and request.content_length > limit:
        return too_large
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        return too_large


def _result_document(result: IngestResult) -> dict[str, object]:
    return {
        "accepted": result.accepted,
        "duplicates": result.duplicates,
        "ignored": result.ignored,
        "rejected": len(result.rejected),
    }


def ingest_handler(
    sidecar: Sidecar,
    endpoint: str,
    scope: str,
    content_types: frozenset[str],
    make_decode: Callable[[bytes], Decode],
) -> Callable[[web.Request], Awaitable[web.Response]]:
    metrics = sidecar.metrics

    async def handle(request: web.Request) -> web.Response:
        started = time.perf_counter()
        response = await _handle(request)
        elapsed = time.perf_counter() - started
        metrics.requests.inc(endpoint=endpoint, status=str(response.status))
        metrics.latency.observe(elapsed, endpoint=endpoint)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "request",
                extra={
                    "fields": {
                        "endpoint": endpoint,
                        "status": response.status,
                        "ms": round(elapsed * 1000, 3),
                        "remote": request.remote,
                    }
                },
            )
        return response

    async def _handle(request: web.Request) -> web.Response:
        if sidecar.draining:
            return error(503, "shutting_down", "the server is shutting down")
        denied = sidecar.credentials.check(request.headers.get("Authorization"), scope)
        if denied is not None:
            headers = {"WWW-Authenticate": denied.challenge} if denied.challenge else None
            return json_response(
                denied.status,
                {"success": False, "code": denied.code, "message": denied.message},
                headers,
            )
        if request.content_type not in content_types:
            given = request.headers.get("Content-Type") or "none"
            return error(
                415,
                "unsupported_media_type",
                f"Content-Type {given} is not accepted here; use "
                f"{' or '.join(sorted(content_types))}",
            )
        body = await read_body(request, sidecar.config.max_body)
        if isinstance(body, web.Response):
            return body
        if not body.strip():
            return error(400, "empty_body", "the body is empty")
        if sidecar.host.queued_events > sidecar.config.max_queued_events:
            return error(503, "overloaded", "too many events are waiting; retry shortly")
        host = sidecar.host
        decode = make_decode(body)
        weight = max(1, len(body) // 300)  # about one event per 300 bytes
        try:
            result: IngestResult = await host.submit(
                lambda: host.ingest(endpoint, decode), weight=weight, mutates=True
            )
        except EngineStopped as exc:
            return error(503, "unavailable", str(exc))
        metrics.count_ingest(endpoint, result)
        document = _result_document(result)
        if not result.rejected:
            return json_response(200, {"success": True, **document})
        reasons = [{"line": r.line, "reason": r.reason} for r in result.rejected]
        total = result.accepted + result.duplicates + result.ignored + len(result.rejected)
        message = f"{len(result.rejected)} of {total} item(s) rejected: {result.rejected[0].reason}"
        return error(
            400,
            "invalid_events",
            message,
            **document,
            errors=reasons[:ERRORS_SHOWN],
            errors_not_shown=max(0, len(reasons) - ERRORS_SHOWN),
        )

    return handle


def ingest_routes(sidecar: Sidecar) -> list[web.RouteDef]:
    def track(body: bytes) -> Decode:
        return single_call(body, "track")

    def identify(body: bytes) -> Decode:
        return single_call(body, "identify")

    return [
        web.post("/v1/track", ingest_handler(sidecar, "/v1/track", SEGMENT, JSON_TYPES, track)),
        web.post(
            "/v1/identify", ingest_handler(sidecar, "/v1/identify", SEGMENT, JSON_TYPES, identify)
        ),
        web.post(
            "/v1/batch", ingest_handler(sidecar, "/v1/batch", SEGMENT, JSON_TYPES, segment_batch)
        ),
        web.post(
            "/v1/events", ingest_handler(sidecar, "/v1/events", EVENTS, NATIVE_TYPES, native_events)
        ),
    ]
