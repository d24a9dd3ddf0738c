"""The outbox: idempotent matches and deliveries, states, backoff."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta

from alerts.channels.mbox import MboxChannel
from alerts.channels.webhook import WebhookChannel
from alerts.delivery.rounds import deliver_all_due, deliver_due
from alerts.outbox import store as outbox
from crawler.db import open_database, write_transaction
from crawler.models import Article
from crawler.store import store_articles
from tests.alertkit import read_mbox

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def setup(target):
    db = open_database(target)
    (article_id,) = store_articles(
        db,
        [Article("https://a.org/1", "kt", "t", "s", None, NOW, "g")],
    )
    return db, article_id


def test_outbox_record_match_is_idempotent(backend):
    db, article_id = setup(backend)
    hits = [outbox.Hit("title", 0, 4, "raid")]
    for _ in range(2):
        with write_transaction(db):
            outbox.record_match(
                db, rule="r", article_id=article_id, hits=hits, channels=["a", "b"], when=NOW
            )
    assert outbox.outbox_counts(db)["pending"] == 2
    (due, _) = outbox.due_deliveries(db, now=NOW)
    assert due.key == outbox.delivery_key("r", article_id, "a")
    assert due.hits == hits


def test_outbox_failed_attempts_back_off_then_fail(backend):
    db, article_id = setup(backend)
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


def test_outbox_permanent_error_fails_at_once(backend):
    db, article_id = setup(backend)
    with write_transaction(db):
        outbox.record_match(db, rule="r", article_id=article_id, hits=[], channels=["a"], when=NOW)
    (delivery,) = outbox.due_deliveries(db, now=NOW)
    state, _ = outbox.mark_failed_attempt(db, delivery, "HTTP 404", permanent=True, now=NOW)
    assert state == "failed"
    assert outbox.outbox_counts(db)["failed"] == 1


def test_outbox_next_due_time_covers_digests_and_notices(backend):
    from alerts.outbox.notices import create_notice

    db, article_id = setup(backend)
    with write_transaction(db):
        outbox.record_match(db, rule="r", article_id=article_id, hits=[], channels=["a"], when=NOW)
    (delivery,) = outbox.due_deliveries(db, now=NOW)
    outbox.hold(db, [delivery.id], "digest", NOW + timedelta(hours=3))
    assert outbox.next_due_time(db, ["a"]) == NOW + timedelta(hours=3)
    with write_transaction(db):
        create_notice(db, kind="ops", channel="a", title="t", now=NOW + timedelta(hours=1))
    assert outbox.next_due_time(db, ["a"]) == NOW + timedelta(hours=1)
    assert outbox.next_due_time(db, ["b"]) is None


def test_admin_lists_and_requeues_failed_messages(backend):
    from alerts.outbox.admin import list_entries, retry, retry_all_failed
    from alerts.outbox.notices import create_notice

    db, article_id = setup(backend)
    with write_transaction(db):
        outbox.record_match(db, rule="r", article_id=article_id, hits=[], channels=["a"], when=NOW)
        notice_id = create_notice(
            db, kind="digest", channel="a", title="digest: 2 matches", now=NOW
        )
    (delivery,) = outbox.due_deliveries(db, now=NOW)
    outbox.mark_failed_attempt(db, delivery, "HTTP 404", permanent=True, now=NOW)
    db.execute(
        "UPDATE notices SET state = 'failed', last_error = 'HTTP 410' WHERE id = ?", [notice_id]
    )
    db.conn.commit()
    entries = {e.id: e for e in list_entries(db, state="failed")}
    assert set(entries) == {str(delivery.id), f"n{notice_id}"}
    assert (
        entries[str(delivery.id)].title == "t"
        and entries[str(delivery.id)].last_error == "HTTP 404"
    )
    assert entries[f"n{notice_id}"].title == "digest: 2 matches"

    later = NOW + timedelta(days=5)
    result = retry(db, [str(delivery.id), "n999"], later)
    assert result.retried == [str(delivery.id)] and result.refused == ["n999: no such alert"]
    (row,) = db.query("SELECT state, attempts, next_attempt, requeued FROM outbox")
    assert row["state"] == "pending" and row["attempts"] == 0
    # The age limit counts from the retry, not from the match five days ago.
    (again,) = outbox.due_deliveries(db, now=later)
    state, _ = outbox.mark_failed_attempt(db, again, "HTTP 500", permanent=False, now=later)
    assert state == "retrying"
    assert retry_all_failed(db, later) == 1
    assert list_entries(db, state="failed") == []


def test_deliver_all_due_sends_a_queue_longer_than_one_round(tmp_path):
    """``once`` delivers everything due, a bounded batch per round, not one round's worth."""
    db = open_database(tmp_path / "n.db")
    channels = {
        "box": MboxChannel("box", path=tmp_path / "alerts.mbox"),
        "gone": MboxChannel("gone", path=tmp_path / "gone.mbox"),
    }
    articles = [
        Article(f"https://a.org/{n}", "kt", f"raid {n}", "s", None, NOW, f"g{n}")
        for n in range(450)
    ]
    ids = store_articles(db, articles)
    hits = [outbox.Hit("title", 0, 4, "raid")]
    with write_transaction(db):
        for article_id in ids:
            outbox.record_match(
                db, rule="r", article_id=article_id, hits=hits, channels=["box"], when=NOW
            )
        # A channel no longer configured: its messages wait, and must not keep the loop going.
        outbox.record_match(
            db, rule="old", article_id=ids[0], hits=hits, channels=["orphan"], when=NOW
        )
    # One round is bounded...
    first = asyncio.run(deliver_due(db, channels, now=NOW))
    assert first["sent"] == 200
    # ...and the loop ``once`` runs goes on until nothing it can send is due.
    rest = asyncio.run(deliver_all_due(db, channels, now=NOW))
    assert rest["sent"] == 250
    assert outbox.outbox_counts(db)["sent"] == 450
    assert outbox.count_due(db, NOW) == 1  # the orphan's, left waiting
    assert len(read_mbox(tmp_path / "alerts.mbox")) == 450


def test_a_sent_message_whose_record_fails_is_recorded_later_not_sent_again(
    tmp_path, webhook_receiver
):
    """The receiver accepted it, then the database refused the write (a full disk, here a
    lock held by another writer): the next round records it as sent instead of resending."""
    path = tmp_path / "n.db"
    db = open_database(path)
    db.execute("PRAGMA busy_timeout = 200")  # give up on the lock quickly
    (article_id,) = store_articles(
        db, [Article("https://a.org/1", "kt", "raid", "s", None, NOW, "g")]
    )
    with write_transaction(db):
        outbox.record_match(
            db, rule="r", article_id=article_id, hits=[], channels=["hook"], when=NOW
        )
    other = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    # The moment the receiver has the message, another writer takes the database.
    webhook_receiver.on_request = lambda _: other.execute("BEGIN IMMEDIATE")
    channels = {"hook": WebhookChannel("hook", url=webhook_receiver.url, timeout=5.0)}
    asyncio.run(deliver_due(db, channels, now=NOW))
    assert len(webhook_receiver.requests) == 1
    assert outbox.outbox_counts(db)["pending"] == 1  # not recorded: the write failed
    webhook_receiver.on_request = None
    other.execute("ROLLBACK")
    again = asyncio.run(deliver_due(db, channels, now=NOW))
    assert again["sent"] == 1
    assert outbox.outbox_counts(db)["sent"] == 1
    assert len(webhook_receiver.requests) == 1  # recorded, not sent a second time
    other.close()
