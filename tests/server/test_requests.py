"""Auth and bad input over HTTP: every status code the ingestion endpoints answer, with the
JSON body that names the problem, the counts of a partly rejected batch, and the
dead-letter file."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.server.helpers import ADMIN_TOKEN, TOKEN, WRITE_KEY, ago, basic, bearer, brief, track

pytestmark = pytest.mark.slow


def test_auth_is_required_and_scoped(start_server: Any) -> None:
    server = start_server()
    call = track("c1", "Checkout Started", "a1", order_id="o1", value=20)
    missing = server.post("/v1/track", call)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == 'Basic realm="fbdsl"'
    assert missing.json()["code"] == "unauthorized"
    assert server.post("/v1/track", call, basic("wrong")).json()["message"] == "unknown write key"
    assert server.post("/v1/track", call, {"Authorization": "Basic !!!"}).status_code == 401
    # A valid credential of another scope is 403.
    assert server.post("/v1/track", call, {"Authorization": f"Basic {TOKEN}"}).status_code == 401
    forbidden = server.post("/v1/events", [], basic(WRITE_KEY).copy() | bearer(WRITE_KEY))
    assert forbidden.status_code == 403
    assert server.post("/v1/events", {"event": "x"}, bearer("nope")).status_code == 401
    assert server.get("/v1/decisions?customer_id=c1", bearer(TOKEN)).status_code == 403
    assert server.get("/v1/decisions?customer_id=c1").status_code == 401
    assert server.post("/v1/mode", {"mode": "crisis"}, bearer(TOKEN)).status_code == 403
    # Nothing got through.
    assert server.decisions() == []
    assert server.post("/v1/track", call, basic()).status_code == 200
    assert brief(server.wait_decisions(1)) == [("cart", "c1", "sent", "a1")]
    # Health, readiness and metrics need no credential (probes and scrapers).
    assert server.get("/healthz").status_code == 200
    assert server.get("/readyz").status_code == 200
    assert server.get("/metrics").status_code == 200


def test_the_server_refuses_to_start_without_credentials(tmp_path: Path) -> None:
    (tmp_path / "r.fbdsl").write_text(
        "event e { }\nchannel email\nsurvey s { channels: email }"
        '\nrule r when e then send survey "s"\n'
    )
    env = {"PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "fbdsl.cli",
            "serve",
            str(tmp_path / "r.fbdsl"),
            "--port",
            "0",
            "--ledger",
            ":memory:",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "no credentials" in result.stderr
    (tmp_path / "empty").write_text("# nothing\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "fbdsl.cli",
            "serve",
            str(tmp_path / "r.fbdsl"),
            "--port",
            "0",
            "--tokens-file",
            str(tmp_path / "empty"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "holds no secret" in result.stderr


def test_tokens_from_a_file_and_insecure_mode(start_server: Any, tmp_path: Path) -> None:
    (tmp_path / "tokens").write_text("# ingestion\nfile-token-1\n")
    server = start_server("--tokens-file", str(tmp_path / "tokens"))
    event = {
        "event": "checkout_started",
        "customer_id": "f1",
        "timestamp": ago(seconds=2),
        "id": "f-1",
        "properties": {"order_id": "o", "value": 50},
    }
    assert server.post("/v1/events", event, bearer("file-token-1")).status_code == 200
    other = tmp_path / "insecure"
    other.mkdir()
    open_server = start_server(
        "--insecure-no-auth",
        workdir=other,
        env={"FBDSL_WRITE_KEYS": "", "FBDSL_TOKENS": "", "FBDSL_ADMIN_TOKENS": ""},
    )
    assert open_server.post("/v1/events", event).status_code == 200
    assert open_server.get("/v1/decisions?customer_id=f1").json()["decisions"][0]["rule"] == "cart"


def test_bad_input_statuses_and_the_dead_letter_file(start_server: Any, tmp_path: Path) -> None:
    server = start_server("--max-body", "4096")
    auth = basic()
    # 415: not JSON.
    wrong_type = server.post("/v1/track", b"x=1", auth, "application/x-www-form-urlencoded")
    assert wrong_type.status_code == 415
    assert wrong_type.json()["code"] == "unsupported_media_type"
    assert server.post("/v1/events", b"{}", bearer(), "text/plain").status_code == 415
    # 413: too large, declared or (gzipped) after decompression.
    big = orjson.dumps(
        {"batch": [track("c", "Checkout Started", f"b{n}", order_id="o" * 50) for n in range(40)]}
    )
    assert len(big) > 4096
    assert server.post("/v1/batch", big, auth).status_code == 413
    squeezed = gzip.compress(big)
    assert len(squeezed) < 4096
    response = server.post("/v1/batch", squeezed, auth | {"Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    # 400: not JSON, empty, wrong shape, wrong call type.
    assert (
        server.post("/v1/track", b"{not json", auth)
        .json()["message"]
        .startswith("1 of 1 item(s) rejected: invalid JSON")
    )
    assert server.post("/v1/track", b"  ", auth).json()["code"] == "empty_body"
    assert server.post("/v1/batch", {"batch": 3}, auth).status_code == 400
    identify = server.post("/v1/track", {"type": "identify", "userId": "u"}, auth)
    assert "/v1/track takes track calls" in identify.json()["message"]
    # A batch partly rejected: 400 with the counts and each reason; the good items are taken.
    batch = {
        "batch": [
            track("c1", "Checkout Started", "g1", order_id="o1", value=20),
            track("c2", "Checkout Started", "g2", order_id="o2", value="lots"),
            {"type": "track", "userId": "c3", "event": "Checkout Started"},
            track("c4", "Page Viewed", "g4"),
            track(
                "c5", "Checkout Started", "g5", when="2999-01-01T00:00:00Z", order_id="o5", value=50
            ),
        ]
    }
    partial = server.post("/v1/batch", batch, auth)
    assert partial.status_code == 400
    body = partial.json()
    assert (body["accepted"], body["ignored"], body["rejected"]) == (1, 1, 3)
    reasons = [error["reason"] for error in body["errors"]]
    assert (
        reasons[0] == 'batch item 1: checkout_started.value must be a number, got a string "lots"'
    )
    assert reasons[1] == "batch item 2: missing 'timestamp' (an RFC 3339 time)"
    assert "ahead of the server's clock" in reasons[2]
    assert brief(server.wait_decisions(1)) == [("cart", "c1", "sent", "g1")]
    # Native endpoint: JSON lines, with a broken line among good ones.
    lines = b"\n".join(
        [
            orjson.dumps(
                {
                    "event": "checkout_started",
                    "customer_id": "n1",
                    "timestamp": ago(seconds=1),
                    "id": "n-1",
                    "properties": {"order_id": "x", "value": 99},
                }
            ),
            b"{broken",
            orjson.dumps(
                {
                    "event": "checkout_started",
                    "customer_id": "n2",
                    "timestamp": "yesterday",
                    "properties": {"order_id": "y"},
                }
            ),
        ]
    )
    native = server.post("/v1/events", lines, bearer(), "application/x-ndjson")
    assert native.status_code == 400
    assert [e["line"] for e in native.json()["errors"]] == [2, 3]
    assert native.json()["accepted"] == 1
    dead = [orjson.loads(line) for line in (tmp_path / "rejected.jsonl").read_bytes().splitlines()]
    assert [(d["endpoint"], d["reason"].split(":")[0]) for d in dead] == [
        ("/v1/track", "invalid JSON"),
        ("/v1/batch", "a batch must be a JSON object with a 'batch' list"),
        ("/v1/track", "/v1/track takes track calls, not 'identify' (use /v1/batch)"),
        ("/v1/batch", "batch item 1"),
        ("/v1/batch", "batch item 2"),
        ("/v1/batch", "'timestamp' 2999-01-01T00"),
        ("/v1/events", "invalid JSON"),
        ("/v1/events", "'timestamp' is not an RFC 3339 time"),
    ]
    assert any(d["raw"] == "{broken" for d in dead)
    metrics = server.get("/metrics").text
    assert 'fbdsl_http_requests_total{endpoint="/v1/batch",status="413"} 2' in metrics
    assert 'fbdsl_http_requests_total{endpoint="/v1/track",status="415"} 1' in metrics
    assert server.metric("fbdsl_events_rejected_total", endpoint="/v1/batch") == 4


def test_native_endpoint_takes_an_object_or_an_array(start_server: Any) -> None:
    server = start_server()
    one = {
        "event": "checkout_started",
        "customer_id": "a",
        "timestamp": ago(seconds=3),
        "id": "o-1",
        "properties": {"order_id": "1", "value": 11},
    }
    two = dict(one, customer_id="b", id="o-2")
    assert server.post("/v1/events", one, bearer()).json()["accepted"] == 1
    response = server.post("/v1/events", [two, one], bearer())
    assert response.json() == {
        "success": True,
        "accepted": 1,
        "duplicates": 1,
        "ignored": 0,
        "rejected": 0,
    }
    assert sorted(brief(server.wait_decisions(2))) == [
        ("cart", "a", "sent", "o-1"),
        ("cart", "b", "sent", "o-2"),
    ]
    assert ADMIN_TOKEN
