"""Reasoning about typed conditions: satisfiability, implication, and the facts lint reports.

A condition becomes a *formula* in negation normal form: `and`/`or` nodes over atoms, each
atom saying "this subject lies in this region" (see `regions.py`). Subjects are the typed
expressions the condition reads (a trigger field, a trait, `last_contact`, `count(...)`...),
compared by value, not by position, so `total` in two rules is one subject. Comparisons of
two subjects (`a < b`) and predicates without a domain (`first_time`, `contains`, `no ...`)
become boolean subjects of their own, normalised so that `a > b` and `not (b < a)`... share
one atom.

Satisfiability is decided by a small tableau: atoms narrow the region of their subject, `or`
branches; a budget keeps pathological conditions from taking long (the answer is then
"unknown" and lint stays silent). `analyze` walks a condition and returns the facts FB102
(never true) and FB103 (always true, redundant) report.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeAlias

import attrs

from fbdsl.compiler import ast
from fbdsl.compiler import program as p
from fbdsl.compiler.lint import regions as r
from fbdsl.compiler.types import BOOL, DURATION, INT, NUMBER, STRING, EnumType

# A formula node: ("and", children) | ("or", children) | ("atom", key, region) | ("const", bool)
Formula: TypeAlias = tuple[object, ...]
TRUE: Formula = ("const", True)
FALSE: Formula = ("const", False)
BRANCH_BUDGET = 4000


class Unknown(Exception):
    """The search gave up (too many alternatives): no conclusion may be drawn."""


_FLIPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
_ELAPSED_SUBJECTS = (p.TLastContact, p.TLastSent, p.TSince)


def domain_of(subject: p.TExpr) -> r.Domain | None:
    """The values a subject can take, or None if lint does not reason about its values."""
    t = subject.type
    if isinstance(subject, p.TCount | p.TContacts):
        return r.COUNTS
    if t == INT:
        return r.WHOLE_NUMBERS
    if t == NUMBER:
        return r.REALS
    if t == DURATION:
        return r.ELAPSED if isinstance(subject, _ELAPSED_SUBJECTS) else r.REALS
    if isinstance(t, EnumType):
        return r.enum_domain(t.values)
    if t == STRING:
        return r.STRINGS
    if t == BOOL:
        return r.BOOLEANS
    return None


def constant_value(expr: p.TExpr) -> tuple[bool, object]:
    """(True, value) for a constant (`never` is +inf), else (False, None)."""
    if isinstance(expr, p.TNever):
        return True, r.INF
    if isinstance(expr, p.TConst) and not isinstance(expr.value, tuple):
        return True, expr.value
    return False, None


def formula(expr: p.TExpr, negated: bool = False) -> Formula:
    """The condition `expr` (or its negation) in negation normal form."""
    if isinstance(expr, p.TBool):
        op = expr.op if not negated else ("or" if expr.op == "and" else "and")
        return (op, tuple(formula(o, negated) for o in expr.operands))
    if isinstance(expr, p.TNot):
        return formula(expr.operand, not negated)
    if isinstance(expr, p.TConst) and isinstance(expr.value, bool):
        return ("const", expr.value != negated)
    if isinstance(expr, p.TCompare):
        return _comparison(expr, negated)
    if isinstance(expr, p.TIn):
        domain = domain_of(expr.value)
        region = domain.member_of(expr.options) if domain is not None else None
        if domain is not None and region is not None:
            if expr.negated != negated:
                region = domain.complement(region)
            return ("atom", expr.value, region)
    return _boolean_subject(expr, negated)


def _boolean_subject(key: object, negated: bool) -> Formula:
    return ("atom", key, r.ValueRegion((not negated,), True))


def _comparison(expr: p.TCompare, negated: bool) -> Formula:
    op, left, right = expr.op, expr.left, expr.right
    left_const, left_value = constant_value(left)
    right_const, right_value = constant_value(right)
    if left_const and right_const:
        outcome = _evaluate(op, left_value, right_value)
        if outcome is not None:
            return ("const", outcome != negated)
    elif right_const or left_const:
        subject, value = (left, right_value) if right_const else (right, left_value)
        if left_const:
            op = _FLIPPED[op]
        domain = domain_of(subject)
        region = domain.compare(op, value) if domain is not None else None
        if domain is not None and region is not None:
            return ("atom", subject, domain.complement(region) if negated else region)
    # Two subjects: one boolean atom per relation, `==` symmetric, `>` read as a swapped `<`.
    if op in ("==", "!="):
        first, second = sorted((left, right), key=repr)
        return _boolean_subject(("==", first, second), negated != (op == "!="))
    if op in (">", "<="):
        left, right = right, left
    return _boolean_subject(("<", left, right), negated != (op in ("<=", ">=")))


def _evaluate(op: str, left: object, right: object) -> bool | None:
    try:
        if op == "==":
            return left == right
        if op == "!=":
            return left != right
        if op == "<":
            return left < right  # type: ignore[operator,no-any-return]
        if op == "<=":
            return left <= right  # type: ignore[operator,no-any-return]
        if op == ">":
            return left > right  # type: ignore[operator,no-any-return]
        return left >= right  # type: ignore[operator,no-any-return]
    except TypeError:
        return None


def negate(node: Formula) -> Formula:
    kind = node[0]
    if kind == "const":
        return ("const", not node[1])
    if kind == "atom":
        key, region = node[1], node[2]
        domain = domain_of_subject(key)
        assert isinstance(region, r.NumberRegion | r.ValueRegion)
        return ("atom", key, domain.complement(region))
    children = node[1]
    assert isinstance(children, tuple)
    return ("or" if kind == "and" else "and", tuple(negate(c) for c in children))


def domain_of_subject(key: object) -> r.Domain:
    if isinstance(key, tuple):
        return r.BOOLEANS
    domain = domain_of(key)  # type: ignore[arg-type]
    return domain if domain is not None else r.BOOLEANS


# ---- satisfiability ------------------------------------------------------------------------


def satisfiable(nodes: Sequence[Formula]) -> bool:
    """Whether all `nodes` can hold at once. Raises Unknown when the search is too large."""
    budget = [BRANCH_BUDGET]
    return _search(list(nodes), [], {}, budget)


def _search(
    todo: list[Formula], choices: list[Formula], state: dict[object, object], budget: list[int]
) -> bool:
    while todo or choices:
        if not todo:
            node = choices.pop()
            alternatives = node[1]
            assert isinstance(alternatives, tuple)
            for alternative in alternatives:
                budget[0] -= 1
                if budget[0] < 0:
                    raise Unknown
                if _search([alternative], list(choices), dict(state), budget):
                    return True
            return False
        node = todo.pop()
        kind = node[0]
        if kind == "const":
            if not node[1]:
                return False
        elif kind == "atom":
            key, region = node[1], node[2]
            current = state.get(key)
            narrowed = region if current is None else current.intersect(region)  # type: ignore[attr-defined]
            if narrowed.is_empty():  # type: ignore[union-attr]
                return False
            state[key] = narrowed
        elif kind == "and":
            todo.extend(node[1])  # type: ignore[arg-type]
        else:
            children = node[1]
            assert isinstance(children, tuple)
            if len(children) == 1:
                todo.append(children[0])
            elif children:
                choices.append(node)
            else:
                return False
    return True


def implies(premises: Sequence[Formula], conclusion: Formula) -> bool:
    """Whether the premises make the conclusion true whenever they hold."""
    return not satisfiable([*premises, negate(conclusion)])


def conjuncts(node: Formula) -> list[Formula]:
    """The top-level `and` terms of a formula (the formula itself if it is not an `and`)."""
    if node[0] == "and":
        out: list[Formula] = []
        for child in node[1]:  # type: ignore[union-attr]
            out.extend(conjuncts(child))
        return out
    return [node]


def top_level_atoms(node: Formula) -> Iterator[tuple[object, r.Region]]:
    """(subject, region) of each atom that must hold for the formula to hold."""
    for term in conjuncts(node):
        if term[0] == "atom":
            region = term[2]
            assert isinstance(region, r.NumberRegion | r.ValueRegion)
            yield term[1], region


def subjects(node: Formula) -> frozenset[object]:
    """Every subject a formula has an atom about."""
    if node[0] == "atom":
        return frozenset((node[1],))
    if node[0] == "const":
        return frozenset()
    return frozenset().union(*(subjects(child) for child in node[1]))  # type: ignore[union-attr]


def hull(node: Formula) -> dict[object, r.Region]:
    """For each subject the formula constrains on every path, a region that holds whenever
    the formula does (an over-approximation: two formulas whose hulls are disjoint on one
    subject can never hold together)."""
    kind = node[0]
    if kind == "atom":
        region = node[2]
        assert isinstance(region, r.NumberRegion | r.ValueRegion)
        return {node[1]: region}
    if kind == "const":
        return {}
    children = [hull(child) for child in node[1]]  # type: ignore[union-attr]
    if kind == "and":
        merged: dict[object, r.Region] = {}
        for child in children:
            for key, region in child.items():
                current = merged.get(key)
                merged[key] = region if current is None else current.intersect(region)
        return merged
    if not children:
        return {}
    common = set(children[0]).intersection(*children[1:])
    united: dict[object, r.Region] = {}
    for key in common:
        region = children[0][key]
        for child in children[1:]:
            region = region.union(child[key])
        united[key] = region
    return united


# ---- the facts FB102 and FB103 report ------------------------------------------------------


@attrs.frozen
class ConditionFact:
    """Something lint found out about one term of a condition.

    kind: "never" (cannot be true where it stands), "always" (true wherever it stands),
    "dead_alternative" (an `or` branch that cannot be true), "covered_alternative" (an `or`
    branch that adds nothing). `because` are the sibling terms that cause it.
    """

    kind: str
    term: p.TExpr
    because: tuple[p.TExpr, ...]


def analyze(condition: p.TExpr) -> list[ConditionFact]:
    """Every fact about `condition` and its terms, outermost first; [] when unknown."""
    facts: list[ConditionFact] = []
    try:
        _analyze(condition, [], facts)
    except Unknown:
        return []
    return facts


def _analyze(expr: p.TExpr, context: list[p.TExpr], facts: list[ConditionFact]) -> None:
    own = formula(expr)
    around = [formula(c) for c in context]
    if not satisfiable([*around, own]):
        parts = list(expr.operands) if _is_bool(expr, "and") else [expr]
        core = _core([*context, *parts], lambda kept: not satisfiable([formula(e) for e in kept]))
        facts.append(ConditionFact("never", expr, tuple(core)))
        return
    if not satisfiable([*around, negate(own)]):
        core = _core(context, lambda kept: implies([formula(e) for e in kept], own))
        facts.append(ConditionFact("always", expr, tuple(core)))
        return
    if _is_bool(expr, "and"):
        assert isinstance(expr, p.TBool)
        siblings = list(expr.operands)
        for term in reversed(expr.operands):  # a repeated term: the later one is reported
            others = [s for s in siblings if s is not term]
            before = len(facts)
            _analyze(term, [*context, *others], facts)
            if any(f.term is term and f.kind == "always" for f in facts[before:]):
                siblings = others
    elif _is_bool(expr, "or"):
        assert isinstance(expr, p.TBool)
        for term in expr.operands:
            own_term = formula(term)
            if not satisfiable([*around, own_term]):
                core = _core(
                    context,
                    lambda kept, t=own_term: not satisfiable([*(formula(e) for e in kept), t]),
                )
                facts.append(ConditionFact("dead_alternative", term, tuple(core)))
                continue
            others = [o for o in expr.operands if o is not term]
            if not satisfiable([*around, *(negate(formula(o)) for o in others), own_term]):
                covering = _core(
                    others,
                    lambda kept, t=own_term: (
                        not satisfiable([*around, *(negate(formula(o)) for o in kept), t])
                    ),
                )
                facts.append(ConditionFact("covered_alternative", term, tuple(covering)))
                continue
            _analyze(term, context, facts)


def _is_bool(expr: p.TExpr, op: str) -> bool:
    return isinstance(expr, p.TBool) and expr.op == op


def _core(terms: Sequence[p.TExpr], still: object) -> list[p.TExpr]:
    """A smallest-by-deletion subset of `terms` for which `still(subset)` remains true."""
    kept = list(terms)
    for term in list(terms):
        trial = [t for t in kept if t is not term]
        if still(trial):  # type: ignore[operator]
            kept = trial
    return kept


def where_clauses(rule: p.CheckedRule) -> Iterator[tuple[str, p.TExpr]]:
    """Every `where` about another event in a rule: (what it belongs to, the clause)."""
    roots: list[p.TExpr] = [rule.condition] if rule.condition is not None else []
    for node in (n for root in roots for n in ast.walk(root)):
        if isinstance(node, p.TCount) and node.where is not None:
            yield f"count({node.event} where ...)", node.where
        elif isinstance(node, p.TAbsence) and node.where is not None:
            yield f"no {node.event} where ...", node.where
    for action in rule.actions:
        if isinstance(action, p.CheckedSend) and action.unless and action.unless.where:
            yield f"unless {action.unless.event} where ...", action.unless.where
