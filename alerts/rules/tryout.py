"""Trying rules without sending anything: on a text, or over stored articles (backtest)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from alerts.rules.matcher import Document, Matcher, RuleMatch
from alerts.rules.rule import Rule
from alerts.rules.snippets import Snippet, make_snippets
from crawler.db import Database, to_iso
from crawler.store import articles_fetched_since

DRAFT = "draft"


@dataclass(frozen=True, slots=True)
class TryResult:
    """Whether a rule matched a document, and where."""

    matched: bool
    match: RuleMatch | None
    snippets: tuple[Snippet, ...]


def try_rule(rule: Rule, doc: Document) -> TryResult:
    """Run one rule over one document."""
    found = Matcher.build([rule]).match(doc)
    if not found:
        return TryResult(False, None, ())
    return TryResult(True, found[0], tuple(make_snippets(doc, found[0].hits)))


def highlight(snippet: Snippet, start: str = "[", end: str = "]") -> str:
    """A snippet's text with its highlighted spans wrapped in markers."""
    out, last = [], 0
    for s, e in snippet.highlights:
        out += [snippet.text[last:s], start, snippet.text[s:e], end]
        last = e
    out.append(snippet.text[last:])
    return "".join(out)


@dataclass
class Backtest:
    """What a rule would have alerted over stored articles."""

    hits: list[tuple[int, str, str, str, str]] = field(default_factory=list)  # id, date, src...
    per_source: Counter[str] = field(default_factory=Counter)
    per_day: Counter[str] = field(default_factory=Counter)  # by day fetched, YYYY-MM-DD
    scanned: int = 0
    stopped: bool = False  # keep_going said no before the end
    # Extracts around the hits of the newest matches, by article id (``snippets`` asked).
    snippets: dict[int, tuple[Snippet, ...]] = field(default_factory=dict)


def backtest(
    db: Database,
    rule: Rule,
    *,
    since: datetime,
    snippets: int = 0,
    day_shift: timedelta = timedelta(0),
    keep_going: Callable[[], bool] | None = None,
) -> Backtest:
    """Run ``rule`` over every stored article fetched since ``since``; nothing is sent.

    The extracts of the ``snippets`` newest matches are kept, for showing them; days in
    ``per_day`` are those of a zone ``day_shift`` ahead of UTC. ``keep_going``, asked
    every few hundred articles, stops the run early (``stopped``) when it says no: the
    web editor's preview is not wanted any more once the query has changed.
    """
    matcher = Matcher.build([rule])
    result = Backtest()
    for article_id, article in articles_fetched_since(db, since):
        if keep_going is not None and result.scanned % 256 == 0 and not keep_going():
            result.stopped = True
            break
        result.scanned += 1
        doc = Document(article.title, article.body, article.source, article.url, article.language)
        found = matcher.match(doc)
        if found:
            when = to_iso(article.published or article.fetched) or ""
            result.hits.append((article_id, when, article.source, article.title, article.url))
            result.per_source[article.source] += 1
            result.per_day[(article.fetched + day_shift).date().isoformat()] += 1
            if len(result.snippets) < snippets:
                result.snippets[article_id] = tuple(make_snippets(doc, found[0].hits, limit=1))
    return result
