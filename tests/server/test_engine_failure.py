"""An exception inside the engine stops the server: the request that hit it is answered
503 (nothing of it was committed), the process exits 1, and a restart serves again.

The failure used is real: the engine cannot evaluate `count(E where F ...)` on history
entries kept without F (they were recorded under rules that did not read F), here after a
restart with changed rules (a reload refuses that change; a restart cannot know)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.server.helpers import basic, track

pytestmark = pytest.mark.slow

COUNTING = """
import "std/ecommerce"
import "std/channels"
survey order_nps { channels: email }
rule regular when order_completed and count(order_completed WHERE within 30d) > 0
then send survey "order_nps"
"""


def test_an_engine_error_answers_503_and_exits_1(start_server: Any, tmp_path: Path) -> None:
    rules = tmp_path / "rules.fbdsl"
    rules.write_text(COUNTING.replace("WHERE ", ""))
    server = start_server()
    first = track("c1", "Order Completed", "o-1", order_id="o1", total=50)
    assert server.post("/v1/track", first, basic()).status_code == 200
    assert server.stop() == 0
    before = [d["trigger"]["id"] for d in server.decisions()]
    rules.write_text(COUNTING.replace("WHERE", "where total > 10"))
    broken = start_server()
    second = track("c1", "Order Completed", "o-2", order_id="o2", total=60)
    response = broken.post("/v1/track", second, basic())
    assert response.status_code == 503
    assert response.json()["code"] == "unavailable"
    assert broken.process.wait(15) == 1
    assert any(record.get("level") == "critical" for record in broken.logs)
    # Back on rules the ledger can serve, the unacknowledged event is taken on a retry.
    rules.write_text(COUNTING.replace("WHERE ", ""))
    again = start_server()
    assert again.post("/v1/track", second, basic()).json()["accepted"] == 1
    decided = [d["trigger"]["id"] for d in again.wait_decisions(len(before) + 1)]
    assert decided == [*before, "o-2"]
