"""The archive searched with the rule language: the index proposes, the matcher decides.

:func:`index_expression` turns a query tree into an FTS5 query that every article the
query can match satisfies (:mod:`crawler.fulltext` explains the tokens). It may let through
articles the query does not match, never the reverse. :func:`search` walks the candidates
newest first and runs each through the same compiled matcher the service uses, so a rule's
query pasted into a search finds exactly what the rule matches.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import assert_never

from alerts.rules.matcher import Document, Matcher, RuleMatch
from alerts.rules.query import (
    DEFAULT_FIELDS,
    And,
    Field,
    MatchAll,
    Node,
    Not,
    Or,
    Phrase,
    Proximity,
    Regex,
    Term,
    leaf_literal,
)
from alerts.rules.rule import Rule, parse_rule
from alerts.rules.snippets import Snippet, make_snippets
from crawler import fulltext
from crawler.db import Database, is_postgres
from crawler.models import Article
from crawler.store import article_ids_newest_first, articles_by_ids, first_id_fetched_since

# The fields the index holds; a query on another (source:, url:) cannot be narrowed by it.
INDEXED_FIELDS = frozenset(DEFAULT_FIELDS)
BATCH = 200


def index_expression(node: Node, fields: Collection[str] = DEFAULT_FIELDS) -> str | None:
    """An FTS5 query every article matching ``node`` satisfies; None when there is none."""
    match node:
        case Term() | Phrase():
            if not INDEXED_FIELDS.issuperset(fields):
                return None
            prefix = isinstance(node, Term) and node.prefix
            segments = fulltext.literal_segments(leaf_literal(node), prefix=prefix)
            return fulltext.all_of([s.expression() for s in segments]) if segments else None
        case Proximity():
            words = [index_expression(Term(word), fields) for word in node.text.split()]
            known = [word for word in words if word is not None]
            return fulltext.all_of(known) if known else None
        case Field():
            return index_expression(node.child, (node.name,))
        case And():
            parts = [index_expression(child, fields) for child in node.children]
            known = [part for part in parts if part is not None]
            return fulltext.all_of(known) if known else None
        case Or():
            parts = [index_expression(child, fields) for child in node.children]
            if any(part is None for part in parts):
                return None
            return fulltext.any_of([part for part in parts if part is not None])
        case Not() | MatchAll() | Regex():
            return None
        case _:
            assert_never(node)


@dataclass(frozen=True, slots=True)
class SearchFilter:
    """Which stored articles a search looks at; unset fields do not filter.

    ``since`` and ``until`` are compared with when an article was fetched (as ``rules
    backtest`` does); ``only`` is a set of article ids to stay within (those a rule matched).
    """

    since: datetime | None = None
    until: datetime | None = None
    sources: tuple[str, ...] = ()
    only: Collection[int] | None = None


@dataclass(frozen=True, slots=True)
class Found:
    """An article the query matches, with where."""

    article_id: int
    article: Article
    story_id: int | None
    match: RuleMatch

    @property
    def document(self) -> Document:
        """The article as the matcher saw it."""
        return as_document(self.article)

    def snippets(self, limit: int = 1) -> tuple[Snippet, ...]:
        """Extracts around the hits, from the text as in alerts, else from the title."""
        doc, hits = self.document, self.match.hits
        found = make_snippets(doc, hits, limit=limit, fields=("body",))
        return tuple(found or make_snippets(doc, hits, limit=limit))


def as_document(article: Article) -> Document:
    """What the rule matcher reads of an article."""
    return Document(article.title, article.body, article.source, article.url, article.language)


@dataclass
class SearchStats:
    """How much of the archive a search read; filled in while its results are read."""

    candidates: int = 0
    scanned: int = 0
    stopped: bool = False  # keep_going said no before the end


def search(
    db: Database,
    rule: Rule,
    where: SearchFilter = SearchFilter(),
    *,
    stats: SearchStats | None = None,
    keep_going: Callable[[], bool] | None = None,
) -> Iterator[Found]:
    """Every stored article ``rule`` matches, newest stored first (highest id).

    Lazy: take as many as needed. ``keep_going``, asked once per batch of candidates,
    ends the search early when it says no (``stats.stopped``).
    """
    parsed = parse_rule(rule)
    matcher = Matcher.build([rule])
    stats = stats if stats is not None else SearchStats()
    for batch in _candidate_batches(db, index_expression(parsed.query), where):
        if keep_going is not None and not keep_going():
            stats.stopped = True
            return
        stats.candidates += len(batch)
        stored = articles_by_ids(
            db, batch, since=where.since, until=where.until, sources=where.sources
        )
        for article_id in batch:
            row = stored.get(article_id)
            if row is None:
                continue
            stats.scanned += 1
            if found := matcher.match(as_document(row.article)):
                yield Found(article_id, row.article, row.story_id, found[0])


def _ids(db: Database, expression: str | None, min_id: int | None) -> Iterator[int]:
    if is_postgres(db):
        # The full-text index is SQLite's (FTS5): on PostgreSQL the matcher reads them all.
        return article_ids_newest_first(db, min_id)
    return fulltext.candidate_ids(db.conn, expression, min_id=min_id)


def _candidate_batches(
    db: Database, expression: str | None, where: SearchFilter
) -> Iterator[Sequence[int]]:
    min_id = None
    if where.since is not None:
        min_id = first_id_fetched_since(db, where.since)
        if min_id is None:
            return
    if where.only is not None:
        ids: Iterator[int] = (i for i in _ids(db, expression, min_id) if i in where.only)
        if expression is None:  # walk the few chosen ids, not every article
            floor = -1 if min_id is None else min_id
            ids = iter(sorted((i for i in where.only if i >= floor), reverse=True))
    else:
        ids = _ids(db, expression, min_id)
    while batch := list(islice(ids, BATCH)):
        yield batch
