"""Send what is due through the configured channels: alerts, digests, operations alerts.

One delivery round (:func:`deliver_due`) runs the same steps for ``newswatch once`` and
for every wake-up of the service's delivery loop:

1. apply rule mutes and digest schedules to new matches
   (:func:`alerts.delivery.policy.classify_new`);
2. bundle matches whose digest time has come (:func:`alerts.delivery.digest.bundle_due`);
3. per channel, concurrently: let mutes, quiet hours and the hourly limit decide what may
   go now, then send digests and operations alerts first and single alerts after, in
   order. A failure that may clear up holds the channel's other messages until the retry.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from alerts.channels.base import Channel
from alerts.delivery.digest import bundle_due
from alerts.delivery.policy import Mutes, Policy, classify_new, gate_deliveries, gate_notices
from alerts.errors import DeliveryError
from alerts.outbox import store as outbox
from alerts.outbox.notices import (
    Notice,
    due_notices,
    mark_notice_failed,
    mark_notice_sent,
    postpone_notices,
)
from alerts.outbox.retry import RetryPolicy
from alerts.records import Notification
from alerts.render.compose import build_alert, build_notification, sample_alert
from crawler.db import Database, DatabaseError, database_file, utcnow
from crawler.errors import StoreError

logger = logging.getLogger(__name__)

__all__ = ["Policy", "RetryPolicy", "build_alert", "deliver_all_due", "deliver_due", "send_test"]

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class _Job:
    """One message to send, with what to record afterwards."""

    key: str
    build: Callable[[], Notification | None]
    sent: Callable[[datetime], None]
    failed: Callable[[str, bool, float | None, datetime], tuple[str, datetime | None]]
    postpone: Callable[[datetime], None]


async def deliver_due(
    db: Database,
    channels: Mapping[str, Channel],
    policy: Policy | RetryPolicy | None = None,
    *,
    now: datetime | None = None,
) -> Counter[str]:
    """Run one delivery round; returns counts by outcome (sent / retrying / failed / waiting).

    ``now`` fixes the clock (for tests); by default every step reads the current time.
    """
    if not isinstance(policy, Policy):
        policy = Policy(retry=policy or RetryPolicy())
    clock: Clock = (lambda: now) if now is not None else utcnow
    start = clock()
    classify_new(db, policy, start)
    bundle_due(db, policy, channels, start)
    mutes = Mutes.load(db, policy, start)
    pending_notices = _by_channel(due_notices(db, start))
    pending_alerts = _by_channel(outbox.due_deliveries(db, start))
    outcome: Counter[str] = Counter()
    tasks: list[Awaitable[None]] = []
    for name in sorted(set(pending_notices) | set(pending_alerts)):
        channel = channels.get(name)
        waiting = len(pending_notices.get(name, [])) + len(pending_alerts.get(name, []))
        if channel is None:
            logger.warning(
                "%d messages wait for channel %r, which is not configured any more", waiting, name
            )
            outcome["waiting"] += waiting
            continue
        notices = gate_notices(db, policy, mutes, name, pending_notices.get(name, []), start)
        alerts = gate_deliveries(db, policy, mutes, name, pending_alerts.get(name, []), start)
        queue = [_notice_job(db, n, policy) for n in notices]
        queue += [_alert_job(db, d, policy) for d in alerts]
        if queue:
            tasks.append(_deliver_channel(channel, queue, clock, outcome, _db_key(db)))
    await asyncio.gather(*tasks)
    return outcome


async def deliver_all_due(
    db: Database,
    channels: Mapping[str, Channel],
    policy: Policy | RetryPolicy | None = None,
    *,
    now: datetime | None = None,
) -> Counter[str]:
    """Delivery rounds until nothing due is left; returns the counts of every round together.

    One round takes a bounded batch of the oldest due messages (so memory stays small
    however long the queue); ``newswatch once`` must still send everything that is due,
    so rounds repeat while they leave due messages behind and each one moved some along.
    Messages no round can move (a channel no longer configured) end the loop.
    """
    outcome: Counter[str] = Counter()
    before = outbox.count_due(db, now or utcnow())
    while True:
        outcome += await deliver_due(db, channels, policy, now=now)
        left = outbox.count_due(db, now or utcnow())
        if not left or left >= before:
            return outcome
        before = left


def _by_channel(items: list) -> dict[str, list]:
    grouped: dict[str, list] = {}
    for item in items:
        grouped.setdefault(item.channel, []).append(item)
    return grouped


def _alert_job(db: Database, delivery: outbox.Delivery, policy: Policy) -> _Job:
    def failed(
        error: str, permanent: bool, retry_after: float | None, when: datetime
    ) -> tuple[str, datetime | None]:
        return outbox.mark_failed_attempt(
            db,
            delivery,
            error,
            permanent=permanent,
            retry_after=retry_after,
            max_attempts=policy.retry.max_attempts,
            max_age=policy.retry.max_age,
            now=when,
        )

    return _Job(
        key=delivery.key,
        build=lambda: build_alert(db, delivery),
        sent=lambda when: outbox.mark_sent(db, delivery.id, when),
        failed=failed,
        postpone=lambda until: outbox.postpone(db, [delivery.id], until),
    )


def _notice_job(db: Database, notice: Notice, policy: Policy) -> _Job:
    def failed(
        error: str, permanent: bool, retry_after: float | None, when: datetime
    ) -> tuple[str, datetime | None]:
        return mark_notice_failed(
            db,
            notice,
            error,
            permanent=permanent,
            retry_after=retry_after,
            policy=policy.retry,
            now=when,
        )

    return _Job(
        key=notice.key,
        build=lambda: build_notification(db, notice),
        sent=lambda when: mark_notice_sent(db, notice.id, when),
        failed=failed,
        postpone=lambda until: postpone_notices(db, [notice.id], until),
    )


# Messages a channel accepted whose "sent" could not be committed (the disk was full, say),
# by database and key. The next round records them instead of sending them again; only a
# process that dies before then can repeat one (under the same key: receivers drop it).
_UNRECORDED: dict[tuple[str, str], datetime] = {}


def _db_key(db: Database) -> str:
    """Which database file ``db`` is (an in-memory one by its handle)."""
    return database_file(db) or f"memory:{id(db)}"


def _record_sent(db_key: str, job: _Job, when: datetime) -> bool:
    """Record a sent message; False (and remembered) when the database refuses the write."""
    try:
        job.sent(when)
    except (DatabaseError, StoreError) as exc:  # SQLite's own errors, PostgreSQL's wrapped
        _UNRECORDED[(db_key, job.key)] = when
        logger.error(
            "%s was sent but could not be recorded (%s); it will be recorded, not sent again",
            job.key,
            exc,
        )
        return False
    _UNRECORDED.pop((db_key, job.key), None)
    return True


async def _deliver_channel(
    channel: Channel, queue: list[_Job], clock: Clock, outcome: Counter[str], db_key: str
) -> None:
    for index, job in enumerate(queue):
        already = _UNRECORDED.get((db_key, job.key))
        if already is not None:  # sent in an earlier round; only its record is missing
            if not _record_sent(db_key, job, already):
                return  # the database still refuses writes: try again next round
            outcome["sent"] += 1
            continue
        item = job.build()
        if item is None:
            job.failed("article no longer stored", True, None, clock())
            outcome["failed"] += 1
            continue
        try:
            await channel.send(item)
        except DeliveryError as exc:
            state, next_attempt = job.failed(str(exc), exc.permanent, exc.retry_after, clock())
            outcome[state] += 1
            logger.warning(
                "delivery %s via %s %s: %s",
                job.key,
                channel.name,
                "failed for good" if state == "failed" else "will be retried",
                exc,
            )
            if next_attempt is not None:
                # The channel is down: hold the rest until the retry instead of hammering it.
                for later in queue[index + 1 :]:
                    later.postpone(next_attempt)
                break
            continue
        outcome["sent"] += 1
        if not _record_sent(db_key, job, clock()):
            return  # nothing more can be recorded now: send nothing more either
        logger.info("sent %s via %s", job.key, channel.name)


async def send_test(channel: Channel, now: datetime | None = None) -> str:
    """Send a sample alert through ``channel``; returns its key, raises DeliveryError."""
    alert = sample_alert(channel.name, now or utcnow())
    await channel.send(alert)
    return alert.key
