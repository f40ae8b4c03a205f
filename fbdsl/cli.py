"""The `fbdsl` command line (click). Exit codes: 0 clean, 1 findings, 2 usage or internal error.

Each command renders diagnostics at the edge; the stages underneath return them as values.
"""

from __future__ import annotations

import atexit
import gc
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


def _compile_or_exit(paths: tuple[Path, ...]) -> Any:
    """The rule graph of the rule set, or the diagnostics on stderr and exit 1."""
    from fbdsl.compiler.diagnostics import render_all_text
    from fbdsl.compiler.pipeline import compile_paths

    compiled = compile_paths(list(paths))
    if compiled.graph is None:
        click.echo(render_all_text(compiled.diagnostics, compiled.sources), err=True)
        errors = sum(1 for d in compiled.diagnostics if d.severity == "error")
        click.echo(f"\n{errors} error{'s' if errors != 1 else ''}: nothing was run", err=True)
        sys.exit(EXIT_FINDINGS)
    return compiled.graph


@main.command()
@click.argument("rules", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["json", "dot", "python"]),
    default="json",
    show_default=True,
    help="json: the graph as data; dot: Graphviz; python: the generated matchers.",
)
@click.option("--mode", default="default", show_default=True, help="For --format python.")
@_internal_errors_exit_2
def graph(rules: tuple[Path, ...], output_format: str, mode: str) -> None:
    """Print the compiled rule graph of a rule set."""
    from fbdsl.compiler.graph import graph_to_dot, graph_to_json

    rule_graph = _compile_or_exit(rules)
    if output_format == "json":
        click.echo(json.dumps(graph_to_json(rule_graph), indent=2, ensure_ascii=False))
    elif output_format == "dot":
        click.echo(graph_to_dot(rule_graph), nl=False)
    else:
        from fbdsl.runtime.codegen import compile_matchers

        active = [r for r in rule_graph.rules if r.mode is None or r.mode == mode]
        click.echo(compile_matchers(rule_graph, active)[1])


def _parse_time_option(value: str | None, name: str) -> float | None:
    if value is None:
        return None
    from fbdsl.runtime.timeutil import parse_time

    try:
        return parse_time(value)
    except ValueError:
        raise click.BadParameter(f"not an RFC 3339 time: {value!r}", param_hint=name) from None


def _parse_duration_option(value: str) -> float:
    from fbdsl.runtime.timeutil import parse_duration_value

    seconds = parse_duration_value(value)
    if seconds is None and value.isdigit():
        seconds = float(value)
    if seconds is None:
        raise click.BadParameter(f"not a duration: {value!r}", param_hint="--allowed-lateness")
    return seconds


@main.command()
@click.argument("rules", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--events", "events_path", required=True, help="JSON lines file, or - for stdin.")
@click.option(
    "--ledger",
    "ledger_path",
    default="fbdsl-ledger.sqlite",
    show_default=True,
    help="SQLite ledger file (created if missing), or :memory:.",
)
@click.option("--out", "out_path", default="-", show_default=True, help="Decisions file or -.")
@click.option("--status", "statuses", default=None, help="Only these statuses, e.g. sent,held_out.")
@click.option("--mode", default="default", show_default=True, help="The active mode.")
@click.option(
    "--dead-letter",
    "dead_letter",
    default=None,
    help="Where rejected lines go [default: EVENTS.rejected.jsonl].",
)
@click.option("--strict", is_flag=True, help="Reject events no rule set declares.")
@click.option("--until", "until", default=None, help="Advance the clock to this time at the end.")
@click.option("--flush", is_flag=True, help="Fire every pending timer at the end.")
@click.option(
    "--allowed-lateness",
    default="0s",
    show_default=True,
    help="How far an event may lag the customer's newest before it counts as late.",
)
@click.option(
    "--commit-every",
    default=250_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Events per ledger transaction (a crash loses at most this much work, never a decision).",
)
@click.option(
    "--audit-log",
    is_flag=True,
    help="Also record every decision in the ledger's audit log (what `fbdsl serve` shows at "
    "/v1/decisions); by default the output is the run's only record of its decisions.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary.")
@_internal_errors_exit_2
def run(
    rules: tuple[Path, ...],
    events_path: str,
    ledger_path: str,
    out_path: str,
    statuses: str | None,
    mode: str,
    dead_letter: str | None,
    strict: bool,
    until: str | None,
    flush: bool,
    allowed_lateness: str,
    commit_every: int,
    audit_log: bool,
    quiet: bool,
) -> None:
    """Run rules over an event stream and write decisions as JSON lines.

    Events are fbdsl JSON lines or Segment/RudderStack track/identify/batch calls (mixed
    freely). Re-running on the same ledger continues from its state: events already seen
    are skipped, pending timers resume.
    """
    from fbdsl.runtime import decisions as d
    from fbdsl.runtime.batch import DeadLetters, run_batch, summary_table
    from fbdsl.runtime.ledger import LedgerError, open_ledger
    from fbdsl.runtime.sinks import FileSink, open_sink

    wanted = frozenset(d.STATUSES)
    if statuses:
        wanted = frozenset(s.strip() for s in statuses.split(",") if s.strip())
        unknown = wanted - set(d.STATUSES)
        if unknown:
            raise click.BadParameter(
                f"unknown status {', '.join(sorted(unknown))} (statuses: {', '.join(d.STATUSES)})",
                param_hint="--status",
            )
    until_time = _parse_time_option(until, "--until")
    lateness = _parse_duration_option(allowed_lateness)
    rule_graph = _compile_or_exit(rules)
    if mode != "default" and mode not in rule_graph.modes:
        raise click.BadParameter(
            f"unknown mode {mode!r} (modes: {', '.join(['default', *rule_graph.modes])})",
            param_hint="--mode",
        )
    if events_path == "-":
        source, size = sys.stdin.buffer, None
        dead_default = "fbdsl-rejected.jsonl"
    else:
        path = Path(events_path)
        if not path.is_file():
            raise click.BadParameter(f"no such file: {events_path}", param_hint="--events")
        source, size = path.open("rb"), path.stat().st_size
        dead_default = f"{events_path}.rejected.jsonl"
    try:
        ledger = open_ledger(None if ledger_path == ":memory:" else ledger_path, write_behind=True)
    except LedgerError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    sink = open_sink(out_path, ledger, sys.stdout.buffer)
    dead = DeadLetters(dead_letter or dead_default)
    if isinstance(sink, FileSink) and sink.cut and not quiet:
        click.echo(
            f"{out_path}: removed {sink.cut} bytes of decisions an interrupted run wrote but "
            "never committed; this run decides those events again",
            err=True,
        )
    show_progress = not quiet and size is not None and sys.stderr.isatty()
    try:
        with click.progressbar(
            length=size or 0, file=sys.stderr, label="events", hidden=not show_progress
        ) as bar:
            report = run_batch(
                rule_graph,
                source,
                ledger,
                sink,
                mode=mode,
                statuses=wanted,
                dead_letters=dead,
                strict=strict,
                until=until_time,
                flush=flush,
                allowed_lateness=lateness,
                commit_every=commit_every,
                audit_log=audit_log,
                progress=bar.update if show_progress else None,
                prefilter=True,
                input_size=size,
            )
        ledger.close()
    except LedgerError as exc:  # the ledger could not be written (a full disk...)
        click.echo(f"Error: {exc}; the next run resumes from its last commit", err=True)
        sys.exit(EXIT_USAGE)
    finally:
        sink.close()
        ledger.close()
        dead.close()
        if source is not sys.stdin.buffer:
            source.close()
    # The run's objects (the engine, its states, its ledger: reference cycles) would be
    # walked by the cyclic collector and freed one by one as the interpreter exits: 1.1 s
    # after W1's 3 s. Frozen, they are left to the operating system (at exit only: a caller
    # in this process, such as a test, keeps a collector that works).
    atexit.register(gc.freeze)
    if not quiet:
        click.echo(summary_table(report), err=True)
        if report.rejected:
            click.echo(f"{report.rejected} rejected line(s) written to {dead.path}", err=True)


from fbdsl.cli_review import fmt, lint  # noqa: E402  (the reviewer commands: cli_review.py)

main.add_command(lint)
main.add_command(fmt)

from fbdsl.cli_serve import serve  # noqa: E402  (the sidecar: cli_serve.py)

main.add_command(serve)


if __name__ == "__main__":  # pragma: no cover
    main()
