"""Wall-clock timers fire without new events; hot reload swaps a good rule set in (timers
of unchanged rules survive, those of a changed rule are dropped) and keeps the old one when
the new one does not check, on a file change or on SIGHUP."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from tests.server.helpers import ago, basic, brief, track, wait_until

pytestmark = pytest.mark.slow

DELAYED = """
import "std/ecommerce"
import "std/channels"
survey order_nps { channels: email }
survey cart_exit { channels: email }
rule nps when order_completed then send survey "order_nps" after 2h
rule later when checkout_started then send survey "cart_exit" after 2h
"""


def test_a_delayed_survey_is_sent_when_its_time_comes_without_new_events(
    start_server: Any,
) -> None:
    server = start_server()
    # Ordered 2h minus 2s ago: the survey is due in 2 seconds, and nothing else will arrive.
    call = track("c1", "Order Completed", "o-1", when=ago(hours=2, seconds=-2), order_id="o1")
    assert server.post("/v1/track", call, basic()).status_code == 200
    assert server.decisions() == []
    assert server.metric("fbdsl_timers_pending") == 1
    decisions = server.wait_decisions(1, timeout=10)
    assert brief(decisions) == [("nps", "c1", "sent", "o-1")]
    assert server.metric("fbdsl_timers_pending") == 0
    assert server.metric("fbdsl_timers_fired_total") == 1


def _digest(server: Any) -> str:
    return str(server.get("/readyz").json()["rules"]["digest"])


def test_hot_reload_good_then_broken(start_server: Any, tmp_path: Path) -> None:
    rules = tmp_path / "rules.fbdsl"
    rules.write_text(DELAYED)
    server = start_server()
    before = _digest(server)
    due_in_3s = ago(hours=2, seconds=-3)
    for call in (
        track("c1", "Order Completed", "o-1", when=due_in_3s, order_id="o1"),
        track("c2", "Checkout Started", "k-1", when=due_in_3s, order_id="o2"),
    ):
        assert server.post("/v1/track", call, basic()).status_code == 200
    assert server.metric("fbdsl_timers_pending") == 2
    # `later` changes (a longer delay), a new rule appears, `nps` stays as it was.
    rules.write_text(
        DELAYED.replace('"cart_exit" after 2h', '"cart_exit" after 3h')
        + 'rule refund when order_refunded then send survey "order_nps"\n'
    )
    assert wait_until(lambda: _digest(server) != before, timeout=10)
    ready = server.get("/readyz").json()
    assert ready["ready"] is True
    assert ready["rules"]["rules"] == 3
    assert ready["last_reload"]["ok"] is True
    assert ready["last_reload"]["changed"] == ["later"]
    assert ready["last_reload"]["timers_dropped"] == 1
    assert server.metric("fbdsl_timers_dropped_total", reason="rule_changed") == 1
    assert server.metric("fbdsl_timers_pending") == 1
    refund = track("c3", "Order Refunded", "r-1", order_id="o3")
    assert server.post("/v1/track", refund, basic()).status_code == 200
    # The unchanged rule's timer survived the reload and fires; the changed one's did not.
    decisions = server.wait_decisions(2, timeout=10)
    assert sorted(brief(decisions)) == [
        ("nps", "c1", "sent", "o-1"),
        ("refund", "c3", "sent", "r-1"),
    ]
    # A broken file: the old rules stay, /readyz says why.
    good = _digest(server)
    rules.write_text(rules.read_text() + "rule broken when order_completed then send survey\n")
    assert wait_until(lambda: server.get("/readyz").json()["last_reload"]["ok"] is False)
    ready = server.get("/readyz").json()
    assert ready["ready"] is True
    assert ready["rules"]["digest"] == good
    assert "error[" in ready["last_reload"]["diagnostics"]
    assert "rules.fbdsl:" in ready["last_reload"]["diagnostics"]
    assert "reload rejected: the running rules stay" in server.log_messages()
    refund = track("c4", "Order Refunded", "r-2", order_id="o4")
    assert server.post("/v1/track", refund, basic()).status_code == 200
    assert ("refund", "c4", "sent", "r-2") in brief(server.wait_decisions(3))
    assert server.metric("fbdsl_reloads_total", result="failed") == 1
    assert server.stop() == 0


def test_sighup_reloads_when_watching_is_off(start_server: Any, tmp_path: Path) -> None:
    rules = tmp_path / "rules.fbdsl"
    rules.write_text(DELAYED)
    server = start_server("--watch-interval", "0")
    before = _digest(server)
    rules.write_text(DELAYED + 'rule refund when order_refunded then send survey "order_nps"\n')
    assert not wait_until(lambda: _digest(server) != before, timeout=1.5)
    server.process.send_signal(signal.SIGHUP)
    assert wait_until(lambda: _digest(server) != before, timeout=10)
    assert server.get("/readyz").json()["last_reload"]["trigger"] == "SIGHUP"


def test_a_reload_that_starts_reading_a_history_field_counts_the_history_kept_before(
    start_server: Any, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.fbdsl"
    counting = DELAYED + (
        "rule regular when order_completed and count(order_completed within 30d) > 5\n"
        'then send survey "cart_exit"\n'
    )
    rules.write_text(counting)
    server = start_server()
    before = _digest(server)
    for number, total in ((1, 50), (2, 60)):
        call = track("c1", "Order Completed", f"o-{number}", order_id=f"o{number}", total=total)
        assert server.post("/v1/track", call, basic()).status_code == 200
    rules.write_text(
        counting.replace(
            "count(order_completed within 30d) > 5",
            "count(order_completed where total > 10 within 30d) > 2",
        )
    )
    assert wait_until(lambda: _digest(server) != before, timeout=10)
    assert server.get("/readyz").json()["last_reload"]["result"] == "ok"
    third = track("c1", "Order Completed", "o-3", order_id="o3", total=70)
    assert server.post("/v1/track", third, basic()).status_code == 200
    regular = [d for d in server.decisions() if d["rule"] == "regular"]
    assert [(d["status"], d["trigger"]["id"]) for d in regular] == [("sent", "o-3")]
