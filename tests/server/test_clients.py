"""The real Segment and RudderStack Python clients, pointed at the sidecar, just work:
their batches (plain and gzipped) are decided, identify calls update the profile, and the
decisions come out in the decisions file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.server.helpers import WRITE_KEY, brief, wait_until

RULES_WITH_TIER = """
import "std/ecommerce"
import "std/channels"
customer { tier: "basic" | "premium" = "basic" }
survey cart_exit { channels: email }
rule premium_cart when checkout_started where customer.tier == "premium"
then send survey "cart_exit"
"""


@pytest.mark.slow
@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
def test_segment_client_batches_are_decided(start_server: Any, tmp_path: Any, gzip: bool) -> None:
    from segment.analytics import Client

    (tmp_path / "rules.fbdsl").write_text(RULES_WITH_TIER)
    server = start_server()
    errors: list[Any] = []
    client = Client(
        WRITE_KEY,
        host=server.url,
        gzip=gzip,
        upload_size=50,
        on_error=lambda error, items: errors.append(error),
    )
    now = datetime.now(UTC)
    for n in range(120):
        customer = f"c{n}"
        when = now - timedelta(seconds=30)
        if n % 2 == 0:
            client.identify(
                customer,
                {"tier": "premium", "email": "x@example.com"},
                timestamp=when - timedelta(seconds=1),
                message_id=f"id-{n}",
            )
        client.track(
            customer,
            "Checkout Started",
            {"order_id": f"o{n}", "value": 20},
            timestamp=when,
            message_id=f"m-{n}",
        )
        client.track(customer, "Page Viewed", {"path": "/"}, timestamp=when, message_id=f"p-{n}")
    client.flush()
    client.shutdown()
    assert errors == []
    decisions = server.wait_decisions(60)
    assert sorted(brief(decisions)) == sorted(
        ("premium_cart", f"c{n}", "sent", f"m-{n}") for n in range(0, 120, 2)
    )
    assert server.metric("fbdsl_events_accepted_total", endpoint="/v1/batch") == 180
    assert server.metric("fbdsl_events_ignored_total", endpoint="/v1/batch") == 120
    assert server.metric("fbdsl_trait_updates_total") == 60
    assert server.stop() == 0


@pytest.mark.slow
def test_a_resent_segment_batch_is_not_decided_twice(start_server: Any, tmp_path: Any) -> None:
    from segment.analytics import Client

    (tmp_path / "rules.fbdsl").write_text(RULES_WITH_TIER)
    server = start_server()
    when = datetime.now(UTC) - timedelta(minutes=1)
    for _attempt in range(2):  # the same messageIds twice, as a client retry sends them
        client = Client(WRITE_KEY, host=server.url, sync_mode=True)
        client.identify("c1", {"tier": "premium"}, timestamp=when, message_id="i1")
        client.track("c1", "Checkout Started", {"order_id": "o1"}, timestamp=when, message_id="t1")
    assert wait_until(lambda: len(server.decisions()) >= 1)
    assert brief(server.decisions()) == [("premium_cart", "c1", "sent", "t1")]
    assert server.metric("fbdsl_events_duplicate_total", endpoint="/v1/batch") == 2


@pytest.mark.slow
def test_rudderstack_client_batches_are_decided(start_server: Any, tmp_path: Any) -> None:
    from rudderstack.analytics.client import Client

    (tmp_path / "rules.fbdsl").write_text(RULES_WITH_TIER)
    server = start_server()
    errors: list[Any] = []
    client = Client(WRITE_KEY, host=server.url, on_error=lambda e, items: errors.append(e))
    when = datetime.now(UTC) - timedelta(seconds=10)
    client.identify("r1", {"tier": "premium"}, timestamp=when - timedelta(seconds=1))
    client.track("r1", "Checkout Started", {"order_id": "o9"}, timestamp=when, message_id="rs-1")
    client.flush()
    client.shutdown()
    assert errors == []
    assert brief(server.wait_decisions(1)) == [("premium_cart", "r1", "sent", "rs-1")]


@pytest.mark.slow
def test_a_wrong_write_key_is_reported_to_the_segment_client(start_server: Any) -> None:
    from segment.analytics import Client
    from segment.analytics.request import APIError, post

    server = start_server()
    with pytest.raises(APIError) as raised:
        post("not-the-key", host=server.url, batch=[{"type": "track", "event": "x"}])
    assert raised.value.status == 401
    assert raised.value.code == "unauthorized"
    assert Client  # the client class the production code path uses is importable
