"""Matches and the durable outbox of deliveries.

Each (rule, article) match is one ``matches`` row; each (rule, article, channel) is one
``outbox`` row with a unique ``key``. Both are written in the same transaction that marks the
article as matched, so a crash leaves either nothing (the article is matched again on the next
start) or everything (the delivery task sends it). The key doubles as the e-mail Message-ID
and the webhook Idempotency-Key, so the only possible duplicate (a crash after the receiver
accepted a message but before ``mark_sent`` committed) carries the same id and can be
deduplicated by the receiver.

Outbox states: ``pending`` (never tried), ``retrying`` (attempt N failed, next try at T),
``sent``, ``failed`` (permanent error, too many attempts, or too old).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils

from crawler.store import from_iso, to_iso, utcnow, write_transaction

PENDING, RETRYING, SENT, FAILED = "pending", "retrying", "sent", "failed"
FIRST_RETRY_SECONDS = 15.0
MAX_RETRY_SECONDS = 3600.0


def ensure_schema(db: sqlite_utils.Database) -> None:
    """Create the ``matches`` and ``outbox`` tables if missing."""
    db["matches"].create(
        {"id": int, "rule": str, "article_id": int, "matched_at": str, "hits": str},
        pk="id",
        not_null={"rule", "article_id"},
        foreign_keys=[("article_id", "articles", "id")],
        if_not_exists=True,
    )
    db.execute("CREATE UNIQUE INDEX IF NOT EXISTS matches_rule_article ON matches(rule, article_id)")
    db["outbox"].create(
        {
            "id": int,
            "key": str,
            "match_id": int,
            "rule": str,
            "article_id": int,
            "channel": str,
            "state": str,
            "attempts": int,
            "next_attempt": str,
            "last_error": str,
            "created": str,
            "sent_at": str,
        },
        pk="id",
        not_null={"key", "rule", "article_id", "channel", "state"},
        defaults={"attempts": 0},
        foreign_keys=[("match_id", "matches", "id")],
        if_not_exists=True,
    )
    db.execute("CREATE UNIQUE INDEX IF NOT EXISTS outbox_key ON outbox(key)")
    db.execute("CREATE INDEX IF NOT EXISTS outbox_due ON outbox(state, next_attempt)")


def delivery_key(rule: str, article_id: int, channel: str) -> str:
    """The stable identity of one delivery."""
    return f"{rule}.{article_id}.{channel}"


@dataclass(frozen=True, slots=True)
class HitRecord:
    """Where a rule matched: a field and a span in its original text."""

    field: str
    start: int
    end: int
    term: str


def record_match(
    db: sqlite_utils.Database,
    *,
    rule: str,
    article_id: int,
    hits: Sequence[HitRecord],
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
            db.query(
                "SELECT id FROM matches WHERE rule = ? AND article_id = ?", [rule, article_id]
            )
        )
    )["id"]
    for channel in channels:
        db.execute(
            "INSERT OR IGNORE INTO outbox (key, match_id, rule, article_id, channel, state, "
            "attempts, next_attempt, created) VALUES (?,?,?,?,?,?,0,?,?)",
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


def load_hits(raw: str | None) -> list[HitRecord]:
    """Decode the ``matches.hits`` column."""
    if not raw:
        return []
    return [HitRecord(str(f), int(s), int(e), str(t)) for f, s, e, t in json.loads(raw)]


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
    hits: list[HitRecord]


def due_deliveries(
    db: sqlite_utils.Database, now: datetime | None = None, limit: int = 200
) -> list[Delivery]:
    """Pending and retrying deliveries whose time has come, oldest first."""
    now = now or utcnow()
    rows = db.query(
        "SELECT o.*, m.hits FROM outbox o JOIN matches m ON m.id = o.match_id "
        "WHERE o.state IN (?, ?) AND o.next_attempt <= ? ORDER BY o.id LIMIT ?",
        [PENDING, RETRYING, to_iso(now), limit],
    )
    return [_delivery(row) for row in rows]


def _delivery(row: dict[str, Any]) -> Delivery:
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
    )


def next_due_time(db: sqlite_utils.Database, channels: Iterable[str]) -> datetime | None:
    """When the earliest unsent delivery through one of ``channels`` becomes due, if any."""
    names = list(channels)
    if not names:
        return None
    marks = ",".join("?" * len(names))
    sql = (
        "SELECT min(next_attempt) AS t FROM outbox "
        f"WHERE state IN (?, ?) AND channel IN ({marks})"
    )
    row = next(iter(db.query(sql, [PENDING, RETRYING, *names])))
    return from_iso(row["t"])


def mark_sent(db: sqlite_utils.Database, delivery_id: int, when: datetime | None = None) -> None:
    """Record a successful delivery."""
    with write_transaction(db):
        db["outbox"].update(
            delivery_id,
            {"state": SENT, "sent_at": to_iso(when or utcnow()), "last_error": None},
        )
        db.execute("UPDATE outbox SET attempts = attempts + 1 WHERE id = ?", [delivery_id])


def retry_delay(attempt: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter: ~15 s, 30 s, 1 min ... capped at one hour.

    ``attempt`` is the number of failed attempts so far (1 after the first failure). A
    server's Retry-After is honoured when it asks for longer.
    """
    base = min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** max(0, attempt - 1))
    delay = min(MAX_RETRY_SECONDS, base * random.uniform(0.8, 1.2))
    if retry_after is not None:
        delay = max(delay, min(retry_after, 6 * MAX_RETRY_SECONDS))
    return delay


def mark_failed_attempt(
    db: sqlite_utils.Database,
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
    now = now or utcnow()
    attempts = delivery.attempts + 1
    too_old = now - delivery.created > max_age
    give_up = permanent or attempts >= max_attempts or too_old
    state = FAILED if give_up else RETRYING
    if too_old and not permanent:
        error = f"{error} (gave up: undelivered for longer than {max_age})"
    elif attempts >= max_attempts and not permanent:
        error = f"{error} (gave up after {attempts} attempts)"
    next_attempt = None if give_up else now + timedelta(seconds=retry_delay(attempts, retry_after))
    with write_transaction(db):
        db["outbox"].update(
            delivery.id,
            {
                "state": state,
                "attempts": attempts,
                "last_error": error,
                "next_attempt": to_iso(next_attempt),
            },
        )
    return state, next_attempt


def postpone(db: sqlite_utils.Database, ids: Iterable[int], until: datetime) -> None:
    """Hold deliveries that were not tried because their channel is down."""
    with write_transaction(db):
        for delivery_id in ids:
            db["outbox"].update(delivery_id, {"next_attempt": to_iso(until)})


def outbox_counts(db: sqlite_utils.Database) -> dict[str, int]:
    """Number of outbox rows in each state."""
    counts = {PENDING: 0, RETRYING: 0, SENT: 0, FAILED: 0}
    for row in db.query("SELECT state, count(*) AS n FROM outbox GROUP BY state"):
        counts[row["state"]] = row["n"]
    return counts
