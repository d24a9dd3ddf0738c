"""Story clustering: copies of an article join the story of an earlier article.

Each stored article belongs to one story. An article joins the story of an earlier one with
the same fingerprint (same headline and text) or the same address (:func:`article_link_key`
of its URL or permalink GUID); else of the most similar earlier article when the estimated
Jaccard similarity of their texts' word 3-shingles (character 5-shingles for Khmer, Thai,
Chinese...) is at least ``threshold``; else, for a feed item of at most ``BRIEF_CHARS``
characters (a *brief*), of the earlier brief that the rules of :mod:`crawler.briefs` accept;
otherwise it starts a new story. The headline is left out of the shingle comparison (outlets
rewrite headlines first) unless the article has no text, and so are short "Read
more:"/byline/copyright lines. Texts with fewer than ``MIN_SHINGLES`` shingles never join by
shingle similarity: at that size one shared template sentence looks like a copy. See
docs/stories.md for the measured trade-offs.

The index lives in the database (the tables of :mod:`crawler.story_store`), so that a
restart does not rebuild it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from crawler import signatures, story_store
from crawler.briefs import Brief, BriefEntry, brief_entry, compare_briefs, link_hashes, make_brief
from crawler.db import Database, DatabaseError, to_iso, utcnow
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
# Briefs are compared by their stored texts, so fewer candidates are read.
MAX_BRIEF_CANDIDATES = 50
# Stored briefs kept reduced between lookups (a few KB each).
BRIEF_CACHE = 4096


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
    links: tuple[int, ...] = ()
    brief: BriefEntry | None = None

    @property
    def fingerprint_key(self) -> int:
        return int.from_bytes(self.fingerprint[:8], "big", signed=True)


@dataclass(frozen=True, slots=True)
class Prepared:
    """An article's normalised units and fingerprints, worked out once per article: the
    store compares the fingerprints before the index signs the same units."""

    title_units: tuple[str, ...]
    body_units: tuple[str, ...]
    fingerprint: bytes  # of the title and the text (see StoryIndex.fingerprint)
    text_fingerprint: bytes  # of the text alone

    @classmethod
    def of(cls, title: str, text: str) -> Prepared:
        """The units and fingerprints of an article's title and text."""
        title_units, body_units = text_units(title), text_units(strip_boilerplate(text))
        return cls(
            title_units,
            body_units,
            fingerprint_units(title_units, body_units),
            fingerprint_units((), body_units),
        )


def _sign(
    title: str,
    text: str,
    *,
    source: str | None = None,
    links: tuple[str, ...] = (),
    prepared: Prepared | None = None,
) -> _Signed:
    """Sign an article: shingles of its text (of its title when it has no text)."""
    prepared = prepared or Prepared.of(title, text)
    title_units, body_units = prepared.title_units, prepared.body_units
    shingled = shingle_units(body_units or title_units)
    values = signatures.minhash_values(shingled.shingles)
    return _Signed(
        shingled=shingled,
        values=values,
        fingerprint=prepared.fingerprint,
        links=link_hashes(links),
        brief=brief_entry(title, text, source, shingled, values),
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
    """Assigns articles to stories, persisted in the caller's database.

    The index never opens or commits a transaction: wrap each :meth:`assign` (together with
    the article's own insert) in the caller's transaction, e.g. ``with db.atomic():``.
    """

    def __init__(self, db: Database, *, threshold: float = 0.8) -> None:
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
        self._brief_cache: dict[tuple[int, str | None, str, str], Brief] = {}
        self._check_scheme()

    def _check_scheme(self) -> None:
        try:
            stored = story_store.claim_scheme(self.db, signatures.SCHEME)
        except DatabaseError as exc:
            raise StoreError(
                f"could not read the story index: {exc}",
                hint="open the database with crawler.db.open_database, which creates its"
                " tables; check that the file is writable and not corrupt",
            ) from exc
        if stored != signatures.SCHEME:
            raise StoreError(
                f"the story index was built with signature scheme {stored!r}, this version"
                f" uses {signatures.SCHEME!r}",
                hint="empty the stories, story_signatures, story_bands, story_briefs and"
                " story_meta tables to rebuild the index from the stored articles",
            )

    def fingerprint(self, title: str, text: str) -> bytes:
        """SHA-1 of the normalised title and text: equal only for the same content."""
        return fingerprint_units(text_units(title), text_units(strip_boilerplate(text)))

    def assign(
        self,
        article_id: int,
        *,
        title: str,
        text: str,
        source: str | None = None,
        links: Iterable[str] = (),
        prepared: Prepared | None = None,
    ) -> StoryAssignment:
        """Put an article into the story of its closest earlier copy, or a new one.

        ``source`` names where the article came from (a feed repeating one description for
        every item is not a story told twice); ``links`` are the addresses it is known by
        (its URL, a permalink GUID): an earlier article at one of them is the same article.
        ``prepared`` is :meth:`Prepared.of` the same title and text, when the caller has it.
        """
        links = tuple(links)
        _check_article(article_id, title, text, source, links)
        try:
            return self._assign(article_id, title, text, source, links, prepared)
        except DatabaseError as exc:
            raise StoreError(
                f"could not assign article {article_id} to a story: {exc}",
                hint="check that the database is writable; the caller's transaction"
                " should be rolled back",
            ) from exc

    def _assign(
        self,
        article_id: int,
        title: str,
        text: str,
        source: str | None,
        links: tuple[str, ...],
        prepared: Prepared | None,
    ) -> StoryAssignment:
        existing = story_store.story_of(self.db, article_id)
        if existing is not None:
            raise StoreError(
                f"article {article_id} already belongs to story {existing}",
                hint="assign each article once, when it is first stored",
            )
        signed = _sign(title, text, source=source, links=links, prepared=prepared)
        count = len(signed.shingled.shingles)
        match = self._exact_match(signed) if count >= MIN_EXACT_SHINGLES else None
        if match is None and signed.links:
            found = story_store.first_with_link(self.db, signed.links)
            match = None if found is None else _Match(found[0], found[1], 1.0)
        # Short texts get no bands: they can neither find nor be found by similarity.
        bands = signatures.band_hashes(signed.values) if count >= MIN_SHINGLES else None
        if match is None and bands is not None:
            match = self._near_match(signed, bands)
        if match is None and signed.brief is not None:
            match = self._brief_match(signed.brief)
        if match is None:
            story_id = story_store.create_story(self.db, article_id, title, _now())
            self._store(article_id, story_id, signed, bands)
            return StoryAssignment(story_id, True, None, None)
        self._store(article_id, match.story_id, signed, bands)
        return StoryAssignment(match.story_id, False, match.article_id, match.similarity)

    def _exact_match(self, signed: _Signed) -> _Match | None:
        """The earliest article with the same fingerprint."""
        found = story_store.first_with_fingerprint(self.db, signed.fingerprint_key)
        return None if found is None else _Match(found[0], found[1], 1.0)

    def _near_match(self, signed: _Signed, bands: np.ndarray) -> _Match | None:
        """The most similar earlier article at or above the threshold, if any.

        A brief never joins a brief whose facts contradict its own (another day, another
        head count), however similar the wording.
        """
        ids = story_store.band_candidates(self.db, bands.tolist(), MAX_CANDIDATES)
        if not ids:
            return None
        rows = story_store.signatures_of(self.db, ids)
        stored = np.frombuffer(b"".join(row[2] for row in rows), dtype=np.uint8)
        query = signatures.blob_values(signatures.to_blob(signed.values))
        scores = signatures.estimate_jaccard(query, stored.reshape(len(rows), -1)).tolist()
        # Best first; rows are ordered, so equal scores keep the earliest article first.
        ranked = sorted(
            (i for i, score in enumerate(scores) if score >= self.threshold),
            key=lambda i: -scores[i],
        )
        brief = signed.brief.brief if signed.brief is not None else None
        briefs = self._briefs([rows[i][0] for i in ranked]) if ranked and brief else {}
        for i in ranked:
            other = briefs.get(rows[i][0])
            if (
                brief is not None
                and other is not None
                and other[1].facts.conflicts_with(brief.facts)
            ):
                continue
            return _Match(rows[i][0], rows[i][1], round(scores[i], 4))
        return None

    def _brief_match(self, entry: BriefEntry) -> _Match | None:
        """The earlier brief the brief rules accept with the highest score (earliest on ties).

        A headline alone that fits the headlines of several stories says nothing about
        which one it belongs to (two outlets' reports under one headline): it joins none.
        """
        ids = story_store.brief_candidates(self.db, entry.bands, entry.keys, MAX_BRIEF_CANDIDATES)
        best: _Match | None = None
        by_headline: set[int] = set()
        for article_id, (story_id, other) in sorted(self._briefs(ids).items()):
            score = compare_briefs(other, entry.brief)
            if score is None:
                continue
            if not (other.has_text and entry.brief.has_text):
                by_headline.add(story_id)
            if best is None or score > best.similarity:
                best = _Match(article_id, story_id, score)
        if best is not None and best.story_id in by_headline and len(by_headline) > 1:
            return None
        return best

    def _briefs(self, ids: list[int]) -> dict[int, tuple[int, Brief]]:
        """The stored briefs among ``ids``, with their stories.

        A stored brief never changes, and the same recent items are candidates for many
        new ones: each is reduced (:func:`make_brief`) once and kept, the newest
        ``BRIEF_CACHE`` of them.
        """
        found: dict[int, tuple[int, Brief]] = {}
        cache = self._brief_cache
        for article_id, story_id, source, title, text in story_store.briefs_of(self.db, ids):
            # Keyed by content too: the id of a row rolled back is given to the next one.
            key = (article_id, source, title, text)
            brief = cache.pop(key, None) or make_brief(title, text, source)
            cache[key] = brief  # most recently used last
            found[article_id] = (story_id, brief)
        while len(cache) > BRIEF_CACHE:
            del cache[next(iter(cache))]
        return found

    def _store(
        self, article_id: int, story_id: int, signed: _Signed, bands: np.ndarray | None
    ) -> None:
        story_store.add_signature(
            self.db,
            article_id,
            story_id,
            signatures.to_blob(signed.values),
            signed.fingerprint_key,
            None if bands is None else bands.tolist(),
        )
        story_store.add_links(self.db, article_id, signed.links)
        entry = signed.brief
        if entry is not None:
            story_store.add_brief(
                self.db,
                article_id,
                story_store.StoredBrief(entry.brief.source, entry.title, entry.text),
                bands=entry.bands,
                keys=entry.keys,
            )


def _now() -> str:
    return to_iso(utcnow()) or ""


def _check_article(
    article_id: object, title: object, text: object, source: object, links: tuple[object, ...]
) -> None:
    """Reject arguments of the wrong type with a message naming the argument."""
    if isinstance(article_id, bool) or not isinstance(article_id, int):
        raise TypeError(f"article_id must be an int, got {type(article_id).__name__}")
    for name, value in (("title", title), ("text", text)):
        if not isinstance(value, str):
            raise TypeError(
                f"{name} of article {article_id} must be str, got {type(value).__name__}"
            )
    if source is not None and not isinstance(source, str):
        raise TypeError(f"source of article {article_id} must be str or None")
    if not all(isinstance(link, str) for link in links):
        raise TypeError(f"links of article {article_id} must be strings")
