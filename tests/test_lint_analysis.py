"""The analysis under FB102-FB106: regions of values, satisfiability and implication of
typed conditions, and a cross-check that what FB106 claims is what the engine does."""

from __future__ import annotations

import pytest

from fbdsl.compiler import program as p
from fbdsl.compiler.checker import check
from fbdsl.compiler.lint import conditions as c
from fbdsl.compiler.lint import regions as r
from fbdsl.compiler.loader import load_text
from tests.runtime.helpers import brief, event, graph_of, run

DECLARATIONS = """\
event order_completed { total: number  items: int = 0  tier: "a" | "b" | "c"  gift: bool = false
                        note: string = "" }
channel email
survey nps { channels: email }
"""


def condition(text: str) -> p.TExpr:
    loaded = load_text(DECLARATIONS + f'rule r when order_completed where {text} then tag "x"\n')
    result = check(loaded.files)
    assert result.program is not None, result.diagnostics
    found = result.program.rules[0].condition
    assert found is not None
    return found


def sat(text: str) -> bool:
    return c.satisfiable([c.formula(condition(text))])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("total > 100 and total < 50", False),
        ("total >= 50 and total <= 50", True),
        ("total > 50 and total < 50", False),
        ("items > 1 and items < 2", False),  # whole numbers
        ("items >= 1 and items < 2", True),
        ('tier == "a" and tier == "b"', False),
        ('tier != "a" and tier != "b" and tier != "c"', False),  # the enum is exhausted
        ('note != "a" and note != "b"', True),  # strings are not
        ('note == "a" and note in ["b", "c"]', False),
        ("gift and not gift", False),
        ("gift == true and gift != false", True),
        ("last_contact > 30d and last_contact < 7d", False),
        ("last_contact == never and last_contact < 365d", False),  # never is above all
        ("last_contact > 3650d", True),  # never qualifies
        ("since(order_completed) < 0s", False),
        ("count(order_completed within 1d) < 0", False),
        ("contacts(30d) >= 0 and contacts(30d) < 1", True),
        ("total < items and not (total < items)", False),  # two subjects: one atom
        ("total > items and not (items < total)", False),  # `>` is read as a swapped `<`
        ("(total > 10 or items > 3) and total < 5 and items < 2", False),
        ("(total > 10 or items > 3) and total < 5 and items < 4", False),
        ("(total > 10 or items > 3) and total < 5 and items < 5", True),
    ],
)
def test_satisfiability(text: str, expected: bool) -> None:
    assert sat(text) is expected


def test_implication() -> None:
    assert c.implies([c.formula(condition("total > 100"))], c.formula(condition("total > 50")))
    assert not c.implies([c.formula(condition("total > 50"))], c.formula(condition("total > 100")))
    assert c.implies([c.TRUE], c.formula(condition("total <= 2 or total > 1")))


def test_facts_name_the_terms_that_cause_them() -> None:
    facts = c.analyze(condition("items > 0 and total > 100 and total < 50"))
    (fact,) = facts
    assert fact.kind == "never"
    assert [t.span.start for t in fact.because] == sorted(t.span.start for t in fact.because)
    assert len(fact.because) == 2  # the two totals; the items term is not part of it
    (redundant,) = c.analyze(condition("total > 50 and total > 50"))
    assert redundant.kind == "always" and redundant.because  # the later copy is reported


def test_a_search_too_large_gives_up_silently(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past its budget of `or` branches the search answers "unknown": no finding at all."""
    terms = " and ".join(f"(items == {i} or total == {i})" for i in range(6))
    assert [f.kind for f in c.analyze(condition(terms))] == ["never"]  # pigeonhole
    monkeypatch.setattr(c, "BRANCH_BUDGET", 3)
    assert c.analyze(condition(terms)) == []
    with pytest.raises(c.Unknown):
        c.satisfiable([c.formula(condition(terms))])


def test_region_algebra() -> None:
    whole = r.WHOLE_NUMBERS
    above = whole.compare(">", 1)
    below = whole.compare("<", 3)
    assert above is not None and below is not None
    assert above.intersect(below) == whole.compare("==", 2)
    assert whole.is_everything(above.union(whole.complement(above)))
    elapsed = r.ELAPSED.compare(">", 30)
    assert elapsed is not None and elapsed.contains(r.INF) and not elapsed.contains(0)
    enum = r.enum_domain(("a", "b"))
    a = enum.compare("==", "a")
    assert a is not None and enum.complement(a) == enum.compare("==", "b")


SHADOWED = """\
event order_completed { total: number }
channel email
survey nps { channels: email }
survey csat { channels: email }
policy { limit 1 contact per 30d }
rule any_order priority 10 when order_completed then send survey "nps"
rule big_order when order_completed where total > 100 then send survey "csat"
"""


def test_what_fb106_claims_is_what_the_engine_does(tmp_path: pytest.TempPathFactory) -> None:
    """FB106 says big_order never contacts anyone: run it and see."""
    from fbdsl.compiler.lint.config import LintConfig
    from fbdsl.compiler.lint.runner import lint_rule_sets

    path = tmp_path / "rules.fbdsl"  # type: ignore[operator]
    path.write_text(SHADOWED)
    report = lint_rule_sets([[path]], LintConfig(select=("FB106",)))
    assert [d.code for d in report.diagnostics] == ["FB106"]
    events = [
        event("order_completed", f"c{n}", f"2026-01-{day:02d}T10:00:00Z", f"e{n}-{day}", total=t)
        for n, t in enumerate([150, 20, 500, 101])
        for day in (1, 15, 28)
    ]
    decisions, _ = run(graph_of(SHADOWED), events)
    sent = {(d["rule"], d["status"]) for d in decisions}
    assert ("any_order", "sent") in sent
    assert ("big_order", "suppressed") in sent
    assert not any(rule == "big_order" and status == "sent" for rule, status in sent)
    assert brief(decisions)[0][0] == "any_order"


def test_what_fb102_claims_is_what_the_engine_does() -> None:
    text = SHADOWED.replace("rule any_order priority 10", "rule any_order priority 10 ")
    text = text.replace("where total > 100", "where total > 100 and total < 50")
    decisions, _ = run(
        graph_of(text),
        [event("order_completed", "c1", "2026-01-01T10:00:00Z", "e1", total=70)],
    )
    assert all(d["rule"] != "big_order" for d in decisions)
