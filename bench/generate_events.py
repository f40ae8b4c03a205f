"""Deterministic e-commerce event streams for benchmarks.

    python bench/generate_events.py --events 1000000 --customers 100000 --out bench/data/w1.jsonl

Each line is an fbdsl JSON event. The mix: product_viewed 45%, product_added 18%,
checkout_started 12%, order_completed 10%, order_refunded 1%, page_viewed 14% (an event no
rule declares: the engine ignores it). 5% of lines carry profile traits (`tier`). Times
increase over 90 days; the seed fixes everything, so every run reads the same bytes.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable
from pathlib import Path

import orjson

START = 1767225600  # 2026-01-01T00:00:00Z
SPAN = 90 * 86400
MIX = (
    ("product_viewed", 45), ("product_added", 18), ("checkout_started", 12),
    ("order_completed", 10), ("order_refunded", 1), ("page_viewed", 14),
)  # fmt: skip


def _time(seconds: int) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def generate(events: int, customers: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    names = [name for name, weight in MIX for _ in range(weight)]
    lines = []
    for index in range(events):
        name = names[rng.randrange(len(names))]
        customer = f"cust-{rng.randrange(customers):06d}"
        at = START + (index * SPAN) // events
        amount = round(rng.uniform(5, 400), 2)
        if name in ("product_viewed", "product_added"):
            properties: dict[str, object] = {"product_id": f"p{rng.randrange(5000)}",
                                             "price": amount}  # fmt: skip
            if name == "product_added":
                properties["quantity"] = rng.randrange(1, 4)
        elif name == "checkout_started":
            properties = {"checkout_id": f"k{index}", "total": amount}
        elif name in ("order_completed", "order_refunded"):
            properties = {"order_id": f"o{index}", "total": amount}
        else:
            properties = {"path": "/"}
        document: dict[str, object] = {
            "id": f"ev-{index}", "event": name, "customer_id": customer,
            "timestamp": _time(at), "properties": properties,
        }  # fmt: skip
        if rng.random() < 0.05:
            document["traits"] = {"tier": "premium" if rng.random() < 0.3 else "basic"}
        lines.append(orjson.dumps(document) + b"\n")
    return lines


def write_stream(
    description: str,
    generate: Callable[[int, int, int], list[bytes]],
    seed: int,
    out: Path,
) -> None:
    """The command line every event generator shares: --events, --customers, --seed, --out."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=seed)
    parser.add_argument("--out", type=Path, default=out)
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("wb") as handle:
        handle.writelines(generate(args.events, args.customers, args.seed))
    print(f"wrote {args.events} events for {args.customers} customers to {args.out}")


def main() -> None:
    write_stream(__doc__.splitlines()[0], generate, 7, Path("bench/data/w1.jsonl"))


if __name__ == "__main__":
    main()
