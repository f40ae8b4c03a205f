"""The compiler's stages in a row: files -> parse -> check -> rule graph."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import attrs

from fbdsl.compiler.checker import check
from fbdsl.compiler.diagnostics import Diagnostic, SourceMap
from fbdsl.compiler.graph import RuleGraph, build_graph
from fbdsl.compiler.loader import files_of, load_rule_set, load_text


@attrs.frozen
class Compiled:
    graph: RuleGraph | None
    diagnostics: tuple[Diagnostic, ...]
    sources: SourceMap


def compile_paths(paths: Sequence[Path]) -> Compiled:
    """One rule set from files and directories (each directory read recursively)."""
    files = [f for path in paths for f in files_of(path)]
    loaded = load_rule_set(files)
    if loaded.diagnostics:
        return Compiled(None, loaded.diagnostics, loaded.sources)
    result = check(loaded.files)
    graph = build_graph(result.program) if result.program is not None else None
    return Compiled(graph, result.diagnostics, loaded.sources)


def compile_text(text: str, name: str = "<string>.fbdsl") -> Compiled:
    loaded = load_text(text, name)
    if loaded.diagnostics:
        return Compiled(None, loaded.diagnostics, loaded.sources)
    result = check(loaded.files)
    graph = build_graph(result.program) if result.program is not None else None
    return Compiled(graph, result.diagnostics, loaded.sources)
