"""Hot reload for the sidecar: compiling a rule set (with its rules' fingerprints, see
fingerprints.py) and watching the rule files.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence
from pathlib import Path

import attrs
import orjson

from fbdsl.compiler.diagnostics import render_all_text
from fbdsl.compiler.graph import RuleGraph
from fbdsl.compiler.loader import files_of
from fbdsl.compiler.pipeline import compile_paths
from fbdsl.runtime.fingerprints import rule_fingerprints


@attrs.frozen
class RuleSet:
    """A compiled rule set as the sidecar runs it."""

    graph: RuleGraph
    files: tuple[str, ...]
    fingerprints: dict[str, str] = attrs.field(hash=False)  # rule name -> fingerprint
    digest: str  # of all fingerprints: one value that changes when any rule changes
    loaded_at: float


@attrs.frozen
class CompileFailure:
    """A rule set that does not check: the diagnostics as `fbdsl check` prints them."""

    diagnostics: str
    errors: int


def compile_rule_set(paths: Sequence[Path]) -> RuleSet | CompileFailure:
    """Compile the rule set at `paths` (files or directories, as `fbdsl run` takes them)."""
    try:
        compiled = compile_paths(list(paths))
    except OSError as exc:  # a file vanished between listing and reading it
        return CompileFailure(f"cannot read the rule set: {exc}", 1)
    if compiled.graph is None:
        errors = sum(1 for d in compiled.diagnostics if d.severity == "error")
        text = render_all_text(compiled.diagnostics, compiled.sources)
        return CompileFailure(text, errors)
    fingerprints = rule_fingerprints(compiled.graph)
    digest = hashlib.blake2b(
        orjson.dumps(fingerprints, option=orjson.OPT_SORT_KEYS), digest_size=8
    ).hexdigest()
    files = tuple(str(f) for path in paths for f in files_of(path))
    return RuleSet(compiled.graph, files, fingerprints, digest, time.time())


class RuleFilesWatcher:
    """Notices a change to the rule set's files by polling their (path, mtime, size)."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = list(paths)
        self.last = self.snapshot()

    def snapshot(self) -> dict[str, tuple[int, int]]:
        seen: dict[str, tuple[int, int]] = {}
        for path in self.paths:
            try:
                files = files_of(path)
            except OSError:
                continue
            for file in files:
                try:
                    stat = os.stat(file)
                except OSError:
                    continue  # gone: its absence is the change
                seen[str(file)] = (stat.st_mtime_ns, stat.st_size)
        return seen

    def changed(self) -> bool:
        """Whether the files differ from the last call's (or from when it was made)."""
        current = self.snapshot()
        if current == self.last:
            return False
        self.last = current
        return True
