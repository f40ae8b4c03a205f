"""The standard library: every module checks clean alone and with the others, declares what
docs/language.md says it does, and the README's tour (which imports it) checks clean."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fbdsl.compiler import program as p
from fbdsl.compiler.checker import check
from fbdsl.compiler.diagnostics import Diagnostic
from fbdsl.compiler.loader import load_text
from fbdsl.compiler.types import INT, NUMBER, STRING
from fbdsl.resources import stdlib_module_names
from fbdsl.runtime.engine import OPT_IN_EVENT, OPT_OUT_EVENT
from tests.runtime.helpers import brief, event, graph_of, run

ROOT = Path(__file__).resolve().parent.parent
MODULES = ["std/channels", "std/ecommerce", "std/fbdsl", "std/subscription", "std/support"]

# The events of Segment's "Ecommerce Events v2" spec, by the name they arrive under.
SEGMENT_ECOMMERCE_V2 = [
    "Products Searched",
    "Product List Viewed",
    "Product List Filtered",
    "Promotion Viewed",
    "Promotion Clicked",
    "Product Clicked",
    "Product Viewed",
    "Product Added",
    "Product Removed",
    "Cart Viewed",
    "Checkout Started",
    "Checkout Step Viewed",
    "Checkout Step Completed",
    "Payment Info Entered",
    "Order Updated",
    "Order Completed",
    "Order Refunded",
    "Order Cancelled",
    "Coupon Entered",
    "Coupon Applied",
    "Coupon Denied",
    "Coupon Removed",
    "Product Added to Wishlist",
    "Product Removed from Wishlist",
    "Wishlist Product Added to Cart",
    "Product Shared",
    "Cart Shared",
    "Product Reviewed",
]


def checked(text: str) -> tuple[p.CheckedProgram | None, list[Diagnostic]]:
    loaded = load_text(text, "rules.fbdsl")
    if loaded.diagnostics:
        return None, list(loaded.diagnostics)
    result = check(loaded.files)
    return result.program, list(result.diagnostics)


def program_of(*modules: str) -> p.CheckedProgram:
    program, diagnostics = checked("".join(f'import "{m}"\n' for m in modules))
    assert diagnostics == []
    assert program is not None
    return program


def required(schema: p.EventSchema) -> set[str]:
    implicit = set(p.IMPLICIT_EVENT_FIELDS)
    return {f.name for f in schema.fields.values() if not f.has_default} - implicit


def test_the_standard_library_has_exactly_the_documented_modules() -> None:
    assert stdlib_module_names() == MODULES
    doc = (ROOT / "docs" / "language.md").read_text("utf-8")
    for module in MODULES:
        assert f"`{module}`" in doc


@pytest.mark.parametrize("module", MODULES)
def test_each_module_checks_clean_alone(module: str) -> None:
    program = program_of(module)
    assert program.rules == ()


def test_all_modules_check_clean_together() -> None:
    program = program_of(*MODULES)
    alone = [program_of(m) for m in MODULES]
    assert set(program.events) == {name for a in alone for name in a.events}
    assert len(program.events) == sum(len(a.events) for a in alone)  # no name shared


def test_channels_are_the_common_ones() -> None:
    program = program_of("std/channels")
    assert program.channels == (
        "email", "sms", "push", "popup", "in_app", "telegram", "whatsapp", "call",
    )  # fmt: skip


def test_ecommerce_declares_every_segment_v2_event_in_snake_case() -> None:
    program = program_of("std/ecommerce")
    segment = {program.external_names[name] for name in SEGMENT_ECOMMERCE_V2}
    assert segment | {"cart_abandoned"} == set(program.events)
    for external, name in program.external_names.items():
        assert name == external.lower().replace(" ", "_")


def test_ecommerce_requires_only_the_id_of_what_an_event_is_about() -> None:
    events = program_of("std/ecommerce").events
    assert required(events["order_completed"]) == {"order_id"}
    assert required(events["product_added"]) == {"product_id"}
    assert required(events["checkout_step_viewed"]) == {"checkout_id"}
    assert required(events["payment_info_entered"]) == {"checkout_id"}
    assert required(events["coupon_applied"]) == set()
    assert required(events["cart_abandoned"]) == {"cart_id", "total"}
    fields = events["order_completed"].fields
    assert (fields["total"].type, fields["total"].default) == (NUMBER, 0)
    assert fields["currency"].default == "USD"
    assert "products" not in fields  # arrays of objects are not declared


def test_support_scores_and_consent_events() -> None:
    events = program_of("std/support").events
    for name in ("nps_answered", "csat_answered", "ces_answered"):
        assert events[name].fields["score"].type == INT
        assert required(events[name]) == {"score"}
    assert required(events["review_submitted"]) == {"rating"}
    assert required(events["ticket_opened"]) == {"ticket_id"}
    for name in (OPT_OUT_EVENT, OPT_IN_EVENT):  # the names the engine reads
        channel = events[name].fields["channel"]
        assert (channel.type, channel.default) == (STRING, "all")


def test_subscription_plans_and_amounts() -> None:
    events = program_of("std/subscription").events
    assert set(events) == {
        "subscription_started",
        "subscription_upgraded",
        "subscription_downgraded",
        "subscription_cancelled",
        "payment_failed",
    }
    upgraded = events["subscription_upgraded"].fields
    assert upgraded["mrr"].type == upgraded["previous_mrr"].type == NUMBER
    assert required(events["subscription_cancelled"]) == {"subscription_id", "plan"}
    assert events["subscription_cancelled"].fields["reason"].default == ""


def test_rules_on_std_events_check_clean() -> None:
    program, diagnostics = checked(
        """
import "std/channels"
import "std/ecommerce"
import "std/support"
import "std/subscription"
team support, retention
survey nps { channels: email, push }
message sorry { channels: email }
when order_completed where total > 100 and currency == "EUR" then send survey "nps"
when nps_answered where score <= 6 then create task "call back" for support with score = score
when subscription_upgraded where mrr - previous_mrr > 50 then tag "grew"
when subscription_cancelled or subscription_downgraded where plan == "premium"
    then create task "win back" for retention
when ticket_resolved where category == "complaint" and no review_submitted within 3d
    then send message "sorry" via email
"""
    )
    assert diagnostics == []
    assert program is not None and len(program.rules) == 5


def test_a_misspelt_std_field_is_reported_with_the_right_suggestion() -> None:
    _, diagnostics = checked(
        'import "std/ecommerce"\nwhen order_completed where totl > 5 then tag "big"\n'
    )
    assert [(d.code, d.span.line, d.span.column, d.message, d.hint) for d in diagnostics] == [
        ("FB021", 2, 28, "order_completed has no field 'totl'", "did you mean 'total'?")
    ]


def test_a_different_declaration_of_a_std_event_conflicts() -> None:
    _, diagnostics = checked(
        'import "std/ecommerce"\nevent order_completed { order_id: int }\n'
        'when order_completed then tag "x"\n'
    )
    assert [(d.code, d.span.line) for d in diagnostics] == [("FB051", 2)]
    assert diagnostics[0].message == "event 'order_completed' is declared twice, differently"
    assert str(diagnostics[0].hint).startswith("the other declaration is at <stdlib>/std/ecommerce")


def test_an_unknown_std_module_suggests_the_closest() -> None:
    _, diagnostics = checked('import "std/ecomerce"\n')
    assert [(d.code, d.message, d.hint) for d in diagnostics] == [
        (
            "FB010",
            "the standard library has no module 'std/ecomerce'",
            "did you mean 'std/ecommerce'?",
        )
    ]


def test_std_unsubscribed_and_resubscribed_drive_the_engine_opt_out() -> None:
    graph = graph_of(
        'import "std/channels"\nimport "std/support"\nimport "std/ecommerce"\n'
        'survey s { channels: email }\nrule r when cart_abandoned then send survey "s"\n'
    )
    cart = {"cart_id": "k", "total": 10}
    decisions, _ = run(
        graph,
        [
            event("Unsubscribed", "c1", "2026-01-01T00:00:00Z", "u1"),
            event("Cart Abandoned", "c1", "2026-01-02T00:00:00Z", "e1", **cart),
            event("Resubscribed", "c1", "2026-01-03T00:00:00Z", "u2"),
            event("Cart Abandoned", "c1", "2026-01-04T00:00:00Z", "e2", **cart),
        ],
    )
    assert brief(decisions) == [
        ("r", "c1", "send_survey", None, "suppressed"),
        ("r", "c1", "send_survey", "email", "sent"),
    ]


def readme_tour() -> str:
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme.split("## A short tour", 1)[1]
    block = re.search(r"^```\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
    assert block is not None, "the tour has no code block"
    return block.group(1)


def test_the_readme_tour_checks_clean() -> None:
    tour = readme_tour()
    assert 'import "std/ecommerce"' in tour
    program, diagnostics = checked(tour)
    assert diagnostics == []
    assert program is not None
    assert [rule.name for rule in program.rules][1:] == ["cart_exit_premium"]
