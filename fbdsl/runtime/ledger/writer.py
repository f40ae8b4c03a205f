"""The SQLite ledger's commits: the one transaction that writes a batch of changes, run in
the engine's process or, for batch runs, in a writer process of its own (write-behind).

A batch run spends a sixth of its time inside SQLite's commits (W1: 0.7 of 4.6 s), time in
which the engine could decide the next batch on the machine's other core. A thread cannot:
binding the rows holds the GIL (measured slower than no thread). So `WriteBehind` starts
this module as a process (`python writer.py PATH SYNCHRONOUS`: a script, so that it starts
without importing the engine) and hands it each commit as one MessagePack frame on a pipe;
the writer applies frames in order, one transaction each, and acknowledges each. The engine
waits for the acknowledgement of a commit only when it hands over the next one (or reads
the database, or closes the ledger): one commit in flight at most.

Crash safety is that of a synchronous commit. The frames arrive in order and each is one
transaction; a frame cut short by the engine's death is never applied (the writer reads a
whole frame before it begins). The writer inherits the run's lock on the ledger (flock, on
the same open file), so a run started after a crash waits until the writer has finished the
frame it holds; it then sees the ledger as of that frame, and the decisions file cut to the
size recorded with it (sinks.py).

This module imports nothing of fbdsl: the writer process starts in milliseconds.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import struct
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import msgspec

# A commit, as both sides see it:
#   (states, seen, decisions, outbox, outbox_done, timers_removed, timers_added, meta,
#    synced)
# states [(customer id, state)], seen {event id: at}, decisions [(customer id, line)],
# outbox [line], outbox_done: the highest delivered sequence number (0: none),
# timers_removed [timer id], timers_added [(due, rank, customer id, action, timer id)],
# meta [(key, value)], synced [path]: files to make durable (fsync) before the transaction
Frame = tuple[
    Sequence[tuple[str, bytes]],
    Mapping[str, float],
    Sequence[tuple[str, bytes]],
    Sequence[bytes],
    int,
    Sequence[str],
    Sequence[Sequence[Any]],
    Sequence[tuple[str, str]],
    Sequence[str],
]
_HEADER = struct.Struct("<Q")  # the length of the frame that follows
_OK = b"ok"


# Writer processes the engine let go of (`WriteBehind.detach`), still finishing perhaps.
_detached: list[subprocess.Popen[bytes]] = []


def wait_for_detached() -> None:
    """Wait until the writers let go of have exited (a benchmark counting their CPU time, a
    test; a process about to exit need not: they finish on their own)."""
    while _detached:
        _detached.pop().wait()


class WriterError(Exception):
    """The writer process failed (its message), or died."""


def connect(path: Path | str, synchronous: str) -> sqlite3.Connection:
    db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    # A checkpoint (the WAL copied back into the file) every 25,000 pages (100 MB): it
    # rewrites most of the ledger's pages whatever its size (customers are spread at random
    # over them), so fewer checkpoints write less. With 10,000, W1 checkpointed inside its
    # commit before the last, and the run waited 0.1 to 0.3 s for it at its end.
    db.execute("PRAGMA wal_autocheckpoint=25000")
    # 64 MB of page cache (SQLite's default is 2 MB): the states' pages a commit updates
    # stay in memory from one commit to the next (measured: 3% of a W1 run).
    db.execute("PRAGMA cache_size=-65536")
    return db


def apply(db: sqlite3.Connection, frame: Frame) -> int:
    """Write one commit in one transaction; the number of outbox entries it removed."""
    states, seen, decisions, outbox, outbox_done, removed, added, meta, synced = frame
    for path in synced:  # (the decisions file, whose size `meta` records: sinks.py)
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
    with db:
        db.execute("BEGIN IMMEDIATE")
        db.executemany(
            "INSERT INTO customers VALUES (?, ?) ON CONFLICT(customer_id) "
            "DO UPDATE SET state = excluded.state",
            states,
        )
        db.executemany("INSERT OR IGNORE INTO seen_events VALUES (?, ?)", seen.items())
        db.executemany("INSERT INTO decisions (customer_id, decision) VALUES (?, ?)", decisions)
        db.executemany("INSERT INTO outbox (decision) VALUES (?)", [(d,) for d in outbox])
        delivered = 0
        if outbox_done:
            delivered = db.execute("DELETE FROM outbox WHERE seq <= ?", (outbox_done,)).rowcount
        db.executemany("DELETE FROM timer_index WHERE timer_id = ?", [(i,) for i in removed])
        db.executemany("INSERT OR REPLACE INTO timer_index VALUES (?, ?, ?, ?, ?)", added)
        db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta)
    return int(delivered)


class WriteBehind:
    """The engine's side: a writer process for one ledger file, one commit in flight."""

    def __init__(self, path: Path, synchronous: str, lock: IO[str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), str(path), synchronous],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            pass_fds=(lock.fileno(),),  # the run's lock lives as long as the writer
        )
        self.encoder = msgspec.msgpack.Encoder()
        # Every frame is encoded into this buffer, after its header: a commit's frame is
        # megabytes (W1's first, 15 MB), and a new one each commit is as many fresh pages,
        # each a page fault (5 us on this machine), to touch again.
        self.buffer = bytearray()
        self.in_flight = False

    def send(self, frame: Frame) -> None:
        """Hand over a commit (after the previous one was acknowledged: `wait`)."""
        assert not self.in_flight
        buffer = self.buffer
        self.encoder.encode_into(frame, buffer, _HEADER.size)
        _HEADER.pack_into(buffer, 0, len(buffer) - _HEADER.size)
        stdin = self.process.stdin
        assert stdin is not None
        try:
            stdin.write(buffer)
            stdin.flush()
        except (BrokenPipeError, OSError):
            raise WriterError(self._death()) from None
        self.in_flight = True

    def wait(self) -> int | None:
        """Wait for the commit in flight, if any: its count of outbox entries removed (None
        when there was none in flight). Raises WriterError if it failed."""
        if not self.in_flight:
            return None
        self.in_flight = False
        stdout = self.process.stdout
        assert stdout is not None
        header = stdout.read(_HEADER.size)
        if len(header) < _HEADER.size:
            raise WriterError(self._death())
        (size,) = _HEADER.unpack(header)
        reply = stdout.read(size)
        if not reply.startswith(_OK):
            raise WriterError(reply.decode(errors="replace"))
        return int(reply[len(_OK) :])

    def detach(self) -> None:
        """Let the writer finish on its own: once its input ends, it closes its connection
        and exits. The caller has its last commit acknowledged (`wait`) and has closed its
        own connection first, so that the writer's is the last one: closing it copies the
        WAL back into the file (a checkpoint: W1, 0.12 to 0.3 s), which the run no longer
        waits for. The writer holds the run's lock until it exits: a run on the same ledger
        waits for it (LOCK_WAIT), and a crash in the middle is a crash of a checkpoint,
        which SQLite recovers from."""
        _detached[:] = [process for process in _detached if process.poll() is None]
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        _detached.append(self.process)

    def _death(self) -> str:
        code = self.process.wait()
        return f"the ledger's writer process ended unexpectedly (exit code {code})"


def _read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    data = stream.read(size)
    return data if len(data) == size else None


def _read_into(stream: IO[bytes], buffer: bytearray, size: int) -> memoryview | None:
    """The next `size` bytes of `stream`, read into `buffer` (grown as needed: the caller
    keeps it, so that each frame does not fault in fresh pages), or None at its end."""
    view = memoryview(buffer)[:size]
    done = 0
    while done < size:
        count = stream.readinto(view[done:])
        if not count:
            view.release()
            return None
        done += count
    return view


def serve(path: str, synchronous: str) -> int:
    """The writer process: apply frames from stdin until it closes."""
    # Ctrl-C reaches the whole process group: the engine decides what happens (it closes
    # the ledger, waiting for the commit in flight); the writer only stops at the end of
    # its input.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    decode = msgspec.msgpack.Decoder().decode
    db = connect(path, synchronous)
    buffer = bytearray()
    while True:
        header = _read_exactly(source, _HEADER.size)
        if header is None:
            break
        (size,) = _HEADER.unpack(header)
        if len(buffer) < size:
            buffer = bytearray(size)
        data = _read_into(source, buffer, size)
        if data is None:  # the engine died in the middle of a frame: not applied
            break
        try:
            with data:  # (msgspec copies what it decodes: the buffer is free again after)
                frame = decode(data)
            reply = _OK + str(apply(db, frame)).encode()
            failed = False
        except Exception as exc:  # reported to the engine, which raises it
            reply, failed = f"the ledger's writer failed: {exc}".encode(), True
        try:
            sink.write(_HEADER.pack(len(reply)) + reply)
            sink.flush()
        except BrokenPipeError:
            break
        if failed:
            break
    db.close()
    return 0


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1], sys.argv[2]))
