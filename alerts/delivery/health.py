"""Operations alerts about sources: one when a source breaks, one when it recovers.

A source is *broken* when its last ``failure_alert_after`` polls all failed, or when it
has produced no new item for longer than its ``stale_after``. The state of every source
is kept in the ``source_health`` table, and the alert for a change is queued (as
``notices`` rows for the operations channels) in the same transaction that records the
change: each break and each recovery is announced exactly once, however often the check
runs and across restarts. Nothing is sent while the state stays the same.

:func:`check_sources` is meant to run after every poll batch.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from alerts.outbox.notices import create_notice
from alerts.outbox.source_health import HealthRecord, load_health, save_health
from crawler.db import Database, to_iso, write_transaction
from crawler.durations import format_duration
from crawler.store import SourceState, load_source_state

logger = logging.getLogger(__name__)

OK, BROKEN = "ok", "broken"


@dataclass(frozen=True)
class HealthPolicy:
    """When a source counts as broken, and who hears about it."""

    failure_alert_after: int = 5
    stale_after: Mapping[str, timedelta] = field(default_factory=dict)
    ops_channels: tuple[str, ...] = ()
    urls: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HealthEvent:
    """A source changed state: ``broken`` (with why) or ``recovered``."""

    source: str
    status: str
    reason: str
    since: datetime | None = None


def diagnose(
    state: SourceState, policy: HealthPolicy, tracked: datetime, now: datetime
) -> str | None:
    """Why the source is broken at ``now``, or None when it is fine.

    ``tracked`` is when newswatch first checked the source: a source that never produced
    anything is stale ``stale_after`` after that.
    """
    reasons = []
    if state.failures >= policy.failure_alert_after:
        reasons.append(f"{state.failures} polls in a row failed")
    limit = policy.stale_after.get(state.name)
    if limit is not None:
        reference = max(t for t in (state.last_new, tracked) if t is not None)
        if now - reference > limit:
            seconds = int((now - reference).total_seconds())
            quiet_for = timedelta(seconds=seconds - seconds % 60 if seconds >= 60 else seconds)
            reasons.append(
                f"no new items for {format_duration(quiet_for)} (stale_after is "
                f"{format_duration(limit)})"
            )
    return "; ".join(reasons) or None


def check_sources(
    db: Database,
    sources: Iterable[str],
    policy: HealthPolicy,
    now: datetime,
) -> list[HealthEvent]:
    """Compare every source's health with the recorded one; queue alerts for the changes."""
    events = []
    for name in sources:
        event = _check_one(db, name, policy, now)
        if event is not None:
            events.append(event)
    return events


def _check_one(db: Database, name: str, policy: HealthPolicy, now: datetime) -> HealthEvent | None:
    record = load_health(db, name)
    tracked = record.tracked if record else None
    state = load_source_state(db, name)
    reason = diagnose(state, policy, tracked or now, now)
    before = record.status if record else OK
    after = BROKEN if reason else OK
    if record is not None and before == after and (after == OK or record.reason == reason):
        return None
    event = None
    if before != after:
        since = record.since if record and after == OK else None
        text = reason or _recovery_reason(state)
        event = HealthEvent(name, "broken" if after == BROKEN else "recovered", text, since)
    with write_transaction(db):
        changed_at = now if before != after else (record.since if record else None)
        save_health(db, HealthRecord(name, after, reason, changed_at, tracked or now))
        if event is not None:
            _queue(db, event, state, policy, now)
    return event


def _recovery_reason(state: SourceState) -> str:
    if state.failures == 0 and state.last_success is not None:
        return (
            "polled successfully again, with new items"
            if state.last_new
            else "polled successfully again"
        )
    return "works again"


def _queue(
    db: Database,
    event: HealthEvent,
    state: SourceState,
    policy: HealthPolicy,
    now: datetime,
) -> None:
    """Queue one operations notice per channel; call inside the transaction."""
    log = logger.warning if event.status == "broken" else logger.info
    log("source %s %s: %s", event.source, event.status, event.reason)
    if not policy.ops_channels:
        logger.warning(
            "no [service] ops_channels set: nobody is told that %s %s", event.source, event.status
        )
    payload = {
        "source": event.source,
        "status": event.status,
        "reason": event.reason,
        "url": policy.urls.get(event.source),
        "since": to_iso(event.since),
        "detected": to_iso(now),
        "last_error": state.last_error,
    }
    verb = "is not working" if event.status == "broken" else "is working again"
    for channel in policy.ops_channels:
        create_notice(
            db,
            kind="ops",
            channel=channel,
            title=f"source {event.source} {verb}",
            now=now,
            payload=payload,
        )
