"""Reading the stored archive from other processes and for reports.

``newswatch status``, ``stories``, ``rules backtest`` and the metrics endpoint open the
database read-only, so they work while the service writes to it (WAL) and can never change it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils

from crawler.errors import StoreError

READ_TIMEOUT_SECONDS = 5.0


def open_readonly(path: Path) -> sqlite_utils.Database:
    """Open an existing database read-only; StoreError if it is missing or not a database."""
    path = Path(path)
    if not path.is_file():
        raise StoreError(
            f"no database at {path}",
            hint="the service creates it when it first starts; check [service] database",
        )
    uri = f"{path.resolve().as_uri()}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=READ_TIMEOUT_SECONDS)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        raise StoreError(
            f"cannot read database {path}: {exc}",
            hint="is it a newswatch database, and readable by this user?",
        ) from exc
    return sqlite_utils.Database(conn)


def story_outlets(db: sqlite_utils.Database, article_id: int) -> tuple[str, ...]:
    """Other sources that carried the story of ``article_id``, in the order they did."""
    sql = (
        "SELECT a.source, min(a.id) AS first FROM articles me "
        "JOIN articles a ON a.story_id = me.story_id AND a.source != me.source "
        "WHERE me.id = ? AND me.story_id IS NOT NULL GROUP BY a.source ORDER BY first"
    )
    return tuple(row["source"] for row in db.query(sql, [article_id]))
