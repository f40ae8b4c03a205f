"""Request bodies of the ingestion endpoints -> decoded events (run on the engine thread).

- `/v1/track`, `/v1/identify`: one Segment/RudderStack call (its `type` may be left out:
  the endpoint says it; another type is rejected);
- `/v1/batch`: `{"batch": [call, ...]}`, each call judged alone (`batch item 3: ...`);
- `/v1/events`: fbdsl JSON, as one object, an array of objects, or JSON lines (any line
  `fbdsl run` accepts, Segment calls included). Items are numbered from 1 (`line`).

Everything is validated by the rule set's `Decoder`, exactly as in batch runs (which also
reads an identify call's `context.traits`, where RudderStack's SDKs put them).
"""

from __future__ import annotations

from collections.abc import Callable

import orjson

from fbdsl.runtime.events import Decoded, Decoder, Rejected

Decode = Callable[[Decoder], Decoded]


def _text(body: bytes) -> str:
    return body.decode("utf-8", "replace")


def single_call(body: bytes, kind: str) -> Decode:
    """A `/v1/track` or `/v1/identify` body."""

    def decode(decoder: Decoder) -> Decoded:
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return Decoded(rejected=[Rejected(1, f"invalid JSON: {exc}", _text(body))])
        if type(document) is not dict:
            return Decoded(
                rejected=[Rejected(1, f"a {kind} call must be a JSON object", _text(body))]
            )
        given = document.setdefault("type", kind)
        if given != kind:
            reason = f"/v1/{kind} takes {kind} calls, not {given!r} (use /v1/batch)"
            return Decoded(rejected=[Rejected(1, reason, _text(body))])
        return decoder.decode_line(orjson.dumps(document), 1)

    return decode


def segment_batch(body: bytes) -> Decode:
    """A `/v1/batch` body."""

    def decode(decoder: Decoder) -> Decoded:
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return Decoded(rejected=[Rejected(1, f"invalid JSON: {exc}", _text(body))])
        if type(document) is not dict or not isinstance(document.get("batch"), list):
            reason = "a batch must be a JSON object with a 'batch' list"
            return Decoded(rejected=[Rejected(1, reason, _text(body)[:1000])])
        return decoder.decode_line(body, 1)  # parsed again: cheaper than encoding it anew

    return decode


def native_events(body: bytes) -> Decode:
    """A `/v1/events` body: one object, an array, or JSON lines."""

    def decode(decoder: Decoder) -> Decoded:
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            document = None  # JSON lines (or broken JSON: each line says so)
            lines = body.split(b"\n")
        else:
            lines = [orjson.dumps(item) for item in document] if type(document) is list else [body]
        out = Decoded()
        for number, line in enumerate(lines, 1):
            if document is None and not line.strip():
                continue
            decoded = decoder.decode_line(line, number)
            out.items.extend(decoded.items)
            out.rejected.extend(decoded.rejected)
            out.ignored += decoded.ignored
        return out

    return decode
