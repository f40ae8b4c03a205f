"""`kill -9` between accepting events and committing their decisions, then a restart and
the client's retry: nothing acknowledged is lost, nothing is decided or written twice."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.server.helpers import ADMIN_TOKEN, ago, basic, bearer, track

pytestmark = pytest.mark.slow


def _batch(first: int, count: int) -> dict[str, Any]:
    return {
        "batch": [
            track(
                f"c{n}",
                "Checkout Started",
                f"m{n}",
                when=ago(seconds=5),
                order_id=f"o{n}",
                value=50,
            )
            for n in range(first, first + count)
        ]
    }


def test_kill_between_accept_and_commit_then_restart(start_server: Any, tmp_path: Path) -> None:
    server = start_server(env={"FBDSL_FAILPOINT": "kill-before-commit:2"})
    assert server.post("/v1/batch", _batch(0, 3), basic()).status_code == 200
    # A pending timer made before the crash must fire once after it.
    delayed = track("d1", "Order Completed", "t1", when=ago(hours=2, seconds=-3), order_id="x")
    assert server.post("/v1/track", delayed, basic()).status_code == 200
    with pytest.raises(requests.ConnectionError):
        server.post("/v1/batch", _batch(3, 3), basic())  # decided, written, never committed
    assert server.process.wait(10) == -9
    assert len(server.decisions()) == 6  # the file holds the uncommitted batch...
    again = start_server()  # ...which the restart cuts off
    assert len(again.decisions()) == 3
    # The client retries what was not acknowledged (and, to be sure, what was).
    assert again.post("/v1/batch", _batch(3, 3), basic()).json()["accepted"] == 3
    assert again.post("/v1/batch", _batch(0, 3), basic()).json()["duplicates"] == 3
    decisions = again.wait_decisions(7, timeout=10)
    ids = Counter(d["trigger"]["id"] for d in decisions)
    assert ids == Counter({f"m{n}": 1 for n in range(6)} | {"t1": 1})
    audit = [
        again.get(f"/v1/decisions?customer_id=c{n}", bearer(ADMIN_TOKEN)).json() for n in range(6)
    ]
    assert [len(a["decisions"]) for a in audit] == [1] * 6
    assert again.stop() == 0


def test_random_kills_under_load(start_server: Any, tmp_path: Path) -> None:
    """A client posts batches in order and retries every unacknowledged one after each
    restart; the server is killed at random moments. The decisions file ends up with
    exactly one decision per event."""
    rng = random.Random(5)
    batches = [_batch(n * 20, 20) for n in range(400)]
    acked: set[int] = set()
    interrupted: list[int] = []
    for _round in range(4):
        server = start_server()
        stop = threading.Event()

        def client(server: Any = server, stop: threading.Event = stop) -> None:
            for index, batch in enumerate(batches):
                if stop.is_set():
                    return
                if index in acked:
                    continue
                try:
                    response = server.post("/v1/batch", batch, basic())
                except requests.RequestException:
                    interrupted.append(index)  # killed with this batch in flight
                    return
                if response.status_code == 200:
                    acked.add(index)

        thread = threading.Thread(target=client)
        thread.start()
        time.sleep(rng.uniform(0.05, 0.3))
        server.kill9()
        stop.set()
        thread.join(15)
    assert len(interrupted) >= 2  # kills landed with requests in flight
    server = start_server()
    for batch in batches:  # the final retry of everything
        assert server.post("/v1/batch", batch, basic()).status_code == 200
    decisions = server.wait_decisions(8000, timeout=20)
    ids = Counter(d["trigger"]["id"] for d in decisions)
    assert len(ids) == 8000
    assert set(ids.values()) == {1}
    assert server.stop() == 0
