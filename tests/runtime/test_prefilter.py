"""The reader process of batch runs (prefilter.py): the same decisions, counts, line numbers
and rejected lines as decoding in-process; its failures and its death are reported; a run
that stops early leaves no reader behind."""

from __future__ import annotations

import io
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from fbdsl.runtime import prefilter
from fbdsl.runtime.batch import DeadLetters, RunReport, run_batch
from fbdsl.runtime.events import Decoded
from fbdsl.runtime.ledger.memory import MemoryLedger
from fbdsl.runtime.prefilter import Prefilter, PrefilterError
from tests.runtime.helpers import graph_of
from tests.runtime.test_crash import RULES, stream

pytestmark = pytest.mark.skipif(not prefilter.available(), reason="no fork here")


def mixed_lines() -> list[bytes]:
    """The crash test's stream, with lines no rule reads, undeclared events, Segment calls,
    an empty Segment batch, and lines to reject, spread through it."""
    lines = stream(2000).splitlines(keepends=True)
    extra = [
        b'{"id":"p1","event":"page_viewed","customer_id":"c1","timestamp":"2026-01-01T00:00:00Z"}\n',
        b'{"type":"track","event":"cart_updated","userId":"c2","messageId":"s1",'
        b'"timestamp":"2026-01-01T01:00:00Z","properties":{"cart_id":"c2-0","total":50}}\n',
        b'{"batch":[]}\n',
        b"{not json\n",
        b'{"id":"b1","event":"cart_updated","customer_id":"c3","timestamp":"never",'
        b'"properties":{"cart_id":"x","total":5}}\n',
        b'{"id":"t1","event":"page_viewed","customer_id":"c4","timestamp":"2026-01-01T02:00:00Z",'
        b'"traits":{"timezone":"Europe/Paris"}}\n',
        b"\n",
    ]
    out: list[bytes] = []
    for index, line in enumerate(lines):
        out.append(line)
        if index % 97 == 0:
            out.extend(extra)
    return out


def run_both(lines: list[bytes], **options: object) -> list[tuple[bytes, RunReport, list]]:
    graph = graph_of(RULES)
    results = []
    for use_reader in (False, True):
        out, dead = io.BytesIO(), []
        report = run_batch(graph, lines, MemoryLedger(), out, flush=True, prefilter=use_reader,
                           on_rejected=dead.append, **options)  # fmt: skip
        results.append((out.getvalue(), report, [(r.line, r.reason) for r in dead]))
    return results


@pytest.mark.parametrize("strict", [False, True])
def test_the_reader_gives_what_decoding_in_process_gives(strict: bool) -> None:
    lines = mixed_lines()
    (alone, alone_report, alone_dead), (read, report, dead) = run_both(lines, strict=strict)
    assert read == alone and report == alone_report and dead == alone_dead
    assert report.lines == len(lines) and report.rejected > 0 and (report.ignored > 0 or strict)
    assert len(read.splitlines()) > 100


def test_dead_letters_and_progress_through_the_reader(tmp_path: Path) -> None:
    lines = mixed_lines()
    sizes: list[int] = []
    dead = DeadLetters(str(tmp_path / "dead.jsonl"))
    report = run_batch(graph_of(RULES), lines, MemoryLedger(), io.BytesIO(), prefilter=True,
                       dead_letters=dead, progress=sizes.append)  # fmt: skip
    dead.close()
    assert sum(sizes) == sum(len(line) for line in lines)
    rejected = [orjson.loads(x) for x in (tmp_path / "dead.jsonl").read_bytes().splitlines()]
    assert len(rejected) == report.rejected
    assert [r["line"] for r in rejected] == [
        number
        for number, line in enumerate(lines, 1)
        if line == b"{not json\n" or b'"timestamp":"never"' in line
    ]


def failing_lines(lines: list[bytes], after: int) -> Iterator[bytes]:
    yield from lines[:after]
    raise OSError("disk read error")


def dying_lines(lines: list[bytes], after: int) -> Iterator[bytes]:
    yield from lines[:after]
    os.kill(os.getpid(), signal.SIGKILL)  # the reader process (it iterates the lines)


def test_a_reader_that_fails_reports_its_error() -> None:
    lines = mixed_lines()
    with pytest.raises(PrefilterError, match=r"reader process failed: OSError.*disk read error"):
        run_batch(graph_of(RULES), failing_lines(lines, 5000), MemoryLedger(), io.BytesIO(),
                  prefilter=True)  # fmt: skip


def test_a_reader_that_dies_is_noticed() -> None:
    lines = mixed_lines()
    with pytest.raises(PrefilterError, match="ended unexpectedly"):
        run_batch(graph_of(RULES), dying_lines(lines, 5000), MemoryLedger(), io.BytesIO(),
                  prefilter=True)  # fmt: skip


def test_a_run_that_stops_early_leaves_no_reader_behind() -> None:
    lines = mixed_lines()
    every_line = Decoded([object()], [], 0)  # type: ignore[list-item]
    reader = Prefilter(lines * 20, lambda raw, number: every_line)
    pid = reader.pid
    assert pid is not None
    assert next(iter(reader)) is every_line  # a line the engine decodes again
    reader.close()  # the reader was blocked on a full pipe: killed and collected
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def test_no_reader_is_forked_beside_other_threads() -> None:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert not prefilter.available()
        (alone, _, _), (read, _, _) = run_both(mixed_lines()[:300])
        assert read == alone
    finally:
        stop.set()
        thread.join()


LIST_RULES = """
event viewed { items: list<string>  total: number }
customer { langs: list<string> = [] }
rule pair when viewed where items == ["a", "b"] then tag "pair"
rule french when viewed where customer.langs contains "fr" then tag "fr"
"""


def test_list_values_come_back_as_the_decoder_makes_them() -> None:
    """Events whose fields or traits hold lists come from the reader as the decoder made
    them: tuples (plain MessagePack would give lists back, and `items == ["a", "b"]` would
    fail)."""
    lines = []
    for n in range(300):
        doc = {"id": f"v{n}", "event": "viewed", "customer_id": f"c{n % 7}",
               "timestamp": f"2026-01-01T00:{n // 60:02d}:{n % 60:02d}Z",
               "properties": {"items": ["a", "b"] if n % 3 else ["a"], "total": n}}  # fmt: skip
        if n % 5 == 0:
            doc["traits"] = {"langs": ["fr", "de"]}
        lines.append(orjson.dumps(doc) + b"\n")
    graph = graph_of(LIST_RULES)
    outputs = []
    for use_reader in (False, True):
        out = io.BytesIO()
        run_batch(graph, lines, MemoryLedger(), out, prefilter=use_reader)
        outputs.append(out.getvalue())
    decisions = [orjson.loads(line) for line in outputs[1].splitlines()]
    assert outputs[0] == outputs[1]
    assert sum(d["rule"] == "pair" for d in decisions) == 200
    assert sum(d["rule"] == "french" for d in decisions) > 200


class CountingLedger(MemoryLedger):
    """A memory ledger that notes how many event ids it had seen at each commit."""

    def __init__(self) -> None:
        super().__init__()
        self.commits: list[int] = []

    def commit(self) -> None:
        self.commits.append(len(self.seen_ids))
        super().commit()


def test_a_file_of_known_size_is_committed_twice_more_before_its_end() -> None:
    """With the input's size known, the run commits as the last 20% and the last 4% begin,
    so that the last commit (the one a write-behind run waits for) holds little and the one
    before it is applied meanwhile: the same decisions, and two commits more, from the
    frames of lines that reach 80% and 96% of the bytes (2,048 lines a frame)."""
    lines = stream(20_000).splitlines(keepends=True)
    graph = graph_of(RULES)
    results = []
    for size in (None, sum(len(line) for line in lines)):
        ledger = CountingLedger()
        out = io.BytesIO()
        run_batch(graph, lines, ledger, out, prefilter=True, input_size=size)
        results.append((out.getvalue(), ledger.commits))
    (plain, plain_commits), (early, early_commits) = results
    assert early == plain
    assert len(early_commits) == len(plain_commits) + 2
    remembered = plain_commits[-1]  # (the events no rule could match are not)
    frame = prefilter.FRAME_LINES
    first, second, last = early_commits[-3:]
    assert 0.8 * remembered - frame < first < 0.8 * remembered
    assert 0.96 * remembered - frame < second < 0.96 * remembered < last == remembered
    assert remembered > 0.9 * 20_000
