"""`fbdsl serve`: the sidecar command (the server itself is fbdsl/runtime/server.py)."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import click

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


def _duration(value: str, name: str) -> float:
    from fbdsl.runtime.timeutil import parse_duration_value

    seconds = parse_duration_value(value)
    if seconds is None:
        try:
            seconds = float(value)
        except ValueError:
            raise click.BadParameter(f"not a duration: {value!r}", param_hint=name) from None
    return float(seconds)


def _fail(message: str, code: int = EXIT_USAGE) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


@click.command()
@click.argument("rules", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8080,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port (0: any free port; the `listening` log line names it).",
)
@click.option(
    "--ledger",
    "ledger_path",
    default="fbdsl-ledger.sqlite",
    show_default=True,
    help="SQLite ledger file (created if missing), or :memory: (not durable).",
)
@click.option(
    "--out",
    "out_path",
    default=None,
    help="Decisions as JSON lines to FILE (exactly once) or - (stdout, at least "
    "once) [default: - unless --webhook is given].",
)
@click.option(
    "--webhook",
    default=None,
    help="POST decisions to URL (batched, retried, from "
    "an outbox in the ledger). FBDSL_WEBHOOK_SECRET signs the bodies.",
)
@click.option(
    "--mode",
    default=None,
    help="Start in this mode [default: the mode last set with POST /v1/mode, else default].",
)
@click.option(
    "--dead-letter",
    default="fbdsl-rejected.jsonl",
    show_default=True,
    type=click.Path(path_type=Path),
    help="Where rejected events go.",
)
@click.option(
    "--write-keys-file",
    type=click.Path(path_type=Path),
    default=None,
    help="Segment/RudderStack write keys, one a line (also FBDSL_WRITE_KEYS).",
)
@click.option(
    "--tokens-file",
    type=click.Path(path_type=Path),
    default=None,
    help="Bearer tokens for /v1/events, one a line (also FBDSL_TOKENS).",
)
@click.option(
    "--admin-tokens-file",
    type=click.Path(path_type=Path),
    default=None,
    help="Bearer tokens for /v1/mode and /v1/decisions (also FBDSL_ADMIN_TOKENS).",
)
@click.option("--insecure-no-auth", is_flag=True, help="Accept every request (local tests).")
@click.option(
    "--max-body",
    default=1 << 20,
    show_default=True,
    type=click.IntRange(min=1),
    help="Largest request body in bytes (after decompression): 413 beyond.",
)
@click.option(
    "--max-clock-skew",
    default="5m",
    show_default=True,
    help="How far ahead of the server's clock an event's timestamp may be.",
)
@click.option(
    "--shutdown-timeout",
    default="10s",
    show_default=True,
    help="Bound on a graceful shutdown (SIGTERM).",
)
@click.option(
    "--watch-interval",
    default="1s",
    show_default=True,
    help="How often to look for changed rule files (0: only on SIGHUP).",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
def serve(
    rules: tuple[Path, ...],
    host: str,
    port: int,
    ledger_path: str,
    out_path: str | None,
    webhook: str | None,
    mode: str | None,
    dead_letter: Path,
    write_keys_file: Path | None,
    tokens_file: Path | None,
    admin_tokens_file: Path | None,
    insecure_no_auth: bool,
    max_body: int,
    max_clock_skew: str,
    shutdown_timeout: str,
    watch_interval: str,
    log_level: str,
) -> None:
    """Serve RULES over HTTP: Segment/RudderStack and fbdsl events in, decisions out.

    See docs/sidecar.md. Secrets come from environment variables or files, never from
    the command line.
    """
    from fbdsl.runtime import jsonlog
    from fbdsl.runtime.engine_host import EngineHost, startup_mode
    from fbdsl.runtime.http_auth import ADMIN, EVENTS, SEGMENT, CredentialsError, load_credentials
    from fbdsl.runtime.ledger import LedgerError, open_ledger
    from fbdsl.runtime.reload import CompileFailure, compile_rule_set
    from fbdsl.runtime.server import ServeConfig, Sidecar
    from fbdsl.runtime.sinks import DeadLetterFile, OutboxSink, Sink, open_sink

    skew = _duration(max_clock_skew, "--max-clock-skew")
    shutdown = _duration(shutdown_timeout, "--shutdown-timeout")
    watch = _duration(watch_interval, "--watch-interval")
    if webhook is not None and not webhook.startswith(("http://", "https://")):
        raise click.BadParameter("must be an http:// or https:// URL", param_hint="--webhook")
    jsonlog.configure(log_level)
    files = {SEGMENT: write_keys_file, EVENTS: tokens_file, ADMIN: admin_tokens_file}
    try:
        credentials = load_credentials(os.environ, files, insecure_no_auth)
    except CredentialsError as exc:
        _fail(str(exc))
    if credentials.empty and not insecure_no_auth:
        _fail(
            "no credentials: set FBDSL_WRITE_KEYS / FBDSL_TOKENS / FBDSL_ADMIN_TOKENS (or "
            "the --*-file options), or pass --insecure-no-auth"
        )
    compiled = compile_rule_set(list(rules))
    if isinstance(compiled, CompileFailure):
        click.echo(compiled.diagnostics, err=True)
        _fail(f"{compiled.errors} error(s) in the rules: nothing is served", EXIT_FINDINGS)
    assert not isinstance(compiled, CompileFailure)
    try:
        ledger = open_ledger(
            None if ledger_path == ":memory:" else ledger_path,
            synchronous="FULL",
            checkpoint_every=1.0,
        )
    except LedgerError as exc:
        _fail(str(exc))
    known = ["default", *compiled.graph.modes]
    try:
        active = startup_mode(ledger, mode, known, time.time())
    except ValueError as exc:
        ledger.close()
        raise click.BadParameter(str(exc), param_hint="--mode") from None
    sinks: list[Sink] = []
    if out_path is not None or webhook is None:
        sinks.append(open_sink(out_path or "-", ledger, sys.stdout.buffer))
    if webhook is not None:
        sinks.append(OutboxSink())
    engine_host = EngineHost(
        compiled, ledger, sinks, active, DeadLetterFile(dead_letter), max_future=skew
    )
    config = ServeConfig(
        rules=list(rules),
        host=host,
        port=port,
        max_body=max_body,
        shutdown_timeout=shutdown,
        watch_interval=watch,
        webhook=webhook,
        webhook_secret=os.environ.get("FBDSL_WEBHOOK_SECRET") or None,
    )
    sidecar = Sidecar(config, credentials, engine_host)
    try:
        code = asyncio.run(sidecar.run())
    except OSError as exc:  # the port is taken, the address is not ours...
        ledger.close()
        _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    sys.exit(code)
