"""The policy gate for contacts: opt-out, survey cooldown, limits, quiet hours, channels.

Order (design section 4): opt-out always wins; then the survey's cooldown, then every
`limit`, then quiet hours (which defer, not drop), then the channel choice: the first
candidate (or, for a send without `via` under no `one channel per contact`, every
candidate) the customer has not opted out of and whose per-channel limits allow it. Each
refusal names the exact policy line and the contact that caused it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fbdsl.compiler import program as p
from fbdsl.compiler.render import duration_text
from fbdsl.runtime.state import ALL_CHANNELS, CustomerState
from fbdsl.runtime.timeutil import format_time


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


class PolicyGate:
    def __init__(
        self,
        policy: p.Policy,
        contacts: Mapping[str, p.ContactSchema],
        default_timezone: str = "UTC",
    ) -> None:
        self.policy = policy
        self.contacts = contacts
        self.default_timezone = default_timezone  # the `timezone` trait's declared default
        self.global_limits = [limit for limit in policy.limits if limit.channel is None]
        self.channel_limits: dict[str, list[p.Limit]] = {}
        for limit in policy.limits:
            if limit.channel is not None:
                self.channel_limits.setdefault(limit.channel, []).append(limit)
        # Without contacts or opt-outs nothing can refuse a send (cooldowns read the contact
        # log, kept at least as long as the longest cooldown), unless a limit allows none.
        self.no_contact_passes = all(limit.count > 0 for limit in policy.limits)
        # Per time zone: (from, until, answer) of the last quiet_until worked out there.
        self._quiet_spans: dict[str, tuple[float, float, float | None]] = {}

    def blocked(self, state: CustomerState, now: float, send: p.CheckedSend) -> str | None:
        """Why the send may not go out at all (opt-out, cooldown, a global limit), or None."""
        opt_outs = state.opt_outs
        if not state.contacts and not opt_outs and self.no_contact_passes:
            return None  # the first contact of most customers: nothing to look at
        if opt_outs and ALL_CHANNELS in opt_outs:
            return "opted out of all contact"
        cooldown = self.contacts[send.target].cooldown
        if cooldown is not None:
            since = state.since_sent(now, send.target)
            if since < cooldown:
                last = next(c for c in reversed(state.contacts) if c.target == send.target)
                held = " (held out)" if last.held else ""
                return (
                    f"cooldown {duration_text(cooldown)} of {send.target}: last sent "
                    f"{format_time(now - since)}{held}"
                )
        for limit in self.global_limits:
            reason = _over(limit, state, now, None)
            if reason:
                return reason
        return None

    def limit_blocked(self, state: CustomerState, now: float) -> str | None:
        for limit in self.global_limits:
            reason = _over(limit, state, now, None)
            if reason:
                return reason
        return None

    def channel_blocked(self, state: CustomerState, now: float, channel: str) -> str | None:
        if state.opt_outs and state.opted_out(channel):
            return f"opted out of {channel}"
        for limit in self.channel_limits.get(channel, ()):
            reason = _over(limit, state, now, channel)
            if reason:
                return reason
        return None

    def quiet_until(self, state: CustomerState, now: float) -> float | None:
        """The end of the quiet hours `now` falls in (customer's local time), or None.

        The answer stays the same for a while (until the quiet hours start, or end): it is
        kept per time zone with the span of time it holds for, so that most sends, whose
        times follow one another, cost a lookup instead of a time zone conversion."""
        if self.policy.quiet_hours is None:
            return None
        name = str(state.traits.get("timezone") or self.default_timezone)
        known = self._quiet_spans.get(name)
        if known is not None and known[0] <= now < known[1]:
            return known[2]
        answer, holds_until = self._quiet_span(zone(name), now)
        self._quiet_spans[name] = (now, holds_until, answer)
        return answer

    def _quiet_span(self, tz: ZoneInfo, now: float) -> tuple[float | None, float]:
        """quiet_until's answer at `now`, and until when that answer holds: the end of the
        quiet hours if inside them, else their next start; `now` itself (no span) when a
        change of UTC offset falls in between (the answer is then worked out each time)."""
        end = self._quiet_end(tz, now)
        quiet = self.policy.quiet_hours
        assert quiet is not None
        if end is not None:
            boundary = end
        else:
            local = datetime.fromtimestamp(now, tz)
            start = quiet.start_minute
            day = local.date()
            if local.hour * 60 + local.minute >= start:
                day += timedelta(days=1)
            wall = datetime(day.year, day.month, day.day, start // 60, start % 60, tzinfo=tz)
            boundary = wall.timestamp()
        offset = datetime.fromtimestamp(now, tz).utcoffset()
        if boundary <= now or datetime.fromtimestamp(boundary - 1, tz).utcoffset() != offset:
            return end, now
        return end, boundary

    def _quiet_end(self, tz: ZoneInfo, now: float) -> float | None:
        """The end of the quiet hours `now` falls in, in zone `tz`, or None."""
        quiet = self.policy.quiet_hours
        assert quiet is not None
        local = datetime.fromtimestamp(now, tz)
        minute = local.hour * 60 + local.minute
        start, end = quiet.start_minute, quiet.end_minute
        if start < end:
            inside = start <= minute < end
            end_day = local.date()
        else:  # crosses midnight
            inside = minute >= start or minute < end
            end_day = local.date() + timedelta(days=1) if minute >= start else local.date()
        if not inside:
            return None
        wall = datetime(end_day.year, end_day.month, end_day.day, end // 60, end % 60, tzinfo=tz)
        return wall.timestamp()


def _over(limit: p.Limit, state: CustomerState, now: float, channel: str | None) -> str | None:
    """The refusal of `limit` (naming the newest contact in its window), or None if the
    contacts in the rolling window (now - window, now] are fewer than it allows."""
    start = now - limit.window
    allowed = limit.count
    count = 0
    last = None
    for contact in reversed(state.contacts):
        at = contact.at
        if at <= start:
            break
        if at <= now and (channel is None or contact.channel == channel):
            if last is None:
                last = contact
            count += 1
            if count >= allowed:
                break
    if count < allowed:
        return None
    assert last is not None
    held = ", held out" if last.held else ""
    return f"{limit.text}: last contact {format_time(last.at)} (rule {last.rule}{held})"
