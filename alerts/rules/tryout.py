"""Trying rules without sending anything: on a text, or over stored articles (backtest)."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import assert_never

from alerts.errors import QueryError
from alerts.rules.matcher import Document, Matcher, RuleMatch
from alerts.rules.query import And, Field, MatchAll, Node, Not, Or, Phrase, Proximity, Regex, Term
from alerts.rules.query_format import format_query
from alerts.rules.rule import Rule, parse_rule
from alerts.rules.snippets import Snippet, make_snippets
from crawler.db import Database, from_iso, to_iso
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


def explain_miss(rule: Rule, doc: Document) -> list[str]:
    """Why ``rule`` did not match ``doc``, when something other than a missing word did.

    Says when ``exclude`` vetoed a match or ``min_hits`` was not reached, and when a word
    of the query occurs only in another form (``raid`` misses *raids*; ``raid*`` finds it).
    """
    reasons = []
    if rule.exclude is not None and try_rule(dataclasses.replace(rule, exclude=None), doc).matched:
        reasons.append(f"the query matches, but exclude vetoes it: {rule.exclude}")
    elif rule.min_hits > 1:
        loose = try_rule(dataclasses.replace(rule, min_hits=1), doc)
        if loose.matched and loose.match is not None:
            reasons.append(
                f"the query matches with {len(loose.match.hits)} hit(s), "
                f"fewer than min_hits = {rule.min_hits}"
            )
    return reasons + _prefix_hints(rule, doc)


def _prefix_hints(rule: Rule, doc: Document) -> list[str]:
    """``raid* would match: raids`` for each whole-word term whose prefix form would match."""
    query = parse_rule(rule).query
    hints = []
    for term in dict.fromkeys(_bare_terms(query, positive=True)):
        try:
            wider = dataclasses.replace(rule, query=format_query(_as_prefix(query, term)))
            result = try_rule(wider, doc)
        except QueryError:
            continue
        if not result.matched or result.match is None:
            continue
        label = f"{term.text.lower()}*"
        found = {
            getattr(doc, hit.field)[hit.start : hit.end]
            for hit in result.match.hits
            if hit.term.lower() == label
        }
        shown = ", ".join(sorted(found)) or "another form"
        hints.append(
            f"hint: {term.text} matches whole words only; {term.text}* would match: {shown}"
        )
    return hints


def _bare_terms(node: Node, *, positive: bool) -> Iterator[Term]:
    """The whole-word terms of a query outside NOT, in order."""
    match node:
        case Term():
            if positive and not node.prefix:
                yield node
        case Field():
            yield from _bare_terms(node.child, positive=positive)
        case Not():
            yield from _bare_terms(node.child, positive=not positive)
        case And() | Or():
            for child in node.children:
                yield from _bare_terms(child, positive=positive)
        case Phrase() | Proximity() | Regex() | MatchAll():
            pass
        case _:
            assert_never(node)


def _as_prefix(node: Node, term: Term) -> Node:
    """``node`` with every occurrence of the whole-word ``term`` made a prefix term."""
    match node:
        case Term():
            return Term(term.text, prefix=True) if node == term else node
        case Field():
            return Field(node.name, _as_prefix(node.child, term))
        case Not():
            return Not(_as_prefix(node.child, term))
        case And():
            return And(tuple(_as_prefix(child, term) for child in node.children))
        case Or():
            return Or(tuple(_as_prefix(child, term) for child in node.children))
        case Phrase() | Proximity() | Regex() | MatchAll():
            return node
        case _:
            assert_never(node)


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
    matches: dict[int, RuleMatch] = field(default_factory=dict)  # by article id
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
        if found := matcher.match(doc):
            result.matches[article_id] = found[0]
            when = to_iso(article.published or article.fetched) or ""
            result.hits.append((article_id, when, article.source, article.title, article.url))
            result.per_source[article.source] += 1
            result.per_day[(article.fetched + day_shift).date().isoformat()] += 1
            if len(result.snippets) < snippets:
                result.snippets[article_id] = tuple(make_snippets(doc, found[0].hits, limit=1))
    # Newest first by the time shown (published, else fetched), not by when it was fetched.
    result.hits.sort(key=lambda hit: (from_iso(hit[1]) or since, hit[0]), reverse=True)
    return result
