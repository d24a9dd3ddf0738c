"""The outbox: idempotent matches and deliveries, states, backoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts import outbox
from crawler.models import Article
from crawler.store import open_database, store_articles, write_transaction

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def setup(tmp_path):
    db = open_database(tmp_path / "n.db")
    outbox.ensure_schema(db)
    (article_id,) = store_articles(
        db,
        [Article("https://a.org/1", "kt", "t", "s", None, NOW, "g")],
    )
    return db, article_id


def test_outbox_record_match_is_idempotent(tmp_path):
    db, article_id = setup(tmp_path)
    hits = [outbox.HitRecord("title", 0, 4, "raid")]
    for _ in range(2):
        with write_transaction(db):
            outbox.record_match(
                db, rule="r", article_id=article_id, hits=hits, channels=["a", "b"], when=NOW
            )
    assert outbox.outbox_counts(db)["pending"] == 2
    (due, _) = outbox.due_deliveries(db, now=NOW)
    assert due.key == outbox.delivery_key("r", article_id, "a")
    assert due.hits == hits


def test_outbox_failed_attempts_back_off_then_fail(tmp_path):
    db, article_id = setup(tmp_path)
    with write_transaction(db):
        outbox.record_match(db, rule="r", article_id=article_id, hits=[], channels=["a"], when=NOW)
    (delivery,) = outbox.due_deliveries(db, now=NOW)
    state, when = outbox.mark_failed_attempt(
        db, delivery, "HTTP 500", permanent=False, max_attempts=2, now=NOW
    )
    assert state == "retrying" and when is not None
    assert timedelta(seconds=10) <= when - NOW <= timedelta(seconds=30)
    assert outbox.due_deliveries(db, now=NOW) == []
    (delivery,) = outbox.due_deliveries(db, now=when)
    state, when = outbox.mark_failed_attempt(
        db, delivery, "HTTP 500", permanent=False, max_attempts=2, now=NOW
    )
    assert state == "failed" and when is None
    (row,) = db.query("SELECT * FROM outbox")
    assert "gave up after 2 attempts" in row["last_error"]


def test_outbox_retry_delay_grows_to_an_hour_and_honours_retry_after():
    delays = [outbox.retry_delay(n) for n in range(1, 20)]
    assert delays[0] <= 30
    assert max(delays) <= 3600
    assert delays[-1] >= 3600 * 0.8
    assert outbox.retry_delay(1, retry_after=600) >= 600


def test_outbox_permanent_error_fails_at_once(tmp_path):
    db, article_id = setup(tmp_path)
    with write_transaction(db):
        outbox.record_match(db, rule="r", article_id=article_id, hits=[], channels=["a"], when=NOW)
    (delivery,) = outbox.due_deliveries(db, now=NOW)
    state, _ = outbox.mark_failed_attempt(db, delivery, "HTTP 404", permanent=True, now=NOW)
    assert state == "failed"
    assert outbox.outbox_counts(db)["failed"] == 1
