"""Helpers for engine tests: compile a rule text, run JSON events, read decisions back."""

from __future__ import annotations

import io
from typing import Any

import orjson

from fbdsl.compiler.diagnostics import render_all_text
from fbdsl.compiler.graph import RuleGraph
from fbdsl.compiler.pipeline import compile_text
from fbdsl.runtime.batch import RunReport, run_batch
from fbdsl.runtime.ledger import Ledger
from fbdsl.runtime.ledger.memory import MemoryLedger


def graph_of(text: str) -> RuleGraph:
    compiled = compile_text(text, "rules.fbdsl")
    assert compiled.graph is not None, render_all_text(compiled.diagnostics, compiled.sources)
    return compiled.graph


def event(
    name: str, customer: str, timestamp: str, event_id: str | None = None, **properties: Any
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "event": name,
        "customer_id": customer,
        "timestamp": timestamp,
        "properties": properties,
    }
    if event_id is not None:
        doc["id"] = event_id
    return doc


def run(
    graph: RuleGraph,
    events: list[dict[str, Any] | str],
    ledger: Ledger | None = None,
    **options: Any,
) -> tuple[list[dict[str, Any]], RunReport]:
    lines = [e.encode() if isinstance(e, str) else orjson.dumps(e) for e in events]
    out = io.BytesIO()
    report = run_batch(graph, lines, ledger or MemoryLedger(), out, **options)
    decisions = [orjson.loads(line) for line in out.getvalue().splitlines()]
    return decisions, report


def brief(decisions: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """(rule, customer, action, channel, status) of each decision, for compact asserts."""
    return [
        (x["rule"], x["customer_id"], x["action"], x["channel"], x["status"]) for x in decisions
    ]
