"""What happens to a match before it is sent: mutes, digests, quiet hours, hourly limits.

Two steps, both run at the start of every delivery round:

- :func:`classify_new` looks once at each new outbox row: a muted rule or channel makes
  it ``muted``; a rule in digest mode makes it wait for the rule's next digest.
- :func:`gate_deliveries` and :func:`gate_notices` look at what is due on one channel
  right now: during quiet hours everything waits (single alerts are then sent as one
  digest when the quiet hours end); beyond ``max_per_hour`` the surplus is folded into
  one "N more matches" message sent when the hour allows it.

Nothing is ever dropped silently: every outcome is a state in the database.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from alerts.delivery.schedule import QuietHours, next_fire
from alerts.outbox import store as outbox
from alerts.outbox.mutes import active_mutes
from alerts.outbox.notices import Notice, mute_notices, postpone_notices
from alerts.outbox.retry import RetryPolicy
from crawler.db import Database, to_iso, write_transaction

logger = logging.getLogger(__name__)

WINDOW = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class RulePolicy:
    """How one rule's matches go out. ``digest`` unset means each match at once."""

    channels: tuple[str, ...] = ()
    digest: CronTrigger | None = None
    send_empty: bool = False
    mute_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class ChannelPolicy:
    """Limits of one channel."""

    max_per_hour: int | None = None
    quiet_hours: QuietHours | None = None
    mute_until: datetime | None = None


@dataclass(frozen=True)
class Policy:
    """Everything the delivery round needs to know beyond the channels themselves."""

    retry: RetryPolicy = field(default_factory=RetryPolicy)
    rules: Mapping[str, RulePolicy] = field(default_factory=dict)
    channels: Mapping[str, ChannelPolicy] = field(default_factory=dict)
    timezone: str = "UTC"

    @property
    def zone(self) -> ZoneInfo:
        """The zone quiet hours and digest schedules are read in."""
        return ZoneInfo(self.timezone)

    def rule(self, name: str) -> RulePolicy:
        """The rule's policy; a rule no longer configured is sent at once."""
        return self.rules.get(name) or RulePolicy()

    def channel(self, name: str) -> ChannelPolicy:
        """The channel's policy (no limits when it is not configured)."""
        return self.channels.get(name) or ChannelPolicy()


class Mutes:
    """Mutes in force at one moment: ``mute_until`` from the config and ``newswatch mute``."""

    def __init__(self, policy: Policy, stored: Mapping[tuple[str, str], datetime], now: datetime):
        self.policy = policy
        self.stored = stored
        self.now = now

    @classmethod
    def load(cls, db: Database, policy: Policy, now: datetime) -> Mutes:
        """Read the stored mutes running at ``now``."""
        return cls(policy, active_mutes(db, now), now)

    def rule_until(self, name: str) -> datetime | None:
        """When the rule's mute ends, if it is muted now."""
        return self._until("rule", name, self.policy.rule(name).mute_until)

    def channel_until(self, name: str) -> datetime | None:
        """When the channel's mute ends, if it is muted now."""
        return self._until("channel", name, self.policy.channel(name).mute_until)

    def _until(self, kind: str, name: str, configured: datetime | None) -> datetime | None:
        ends = [t for t in (configured, self.stored.get((kind, name))) if t and t > self.now]
        return max(ends) if ends else None

    def note(self, rule: str | None, channel: str) -> str | None:
        """Why a message for ``rule`` on ``channel`` is muted, or None when it is not."""
        if rule is not None and (until := self.rule_until(rule)):
            return f"muted: rule {rule} is muted until {self._show(until)}"
        if until := self.channel_until(channel):
            return f"muted: channel {channel} is muted until {self._show(until)}"
        return None

    def _show(self, moment: datetime) -> str:
        return f"{moment.astimezone(self.policy.zone):%Y-%m-%d %H:%M %Z}"


def classify_new(db: Database, policy: Policy, now: datetime) -> int:
    """Apply rule mutes and digest schedules to outbox rows not looked at yet.

    Returns the number of rows looked at. A digest row is due at the first firing of its
    rule's schedule at or after the match.
    """
    rows = outbox.unclassified(db)
    if not rows:
        return 0
    mutes = Mutes.load(db, policy, now)
    with write_transaction(db):
        for row in rows:
            rule = policy.rule(row.rule)
            note = mutes.note(row.rule, row.channel)
            if note is not None:
                outbox.mark_muted(db, [row.id], note)
            elif rule.digest is not None:
                outbox.hold(db, [row.id], "digest", next_fire(rule.digest, row.created or now))
            else:
                outbox.release(db, [row.id])
    return len(rows)


def gate_deliveries(
    db: Database,
    policy: Policy,
    mutes: Mutes,
    channel: str,
    deliveries: Sequence[outbox.Delivery],
    now: datetime,
) -> list[outbox.Delivery]:
    """Of the deliveries due on ``channel``, those that may be sent now; the rest wait."""
    settings = policy.channel(channel)
    allowed = []
    for delivery in deliveries:
        note = mutes.note(delivery.rule, channel)
        if note is None:
            allowed.append(delivery)
        else:
            outbox.mark_muted(db, [delivery.id], note)
    quiet = settings.quiet_hours
    if quiet is not None and quiet.contains(now, policy.zone):
        end = quiet.ends_after(now, policy.zone)
        fresh = [d.id for d in allowed if d.attempts == 0]
        outbox.hold(db, fresh, "quiet", end)
        outbox.postpone(db, [d.id for d in allowed if d.attempts > 0], end)
        return []
    if settings.max_per_hour is not None:
        room = max(0, settings.max_per_hour - sent_in_window(db, channel, now))
        if len(allowed) > room:
            reopens = window_reopens(db, channel, now)
            outbox.hold(db, [d.id for d in allowed[room:]], "overflow", reopens)
            logger.info(
                "channel %s reached %d messages per hour; %d matches wait until %s",
                channel,
                settings.max_per_hour,
                len(allowed) - room,
                to_iso(reopens),
            )
            allowed = allowed[:room]
    return allowed


def gate_notices(
    db: Database,
    policy: Policy,
    mutes: Mutes,
    channel: str,
    notices: Sequence[Notice],
    now: datetime,
) -> list[Notice]:
    """Of the notices due on ``channel``, those that may be sent now.

    Digests and operations alerts are never held back by ``max_per_hour`` (they are how
    the surplus reaches the reader) but count towards it.
    """
    note = mutes.note(None, channel)
    if note is not None:
        mute_notices(db, [n.id for n in notices], note)
        return []
    quiet = policy.channel(channel).quiet_hours
    if quiet is not None and quiet.contains(now, policy.zone):
        postpone_notices(db, [n.id for n in notices], quiet.ends_after(now, policy.zone))
        return []
    return list(notices)


def sent_in_window(db: Database, channel: str, now: datetime) -> int:
    """Messages ``channel`` sent in the hour before ``now`` (a digest counts once)."""
    return outbox.sent_since(db, channel, now - WINDOW)


def window_reopens(db: Database, channel: str, now: datetime) -> datetime:
    """When the hourly window of ``channel`` has room again: an hour after its oldest send."""
    oldest = outbox.first_sent_since(db, channel, now - WINDOW) or now
    return max(oldest, now - WINDOW) + WINDOW
