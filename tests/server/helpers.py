"""Start the real sidecar (`python -m fbdsl.cli serve`) as a subprocess on a free loopback
port, talk to it over HTTP, read its JSON logs and decisions."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import requests

WRITE_KEY, TOKEN, ADMIN_TOKEN = "wk-test-123", "tok-test-456", "adm-test-789"

RULES = """
import "std/ecommerce"
import "std/channels"

survey order_nps { channels: email }
survey cart_exit { channels: email }
team support

policy { limit 3 contacts per 30d }

mode crisis { }

rule nps when order_completed then send survey "order_nps" after 2h
rule cart when checkout_started where value > 10 then send survey "cart_exit"
rule refund when order_refunded then create task "call_back" for support
"""


def iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ago(**delta: float) -> str:
    """An RFC 3339 time this long before now (wall clock)."""
    return iso(datetime.now(UTC) - timedelta(**delta))


def track(
    user: str, event: str, message_id: str, when: str | None = None, **properties: Any
) -> dict[str, Any]:
    return {
        "type": "track",
        "userId": user,
        "event": event,
        "messageId": message_id,
        "timestamp": when or ago(seconds=1),
        "properties": properties,
    }


def basic(key: str = WRITE_KEY) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Server:
    """One `fbdsl serve` process. `args` are extra command-line options."""

    def __init__(
        self,
        workdir: Path,
        rules: Path | None = None,
        *args: str,
        env: dict[str, str] | None = None,
        ledger: str = "ledger.sqlite",
        out: str | None = "decisions.jsonl",
    ) -> None:
        self.workdir = workdir
        if rules is None:
            rules = workdir / "rules.fbdsl"
            if not rules.exists():
                rules.write_text(RULES)
        self.rules = rules
        self.out = workdir / out if out else None
        command = [
            sys.executable,
            "-m",
            "fbdsl.cli",
            "serve",
            str(rules),
            "--port",
            "0",
            "--ledger",
            str(workdir / ledger),
            "--dead-letter",
            str(workdir / "rejected.jsonl"),
            "--watch-interval",
            "0.2",
        ]
        if self.out is not None:
            command += ["--out", str(self.out)]
        command += list(args)
        environment = {
            **os.environ,
            "FBDSL_WRITE_KEYS": WRITE_KEY,
            "FBDSL_TOKENS": TOKEN,
            "FBDSL_ADMIN_TOKENS": ADMIN_TOKEN,
            **(env or {}),
        }
        self.process = subprocess.Popen(
            command,
            cwd=workdir,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.logs: list[dict[str, Any]] = []
        self.raw_stderr: list[bytes] = []
        self.stdout = b""
        self._listening = threading.Event()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        threading.Thread(target=self._read_stdout, daemon=True).start()
        self.port = 0

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.raw_stderr.append(line)
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            self.logs.append(record)
            if record.get("msg") == "listening":
                self.port = int(record["port"])
                self._listening.set()

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.stdout += line

    def wait_listening(self, timeout: float = 20) -> Server:
        deadline = time.monotonic() + timeout
        while not self._listening.wait(0.05):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("the server did not start:\n" + self.stderr_text())
        return self

    def stderr_text(self) -> str:
        time.sleep(0.1)
        return b"".join(self.raw_stderr).decode(errors="replace")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def post(
        self,
        path: str,
        body: Any,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> requests.Response:
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        return requests.post(
            self.url + path,
            data=data,
            timeout=10,
            headers={"Content-Type": content_type, **(headers or {})},
        )

    def get(self, path: str, headers: dict[str, str] | None = None) -> requests.Response:
        return requests.get(self.url + path, headers=headers or {}, timeout=10)

    def decisions(self) -> list[dict[str, Any]]:
        assert self.out is not None
        if not self.out.exists():
            return []
        return [orjson.loads(line) for line in self.out.read_bytes().splitlines()]

    def wait_decisions(self, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.decisions()
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def metric(self, name: str, **labels: str) -> float:
        from prometheus_client.parser import text_string_to_metric_families

        text = self.get("/metrics").text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(
                    sample.labels.get(k) == v for k, v in labels.items()
                ):
                    return float(sample.value)
        return 0.0

    def log_messages(self) -> list[str]:
        return [str(record.get("msg")) for record in self.logs]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)

    def kill9(self) -> None:
        self.process.kill()
        self.process.wait(10)


def wait_until(predicate: Any, timeout: float = 10, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


def brief(decisions: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    return [(d["rule"], d["customer_id"], d["status"], d["trigger"]["id"]) for d in decisions]
