"""The story index's tables: stories, article signatures, LSH bands, the signature scheme.

* ``stories``: one row per story (``first_article``, ``created``, ``title``).
* ``story_signatures``: per article its story, its 128-byte MinHash signature and a 64-bit
  prefix of its content fingerprint (indexed).
* ``story_bands``: the LSH band hashes of each article long enough for near-duplicate
  matching; its primary key ``(band, hash, article_id)`` is the lookup index.
* ``story_meta``: the signature scheme the stored values were computed with.

:class:`crawler.stories.StoryIndex` decides; these functions only read and write. None of
them opens or commits a transaction: the caller's transaction covers an article's insert
and its story together.
"""

from __future__ import annotations

from collections.abc import Sequence

from crawler import signatures
from crawler.db import Database

_CANDIDATES_SQL = (
    "SELECT article_id, COUNT(*) AS shared FROM story_bands WHERE "
    + " OR ".join(["(band = ? AND hash = ?)"] * signatures.BANDS)
    + " GROUP BY article_id ORDER BY shared DESC, article_id LIMIT ?"
)
_INSERT_BANDS_SQL = (
    "INSERT OR IGNORE INTO story_bands (band, hash, article_id) VALUES "
    + ", ".join(["(?, ?, ?)"] * signatures.BANDS)
)


def claim_scheme(db: Database, scheme: str) -> str:
    """Record ``scheme`` as the index's signature scheme unless one is; return the stored one."""
    db.execute("INSERT OR IGNORE INTO story_meta (key, value) VALUES ('scheme', ?)", [scheme])
    return str(db.execute("SELECT value FROM story_meta WHERE key = 'scheme'").fetchone()[0])


def story_of(db: Database, article_id: int) -> int | None:
    """The story an article was put in, if it was."""
    row = db.execute(
        "SELECT story_id FROM story_signatures WHERE article_id = ?", [article_id]
    ).fetchone()
    return None if row is None else int(row[0])


def first_with_fingerprint(db: Database, fingerprint_key: int) -> tuple[int, int] | None:
    """(article, story) of the earliest article with this content fingerprint."""
    row = db.execute(
        "SELECT article_id, story_id FROM story_signatures WHERE fingerprint = ?"
        " ORDER BY article_id LIMIT 1",
        [fingerprint_key],
    ).fetchone()
    return None if row is None else (int(row[0]), int(row[1]))


def band_candidates(db: Database, bands: Sequence[int], limit: int) -> list[int]:
    """Articles sharing at least one band hash, those sharing the most first."""
    params: list[int] = []
    for band, value in enumerate(bands):
        params.extend((band, value))
    return [row[0] for row in db.execute(_CANDIDATES_SQL, [*params, limit])]


def signatures_of(db: Database, article_ids: Sequence[int]) -> list[tuple[int, int, bytes]]:
    """(article, story, signature) of each of ``article_ids``, by article id."""
    marks = ", ".join("?" * len(article_ids))
    rows = db.execute(
        "SELECT article_id, story_id, signature FROM story_signatures"
        f" WHERE article_id IN ({marks}) ORDER BY article_id",
        list(article_ids),
    ).fetchall()
    return [(int(a), int(s), bytes(blob)) for a, s, blob in rows]


def create_story(db: Database, first_article: int, title: str, created: str) -> int:
    """Start a story with ``first_article``; returns its id."""
    cursor = db.execute(
        "INSERT INTO stories (first_article, created, title) VALUES (?, ?, ?)",
        [first_article, created, title],
    )
    return int(cursor.lastrowid or 0)


def add_signature(
    db: Database,
    article_id: int,
    story_id: int,
    signature: bytes,
    fingerprint_key: int,
    bands: Sequence[int] | None,
) -> None:
    """Store an article's signature in its story and, when it has them, its band hashes."""
    db.execute(
        "INSERT INTO story_signatures (article_id, story_id, signature, fingerprint)"
        " VALUES (?, ?, ?, ?)",
        [article_id, story_id, signature, fingerprint_key],
    )
    if bands is None:
        return
    params: list[int] = []
    for band, value in enumerate(bands):
        params.extend((band, value, article_id))
    db.execute(_INSERT_BANDS_SQL, params)
