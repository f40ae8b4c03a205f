"""Rule sets on disk: which files make one, reading them, and following their imports.

A rule set is a `.fbdsl` file or a directory of them (recursively, sorted by path), plus
everything they import: `import "std/ecommerce"` from the standard library, `import
"./shared.fbdsl"` relative to the importing file. Each file is read and parsed once.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import attrs

from fbdsl.compiler import ast
from fbdsl.compiler.allocation import collector_paused
from fbdsl.compiler.diagnostics import Diagnostic, SourceMap, did_you_mean, error
from fbdsl.compiler.parser import parse_source
from fbdsl.resources import stdlib_module, stdlib_module_names

IMPORT_NOT_FOUND = "FB010"
UNREADABLE_FILE = "FB011"
STDLIB_PREFIX = "std/"


@attrs.frozen
class LoadedRuleSet:
    """The parsed files of one rule set (sorted by path), or the reasons they are not."""

    files: tuple[ast.SourceFile, ...]
    diagnostics: tuple[Diagnostic, ...]
    sources: SourceMap


def display_path(path: Path) -> str:
    """A path relative to the working directory when it is below it, else absolute."""
    absolute = path.resolve()
    try:
        relative = os.path.relpath(absolute)
    except ValueError:  # pragma: no cover - another drive on Windows
        return str(absolute)
    return str(absolute) if relative.startswith("..") else relative


def files_of(path: Path) -> list[Path]:
    """The .fbdsl files of a rule-set path, sorted."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*.fbdsl") if p.is_file())
    return [path]


def rule_sets_for(paths: Iterable[Path]) -> list[list[Path]]:
    """Group command-line paths into rule sets.

    Each path is one rule set, except a directory that holds no .fbdsl file directly: it
    is a collection (like `examples/`), and each of its subdirectories is a rule set.
    """
    groups: list[list[Path]] = []
    for path in paths:
        if path.is_dir() and not any(path.glob("*.fbdsl")):
            for child in sorted(c for c in path.iterdir() if c.is_dir()):
                files = files_of(child)
                if files:
                    groups.append(files)
        else:
            groups.append(files_of(path))
    return groups


class _Loader:
    def __init__(self) -> None:
        self.sources = SourceMap()
        self.diagnostics: list[Diagnostic] = []
        self.files: dict[str, ast.SourceFile] = {}
        self.seen: set[str] = set()

    def load_path(self, path: Path) -> None:
        key = str(path.resolve())
        if key in self.seen:
            return
        self.seen.add(key)
        shown = display_path(path)
        try:
            data = path.read_bytes()
            text = data.decode("utf-8")
        except OSError as exc:
            reason = exc.strerror or str(exc)
            self.diagnostics.append(
                error(
                    UNREADABLE_FILE,
                    f"cannot read {shown}: {reason}",
                    ast.Span(shown, 1, 1, 1, 1, 0, 0),
                )
            )
            return
        except UnicodeDecodeError as exc:
            self.sources.add(shown, data.decode("utf-8", "replace"))  # to quote the line
            self.diagnostics.append(
                error(
                    UNREADABLE_FILE,
                    f"cannot read {shown}: it is not UTF-8 (byte 0x{data[exc.start]:02x})",
                    _byte_span(shown, data, exc.start),
                    "fbdsl reads UTF-8 only: save the file as UTF-8",
                )
            )
            return
        self.load_text(text, shown, base=path.resolve().parent)

    def load_text(self, text: str, shown: str, base: Path | None) -> None:
        self.sources.add(shown, text)
        result = parse_source(text, shown)
        self.diagnostics.extend(result.diagnostics)
        if result.source is None:
            return
        self.files[shown] = result.source
        for item in result.source.items:
            if isinstance(item, ast.Import):
                self.follow(item, base)

    def follow(self, item: ast.Import, base: Path | None) -> None:
        target = str(item.path.value)
        if target.startswith(STDLIB_PREFIX):
            name = target.removesuffix(".fbdsl")
            if f"<stdlib>/{name}.fbdsl" in self.seen:
                return
            found = stdlib_module(name)
            if found is None:
                self.diagnostics.append(
                    error(
                        IMPORT_NOT_FOUND,
                        f"the standard library has no module '{target}'",
                        item.path.span,
                        did_you_mean(name, stdlib_module_names())
                        or f"modules: {', '.join(stdlib_module_names())}",
                    )
                )
                return
            shown, text = found
            self.seen.add(shown)
            self.load_text(text, shown, base=None)
            return
        if not target.startswith(("./", "../")) or base is None:
            hint = (
                'write import "std/NAME" for the standard library or "./file.fbdsl" for a '
                "file next to this one"
            )
            self.diagnostics.append(
                error(IMPORT_NOT_FOUND, f"cannot import '{target}'", item.path.span, hint)
            )
            return
        path = base / target
        if path.suffix != ".fbdsl":
            path = path.with_name(path.name + ".fbdsl")
        if not path.is_file():
            self.diagnostics.append(
                error(
                    IMPORT_NOT_FOUND,
                    f"no file '{target}' (looked for {display_path(path)})",
                    item.path.span,
                )
            )
            return
        self.load_path(path)


def _byte_span(shown: str, data: bytes, offset: int) -> ast.Span:
    """The span of the byte at `offset` of an undecodable file (column in characters)."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    line = data.count(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", "replace")) + 1
    return ast.Span(shown, line, column, line, column + 1, offset, offset + 1)


def load_rule_set(paths: Sequence[Path]) -> LoadedRuleSet:
    """Read and parse the files (and, transitively, their imports) of one rule set."""
    loader = _Loader()
    with collector_paused():
        for path in paths:
            loader.load_path(path)
    return _finish(loader)


def load_text(text: str, name: str = "<string>.fbdsl", base: Path | None = None) -> LoadedRuleSet:
    """A rule set of one in-memory file (tests, the sidecar's API)."""
    loader = _Loader()
    with collector_paused():
        loader.load_text(text, name, base if base is not None else Path.cwd())
    return _finish(loader)


def _finish(loader: _Loader) -> LoadedRuleSet:
    files = tuple(loader.files[k] for k in sorted(loader.files))
    diagnostics = tuple(sorted(loader.diagnostics, key=Diagnostic.sort_key))
    return LoadedRuleSet(files, diagnostics, loader.sources)
