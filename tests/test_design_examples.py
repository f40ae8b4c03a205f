"""Every example of the design document (tests/fixtures/design/) parses and checks clean."""

from __future__ import annotations

from pathlib import Path

from fbdsl.compiler import program as p
from fbdsl.compiler.checker import check
from fbdsl.compiler.loader import load_rule_set

DESIGN = Path(__file__).parent / "fixtures" / "design"


def test_design_examples_check_clean() -> None:
    loaded = load_rule_set(sorted(DESIGN.glob("*.fbdsl")))
    assert loaded.diagnostics == ()
    result = check(loaded.files)
    assert result.diagnostics == ()
    assert result.program is not None
    names = [rule.name for rule in result.program.rules]
    assert names[0] == "rules.fbdsl:4"  # the brief's anonymous one-liner
    assert "cart_exit_survey" in names and "loyal customers" in names


def test_design_rule_resolves_as_specified() -> None:
    result = check(load_rule_set(sorted(DESIGN.glob("*.fbdsl"))).files)
    assert result.program is not None
    rule = next(r for r in result.program.rules if r.name == "cart_exit_survey")
    assert (rule.priority, rule.sample, rule.holdout) == (10, 0.25, 0.10)
    (send,) = rule.actions
    assert isinstance(send, p.CheckedSend)
    assert (send.target, send.channels, send.after) == ("cart_exit", ("email",), 7200)
    assert send.via_given
    assert send.unless == p.CheckedUnless("order_completed", None)
    policy = result.program.policy
    assert [limit.text for limit in policy.limits] == [
        "limit 1 contact per 30d",
        "limit 3 contacts per 90d",
        "limit 1 contact per 7d via sms",
    ]
    assert policy.quiet_hours is not None
    assert (policy.quiet_hours.start_minute, policy.quiet_hours.end_minute) == (1260, 540)
    assert policy.one_channel_per_contact
    assert result.program.modes["crisis"].policy == p.Policy(
        limits=(p.Limit(1, 7 * 86400, None, "limit 1 contact per 7d"),)
    )
    assert result.program.history.window_by_event == {"order_completed": 365 * 86400}
