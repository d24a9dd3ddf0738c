"""Keep the database small over months: drop old article bodies, then give the space back.

:func:`prune` blanks ``text`` and ``summary`` of articles fetched more than ``keep`` ago. The
row stays (URL, title, source, dates), so the article is still known when a feed repeats
it, and every match and delivery that points at it keeps pointing at it. Two kinds of
articles keep their body whatever their age: those not yet run through the rules, and
those with an alert still waiting in the outbox, whose snippets are cut from the body.

:func:`optimize` runs ``PRAGMA optimize`` and returns freed pages to the file system. The
first call on a database makes a full ``VACUUM`` and switches it to incremental
auto-vacuum, so later calls only release free pages, which is quick.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import sqlite_utils

from crawler.errors import StoreError
from crawler.store import open_database, to_iso, utcnow, write_transaction

logger = logging.getLogger(__name__)

BATCH = 500
# Outbox states of alerts that may still be rendered (the outbox belongs to alerts/, which
# this package must not import; the names are part of the database's schema).
UNSENT_STATES = ("pending", "retrying")
AUTO_VACUUM_INCREMENTAL = 2


@dataclass(frozen=True, slots=True)
class PruneReport:
    """What :func:`prune` did."""

    cutoff: datetime
    articles: int


@dataclass(frozen=True, slots=True)
class OptimizeReport:
    """Database size before and after :func:`optimize`, main file plus write-ahead log."""

    mode: str  # "full" or "incremental"
    bytes_before: int
    bytes_after: int


def prune(db: sqlite_utils.Database, keep: timedelta, now: datetime | None = None) -> PruneReport:
    """Blank the body of every article fetched before ``now - keep``; returns how many."""
    if keep <= timedelta(0):
        raise ValueError(f"keep must be a positive duration, not {keep}")
    cutoff = (now or utcnow()) - keep
    sql = _candidates_sql(db)
    total = 0
    # Short transactions, so the service's polls can write in between on a large database.
    while True:
        with write_transaction(db):
            ids = [row["id"] for row in db.query(sql, [to_iso(cutoff), BATCH])]
            if ids:
                marks = ",".join("?" * len(ids))
                db.execute(
                    f"UPDATE articles SET text = NULL, summary = NULL WHERE id IN ({marks})", ids
                )
        total += len(ids)
        if len(ids) < BATCH:
            break
    logger.info("pruned the text of %d articles fetched before %s", total, to_iso(cutoff))
    return PruneReport(cutoff=cutoff, articles=total)


def _candidates_sql(db: sqlite_utils.Database) -> str:
    sql = (
        "SELECT id FROM articles WHERE fetched < ? AND matched = 1 "
        "AND (text IS NOT NULL OR summary IS NOT NULL)"
    )
    if "outbox" in db.table_names():
        states = ", ".join(f"'{state}'" for state in UNSENT_STATES)
        sql += f" AND id NOT IN (SELECT article_id FROM outbox WHERE state IN ({states}))"
    return sql + " ORDER BY id LIMIT ?"


def optimize(db: sqlite_utils.Database) -> OptimizeReport:
    """Update the query planner's statistics and return free pages to the file system.

    Must run outside a transaction (SQLite refuses ``VACUUM`` inside one). A full vacuum
    rewrites the file and needs as much free disk space as the database takes.
    """
    if db.conn.in_transaction:
        raise StoreError(
            "cannot vacuum the database inside a transaction",
            hint="call optimize() after the transaction has committed",
        )
    before = database_bytes(db)
    db.execute("PRAGMA optimize")
    (mode,) = db.execute("PRAGMA auto_vacuum").fetchone()
    if mode == AUTO_VACUUM_INCREMENTAL:
        db.execute("PRAGMA incremental_vacuum").fetchall()
        kind = "incremental"
    else:
        # Setting the mode takes effect with the VACUUM that follows.
        db.execute("PRAGMA auto_vacuum = INCREMENTAL")
        db.execute("VACUUM")
        kind = "full"
    # Fold the write-ahead log back into the file so the freed space shows on disk.
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    after = database_bytes(db)
    logger.info("database %s vacuum: %d -> %d bytes", kind, before, after)
    return OptimizeReport(mode=kind, bytes_before=before, bytes_after=after)


def database_bytes(db: sqlite_utils.Database) -> int:
    """Size of the main database file plus its write-ahead log, in bytes."""
    row = db.execute("PRAGMA database_list").fetchone()
    path = Path(row[2]) if row and row[2] else None
    if path is None:  # an in-memory database
        (pages,) = db.execute("PRAGMA page_count").fetchone()
        (size,) = db.execute("PRAGMA page_size").fetchone()
        return int(pages * size)
    total = 0
    for candidate in (path, path.with_name(path.name + "-wal")):
        with contextlib.suppress(FileNotFoundError):
            total += candidate.stat().st_size
    return total


def apply_retention(
    path: Path, keep: timedelta, now: datetime | None = None
) -> tuple[PruneReport, OptimizeReport]:
    """Prune and optimize the database at ``path`` on a connection of its own.

    Meant for a daily job run in a worker thread (``asyncio.to_thread``): the service's
    connection stays free, and the busy timeout orders the writes of both.
    """
    db = open_database(path)
    try:
        return prune(db, keep, now), optimize(db)
    finally:
        db.close()
