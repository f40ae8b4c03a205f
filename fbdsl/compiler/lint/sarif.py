"""SARIF 2.1.0 output, as GitHub code scanning reads it.

One run, the driver `fbdsl` with every lint code as a reporting descriptor (plus the codes of
`fbdsl check` errors that occur), one result per finding. Locations are relative URIs under
`%SRCROOT%` (the folder lint ran in), columns are Unicode code points, and each result carries
a partial fingerprint (code, file, message) that survives lines moving, so that code scanning
tracks a finding across commits. The output is deterministic: no time stamps, no absolute
paths.
"""

from __future__ import annotations

import hashlib
import json
from urllib.parse import quote

from fbdsl import __version__
from fbdsl.compiler.ast import Span
from fbdsl.compiler.diagnostics import ERROR, NOTE, WARNING, Diagnostic
from fbdsl.compiler.lint.registry import REGISTRY, LintRule, all_rules
from fbdsl.compiler.lint.runner import LintReport

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {ERROR: "error", WARNING: "warning", NOTE: "note"}


def render_sarif(report: LintReport) -> str:
    rules = all_rules()
    descriptors = [_descriptor(rule) for rule in rules]
    index = {rule.code: i for i, rule in enumerate(rules)}
    for code in sorted({d.code for d in report.diagnostics if d.code not in index}):
        index[code] = len(descriptors)
        descriptors.append(_check_descriptor(code))
    results = [_result(d, index[d.code]) for d in report.diagnostics]
    log = {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "fbdsl",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "rules": descriptors,
                    }
                },
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2, ensure_ascii=False)


def _descriptor(rule: LintRule) -> dict[str, object]:
    help_text = rule.explain()
    return {
        "id": rule.code,
        "name": _pascal(rule.name),
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": f"{rule.summary} {rule.why}"},
        "help": {
            "text": help_text,
            "markdown": _help_markdown(rule),
        },
        "defaultConfiguration": {"level": _LEVEL[rule.severity]},
        "properties": {"tags": [rule.category], "category": rule.category},
    }


def _help_markdown(rule: LintRule) -> str:
    return (
        f"**{rule.code} {rule.name}** ({rule.category})\n\n{rule.summary}\n\n{rule.why}\n\n"
        f"Bad:\n\n```\n{rule.bad.strip()}\n```\n\nGood:\n\n```\n{rule.good.strip()}\n```\n"
    )


def _check_descriptor(code: str) -> dict[str, object]:
    return {
        "id": code,
        "name": "CheckError",
        "shortDescription": {
            "text": f"{code}: an error found by fbdsl check (see docs/language.md)"
        },
        "defaultConfiguration": {"level": "error"},
        "properties": {"tags": ["check"]},
    }


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))


def _location(span: Span, message: str | None = None) -> dict[str, object]:
    region: dict[str, object] = {
        "startLine": max(span.line, 1),
        "startColumn": max(span.column, 1),
        "endLine": max(span.end_line, span.line, 1),
        "endColumn": max(span.end_column, 1),
        "charOffset": span.start,
        "charLength": max(span.end - span.start, 0),
    }
    location: dict[str, object] = {
        "physicalLocation": {
            "artifactLocation": {"uri": quote(span.file), "uriBaseId": "%SRCROOT%"},
            "region": region,
        }
    }
    if message is not None:
        location["message"] = {"text": message}
    return location


def _result(diagnostic: Diagnostic, rule_index: int) -> dict[str, object]:
    text = diagnostic.message + (f" (hint: {diagnostic.hint})" if diagnostic.hint else "")
    fingerprint = hashlib.sha256(
        f"{diagnostic.code}\0{diagnostic.span.file}\0{diagnostic.message}".encode()
    ).hexdigest()[:32]
    result: dict[str, object] = {
        "ruleId": diagnostic.code,
        "ruleIndex": rule_index,
        "level": _LEVEL[diagnostic.severity],
        "message": {"text": text},
        "locations": [_location(diagnostic.span)],
        "partialFingerprints": {"fbdslFinding/v1": fingerprint},
    }
    if diagnostic.related:
        result["relatedLocations"] = [
            {"id": i, **_location(r.span, r.message)} for i, r in enumerate(diagnostic.related)
        ]
    if diagnostic.code in REGISTRY:
        result["properties"] = {"category": REGISTRY[diagnostic.code].category}
    return result
