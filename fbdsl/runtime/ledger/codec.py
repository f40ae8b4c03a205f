"""The SQLite ledger's customer state encoding: positional MessagePack (msgspec).

A state is rewritten whole at every change of its customer (and goes through SQLite's WAL),
so its encoding is built with as little Python as possible and kept small: arrays by
position, never maps of long key names; the customer id is the row's key, not repeated;
contacts, timers and triggers are arrays of their attributes; times are floats; tuples (the
history's `(at, fields)` entries, list values of fields and traits) are encoded as they are.
The decoder is typed (msgspec builds the containers in C, list-valued fields come back as
tuples, as the engine made them, and contacts as the `Contact` Structs they are); the
state, its timers and their triggers (Structs too, but laid out by hand: their layout came
first) are then made from what it returns.

Layout of a state (schema version 4), an array of 7 to 10 items, the trailing empty ones
left out:

    [newest, traits, contacts, last_contact_at, last_sent_at, history, last_seen,
     tags, opt_outs, timers]

    contact = [at, target, channel, rule, decision_id, held]
    timer   = [id, due, kind, rule, rank, customer_id, action, trigger]
              (customer_id nil when it is the state's customer, as it always is)
    trigger = [event, id, timestamp, fields, prev]    (`view` is a cache: not persisted)

Versions up to 3 stored JSON objects: `state_from_json` reads them for the upgrade.
"""

from __future__ import annotations

from typing import Any

import msgspec

from fbdsl.runtime.events import Value
from fbdsl.runtime.state import NO_NAMES, Contact, CustomerState
from fbdsl.runtime.timers import Timer, Trigger
from fbdsl.runtime.timeutil import INFINITY

Fields = dict[str, Value]

_Trigger = tuple[str, str, float, Fields, float | None]
_Timer = tuple[str, float, str, str, int, str | None, int, _Trigger]


class _State(msgspec.Struct, array_like=True, frozen=True):
    newest: float
    traits: Fields
    contacts: list[Contact]
    last_contact_at: dict[str, float]
    last_sent_at: dict[str, float]
    history: dict[str, list[tuple[float, Fields]]]
    last_seen: dict[str, float]
    tags: frozenset[str] = frozenset()
    opt_outs: frozenset[str] = frozenset()
    timers: list[_Timer] = []


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(_State).decode


def encode_state(state: CustomerState) -> bytes:
    head = (
        state.newest,
        state.traits,
        state.contacts,
        state.last_contact_at,
        state.last_sent_at,
        state.history,
        state.last_seen,
    )
    timers, tags, opt_outs = state.timers, state.tags, state.opt_outs
    if timers:
        cid = state.customer_id
        rows = [
            (t.id, t.due, t.kind, t.rule, t.rank, None if t.customer_id == cid else t.customer_id,
             t.action, (t.trigger.event, t.trigger.id, t.trigger.timestamp, t.trigger.fields,
                        t.trigger.prev))
            for t in timers.values()
        ]  # fmt: skip
        return _encode((*head, sorted(tags), sorted(opt_outs), rows))
    if opt_outs:
        return _encode((*head, sorted(tags), sorted(opt_outs)))
    if tags:
        return _encode((*head, sorted(tags)))
    return _encode(head)


def decode_state(customer_id: str, blob: bytes) -> CustomerState:
    s = _decode(blob)
    return CustomerState(
        customer_id,
        s.traits,
        s.tags or NO_NAMES,  # (an empty one is written before timers)
        s.opt_outs or NO_NAMES,
        s.contacts,
        s.last_contact_at,
        s.last_sent_at,
        s.history,
        s.last_seen,
        s.newest,
        {t[0]: _timer(t, customer_id) for t in s.timers} if s.timers else {},
    )


def _timer(t: _Timer, customer_id: str) -> Timer:
    timer_id, due, kind, rule, rank, cid, action, trigger = t
    return Timer(
        timer_id, due, kind, rule, rank, customer_id if cid is None else cid, action,
        Trigger(*trigger),
    )  # fmt: skip


# -- versions up to 3: JSON ------------------------------------------------------------------


def state_from_json(customer_id: str, data: dict[str, Any]) -> CustomerState:
    """A state as schema versions up to 3 stored it: a JSON object, its empty parts left out
    (JSON has no tuples: list values of fields and traits read back as tuples)."""
    return CustomerState(
        customer_id=customer_id,
        traits=_tuples(data.get("traits", {})),
        tags=frozenset(data.get("tags", ())) or NO_NAMES,
        opt_outs=frozenset(data.get("opt_outs", ())) or NO_NAMES,
        contacts=[Contact(*c) for c in data.get("contacts", ())],
        last_contact_at=data.get("last_contact_at", {}),
        last_sent_at=data.get("last_sent_at", {}),
        history={
            e: [(at, _tuples(f)) for at, f in rows] for e, rows in data.get("history", {}).items()
        },
        last_seen=data.get("last_seen", {}),
        newest=-INFINITY if data.get("newest") is None else data["newest"],  # (None: early v2)
        timers={t[0]: _timer_from_json(t) for t in data.get("timers", ())},
    )


def _timer_from_json(data: list[Any]) -> Timer:
    *head, (event, event_id, timestamp, fields, prev) = data
    return Timer(*head, Trigger(event, event_id, timestamp, _tuples(fields), prev))


def _tuples(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}
