"""Messages that are not one match: digests and operations alerts (the ``notices`` table).

A digest notice bundles outbox rows (their ``notice_id`` points at it); sending it marks
all of them sent in the same transaction, so a digest is delivered once or, after a crash
between the receiver's answer and the commit, again with the same key. An operations
notice carries its content (which source broke or recovered) in ``payload``. The
``digest_runs`` table, also kept here, says when each (rule, channel) last had a digest.

Notices go through the same states and backoff as single alerts: ``pending``,
``retrying``, ``sent``, ``failed``, ``muted``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from alerts.outbox.retry import RetryPolicy, judge_failure
from crawler.db import Database, from_iso, to_iso, write_transaction

KINDS = ("digest", "quiet", "overflow", "ops")


@dataclass(frozen=True, slots=True)
class Notice:
    """One digest or operations message for one channel."""

    id: int
    key: str
    kind: str
    channel: str
    attempts: int
    created: datetime
    since: datetime | None = None
    title: str = ""
    payload: dict[str, Any] = field(default_factory=dict)
    requeued: datetime | None = None

    @property
    def queued(self) -> datetime:
        """When the notice was queued (or queued again by hand): its age counts from here."""
        return self.requeued or self.created


def create_notice(
    db: Database,
    *,
    kind: str,
    channel: str,
    title: str,
    now: datetime,
    payload: dict[str, Any] | None = None,
    since: datetime | None = None,
) -> int:
    """Queue a notice, due at ``now``; call inside a transaction. Returns its id.

    The key (``digest.12.team-mail``) is derived from the row id, so it is unique and
    stays the same on every attempt.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown notice kind {kind!r}")
    cursor = db.execute(
        "INSERT INTO notices (key, kind, channel, state, attempts, next_attempt, created, "
        "since, title, payload) VALUES (?,?,?,'pending',0,?,?,?,?,?)",
        [
            f"new.{uuid.uuid4().hex}",  # replaced below, once the id is known
            kind,
            channel,
            to_iso(now),
            to_iso(now),
            to_iso(since),
            title,
            json.dumps(payload or {}, ensure_ascii=False, sort_keys=True),
        ],
    )
    notice_id = int(cursor.lastrowid or 0)
    db.execute(
        "UPDATE notices SET key = ? WHERE id = ?", [f"{kind}.{notice_id}.{channel}", notice_id]
    )
    return notice_id


def notice_from_row(row: dict[str, Any]) -> Notice:
    """A :class:`Notice` from a ``notices`` row."""
    created = from_iso(row["created"])
    assert created is not None
    return Notice(
        id=row["id"],
        key=row["key"],
        kind=row["kind"],
        channel=row["channel"],
        attempts=row["attempts"] or 0,
        created=created,
        since=from_iso(row["since"]),
        title=row["title"] or "",
        payload=json.loads(row["payload"] or "{}"),
        requeued=from_iso(row["requeued"]),
    )


def due_notices(db: Database, now: datetime, limit: int = 100) -> list[Notice]:
    """Pending and retrying notices whose time has come, oldest first."""
    rows = db.query(
        "SELECT * FROM notices WHERE state IN ('pending', 'retrying') AND next_attempt <= ? "
        "ORDER BY id LIMIT ?",
        [to_iso(now), limit],
    )
    return [notice_from_row(row) for row in rows]


def mark_notice_sent(db: Database, notice_id: int, when: datetime) -> None:
    """Record a delivered notice and, for a digest, every alert it carried."""
    with write_transaction(db):
        db.execute(
            "UPDATE notices SET state = 'sent', sent_at = ?, last_error = NULL, "
            "attempts = attempts + 1 WHERE id = ?",
            [to_iso(when), notice_id],
        )
        db.execute(
            "UPDATE outbox SET state = 'sent', sent_at = ?, last_error = NULL "
            "WHERE notice_id = ? AND state = 'bundled'",
            [to_iso(when), notice_id],
        )


def mark_notice_failed(
    db: Database,
    notice: Notice,
    error: str,
    *,
    permanent: bool,
    retry_after: float | None,
    policy: RetryPolicy,
    now: datetime,
) -> tuple[str, datetime | None]:
    """Record a failed attempt; returns the new state and, when retrying, the next try.

    The alerts of a failed digest stay ``bundled``: retrying the notice sends them all.
    """
    failure = judge_failure(
        attempts_before=notice.attempts,
        since=notice.queued,
        error=error,
        permanent=permanent,
        retry_after=retry_after,
        policy=policy,
        now=now,
    )
    with write_transaction(db):
        db.table("notices").update(notice.id, failure.columns())
    return failure.state, failure.next_attempt


def mute_notices(db: Database, ids: Iterable[int], note: str) -> None:
    """Record notices (and the alerts they carry) as muted."""
    with write_transaction(db):
        for notice_id in ids:
            db.table("notices").update(notice_id, {"state": "muted", "last_error": note})
            db.execute(
                "UPDATE outbox SET state = 'muted', last_error = ? WHERE notice_id = ? "
                "AND state = 'bundled'",
                [note, notice_id],
            )


def postpone_notices(db: Database, ids: Iterable[int], until: datetime) -> None:
    """Hold notices that were not tried because their channel is down or quiet."""
    with write_transaction(db):
        for notice_id in ids:
            db.table("notices").update(notice_id, {"next_attempt": to_iso(until)})


def notice_counts(db: Database) -> dict[str, int]:
    """Number of notices in each state."""
    rows = db.query("SELECT state, count(*) AS n FROM notices GROUP BY state")
    return {row["state"]: row["n"] for row in rows}


def last_digest_run(db: Database, rule: str, channel: str) -> datetime | None:
    """When ``rule`` last had a digest on ``channel`` (or was first seen there)."""
    rows = db.query("SELECT last FROM digest_runs WHERE rule = ? AND channel = ?", [rule, channel])
    row = next(iter(rows), None)
    return from_iso(row["last"]) if row else None


def record_digest_run(db: Database, rule: str, channel: str, when: datetime) -> None:
    """Remember that ``rule`` had a digest on ``channel`` at ``when``; call in a transaction."""
    db.execute(
        "INSERT INTO digest_runs (rule, channel, last) VALUES (?, ?, ?) "
        "ON CONFLICT (rule, channel) DO UPDATE SET last = excluded.last",
        [rule, channel, to_iso(when)],
    )


def start_digest_runs(db: Database, rule: str, channel: str, when: datetime) -> None:
    """First sight of ``rule`` on ``channel``: its first digest covers from ``when`` on."""
    with write_transaction(db):
        db.execute(
            "INSERT OR IGNORE INTO digest_runs (rule, channel, last) VALUES (?, ?, ?)",
            [rule, channel, to_iso(when)],
        )
