"""Trying rules without sending anything: on a text, or over stored articles (backtest)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

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
    scanned: int = 0


def backtest(db: Database, rule: Rule, *, since: datetime) -> Backtest:
    """Run ``rule`` over every stored article fetched since ``since``; nothing is sent."""
    matcher = Matcher.build([rule])
    result = Backtest()
    for article_id, article in articles_fetched_since(db, since):
        result.scanned += 1
        doc = Document(article.title, article.body, article.source, article.url, article.language)
        if matcher.match(doc):
            when = to_iso(article.published or article.fetched) or ""
            result.hits.append((article_id, when, article.source, article.title, article.url))
            result.per_source[article.source] += 1
    return result
