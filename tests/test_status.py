"""``newswatch status``: golden output from a database filled through the store API."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerts.outbox import store as outbox
from crawler import schema
from crawler.db import open_database
from crawler.db import write_transaction as transaction
from crawler.errors import StoreError
from crawler.models import Article
from crawler.store import record_feed_title, record_poll, store_articles, sync_sources
from scheduler.config import load_config
from scheduler.status import (
    approximate,
    gather_status,
    human_size,
    open_readonly,
    render_json,
    render_table,
)
from tests.clirunner import (
    db_rows,
    newswatch,
    start_service,
    stop_service,
    write_config,
)
from tests.httpserver import rss
from tests.waiting import wait_until

GOLDEN = Path(__file__).resolve().parent / "data" / "status"
REGEN = os.environ.get("NEWSWATCH_REGEN_GOLDEN") == "1"
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # 16:00 in Phnom Penh


def make_config(folder: Path) -> Path:
    return write_config(
        folder,
        service={"interval": "15m", "timezone": "Asia/Phnom_Penh"},
        sources={
            "khmer-times": {
                "type": "rss",
                "url": "https://kt.example.org/feed",
                "interval": "10m",
                "title": "Khmer Times",
            },
            "camboja": {"type": "rss", "url": "https://cn.example.org/feed"},
            "broken": {"type": "rss", "url": "https://down.example.org/feed"},
            "fresh": {"type": "rss", "url": "https://new.example.org/feed"},
            "paused": {"type": "rss", "url": "https://p.example.org/feed", "enabled": False},
            "weekly": {"type": "rss", "url": "https://w.example.org/feed", "cron": "0 6 * * 1"},
        },
        rules={
            "scam": {"query": "scam AND Sihanoukville", "channels": ["box"]},
            "gambling": {"query": '"online gambling"', "channels": ["box"]},
            "old-rule": {"query": "casino", "channels": ["box"], "enabled": False},
        },
        channels={"box": {"type": "mbox", "path": "alerts.mbox"}},
    )


def article(n: int, source: str, fetched: datetime) -> Article:
    return Article(
        url=f"https://news.example.org/{n}",
        source=source,
        title=f"Scam compound {n} in Sihanoukville",
        summary="summary",
        published=fetched - timedelta(hours=1),
        fetched=fetched,
        guid=f"g{n}",
    )


def fill(db_path: Path) -> None:
    """Two days of history: polls, articles, matches and deliveries in every state."""
    db = open_database(db_path)
    sync_sources(
        db,
        [
            (name, "rss", f"https://{name}.example.org/feed")
            for name in ("khmer-times", "camboja", "broken", "fresh", "weekly")
        ],
    )
    # Without a configured title, a source is shown by its feed's own.
    record_feed_title(db, "camboja", "CamboJA News")
    recent = [article(n, "khmer-times", NOW - timedelta(hours=n)) for n in (1, 2, 3)]
    older = [article(n, "khmer-times", NOW - timedelta(days=3, hours=n)) for n in (4, 5)]
    ids = store_articles(db, [*recent, *older, article(6, "camboja", NOW - timedelta(hours=30))])
    record_poll(
        db, "khmer-times", status=200, error=None, new_items=3, when=NOW - timedelta(minutes=4)
    )
    record_poll(db, "camboja", status=304, error=None, when=NOW - timedelta(minutes=20))
    # Monday 06:00 in Phnom Penh.
    record_poll(
        db, "weekly", status=200, error=None, when=datetime(2026, 11, 22, 23, 0, tzinfo=UTC)
    )
    for minutes in (50, 35, 12):
        record_poll(
            db,
            "broken",
            status=503,
            error="HTTP 503 Service Unavailable\nretry later",
            next_due=NOW + timedelta(minutes=48 - minutes),
            when=NOW - timedelta(minutes=minutes),
        )
    matched_at = [
        NOW - timedelta(hours=2),
        NOW - timedelta(hours=20),
        NOW - timedelta(days=3),
        NOW - timedelta(days=6),
        NOW - timedelta(days=9),
    ]
    with transaction(db):
        for article_id, when in zip(ids, matched_at, strict=False):
            outbox.record_match(
                db, rule="scam", article_id=article_id, hits=[], channels=["box"], when=when
            )
        outbox.record_match(
            db,
            rule="gambling",
            article_id=ids[5],
            hits=[],
            channels=["box"],
            when=NOW - timedelta(days=2),
        )
    deliveries = outbox.due_deliveries(db, now=NOW)
    outbox.mark_sent(db, deliveries[0].id, when=NOW)
    outbox.mark_sent(db, deliveries[2].id, when=NOW)
    outbox.mark_failed_attempt(db, deliveries[1], "HTTP 500", permanent=False, now=NOW)
    outbox.mark_failed_attempt(db, deliveries[3], "HTTP 404", permanent=True, now=NOW)
    db.close()


@pytest.fixture
def filled(tmp_path: Path):
    config = load_config(make_config(tmp_path))
    fill(config.service.database)
    return config


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if REGEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")
    assert text + "\n" == path.read_text(encoding="utf-8")


def stable(status):
    """The snapshot with the parts that vary between machines pinned."""
    return dataclasses.replace(
        status,
        database=Path("/var/lib/newswatch/newswatch.db"),
        database_bytes=5_263_360,
        wal_bytes=45_352,
        schema_version=2,
    )


def test_status_table_matches_golden(filled):
    check_golden("table.txt", render_table(stable(gather_status(filled, NOW))))


def test_status_json_matches_golden(filled):
    check_golden("status.json", render_json(stable(gather_status(filled, NOW))))


def test_status_figures_from_the_database(filled):
    status = gather_status(filled, NOW)
    by_name = {s.name: s for s in status.sources}
    assert [s.name for s in status.sources] == [
        "khmer-times",
        "camboja",
        "broken",
        "fresh",
        "paused",
        "weekly",
    ]
    assert by_name["khmer-times"].new_24h == 3
    assert by_name["khmer-times"].next_poll == NOW + timedelta(minutes=6)
    assert by_name["camboja"].new_24h == 0  # fetched 30 h ago
    broken = by_name["broken"]
    assert broken.failures == 3 and broken.backing_off
    assert broken.next_poll == NOW + timedelta(minutes=36)  # next_due, not last poll + interval
    assert by_name["fresh"].next_poll is None and by_name["fresh"].last_poll is None
    assert not by_name["paused"].enabled and by_name["paused"].next_poll is None
    # A cron source is next polled at its next slot: Monday 06:00 in Phnom Penh.
    assert by_name["weekly"].next_poll == datetime(2026, 11, 29, 23, 0, tzinfo=UTC)
    rules = {r.name: (r.matches_24h, r.matches_7d) for r in status.rules}
    assert rules == {"scam": (2, 4), "gambling": (0, 1), "old-rule": (0, 0)}
    assert status.outbox == {"pending": 2, "retrying": 1, "failed": 1, "sent": 2}
    db_file = filled.service.database
    assert status.database == db_file and status.database_bytes == db_file.stat().st_size
    assert status.schema_version == schema.LATEST


def test_status_one_failure_waiting_one_interval_is_not_backing_off(filled):
    db = open_database(filled.service.database)
    # camboja (15 min interval) fails once; its next poll is the ordinary one.
    record_poll(
        db,
        "camboja",
        status=500,
        error="HTTP 500",
        next_due=NOW + timedelta(minutes=15),
        when=NOW,
    )
    db.close()
    status = gather_status(filled, NOW)
    camboja = next(s for s in status.sources if s.name == "camboja")
    assert camboja.failures == 1 and not camboja.backing_off
    assert camboja.next_poll == NOW + timedelta(minutes=15)
    row = next(line for line in render_table(status).splitlines() if line.startswith("camboja"))
    assert "backing off" not in row and "(in 15m)" in row


def test_status_leaves_the_database_untouched(filled):
    db_file = filled.service.database
    before = hashlib.sha256(db_file.read_bytes()).hexdigest()
    gather_status(filled, NOW)
    assert hashlib.sha256(db_file.read_bytes()).hexdigest() == before
    readonly = open_readonly(db_file)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        readonly.execute("DELETE FROM articles")
    readonly.close()


def test_status_reads_while_the_writer_holds_a_transaction(filled):
    writer = open_database(filled.service.database)
    writer.conn.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE sources SET failures = 99 WHERE name = 'camboja'")
    try:
        status = gather_status(filled, NOW)
    finally:
        writer.conn.execute("ROLLBACK")
        writer.close()
    assert {s.name: s.failures for s in status.sources}["camboja"] == 0


def test_status_missing_database_is_a_clear_error_and_not_created(tmp_path):
    config = load_config(make_config(tmp_path))
    with pytest.raises(StoreError, match="no database at"):
        gather_status(config, NOW)
    assert not config.service.database.exists()


@pytest.mark.slow
def test_status_cli_prints_tables_and_json(filled):
    result = newswatch("status", config=filled.path)
    assert result.returncode == 0, result.stderr
    assert "khmer-times" in result.stdout and "OUTBOX: pending 2" in result.stdout
    as_json = newswatch("status", "--json", config=filled.path)
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert data["outbox"]["sent"] == 2
    assert data["sources"][2]["consecutive_failures"] == 3
    assert data["timezone"] == "Asia/Phnom_Penh" and data["now"].endswith("+07:00")


@pytest.mark.slow
def test_status_cli_missing_database_exits_1(tmp_path):
    config = make_config(tmp_path)
    result = newswatch("status", config=config)
    assert result.returncode == 1
    assert "no database at" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "newswatch.db").exists()


@pytest.mark.slow
def test_status_cli_not_a_database_exits_1(tmp_path):
    config = make_config(tmp_path)
    (tmp_path / "newswatch.db").write_text("not sqlite at all, " * 100)
    result = newswatch("status", config=config)
    assert result.returncode == 1
    assert "cannot read database" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (45, "45s"),
        (125, "2m5s"),
        (1500, "25m"),
        (3600, "1h"),
        (11_520, "3h12m"),
        (2 * 86_400 + 4 * 3600 + 59, "2d4h"),
    ],
)
def test_status_approximate_durations(seconds, text):
    assert approximate(timedelta(seconds=seconds)) == text


def test_status_human_size():
    assert [human_size(n) for n in (812, 4096, 12_897_485, 3 * 1024**3)] == [
        "812 B",
        "4.0 KiB",
        "12.3 MiB",
        "3.0 GiB",
    ]


@pytest.mark.slow
def test_status_cli_while_the_service_runs(tmp_path, http_server):
    http_server.add("/feed", rss([{"title": "Raid in Poipet", "link": "https://n.org/1"}]))
    config = write_config(
        tmp_path,
        service={"interval": "1s"},
        sources={"kt": {"type": "rss", "url": http_server.url("/feed")}},
        rules={"scam": {"query": "raid", "channels": ["box"]}},
        channels={"box": {"type": "mbox", "path": "alerts.mbox"}},
    )
    db_file = tmp_path / "newswatch.db"
    proc = start_service(config)
    try:
        wait_until(
            lambda: db_rows(db_file, "SELECT 1 FROM matches"), what="the service's first match"
        )
        wait_until(lambda: len(http_server.hits("/feed")) >= 3, what="repeated polls")
        result = newswatch("status", "--json", config=config)
    finally:
        code, _, err = stop_service(proc)
    assert code == 0, err
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    (source,) = data["sources"]
    assert source["name"] == "kt" and source["last_status"] in (200, 304)
    assert source["new_24h"] == 1 and source["next_poll"] is not None
    assert data["rules"] == [{"name": "scam", "enabled": True, "matches_24h": 1, "matches_7d": 1}]
