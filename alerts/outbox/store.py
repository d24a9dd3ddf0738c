"""Matches and the durable outbox of deliveries.

Each (rule, article) match is one ``matches`` row; each (rule, article, channel) is one
``outbox`` row with a unique ``key``. Both are written in the same transaction that marks the
article as matched, so a crash leaves either nothing (the article is matched again on the next
start) or everything (the delivery task sends it). The key doubles as the e-mail Message-ID
and the webhook Idempotency-Key, so the only possible duplicate (a crash after the receiver
accepted a message but before ``mark_sent`` committed) carries the same id and can be
deduplicated by the receiver.

Outbox states:

- ``pending``: not tried yet (rows start here; ``classified`` = 0 until the rule's and
  channel's policy has been applied, see :mod:`alerts.delivery.policy`);
- ``retrying``: attempt N failed, next try at ``next_attempt``;
- ``digest``: waits to go out in a digest at ``digest_due`` (``hold`` says why: the
  rule's digest schedule, the channel's quiet hours or its hourly limit);
- ``bundled``: part of the digest message ``notice_id`` (see :mod:`alerts.outbox.notices`),
  which is being delivered;
- ``sent``; ``failed`` (permanent error, too many attempts, or too old); ``muted``
  (the rule or channel was muted: recorded, never sent).

The first four are :data:`UNSENT`: the message is still to be rendered from its article.
Other packages ask :func:`unsent_article_ids` instead of copying the list.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from alerts.outbox.retry import (
    FIRST_RETRY_SECONDS,
    MAX_RETRY_SECONDS,
    RetryPolicy,
    judge_failure,
    retry_delay,
)
from alerts.records import Hit
from crawler.db import Database, from_iso, to_iso, utcnow, write_transaction

PENDING, RETRYING, SENT, FAILED = "pending", "retrying", "sent", "failed"
DIGEST, BUNDLED, MUTED = "digest", "bundled", "muted"
STATES = (PENDING, RETRYING, DIGEST, BUNDLED, SENT, FAILED, MUTED)
# Not sent yet, and still to be: the message will be rendered from its article later.
UNSENT = (PENDING, RETRYING, DIGEST, BUNDLED)

__all__ = [
    "UNSENT",
    "FIRST_RETRY_SECONDS",
    "MAX_RETRY_SECONDS",
    "Delivery",
    "Hit",
    "count_deliveries",
    "count_due",
    "delivery_key",
    "due_deliveries",
    "hold",
    "mark_failed_attempt",
    "mark_sent",
    "next_due_time",
    "outbox_counts",
    "postpone",
    "record_match",
    "retry_delay",
    "unsent_article_ids",
]


def delivery_key(rule: str, article_id: int, channel: str) -> str:
    """The stable identity of one delivery."""
    return f"{rule}.{article_id}.{channel}"


def record_match(
    db: Database,
    *,
    rule: str,
    article_id: int,
    hits: Sequence[Hit],
    channels: Iterable[str],
    when: datetime | None = None,
) -> int:
    """Insert a match and its deliveries (idempotent); call inside a transaction."""
    when = when or utcnow()
    hits_json = json.dumps([[h.field, h.start, h.end, h.term] for h in hits], ensure_ascii=False)
    db.execute(
        "INSERT OR IGNORE INTO matches (rule, article_id, matched_at, hits) VALUES (?,?,?,?)",
        [rule, article_id, to_iso(when), hits_json],
    )
    match_id = next(
        iter(
            db.query("SELECT id FROM matches WHERE rule = ? AND article_id = ?", [rule, article_id])
        )
    )["id"]
    for channel in channels:
        db.execute(
            "INSERT OR IGNORE INTO outbox (key, match_id, rule, article_id, channel, state, "
            "attempts, next_attempt, created, classified) VALUES (?,?,?,?,?,?,0,?,?,0)",
            [
                delivery_key(rule, article_id, channel),
                match_id,
                rule,
                article_id,
                channel,
                PENDING,
                to_iso(when),
                to_iso(when),
            ],
        )
    return int(match_id)


def count_deliveries(db: Database, rule: str, article_id: int) -> int:
    """How many deliveries (one per channel) the match of ``rule`` on an article has queued."""
    sql = "SELECT count(*) AS n FROM outbox WHERE rule = ? AND article_id = ?"
    return int(next(iter(db.query(sql, [rule, article_id])))["n"])


def load_hits(raw: str | None) -> list[Hit]:
    """Decode the ``matches.hits`` column."""
    if not raw:
        return []
    return [Hit(str(f), int(s), int(e), str(t)) for f, s, e, t in json.loads(raw)]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One outbox row that is due."""

    id: int
    key: str
    rule: str
    article_id: int
    channel: str
    attempts: int
    created: datetime
    hits: list[Hit]
    requeued: datetime | None = None

    @property
    def since(self) -> datetime:
        """When the delivery was queued, or queued again by hand: its age counts from here."""
        return self.requeued or self.created


_DELIVERY_SQL = "SELECT o.*, m.hits FROM outbox o JOIN matches m ON m.id = o.match_id "


def due_deliveries(db: Database, now: datetime | None = None, limit: int = 200) -> list[Delivery]:
    """Pending and retrying deliveries whose time has come, oldest first."""
    now = now or utcnow()
    rows = db.query(
        _DELIVERY_SQL + "WHERE o.state IN (?, ?) AND o.next_attempt <= ? ORDER BY o.id LIMIT ?",
        [PENDING, RETRYING, to_iso(now), limit],
    )
    return [delivery_from_row(row) for row in rows]


def count_due(db: Database, now: datetime) -> int:
    """How many pending and retrying deliveries are due at ``now``."""
    sql = "SELECT count(*) AS n FROM outbox WHERE state IN (?, ?) AND next_attempt <= ?"
    return int(next(iter(db.query(sql, [PENDING, RETRYING, to_iso(now)])))["n"])


def bundled_deliveries(db: Database, notice_id: int) -> list[Delivery]:
    """The deliveries that travel in the digest message ``notice_id``."""
    rows = db.query(_DELIVERY_SQL + "WHERE o.notice_id = ? ORDER BY o.id", [notice_id])
    return [delivery_from_row(row) for row in rows]


def delivery_from_row(row: dict[str, Any]) -> Delivery:
    """A :class:`Delivery` from an outbox row joined with its match's ``hits``."""
    created = from_iso(row["created"])
    assert created is not None
    return Delivery(
        id=row["id"],
        key=row["key"],
        rule=row["rule"],
        article_id=row["article_id"],
        channel=row["channel"],
        attempts=row["attempts"] or 0,
        created=created,
        hits=load_hits(row["hits"]),
        requeued=from_iso(row.get("requeued")),
    )


def next_due_time(db: Database, channels: Iterable[str]) -> datetime | None:
    """When the next message through one of ``channels`` falls due: a delivery, a digest
    or an operations alert. ``None`` when nothing waits."""
    names = list(channels)
    if not names:
        return None
    marks = ",".join("?" * len(names))
    sql = (
        "SELECT min(t) AS t FROM ("
        f"SELECT min(next_attempt) AS t FROM outbox WHERE state IN (?, ?) AND channel IN ({marks}) "
        "UNION ALL SELECT min(digest_due) FROM outbox "
        f"WHERE state = ? AND notice_id IS NULL AND channel IN ({marks}) "
        f"UNION ALL SELECT min(next_attempt) FROM notices WHERE state IN (?, ?) "
        f"AND channel IN ({marks})) AS due"
    )
    params = [PENDING, RETRYING, *names, DIGEST, *names, PENDING, RETRYING, *names]
    row = next(iter(db.query(sql, params)))
    return from_iso(row["t"])


def mark_sent(db: Database, delivery_id: int, when: datetime | None = None) -> None:
    """Record a successful delivery."""
    with write_transaction(db):
        db.table("outbox").update(
            delivery_id,
            {"state": SENT, "sent_at": to_iso(when or utcnow()), "last_error": None},
        )
        db.execute("UPDATE outbox SET attempts = attempts + 1 WHERE id = ?", [delivery_id])


def mark_failed_attempt(
    db: Database,
    delivery: Delivery,
    error: str,
    *,
    permanent: bool,
    retry_after: float | None = None,
    max_attempts: int = 20,
    max_age: timedelta = timedelta(days=2),
    now: datetime | None = None,
) -> tuple[str, datetime | None]:
    """Record a failed attempt; returns the new state and, when retrying, the next try."""
    failure = judge_failure(
        attempts_before=delivery.attempts,
        since=delivery.since,
        error=error,
        permanent=permanent,
        retry_after=retry_after,
        policy=RetryPolicy(max_attempts, max_age),
        now=now or utcnow(),
    )
    with write_transaction(db):
        db.table("outbox").update(delivery.id, failure.columns())
    return failure.state, failure.next_attempt


def postpone(db: Database, ids: Iterable[int], until: datetime) -> None:
    """Hold deliveries that were not tried because their channel is down or quiet."""
    with write_transaction(db):
        for delivery_id in ids:
            db.table("outbox").update(delivery_id, {"next_attempt": to_iso(until)})


def hold(db: Database, ids: Iterable[int], reason: str, due: datetime) -> None:
    """Move deliveries to the ``digest`` state: they go out together at ``due``.

    ``reason`` is ``digest`` (the rule's schedule), ``quiet`` (the channel's quiet hours)
    or ``overflow`` (the channel's hourly limit).
    """
    with write_transaction(db):
        for delivery_id in ids:
            db.table("outbox").update(
                delivery_id,
                {"state": DIGEST, "hold": reason, "digest_due": to_iso(due), "classified": 1},
            )


def mark_muted(db: Database, ids: Iterable[int], note: str) -> None:
    """Record deliveries as muted: kept for the record, never sent."""
    with write_transaction(db):
        for delivery_id in ids:
            db.table("outbox").update(
                delivery_id, {"state": MUTED, "last_error": note, "classified": 1}
            )


def outbox_counts(db: Database) -> dict[str, int]:
    """Number of outbox rows in each state."""
    counts = dict.fromkeys(STATES, 0)
    for row in db.query("SELECT state, count(*) AS n FROM outbox GROUP BY state"):
        counts[row["state"]] = row["n"]
    return counts


def unsent_article_ids(db: Database) -> set[int]:
    """Articles with an alert not sent yet, alone or in a digest: their text is still needed.

    Retention asks this before it blanks old article bodies (see :mod:`crawler.retention`).
    """
    marks = ",".join("?" * len(UNSENT))
    sql = f"SELECT DISTINCT article_id FROM outbox WHERE state IN ({marks})"
    return {row["article_id"] for row in db.query(sql, list(UNSENT))}


@dataclass(frozen=True, slots=True)
class Queued:
    """An outbox row the delivery policy has not looked at yet."""

    id: int
    rule: str
    channel: str
    created: datetime | None


def unclassified(db: Database) -> list[Queued]:
    """New pending rows, not yet muted, held for a digest or released, oldest first."""
    rows = db.query(
        "SELECT id, rule, channel, created FROM outbox WHERE state = ? AND classified = 0 "
        "ORDER BY id",
        [PENDING],
    )
    return [Queued(r["id"], r["rule"], r["channel"], from_iso(r["created"])) for r in rows]


def release(db: Database, ids: Iterable[int]) -> None:
    """Let deliveries go out as soon as they are due: the policy has nothing to hold."""
    with write_transaction(db):
        for delivery_id in ids:
            db.execute("UPDATE outbox SET classified = 1 WHERE id = ?", [delivery_id])


@dataclass(frozen=True, slots=True)
class Held:
    """A delivery waiting in the ``digest`` state."""

    id: int
    rule: str
    hold: str
    created: datetime | None


_HELD_DUE = (
    "SELECT id, rule, hold, created FROM outbox WHERE state = ? AND notice_id IS NULL "
    "AND channel = ? AND digest_due <= ? ORDER BY id"
)


def held_due(db: Database, channel: str, now: datetime) -> list[Held]:
    """Deliveries on ``channel`` held for a digest that is due at ``now``."""
    rows = db.query(_HELD_DUE, [DIGEST, channel, to_iso(now)])
    return [Held(r["id"], r["rule"], r["hold"], from_iso(r["created"])) for r in rows]


def any_held_due(db: Database, channel: str, now: datetime) -> bool:
    """Whether :func:`held_due` would find anything."""
    rows = db.query(_HELD_DUE + " LIMIT 1", [DIGEST, channel, to_iso(now)])
    return next(iter(rows), None) is not None


def bundle(db: Database, ids: Iterable[int], notice_id: int) -> None:
    """Put held deliveries into the digest message ``notice_id``; call inside a transaction."""
    for delivery_id in ids:
        db.execute(
            "UPDATE outbox SET state = ?, notice_id = ? WHERE id = ?",
            [BUNDLED, notice_id, delivery_id],
        )


def defer_held(db: Database, channel: str, now: datetime, until: datetime) -> None:
    """Move the digest time of what is due on ``channel`` at ``now`` to ``until``."""
    with write_transaction(db):
        db.execute(
            "UPDATE outbox SET digest_due = ? WHERE state = ? AND notice_id IS NULL "
            "AND channel = ? AND digest_due <= ?",
            [to_iso(until), DIGEST, channel, to_iso(now)],
        )


def sent_since(db: Database, channel: str, since: datetime) -> int:
    """Messages ``channel`` sent after ``since``: single alerts, and digests and operations
    alerts once each."""
    start = to_iso(since)
    row = next(
        iter(
            db.query(
                "SELECT (SELECT count(*) FROM outbox WHERE channel = ? AND sent_at > ? "
                "AND notice_id IS NULL) + (SELECT count(*) FROM notices WHERE channel = ? "
                "AND state = 'sent' AND sent_at > ?) AS n",
                [channel, start, channel, start],
            )
        )
    )
    return int(row["n"])


def first_sent_since(db: Database, channel: str, since: datetime) -> datetime | None:
    """When ``channel`` first sent a message after ``since`` (counted as in :func:`sent_since`)."""
    start = to_iso(since)
    row = next(
        iter(
            db.query(
                "SELECT min(t) AS t FROM (SELECT min(sent_at) AS t FROM outbox WHERE channel = ? "
                "AND sent_at > ? AND notice_id IS NULL UNION ALL SELECT min(sent_at) FROM "
                "notices WHERE channel = ? AND state = 'sent' AND sent_at > ?) AS sent",
                [channel, start, channel, start],
            )
        )
    )
    return from_iso(row["t"])
