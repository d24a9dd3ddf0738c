"""Helpers for alert tests: a real database with articles and matches, and mbox reading."""

from __future__ import annotations

import asyncio
import email
import email.policy
import mailbox
import re
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import sqlite_utils

from alerts.channels.base import Channel
from alerts.delivery.policy import Policy
from alerts.delivery.rounds import deliver_due
from alerts.outbox import store as outbox
from crawler.db import open_database, write_transaction
from crawler.models import Article
from crawler.store import store_articles

TEXT = "Police raided a suspected scam compound in Sihanoukville on Friday."


def make_db(tmp_path: Path) -> sqlite_utils.Database:
    """A fresh database file with every table."""
    return open_database(tmp_path / "newswatch.db")


def add_article(
    db: sqlite_utils.Database,
    title: str,
    *,
    published: datetime | None,
    source: str = "kt",
    slug: str | None = None,
) -> int:
    """Store one article; returns its id."""
    fetched = published or datetime(2026, 11, 20, tzinfo=UTC)
    article = Article(
        url=f"https://news.example.org/{slug or re.sub(r'[^a-z0-9]+', '-', title.lower())}",
        source=source,
        title=title,
        summary=TEXT,
        published=published,
        fetched=fetched,
        guid=slug or title,
    )
    (article_id,) = store_articles(db, [article])
    return article_id


def add_match(
    db: sqlite_utils.Database,
    rule: str,
    article_id: int,
    channels: list[str],
    when: datetime,
) -> None:
    """Record a match of ``rule`` on the article, queued for ``channels``, at ``when``."""
    start = TEXT.index("scam compound")
    hits = [outbox.Hit("body", start, start + len("scam compound"), "scam compound")]
    with write_transaction(db):
        outbox.record_match(
            db, rule=rule, article_id=article_id, hits=hits, channels=channels, when=when
        )


def deliver(
    db: sqlite_utils.Database,
    channels: Mapping[str, Channel],
    policy: Policy,
    now: datetime,
) -> Counter[str]:
    """One delivery round at ``now``."""
    return asyncio.run(deliver_due(db, channels, policy, now=now))


def read_mbox(path: Path) -> list[EmailMessage]:
    """Every message in an mbox file, parsed with the modern e-mail API."""
    if not path.exists():
        return []
    box = mailbox.mbox(path, create=False)
    try:
        return [
            email.message_from_bytes(box.get_bytes(key), policy=email.policy.default)
            for key in box.iterkeys()
        ]
    finally:
        box.close()


def text_of(message: EmailMessage) -> str:
    """The plain-text body of a message."""
    part = message.get_body(("plain",))
    assert part is not None
    return part.get_content().replace("\r\n", "\n")


def states(db: sqlite_utils.Database) -> Counter[str]:
    """How many outbox rows are in each state."""
    return Counter(row["state"] for row in db.query("SELECT state FROM outbox"))
