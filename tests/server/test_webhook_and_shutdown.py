"""The webhook outbox against a local receiver that fails and then recovers (or is not
there at all, across a kill -9), and graceful shutdown on SIGTERM with requests in flight."""

from __future__ import annotations

import hashlib
import hmac
import signal
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests

from tests.server.helpers import basic, track, wait_until

pytestmark = pytest.mark.slow

SECRET = "hook-secret"


class Receiver:
    """A webhook receiver on a free loopback port: answers `fail_first` requests with 503,
    then 200; records the decisions of the requests it accepted."""

    def __init__(self, fail_first: int = 0, port: int = 0, hang: bool = False) -> None:
        self.fail_first = fail_first
        self.requests = 0
        self.accepted: list[dict[str, Any]] = []
        self.bad_signatures = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests += 1
                if hang:
                    time.sleep(30)
                expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                if self.headers.get("X-Fbdsl-Signature") != expected:
                    receiver.bad_signatures += 1
                if receiver.requests <= receiver.fail_first:
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                receiver.accepted.extend(orjson.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _events(first: int, count: int) -> dict[str, Any]:
    return {
        "batch": [
            track(f"c{n}", "Checkout Started", f"m{n}", order_id="o", value=50)
            for n in range(first, first + count)
        ]
    }


def test_webhook_retries_until_the_receiver_recovers(start_server: Any) -> None:
    receiver = Receiver(fail_first=3)
    try:
        server = start_server(
            "--webhook", receiver.url, out=None, env={"FBDSL_WEBHOOK_SECRET": SECRET}
        )
        assert server.post("/v1/batch", _events(0, 250), basic()).status_code == 200
        assert wait_until(lambda: len(receiver.accepted) >= 250, timeout=20)
        ids = Counter(d["decision_id"] for d in receiver.accepted)
        assert len(ids) == 250 and set(ids.values()) == {1}
        assert [d["trigger"]["id"] for d in receiver.accepted] == [f"m{n}" for n in range(250)]
        assert receiver.bad_signatures == 0
        assert wait_until(lambda: server.metric("fbdsl_outbox_depth") == 0)
        assert server.metric("fbdsl_webhook_requests_total", result="http_503") == 3
        assert server.metric("fbdsl_webhook_decisions_delivered_total") == 250
        assert "webhook: delivery failed; retrying" in server.log_messages()
        assert server.stop() == 0
        # A restart does not send delivered decisions again.
        seen = receiver.requests
        again = start_server(
            "--webhook", receiver.url, out=None, env={"FBDSL_WEBHOOK_SECRET": SECRET}
        )
        time.sleep(1.5)
        assert receiver.requests == seen
        assert again.metric("fbdsl_outbox_depth") == 0
    finally:
        receiver.close()


def test_an_unreachable_webhook_loses_nothing_across_a_kill(start_server: Any) -> None:
    probe = Receiver()
    port = probe.port
    probe.close()  # nothing listens there now
    server = start_server("--webhook", f"http://127.0.0.1:{port}/hook", out=None)
    assert server.post("/v1/batch", _events(0, 40), basic()).status_code == 200
    assert wait_until(lambda: server.metric("fbdsl_outbox_depth") == 40)
    assert wait_until(lambda: server.metric("fbdsl_webhook_requests_total", result="error") >= 1)
    server.kill9()
    receiver = Receiver(port=port)
    try:
        again = start_server("--webhook", receiver.url, out=None)
        assert wait_until(lambda: len(receiver.accepted) >= 40, timeout=15)
        assert sorted(d["trigger"]["id"] for d in receiver.accepted) == sorted(
            f"m{n}" for n in range(40)
        )
        assert wait_until(lambda: again.metric("fbdsl_outbox_depth") == 0)
    finally:
        receiver.close()


def test_graceful_shutdown_with_requests_in_flight(start_server: Any, tmp_path: Path) -> None:
    server = start_server("--shutdown-timeout", "5s")
    acked: list[int] = []
    failed: list[str] = []
    started = threading.Event()

    def client(worker: int) -> None:
        for n in range(200):
            batch = _events(worker * 100_000 + n * 20, 20)
            try:
                response = server.post("/v1/batch", batch, basic())
            except requests.RequestException as exc:
                failed.append(type(exc).__name__)
                return
            started.set()
            if response.status_code == 200:
                acked.extend(range(worker * 100_000 + n * 20, worker * 100_000 + n * 20 + 20))
            else:
                assert response.status_code == 503, response.text
                assert response.json()["code"] == "shutting_down"
                return

    threads = [threading.Thread(target=client, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    assert started.wait(10)
    time.sleep(0.3)
    began = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(10) == 0
    assert time.monotonic() - began < 5
    for thread in threads:
        thread.join(10)
    assert acked
    assert "stopped" in server.log_messages()
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url + "/healthz", timeout=2)
    decided = {int(d["trigger"]["id"][1:]) for d in server.decisions()}
    assert set(acked) <= decided  # every acknowledged event was decided and written


def test_shutdown_is_bounded_when_the_webhook_hangs(start_server: Any) -> None:
    receiver = Receiver(hang=True)
    try:
        server = start_server("--webhook", receiver.url, "--shutdown-timeout", "3s", out=None)
        assert server.post("/v1/batch", _events(0, 5), basic()).status_code == 200
        assert wait_until(lambda: receiver.requests >= 1)
        began = time.monotonic()
        assert server.stop() == 0
        assert time.monotonic() - began < 4.5
        # What was not acknowledged by the receiver is still in the outbox.
        receiver.close()
        again = start_server("--webhook", "http://127.0.0.1:9/unused", out=None)
        assert again.metric("fbdsl_outbox_depth") == 5
    finally:
        receiver.server.server_close()
