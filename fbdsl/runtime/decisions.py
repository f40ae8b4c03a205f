"""Decisions: the engine's output, one JSON object per line, byte-for-byte deterministic.

    {"decision_id", "at", "rule", "customer_id", "action", "target", "channel", "status",
     "reason", "trigger": {"event", "id", "timestamp", "properties"}, "mode"}
     (+ "team", "due", "notes" for tasks)

`trigger.properties` holds the trigger event's declared fields (times as RFC 3339), so
whoever carries a decision out can address the survey to "that very order" without a
lookup.

`status` is one of sent, suppressed, held_out, deferred, cancelled. `decision_id` is derived
from (rule, customer, trigger id, action index, channel, status kind), so a re-run gives
the same ids. (actions.py builds each decision, a `Decision`, whose fields are these keys
in this order.)
"""

from __future__ import annotations

from hashlib import blake2b
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from fbdsl.runtime.timeutil import format_time

SENT, SUPPRESSED, HELD_OUT, DEFERRED, CANCELLED = (
    "sent",
    "suppressed",
    "held_out",
    "deferred",
    "cancelled",
)
STATUSES = (SENT, SUPPRESSED, HELD_OUT, DEFERRED, CANCELLED)


def decision_id(*parts: object) -> str:
    return id_of("\x1f".join(map(str, parts)))


def id_of(joined: str) -> str:
    """`decision_id` of parts the caller joined with "\x1f" itself (an f-string is cheaper
    than the join, once per decision and per timer)."""
    return blake2b(joined.encode(), digest_size=8).hexdigest()


def id_prefix(first: str) -> Any:
    """The hash of the first part of ids (`first` + "\x1f"), to `.copy()` and `.update()`
    with the rest (encoded): the same id as `id_of` of the whole, for about half the cost
    (blake2b's constructor parses its keyword arguments each time)."""
    return blake2b(f"{first}\x1f".encode(), digest_size=8)


def fraction(salt: str, rule: str, customer_id: str) -> float:
    """A customer's deterministic position in [0, 1) for a rule (sample, holdout)."""
    digest = blake2b(f"{salt}\x1f{rule}\x1f{customer_id}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big") / 2**64


def trigger_view(
    event: str,
    event_id: str,
    timestamp: float,
    fields: dict[str, Any],
    names: tuple[str, ...],
    times: frozenset[str],
) -> dict[str, Any]:
    """A decision's `trigger`: the event, its id and time, and its declared fields (`names`;
    those in `times` as RFC 3339). Shared by all the decisions of one trigger (read-only)."""
    properties = {n: format_time(fields[n]) if n in times else fields[n] for n in names}
    return {"event": event, "id": event_id, "timestamp": format_time(timestamp),
            "properties": properties}  # fmt: skip


class Decision(msgspec.Struct, omit_defaults=True, gc=False):
    """One decision, its keys in the order above. A msgspec Struct rather than a dict: made
    by one C call and encoded by msgspec in C, a batch of them in one call (`encode_lines`),
    where a dict per decision and an orjson call each cost three times as much (once per
    decision: W1 makes 164,000). The task fields are left out of other decisions (UNSET);
    a task's `due` may be null. (Strings and dicts of scalars: no cycles for the garbage
    collector to follow.)"""

    decision_id: str
    at: str
    rule: str
    customer_id: str
    action: str
    target: str
    channel: str | None
    status: str
    reason: str | None
    trigger: dict[str, Any]
    mode: str
    team: str | UnsetType = UNSET
    due: str | UnsetType | None = UNSET
    notes: dict[str, Any] | UnsetType = UNSET


_encoder = msgspec.json.Encoder()
_encode = _encoder.encode


def encode(decision: Decision) -> bytes:
    """A decision as one JSON line. (Floats as msgspec writes them: the shortest text that
    reads back the same, with no `+` in an exponent: 1e16.)"""
    return _encode(decision) + b"\n"


def encode_all(decisions: list[Decision]) -> list[bytes]:
    """`encode` of each decision (one call for a batch: this runs for every decision)."""
    return [_encode(decision) + b"\n" for decision in decisions]


def encode_lines(decisions: list[Decision]) -> bytes:
    """The JSON lines of a batch of decisions, in one piece (the same bytes as joining
    `encode_all`'s, in one C call)."""
    return _encoder.encode_lines(decisions)
