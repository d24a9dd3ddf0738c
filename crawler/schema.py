"""Every table and index of the database, and the steps that bring an older file up to date.

The schema has one version number, kept in the database file (``PRAGMA user_version``).
Each :class:`Migration` in :data:`MIGRATIONS` takes a database from the version before it
to its own; a new database runs them all, an existing one the ones it has not had.
Version 1 is the schema of the releases that had no version number, created with ``IF NOT
EXISTS``: a file written by such a release (``user_version`` 0) already has most of it,
gets what it lacks, and from then on is upgraded like any other.

Who writes each table (its owner) and where its SQL lives:

========================================  ==============================================
``sources``, ``articles``                 crawler/store.py
``articles_fts`` (the search index)       crawler/fulltext.py (kept in step by store.py)
``stories``, ``story_signatures``,        crawler/story_store.py
``story_bands``, ``story_briefs``,
``story_meta``
``matches``, ``outbox``                   alerts/outbox/store.py (reads: matches.py,
                                          admin.py)
``notices``, ``digest_runs``              alerts/outbox/notices.py
``mutes``                                 alerts/outbox/mutes.py
``source_health``                         alerts/outbox/source_health.py
``google_news_links``                     crawler/link_store.py
========================================  ==============================================

The alerts tables are declared here too, although this package never reads them, so that
one module answers "what is in the file" and one version number covers all of it.

Adding a migration: append a ``Migration(N + 1, ...)`` whose statements change the schema
(new tables, columns with defaults, indexes, data fixes) and declare the result in the
docstring table above when a table is added. Never edit a step that has been released:
databases in the field have run it. All pending steps run in one transaction, so a
failing step leaves the file as it was; ``PRAGMA foreign_keys`` cannot change inside it,
so rebuild a table with SQLite's "create new, copy, drop, rename" procedure.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from crawler import fulltext
from crawler.errors import StoreError

logger = logging.getLogger(__name__)

Step = str | Callable[[sqlite3.Connection], None]

_V1_TABLES = (
    # crawler/store.py
    """CREATE TABLE IF NOT EXISTS sources (
        name TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        url TEXT NOT NULL,
        etag TEXT,
        last_modified TEXT,
        last_status INTEGER,
        last_error TEXT,
        last_poll TEXT,
        last_success TEXT,
        last_new TEXT,
        next_due TEXT,
        failures INTEGER,
        polls INTEGER,
        articles INTEGER
    )""",
    """CREATE TABLE IF NOT EXISTS articles (
        id INTEGER PRIMARY KEY,
        url TEXT NOT NULL,
        guid TEXT,
        source TEXT NOT NULL,
        title TEXT,
        summary TEXT,
        text TEXT,
        author TEXT,
        language TEXT,
        published TEXT,
        date_source TEXT,
        fetched TEXT NOT NULL,
        matched INTEGER DEFAULT 0,
        revision INTEGER DEFAULT 0,
        story_id INTEGER,
        fingerprint TEXT,
        text_fingerprint TEXT
    )""",
    "CREATE UNIQUE INDEX IF NOT EXISTS articles_url ON articles(url, revision)",
    "CREATE INDEX IF NOT EXISTS articles_text_fingerprint ON articles(text_fingerprint)",
    "CREATE INDEX IF NOT EXISTS articles_story ON articles(story_id)",
    "CREATE INDEX IF NOT EXISTS articles_guid ON articles(source, guid)",
    "CREATE INDEX IF NOT EXISTS articles_unmatched ON articles(matched) WHERE matched = 0",
    "CREATE INDEX IF NOT EXISTS articles_fetched ON articles(fetched)",
    # crawler/story_store.py; story_bands' key is its (band, hash) index and its only copy.
    """CREATE TABLE IF NOT EXISTS stories (
        id INTEGER PRIMARY KEY,
        first_article INTEGER NOT NULL,
        created TEXT NOT NULL,
        title TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS story_signatures (
        article_id INTEGER PRIMARY KEY,
        story_id INTEGER NOT NULL REFERENCES stories(id),
        signature BLOB NOT NULL,
        fingerprint INTEGER NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS idx_story_signatures_fingerprint ON story_signatures (fingerprint)",
    """CREATE TABLE IF NOT EXISTS story_bands (
        band INTEGER NOT NULL,
        hash INTEGER NOT NULL,
        article_id INTEGER NOT NULL,
        PRIMARY KEY (band, hash, article_id)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS story_meta (
        "key" TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )""",
    # alerts/outbox/store.py
    """CREATE TABLE IF NOT EXISTS matches (
        id INTEGER PRIMARY KEY,
        rule TEXT NOT NULL,
        article_id INTEGER NOT NULL REFERENCES articles(id),
        matched_at TEXT,
        hits TEXT
    )""",
    "CREATE UNIQUE INDEX IF NOT EXISTS matches_rule_article ON matches(rule, article_id)",
    """CREATE TABLE IF NOT EXISTS outbox (
        id INTEGER PRIMARY KEY,
        "key" TEXT NOT NULL,
        match_id INTEGER REFERENCES matches(id),
        rule TEXT NOT NULL,
        article_id INTEGER NOT NULL,
        channel TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER DEFAULT 0,
        next_attempt TEXT,
        last_error TEXT,
        created TEXT,
        sent_at TEXT,
        classified INTEGER DEFAULT 0,
        hold TEXT,
        digest_due TEXT,
        notice_id INTEGER,
        requeued TEXT
    )""",
)
# Columns the first releases' outbox lacked, added when such a file is opened.
_V1_LATER_OUTBOX_COLUMNS = (
    ("classified", "INTEGER NOT NULL DEFAULT 0"),
    ("hold", "TEXT"),
    ("digest_due", "TEXT"),
    ("notice_id", "INTEGER"),
    ("requeued", "TEXT"),
)
_V1_ALERT_TABLES = (
    "CREATE UNIQUE INDEX IF NOT EXISTS outbox_key ON outbox(key)",
    "CREATE INDEX IF NOT EXISTS outbox_due ON outbox(state, next_attempt)",
    "CREATE INDEX IF NOT EXISTS outbox_sent ON outbox(channel, sent_at)",
    "CREATE INDEX IF NOT EXISTS outbox_notice ON outbox(notice_id)",
    "CREATE INDEX IF NOT EXISTS outbox_unclassified ON outbox(id) WHERE classified = 0",
    # alerts/outbox/notices.py
    """CREATE TABLE IF NOT EXISTS notices (
        id INTEGER PRIMARY KEY,
        "key" TEXT NOT NULL,
        kind TEXT NOT NULL,
        channel TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER DEFAULT 0,
        next_attempt TEXT,
        last_error TEXT,
        created TEXT,
        sent_at TEXT,
        since TEXT,
        title TEXT,
        payload TEXT,
        requeued TEXT
    )""",
    "CREATE UNIQUE INDEX IF NOT EXISTS notices_key ON notices(key)",
    "CREATE INDEX IF NOT EXISTS notices_due ON notices(state, next_attempt)",
    "CREATE INDEX IF NOT EXISTS notices_sent ON notices(channel, sent_at)",
    # When each (rule, channel) last had a digest: the start of the next one.
    """CREATE TABLE IF NOT EXISTS digest_runs (
        rule TEXT,
        channel TEXT,
        "last" TEXT,
        PRIMARY KEY (rule, channel)
    )""",
    # alerts/outbox/mutes.py
    """CREATE TABLE IF NOT EXISTS mutes (
        kind TEXT,
        name TEXT,
        "until" TEXT NOT NULL,
        created TEXT,
        PRIMARY KEY (kind, name)
    )""",
    # alerts/outbox/source_health.py
    """CREATE TABLE IF NOT EXISTS source_health (
        source TEXT PRIMARY KEY,
        status TEXT,
        reason TEXT,
        since TEXT,
        tracked TEXT
    )""",
)


def _add_later_outbox_columns(conn: sqlite3.Connection) -> None:
    present = {row[1] for row in conn.execute("PRAGMA table_info(outbox)")}
    for column, declaration in _V1_LATER_OUTBOX_COLUMNS:
        if column not in present:
            conn.execute(f"ALTER TABLE outbox ADD COLUMN {column} {declaration}")


@dataclass(frozen=True, slots=True)
class Migration:
    """One step of the schema: what it does, and the statements (or functions) doing it."""

    version: int
    summary: str
    steps: Sequence[Step]

    def apply(self, conn: sqlite3.Connection) -> None:
        """Run the steps on ``conn``, inside the caller's transaction."""
        for step in self.steps:
            if isinstance(step, str):
                conn.execute(step)
            else:
                step(conn)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "the schema of the releases before versions, created where missing",
        (*_V1_TABLES, _add_later_outbox_columns, *_V1_ALERT_TABLES),
    ),
    Migration(
        2,
        "index matches by article (story listings) and by time (status)",
        (
            "CREATE INDEX IF NOT EXISTS matches_article ON matches(article_id)",
            "CREATE INDEX IF NOT EXISTS matches_matched_at ON matches(matched_at)",
        ),
    ),
    Migration(
        3,
        "feed items' texts for the story rules of short items",
        (
            # crawler/story_store.py
            """CREATE TABLE story_briefs (
                article_id INTEGER PRIMARY KEY,
                source TEXT,
                title TEXT NOT NULL,
                text TEXT NOT NULL
            )""",
        ),
    ),
    Migration(
        4,
        "sources' display names: the configured title and the feed's own",
        (
            # crawler/store.py
            "ALTER TABLE sources ADD COLUMN title TEXT",
            "ALTER TABLE sources ADD COLUMN feed_title TEXT",
        ),
    ),
    Migration(
        5,
        "the full-text index of articles (search, export, feeds), built for stored articles",
        (
            # crawler/fulltext.py: contentless, so the index holds tokens, not a text copy;
            # the tokens are made in Python, FTS5 only splits them at spaces.
            """CREATE VIRTUAL TABLE articles_fts USING fts5(
                doc,
                content = '',
                columnsize = 0,
                tokenize = "unicode61 remove_diacritics 0 categories 'L* N* Co M*'"
            )""",
            fulltext.rebuild,
            # alerts/outbox/matches.py: a rule's newest matches (its feed, its export)
            "CREATE INDEX matches_rule_time ON matches(rule, matched_at)",
        ),
    ),
    Migration(
        6,
        "articles' outlets (the publisher an aggregator named) and resolved Google News links",
        (
            # crawler/store.py
            "ALTER TABLE articles ADD COLUMN outlet TEXT",
            # crawler/link_store.py: one row per Google News article link ever seen.
            """CREATE TABLE google_news_links (
                link TEXT PRIMARY KEY,
                resolved TEXT,
                attempts INTEGER NOT NULL DEFAULT 0,
                tried TEXT,
                next_try TEXT,
                error TEXT
            )""",
        ),
    ),
)
LATEST = MIGRATIONS[-1].version


def schema_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in the database (0: written before versions, or empty)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def upgrade(conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Bring the database up to the last of ``migrations``; returns the version it is at.

    All pending steps run in one ``BEGIN IMMEDIATE`` transaction, so two processes opening
    an old file at once upgrade it once, and a failure leaves it as it was. A database
    from a newer release is refused rather than guessed at.
    """
    latest = migrations[-1].version
    if _check_not_newer(conn, latest) == latest:
        return latest
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = _check_not_newer(conn, latest)  # again, now that the write lock is held
        fresh = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
        for migration in migrations:
            if migration.version > found:
                migration.apply(conn)
                conn.execute(f"PRAGMA user_version = {migration.version:d}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    if found < latest:
        log = logger.debug if fresh else logger.info
        log("database schema upgraded from version %d to %d", found, latest)
    return latest


def _check_not_newer(conn: sqlite3.Connection, latest: int) -> int:
    found = schema_version(conn)
    if found > latest:
        raise StoreError(
            f"the database has schema version {found}; this newswatch knows versions up to"
            f" {latest}",
            hint="it was written by a newer newswatch: install that version again, or restore"
            " a backup made before the upgrade",
        )
    return found
