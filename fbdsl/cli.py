"""The `fbdsl` command line (click). Exit codes: 0 clean, 1 findings, 2 usage or internal error.

Each command renders diagnostics at the edge; the stages underneath return them as values.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from fbdsl import __version__

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2

F = TypeVar("F", bound=Callable[..., Any])


def _internal_errors_exit_2(command: F) -> F:
    """An unexpected exception is a bug: say so, show the traceback, exit 2 (not 1)."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except Exception:
            click.echo("fbdsl: internal error (a bug; please report it):", err=True)
            click.echo(traceback.format_exc(), err=True)
            sys.exit(EXIT_USAGE)

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fbdsl")
def main() -> None:
    """fbdsl: rules for triggered customer feedback under a contact policy."""


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: rustc-style with the source line; json: versioned list.",
)
@_internal_errors_exit_2
def check(paths: tuple[Path, ...], output_format: str) -> None:
    """Parse and type-check rule sets (files or directories).

    Each PATH is a rule set: a .fbdsl file, or a directory of them read recursively. A
    directory holding no .fbdsl file directly (like examples/) is a collection: each of its
    subdirectories is checked as a rule set of its own.
    """
    from fbdsl.compiler.checker import check as check_files
    from fbdsl.compiler.diagnostics import SourceMap, render_all_text, to_json_document
    from fbdsl.compiler.loader import load_rule_set, rule_sets_for

    groups = rule_sets_for(paths)
    if not groups:
        raise click.UsageError("no .fbdsl files found in " + ", ".join(map(str, paths)))
    diagnostics = []
    sources = SourceMap()
    rules = files = 0
    for group in groups:
        loaded = load_rule_set(group)
        sources.merge(loaded.sources)
        diagnostics.extend(loaded.diagnostics)
        files += len(loaded.files)
        if loaded.diagnostics:
            continue
        result = check_files(loaded.files)
        diagnostics.extend(result.diagnostics)
        if result.program is not None:
            rules += len(result.program.rules)
    errors = sum(1 for d in diagnostics if d.severity == "error")
    if output_format == "json":
        document = to_json_document(diagnostics)
        document["checked"] = {"rule_sets": len(groups), "files": files, "rules": rules}
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        if diagnostics:
            click.echo(render_all_text(diagnostics, sources))
            click.echo()
        sets = f"{len(groups)} rule set{'s' if len(groups) != 1 else ''}"
        if errors:
            click.echo(f"{errors} error{'s' if errors != 1 else ''} in {sets}", err=True)
        else:
            click.echo(f"ok: {rules} rules in {files} files ({sets})", err=True)
    sys.exit(EXIT_FINDINGS if errors else EXIT_OK)


if __name__ == "__main__":  # pragma: no cover
    main()
