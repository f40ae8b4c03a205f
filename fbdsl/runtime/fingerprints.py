"""Rule fingerprints, and the pending timers of rules that changed since the last run.

A rule's *fingerprint* is a hash of everything that decides what the rule does, as the
compiled graph states it: its triggers, tests, absence windows, sample, holdout, mode and
actions (targets, channels, delays, `unless`), and the schemas of the events it names.
Its priority and its place in the files are left out: they order decisions, they do not
change them. A pending timer belongs to a rule by name and points at one of its actions by
index (timers.py); a timer set under another definition of its rule (its delay, its action
list, the fields it kept) must not be carried out under the new one. So each run, batch or
sidecar, compares the rule set's fingerprints with those recorded in the ledger by the last
run, drops the pending timers of the rules that changed or are gone, and records the new
fingerprints; the timers of every other rule carry on.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from fbdsl.compiler.graph import RuleGraph, RuleNode, graph_to_json
from fbdsl.compiler.program import EventSchema
from fbdsl.runtime.ledger import Ledger

FINGERPRINTS_KEY = "rule_fingerprints"  # in the ledger's meta: those of the last run


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


def drop_timers_of_changed_rules(ledger: Ledger, fingerprints: dict[str, str]) -> dict[str, int]:
    """Drop the pending timers of the rules that changed (or are gone) since the
    fingerprints recorded in the ledger, and record `fingerprints` (with the next commit).
    Returns the timers dropped, per rule."""
    recorded = ledger.meta(FINGERPRINTS_KEY)
    changed = changed_rules(dict(orjson.loads(recorded)) if recorded else {}, fingerprints)
    dropped: dict[str, int] = {}
    if changed and len(ledger.timers):
        for customer_id, timer_id in list(ledger.pending_timer_ids()):
            state = ledger.customer(customer_id)
            timer = state.timers.get(timer_id)
            if timer is None or timer.rule not in changed:
                continue
            del state.timers[timer_id]
            ledger.timers.remove(timer_id)
            ledger.touch(state)
            dropped[timer.rule] = dropped.get(timer.rule, 0) + 1
    ledger.set_meta(
        FINGERPRINTS_KEY, orjson.dumps(fingerprints, option=orjson.OPT_SORT_KEYS).decode()
    )
    return dropped
