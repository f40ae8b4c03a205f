"""Where decisions go: a JSON lines stream, or a file written exactly once across crashes.

A batch of decisions is written *before* the ledger commit that makes it durable. For a
stream (stdout, a pipe) a crash between the two means the resumed run writes that batch
again: at-least-once delivery, and `decision_id` tells the repeats apart. For a file, the
sink also records the file's size in that same commit; when a run opens the file again, the
bytes beyond the size the ledger knows (a batch whose commit never happened, which the
resumed run decides again) are cut off: exactly once. So a file takes the lines of a batch
as they come (`append`), and only the commit's `write` makes them durable (fsync) and
records the size; a stream keeps them until the commit's `write`, as before.

The sidecar's webhook goes through the ledger's outbox (`OutboxSink`): decisions are added
to it in the same commit as the state that made them, and a deliverer (outbox.py) sends
them once committed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

from fbdsl.runtime.ledger import Ledger


class StreamSink:
    """Decisions to a binary stream; at least once across crashes. `owned`: close it."""

    def __init__(self, stream: IO[bytes], owned: bool = False) -> None:
        self.stream = stream
        self.owned = owned
        self.held: list[bytes] = []  # lines `append`ed, written with the commit's

    def append(self, lines: bytes) -> None:
        """Lines of the coming commit's batch (written with it)."""
        self.held.append(lines)

    def write(self, lines: list[bytes], ledger: Ledger) -> None:
        """The batch of the commit that follows (after those `append`ed)."""
        if self.held:
            self.stream.writelines(self.held)
            self.held = []
        self.stream.writelines(lines)
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()
        if self.owned:
            self.stream.close()


class FileSink:
    """Decisions appended to a file; exactly once across crashes (see the module doc)."""

    def __init__(self, path: Path, ledger: Ledger) -> None:
        self.key = f"decisions_file_size:{path.resolve()}"
        self.handle = open(path, "ab")  # noqa: SIM115 - closed by close()
        known = ledger.meta(self.key)
        self.cut = 0
        if known is None:  # first use with this ledger: what is there is not ours
            ledger.set_meta(self.key, str(self.handle.tell()))
            ledger.commit()
        elif self.handle.tell() > int(known):
            self.cut = self.handle.tell() - int(known)
            self.handle.truncate(int(known))
            self.handle.seek(0, os.SEEK_END)

    def append(self, lines: bytes) -> None:
        """Lines of the coming commit's batch, written now: a crash before that commit
        leaves them beyond the recorded size, cut off by the next run."""
        self.handle.write(lines)

    def write(self, lines: list[bytes], ledger: Ledger) -> None:
        """The rest of the batch of the commit that follows: durable, and the file's size
        recorded in that commit."""
        self.handle.writelines(lines)
        ledger.sync_before_commit(self.handle)
        ledger.set_meta(self.key, str(self.handle.tell()))

    def close(self) -> None:
        self.handle.close()


class OutboxSink:
    """Decisions queued in the ledger's outbox for the webhook, durable with the commit."""

    def write(self, lines: list[bytes], ledger: Ledger) -> None:
        if lines:
            ledger.outbox_add(lines)

    def close(self) -> None:
        pass


Sink = StreamSink | FileSink | OutboxSink


def open_sink(target: str, ledger: Ledger, stdout: IO[bytes]) -> Sink:
    """`-` for stdout; a device or a pipe (/dev/null, a FIFO) as a stream; else a file."""
    if target == "-":
        return StreamSink(stdout)
    path = Path(target)
    if path.exists() and not path.is_file():
        return StreamSink(path.open("ab"), owned=True)
    return FileSink(path, ledger)


class DeadLetterFile:
    """Rejected input of the sidecar, one JSON object a line: `{"received_at", "endpoint",
    "line", "reason", "raw"}`. Written on the engine thread and made durable (fsync) in the
    same round as the response that reports the rejection."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle: IO[bytes] | None = None
        self.unsynced = False

    def write(self, record: dict[str, object]) -> None:
        import orjson

        if self.handle is None:
            self.handle = open(self.path, "ab")  # noqa: SIM115 - closed by close()
        self.handle.write(orjson.dumps(record) + b"\n")
        self.unsynced = True

    def sync(self) -> None:
        if self.handle is not None and self.unsynced:
            self.handle.flush()
            os.fsync(self.handle.fileno())
            self.unsynced = False

    def close(self) -> None:
        if self.handle is not None:
            self.sync()
            self.handle.close()
            self.handle = None
