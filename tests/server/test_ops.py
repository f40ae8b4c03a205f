"""Operations endpoints: health, readiness, Prometheus metrics (parsed by the reference
parser), the audit trail of one customer, and mode switches (recorded, kept across a
restart)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.server.helpers import ADMIN_TOKEN, ago, basic, bearer, track

pytestmark = pytest.mark.slow

ADMIN = bearer(ADMIN_TOKEN)


def test_metrics_are_valid_prometheus_text(start_server: Any) -> None:
    server = start_server()
    for n in range(3):
        call = track(f"c{n}", "Checkout Started", f"m{n}", order_id="o", value=5 + 10 * n)
        assert server.post("/v1/track", call, basic()).status_code == 200
    response = server.get("/metrics")
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    for name in (
        "fbdsl_events_received",
        "fbdsl_events_rejected",
        "fbdsl_events_duplicate",
        "fbdsl_decisions",
        "fbdsl_ingest_latency_seconds",
        "fbdsl_timers_pending",
        "fbdsl_outbox_depth",
        "fbdsl_commit_duration_seconds",
    ):
        assert name in families, name
    decisions = {
        (s.labels["rule"], s.labels["status"]): s.value for s in families["fbdsl_decisions"].samples
    }
    assert decisions == {("cart", "sent"): 2}
    latency = {
        s.name: s.value
        for s in families["fbdsl_ingest_latency_seconds"].samples
        if s.labels.get("le") in (None, "+Inf")
    }
    assert latency["fbdsl_ingest_latency_seconds_count"] == 3
    assert latency["fbdsl_ingest_latency_seconds_bucket"] == 3


def test_audit_trail_of_one_customer(start_server: Any) -> None:
    server = start_server()
    calls = [
        track("a", "Checkout Started", f"a{n}", order_id=str(n), value=20, when=ago(minutes=10 - n))
        for n in range(3)
    ] + [track("b", "Checkout Started", "b0", order_id="x", value=20)]
    assert server.post("/v1/batch", {"batch": calls}, basic()).status_code == 200
    trail = server.get("/v1/decisions?customer_id=a", ADMIN).json()
    assert trail["customer_id"] == "a"
    assert [d["trigger"]["id"] for d in trail["decisions"]] == ["a0", "a1", "a2"]
    last = server.get("/v1/decisions?customer_id=a&limit=1", ADMIN).json()["decisions"]
    assert [d["trigger"]["id"] for d in last] == ["a2"]
    assert server.get("/v1/decisions?customer_id=nobody", ADMIN).json()["decisions"] == []
    assert server.get("/v1/decisions", ADMIN).status_code == 400
    assert server.get("/v1/decisions?customer_id=a&limit=0", ADMIN).status_code == 400


def test_mode_switch_is_recorded_and_survives_a_restart(start_server: Any, tmp_path: Path) -> None:
    server = start_server()
    unknown = server.post("/v1/mode", {"mode": "panic"}, ADMIN)
    assert unknown.status_code == 400
    assert unknown.json()["message"] == "unknown mode 'panic' (modes: default, crisis)"
    assert server.post("/v1/mode", b"mode=crisis", ADMIN, "text/plain").status_code == 415
    switched = server.post("/v1/mode", {"mode": "crisis", "reason": "outage"}, ADMIN)
    assert switched.status_code == 200
    assert switched.json()["previous"] == "default"
    call = track("c1", "Checkout Started", "m1", order_id="o", value=50)
    assert server.post("/v1/track", call, basic()).status_code == 200
    assert server.wait_decisions(1)[0]["mode"] == "crisis"
    assert server.get("/readyz").json()["mode"] == "crisis"
    assert "mode changed" in server.log_messages()
    assert server.stop() == 0
    again = start_server()
    mode = again.get("/v1/mode", ADMIN).json()
    assert mode["mode"] == "crisis"
    assert [(c["mode"], c["previous"], c["reason"]) for c in mode["changes"]] == [
        ("crisis", "default", "outage")
    ]
    assert mode["changes"][0]["by"].startswith("token:")
    assert ADMIN_TOKEN not in str(mode)
    assert again.stop() == 0
    # --mode on the command line wins, and is recorded too.
    third = start_server("--mode", "default")
    changes = third.get("/v1/mode", ADMIN).json()["changes"]
    assert [(c["mode"], c["by"]) for c in changes][-1] == ("default", "command line (--mode)")


def test_readyz_and_healthz(start_server: Any) -> None:
    server = start_server()
    ready = server.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["ready"] is True and body["problems"] == []
    assert body["rules"]["files"][0].endswith("rules.fbdsl")
    assert server.get("/healthz").json() == {"alive": True}
