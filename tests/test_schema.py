"""The schema's versions: a new file gets the latest, a file of an earlier release upgrades
in place and loses nothing, a newer file is refused, a failed step changes nothing.

``data/store/release-dfa0e51.db`` was written by the last release without schema versions
(see ``data/store/make_release_db.py``): a real ``newswatch once`` then ``newswatch mute``.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from alerts.channels.mbox import MboxChannel
from alerts.delivery.rounds import deliver_due
from alerts.outbox import store as outbox
from alerts.outbox.admin import list_entries
from alerts.outbox.mutes import active_mutes
from alerts.routing import match_pending
from alerts.rules.matcher import Matcher
from alerts.rules.rule import Rule
from crawler import schema
from crawler.db import open_database, schema_version
from crawler.errors import StoreError
from crawler.models import Article
from crawler.retention import prune
from crawler.store import store_articles
from crawler.stories import StoryIndex
from scheduler.config import load_config
from scheduler.status import gather_status
from scheduler.wiring import build_policy
from tests.alertkit import read_mbox, text_of
from tests.clirunner import write_config

RELEASE_DB = Path(__file__).resolve().parent / "data" / "store" / "release-dfa0e51.db"
WRITTEN = datetime(2026, 12, 1, 5, 51, 12, tzinfo=UTC)  # when the fixture's `once` ran
DIGEST_DUE = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)  # Monday 08:00: the weekly digest
TABLES = {
    "sources",
    "articles",
    "stories",
    "story_signatures",
    "story_bands",
    "story_meta",
    "matches",
    "outbox",
    "notices",
    "digest_runs",
    "mutes",
    "source_health",
}
# Tables later schema versions added: empty after the upgrade.
# The search index (migration 5): the FTS5 table and its shadow tables.
SEARCH_TABLES = {"articles_fts", "articles_fts_data", "articles_fts_idx", "articles_fts_config"}
ADDED_TABLES = {"story_briefs", "google_news_links"} | SEARCH_TABLES
RAID_COPY = (
    "Police raided a suspected online scam compound in Sihanoukville on Friday, freeing "
    "more than two hundred workers from several countries who said they had been lured "
    "with offers of office jobs and then forced to defraud strangers over the internet. "
    "Officers seized hundreds of phones and computers, arrested the managers of the "
    "compound and handed the rescued workers to the immigration department, which said "
    "it would send them home once their embassies confirmed their identities. The raid "
    "followed complaints from families abroad who had not heard from relatives for weeks."
)


def release_copy(tmp_path: Path) -> Path:
    """A copy of the release's database to work on (the fixture itself is never opened)."""
    path = tmp_path / "newswatch.db"
    shutil.copyfile(RELEASE_DB, path)
    return path


def raw_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def snapshot(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, read with plain sqlite3 (the search index holds no rows of
    its own: it is checked in tests/test_fulltext.py)."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        names = [name for name in names if name not in SEARCH_TABLES]
        return {
            name: sorted((dict(row) for row in conn.execute(f'SELECT * FROM "{name}"')), key=repr)
            for name in names
        }
    finally:
        conn.close()


def layout(path: Path) -> dict[str, Any]:
    """Columns (name, type, not null, key) of each table and the definition of each index."""
    db = sqlite_utils.Database(path)
    try:
        columns = {
            table: [(c.name, c.type, c.notnull, c.is_pk) for c in db[table].columns]
            for table in db.table_names()
        }
        indexes = {
            row["name"]: " ".join(row["sql"].replace("IF NOT EXISTS ", "").split())
            for row in db.query("SELECT name, sql FROM sqlite_master WHERE type = 'index'")
            if row["sql"]
        }
    finally:
        db.close()
    return {"columns": columns, "indexes": indexes}


def release_config(folder: Path) -> Path:
    """The configuration the fixture was made with (the feeds' addresses do not matter)."""
    return write_config(
        folder,
        service={"timezone": "UTC", "failure_alert_after": 1, "ops_channels": ["ops"]},
        sources={
            "kt": {"type": "rss", "url": "http://127.0.0.1:9/kt.xml"},
            "pp": {"type": "rss", "url": "http://127.0.0.1:9/pp.xml"},
            "gone": {"type": "rss", "url": "http://127.0.0.1:9/gone.xml"},
        },
        rules={
            "scam": {"query": "scam OR freed", "channels": ["box"]},
            "weekly": {
                "query": "compound",
                "mode": "digest",
                "digest": "0 8 * * 1",
                "send_empty": True,
                "channels": ["box"],
            },
            "rice": {"query": "rice", "channels": ["hook"]},
        },
        channels={
            "box": {"type": "mbox", "path": "alerts.mbox"},
            "ops": {"type": "mbox", "path": "ops.mbox"},
            "hook": {"type": "webhook", "url": "http://127.0.0.1:9/nobody", "format": "json"},
        },
    )


def test_schema_migrations_are_numbered_one_by_one():
    assert [m.version for m in schema.MIGRATIONS] == list(range(1, schema.LATEST + 1))


def test_schema_new_database_is_at_the_latest_version(tmp_path):
    db = open_database(tmp_path / "new.db")
    assert schema_version(db) == schema.LATEST
    assert set(db.table_names()) == TABLES | ADDED_TABLES
    db.close()
    assert raw_version(tmp_path / "new.db") == schema.LATEST


def test_schema_release_database_upgrades_in_place_and_keeps_every_row(tmp_path):
    path = release_copy(tmp_path)
    assert raw_version(path) == 0
    before = snapshot(path)
    # The fixture has something in every table, so every table is checked.
    assert set(before) == TABLES and all(before.values())

    db = open_database(path)
    assert schema_version(db) == schema.LATEST
    db.close()

    after = snapshot(path)
    assert set(after) == TABLES | ADDED_TABLES - SEARCH_TABLES
    for table, rows in before.items():
        kept = [{column: row[column] for column in rows[0]} for row in after[table]]
        assert sorted(kept, key=repr) == rows, table
    # Opening it again finds nothing to do.
    assert open_database(path).execute("PRAGMA user_version").fetchone()[0] == schema.LATEST


def test_schema_upgraded_release_database_matches_a_new_one(tmp_path):
    upgraded = release_copy(tmp_path)
    open_database(upgraded).close()
    fresh = tmp_path / "fresh.db"
    open_database(fresh).close()
    assert layout(upgraded) == layout(fresh)


def test_schema_upgraded_release_database_keeps_working(tmp_path):
    path = release_copy(tmp_path)
    config = load_config(release_config(tmp_path))
    assert config.service.database == path
    now = WRITTEN + timedelta(hours=1)

    # `newswatch status` reads the file before the new service has upgraded it...
    status = gather_status(config, now)
    assert status.schema_version == 0
    by_name = {s.name: s for s in status.sources}
    assert (by_name["kt"].new_24h, by_name["pp"].new_24h, by_name["gone"].failures) == (2, 1, 1)
    assert status.outbox == {"pending": 0, "retrying": 1, "failed": 0, "sent": 1}
    # ...and after.
    db = open_database(path)
    assert gather_status(config, now).schema_version == schema.LATEST
    assert {(r.name, r.matches_24h) for r in gather_status(config, now).rules} == {
        ("scam", 2),
        ("weekly", 2),
        ("rice", 1),
    }

    # Stored state still drives behaviour: the mute set with `newswatch mute` holds.
    assert ("rule", "scam") in active_mutes(db, now)
    listed = {entry.id: entry for entry in list_entries(db)}
    assert listed["n1"].title == "source gone is not working" and listed["2"].state == "digest"

    # New articles are stored, joined to the old stories and matched.
    new = Article(
        url="https://kt.example.org/raid-update",
        source="kt",
        title="More freed in Sihanoukville",
        summary="",
        published=now,
        fetched=now,
        guid="kt-3",
        text=RAID_COPY + " Another 40 workers were freed on Saturday.",
    )
    (new_id,) = store_articles(db, [new], StoryIndex(db))
    routes = {"scam": ("box",), "weekly": ("box",), "rice": ("hook",)}
    rules = [Rule("scam", "scam OR freed"), Rule("weekly", "compound"), Rule("rice", "rice")]
    assert match_pending(db, Matcher.build(rules), routes) == {"kt": 2}
    (story,) = {
        row["story_id"]
        for row in db.query("SELECT story_id FROM articles WHERE id IN (1, ?)", [new_id])
    }
    assert story == 1
    # Same story as article 1, which both rules alerted on: no new delivery.
    assert db["outbox"].count == 3

    # Retention keeps what the waiting digest and the retrying webhook need.
    pruned = prune(
        db, timedelta(days=1), still_needed=outbox.unsent_article_ids, now=now + timedelta(days=2)
    )
    assert pruned.articles == 2  # article 3 (its story alerted through 1) and the new one
    summaries = {row["id"]: row["summary"] for row in db.query("SELECT id, summary FROM articles")}
    assert summaries[1] and summaries[2] and not summaries[3]

    # The held digest goes out on Monday.
    box = {"box": MboxChannel("box", path=tmp_path / "alerts.mbox")}
    outcome = asyncio.run(deliver_due(db, box, build_policy(config), now=DIGEST_DUE))
    assert outcome["sent"] == 1
    (digest,) = read_mbox(tmp_path / "alerts.mbox")
    assert "== weekly: 1 match ==" in text_of(digest)
    # It quotes the article's kept text (the headline is shown, not quoted).
    assert "Police raided a suspected online scam **compound** in Sihanoukville" in text_of(digest)
    db.close()


def test_schema_refuses_a_database_of_a_newer_release(tmp_path):
    path = tmp_path / "newer.db"
    open_database(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {schema.LATEST + 1}")
    conn.close()
    with pytest.raises(StoreError, match=f"schema version {schema.LATEST + 1}") as caught:
        open_database(path)
    assert caught.value.hint is not None and "newer newswatch" in caught.value.hint


def test_schema_failed_upgrade_leaves_the_file_as_it_was(tmp_path):
    path = release_copy(tmp_path)
    broken = schema.Migration(
        schema.LATEST + 1,
        "a step that fails half way",
        ("CREATE TABLE half_done (x INTEGER)", "CREATE INDEX nowhere_x ON nowhere(x)"),
    )
    conn = sqlite3.connect(path)
    with pytest.raises(sqlite3.OperationalError, match="nowhere"):
        schema.upgrade(conn, [*schema.MIGRATIONS, broken])
    assert schema.schema_version(conn) == 0
    assert conn.execute(
        "SELECT count(*) FROM sqlite_master WHERE name = 'half_done'"
    ).fetchone() == (0,)
    assert not conn.in_transaction
    conn.close()
    assert snapshot(path) == snapshot(RELEASE_DB)


def test_schema_first_release_outbox_gains_the_later_columns(tmp_path):
    path = tmp_path / "first.db"
    old = sqlite_utils.Database(path)
    old["outbox"].create(
        {
            "id": int,
            "key": str,
            "match_id": int,
            "rule": str,
            "article_id": int,
            "channel": str,
            "state": str,
            "attempts": int,
            "next_attempt": str,
            "last_error": str,
            "created": str,
            "sent_at": str,
        },
        pk="id",
    )
    old["outbox"].insert(
        {
            "key": "r.1.a",
            "rule": "r",
            "article_id": 1,
            "channel": "a",
            "state": "pending",
            "attempts": 0,
            "created": "2026-01-01",
        }
    )
    old.close()
    db = open_database(path)
    columns = db["outbox"].columns_dict
    assert {"classified", "hold", "digest_due", "notice_id", "requeued"} <= set(columns)
    (row,) = db.query("SELECT classified FROM outbox")
    assert row["classified"] == 0
    assert set(db.table_names()) == TABLES | ADDED_TABLES
    db.close()


def test_schema_upgraded_release_articles_have_no_outlet_and_take_new_ones(tmp_path):
    path = release_copy(tmp_path)
    db = open_database(path)
    assert {row["outlet"] for row in db.query("SELECT outlet FROM articles")} == {None}
    item = Article(
        url="https://www.khmertimeskh.com/501/raid",
        source="gnews-en",
        title="Raid in Bavet",
        summary="",
        published=WRITTEN,
        fetched=WRITTEN,
        guid="CBMiXYZ",
        outlet="Khmer Times",
    )
    (new_id,) = store_articles(db, [item])
    (row,) = db.query("SELECT outlet FROM articles WHERE id = ?", [new_id])
    assert row["outlet"] == "Khmer Times"
    db.close()
