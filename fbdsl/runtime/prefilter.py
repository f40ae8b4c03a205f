"""Batch input read by a second process, which drops the lines no rule reads.

A sidecar's stream, or a product's event export, is mostly events no rule reads (W1: 73% of
its lines); the engine's process still had to read and parse each of them (0.4 s of a W1
run) before dropping it. `Prefilter` forks a reader process that reads the lines, decodes
each with the run's own decoder (the same code and rules: the same answers), and hands the
engine only the others, with their line numbers, in frames on a pipe; the engine decodes
those again (it keeps its own objects) and never sees the rest, only their count. On a
machine with a second core the reading happens there, beside the ledger's writer.

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

from fbdsl.runtime.events import IGNORED, Decoded

DecodeLine = Callable[[bytes, int], Decoded | object]
_HEADER = struct.Struct("<Q")
FRAME_LINES = 2048  # lines to read per frame at most (the pipe applies back-pressure)
_RUNNING = -1  # a frame's `total` until the end of the input


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
        self.ignored = 0
        self.lines = 0

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        decode = msgspec.msgpack.Decoder(
            tuple[int, int, int, list[tuple[int, bytes]]] | bytes
        ).decode
        source, progress = self.source, self.progress
        while True:
            header = source.read(_HEADER.size)
            if len(header) < _HEADER.size:
                raise PrefilterError(self._death())
            body = source.read(_HEADER.unpack(header)[0])
            frame = decode(body)
            if type(frame) is bytes:
                raise PrefilterError(frame.decode(errors="replace"))
            ignored, size, total, entries = frame  # type: ignore[misc]
            self.ignored += ignored
            if progress is not None:
                progress(size)
            yield from entries
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
    entries: list[tuple[int, bytes]] = []
    ignored = size = number = 0
    for number, raw in enumerate(lines, 1):
        size += len(raw)
        decoded = decode(raw, number)
        if decoded is IGNORED:
            ignored += 1
            continue
        assert isinstance(decoded, Decoded)
        if not decoded.items and not decoded.rejected:  # undeclared, or an empty batch
            ignored += decoded.ignored
            continue
        entries.append((number, raw))
        if len(entries) >= FRAME_LINES:
            _send(out, None, (ignored, size, _RUNNING, entries))
            entries, ignored, size = [], 0, 0
    _send(out, None, (ignored, size, number, entries))


_encode = msgspec.msgpack.Encoder().encode


Frame = tuple[int, int, int, list[tuple[int, bytes]]]  # (ignored, bytes read, total, lines)


def _send(out: int, error: bytes | None, frame: Frame | None) -> None:
    body = _encode(error if error is not None else frame)
    data = memoryview(_HEADER.pack(len(body)) + body)
    while data:
        data = data[os.write(out, data) :]
