"""What an operator sees and does with queued messages: list them, queue failed ones again.

Single alerts (``outbox``) are listed by their number (``12``), digests and operations
alerts (``notices``) with an ``n`` in front (``n3``), so one list and one ``retry``
command cover both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from alerts.outbox.store import MUTED
from crawler.db import Database, from_iso, to_iso, write_transaction

NOTICE_PREFIX = "n"


def alert_id(row_id: int) -> str:
    """The ID of a single alert (an ``outbox`` row) as people see and give it: ``57``."""
    return str(row_id)


def notice_id(row_id: int) -> str:
    """The ID of a digest or an operations alert (a ``notices`` row): ``n12``."""
    return f"{NOTICE_PREFIX}{row_id}"


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """One message as ``newswatch alerts list`` shows it."""

    id: str
    state: str
    attempts: int
    next_try: datetime | None
    last_error: str | None
    rule: str
    channel: str
    title: str
    created: datetime | None


@dataclass(frozen=True, slots=True)
class RetryResult:
    """What ``retry`` did: ids queued again, and ids it could not queue, with why."""

    retried: list[str]
    refused: list[str]


def list_entries(
    db: Database, *, state: str | Sequence[str] | None = None, limit: int = 50
) -> list[QueueEntry]:
    """Alerts and notices, newest first, optionally only those in ``state`` (one or several)."""
    states = [state] if isinstance(state, str) else list(state or ())
    marks = ",".join("?" * len(states))
    where, params = (f"WHERE o.state IN ({marks})", states) if states else ("", [])
    alert_rows = db.query(
        "SELECT o.id, o.state, o.attempts, o.next_attempt, o.digest_due, o.notice_id, "
        "o.last_error, o.rule, o.channel, o.created, a.title FROM outbox o "
        f"LEFT JOIN articles a ON a.id = o.article_id {where} ORDER BY o.id DESC LIMIT ?",
        [*params, limit],
    )
    where = f"WHERE state IN ({marks})" if states else ""
    notice_rows = db.query(
        f"SELECT * FROM notices {where} ORDER BY id DESC LIMIT ?", [*params, limit]
    )
    entries = [_alert_entry(row) for row in alert_rows]
    entries += [_notice_entry(row) for row in notice_rows]
    entries.sort(key=lambda e: (to_iso(e.created) or "", e.id), reverse=True)
    return entries[:limit]


def _alert_entry(row: dict[str, Any]) -> QueueEntry:
    next_try = row["next_attempt"] if row["state"] in ("pending", "retrying") else None
    if row["state"] == "digest":
        next_try = row["digest_due"]
    error = row["last_error"]
    if row["state"] == "bundled":
        error = f"in digest {notice_id(row['notice_id'])}"
    return QueueEntry(
        id=alert_id(row["id"]),
        state=row["state"],
        attempts=row["attempts"] or 0,
        next_try=from_iso(next_try),
        last_error=error,
        rule=row["rule"],
        channel=row["channel"],
        title=row["title"] or "(article no longer stored)",
        created=from_iso(row["created"]),
    )


def _notice_entry(row: dict[str, Any]) -> QueueEntry:
    pending = row["state"] in ("pending", "retrying")
    return QueueEntry(
        id=notice_id(row["id"]),
        state=row["state"],
        attempts=row["attempts"] or 0,
        next_try=from_iso(row["next_attempt"]) if pending else None,
        last_error=row["last_error"],
        rule="(ops)" if row["kind"] == "ops" else f"({row['kind']})",
        channel=row["channel"],
        title=row["title"] or "",
        created=from_iso(row["created"]),
    )


def retry(db: Database, ids: list[str], now: datetime) -> RetryResult:
    """Queue the failed messages ``ids`` again, due at ``now``, with a fresh attempt count."""
    retried, refused = [], []
    for given in ids:
        table, number = _parse_id(given)
        if number is None:
            refused.append(f"{given}: not an id (use the ID column of `newswatch alerts list`)")
            continue
        rows = list(db.query(f"SELECT state FROM {table} WHERE id = ?", [number]))
        if not rows:
            refused.append(f"{given}: no such alert")
        elif rows[0]["state"] != "failed":
            refused.append(f"{given}: it is {rows[0]['state']}, not failed")
        else:
            _requeue(db, table, now, row_id=number)
            retried.append(given)
    return RetryResult(retried, refused)


def retry_all_failed(db: Database, now: datetime) -> int:
    """Queue every failed alert and notice again, due at ``now``; returns how many."""
    return _requeue(db, "outbox", now) + _requeue(db, "notices", now)


def _requeue(db: Database, table: str, now: datetime, row_id: int | None = None) -> int:
    """Failed rows of ``table`` (all, or the one ``row_id``) back to pending, due ``now``."""
    # classified = 1: a message queued again by hand skips the rule's digest and mute step.
    extra = ", classified = 1" if table == "outbox" else ""
    sql = (
        f"UPDATE {table} SET state = 'pending', attempts = 0, next_attempt = ?, "
        f"requeued = ?{extra} WHERE state = 'failed'"
    )
    params: list[object] = [to_iso(now), to_iso(now)]
    if row_id is not None:
        sql += " AND id = ?"
        params.append(row_id)
    with write_transaction(db):
        cursor = db.execute(sql, params)
    return cursor.rowcount


def _parse_id(given: str) -> tuple[str, int | None]:
    text = given.strip().lower()
    table = "outbox"
    if text.startswith(NOTICE_PREFIX):
        table, text = "notices", text[len(NOTICE_PREFIX) :]
    return table, int(text) if text.isdigit() else None


def last_alert_id(db: Database) -> int:
    """The highest outbox row id so far (0 when empty): a mark to find rows added later."""
    row = next(iter(db.query("SELECT coalesce(max(id), 0) AS id FROM outbox")))
    return int(row["id"])


def muted_after(db: Database, mark: int) -> dict[str, int]:
    """Alerts added after ``mark`` that were muted, counted by the reason recorded."""
    sql = (
        "SELECT last_error AS note, count(*) AS n FROM outbox WHERE id > ? AND state = ? "
        "GROUP BY last_error ORDER BY last_error"
    )
    return {row["note"] or MUTED: row["n"] for row in db.query(sql, [mark, MUTED])}
