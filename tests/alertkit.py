"""Helpers for alert tests: alert, digest and ops-alert records; a real database with
articles, matches and delivery rounds; sending through a channel and reading what the
mail-like channels wrote (mbox files, e-mail bodies)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import mailbox
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from functools import partial
from pathlib import Path

import pytest
import sqlite_utils

from alerts.channels.base import Channel
from alerts.delivery.policy import Policy
from alerts.delivery.rounds import deliver_due
from alerts.errors import DeliveryError
from alerts.outbox import store as outbox
from alerts.records import Alert, Digest, DigestSection, Notification, OpsAlert
from alerts.rules.snippets import Snippet
from crawler.db import open_database, write_transaction
from crawler.models import Article
from crawler.store import store_articles

TEXT = "Police raided a suspected scam compound in Sihanoukville on Friday."
RAID_TITLE = "Police raid compound in Sihanoukville"
KHMER_TITLE = "ប៉ូលិសវាយឆ្មក់​ទីតាំង​បោកប្រាស់​នៅ​ក្រុង​ព្រះសីហនុ"
URDU_TITLE = "کمبوڈیا میں آن لائن فراڈ کے مراکز سے سینکڑوں پاکستانی بازیاب"
HOSTILE = (
    "Raid <b>x</b> @everyone <!channel> *bold* _it_ ~gone~ [fake](http://evil.example) "
    "`code` | # head\r\nBcc: x@y \u202eevil"
)
PUBLISHED = datetime(2024, 5, 3, 7, 5, tzinfo=UTC)  # 14:05 in Phnom Penh
FETCHED = datetime(2024, 5, 3, 8, 0, tzinfo=UTC)


# --- alert records ----------------------------------------------------------------------


def snip(text: str, *terms: str) -> Snippet:
    """A snippet of ``text`` highlighting the first occurrence of each term."""
    spans = []
    for term in terms:
        start = text.index(term)
        spans.append((start, start + len(term)))
    return Snippet(text, tuple(spans))


RAIDED = snip("a suspected scam compound was raided", "scam compound")


def make_alert(
    title: str = RAID_TITLE,
    *,
    key: str = "scam-crackdown.42.team-mail",
    rule: str = "scam-crackdown",
    url: str = "https://www.example.org/news/police-raid-compound?id=7&lang=en",
    source: str = "Khmer Times",
    summary: str = "Officers raided a compound in Sihanoukville on Friday.",
    published: datetime | None = PUBLISHED,
    fetched: datetime = FETCHED,
    guid: str = "urn:example:7",
    language: str | None = "en",
    snippets: Sequence[Snippet] = (),
    also: Sequence[str] = (),
    alert_id: str | None = "57",
    source_title: str = "",
) -> Alert:
    """One alert on one article; every field of both can be set, the defaults are the
    Sihanoukville raid the rendering golden files show. ``alert_id`` None takes the id
    from the key's middle part, as the outbox numbers them."""
    article = Article(
        url=url,
        source=source,
        title=title,
        summary=summary,
        published=published,
        fetched=fetched,
        guid=guid,
        language=language,
    )
    return Alert(
        key=key,
        rule=rule,
        article=article,
        snippets=tuple(snippets),
        also_reported_by=tuple(also),
        id=key.split(".")[1] if alert_id is None else alert_id,
        source_title=source_title,
    )


# The notifications the chat-format and notice golden files (tests/data/chat, the digest and
# ops files of tests/data/render) were made with: an alert, a digest and an ops alert.
NOTICE_TEXT = "Police on Friday raided a suspected online scam compound in Sihanoukville."

notice_alert = partial(
    make_alert,
    key="scam.7.hook",
    rule="scam",
    url="https://www.example.org/news/raid?id=7&lang=en",
    summary="Officers raided a compound.",
    published=datetime(2026, 11, 20, 7, 5, tzinfo=UTC),
    fetched=datetime(2026, 11, 20, 8, 0, tzinfo=UTC),
    guid="g-7",
    language=None,
    snippets=(snip(NOTICE_TEXT, "scam compound"),),
    alert_id=None,
)


def make_digest() -> Digest:
    """A digest of three matches under two rules, and a rule without any."""
    scam = (
        notice_alert(
            "Second raid in Poipet",
            key="scam.9.hook",
            published=datetime(2026, 11, 21, 3, tzinfo=UTC),
        ),
        notice_alert(key="scam.7.hook"),
    )
    casino = (
        notice_alert(
            KHMER_TITLE, key="gambling.8.hook", rule="gambling", url="ftp://odd.example/x"
        ),
    )
    return Digest(
        key="digest.3.hook",
        id="n3",
        kind="digest",
        sections=(
            DigestSection("gambling", casino),
            DigestSection("scam", scam),
            DigestSection("quiet"),
        ),
        since=datetime(2026, 11, 20, 1, tzinfo=UTC),
        until=datetime(2026, 11, 21, 1, tzinfo=UTC),
    )


def make_ops(status: str = "broken") -> OpsAlert:
    """An operations alert: ``broken`` or ``recovered``."""
    return OpsAlert(
        key="ops.4.hook",
        id="n4",
        source="khmer-times",
        status=status,
        reason="5 polls in a row failed" if status == "broken" else "polled successfully again",
        detected=datetime(2026, 11, 21, 2, tzinfo=UTC),
        url="https://www.khmertimeskh.com/feed/",
        since=datetime(2026, 11, 20, 2, tzinfo=UTC) if status == "recovered" else None,
        last_error="HTTP 503" if status == "broken" else None,
    )


# --- a database with articles, matches and deliveries -----------------------------------


def make_db(tmp_path: Path, backend: str | None = None) -> sqlite_utils.Database:
    """A fresh database with every table: a file in ``tmp_path``, or ``backend`` (the
    ``backend`` fixture of tests/pgkit.py: an SQLite path or a PostgreSQL database)."""
    return open_database(backend or tmp_path / "newswatch.db")


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


def states(db: sqlite_utils.Database) -> Counter[str]:
    """How many outbox rows are in each state."""
    return Counter(row["state"] for row in db.query("SELECT state FROM outbox"))


# --- sending through a channel, and what the channels wrote -----------------------------


def send(channel: Channel, notification: Notification) -> None:
    """Send one notification through a channel, outside any delivery round."""
    asyncio.run(channel.send(notification))


def send_failure(channel: Channel, notification: Notification) -> DeliveryError:
    """The DeliveryError a send raises; it must name the channel."""
    with pytest.raises(DeliveryError) as info:
        send(channel, notification)
    assert info.value.channel == channel.name
    return info.value


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


def mbox_subjects(path: Path) -> list[str]:
    """The subjects of the messages in an mbox file, sorted; none while it does not exist."""
    return sorted(str(message["Subject"]) for message in read_mbox(path))


def text_of(message: EmailMessage) -> str:
    """The plain-text body of a message."""
    part = message.get_body(("plain",))
    assert part is not None
    return part.get_content().replace("\r\n", "\n")
