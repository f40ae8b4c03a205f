"""The fast path of input decoding: fbdsl JSON lines decoded and type-checked by msgspec.

`Decoder.decode_reference` (events.py) parses a line with orjson into dicts and checks it
in Python. Here the usual line, `{"id", "event", "customer_id", "timestamp", "properties",
"traits"}`, is decoded in C into a typed msgspec Struct (the envelope's keys and types
checked there); a line of an event no rule reads is then dropped at once. Otherwise
generated code of its event type checks the properties on msgspec's values (a list through
`msgspec.convert`; for the few fields of an event that is quicker than converting them all
into a Struct), and builds the `fields` dict and the Event (slot by slot, as the attrs
`__init__`s of Event and Decoded would: checked when this module is loaded). Traits are
parsed by orjson and converted as the reference path does, once per text: what a text
yields (converted traits, of which each Event gets its own copy, or "the reference path
decides") is kept by text (texts up to 256 bytes, 4096 of them), as the traits of a
product's events take few values. Where msgspec gives no certain answer the line goes to
the reference path, which yields the exact results and rejection reasons, so that **every
line decodes to what the reference path returns** (tests/runtime/test_decoder_fast_path.py
compares the two on generated lines). The fast path never rejects a line itself, and falls
back on:

- anything msgspec refuses (invalid JSON, not an object, an envelope key of the wrong type,
  an unknown top-level key, a property of the wrong type or out of range, a null or a
  missing key for a required field, an int-valued float for an `int`: the reference
  converts it, ...);
- a Segment-shaped line (a `type` or `batch` key), an undeclared event when strict, a
  missing or empty `id` (the identity is then a hash of the parsed document), an empty
  `customer_id`, a bad time or duration, `traits` that are not an object or not valid;
- what msgspec and orjson could parse differently. msgspec does not validate what it
  skips (`msgspec.Raw`, unknown keys: a number beyond a float's range, invalid UTF-8):
  nothing is skipped here but `traits`, which orjson then parses itself. msgspec keeps
  integers beyond 64 bits where orjson makes floats of them (and refuses the infinite
  ones, of 309 digits or more): integers are bounded to int64, and a long line with such
  a run of digits falls back. orjson refuses nesting deeper than 1024, msgspec deeper
  than the interpreter's recursion limit: a long line that could nest 512 deep falls back.

Not done, measured: a first pass reading only the event's name (msgspec skipping the rest),
to drop the lines of unread events sooner. It is only safe where the skipped text is known
to be read by orjson as msgspec skips it: ASCII (no invalid UTF-8), short (no 309-digit
integer, no deep nesting) and with no exponent that could overflow a float (`1e400` fits
in a short line; a digit followed by `e` or `E`). On W1 it would save 0.09 s of decoding
over the 732,258 lines of unread events, and cost 0.03 s of second passes over the others
and 0.3 s of checks (`isascii`, then `bytes.translate` and a search for the exponent).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

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
)
from fbdsl.runtime.events import IGNORED, Decoded, Event
from fbdsl.runtime.timeutil import parse_duration_value, parse_time

if TYPE_CHECKING:
    from fbdsl.runtime.events import Decoder

DecodeLine = Callable[[bytes | str, int], Decoded]
Finish = Callable[[Any, dict[str, Any] | None, int], Decoded]

_ABSENT = msgspec.Raw(b"")  # the default of the Raw fields: `is _ABSENT` when a key is absent
# orjson keeps integers in [-2**63, 2**64) and makes floats of the others; msgspec keeps them
# all. Within int64 both agree (beyond it, the line falls back).
_INT64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
_DEEP = 512  # a line with this many `[` and `{` could nest too deep for orjson (1024)
_DIGITS = 309  # an integer this long can be beyond a float's range (orjson refuses it)
_DIGIT_RUN = re.compile(rb"[0-9]{%d}" % _DIGITS)
_LONG = 300  # a shorter line holds no such integer and no such nesting


class _Envelope(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    """An fbdsl line, its fields in the usual order (msgspec matches keys faster so). Any
    other key (a Segment `type` or `batch` too) is an error: the reference path decides.
    `properties` is parsed (as plain values), not skipped: what msgspec skips it does not
    validate as orjson does (a number beyond a float's range, for one)."""

    id: str = ""
    event: str
    customer_id: str = ""
    timestamp: str = ""
    properties: dict[str, Any] = {}  # (msgspec copies a mutable default)
    traits: msgspec.Raw = _ABSENT


class _Fallback(Exception):
    """The fast path cannot be sure: the line goes to the reference path."""


def _duration(value: Any) -> float:
    if type(value) is int and not -(2**63) <= value < 2**63:
        raise _Fallback  # orjson may have made a float of it
    seconds = parse_duration_value(value)
    if seconds is None:
        raise _Fallback
    return seconds


def _times(values: tuple[str, ...]) -> tuple[float, ...]:
    return tuple(parse_time(value) for value in values)


def _durations(values: tuple[int | float | str, ...]) -> tuple[float, ...]:
    return tuple(_duration(value) for value in values)


# A list's items are checked by msgspec (`convert`, into a tuple), as these types, then
# converted by these functions (as `_convert` converts them), if any.
_ITEMS: dict[Type, tuple[Any, str | None]] = {
    STRING: (str, None),
    NUMBER: (_INT64 | float, None),  # not float: 5 stays the int 5, as from orjson
    INT: (_INT64, None),  # 5.0 is refused (the reference converts it to 5)
    BOOL: (bool, None),
    TIME: (str, "_times"),
    DURATION: (_INT64 | float | str, "_durations"),
}
# Other values are checked in the generated code (quicker than msgspec.convert for the few
# fields of an event: its fixed cost is that of three fields). `v` is a value msgspec made.
_CHECKS = {
    STRING: "type(v) is str",
    NUMBER: "type(v) is float or (type(v) is int and -M <= v < M)",  # M: int64 as above
    INT: "type(v) is int and -M <= v < M",  # 5.0 is refused (the reference makes it 5)
    BOOL: "type(v) is bool",
}


def _value_code(index: int, field: p.FieldSchema, namespace: dict[str, Any]) -> list[str]:
    """Code that checks and converts property `v` of `field` (not None) as `_convert` does,
    or raises."""
    t = field.type
    if isinstance(t, ListType):
        if isinstance(t.element, EnumType):
            item, conversion = Literal[t.element.values], None  # type: ignore[valid-type]
        else:
            item, conversion = _ITEMS[t.element]
        namespace[f"L{index}"] = tuple[item, ...]  # type: ignore[valid-type]
        code = [f"    v = convert(v, L{index})"]  # msgspec makes a tuple of a list
        return code if conversion is None else [*code, f"    v = {conversion}(v)"]
    if isinstance(t, EnumType):
        namespace[f"E{index}"] = frozenset(t.values)
        return [f"    if type(v) is not str or v not in E{index}:", "        raise Fallback"]
    if t == TIME:
        return ["    if type(v) is not str:", "        raise Fallback", "    v = parse_time(v)"]
    if t == DURATION:
        return ["    v = _duration(v)"]
    return [f"    if not ({_CHECKS[t]}):", "        raise Fallback"]


def _bare(cls: type, names: tuple[str, ...]) -> bool:
    """Whether an instance of attrs class `cls`, of exactly these fields, is made as well by
    `object.__new__` and setting each slot as by its `__init__`: no converter, validator,
    `__new__`, hook on `__setattr__` or around `__init__`."""
    fields = attrs.fields(cls)
    return (
        tuple(field.name for field in fields) == names
        and all(field.converter is None and field.validator is None for field in fields)
        and cls.__new__ is object.__new__
        and cls.__setattr__ is object.__setattr__
        and not hasattr(cls, "__attrs_pre_init__")
        and not hasattr(cls, "__attrs_post_init__")
    )


# A Decoded is built slot by slot, a fifth cheaper than through its attrs `__init__` (a type
# call into a Python function), unless its class does more there. (An Event is a msgspec
# Struct: its constructor is a C call already.)
_BARE = _bare(Decoded, ("items", "rejected", "ignored"))


def _result_code(bare: bool) -> list[str]:
    """The end of `finish`: the Event (of the fields, traits, ...) in its Decoded."""
    event = ["    event = Event(NAME, customer_id, at, event_id, fields, traits, line)"]
    if not bare:
        return [*event, "    return Decoded([event], [], 0)"]
    return [
        *event,
        "    out = new(Decoded)",
        "    out.items = [event]",
        "    out.rejected = []",
        "    out.ignored = 0",
        "    return out",
    ]


def _compile_event(
    schema: p.EventSchema, gate: Callable[[dict[str, Any]], bool] | None = None
) -> Finish:
    """Generated code that finishes the decoding of a line of this event type: checks the
    envelope, checks and converts the properties as the reference path's converter does,
    and builds the `fields` dict (customer_id, timestamp and id last, in the same order)
    and the Event, with the traits given (already converted); one ignored line, as the
    reference path, for an event without traits whose fields its type's `gate` refuses.
    Raises whenever the reference path is to decide."""
    namespace: dict[str, Any] = {
        "NAME": schema.name,
        "GATE": gate,
        "M": 2**63,
        "Decoded": Decoded,
        "Event": Event,
        "Fallback": _Fallback,
        "new": object.__new__,
        "convert": msgspec.convert,
        "fromisoformat": datetime.fromisoformat,
        "parse_time": parse_time,
        "_duration": _duration,
        "_times": _times,
        "_durations": _durations,
    }
    code = [
        "def finish(document, traits, line):",
        "    customer_id = document.customer_id",
        "    event_id = document.id",
        "    if not customer_id or not event_id:",  # rejected, or identified by a hash
        "        raise Fallback",
        "    moment = fromisoformat(document.timestamp)",  # parse_time, inlined
        "    if moment.tzinfo is None:",
        "        at = parse_time(document.timestamp)",
        "    else:",
        "        at = moment.timestamp()",
        "    properties = document.properties",
    ]
    entries = []
    for index, field in enumerate(schema.fields.values()):
        if field.name in ("customer_id", "timestamp", "id"):
            continue
        value = _value_code(index, field, namespace)
        if field.has_default:  # missing or null: the default
            namespace[f"D{index}"] = field.default
            code += [f"    v = properties.get({field.name!r})"]
            code += ["    if v is None:", f"        v{index} = D{index}", "    else:"]
            code += ["    " + line for line in value] + [f"        v{index} = v"]
        else:  # missing: a KeyError; null: refused by every check of `value`
            code += [f"    v = properties[{field.name!r}]", *value, f"    v{index} = v"]
        entries.append(f"        {field.name!r}: v{index},")
    gated = ["    if traits is None and not GATE(fields):", "        return Decoded([], [], 1)"]
    if gate is None:
        gated = []
    code += [
        "    fields = {",
        *entries,
        "        'customer_id': customer_id, 'timestamp': at, 'id': event_id,",
        "    }",
        *gated,
        *_result_code(_BARE),
    ]
    exec(compile("\n".join(code), f"<fbdsl fast decoder {schema.name}>", "exec"), namespace)
    return namespace["finish"]  # type: ignore[no-any-return]


def _unsure_long_line(raw: bytes | str) -> bool:
    """Whether orjson could refuse a long line msgspec took: one with an integer of 309
    digits or more (orjson makes a float of an integer beyond 64 bits, an infinite one
    there, and refuses it; msgspec keeps the integer), or nested deeper than orjson allows."""
    data = raw.encode() if type(raw) is str else raw  # msgspec took it: no lone surrogate
    assert isinstance(data, bytes | bytearray)
    digits = len(data) - len(data.translate(None, b"0123456789"))
    if digits >= _DIGITS and _DIGIT_RUN.search(data):
        return True
    return len(data) >= 2 * _DEEP and data.count(b"[") + data.count(b"{") >= _DEEP


# Traits as sent (their JSON text) -> what they yield: whether orjson's value is truthy, and
# the converted traits (None, or a dict each Event gets a copy of) or `_UNSURE` (the
# reference path decides). Kept by text, as the traits of a product's events take few
# values: orjson and `convert_traits` cost 1 us, the look-up and the copy an eighth of it.
_UNSURE: Any = object()
_TRAITS_TEXT = 256  # longer traits are converted each time
_TRAITS_KEPT = 4096  # the store is emptied when it holds so many


def _traits_entries(decoder: Decoder) -> tuple[dict[bytes, Any], Callable[[bytes], Any]]:
    """The store of converted traits, and the function that fills it (`_UNSURE` if the
    text is not JSON as orjson reads it)."""
    store: dict[bytes, Any] = {}
    convert_traits, loads = decoder.convert_traits, orjson.loads

    def entry(text: bytes) -> Any:
        try:
            traits = loads(text)  # as the reference path: orjson's values
        except orjson.JSONDecodeError:
            made: Any = _UNSURE
        else:
            if traits is not None and type(traits) is not dict:
                made = (bool(traits), _UNSURE)  # ignored if unread and falsy, else rejected
            elif not traits:
                made = (False, None)
            else:
                try:
                    made = (True, convert_traits(traits))
                except Exception:  # SchemaError: rejected
                    made = (True, _UNSURE)
        if len(text) <= _TRAITS_TEXT:
            if len(store) >= _TRAITS_KEPT:
                store.clear()
            store[text] = made
        return made

    return store, entry


def fast_decode_line(decoder: Decoder) -> DecodeLine:
    """`decoder.decode_line` through msgspec, falling back to `decoder.decode_reference`."""
    reference = decoder.decode_reference
    envelope = msgspec.json.Decoder(_Envelope).decode
    names, read_names = decoder.names, decoder.read_names
    strict, skip_unread = decoder.strict, decoder.skip_unread
    finishers = {
        name: _compile_event(schema, decoder.gates.get(name))
        for name, schema in decoder.events.items()
    }
    declared = {external: finishers[name] for external, name in names.items()}
    # The events looked up first: those read (all declared ones when every line is checked).
    first = {external: declared[external] for external in read_names} if skip_unread else declared
    traits_store, traits_entry = _traits_entries(decoder)
    known_traits = traits_store.get
    # (closure cells are quicker than globals)
    absent, ignored, long_line, unsure = _ABSENT, IGNORED, _LONG, _UNSURE

    def decode_line(raw: bytes | str, line: int) -> Decoded:
        try:
            document = envelope(raw)
            doubt = len(raw) >= long_line and _unsure_long_line(raw)
        except Exception:  # msgspec's errors, a surrogate in a str, a memoryview...
            return reference(raw, line)
        if doubt:
            return reference(raw, line)
        external = document.event
        traits = document.traits
        if traits is absent:
            if external in first:  # (quicker than `get` for the many lines of unread events)
                try:
                    return first[external](document, None, line)
                except Exception:  # ValueError (a time), _Fallback, KeyError, ValidationError
                    return reference(raw, line)
            if skip_unread:
                return ignored  # an event no rule reads
            return reference(raw, line) if strict else Decoded([], [], 1)  # undeclared
        text = bytes(traits)
        entry = known_traits(text)
        if entry is None:
            entry = traits_entry(text)
        if entry is unsure:  # not JSON to orjson
            return reference(raw, line)
        truthy, converted = entry
        finish = first.get(external)
        if finish is None:
            if skip_unread and not truthy:
                return ignored
            finish = declared.get(external)  # unread, but with traits to keep
            if finish is None:  # an undeclared event
                if strict or converted is unsure:
                    return reference(raw, line)
                return Decoded([], [], 1)
        if converted is unsure:  # traits that are not an object, or not valid
            return reference(raw, line)
        try:
            return finish(document, None if converted is None else converted.copy(), line)
        except Exception:
            return reference(raw, line)

    return decode_line
