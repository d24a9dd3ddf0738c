"""A rule being written: read from a form, checked like ``check``, previewed over the archive.

Shared by the rule editor and the search page: both parse a query, show an error at its
line and column, and run it over the stored articles of a period.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from alerts.errors import QueryError
from alerts.rules.archive import SearchFilter, search
from alerts.rules.lint import lint_rule
from alerts.rules.rule import Rule
from alerts.rules.snippets import Snippet
from alerts.rules.tryout import DRAFT
from crawler.db import Database
from crawler.store import count_fetched_since
from scheduler.web.pages.common import Form, split_list
from scheduler.web.render import day_series, local_today, shift_minutes

SHOWN = 25
# Matches counted per day and per source; a common word over a month matches thousands,
# and each is decided by the matcher: past this many the page says "more than".
COUNTED = 200
_AT_POSITION = re.compile(r" at position \d+$")


@dataclass(frozen=True, slots=True)
class QueryProblem:
    """A query error, placed: which part, the message, the line with a caret under it."""

    part: str
    message: str
    hint: str | None
    line_number: int
    column: int
    line: str


@dataclass(frozen=True, slots=True)
class Check:
    """What ``check`` says about a draft: an error, or warnings (possibly none)."""

    problem: QueryProblem | None
    warnings: list[str]


@dataclass(frozen=True, slots=True)
class PreviewHit:
    """One stored article the draft matches."""

    article_id: int
    when: datetime | None
    source: str
    title: str
    url: str
    snippets: tuple[Snippet, ...]


@dataclass(frozen=True, slots=True)
class Preview:
    """What a draft would have matched over a period."""

    period: str
    matched: int
    scanned: int
    per_day: list[tuple[str, int]]
    per_source: list[tuple[str, int]]
    hits: list[PreviewHit]
    complete: bool = True  # False: more than ``matched`` match; the newest were counted


def draft_rule(form: Form, name: str = DRAFT) -> Rule:
    """The rule the form describes (unchecked)."""
    try:
        min_hits = int(form.get("min_hits") or 1)
    except ValueError:
        min_hits = 0  # reported by the check
    return Rule(
        name=name,
        query=form.raw("query").strip(),
        exclude=form.raw("exclude").strip() or None,
        languages=tuple(code.lower() for code in split_list(form.get("languages"))),
        sources=tuple(form.all("sources")),
        min_hits=min_hits,
    )


def place_error(exc: QueryError) -> QueryProblem:
    """Turn a QueryError into the line and column it points at."""
    message = exc.message
    part = next((p for p in ("query", "exclude") if f": {p}: " in message), "rule")
    message = message.split(f": {part}: " if part != "rule" else "': ", 1)[-1]
    message = _AT_POSITION.sub("", message)
    text = exc.query or ""
    position = max(0, min(exc.position or 0, len(text)))
    line_number = text.count("\n", 0, position) + 1
    start = text.rfind("\n", 0, position) + 1
    end = text.find("\n", position)
    line = text[start : end if end >= 0 else len(text)]
    return QueryProblem(part, message, exc.hint, line_number, position - start, line)


def check_draft(rule: Rule) -> Check:
    """Parse the draft and collect ``check``'s warnings about it."""
    if not rule.query:
        return Check(None, [])
    try:
        return Check(None, lint_rule(rule))
    except QueryError as exc:
        return Check(place_error(exc), [])


def preview_draft(
    db: Database,
    rule: Rule,
    period: str,
    length: timedelta,
    timezone: str,
    now: datetime,
    keep_going: Callable[[], bool] | None = None,
) -> Preview:
    """Run the draft over the articles fetched in the period (nothing is sent).

    The archive's full-text index finds the candidates and the matcher decides, exactly
    as ``newswatch search QUERY --since PERIOD`` does.
    """
    shift = timedelta(minutes=shift_minutes(timezone, now))
    since = now - length
    where = SearchFilter(since=since, sources=rule.sources)
    per_day: Counter[str] = Counter()
    per_source: Counter[str] = Counter()
    hits: list[PreviewHit] = []
    matched, complete = 0, True
    for found in search(db, rule, where, keep_going=keep_going):
        if matched == COUNTED:
            complete = False
            break
        article = found.article
        matched += 1
        per_source[article.source] += 1
        per_day[(article.fetched + shift).date().isoformat()] += 1
        if len(hits) < SHOWN:
            when = article.published or article.fetched
            snippets = found.snippets(limit=1)
            hits.append(
                PreviewHit(
                    found.article_id, when, article.source, article.title, article.url, snippets
                )
            )
    return Preview(
        period=period,
        matched=matched,
        scanned=count_fetched_since(db, since),
        per_day=day_series(per_day, max(1, length.days), today=local_today(timezone, now)),
        per_source=per_source.most_common(),
        hits=hits,
        complete=complete,
    )
