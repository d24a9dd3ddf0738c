"""Bundle waiting matches into digest messages when their time has come.

Matches wait in the ``digest`` state with the time they are due (``digest_due``): the
rule's next scheduled digest, the end of the channel's quiet hours, or the moment the
channel's hourly limit allows another message. :func:`bundle_due` gathers, per channel,
everything due into one ``notices`` row and marks the matches ``bundled``, in a single
transaction; the delivery round then sends that notice like any other message.

Rules with ``send_empty = true`` also get a digest when nothing matched; the time of each
rule's last digest per channel is kept in ``digest_runs`` so a firing is handled once,
even across restarts or when ``newswatch once`` runs long after it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from alerts.delivery.policy import Mutes, Policy
from alerts.delivery.schedule import next_fire
from alerts.outbox import notices
from alerts.outbox import store as outbox
from crawler.db import Database, write_transaction

logger = logging.getLogger(__name__)


def bundle_due(db: Database, policy: Policy, channels: Iterable[str], now: datetime) -> list[int]:
    """Create one digest notice per channel with matches (or empty digests) due at ``now``.

    Returns the new notices' ids. A channel in its quiet hours is skipped; what it has due
    then waits until the quiet hours end.
    """
    created = []
    for channel in channels:
        quiet = policy.channel(channel).quiet_hours
        if quiet is not None and quiet.contains(now, policy.zone):
            _defer(db, channel, now, quiet.ends_after(now, policy.zone))
            continue
        notice_id = _bundle_channel(db, policy, channel, now)
        if notice_id is not None:
            created.append(notice_id)
    return created


def _bundle_channel(db: Database, policy: Policy, channel: str, now: datetime) -> int | None:
    fired = _fired_empty_rules(db, policy, channel, now)
    if not fired and not outbox.any_held_due(db, channel, now):
        return None
    mutes = Mutes.load(db, policy, now)
    with write_transaction(db):
        rows = outbox.held_due(db, channel, now)
        muted = [r for r in rows if mutes.note(r.rule, channel)]
        for row in muted:
            outbox.mark_muted(db, [row.id], mutes.note(row.rule, channel) or "muted")
        rows = [r for r in rows if r not in muted]
        fired = [rule for rule in fired if not mutes.note(rule, channel)]
        if not rows and not fired:
            return None
        notice_id = _create_digest(db, channel, rows, fired, now)
        outbox.bundle(db, [row.id for row in rows], notice_id)
        scheduled = {r.rule for r in rows if r.hold == "digest"} | set(fired)
        for rule in scheduled:
            notices.record_digest_run(db, rule, channel, now)
    logger.info("digest for %s: %d matches bundled", channel, len(rows))
    return notice_id


def _create_digest(
    db: Database,
    channel: str,
    rows: list[outbox.Held],
    fired: list[str],
    now: datetime,
) -> int:
    holds = {r.hold for r in rows}
    kind = "digest" if fired or "digest" in holds else "quiet" if "quiet" in holds else "overflow"
    rules = sorted({r.rule for r in rows} | set(fired))
    starts = [r.created for r in rows]
    starts += [notices.last_digest_run(db, rule, channel) for rule in fired]
    since = min((s for s in starts if s is not None), default=None)
    return notices.create_notice(
        db,
        kind=kind,
        channel=channel,
        title=digest_title(kind, len(rows), rules),
        now=now,
        payload={"empty_rules": sorted(fired), "rules": rules},
        since=since,
    )


def digest_title(kind: str, count: int, rules: list[str]) -> str:
    """A one-line description, as ``newswatch alerts list`` shows it."""
    noun = "match" if count == 1 else "matches"
    names = f" ({', '.join(rules)})" if rules else ""
    if kind == "overflow":
        return f"{count} more {noun}{names}"
    if kind == "quiet":
        return f"{count} {noun} held during quiet hours{names}"
    return f"digest: {count} {noun}{names}"


def _fired_empty_rules(db: Database, policy: Policy, channel: str, now: datetime) -> list[str]:
    """Rules with ``send_empty`` on ``channel`` whose schedule fired since their last digest."""
    fired = []
    for name, rule in policy.rules.items():
        if rule.digest is None or not rule.send_empty or channel not in rule.channels:
            continue
        last = notices.last_digest_run(db, name, channel)
        if last is None:
            notices.start_digest_runs(db, name, channel, now)
            continue
        if next_fire(rule.digest, last + timedelta(seconds=1)) <= now:
            fired.append(name)
    return fired


def _defer(db: Database, channel: str, now: datetime, until: datetime) -> None:
    """Move what is due during quiet hours to their end, so nothing spins meanwhile."""
    if outbox.any_held_due(db, channel, now):
        outbox.defer_held(db, channel, now, until)
