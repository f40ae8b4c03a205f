"""Metrics in the Prometheus text exposition format (version 0.0.4), hand-written.

Counters and histograms with labels, safe to update from any thread (the engine thread
observes commit times, the event loop request latencies), and `Family` values built at
scrape time for what the engine thread publishes (decisions by rule and status, pending
timers, outbox depth). The format is small: `# HELP`, `# TYPE`, one sample a line, label
values escaped (backslash, double quote, newline); histograms as cumulative `_bucket{le}`,
`_sum` and `_count`.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable, Sequence

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.0075,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)

Labels = tuple[tuple[str, str], ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{key}="{_escape(value)}"' for key, value in labels) + "}"


def _number(value: float) -> str:
    if value == float("inf"):
        return "+Inf"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


class Family:
    """One metric family: name, type, help, and its samples (suffix, labels, value)."""

    def __init__(self, name: str, kind: str, help_text: str) -> None:
        self.name = name
        self.kind = kind
        self.help = help_text
        self.samples: list[tuple[str, Labels, float]] = []

    def add(self, value: float, suffix: str = "", **labels: str) -> Family:
        self.samples.append((suffix, tuple(labels.items()), value))
        return self

    def render(self) -> str:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]
        for suffix, labels, value in self.samples:
            lines.append(f"{self.name}{suffix}{_labels(labels)} {_number(value)}")
        return "\n".join(lines) + "\n"


class Counter:
    def __init__(self, name: str, help_text: str) -> None:
        self.name = name
        self.help = help_text
        self.values: dict[Labels, float] = {}
        self.lock = threading.Lock()

    def inc(self, amount: float = 1, **labels: str) -> None:
        key = tuple(labels.items())
        with self.lock:
            self.values[key] = self.values.get(key, 0) + amount

    def value(self, **labels: str) -> float:
        return self.values.get(tuple(labels.items()), 0)

    def family(self) -> Family:
        family = Family(self.name, "counter", self.help)
        with self.lock:
            for labels, value in sorted(self.values.items()):
                family.samples.append(("", labels, value))
        return family


class Histogram:
    def __init__(
        self, name: str, help_text: str, buckets: Sequence[float] = LATENCY_BUCKETS
    ) -> None:
        self.name = name
        self.help = help_text
        self.bounds = tuple(buckets)
        self.series: dict[Labels, tuple[list[int], list[float]]] = {}  # counts, [sum]
        self.lock = threading.Lock()

    def observe(self, value: float, **labels: str) -> None:
        key = tuple(labels.items())
        with self.lock:
            series = self.series.get(key)
            if series is None:
                series = self.series[key] = ([0] * (len(self.bounds) + 1), [0.0])
            series[0][bisect.bisect_left(self.bounds, value)] += 1
            series[1][0] += value

    def family(self) -> Family:
        family = Family(self.name, "histogram", self.help)
        with self.lock:
            for labels, (counts, total) in sorted(self.series.items()):
                running = 0
                for bound, count in zip((*self.bounds, float("inf")), counts, strict=True):
                    running += count
                    family.samples.append(("_bucket", (*labels, ("le", _number(bound))), running))
                family.samples.append(("_sum", labels, total[0]))
                family.samples.append(("_count", labels, running))
        return family


def render(families: Iterable[Family]) -> bytes:
    return "".join(family.render() for family in families).encode()


class SidecarMetrics:
    """The sidecar's own metrics (the engine's figures are added at scrape time)."""

    def __init__(self) -> None:
        self.requests = Counter(
            "fbdsl_http_requests_total", "HTTP requests to the ingestion endpoints, by status."
        )
        self.latency = Histogram(
            "fbdsl_ingest_latency_seconds",
            "Time from a request's arrival to its answer, the durable commit included.",
        )
        self.commit = Histogram(
            "fbdsl_commit_duration_seconds", "Time of one group commit (sinks, then the ledger)."
        )
        self.received = Counter(
            "fbdsl_events_received_total", "Items (events, identify calls) received, by endpoint."
        )
        self.accepted = Counter(
            "fbdsl_events_accepted_total", "Items taken by the engine (new, durable)."
        )
        self.rejected = Counter(
            "fbdsl_events_rejected_total", "Items rejected (bad JSON, schema, clock), by endpoint."
        )
        self.duplicates = Counter(
            "fbdsl_events_duplicate_total", "Items whose id was seen before (skipped)."
        )
        self.ignored = Counter(
            "fbdsl_events_ignored_total", "Items of events no rule declares or reads."
        )
        self.reloads = Counter(
            "fbdsl_reloads_total", "Rule reloads by result (ok, failed, refused)."
        )

    def count_ingest(self, endpoint: str, result: object) -> None:
        accepted = getattr(result, "accepted", 0)
        duplicates = getattr(result, "duplicates", 0)
        ignored = getattr(result, "ignored", 0)
        rejected = len(getattr(result, "rejected", ()))
        self.received.inc(accepted + duplicates + ignored + rejected, endpoint=endpoint)
        self.accepted.inc(accepted, endpoint=endpoint)
        self.duplicates.inc(duplicates, endpoint=endpoint)
        self.ignored.inc(ignored, endpoint=endpoint)
        self.rejected.inc(rejected, endpoint=endpoint)
