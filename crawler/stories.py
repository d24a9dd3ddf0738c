"""Story clustering: near-duplicate articles join the story of an earlier article.

Each stored article belongs to one story. An article joins the story of the most similar
earlier article when the estimated Jaccard similarity of their texts' word 3-shingles
(character 5-shingles for Khmer, Thai, Chinese...) is at least ``threshold``; otherwise it
starts a new story. The headline is left out of the comparison (outlets rewrite headlines
first) unless the article has no text, and so are short "Read more:"/byline/copyright lines.
See docs/stories.md for the measured trade-offs.

The index lives in SQLite so that a restart does not rebuild it:

* ``stories``: one row per story (``first_article``, ``created``, ``title``).
* ``story_signatures``: per article its story, its 128-byte MinHash signature and a 64-bit
  prefix of its content fingerprint (indexed).
* ``story_bands``: the LSH band hashes of each article long enough for near-duplicate
  matching. Its primary key ``(band, hash, article_id)`` is the index on ``(band, hash)``
  and, the table being ``WITHOUT ROWID``, the only copy of the rows.
* ``story_meta``: the signature scheme the stored values were computed with.

Adding an article is: shingle, sign, one indexed SELECT for articles sharing a band, verify
their estimated Jaccard, insert. Texts with fewer than ``MIN_SHINGLES`` distinct shingles
(a headline and a one-line summary) never join by similarity: at that size one shared
template sentence looks like a copy. They join only an article with the same fingerprint,
and only when they have at least ``MIN_EXACT_SHINGLES`` shingles.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

import numpy as np
import sqlite_utils

from crawler import signatures
from crawler.errors import StoreError
from crawler.shingles import (
    Shingled,
    fingerprint_units,
    shingle_units,
    strip_boilerplate,
    text_units,
)

log = logging.getLogger(__name__)

MIN_SHINGLES = 50
MIN_EXACT_SHINGLES = 10
# Verifying costs one 128-byte comparison per candidate; a flood of weak candidates
# (shared boilerplate) is cut to the ones sharing the most bands.
MAX_CANDIDATES = 400

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS stories (
    id INTEGER PRIMARY KEY,
    first_article INTEGER NOT NULL,
    created TEXT NOT NULL,
    title TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS story_signatures (
    article_id INTEGER PRIMARY KEY,
    story_id INTEGER NOT NULL REFERENCES stories(id),
    signature BLOB NOT NULL,
    fingerprint INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_story_signatures_fingerprint
    ON story_signatures (fingerprint);
CREATE TABLE IF NOT EXISTS story_bands (
    band INTEGER NOT NULL,
    hash INTEGER NOT NULL,
    article_id INTEGER NOT NULL,
    PRIMARY KEY (band, hash, article_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS story_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT OR IGNORE INTO story_meta (key, value) VALUES ('scheme', '{signatures.SCHEME}');
"""

_CANDIDATES_SQL = (
    "SELECT article_id, COUNT(*) AS shared FROM story_bands WHERE "
    + " OR ".join(["(band = ? AND hash = ?)"] * signatures.BANDS)
    + f" GROUP BY article_id ORDER BY shared DESC, article_id LIMIT {MAX_CANDIDATES}"
)
_INSERT_BANDS_SQL = (
    "INSERT OR IGNORE INTO story_bands (band, hash, article_id) VALUES "
    + ", ".join(["(?, ?, ?)"] * signatures.BANDS)
)


@dataclass(frozen=True, slots=True)
class StoryAssignment:
    """Where :meth:`StoryIndex.assign` put an article."""

    story_id: int
    is_new_story: bool
    similar_to: int | None
    similarity: float | None


class _Match(NamedTuple):
    article_id: int
    story_id: int
    similarity: float


@dataclass(frozen=True, slots=True)
class _Signed:
    """One article's content reduced to what the index stores and compares."""

    shingled: Shingled
    values: np.ndarray
    fingerprint: bytes

    @property
    def fingerprint_key(self) -> int:
        return int.from_bytes(self.fingerprint[:8], "big", signed=True)


def _sign(title: str, text: str) -> _Signed:
    """Sign an article: shingles of its text (of its title when it has no text)."""
    title_units, body_units = text_units(title), text_units(strip_boilerplate(text))
    shingled = shingle_units(body_units or title_units)
    return _Signed(
        shingled=shingled,
        values=signatures.minhash_values(shingled.shingles),
        fingerprint=fingerprint_units(title_units, body_units),
    )


def _text_signature(text: str) -> np.ndarray:
    units = text_units(strip_boilerplate(text))
    return signatures.blob_values(
        signatures.to_blob(signatures.minhash_values(shingle_units(units).shingles))
    )


def similarity(a: str, b: str) -> float:
    """Estimated Jaccard similarity of two texts' shingle sets, as the index estimates it."""
    for name, value in (("a", a), ("b", b)):
        if not isinstance(value, str):
            raise TypeError(f"similarity(): {name} must be str, got {type(value).__name__}")
    return float(signatures.estimate_jaccard(_text_signature(a), _text_signature(b)))


class StoryIndex:
    """Assigns articles to stories, persisted in the caller's SQLite database.

    The index never opens or commits a transaction: wrap each :meth:`assign` (together with
    the article's own insert) in the caller's transaction, e.g. ``with db.atomic():``.
    """

    def __init__(self, db: sqlite_utils.Database, *, threshold: float = 0.8) -> None:
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise TypeError(f"threshold must be a number, got {type(threshold).__name__}")
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        if threshold < 0.6:
            log.warning(
                "near-duplicate threshold %.2f is below 0.6: pairs at that similarity are"
                " found as candidates only %.0f%% of the time",
                threshold,
                100 * signatures.candidate_probability(threshold),
            )
        self.db = db
        self.threshold = float(threshold)
        self._create_tables()

    def _create_tables(self) -> None:
        try:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self.db.execute(statement)
            row = self.db.execute("SELECT value FROM story_meta WHERE key = 'scheme'").fetchone()
        except sqlite3.Error as exc:
            raise StoreError(
                f"could not create the story index tables: {exc}",
                hint="check that the database file is writable and not corrupt",
            ) from exc
        if row[0] != signatures.SCHEME:
            raise StoreError(
                f"the story index was built with signature scheme {row[0]!r}, this version"
                f" uses {signatures.SCHEME!r}",
                hint="drop the stories, story_signatures, story_bands and story_meta tables"
                " to rebuild the index from the stored articles",
            )

    def fingerprint(self, title: str, text: str) -> bytes:
        """SHA-1 of the normalised title and text: equal only for the same content."""
        return fingerprint_units(text_units(title), text_units(strip_boilerplate(text)))

    def assign(self, article_id: int, *, title: str, text: str) -> StoryAssignment:
        """Put an article into the story of its closest earlier near-duplicate, or a new one."""
        _check_article(article_id, title, text)
        try:
            return self._assign(article_id, title, text)
        except sqlite3.Error as exc:
            raise StoreError(
                f"could not assign article {article_id} to a story: {exc}",
                hint="check that the database is writable; the caller's transaction"
                " should be rolled back",
            ) from exc

    def _assign(self, article_id: int, title: str, text: str) -> StoryAssignment:
        existing = self.db.execute(
            "SELECT story_id FROM story_signatures WHERE article_id = ?", [article_id]
        ).fetchone()
        if existing is not None:
            raise StoreError(
                f"article {article_id} already belongs to story {existing[0]}",
                hint="assign each article once, when it is first stored",
            )
        signed = _sign(title, text)
        count = len(signed.shingled.shingles)
        match = self._exact_match(signed) if count >= MIN_EXACT_SHINGLES else None
        # Short texts get no bands: they can neither find nor be found by similarity.
        bands = signatures.band_hashes(signed.values) if count >= MIN_SHINGLES else None
        if match is None and bands is not None:
            match = self._near_match(signed, bands)
        if match is None:
            story_id = self._new_story(article_id, title)
            self._store(article_id, story_id, signed, bands)
            return StoryAssignment(story_id, True, None, None)
        self._store(article_id, match.story_id, signed, bands)
        return StoryAssignment(match.story_id, False, match.article_id, match.similarity)

    def _exact_match(self, signed: _Signed) -> _Match | None:
        """The earliest article with the same fingerprint."""
        row = self.db.execute(
            "SELECT article_id, story_id FROM story_signatures WHERE fingerprint = ?"
            " ORDER BY article_id LIMIT 1",
            [signed.fingerprint_key],
        ).fetchone()
        return None if row is None else _Match(row[0], row[1], 1.0)

    def _near_match(self, signed: _Signed, bands: np.ndarray) -> _Match | None:
        """The most similar earlier article at or above the threshold, if any."""
        params: list[int] = []
        for band, value in enumerate(bands.tolist()):
            params.extend((band, value))
        ids = [row[0] for row in self.db.execute(_CANDIDATES_SQL, params)]
        if not ids:
            return None
        marks = ", ".join("?" * len(ids))
        rows = self.db.execute(
            "SELECT article_id, story_id, signature FROM story_signatures"
            f" WHERE article_id IN ({marks}) ORDER BY article_id",
            ids,
        ).fetchall()
        stored = np.frombuffer(b"".join(row[2] for row in rows), dtype=np.uint8)
        query = signatures.blob_values(signatures.to_blob(signed.values))
        scores = signatures.estimate_jaccard(query, stored.reshape(len(rows), -1))
        # argmax takes the first of equal scores: rows are ordered, so the earliest article.
        best = int(np.argmax(scores))
        score = float(scores[best])
        if score < self.threshold:
            return None
        return _Match(rows[best][0], rows[best][1], round(score, 4))

    def _new_story(self, article_id: int, title: str) -> int:
        cursor = self.db.execute(
            "INSERT INTO stories (first_article, created, title) VALUES (?, ?, ?)",
            [article_id, datetime.now(UTC).isoformat(timespec="seconds"), title],
        )
        return int(cursor.lastrowid or 0)

    def _store(
        self, article_id: int, story_id: int, signed: _Signed, bands: np.ndarray | None
    ) -> None:
        self.db.execute(
            "INSERT INTO story_signatures (article_id, story_id, signature, fingerprint)"
            " VALUES (?, ?, ?, ?)",
            [article_id, story_id, signatures.to_blob(signed.values), signed.fingerprint_key],
        )
        if bands is None:
            return
        params: list[int] = []
        for band, value in enumerate(bands.tolist()):
            params.extend((band, value, article_id))
        self.db.execute(_INSERT_BANDS_SQL, params)


def _check_article(article_id: object, title: object, text: object) -> None:
    """Reject arguments of the wrong type with a message naming the argument."""
    if isinstance(article_id, bool) or not isinstance(article_id, int):
        raise TypeError(f"article_id must be an int, got {type(article_id).__name__}")
    for name, value in (("title", title), ("text", text)):
        if not isinstance(value, str):
            raise TypeError(
                f"{name} of article {article_id} must be str, got {type(value).__name__}"
            )
