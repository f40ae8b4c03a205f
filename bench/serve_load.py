"""Load test of `fbdsl serve` on loopback: batch throughput and single-call latency.

    python bench/serve_load.py                       # both phases, the figures in README.md
    python bench/serve_load.py --seconds 5 --rate-seconds 5   # a quick run

Starts the sidecar (W1 rules, a fresh SQLite ledger, decisions to a file: the durable
configuration) as a subprocess on a free loopback port, then:

1. **Batches** (between the two latency runs). `--connections` clients post
   `POST /v1/batch` of `--batch` Segment track calls each, back to back, for `--seconds`:
   sustained events/s = events acknowledged (200) / elapsed. The calls are the W1 stream
   (bench/generate_events.py: 27% of the lines read by a rule, 14% undeclared), encoded
   before the clock starts.
2. **Latency.** Single `POST /v1/track` calls at a fixed rate (`--rate` per second) for
   `--rate-seconds`, open loop: each call is due at its slot whether or not earlier calls
   have been answered, and its latency runs from its slot (so a stalled server shows up as
   latency, not as fewer requests). p50 / p99 / max. Measured twice: on the fresh ledger
   before the batches, and `--pause` seconds after them (a ledger of a million events
   and the 100,000 customers in the state cache).

Every request is bounded (10 s timeout) and so is every phase; traffic goes only to
127.0.0.1. Exit status 1 with `--check-targets` when a target is missed (>= 20,000 events/s
through batches; p99 < 10 ms at 1,000 requests/s).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import aiohttp
import orjson

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from generate_events import generate  # noqa: E402

WRITE_KEY = "bench-write-key"
AUTH = {
    "Authorization": "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode(),
    "Content-Type": "application/json",
}
TARGET_EVENTS_PER_S, TARGET_P99_MS = 20_000, 10.0


def segment_calls(events: int, customers: int, seed: int) -> list[dict[str, object]]:
    """The W1 stream as Segment track calls."""
    calls = []
    for line in generate(events, customers, seed):
        event = orjson.loads(line)
        call: dict[str, object] = {
            "type": "track",
            "userId": event["customer_id"],
            "event": event["event"],
            "messageId": f"{seed}-{event['id']}",
            "timestamp": event["timestamp"],
            "properties": event["properties"],
        }
        if "traits" in event:
            call["context"] = {"traits": event["traits"]}
        calls.append(call)
    return calls


def start_server(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    env = {**os.environ, "FBDSL_WRITE_KEYS": WRITE_KEY}
    command = [
        sys.executable,
        "-m",
        "fbdsl.cli",
        "serve",
        str(BENCH / "w1" / "rules.fbdsl"),
        "--port",
        "0",
        "--ledger",
        str(workdir / "ledger.sqlite"),
        "--out",
        str(workdir / "decisions.jsonl"),
        "--dead-letter",
        str(workdir / "rejected.jsonl"),
    ]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
    assert process.stderr is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        record = orjson.loads(line)
        if record.get("msg") == "listening":
            # Drain stderr in the background so the server never blocks on a full pipe.
            stderr = process.stderr
            threading.Thread(target=stderr.read, daemon=True).start()
            return process, int(record["port"])
    process.kill()
    raise SystemExit("the server did not start")


async def batches_phase(
    url: str, bodies: list[bytes], batch: int, connections: int, seconds: float
) -> tuple[int, float, int]:
    """(events acknowledged, elapsed seconds, failed requests)."""
    queue = list(reversed(bodies))
    acked = failed = 0
    timeout = aiohttp.ClientTimeout(total=10)
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        started = time.perf_counter()
        deadline = started + seconds

        async def worker() -> None:
            nonlocal acked, failed
            while queue and time.perf_counter() < deadline:
                body = queue.pop()
                async with session.post(url + "/v1/batch", data=body, headers=AUTH) as response:
                    await response.read()
                    if response.status == 200:
                        acked += batch
                    else:
                        failed += 1

        await asyncio.gather(*(worker() for _ in range(connections)))
        return acked, time.perf_counter() - started, failed


async def latency_phase(
    url: str, bodies: list[bytes], rate: int, seconds: float
) -> tuple[list[float], int]:
    """Latencies in ms (from each call's slot) and failed requests."""
    count = min(len(bodies), int(rate * seconds))
    latencies: list[float] = []
    failed = 0
    timeout = aiohttp.ClientTimeout(total=10)
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        # Warm the connection pool up, then start on the clock.
        for body in bodies[count : count + 50]:
            async with session.post(url + "/v1/track", data=body, headers=AUTH) as response:
                await response.read()
        start = time.perf_counter() + 0.05

        async def call(index: int) -> None:
            nonlocal failed
            slot = start + index / rate
            delay = slot - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            async with session.post(url + "/v1/track", data=bodies[index], headers=AUTH) as r:
                await r.read()
                if r.status != 200:
                    failed += 1
            latencies.append((time.perf_counter() - slot) * 1000)

        await asyncio.gather(*(call(i) for i in range(count)))
    return latencies, failed


def server_histograms(url: str) -> list[str]:
    """The server's own view: its /v1/track latency and commit time histograms (counts
    at or under each bound)."""
    from urllib.request import urlopen

    with urlopen(url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    wanted = {
        "fbdsl_ingest_latency_seconds_bucket": 'endpoint="/v1/track"',
        "fbdsl_commit_duration_seconds_bucket": "",
    }
    out = []
    for name, label in wanted.items():
        cells = []
        for line in text.splitlines():
            if line.startswith(name) and label in line:
                bound = line.split('le="')[1].split('"')[0]
                if bound in ("0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "+Inf"):
                    cells.append(f"<={bound}s: {int(float(line.rsplit(' ', 1)[1])):,}")
        out.append(f"server {name.removesuffix('_bucket')}: " + ", ".join(cells))
    return out


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="batch phase length")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--rate-seconds", type=float, default=10.0)
    parser.add_argument(
        "--pause", type=float, default=5.0, help="seconds between the phases (the server settles)"
    )
    parser.add_argument("--check-targets", action="store_true")
    args = parser.parse_args()
    events = int(args.seconds * 60_000)  # more than the server can take in the time
    print(f"preparing {events:,} Segment calls...", file=sys.stderr)
    calls = segment_calls(events, args.customers, seed=7)
    bodies = [
        orjson.dumps({"batch": calls[i : i + args.batch]}) for i in range(0, len(calls), args.batch)
    ]
    count = int(args.rate * args.rate_seconds) + 100
    singles = [
        [orjson.dumps(call) for call in segment_calls(count, args.customers, seed=seed)]
        for seed in (8, 9)
    ]
    del calls
    load = os.getloadavg()[0]
    # The load generator's own garbage collector must not pause it (it holds a million
    # encoded calls): what it measured would be its own stalls, not the server's.
    gc.collect()
    gc.freeze()
    gc.disable()
    with tempfile.TemporaryDirectory(prefix="fbdsl-serve-bench-") as directory:
        process, port = start_server(Path(directory))
        url = f"http://127.0.0.1:{port}"
        try:
            fresh, fresh_failed = asyncio.run(
                latency_phase(url, singles[0], args.rate, args.rate_seconds)
            )
            acked, elapsed, failed = asyncio.run(
                batches_phase(url, bodies, args.batch, args.connections, args.seconds)
            )
            time.sleep(args.pause)
            loaded, loaded_failed = asyncio.run(
                latency_phase(url, singles[1], args.rate, args.rate_seconds)
            )
            server_side = server_histograms(url)
        finally:
            process.terminate()
            code = process.wait(30)
    rate = acked / elapsed
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; load average at the start {load:.2f}; "
        f"server exit status {code}"
    )
    print(
        f"batches: {acked:,} events in {elapsed:.2f} s = {rate:,.0f} events/s "
        f"({args.connections} connections, {args.batch} events a batch, "
        f"{failed} failed requests)  target >= {TARGET_EVENTS_PER_S:,}"
    )
    missed = rate < TARGET_EVENTS_PER_S or bool(failed)
    for label, latencies, failures in (
        ("fresh ledger", fresh, fresh_failed),
        (f"after the batches (+{args.pause:g} s)", loaded, loaded_failed),
    ):
        p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
        print(
            f"latency, {label}: {len(latencies):,} /v1/track calls at {args.rate}/s: "
            f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {max(latencies):.2f} ms "
            f"({failures} failed)  target p99 < {TARGET_P99_MS:g} ms"
        )
        missed = missed or p99 >= TARGET_P99_MS or bool(failures)
    for line in server_side:
        print(line)
    if args.check_targets and missed:
        sys.exit(1)


if __name__ == "__main__":
    main()
