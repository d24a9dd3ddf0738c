"""Alert rules: a named query plus the filters that narrow which documents it applies to."""

from __future__ import annotations

import re
from dataclasses import dataclass

from alerts.errors import QueryError
from alerts.rules.query import Node, parse_query

_LANGUAGE_RE = re.compile(r"^[a-z]{2}$")


@dataclass(frozen=True, slots=True)
class Rule:
    """A named query.

    ``exclude`` is a second query that vetoes a match. ``languages`` (ISO 639-1 codes) and
    ``sources`` (source names) restrict the documents the rule looks at; empty means any. A
    document whose language is unknown is not excluded by ``languages``. ``min_hits`` is the
    number of occurrences of the query's positive terms the document must contain.
    """

    name: str
    query: str
    exclude: str | None = None
    languages: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    min_hits: int = 1


@dataclass(frozen=True, slots=True)
class ParsedRule:
    """A rule with its queries parsed."""

    rule: Rule
    query: Node
    exclude: Node | None


def _parse_part(rule: Rule, part: str, text: str) -> Node:
    try:
        return parse_query(text)
    except QueryError as exc:
        raise QueryError(
            f"rule {rule.name!r}: {part}: {exc.message}",
            query=exc.query,
            position=exc.position,
            hint=exc.hint,
        ) from None


def _check_filters(rule: Rule) -> None:
    problem = None
    if not rule.name.strip():
        problem = "the rule has no name"
    elif isinstance(rule.min_hits, bool) or not isinstance(rule.min_hits, int):
        problem = f"min_hits must be a whole number, got {rule.min_hits!r}"
    elif rule.min_hits < 1:
        problem = f"min_hits must be at least 1, got {rule.min_hits}"
    else:
        bad = [code for code in rule.languages if not _LANGUAGE_RE.match(code.lower())]
        if bad:
            problem = f"languages must be two-letter ISO 639-1 codes, got {', '.join(bad)}"
    if problem:
        raise QueryError(f"rule {rule.name!r}: {problem}", query=rule.query, position=0)


def parse_rule(rule: Rule) -> ParsedRule:
    """Validate ``rule`` and parse its queries; raises :class:`QueryError` naming the part."""
    _check_filters(rule)
    query = _parse_part(rule, "query", rule.query)
    exclude = None if rule.exclude is None else _parse_part(rule, "exclude", rule.exclude)
    return ParsedRule(rule, query, exclude)


def validate_rule(rule: Rule) -> None:
    """Raise :class:`QueryError` if the rule's query or exclude is malformed."""
    parse_rule(rule)


def language_allowed(rule: Rule, language: str | None) -> bool:
    """True if ``rule`` applies to a document in ``language`` (``None``: unknown)."""
    if not rule.languages or not language:
        return True
    primary = re.split(r"[-_]", language.strip(), maxsplit=1)[0].lower()
    return primary in {code.lower() for code in rule.languages}


def source_allowed(rule: Rule, source: str) -> bool:
    """True if ``rule`` applies to documents from ``source``."""
    if not rule.sources:
        return True
    return source.casefold() in {name.casefold() for name in rule.sources}
