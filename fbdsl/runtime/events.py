"""Input decoding: JSON lines -> `Event`s and trait updates, validated against the schemas.

Two shapes, detected per line, so both can be mixed in one file:

- fbdsl: `{"id", "event", "customer_id", "timestamp", "properties", "traits"}`;
- Segment / RudderStack HTTP API: a `type` of `track`, `identify` or `batch` (or a `batch`
  array), with `userId`/`anonymousId`, `messageId`, `timestamp` and `context.traits`.

External names (`event order_completed from "Order Completed"`) map to internal ones. An
event no rule set declares is *ignored* (a sidecar sees every event of a product); with
`strict` it is rejected. A line that does not match its schema is *rejected* with its line
number and the reason; the caller counts it and writes it to the dead-letter file.

`Decoder.decode_reference` is the reference: orjson and generated Python converters. The
usual fbdsl line takes a fast path (events_fast.py: msgspec, typed decoding in C) that
yields exactly the same, falling back to the reference whenever it cannot be sure.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
import msgspec
import orjson

from fbdsl.compiler import program as p
from fbdsl.compiler.types import (
    BOOL,
    DURATION,
    INT,
    NUMBER,
    STRING,
    TIME,
    EnumType,
    ListType,
    Type,
    describe,
)
from fbdsl.runtime.timeutil import parse_duration_value, parse_time

SEGMENT_TYPES = {"track", "identify", "batch", "page", "screen", "group", "alias"}


# A value of an event field or a trait as decoded (and kept in the ledger): lists are tuples
# (of scalars: no lists of lists). The typed MessagePack decoders (the reader process's
# frames, the ledger's states) give tuples back for them.
Value = str | int | float | bool | None | tuple[Any, ...]


class Event(msgspec.Struct, array_like=True, gc=False):
    """A decoded, validated event. `fields` holds every declared field (defaults applied)
    plus `customer_id`, `timestamp` (epoch seconds) and `id`. Never changed once made.

    A msgspec Struct: made by a C call (once per event), and the reader process's frames
    (prefilter.py) carry Events as they are, decoded back into Events in C. (Scalars, and
    dicts of scalars and tuples: no cycles for the garbage collector to follow.)"""

    name: str
    customer_id: str
    timestamp: float
    id: str
    fields: dict[str, Value]
    traits: dict[str, Value] | None
    line: int


@attrs.frozen(slots=True)
class TraitUpdate:
    """A Segment `identify` call: new profile traits for a customer, at a time."""

    customer_id: str
    timestamp: float
    id: str  # messageId, or a hash of the call (de-duplication, as for events)
    traits: dict[str, Any] = attrs.field(hash=False)
    line: int


@attrs.frozen(slots=True)
class Rejected:
    line: int
    reason: str
    raw: str


@attrs.define(slots=True)
class Decoded:
    """What one input line yielded."""

    items: list[Event | TraitUpdate] = attrs.Factory(list)
    rejected: list[Rejected] = attrs.Factory(list)
    ignored: int = 0


IGNORED = Decoded(ignored=1)  # shared: what a line nothing reads yields (never mutated)


class SchemaError(ValueError):
    pass


def _convert(value: Any, t: Type, where: str) -> Any:
    """Check and convert one JSON value to its declared type."""
    if t == STRING:
        if isinstance(value, str):
            return value
    elif t == NUMBER:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
    elif t == INT:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif t == BOOL:
        if isinstance(value, bool):
            return value
    elif t == TIME:
        if isinstance(value, str):
            try:
                return parse_time(value)
            except ValueError:
                raise SchemaError(f"{where} is not an RFC 3339 time: {value!r}") from None
    elif t == DURATION:
        seconds = parse_duration_value(value)
        if seconds is not None:
            return seconds
    elif isinstance(t, EnumType):
        if isinstance(value, str):
            if value in t.values:
                return value
            raise SchemaError(f"{where} must be one of {t}, got {value!r}")
    elif isinstance(t, ListType) and isinstance(value, list):
        return tuple(_convert(item, t.element, f"an item of {where}") for item in value)
    raise SchemaError(f"{where} must be {describe(t)}, got {_json_kind(value)} {_short(value)}")


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _short(value: Any) -> str:
    text = orjson.dumps(value).decode()
    return text if len(text) <= 40 else text[:37] + "..."


class Decoder:
    """Decodes input lines for one rule graph's schemas."""

    def __init__(
        self,
        events: Mapping[str, p.EventSchema],
        external_names: Mapping[str, str],
        traits: Mapping[str, p.FieldSchema],
        strict: bool = False,
        read: frozenset[str] | None = None,
        fast: bool = True,
        gates: Mapping[str, Callable[[dict[str, Any]], bool]] | None = None,
    ) -> None:
        self.events = events
        self.names = {**{name: name for name in events}, **external_names}
        self.traits = traits
        self.strict = strict
        self._converters = {name: _compile_converter(schema) for name, schema in events.items()}
        # Names (as they arrive) of the events the engine reads (`read`): a line of any other
        # event, with no traits aboard, is ignored before it is even validated (unless
        # strict, which rejects undeclared events and so must look at every line).
        self.read_names = frozenset(
            external for external, name in self.names.items() if read is None or name in read
        )
        self.skip_unread = read is not None and not strict
        # Per event type whose only use is to trigger rules (Engine.gates): whether its own
        # fields could match one. A valid event of such a type that no rule could match, and
        # with no traits aboard, is ignored too (validated first: a bad line is rejected).
        self.gates = dict(gates or {})
        # What one input line yields. The fast path (events_fast.py: msgspec, typed
        # decoding in C) returns exactly what the reference path does, which it falls back
        # on whenever it cannot be sure; `fast=False` takes the reference path only.
        self.decode_line: Callable[[bytes | str, int], Decoded] = self.decode_reference
        if fast:
            from fbdsl.runtime.events_fast import fast_decode_line  # it imports this module

            self.decode_line = fast_decode_line(self)

    def decode_reference(self, raw: bytes | str, line: int) -> Decoded:
        """The reference path: orjson's dicts, validated by the generated converters."""
        try:
            document = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            out = Decoded()
            if _text(raw).strip():
                out.rejected.append(Rejected(line, f"invalid JSON: {exc}", _text(raw)))
            return out
        if type(document) is not dict:
            return Decoded(rejected=[Rejected(line, "a line must hold a JSON object", _text(raw))])
        kind = document.get("type")
        if "batch" in document or (type(kind) is str and kind in SEGMENT_TYPES):
            out = Decoded()
            self._segment(document, line, out, _text(raw))
            return out
        name = document.get("event")
        if (
            self.skip_unread
            and type(name) is str
            and name not in self.read_names
            and not document.get("traits")
        ):
            return IGNORED
        out = Decoded()
        try:
            item = self._fbdsl_event(document, line)
        except SchemaError as exc:
            out.rejected.append(Rejected(line, str(exc), _text(raw)))
            return out
        if item is None:
            out.ignored += 1
        else:
            out.items.append(item)
        return out

    # -- fbdsl JSON lines ------------------------------------------------------------------

    def _fbdsl_event(self, document: dict[str, Any], line: int) -> Event | None:
        name = document.get("event")
        if not isinstance(name, str):
            raise SchemaError("missing 'event' (the event's name)")
        properties = document.get("properties", {})
        if not isinstance(properties, dict):
            raise SchemaError("'properties' must be an object")
        traits = document.get("traits")
        if traits is not None and not isinstance(traits, dict):
            raise SchemaError("'traits' must be an object")
        return self._event(
            name,
            document.get("customer_id"),
            document.get("timestamp"),
            document.get("id"),
            properties,
            traits,
            line,
            "customer_id",
            document,
        )

    def _event(
        self,
        external: str,
        customer_id: Any,
        timestamp: Any,
        event_id: Any,
        properties: dict[str, Any],
        traits: dict[str, Any] | None,
        line: int,
        customer_key: str,
        source: dict[str, Any],
    ) -> Event | None:
        name = self.names.get(external)
        if name is None:
            if self.strict:
                raise SchemaError(f"unknown event {external!r} (no rule set declares it)")
            return None
        if not isinstance(customer_id, str) or not customer_id:
            raise SchemaError(f"missing '{customer_key}' (a non-empty string)")
        if not isinstance(timestamp, str):
            raise SchemaError("missing 'timestamp' (an RFC 3339 time)")
        try:
            at = parse_time(timestamp)
        except ValueError:
            raise SchemaError(f"'timestamp' is not an RFC 3339 time: {timestamp!r}") from None
        if event_id is not None and not isinstance(event_id, str):
            raise SchemaError("'id' must be a string")
        fields = self._converters[name](properties)
        fields["customer_id"] = customer_id
        fields["timestamp"] = at
        fields["id"] = event_id or ""
        identity = event_id or derived_event_id(source)
        converted = self.convert_traits(traits) if traits else None
        if converted is None:
            gate = self.gates.get(name)
            if gate is not None and not gate(fields):
                return None  # (ignored: no rule's field tests pass, nothing else reads it)
        return Event(name, customer_id, at, identity, fields, converted, line)

    # -- Segment / RudderStack -------------------------------------------------------------

    def _segment(self, document: dict[str, Any], line: int, out: Decoded, text: str) -> None:
        if document.get("type") == "batch" or "batch" in document:
            batch = document.get("batch")
            if not isinstance(batch, list):
                out.rejected.append(Rejected(line, "'batch' must be a list", text.rstrip()))
                return
            for position, call in enumerate(batch):
                if not isinstance(call, dict):
                    reason = f"batch item {position}: not an object"
                    out.rejected.append(Rejected(line, reason, orjson.dumps(call).decode()))
                    continue
                self._segment_call(call, line, out, f"batch item {position}: ")
            return
        self._segment_call(document, line, out, "")

    def _segment_call(self, call: dict[str, Any], line: int, out: Decoded, prefix: str) -> None:
        kind = call.get("type", "track")
        raw = orjson.dumps(call).decode()
        try:
            if kind == "track":
                item: Event | TraitUpdate | None = self._segment_track(call, line)
            elif kind == "identify":
                item = self._segment_identify(call, line)
            elif kind in SEGMENT_TYPES:
                item = None  # page, screen, group, alias: nothing for rules
            else:
                raise SchemaError(f"unknown Segment call type {kind!r}")
        except SchemaError as exc:
            out.rejected.append(Rejected(line, prefix + str(exc), raw))
            return
        if item is None:
            out.ignored += 1
        else:
            out.items.append(item)

    @staticmethod
    def _segment_customer(call: dict[str, Any]) -> Any:
        return call.get("userId") or call.get("anonymousId")

    @staticmethod
    def _segment_time(call: dict[str, Any]) -> Any:
        for key in ("timestamp", "originalTimestamp", "sentAt", "receivedAt"):
            if call.get(key) is not None:
                return call[key]
        return None

    def _segment_track(self, call: dict[str, Any], line: int) -> Event | None:
        name = call.get("event")
        if not isinstance(name, str):
            raise SchemaError("a track call needs 'event'")
        properties = call.get("properties") or {}
        if not isinstance(properties, dict):
            raise SchemaError("'properties' must be an object")
        context = call.get("context") or {}
        traits = context.get("traits") if isinstance(context, dict) else None
        return self._event(
            name,
            self._segment_customer(call),
            self._segment_time(call),
            call.get("messageId"),
            properties,
            traits if isinstance(traits, dict) else None,
            line,
            "userId' or 'anonymousId",
            call,
        )

    def _segment_identify(self, call: dict[str, Any], line: int) -> TraitUpdate:
        customer = self._segment_customer(call)
        if not isinstance(customer, str) or not customer:
            raise SchemaError("missing 'userId' or 'anonymousId' (a non-empty string)")
        timestamp = self._segment_time(call)
        if not isinstance(timestamp, str):
            raise SchemaError("missing 'timestamp' (an RFC 3339 time)")
        try:
            at = parse_time(timestamp)
        except ValueError:
            raise SchemaError(f"'timestamp' is not an RFC 3339 time: {timestamp!r}") from None
        traits = call.get("traits") or {}
        if not isinstance(traits, dict):
            raise SchemaError("'traits' must be an object")
        context = call.get("context")
        inner = context.get("traits") if isinstance(context, dict) else None
        if isinstance(inner, dict) and inner:  # where RudderStack's SDKs put them
            traits = {**inner, **traits}  # the top level wins
        identity = call.get("messageId")
        if not isinstance(identity, str) or not identity:
            identity = derived_event_id(call)
        return TraitUpdate(customer, at, identity, self.convert_traits(traits) or {}, line)

    # -- traits ----------------------------------------------------------------------------

    def convert_traits(self, traits: Mapping[str, Any]) -> dict[str, Any] | None:
        """The declared traits of a profile update, converted to their types (a value of
        the wrong type is a SchemaError: the line is rejected). Undeclared traits are
        dropped: no rule can read them, and the ledger keeps nothing it does not need (a
        Segment profile carries e-mail addresses and more). `unsubscribed: true` is kept: it
        opts the customer out of all contact. A null value clears the trait (None here)."""
        converted: dict[str, Any] = {}
        for key, value in traits.items():
            schema = self.traits.get(key)
            if schema is None:
                if key == "unsubscribed" and value is True:
                    converted[key] = True
            elif value is None:
                converted[key] = None
            else:
                converted[key] = _convert(value, schema.type, f"trait '{key}'")
                if key == "timezone" and not is_time_zone(converted[key]):
                    raise SchemaError(f"trait 'timezone' is not an IANA time zone: {value!r}")
        return converted or None


@lru_cache(maxsize=1024)
def is_time_zone(name: str) -> bool:
    """Whether `name` is an IANA time zone this machine (or the tzdata package) knows."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _text(raw: bytes | str) -> str:
    """A line as text, for rejection records (only built when a line is rejected)."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return text.rstrip("\r\n")


_FAST_CHECKS = {
    "string": "type(v) is not str",
    "int": "type(v) is not int",
    "number": "type(v) is not float and type(v) is not int",
    "bool": "type(v) is not bool",
}


def _compile_converter(schema: p.EventSchema) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Generated code that checks and converts one event type's properties: the common
    case (a value of the declared JSON type) costs one type test; the rest goes through
    `_convert`, which converts (times, durations, lists...) or explains the mismatch."""
    lines = ["def convert(props):", "    f = {}"]
    namespace: dict[str, Any] = {"_convert": _convert, "SchemaError": SchemaError}
    for index, field in enumerate(schema.fields.values()):
        if field.name in ("customer_id", "timestamp", "id"):
            continue
        namespace[f"T{index}"] = field.type
        namespace[f"D{index}"] = field.default
        where = f"{schema.name}.{field.name}"
        lines.append(f"    v = props.get({field.name!r})")
        if field.has_default:
            lines.append(f"    if v is None: v = D{index}")
        else:
            message = f"{schema.name}: missing required field '{field.name}'"
            lines.append(f"    if v is None: raise SchemaError({message!r})")
        check = _FAST_CHECKS.get(str(field.type), "True")
        keyword = "elif" if field.has_default else "if"
        lines.append(f"    {keyword} {check}: v = _convert(v, T{index}, {where!r})")
        lines.append(f"    f[{field.name!r}] = v")
    lines.append("    return f")
    exec(compile("\n".join(lines), f"<fbdsl decoder {schema.name}>", "exec"), namespace)
    return namespace["convert"]  # type: ignore[no-any-return]


def derived_event_id(source: dict[str, Any]) -> str:
    """An id for an event that has none: a hash of its content, so that a re-run on the
    same ledger skips it as it skips events with ids (identical lines count as one)."""
    return "sha:" + hashlib.blake2b(orjson.dumps(source), digest_size=10).hexdigest()
