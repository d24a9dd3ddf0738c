"""The story index's tables: stories, article signatures, lookup rows, briefs, the scheme.

* ``stories``: one row per story (``first_article``, ``created``, ``title``).
* ``story_signatures``: per article its story, its 128-byte MinHash signature and a 64-bit
  prefix of its content fingerprint (indexed).
* ``story_bands``: lookup rows ``(band, hash, article_id)``; the primary key is the lookup
  index. Bands 0-15 are the LSH band hashes of texts long enough for near-duplicate
  matching; ``BRIEF_BANDS`` + 0-15 those of feed items' summaries (only feed items look
  them up); ``KEY_BAND`` a feed item's lookup keys (the start of its summary, the ends of
  its headline); ``LINK_BAND`` the addresses of every article. Key and address hashes are
  63-bit.
* ``story_briefs``: headline, summary and source of each feed item short enough for the
  rules of :mod:`crawler.briefs`, which compare them.
* ``story_meta``: the signature scheme the stored values were computed with.

:class:`crawler.stories.StoryIndex` decides; these functions only read and write. None of
them opens or commits a transaction: the caller's transaction covers an article's insert
and its story together.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from crawler import signatures
from crawler.db import Database

BRIEF_BANDS = 100
KEY_BAND = 200
LINK_BAND = 300

_CANDIDATES_SQL = (
    "SELECT article_id, COUNT(*) AS shared FROM story_bands WHERE "
    + " OR ".join(["(band = ? AND hash = ?)"] * signatures.BANDS)
    + " GROUP BY article_id ORDER BY shared DESC, article_id LIMIT ?"
)
_INSERT_BANDS_SQL = (
    "INSERT OR IGNORE INTO story_bands (band, hash, article_id) VALUES "
    + ", ".join(["(?, ?, ?)"] * signatures.BANDS)
)


class StoredBrief(NamedTuple):
    """What the index keeps of a feed item for the brief rules."""

    source: str | None
    title: str
    text: str


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


def first_with_link(db: Database, link_hashes: Sequence[int]) -> tuple[int, int] | None:
    """(article, story) of the earliest article known by one of these addresses."""
    marks = ", ".join("?" * len(link_hashes))
    row = db.execute(
        "SELECT s.article_id, s.story_id FROM story_bands b JOIN story_signatures s"
        f" ON s.article_id = b.article_id WHERE b.band = ? AND b.hash IN ({marks})"
        " ORDER BY s.article_id LIMIT 1",
        [LINK_BAND, *link_hashes],
    ).fetchone()
    return None if row is None else (int(row[0]), int(row[1]))


def brief_candidates(
    db: Database, bands: Sequence[int], keys: Sequence[int], limit: int
) -> list[int]:
    """Feed items sharing a summary band or a lookup key, those sharing most (and newest) first."""
    pairs = [(BRIEF_BANDS + band, value) for band, value in enumerate(bands)]
    pairs += [(KEY_BAND, key) for key in keys]
    if not pairs:
        return []
    sql = (
        "SELECT article_id, COUNT(*) AS shared FROM story_bands WHERE "
        + " OR ".join(["(band = ? AND hash = ?)"] * len(pairs))
        + " GROUP BY article_id ORDER BY shared DESC, article_id DESC LIMIT ?"
    )
    params = [value for pair in pairs for value in pair]
    return [row[0] for row in db.execute(sql, [*params, limit])]


def briefs_of(
    db: Database, article_ids: Sequence[int]
) -> list[tuple[int, int, str | None, str, str]]:
    """(article, story, source, title, text) of the stored feed items among ``article_ids``."""
    if not article_ids:
        return []
    marks = ", ".join("?" * len(article_ids))
    rows = db.execute(
        "SELECT b.article_id, s.story_id, b.source, b.title, b.text FROM story_briefs b"
        f" JOIN story_signatures s ON s.article_id = b.article_id WHERE b.article_id IN ({marks})",
        list(article_ids),
    ).fetchall()
    return [(int(a), int(story), source, title, text) for a, story, source, title, text in rows]


def add_links(db: Database, article_id: int, link_hashes: Sequence[int]) -> None:
    """Store the hashes of the addresses an article is known by."""
    _add_rows(db, article_id, [(LINK_BAND, value) for value in link_hashes])


def add_brief(
    db: Database,
    article_id: int,
    brief: StoredBrief,
    *,
    bands: Sequence[int],
    keys: Sequence[int],
) -> None:
    """Store a feed item's texts, its summary's band hashes and its lookup keys."""
    db.execute(
        "INSERT INTO story_briefs (article_id, source, title, text) VALUES (?, ?, ?, ?)",
        [article_id, brief.source, brief.title, brief.text],
    )
    rows = [(BRIEF_BANDS + band, value) for band, value in enumerate(bands)]
    _add_rows(db, article_id, [*rows, *((KEY_BAND, key) for key in keys)])


def _add_rows(db: Database, article_id: int, rows: Sequence[tuple[int, int]]) -> None:
    if not rows:
        return
    params = [value for band, key in rows for value in (band, key, article_id)]
    db.execute(
        "INSERT OR IGNORE INTO story_bands (band, hash, article_id) VALUES "
        + ", ".join(["(?, ?, ?)"] * len(rows)),
        params,
    )
