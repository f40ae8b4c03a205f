"""What the policy and a rule's own condition say about contacts (FB101, FB106, FB109).

Two questions: does anything bound how often a send can reach a customer on a channel (a
limit covering it, a cooldown, or a condition term such as `last_contact > 30d` that is false
right after a contact), and would a rule be refused right after another rule contacted the
same customer (a `limit 1 ...` covering both, or such a condition term)?
"""

from __future__ import annotations

from collections.abc import Iterable

from fbdsl.compiler import program as p
from fbdsl.compiler.lint import conditions as c
from fbdsl.compiler.lint import regions as r


def covering_limit(policy: p.Policy, channel: str) -> p.Limit | None:
    """The first limit of the policy that counts contacts on `channel`."""
    for limit in policy.limits:
        if limit.channel is None or limit.channel == channel:
            return limit
    return None


def condition_guard(
    formula: c.Formula, channel: str, target: str
) -> tuple[object, r.Region] | None:
    """A top-level term that bounds how often this send can fire on `channel`: false right
    after a contact (`last_contact > D`, `last_sent("target") > D`), bounded (`contacts(D) <
    N`), or once per customer (`first_time`)."""
    for subject, region in c.top_level_atoms(formula):
        if (isinstance(subject, p.TLastContact) and subject.channel in (None, channel)) or (
            isinstance(subject, p.TLastSent) and subject.target == target
        ):
            if _excludes_zero(region):
                return subject, region
        elif isinstance(subject, p.TContacts):
            if isinstance(region, r.NumberRegion) and region.bounded_above():
                return subject, region
        elif isinstance(subject, p.TFirstTime) and region == r.ValueRegion((True,), True):
            return subject, region
    return None


def _excludes_zero(region: r.Region) -> bool:
    return isinstance(region, r.NumberRegion) and not region.contains(0)


def refused_after_contact(
    policy: p.Policy,
    formula: c.Formula,
    channels: Iterable[str],
    by_channels: Iterable[str],
    by_targets: Iterable[str],
) -> str | None:
    """Why a rule whose sends use `channels` is refused right after another rule contacted
    the customer on one of `by_channels` (sending `by_targets`), or None if it may not be."""
    mine, theirs = set(channels), set(by_channels)
    for limit in policy.limits:
        if limit.count != 1:
            continue
        if limit.channel is None or (mine | theirs) <= {limit.channel}:
            return limit.text
    targets = set(by_targets)
    for subject, region in c.top_level_atoms(formula):
        if isinstance(subject, p.TLastContact) and (
            subject.channel is None or theirs <= {subject.channel}
        ):
            if _excludes_zero(region):
                return "its condition on last_contact"
        elif isinstance(subject, p.TLastSent) and subject.target in targets:
            if _excludes_zero(region):
                return f'its condition on last_sent("{subject.target}")'
        elif isinstance(subject, p.TContacts) and _only_zero(region):
            return "its condition on contacts(...)"
    return None


def _only_zero(region: r.Region) -> bool:
    """Whether a count region allows no value from 1 up (only zero contacts)."""
    at_least_one = r.NumberRegion([(1, True, r.INF, True)], integral=True)
    return isinstance(region, r.NumberRegion) and region.intersect(at_least_one).is_empty()
