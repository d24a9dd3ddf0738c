"""Keep the database small over months: drop old article bodies, then give the space back.

:func:`prune` blanks ``text`` and ``summary`` of articles fetched more than ``keep`` ago. The
row stays (URL, title, source, dates), so the article is still known when a feed repeats
it, and every match and delivery that points at it keeps pointing at it. Two kinds of
articles keep their body whatever their age: those not yet run through the rules, and
those a later stage still needs, which the caller names with ``still_needed`` (the
alerts' outbox: an alert waiting to be sent, alone or in a digest, quotes the body). This
package cannot import that stage, and must not guess which of its states mean "not sent".

:func:`crawler.db.optimize` then runs ``PRAGMA optimize`` and returns freed pages to the
file system.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from crawler import fulltext, store
from crawler.db import (
    Database,
    DatabaseTarget,
    OptimizeReport,
    is_postgres,
    open_database,
    optimize,
    to_iso,
    utcnow,
    write_transaction,
)

logger = logging.getLogger(__name__)

BATCH = 500
MERGE_ROUNDS = 20

StillNeeded = Callable[[Database], Collection[int]]
"""Ids of the articles whose body a later stage still needs; called inside each batch's
write transaction, so what it answers cannot change before the batch commits."""


@dataclass(frozen=True, slots=True)
class PruneReport:
    """What :func:`prune` did."""

    cutoff: datetime
    articles: int


def prune(
    db: Database, keep: timedelta, *, still_needed: StillNeeded, now: datetime | None = None
) -> PruneReport:
    """Blank the body of every article fetched before ``now - keep`` that nothing needs.

    Returns how many were blanked.
    """
    if keep <= timedelta(0):
        raise ValueError(f"keep must be a positive duration, not {keep}")
    cutoff = (now or utcnow()) - keep
    total, after = 0, 0
    # Short transactions, so the service's polls can write in between on a large database.
    while True:
        with write_transaction(db):
            candidates = store.prunable_articles(db, cutoff, after=after, limit=BATCH)
            if candidates:
                needed = set(still_needed(db))
                ids = [article_id for article_id in candidates if article_id not in needed]
                store.blank_article_text(db, ids)
                total += len(ids)
        if len(candidates) < BATCH:
            break
        after = candidates[-1]
    if total and not is_postgres(db):
        # The index keeps the tokens of blanked texts until its segments are merged: some
        # merging now, in short transactions, and the rest as articles are added.
        for _ in range(MERGE_ROUNDS):
            with write_transaction(db):
                if not fulltext.merge_some(db.conn):
                    break
    logger.info("pruned the text of %d articles fetched before %s", total, to_iso(cutoff))
    return PruneReport(cutoff=cutoff, articles=total)


def apply_retention(
    path: DatabaseTarget, keep: timedelta, *, still_needed: StillNeeded, now: datetime | None = None
) -> tuple[PruneReport, OptimizeReport]:
    """Prune and optimize the database at ``path`` on a connection of its own.

    Meant for a daily job run in a worker thread (``asyncio.to_thread``): the service's
    connection stays free, and the busy timeout orders the writes of both.
    """
    db = open_database(path)
    try:
        pruned = prune(db, keep, still_needed=still_needed, now=now)
        optimized = optimize(db)
    finally:
        db.close()
    logger.info(
        "database %s vacuum: %d -> %d bytes",
        optimized.mode,
        optimized.bytes_before,
        optimized.bytes_after,
    )
    return pruned, optimized
