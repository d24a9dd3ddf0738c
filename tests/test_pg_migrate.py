"""``newswatch migrate --to postgresql://...``: an SQLite archive copied into PostgreSQL,
every row once, and a copy stopped half-way finished by running it again."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerts.outbox import store as outbox
from alerts.outbox.mutes import set_mute
from alerts.outbox.notices import create_notice
from crawler.db import open_database, write_transaction
from crawler.models import Article
from crawler.pg import schema as pg_schema
from crawler.pg.migrate import migrate
from crawler.store import record_poll, store_articles, sync_sources
from crawler.stories import StoryIndex
from tests.clirunner import newswatch, write_config_text

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
PROSE = (
    "police raided a compound in the coastal province and freed workers held by a scam"
    " operation who had been lured with fake job offers and forced to defraud people online"
)
WORDS = PROSE.split()


class Interrupted(Exception):
    """Stands for Ctrl-C, a lost connection or a crash in the middle of a copy."""


def archive(path: Path, articles: int = 120) -> None:
    """An SQLite database with rows in every table the migration copies."""
    db = open_database(path)
    sync_sources(
        db, [("kt", "rss", "https://kt.example/feed"), ("wire", "rss", "https://w.example/rss")]
    )
    record_poll(db, "kt", status=200, error=None, etag='"v1"', new_items=articles)
    items = [
        Article(
            f"https://kt.example/{i}",
            "kt" if i % 3 else "wire",
            f"Raid {i}: workers freed",
            " ".join(WORDS[(i + j) % len(WORDS)] for j in range(60)) + f" Case {i}.",
            None,
            NOW - timedelta(minutes=i),
            f"g{i}",
        )
        for i in range(articles)
    ]
    ids = store_articles(db, items, StoryIndex(db))
    with write_transaction(db):
        for article_id in ids[::4]:
            outbox.record_match(
                db, rule="scam", article_id=article_id, hits=[], channels=["box", "hook"], when=NOW
            )
        create_notice(db, kind="digest", channel="box", title="digest: 3 matches", now=NOW)
    set_mute(db, "rule", "noisy", NOW + timedelta(days=1), now=NOW)
    db.close()


def table_rows(conn_rows) -> list[tuple]:
    return sorted(tuple(str(v) for v in row) for row in conn_rows)


def assert_same(path: Path, url: str) -> None:
    lite = sqlite3.connect(path)
    pg = open_database(url)
    try:
        for table in pg_schema.TABLE_KEYS:
            columns = [r[1] for r in lite.execute(f'PRAGMA table_info("{table}")')]
            names = ", ".join(f'"{c}"' for c in columns)
            theirs = table_rows(lite.execute(f'SELECT {names} FROM "{table}"'))
            ours = table_rows(tuple(r.values()) for r in pg.query(f'SELECT {names} FROM "{table}"'))
            assert ours == theirs, table
    finally:
        lite.close()
        pg.close()


def test_pg_migrate_copies_every_table_once_and_new_ids_follow(tmp_path, pg_url):
    path = tmp_path / "newswatch.db"
    archive(path)
    report = migrate(path, pg_url, batch=50)
    assert report.complete
    counts = {t.table: t.target_rows for t in report.tables}
    assert counts["articles"] == 120 and counts["matches"] == 30 and counts["outbox"] == 60
    assert counts["story_bands"] > 1000 and counts["sources"] == 2
    assert_same(path, pg_url)
    # The workers carry on from the copy: a new article gets the next id, stories still join.
    db = open_database(pg_url)
    more = Article("https://kt.example/new", "kt", "Raid", "another text " * 50, None, NOW, "n")
    (new_id,) = store_articles(db, [more], StoryIndex(db))
    assert new_id == 121
    db.close()


def test_pg_migrate_interrupted_then_run_again_loses_and_duplicates_nothing(tmp_path, pg_url):
    path = tmp_path / "newswatch.db"
    archive(path)
    seen: list[str] = []

    def stop_in_the_middle(table: str, copied: int) -> None:
        seen.append(table)
        if table == "story_bands" and copied >= 400:
            raise Interrupted

    with pytest.raises(Interrupted):
        migrate(path, pg_url, batch=200, progress=stop_in_the_middle)
    assert "articles" in seen and "outbox" not in seen  # stopped part-way through
    db = open_database(pg_url)
    (row,) = db.query("SELECT count(*) AS n FROM outbox")
    assert row["n"] == 0
    db.close()
    # Meanwhile the file moved on: a delivery was sent (a changed row is brought up to date).
    lite = open_database(path)
    (delivery, *_) = outbox.due_deliveries(lite, now=NOW)
    outbox.mark_sent(lite, delivery.id, when=NOW)
    lite.close()
    assert migrate(path, pg_url, batch=200).complete
    assert migrate(path, pg_url, batch=200).complete  # and once more: nothing changes
    assert_same(path, pg_url)


def test_pg_migrate_refuses_a_missing_file_and_a_bad_target(tmp_path, pg_url):
    from crawler.errors import StoreError

    with pytest.raises(StoreError, match="no database at"):
        migrate(tmp_path / "absent.db", pg_url)
    archive(tmp_path / "n.db", articles=3)
    with pytest.raises(StoreError, match="cannot open database postgresql://x:\\*\\*\\*@"):
        migrate(tmp_path / "n.db", "postgresql://x:secret@127.0.0.1:9/none")


@pytest.mark.slow
def test_pg_migrate_command_copies_and_reports(tmp_path, pg_url):
    archive(tmp_path / "newswatch.db", articles=10)
    config = write_config_text(tmp_path, '[service]\ndatabase = "newswatch.db"\n')
    done = newswatch("migrate", "--to", pg_url, config=config)
    assert done.returncode == 0, done.stderr
    assert "articles: 10 rows, 10 in PostgreSQL" in done.stdout
    again = newswatch("migrate", "--to", pg_url, config=config)
    assert again.returncode == 0 and "articles: 10 rows, 10 in PostgreSQL" in again.stdout
    wrong = newswatch("migrate", "--to", "mysql://db/x", config=config)
    assert wrong.returncode != 0 and "not a postgresql:// address" in wrong.stderr
    assert "Traceback" not in wrong.stderr
