"""Hot reload for the sidecar: compiling a rule set, telling which rules changed, watching
the rule files.

A rule's *fingerprint* is a hash of everything that decides what the rule does, as the
compiled graph states it: its triggers, tests, absence windows, sample, holdout, mode and
actions (targets, channels, delays, `unless`), and the schemas of the events it names.
Its priority and its place in the files are left out: they order decisions, they do not
change them. A pending timer belongs to a rule by name (timers.py); after a reload, the
timers of a rule whose fingerprint changed, or that is gone, are dropped (server docs:
**Decision (timers across a reload)**); the timers of every other rule carry on.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import orjson

from fbdsl.compiler.diagnostics import render_all_text
from fbdsl.compiler.graph import RuleGraph, RuleNode, graph_to_json
from fbdsl.compiler.loader import files_of
from fbdsl.compiler.pipeline import compile_paths
from fbdsl.compiler.program import EventSchema


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


def _schema_json(schema: EventSchema) -> dict[str, Any]:
    return {
        name: [str(field.type), repr(field.default), field.has_default]
        for name, field in schema.fields.items()
    }


def _events_named(rule: RuleNode) -> set[str]:
    names = set(rule.triggers) | {absence.event for absence in rule.absences}
    for action in rule.actions:
        unless = getattr(action, "unless", None)
        if unless is not None:
            names.add(unless.event)
    return names


def rule_fingerprints(graph: RuleGraph) -> dict[str, str]:
    """Each rule's fingerprint (see the module doc), by name."""
    document = graph_to_json(graph)
    texts = {test.id: test.text for test in graph.field_tests}
    out: dict[str, str] = {}
    for rule, entry in zip(graph.rules, document["rules"], strict=True):  # type: ignore[call-overload]
        described = dict(entry)
        described.pop("priority")
        described["field_tests"] = {
            event: [texts[i] for i in ids] for event, ids in rule.field_tests.items()
        }
        described["schemas"] = {
            event: _schema_json(graph.events[event])
            for event in sorted(_events_named(rule))
            if event in graph.events
        }
        encoded = orjson.dumps(described, option=orjson.OPT_SORT_KEYS)
        out[rule.name] = hashlib.blake2b(encoded, digest_size=8).hexdigest()
    return out


def changed_rules(old: dict[str, str], new: dict[str, str]) -> set[str]:
    """Rules of `old` that are gone from `new` or whose fingerprint differs."""
    return {name for name, fingerprint in old.items() if new.get(name) != fingerprint}


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
