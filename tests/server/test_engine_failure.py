"""An exception inside the engine stops the server: the request that hit it is answered
503 (nothing of it was committed), the process exits 1, and a restart serves again.

No input makes the engine fail (that would be a bug to fix), so the failure is injected
where a bug would strike, inside the job that feeds the engine
(`FBDSL_FAILPOINT=engine-error:N`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.server.helpers import basic, track

pytestmark = pytest.mark.slow

RULES = """
import "std/ecommerce"
import "std/channels"
survey order_nps { channels: email }
rule nps when order_completed then send survey "order_nps"
"""


def test_an_engine_error_answers_503_and_exits_1(start_server: Any, tmp_path: Path) -> None:
    (tmp_path / "rules.fbdsl").write_text(RULES)
    server = start_server()
    first = track("c1", "Order Completed", "o-1", order_id="o1", total=50)
    assert server.post("/v1/track", first, basic()).status_code == 200
    assert server.stop() == 0
    before = [d["trigger"]["id"] for d in server.decisions()]
    broken = start_server(env={"FBDSL_FAILPOINT": "engine-error:1"})
    second = track("c1", "Order Completed", "o-2", order_id="o2", total=60)
    response = broken.post("/v1/track", second, basic())
    assert response.status_code == 503
    assert response.json()["code"] == "unavailable"
    assert broken.process.wait(15) == 1
    assert any(record.get("level") == "critical" for record in broken.logs)
    # Restarted, the unacknowledged event is taken on a retry, and decided once.
    again = start_server()
    assert again.post("/v1/track", second, basic()).json()["accepted"] == 1
    decided = [d["trigger"]["id"] for d in again.wait_decisions(len(before) + 1)]
    assert decided == [*before, "o-2"]
