"""The SQLite store: identity of articles, source state, concurrency settings."""

from __future__ import annotations

from datetime import UTC, datetime

from crawler.db import open_database
from crawler.models import Article
from crawler.store import (
    load_source_state,
    record_poll,
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


def test_store_articles_by_canonical_url_and_guid(tmp_path):
    db = open_database(tmp_path / "n.db")
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


def test_store_records_polls_and_keeps_validators_on_failure(tmp_path):
    db = open_database(tmp_path / "n.db")
    sync_sources(db, [("kt", "rss", "https://a.org/feed")])
    record_poll(db, "kt", status=200, error=None, etag='"1"', last_modified="lm", new_items=2)
    state = record_poll(db, "kt", status=500, error="HTTP 500")
    assert state.etag == '"1"' and state.failures == 1 and state.last_error == "HTTP 500"
    state = record_poll(db, "kt", status=304, error=None)
    assert state.etag == '"1"' and state.failures == 0 and state.last_error is None
    # A changed URL drops the validators, which belong to the old URL.
    sync_sources(db, [("kt", "rss", "https://a.org/new-feed")])
    assert load_source_state(db, "kt").etag is None
