"""The ``source_health`` table: the last known health of each source, as announced.

:mod:`alerts.delivery.health` decides when a source breaks or recovers; this module keeps
what it decided, so each change is announced once across restarts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from crawler.db import Database, from_iso, to_iso


@dataclass(frozen=True, slots=True)
class HealthRecord:
    """One source's recorded health: ``ok`` or ``broken`` (with why), since when, and
    when newswatch first checked it."""

    source: str
    status: str
    reason: str | None
    since: datetime | None
    tracked: datetime | None


def load_health(db: Database, source: str) -> HealthRecord | None:
    """The recorded health of ``source``; None before its first check."""
    rows = db.query("SELECT * FROM source_health WHERE source = ?", [source])
    row = next(iter(rows), None)
    if row is None:
        return None
    return HealthRecord(
        source=row["source"],
        status=row["status"],
        reason=row["reason"],
        since=from_iso(row["since"]),
        tracked=from_iso(row["tracked"]),
    )


def save_health(db: Database, record: HealthRecord) -> None:
    """Record a source's health (replacing what was recorded); call inside a transaction."""
    db.execute(
        "INSERT INTO source_health (source, status, reason, since, tracked) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (source) DO UPDATE SET status = excluded.status, "
        "reason = excluded.reason, since = excluded.since, tracked = excluded.tracked",
        [record.source, record.status, record.reason, to_iso(record.since), to_iso(record.tracked)],
    )
