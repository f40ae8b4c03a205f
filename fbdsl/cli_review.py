"""The reviewer commands: `fbdsl lint` (findings with stable codes) and `fbdsl fmt` (the
canonical layout). Registered on the main group at the bottom of `fbdsl/cli.py`.

Exit codes as everywhere: 0 clean, 1 findings (lint: at or above `--fail-on`; fmt: a file
would change or does not parse), 2 usage or internal error.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

FORMATS = ("text", "json", "sarif", "github")
F = TypeVar("F", bound=Callable[..., Any])


def _internal_errors_exit_2(command: F) -> F:
    """cli.py's guard (an unexpected exception is a bug: exit 2), looked up when the command
    runs: cli.py imports this module at its end, so importing cli.py here at import time
    would be circular under `python -m fbdsl.cli`."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from fbdsl.cli import _internal_errors_exit_2 as guard

        return guard(command)(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _exit(findings: bool) -> None:
    from fbdsl.cli import EXIT_FINDINGS, EXIT_OK

    sys.exit(EXIT_FINDINGS if findings else EXIT_OK)


def _codes(values: tuple[str, ...]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--format",
    "output_format",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="text: rustc-style; json: versioned; sarif: SARIF 2.1.0; github: workflow annotations.",
)
@click.option(
    "--fail-on",
    type=click.Choice(["error", "warning", "note"]),
    default=None,
    help="Exit 1 when a finding is at least this severe [default: the config's, or warning].",
)
@click.option("--select", multiple=True, help="Codes, prefixes or categories to run (FB1,bugs).")
@click.option("--ignore", multiple=True, help="Codes, prefixes or categories not to run.")
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A pyproject.toml or fbdsl.toml [default: the nearest, from here upwards].",
)
@click.option("--explain", metavar="CODE", help="Show what a code finds, why, and examples.")
@click.option("--list", "list_codes", is_flag=True, help="List every lint code.")
@_internal_errors_exit_2
def lint(
    paths: tuple[Path, ...],
    output_format: str,
    fail_on: str | None,
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    config_path: Path | None,
    explain: str | None,
    list_codes: bool,
) -> None:
    """Lint rule sets for reviewers: FB101-FB110 and the errors of `fbdsl check`.

    Rule sets are grouped as `fbdsl check` groups them. Silence one finding with
    `# fbdsl: ignore[FB104] reason` on the line before the declaration (or on its first
    line). Configuration: [tool.fbdsl.lint] in pyproject.toml, or [lint] in fbdsl.toml.
    """
    from fbdsl.compiler.diagnostics import did_you_mean
    from fbdsl.compiler.lint import report as out
    from fbdsl.compiler.lint.config import ConfigError, load_config
    from fbdsl.compiler.lint.registry import REGISTRY, all_rules
    from fbdsl.compiler.lint.runner import lint_rule_sets
    from fbdsl.compiler.lint.sarif import render_sarif
    from fbdsl.compiler.loader import rule_sets_for

    rules = all_rules()
    if explain is not None:
        rule = REGISTRY.get(explain.upper())
        if rule is None:
            hint = did_you_mean(explain.upper(), REGISTRY) or "see fbdsl lint --list"
            raise click.UsageError(f"no lint code {explain!r}: {hint}")
        click.echo(rule.explain())
        _exit(False)
        return
    if list_codes:
        for rule in rules:
            click.echo(f"{rule.code}  {rule.name:<28} {rule.category:<7} {rule.severity}")
        _exit(False)
        return
    if not paths:
        raise click.UsageError("give the rule sets to lint (files or folders)")
    try:
        config = load_config(
            config_path,
            Path.cwd(),
            {rule.code: rule.category for rule in rules},
            _codes(select) or None,
            _codes(ignore) or None,
        )
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    groups = rule_sets_for(paths)
    if not groups:
        raise click.UsageError("no .fbdsl files found in " + ", ".join(map(str, paths)))
    report = lint_rule_sets(groups, config)
    if output_format == "json":
        click.echo(out.render_json(report))
    elif output_format == "sarif":
        click.echo(render_sarif(report))
    elif output_format == "github":
        click.echo(out.render_github(report), nl=False)
    else:
        click.echo(out.render_text(report), nl=False)
    click.echo(out.summary_line(report), err=True)
    _exit(out.fails(report, fail_on or config.fail_on))


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if a file would change.")
@click.option("--diff", "show_diff", is_flag=True, help="Write nothing; print the changes.")
@_internal_errors_exit_2
def fmt(paths: tuple[Path, ...], check: bool, show_diff: bool) -> None:
    """Rewrite .fbdsl files in the canonical layout (comments kept), in place.

    PATH is a file, a folder (its .fbdsl files, recursively) or - (standard input to
    standard output). With --check or --diff nothing is written, and the exit code is 1 if
    any file would change. A file that does not parse is reported and left alone (exit 1).
    """
    from fbdsl.compiler.diagnostics import SourceMap, render_all_text
    from fbdsl.compiler.fmt import format_source
    from fbdsl.compiler.loader import display_path, files_of

    if Path("-") in paths:
        if len(paths) > 1:
            raise click.UsageError("- (standard input) cannot be combined with other paths")
        text = sys.stdin.read()
        result = format_source(text, "<stdin>")
        if result.text is None:
            sources = SourceMap()
            sources.add("<stdin>", text)
            click.echo(render_all_text(result.diagnostics, sources), err=True)
            _exit(True)
            return
        click.echo(result.text, nl=False)
        _exit(check and result.text != text)
        return
    files: list[Path] = []
    for path in paths:
        if not path.exists():
            raise click.BadParameter(f"no such file or folder: {path}", param_hint="PATH")
        files.extend(files_of(path))
    changed = broken = 0
    for file in files:
        shown = display_path(file)
        try:
            text = file.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            click.echo(f"{shown}: cannot read: {exc}", err=True)
            broken += 1
            continue
        result = format_source(text, shown)
        if result.text is None:
            sources = SourceMap()
            sources.add(shown, text)
            click.echo(render_all_text(result.diagnostics, sources), err=True)
            click.echo(f"{shown}: not formatted (syntax errors)", err=True)
            broken += 1
            continue
        if result.text == text:
            continue
        changed += 1
        if show_diff:
            click.echo(
                "".join(
                    difflib.unified_diff(
                        text.splitlines(keepends=True),
                        result.text.splitlines(keepends=True),
                        f"{shown}",
                        f"{shown} (formatted)",
                    )
                ),
                nl=False,
            )
        if check or show_diff:
            click.echo(f"would reformat {shown}", err=True)
        else:
            file.write_text(result.text, "utf-8")
            click.echo(f"reformatted {shown}", err=True)
    verb = "would be reformatted" if check or show_diff else "reformatted"
    unchanged = len(files) - changed - broken
    click.echo(f"{changed} file(s) {verb}, {unchanged} unchanged, {broken} not parsed", err=True)
    _exit(bool(broken or ((check or show_diff) and changed)))
