"""Deterministic W2 event streams: checkouts followed, or not, by their order.

    python bench/generate_w2_events.py --events 1000000 --customers 100000 \
        --out bench/data/w2.jsonl

Each line is an fbdsl JSON event, in time order over 90 days (as bench/generate_events.py,
whose clock and time format it shares). The mix of the lines the generator draws:
product_viewed 45%, page_viewed 20% (an event the W2 rules do not declare), checkout_started
25%, order_completed 10% (orders with no checkout: `checkout_id` empty). A checkout is then
followed by its order (same customer, same `checkout_id`) with probability 60%, after a
delay drawn to fall on every side of the rules' windows: within the hour (35%), between one
and two hours (10%), between two hours and a day (15%); exactly at 1h or 2h for 1 in 500. A
follow-up takes the place of the draw of the line it falls on, so the file has exactly
`--events` lines.

Customers keep one time zone each (UTC, Europe/Berlin, America/New_York,
America/Los_Angeles, Asia/Tokyo, Asia/Kolkata, Australia/Sydney: a fixed share each, by
customer number), sent as a `timezone` trait on 5% of lines: before a customer's first such
line the engine takes UTC, so quiet hours start at a zone's 21:00 only once it is known.
1 line in 1,000 is delivered twice (the same line again, a little later: at-least-once
delivery). The seed fixes everything: every run writes the same bytes.
"""

from __future__ import annotations

import heapq
import random
from pathlib import Path

import orjson
from generate_events import SPAN, START, _time, write_stream  # bench/: this directory

ZONES = (
    "UTC", "Europe/Berlin", "America/New_York", "America/Los_Angeles", "Asia/Tokyo",
    "Asia/Kolkata", "Australia/Sydney",
)  # fmt: skip
MIX = (("product_viewed", 45), ("page_viewed", 20), ("checkout_started", 25),
       ("order_completed", 10))  # fmt: skip
HOUR = 3600


def follow_up_delay(rng: random.Random) -> int | None:
    """Seconds from a checkout to its order, or None when it is never completed."""
    if rng.random() < 0.002:
        return rng.choice((HOUR, 2 * HOUR))  # exactly at a window's end
    draw = rng.random()
    if draw < 0.35:
        return rng.randrange(60, HOUR)
    if draw < 0.45:
        return rng.randrange(HOUR + 1, 2 * HOUR)
    if draw < 0.60:
        return rng.randrange(2 * HOUR + 1, 24 * HOUR)
    return None


def generate(events: int, customers: int, seed: int = 11) -> list[bytes]:
    rng = random.Random(seed)
    names = [name for name, weight in MIX for _ in range(weight)]
    pending: list[tuple[int, int, dict[str, object]]] = []  # (time, seq, order document)
    lines: list[bytes] = []
    last_read: bytes | None = None
    for index in range(events):
        at = START + (index * SPAN) // events
        if last_read is not None and rng.random() < 0.001:
            lines.append(last_read)  # delivered again
            last_read = None
            continue
        if pending and pending[0][0] <= at:
            _, _, document = heapq.heappop(pending)
            document["id"] = f"ev-{index}"
        else:
            name = names[rng.randrange(len(names))]
            number = rng.randrange(customers)
            customer = f"cust-{number:06d}"
            total = round(rng.uniform(5, 400), 2)
            properties: dict[str, object]
            if name in ("product_viewed", "page_viewed"):
                properties = {"product_id": f"p{rng.randrange(5000)}", "price": total}
            elif name == "checkout_started":
                properties = {"checkout_id": f"k{index}", "total": total}
                delay = follow_up_delay(rng)
                if delay is not None:
                    order = {"event": "order_completed", "customer_id": customer,
                             "timestamp": _time(at + delay),
                             "properties": {"order_id": f"o{index}", "checkout_id": f"k{index}",
                                            "total": total}}  # fmt: skip
                    heapq.heappush(pending, (at + delay, index, order))
            else:
                properties = {"order_id": f"o{index}", "total": total}
            document = {"id": f"ev-{index}", "event": name, "customer_id": customer,
                        "timestamp": _time(at), "properties": properties}  # fmt: skip
            if rng.random() < 0.05:
                document["traits"] = {"timezone": ZONES[number % len(ZONES)]}
        line = orjson.dumps(document) + b"\n"
        lines.append(line)
        if document["event"] in ("checkout_started", "order_completed"):
            last_read = line
    return lines


def main() -> None:
    write_stream(__doc__.splitlines()[0], generate, 11, Path("bench/data/w2.jsonl"))


if __name__ == "__main__":
    main()
