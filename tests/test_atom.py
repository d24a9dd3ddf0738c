"""Atom feeds of matches: valid RFC 4287 (RELAX NG schema of its appendix B, read back by
feedparser), one entry per story, stable ids and ``updated`` times, hostile text escaped."""

from __future__ import annotations

import os
from datetime import timedelta

import feedparser
import pytest

from alerts.render.atom import entry_id, feed_for
from crawler.db import open_database
from tests.archivekit import (
    ARTICLES,
    ATOM,
    GOLDEN,
    HOSTILE_TITLE,
    START,
    _article,
    fill_archive,
    validate,
)

REGEN = os.environ.get("NEWSWATCH_REGEN_GOLDEN") == "1"
SELF = "http://127.0.0.1:8787/feeds/scam.atom"


def check_golden(name: str, data: bytes) -> None:
    path = GOLDEN / name
    if REGEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    assert data == path.read_bytes(), f"{name} changed (NEWSWATCH_REGEN_GOLDEN=1 rewrites it)"


@pytest.fixture
def db():
    database = open_database(":memory:")
    fill_archive(database)
    yield database
    database.close()


def test_atom_feed_of_a_rule_matches_golden_and_is_valid(db):
    body = feed_for(db, "scam", self_url=SELF, now=START)
    validate(body)
    check_golden("scam.atom", body)


def test_atom_feed_has_one_entry_per_story_with_its_other_outlets(db):
    parsed = feedparser.parse(feed_for(db, "scam", self_url=SELF, now=START))
    titles = [e.title for e in parsed.entries]
    # Three outlets carried the Bavet raid: one entry, the newest outlet's.
    assert titles == [
        HOSTILE_TITLE,
        "西港诈骗园区",
        "ក្រុងព្រះសីហនុ",
        "Forty rescued from Bavet compound",
    ]
    bavet = parsed.entries[-1]
    related = [link.href for link in bavet.links if link.rel == "related"]
    assert related == [
        "https://khmer-times.example.org/news/1",
        "https://phnom-penh-post.example.org/news/2",
    ]
    assert "Also reported by" in bavet.summary and "<b>scam compound</b>" in bavet.summary
    assert parsed.feed.updated == "2026-11-20T17:00:00Z"
    assert bavet.published == "2026-11-20T10:00:00Z" and bavet.updated == "2026-11-20T12:00:00Z"


def test_atom_hostile_text_is_escaped_and_unsafe_links_dropped(db):
    body = feed_for(db, "scam", self_url=SELF, now=START)
    assert b"<script>" not in body and b"javascript:" not in body
    hostile = feedparser.parse(body).entries[0]
    assert hostile.title == HOSTILE_TITLE
    assert not [link for link in hostile.get("links", []) if link.rel == "alternate"]
    assert hostile.content  # RFC 4287: no alternate link, so the entry has content


def test_atom_entry_ids_are_stable_and_updated_moves_only_with_new_matches(db):
    before = feedparser.parse(feed_for(db, "scam", self_url=SELF, now=START))
    again = feedparser.parse(feed_for(db, "scam", self_url=SELF, now=START + timedelta(days=1)))
    assert [(e.id, e.updated) for e in before.entries] == [(e.id, e.updated) for e in again.entries]
    assert again.feed.updated == before.feed.updated  # nothing new: the feed did not change
    # A fourth outlet carries the Bavet story: same entry id, later updated, now first.
    text = ARTICLES[0].text + " Relatives waited at the border crossing for news."
    assert fill_archive(db, [_article(20, "vod", "Bavet raid: forty freed", text)])
    after = feedparser.parse(feed_for(db, "scam", self_url=SELF, now=START))
    bavet = next(e for e in before.entries if e.title.startswith("Forty"))
    first = after.entries[0]
    assert first.id == bavet.id and first.updated > bavet.updated
    assert len(after.entries) == len(before.entries)
    assert entry_id("scam", "https://khmer-times.example.org/news/1") == bavet.id


def test_atom_feed_of_every_rule(db):
    body = feed_for(db, None, self_url="http://127.0.0.1:8787/feeds/all.atom", now=START)
    root = validate(body)
    parsed = feedparser.parse(body)
    bavet = next(e for e in parsed.entries if e.title.startswith("Forty"))
    assert sorted(tag.term for tag in bavet.tags) == ["casino", "scam"]
    assert len(root.findall(f"{ATOM}entry")) == 5  # the stories any rule matched


def test_atom_empty_feed_is_valid(tmp_path):
    database = open_database(tmp_path / "empty.db")
    body = feed_for(database, "scam", self_url=SELF, now=START)
    root = validate(body)
    assert root.findtext(f"{ATOM}updated") == "2026-11-20T08:00:00Z"
    database.close()


def test_atom_feed_after_retention_blanked_the_texts(db):
    """Stored hits point into texts retention has blanked: the feed falls back to the
    titles' hits and stays valid."""
    from crawler.retention import prune

    prune(db, timedelta(days=1), still_needed=lambda _: (), now=START + timedelta(days=30))
    body = feed_for(db, "scam", self_url=SELF, now=START)
    validate(body)
    bavet = next(e for e in feedparser.parse(body).entries if e.title.startswith("Forty"))
    assert "Also reported by" in bavet.summary
