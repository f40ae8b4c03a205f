"""Batch input read by a second process, which drops the lines no rule reads.

A sidecar's stream, or a product's event export, is mostly events no rule reads (W1: 73% of
its lines); the engine's process still had to read and parse each of them (0.4 s of a W1
run) before dropping it. `Prefilter` forks a reader process that reads the lines, decodes
each with the run's own decoder (the same code and rules: the same answers), and hands the
engine only the others, in frames on a pipe: the Event itself where the line decoded to one
event (most lines: a msgspec Struct, decoded back as one in C; its list values, tuples as the
decoder made them, come back tuples: the frames are decoded as typed), else the line and its
number, which the engine decodes again, in its place among the Events. The engine never
sees the rest, only their count. On a machine with a second core the reading happens there,
beside the ledger's writer (W1: 2.45 s to 1.9 s with the memory ledger).

Nothing changes but where the work is done: the line numbers, the counts of ignored lines,
the rejected lines and their reasons, and every decision are those of an in-process run
(tests/runtime/test_prefilter.py compares the two). A reader that fails reports its error;
one that dies is noticed (no end-of-input frame). It is only forked where that is safe: a
platform with `fork` and a process with one thread (a thread holding a lock at the fork
would leave the reader stuck); elsewhere the caller decodes in-process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import struct
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import IO

import msgspec

from fbdsl.runtime.events import IGNORED, Decoded, Event

DecodeLine = Callable[[bytes, int], Decoded | object]
_HEADER = struct.Struct("<Q")
FRAME_LINES = 2048  # lines to read per frame at most (the pipe applies back-pressure)
_RUNNING = -1  # a frame's `total` until the end of the input
# A frame: (ignored, bytes read, total or _RUNNING, the Events the reader decoded, and the
# lines the engine decodes again: (how many of those Events come before it, number, line)).
Reread = tuple[int, int, bytes]
Frame = tuple[int, int, int, list[Event], list[Reread]]


class PrefilterError(Exception):
    """The reader process failed (its message) or died."""


def available() -> bool:
    """Whether a reader process can be forked safely here."""
    return hasattr(os, "fork") and threading.active_count() == 1


class Prefilter:
    """The lines of `lines` that decode to something, as (line number, line), read by a
    forked process; `ignored` counts the others as the decoder does, `lines` is the number
    of lines read (once the iteration has ended)."""

    def __init__(
        self,
        lines: Iterable[bytes],
        decode: DecodeLine,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the reader
            os.close(read_end)
            code = 0
            try:
                _read(lines, decode, write_end)
            except BaseException as exc:  # reported to the engine, which raises it
                code = 1
                with contextlib.suppress(OSError):  # (the engine is gone: nobody to tell)
                    _send(write_end, f"the reader process failed: {exc!r}".encode(), None)
            os._exit(code)  # no clean-up of the engine's objects: they are the engine's
        os.close(write_end)
        self.pid: int | None = pid
        self.source: IO[bytes] = os.fdopen(read_end, "rb", buffering=1 << 20)
        self.progress = progress
        self.decode = decode
        self.ignored = 0
        self.read = 0  # bytes of input read so far (up to the frame being handed out)
        self.lines = 0

    def __iter__(self) -> Iterator[Decoded | Event | object]:
        """What the engine's decoder makes of each line that decodes to something: the
        reader's Event where it sent one, else the line decoded here."""
        decode, reread = msgspec.msgpack.Decoder(Frame | bytes).decode, self.decode
        source, progress = self.source, self.progress
        while True:
            header = source.read(_HEADER.size)
            if len(header) < _HEADER.size:
                raise PrefilterError(self._death())
            frame = decode(source.read(_HEADER.unpack(header)[0]))
            if type(frame) is bytes:
                raise PrefilterError(frame.decode(errors="replace"))
            ignored, size, total, events, rereads = frame  # type: ignore[misc]
            self.ignored += ignored
            self.read += size
            if progress is not None:
                progress(size)
            if rereads:
                done = 0
                for before, number, raw in rereads:
                    yield from events[done:before]
                    done = before
                    yield reread(raw, number)
                yield from events[done:]
            else:
                yield from events  # (most frames: the Events as msgspec made them, in C)
            if total != _RUNNING:
                self.lines = total
                self.close()
                return

    def close(self) -> None:
        """Stop the reader if it is still reading (a run that ends early) and collect it."""
        self.source.close()
        if self.pid is not None:
            pid, self.pid = self.pid, None
            done, _ = os.waitpid(pid, os.WNOHANG)
            if not done:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)

    def _death(self) -> str:
        pid, self.pid = self.pid, None
        code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) if pid else None
        return f"the reader process ended unexpectedly (exit code {code})"


def _read(lines: Iterable[bytes], decode: DecodeLine, out: int) -> None:
    """The reader's loop: a frame every FRAME_LINES lines that decode to something."""
    events: list[Event] = []
    rereads: list[Reread] = []
    ignored = size = number = 0
    for number, raw in enumerate(lines, 1):
        size += len(raw)
        decoded = decode(raw, number)
        if decoded is IGNORED:
            ignored += 1
            continue
        assert isinstance(decoded, Decoded)
        items = decoded.items
        if not items and not decoded.rejected:  # undeclared, or an empty batch
            ignored += decoded.ignored
            continue
        event = items[0] if len(items) == 1 and not decoded.rejected else None
        if type(event) is Event and not decoded.ignored:
            events.append(event)
        else:  # decoded again by the engine
            rereads.append((len(events), number, raw))
        if len(events) + len(rereads) >= FRAME_LINES:
            _send(out, None, (ignored, size, _RUNNING, events, rereads))
            events, rereads, ignored, size = [], [], 0, 0
    _send(out, None, (ignored, size, number, events, rereads))


_encode = msgspec.msgpack.Encoder().encode


def _send(out: int, error: bytes | None, frame: Frame | None) -> None:
    body = _encode(error if error is not None else frame)
    data = memoryview(_HEADER.pack(len(body)) + body)
    while data:
        data = data[os.write(out, data) :]
