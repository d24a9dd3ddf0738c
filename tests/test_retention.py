"""Retention: old article bodies are blanked, metadata and matches stay, the file shrinks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts.channels.mbox import MboxChannel
from alerts.delivery.policy import ChannelPolicy, Policy, RulePolicy
from alerts.delivery.schedule import parse_cron
from alerts.outbox import store as outbox
from crawler.db import database_bytes, open_database, optimize, write_transaction
from crawler.errors import StoreError
from crawler.models import Article
from crawler.retention import apply_retention, prune
from crawler.store import mark_matched, store_articles
from scheduler.operations import retain
from tests.alertkit import deliver, read_mbox, states, text_of

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
            for article_id in ids:
                mark_matched(db, article_id)
        for delivery in outbox.due_deliveries(db, now=NOW, limit=10_000):
            outbox.mark_sent(db, delivery.id, when=NOW)
    return ids


def prune_now(db, keep=KEEP, now=NOW):
    """Prune as the service does: the alerts' outbox says which articles it still needs."""
    return prune(db, keep, still_needed=outbox.unsent_article_ids, now=now)


def rows(db):
    return {row["url"].rsplit("/", 1)[1]: row for row in db.query("SELECT * FROM articles")}


def test_retention_prune_blanks_old_bodies_and_keeps_metadata_and_matches(db):
    old = NOW - KEEP - timedelta(days=1)
    store(db, [article(1, old), article(2, old), article(3, NOW - timedelta(days=2))])
    matches_before = list(db.query("SELECT * FROM matches ORDER BY id"))
    outbox_before = list(db.query("SELECT * FROM outbox ORDER BY id"))

    report = prune_now(db)

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
    assert prune_now(db).articles == 0


def test_retention_prune_spares_unmatched_and_undelivered_articles(db):
    old = NOW - KEEP - timedelta(days=5)
    store(db, [article(1, old)], matched=False)
    store(db, [article(3, old)], rule="other")
    (waiting,) = store_articles(db, [article(2, old)])
    with write_transaction(db):
        outbox.record_match(
            db, rule="scam", article_id=waiting, hits=[], channels=["box"], when=NOW
        )
        mark_matched(db, waiting)

    assert prune_now(db).articles == 1
    stored = rows(db)
    assert stored["1"]["text"] == BODY  # rules have not seen it yet
    assert stored["2"]["text"] == BODY  # its alert is still pending and quotes the body
    assert stored["3"]["text"] is None


def test_retention_prune_works_in_batches(db):
    old = NOW - KEEP - timedelta(days=1)
    store(db, [article(n, old, text="short") for n in range(1, 1202)])
    assert prune_now(db).articles == 1201
    (row,) = db.query("SELECT count(*) AS n FROM articles WHERE text IS NOT NULL")
    assert row["n"] == 0


def test_retention_prune_rejects_a_non_positive_keep(db):
    with pytest.raises(ValueError, match="positive"):
        prune(db, timedelta(0), still_needed=outbox.unsent_article_ids, now=NOW)


def test_retention_optimize_shrinks_the_file(db, tmp_path):
    old = NOW - KEEP - timedelta(days=1)
    store(db, [article(n, old) for n in range(1, 301)])
    store(db, [article(n, NOW) for n in range(301, 311)])
    prune_now(db)

    first = optimize(db)
    assert first.mode == "full"
    assert first.bytes_after < first.bytes_before / 4
    assert database_bytes(db) == first.bytes_after
    assert (tmp_path / "newswatch.db").stat().st_size <= first.bytes_after
    assert rows(db)["305"]["text"] == BODY

    # After the first run the database vacuums incrementally.
    store(db, [article(n, old) for n in range(400, 600)])
    grown = database_bytes(db)
    prune_now(db)
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
    store(db, [article(n, NOW - timedelta(days=90)) for n in range(1, 101)])
    db.close()
    pruned, optimized = apply_retention(path, KEEP, still_needed=outbox.unsent_article_ids, now=NOW)
    assert pruned.articles == 100
    assert optimized.bytes_after < optimized.bytes_before
    assert path.stat().st_size == optimized.bytes_after  # log folded back into the file


WEEKLY = parse_cron("0 8 * * 1", "UTC")  # Mondays 08:00; 2026-11-24 (NOW) is a Tuesday
NEXT_MONDAY = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def weekly_digest_policy() -> Policy:
    rules = {"weekly": RulePolicy(channels=("box",), digest=WEEKLY)}
    return Policy(rules=rules, channels={"box": ChannelPolicy()}, timezone="UTC")


def test_retention_keeps_the_text_of_an_alert_held_for_a_digest(db, tmp_path):
    channels = {"box": MboxChannel("box", path=tmp_path / "alerts.mbox")}
    policy = weekly_digest_policy()
    fetched = NOW - timedelta(hours=1)
    (held,) = store_articles(db, [article(1, fetched, text="Workers were freed in Bavet.")])
    with write_transaction(db):
        outbox.record_match(
            db, rule="weekly", article_id=held, hits=[], channels=["box"], when=fetched
        )
        mark_matched(db, held)
    deliver(db, channels, policy, now=NOW)
    assert states(db) == {"digest": 1}

    # keep (one day) is shorter than the digest period (a week): the body must outlive it.
    thursday = NOW + timedelta(days=2)
    assert prune_now(db, keep=timedelta(days=1), now=thursday).articles == 0
    assert rows(db)["1"]["text"] == "Workers were freed in Bavet."

    assert deliver(db, channels, policy, now=NEXT_MONDAY)["sent"] == 1
    (digest,) = read_mbox(tmp_path / "alerts.mbox")
    assert "Workers were freed in Bavet." in text_of(digest)
    # Sent: nothing needs the body any more.
    assert prune_now(db, keep=timedelta(days=1), now=NEXT_MONDAY).articles == 1


@pytest.mark.parametrize(
    ("state", "kept"),
    [
        ("pending", True),
        ("retrying", True),
        ("digest", True),
        ("bundled", True),
        ("sent", False),
        ("failed", False),
        ("muted", False),
    ],
)
def test_retention_keeps_text_while_the_alert_may_still_be_sent(db, state, kept):
    old = NOW - KEEP - timedelta(days=1)
    (article_id,) = store_articles(db, [article(1, old)])
    with write_transaction(db):
        outbox.record_match(db, rule="r", article_id=article_id, hits=[], channels=["box"])
        mark_matched(db, article_id)
        db.execute("UPDATE outbox SET state = ?", [state])
    assert set(outbox.STATES) == {
        "pending",
        "retrying",
        "digest",
        "bundled",
        "sent",
        "failed",
        "muted",
    }

    assert prune_now(db).articles == (0 if kept else 1)
    assert (rows(db)["1"]["text"] == BODY) is kept


def test_retention_job_of_the_service_asks_the_outbox(tmp_path):
    path = tmp_path / "service.db"
    db = open_database(path)
    fetched = datetime.now(UTC) - timedelta(days=3)
    held, sent = store_articles(db, [article(1, fetched), article(2, fetched)])
    with write_transaction(db):
        for article_id in (held, sent):
            outbox.record_match(db, rule="weekly", article_id=article_id, hits=[], channels=["b"])
            mark_matched(db, article_id)
    (first, second) = outbox.due_deliveries(db, now=datetime.now(UTC))
    outbox.hold(db, [first.id], "digest", datetime.now(UTC) + timedelta(days=4))
    outbox.mark_sent(db, second.id)
    db.close()

    pruned, _ = retain(path, timedelta(days=1))

    assert pruned.articles == 1
    db = open_database(path)
    assert rows(db)["1"]["text"] == BODY and rows(db)["2"]["text"] is None
    db.close()
