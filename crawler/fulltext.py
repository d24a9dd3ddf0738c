"""The full-text index of articles: which stored articles may contain a query's words.

``articles_fts`` is a contentless SQLite FTS5 table (declared in :mod:`crawler.schema`): one
row per article, its rowid the article's id, one column holding the *tokens* of the
article's title, summary and text. The tokens are made here, in Python, from the text as
the rule matcher sees it (:func:`crawler.textnorm.normalise`: NFKC, case folded, Latin
accents gone, zero-width characters removed), so a word the matcher finds is a token here:

- In scripts written with spaces (Latin, Cyrillic, ...) a token is a run of word
  characters (letters, digits, combining marks), exactly the words the matcher checks
  word boundaries against.
- Khmer, Thai, Lao, Myanmar, Chinese and Japanese are written without spaces, and the
  matcher finds their terms anywhere inside running text. A run of those characters
  becomes its overlapping pairs of characters (``西港口`` -> ``西港 港口``) and its last
  character alone, so that a term of two or more characters is the phrase of its pairs,
  and a one-character term a prefix query, wherever it sits in the run.

FTS5 only splits the stored tokens at spaces (``unicode61`` with combining marks kept as
token characters and diacritics left alone, since the text is normalised already).

The index answers "which articles may match" and never decides: every candidate is run
through the rule matcher (:mod:`alerts.rules.archive`). A query the index cannot narrow
(a ``/regex/``, ``NOT x`` alone, ``source:``) falls back to walking the articles.

Contentless tables keep no copy of the text, so a row is removed by repeating the exact
tokens it was indexed with: :func:`replace_documents` recomputes them from the stored row
before the row changes. A change to the tokens made here therefore needs a migration that
rebuilds the index (:func:`rebuild`), like the one that first built it.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache

from crawler.textnorm import NOSPACE_CLASS, normalise, normalise_term, word_class

logger = logging.getLogger(__name__)

TABLE = "articles_fts"
BATCH = 500

_SCRIPT_RUN = re.compile(f"(?P<nospace>[{NOSPACE_CLASS}]+)|[^{NOSPACE_CLASS}]+")

Row = tuple[int, str | None, str | None, str | None]
"""An article as the index sees it: id, title, summary, text."""


@cache
def _word_run() -> re.Pattern[str]:
    return re.compile(f"[{word_class()}]+")


def _runs(normalised: str) -> Iterator[tuple[str, bool]]:
    """The word runs of normalised text, split where the script changes: (run, nospace)."""
    for word in _word_run().finditer(normalised):
        for part in _SCRIPT_RUN.finditer(word.group()):
            yield part.group(), part.lastgroup == "nospace"


def _pairs(run: str) -> list[str]:
    return [run[i : i + 2] for i in range(len(run) - 1)]


def text_tokens(text: str | None) -> list[str]:
    """The index tokens of one piece of article text."""
    if not text:
        return []
    tokens: list[str] = []
    for run, nospace in _runs(normalise(text).text):
        if nospace:
            tokens += _pairs(run)
            tokens.append(run[-1])
        else:
            tokens.append(run)
    return tokens


def document(title: str | None, summary: str | None, text: str | None) -> str:
    """What the index holds for an article: the tokens of its title, summary and text."""
    return " ".join([*text_tokens(title), *text_tokens(summary), *text_tokens(text)])


# Queries -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Segment:
    """Part of a query literal the index can look up: a phrase of tokens, maybe a prefix."""

    tokens: tuple[str, ...]
    prefix: bool = False

    def expression(self) -> str:
        """The FTS5 query of this segment."""
        star = "*" if self.prefix else ""
        return f'"{" ".join(self.tokens)}"{star}'


def literal_segments(literal: str, *, prefix: bool = False) -> list[Segment]:
    """The index lookups that every text containing ``literal`` satisfies.

    Words of spaced scripts next to each other stay one phrase (the text between them is
    the same in the article as in the query). A run of an unspaced script becomes a
    phrase of its character pairs, or a prefix query when it is one character; the
    article's run may go on either side of it, so it stands alone in the lookup.
    """
    segments: list[Segment] = []
    words: list[str] = []
    runs = list(_runs(normalise_term(literal)))
    for run, nospace in runs:
        if not nospace:
            words.append(run)
            continue
        if words:
            segments.append(Segment(tuple(words)))
            words = []
        if len(run) == 1:
            segments.append(Segment((run,), prefix=True))
        else:
            segments.append(Segment(tuple(_pairs(run))))
    if words:
        segments.append(Segment(tuple(words), prefix=prefix))
    return segments


def all_of(expressions: Sequence[str]) -> str:
    """An FTS5 query that every one of ``expressions`` must satisfy."""
    # Tokens hold word characters only: brackets and operators come from these functions.
    return " AND ".join(f"({e})" if " OR " in e and e[0] != "(" else e for e in expressions)


def any_of(expressions: Sequence[str]) -> str:
    """An FTS5 query that one of ``expressions`` must satisfy."""
    if len(expressions) == 1:
        return expressions[0]
    return "(" + " OR ".join(f"({e})" if " AND " in e else e for e in expressions) + ")"


# Upkeep -----------------------------------------------------------------------------------


def has_index(conn: sqlite3.Connection) -> bool:
    """Whether the database has the index (a file opened read-only may predate it)."""
    sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
    return conn.execute(sql, [TABLE]).fetchone() is not None


def add_documents(conn: sqlite3.Connection, rows: Iterable[Row]) -> None:
    """Index new articles; call in the transaction that stores them."""
    conn.executemany(
        "INSERT INTO articles_fts (rowid, doc) VALUES (?, ?)",
        [(row_id, document(title, summary, text)) for row_id, title, summary, text in rows],
    )


def replace_documents(
    conn: sqlite3.Connection, before: Iterable[Row], after: Iterable[Row]
) -> None:
    """Re-index articles whose text changes from ``before`` to ``after`` (same ids)."""
    conn.executemany(
        "INSERT INTO articles_fts (articles_fts, rowid, doc) VALUES ('delete', ?, ?)",
        [
            (article_id, document(title, summary, text))
            for article_id, title, summary, text in before
        ],
    )
    add_documents(conn, after)


def rebuild(conn: sqlite3.Connection) -> None:
    """Index every stored article from scratch, inside the caller's transaction.

    Used by the migration that creates the index, for a database written before it.
    """
    started = time.monotonic()
    conn.execute("INSERT INTO articles_fts (articles_fts) VALUES ('delete-all')")
    total, after = 0, -1
    select = "SELECT id, title, summary, text FROM articles WHERE id > ? ORDER BY id LIMIT ?"
    while rows := conn.execute(select, [after, BATCH]).fetchall():
        add_documents(conn, rows)
        total += len(rows)
        after = rows[-1][0]
    if total:
        logger.info(
            "search index built over %d articles in %.1f s", total, time.monotonic() - started
        )


def merge_some(conn: sqlite3.Connection, pages: int = 1000) -> bool:
    """Merge a bounded amount of the index's segments (about ``pages`` pages written);
    returns whether there was any work.

    A contentless index marks a deleted row's tokens rather than removing them; merging
    segments drops the marks and what they hide. FTS5 merges as rows are added, too; a
    full merge ('optimize') would rewrite the whole index at once, minutes of blocked
    writes for a million articles, so retention does a bounded amount per transaction.
    """
    before = conn.total_changes
    conn.execute("INSERT INTO articles_fts (articles_fts, rank) VALUES ('merge', ?)", [pages])
    return conn.total_changes - before > 1


# Lookups ----------------------------------------------------------------------------------


def candidate_ids(
    conn: sqlite3.Connection, expression: str | None, *, min_id: int | None = None
) -> Iterator[int]:
    """Ids of the articles that may match ``expression``, newest (highest id) first.

    ``None`` (the index cannot narrow the query), or a database without the index, walks
    every article. ``min_id`` skips older articles.
    """
    low = -1 if min_id is None else min_id
    cursor = None
    if expression is not None and has_index(conn):
        sql = (
            "SELECT rowid FROM articles_fts WHERE articles_fts MATCH ? AND rowid >= ? "
            "ORDER BY rowid DESC"
        )
        try:
            cursor = conn.execute(sql, [expression, low])
        except sqlite3.OperationalError as exc:
            # A lookup FTS5 refuses must not hide articles: the matcher reads them all.
            logger.warning(
                "search index lookup %r failed (%s); reading every article", expression, exc
            )
    if cursor is None:
        cursor = conn.execute("SELECT id FROM articles WHERE id >= ? ORDER BY id DESC", [low])
    while batch := cursor.fetchmany(BATCH):
        for (article_id,) in batch:
            yield article_id
