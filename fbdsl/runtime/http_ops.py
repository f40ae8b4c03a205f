"""The operations endpoints of the sidecar.

- `GET /healthz`: the process answers (200), even while it shuts down.
- `GET /readyz`: 200 when the rules are loaded, the engine thread runs and the ledger
  answers a query, else 503; the body says which, names the rule set and the mode, and
  carries the diagnostics of the last reload that failed (the old rules keep running).
- `GET /metrics`: Prometheus text format.
- `GET /v1/decisions?customer_id=C[&limit=N]`: the audit trail of one customer (admin).
- `GET /v1/mode`, `POST /v1/mode {"mode": M, "reason": "..."}`: the active mode and its
  recorded changes; switch it (admin; recorded in the ledger and the log).
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import TYPE_CHECKING

import orjson
from aiohttp import web

from fbdsl.runtime import metrics as m
from fbdsl.runtime.engine_host import EngineStopped
from fbdsl.runtime.http_auth import ADMIN
from fbdsl.runtime.http_ingest import JSON_TYPES, error, json_response, read_body
from fbdsl.runtime.timeutil import format_time

if TYPE_CHECKING:
    from fbdsl.runtime.server import Sidecar

READY_TIMEOUT = 2.0
DECISIONS_LIMIT, DECISIONS_MAX = 1000, 10000


def _admin(sidecar: Sidecar, request: web.Request) -> web.Response | None:
    denied = sidecar.credentials.check(request.headers.get("Authorization"), ADMIN)
    if denied is None:
        return None
    headers = {"WWW-Authenticate": denied.challenge} if denied.challenge else None
    return json_response(
        denied.status, {"success": False, "code": denied.code, "message": denied.message}, headers
    )


def caller(request: web.Request) -> str:
    """Who made an admin call, for the record: a short hash of the token, never the token."""
    header = request.headers.get("Authorization", "")
    if not header:
        return "anonymous (--insecure-no-auth)"
    return "token:" + hashlib.sha256(header.encode()).hexdigest()[:10]


def ops_routes(sidecar: Sidecar) -> list[web.RouteDef]:
    async def healthz(request: web.Request) -> web.Response:
        return json_response(200, {"alive": True})

    async def readyz(request: web.Request) -> web.Response:
        problems = []
        host = sidecar.host
        if sidecar.draining:
            problems.append("shutting down")
        if host.failed is not None:
            problems.append(f"engine stopped: {host.failed}")
        else:
            try:
                await asyncio.wait_for(host.submit(host.ping), READY_TIMEOUT)
            except TimeoutError:
                problems.append(f"the engine did not answer within {READY_TIMEOUT:g}s")
            except Exception as exc:
                problems.append(f"ledger unreachable: {exc}")
        rules = host.rules
        document = {
            "ready": not problems,
            "problems": problems,
            "rules": {
                "files": list(rules.files),
                "rules": len(rules.graph.rules),
                "digest": rules.digest,
                "loaded_at": format_time(rules.loaded_at),
            },
            "mode": host.engine.mode,
            "last_reload": sidecar.last_reload,
        }
        return json_response(200 if not problems else 503, document)

    async def metrics(request: web.Request) -> web.Response:
        body = m.render(sidecar.metric_families())
        return web.Response(body=body, headers={"Content-Type": m.CONTENT_TYPE})

    async def decisions(request: web.Request) -> web.Response:
        denied = _admin(sidecar, request)
        if denied is not None:
            return denied
        customer = request.query.get("customer_id")
        if not customer:
            return error(400, "missing_customer_id", "give ?customer_id=...")
        try:
            limit = int(request.query.get("limit", DECISIONS_LIMIT))
        except ValueError:
            return error(400, "bad_limit", "limit must be an integer")
        if not 1 <= limit <= DECISIONS_MAX:
            return error(400, "bad_limit", f"limit must be between 1 and {DECISIONS_MAX}")
        host = sidecar.host
        try:
            lines = await host.submit(lambda: host.decisions_for(customer, limit))
        except EngineStopped as exc:
            return error(503, "unavailable", str(exc))
        body = (
            b'{"customer_id":'
            + orjson.dumps(customer)
            + b',"decisions":['
            + b",".join(line.rstrip(b"\n") for line in lines)
            + b"]}"
        )
        return web.Response(body=body, content_type="application/json")

    async def get_mode(request: web.Request) -> web.Response:
        denied = _admin(sidecar, request)
        if denied is not None:
            return denied
        host = sidecar.host
        try:
            changes = await host.submit(host.mode_changes)
        except EngineStopped as exc:
            return error(503, "unavailable", str(exc))
        modes = ["default", *host.rules.graph.modes]
        return json_response(200, {"mode": host.engine.mode, "modes": modes, "changes": changes})

    async def post_mode(request: web.Request) -> web.Response:
        denied = _admin(sidecar, request)
        if denied is not None:
            return denied
        if request.content_type not in JSON_TYPES:
            return error(415, "unsupported_media_type", 'send {"mode": ...} as application/json')
        body = await read_body(request, sidecar.config.max_body)
        if isinstance(body, web.Response):
            return body
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return error(400, "invalid_json", f"invalid JSON: {exc}")
        mode = document.get("mode") if isinstance(document, dict) else None
        reason = document.get("reason") if isinstance(document, dict) else None
        if not isinstance(mode, str) or not mode:
            return error(400, "missing_mode", 'give {"mode": NAME}')
        if reason is not None and not isinstance(reason, str):
            return error(400, "bad_reason", "'reason' must be a string")
        outcome = await sidecar.switch_mode(mode, caller(request), reason)
        if isinstance(outcome, str):
            return error(400, "unknown_mode", outcome)
        return json_response(200, {"success": True, **outcome})

    return [
        web.get("/healthz", healthz),
        web.get("/readyz", readyz),
        web.get("/metrics", metrics),
        web.get("/v1/decisions", decisions),
        web.get("/v1/mode", get_mode),
        web.post("/v1/mode", post_mode),
    ]
