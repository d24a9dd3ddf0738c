"""The table ``google_news_links``: each Google News article link and the publisher's URL.

A link is resolved once ever: the publisher's URL is kept, so the same item seen by the
next poll (or by another Google News source) costs no request. A link that could not be
resolved keeps its attempts, its last error and when it may be tried again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from crawler.db import Database, from_iso, to_iso, write_transaction


@dataclass(frozen=True, slots=True)
class LinkState:
    """What is known about one Google News link."""

    link: str
    resolved: str | None = None  # the publisher's URL, as Google gave it
    attempts: int = 0  # failed attempts so far
    next_try: datetime | None = None  # no new attempt before then
    error: str | None = None  # why the last attempt failed


def load_links(db: Database, links: Iterable[str]) -> dict[str, LinkState]:
    """The stored state of those of ``links`` that were seen before."""
    wanted = list(dict.fromkeys(links))
    found: dict[str, LinkState] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        sql = f"SELECT * FROM google_news_links WHERE link IN ({marks})"
        for row in db.query(sql, chunk):
            found[row["link"]] = LinkState(
                link=row["link"],
                resolved=row["resolved"],
                attempts=row["attempts"] or 0,
                next_try=from_iso(row["next_try"]),
                error=row["error"],
            )
    return found


def record_resolved(db: Database, link: str, url: str, when: datetime) -> None:
    """Keep the publisher's URL of ``link`` for good."""
    with write_transaction(db):
        db.execute(
            "INSERT INTO google_news_links (link, resolved, tried) VALUES (?, ?, ?) "
            "ON CONFLICT (link) DO UPDATE SET resolved = excluded.resolved, "
            "tried = excluded.tried, next_try = NULL, error = NULL",
            [link, url, to_iso(when)],
        )


def record_failure(db: Database, link: str, error: str, when: datetime, next_try: datetime) -> None:
    """Count a failed attempt at ``link``, not to be tried again before ``next_try``."""
    with write_transaction(db):
        db.execute(
            "INSERT INTO google_news_links (link, attempts, tried, next_try, error) "
            "VALUES (?, 1, ?, ?, ?) "
            "ON CONFLICT (link) DO UPDATE SET attempts = google_news_links.attempts + 1, "
            "tried = excluded.tried, "
            "next_try = excluded.next_try, error = excluded.error",
            [link, to_iso(when), to_iso(next_try), error],
        )
