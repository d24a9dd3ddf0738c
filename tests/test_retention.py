"""Retention: old article bodies are blanked, metadata and matches stay, the file shrinks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts.outbox import store as outbox
from crawler.errors import StoreError
from crawler.models import Article
from crawler.retention import apply_retention, database_bytes, optimize, prune
from crawler.store import open_database, store_articles, write_transaction

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
KEEP = timedelta(days=30)
BODY = "Workers were rescued from a scam compound in Sihanoukville. " * 300  # ~18 KB


def article(n: int, fetched: datetime, text: str = BODY) -> Article:
    return Article(
        url=f"https://news.example.org/{n}",
        source="kt",
        title=f"Raid {n}",
        summary=f"summary {n}",
        published=fetched - timedelta(hours=2),
        fetched=fetched,
        guid=f"g{n}",
        text=text,
    )


def store(db, articles, *, matched=True, rule="scam"):
    """Store articles as the service would: matched, each with a sent delivery."""
    ids = store_articles(db, articles)
    if matched:
        with write_transaction(db):
            for article_id in ids:
                outbox.record_match(
                    db, rule=rule, article_id=article_id, hits=[], channels=["box"], when=NOW
                )
            db.execute(
                f"UPDATE articles SET matched = 1 WHERE id IN ({','.join('?' * len(ids))})", ids
            )
        for delivery in outbox.due_deliveries(db, now=NOW, limit=10_000):
            outbox.mark_sent(db, delivery.id, when=NOW)
    return ids


@pytest.fixture
def db(tmp_path):
    database = open_database(tmp_path / "n.db")
    outbox.ensure_schema(database)
    yield database
    database.close()


def rows(db):
    return {row["url"].rsplit("/", 1)[1]: row for row in db.query("SELECT * FROM articles")}


def test_retention_prune_blanks_old_bodies_and_keeps_metadata_and_matches(db):
    old = NOW - KEEP - timedelta(days=1)
    store(db, [article(1, old), article(2, old), article(3, NOW - timedelta(days=2))])
    matches_before = list(db.query("SELECT * FROM matches ORDER BY id"))
    outbox_before = list(db.query("SELECT * FROM outbox ORDER BY id"))

    report = prune(db, KEEP, NOW)

    assert report.articles == 2 and report.cutoff == NOW - KEEP
    stored = rows(db)
    for key in ("1", "2"):
        assert stored[key]["text"] is None and stored[key]["summary"] is None
        assert stored[key]["title"] == f"Raid {key}"
        assert stored[key]["published"] and stored[key]["fetched"] and stored[key]["guid"]
    assert stored["3"]["text"] == BODY and stored["3"]["summary"] == "summary 3"
    assert list(db.query("SELECT * FROM matches ORDER BY id")) == matches_before
    assert list(db.query("SELECT * FROM outbox ORDER BY id")) == outbox_before
    # The article is still known, so a feed repeating it does not make it new again.
    assert store_articles(db, [article(1, NOW)]) == []
    assert prune(db, KEEP, NOW).articles == 0


def test_retention_prune_spares_unmatched_and_undelivered_articles(db):
    old = NOW - KEEP - timedelta(days=5)
    store(db, [article(1, old)], matched=False)
    store(db, [article(3, old)], rule="other")
    (waiting,) = store_articles(db, [article(2, old)])
    with write_transaction(db):
        outbox.record_match(
            db, rule="scam", article_id=waiting, hits=[], channels=["box"], when=NOW
        )
        db.execute("UPDATE articles SET matched = 1 WHERE id = ?", [waiting])

    assert prune(db, KEEP, NOW).articles == 1
    stored = rows(db)
    assert stored["1"]["text"] == BODY  # rules have not seen it yet
    assert stored["2"]["text"] == BODY  # its alert is still pending and quotes the body
    assert stored["3"]["text"] is None


def test_retention_prune_works_in_batches(db):
    old = NOW - KEEP - timedelta(days=1)
    store(db, [article(n, old, text="short") for n in range(1, 1202)])
    assert prune(db, KEEP, NOW).articles == 1201
    (row,) = db.query("SELECT count(*) AS n FROM articles WHERE text IS NOT NULL")
    assert row["n"] == 0


def test_retention_prune_rejects_a_non_positive_keep(db):
    with pytest.raises(ValueError, match="positive"):
        prune(db, timedelta(0), NOW)


def test_retention_optimize_shrinks_the_file(db, tmp_path):
    old = NOW - KEEP - timedelta(days=1)
    store(db, [article(n, old) for n in range(1, 301)])
    store(db, [article(n, NOW) for n in range(301, 311)])
    prune(db, KEEP, NOW)

    first = optimize(db)
    assert first.mode == "full"
    assert first.bytes_after < first.bytes_before / 4
    assert database_bytes(db) == first.bytes_after
    assert (tmp_path / "n.db").stat().st_size <= first.bytes_after
    assert rows(db)["305"]["text"] == BODY

    # After the first run the database vacuums incrementally.
    store(db, [article(n, old) for n in range(400, 600)])
    grown = database_bytes(db)
    prune(db, KEEP, NOW)
    second = optimize(db)
    assert second.mode == "incremental"
    assert second.bytes_after < grown / 2
    (check,) = db.execute("PRAGMA integrity_check").fetchone()
    assert check == "ok"


def test_retention_optimize_refuses_to_run_inside_a_transaction(db):
    db.conn.execute("BEGIN")
    try:
        with pytest.raises(StoreError, match="inside a transaction"):
            optimize(db)
    finally:
        db.conn.execute("ROLLBACK")


def test_retention_apply_on_a_database_file(tmp_path):
    path = tmp_path / "service.db"
    db = open_database(path)
    outbox.ensure_schema(db)
    store(db, [article(n, NOW - timedelta(days=90)) for n in range(1, 101)])
    db.close()
    pruned, optimized = apply_retention(path, KEEP, NOW)
    assert pruned.articles == 100
    assert optimized.bytes_after < optimized.bytes_before
    assert path.stat().st_size == optimized.bytes_after  # log folded back into the file
