"""The store on SQLite and PostgreSQL: identity of articles, source state, settings."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from crawler.db import open_database
from crawler.models import Article
from crawler.store import (
    load_source_state,
    record_feed_title,
    record_poll,
    source_titles,
    store_articles,
    sync_sources,
    unmatched_articles,
)

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def article(url: str, guid: str = "", source: str = "kt", **kw) -> Article:
    return Article(
        url=url,
        source=source,
        title=kw.pop("title", "t"),
        summary="s",
        published=None,
        fetched=NOW,
        guid=guid or url,
        **kw,
    )


def test_store_articles_by_canonical_url_and_guid(store_db):
    db = store_db
    first = store_articles(db, [article("https://a.org/1", "g1"), article("https://a.org/1", "g1")])
    assert len(first) == 1
    # Same URL from another source, or the same GUID re-published under another URL: not new.
    assert store_articles(db, [article("https://a.org/1", "x", source="other")]) == []
    assert store_articles(db, [article("https://a.org/1-updated", "g1")]) == []
    assert len(store_articles(db, [article("https://a.org/2", "g2")])) == 1
    (row,) = db.query("SELECT * FROM articles WHERE url = 'https://a.org/1'")
    assert row["date_source"] == "fetched" and row["published"] == row["fetched"]
    assert [a.url for _, a in unmatched_articles(db)] == ["https://a.org/1", "https://a.org/2"]


def test_store_uses_wal_mode(tmp_path):
    db = open_database(tmp_path / "n.db")
    (row,) = db.query("PRAGMA journal_mode")
    assert row["journal_mode"] == "wal"


def test_store_records_polls_and_keeps_validators_on_failure(store_db):
    db = store_db
    sync_sources(db, [("kt", "rss", "https://a.org/feed")])
    record_poll(db, "kt", status=200, error=None, etag='"1"', last_modified="lm", new_items=2)
    state = record_poll(db, "kt", status=500, error="HTTP 500")
    assert state.etag == '"1"' and state.failures == 1 and state.last_error == "HTTP 500"
    state = record_poll(db, "kt", status=304, error=None)
    assert state.etag == '"1"' and state.failures == 0 and state.last_error is None
    # A changed URL drops the validators, which belong to the old URL.
    sync_sources(db, [("kt", "rss", "https://a.org/new-feed")])
    assert load_source_state(db, "kt").etag is None


def test_source_titles_prefer_configured_title_then_feed_title(store_db):
    db = store_db
    feeds = [("kt", "rss", "https://a.org/feed"), ("local-wire", "rss", "https://b.org/feed")]
    sync_sources(db, feeds, titles={"kt": "Khmer Times"})
    assert source_titles(db, ["kt", "local-wire", "gone"]) == {
        "kt": "Khmer Times",
        "local-wire": "local-wire",
        "gone": "gone",
    }
    record_feed_title(db, "local-wire", "  Cambodia\nNews   Gazette ")
    record_feed_title(db, "kt", "Khmer Times - Latest News")
    record_feed_title(db, "kt", None)
    assert source_titles(db, ["kt", "local-wire"]) == {
        "kt": "Khmer Times",
        "local-wire": "Cambodia News Gazette",
    }
    # A title removed from the configuration falls back to the feed's own.
    sync_sources(db, feeds, titles={})
    assert source_titles(db, ["kt"]) == {"kt": "Khmer Times - Latest News"}


def test_open_database_adds_title_columns_to_an_earlier_sources_table(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE sources (name TEXT PRIMARY KEY, type TEXT NOT NULL, url TEXT NOT NULL,"
        " etag TEXT, last_modified TEXT, last_status INTEGER, last_error TEXT, last_poll TEXT,"
        " last_success TEXT, last_new TEXT, next_due TEXT, failures INTEGER, polls INTEGER,"
        " articles INTEGER)"
    )
    conn.execute("INSERT INTO sources (name, type, url) VALUES ('kt', 'rss', 'https://a.org/f')")
    conn.commit()
    conn.close()
    db = open_database(path)
    record_feed_title(db, "kt", "Khmer Times")
    assert source_titles(db, ["kt"]) == {"kt": "Khmer Times"}
