"""Per-customer state: profile, tags, opt-outs, contact log and event history.

The ledger keeps one `CustomerState` per customer; the engine reads and updates it. All of
it is bounded: contacts and history are pruned to the longest window the rule set reads
(derived by the compiler), keeping only "last time" summaries beyond that.
"""

from __future__ import annotations

from bisect import insort
from operator import attrgetter, itemgetter
from typing import Any

import msgspec

from fbdsl.runtime.timers import Timer
from fbdsl.runtime.timeutil import INFINITY

ALL_CHANNELS = "*"
# The tags and the opt-outs of most customers: none. Both are frozensets, replaced when they
# change (rarely), so that every customer without any shares this one: an empty set takes
# 216 bytes, and W1's 100,000 customers held two each (43 MB, a fifth of their states).
NO_NAMES: frozenset[str] = frozenset()


class Contact(msgspec.Struct, array_like=True, gc=False):
    """One entry of the contact log. A msgspec Struct, not an attrs class: the SQLite
    ledger's codec encodes and decodes the log as it is (an array of these arrays) in C,
    where it built a tuple of each contact in Python at every write of the state (W1:
    119,000 writes), and making one is a C call. (Only scalars: no cycles for the garbage
    collector to follow, hence `gc=False`.)"""

    at: float
    target: str  # survey or message id
    channel: str
    rule: str
    decision_id: str
    held: bool = False  # a held-out (control group) contact: recorded, never sent


class CustomerState(msgspec.Struct):
    """One customer's state. A msgspec Struct rather than an attrs class: made (empty, on a
    customer's first event: W1 makes 100,000) by one C call, in half the time."""

    customer_id: str
    traits: dict[str, Any] = msgspec.field(default_factory=dict)
    tags: frozenset[str] = NO_NAMES
    opt_outs: frozenset[str] = NO_NAMES  # channels, or "*" for all
    # oldest first, within the kept window
    contacts: list[Contact] = msgspec.field(default_factory=list)
    last_contact_at: dict[str, float] = msgspec.field(default_factory=dict)  # "*", per channel
    last_sent_at: dict[str, float] = msgspec.field(default_factory=dict)  # per survey/message
    history: dict[str, list[tuple[float, dict[str, Any]]]] = msgspec.field(default_factory=dict)
    last_seen: dict[str, float] = msgspec.field(default_factory=dict)  # per event type
    newest: float = -INFINITY  # newest event time seen for this customer
    timers: dict[str, Timer] = msgspec.field(default_factory=dict)  # pending timers, by id

    # -- ledger predicates -----------------------------------------------------------------

    def since_contact(self, now: float, channel: str | None = None) -> float:
        at = self.last_contact_at.get(channel or ALL_CHANNELS)
        return INFINITY if at is None else now - at

    def since_sent(self, now: float, target: str) -> float:
        at = self.last_sent_at.get(target)
        return INFINITY if at is None else now - at

    def contacts_within(self, now: float, window: float, channel: str | None = None) -> int:
        """Contacts in the rolling window (now - window, now]."""
        start = now - window
        count = 0
        for contact in reversed(self.contacts):
            if contact.at <= start:
                break
            if contact.at <= now and (channel is None or contact.channel == channel):
                count += 1
        return count

    def last_contact_within(
        self, now: float, window: float, channel: str | None = None
    ) -> Contact | None:
        start = now - window
        for contact in reversed(self.contacts):
            if contact.at <= start:
                return None
            if contact.at <= now and (channel is None or contact.channel == channel):
                return contact
        return None

    def opted_out(self, channel: str | None = None) -> bool:
        return ALL_CHANNELS in self.opt_outs or (channel is not None and channel in self.opt_outs)

    # -- updates ---------------------------------------------------------------------------

    def add_contact(self, contact: Contact, keep: float) -> None:
        """Log a contact (in time order), update the "last contact" summaries and forget the
        contacts older than `keep` before it."""
        contacts = self.contacts
        at = contact.at
        if contacts and contacts[-1].at > at:  # rare: a contact out of order
            insort(contacts, contact, key=_contact_time)  # after those of the same time
        else:
            contacts.append(contact)
        last = self.last_contact_at
        if at > last.get(ALL_CHANNELS, -INFINITY):
            last[ALL_CHANNELS] = at
        channel = contact.channel
        if at > last.get(channel, -INFINITY):
            last[channel] = at
        target = contact.target
        if at > self.last_sent_at.get(target, -INFINITY):
            self.last_sent_at[target] = at
        start = at - keep
        if contacts[0].at <= start:
            self.contacts = [c for c in contacts if c.at > start]

    def prune_contacts(self, now: float, keep: float) -> None:
        start = now - keep
        if self.contacts and self.contacts[0].at <= start:
            self.contacts = [c for c in self.contacts if c.at > start]

    def record_event(self, event: str, at: float, fields: dict[str, Any], keep: float) -> None:
        entries = self.history.get(event)
        if not entries:
            self.history[event] = entries = [(at, fields)]
        else:
            last = entries[-1][0]
            entries.append((at, fields))
            if last > at:
                entries.sort(key=_entry_time)
        newest = self.newest
        start = (at if at > newest else newest) - keep
        if entries[0][0] <= start:
            self.history[event] = [entry for entry in entries if entry[0] > start]

    # -- persistence -----------------------------------------------------------------------
    # The SQLite ledger encodes a state with `fbdsl.runtime.ledger.codec` (positional
    # MessagePack); the memory ledger keeps the objects themselves.


_contact_time = attrgetter("at")
_entry_time = itemgetter(0)
