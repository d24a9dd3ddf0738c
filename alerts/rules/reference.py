"""A plain evaluator: each rule on its own, each term found by its own regular expression.

It defines what the compiled :class:`alerts.rules.matcher.Matcher` must answer, and is the naive
baseline in ``benchmarks/matcher.py``. It shares only text normalisation, the query parser and
the final ordering of hits with the compiled matcher; finding terms, word boundaries,
proximity windows and boolean logic are all done independently here.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import assert_never

from alerts.rules.matcher import Document, RuleMatch, document_fields, finish_hits
from alerts.rules.query import (
    DEFAULT_FIELDS,
    And,
    Field,
    Leaf,
    MatchAll,
    Node,
    Not,
    Or,
    Phrase,
    Proximity,
    Regex,
    Term,
    compile_regex,
    leaf_literal,
)
from alerts.rules.rule import ParsedRule, Rule, language_allowed, parse_rule, source_allowed
from alerts.rules.scan import RawHit
from crawler.textnorm import NOSPACE_CLASS, NormText, normalise, word_class

# Word characters: letters, digits, underscores and combining marks.
WORD_CLASS = word_class()
_AFTER = f"(?:(?![{WORD_CLASS}])|(?=[{NOSPACE_CLASS}]))"
_WORD_CHAR_RE = re.compile(f"[{WORD_CLASS}]")
_NOSPACE_RE = re.compile(f"[{NOSPACE_CLASS}]")


def _on_boundary(ch: str) -> bool:
    """A term edge character of a space-delimited script must sit on a word boundary."""
    return bool(_WORD_CHAR_RE.match(ch)) and not _NOSPACE_RE.match(ch)


def _literal_pattern(literal: str, prefix: bool, field: str) -> re.Pattern[str]:
    """A pattern for the literal on the word boundaries its edges need."""
    body = re.escape(literal)
    pattern = body
    if field != "url":
        if _on_boundary(literal[0]):
            # Checked behind the literal so that the search can skip ahead to the literal.
            pattern += f"(?:(?<![{WORD_CLASS}]{body})|(?<=[{NOSPACE_CLASS}]{body}))"
        if _on_boundary(literal[-1]):
            # A prefix term's occurrence runs on to the end of the word.
            pattern += f"(?:(?![{NOSPACE_CLASS}])[{WORD_CLASS}])*" if prefix else _AFTER
    return re.compile(pattern)


class _Env:
    """One document's normalised fields and the regexes compiled so far."""

    def __init__(self, doc: Document, patterns: dict[tuple[str, bool, str], re.Pattern[str]]):
        self.doc = doc
        self.patterns = patterns
        self.texts: dict[str, NormText] = {}

    def text(self, field: str) -> str:
        if field not in self.texts:
            self.texts[field] = normalise(document_fields(self.doc, [field])[field])
        return self.texts[field].text

    def _pattern(self, literal: str, prefix: bool, field: str) -> re.Pattern[str]:
        key = (literal, prefix, field)
        if key not in self.patterns:
            self.patterns[key] = _literal_pattern(literal, prefix, field)
        return self.patterns[key]

    def occurs(self, literal: str, prefix: bool, field: str) -> bool:
        return self._pattern(literal, prefix, field).search(self.text(field)) is not None

    def spans(self, literal: str, prefix: bool, field: str) -> list[tuple[int, int]]:
        """Every occurrence, overlapping ones too ("aa" twice in "aaa")."""
        pattern, text = self._pattern(literal, prefix, field), self.text(field)
        found = []
        m = pattern.search(text)
        while m is not None:
            found.append(m.span())
            m = pattern.search(text, m.start() + 1)
        return found


def _position(text: str, offset: int) -> int:
    """Words are separated by single spaces in normalised text: count those before."""
    return text[:offset].count(" ")


def _proximity_hits(node: Proximity, fields: tuple[str, ...], env: _Env) -> list[RawHit]:
    words = leaf_literal(node).split(" ")
    need = Counter(words)
    limit = len(words) - 1 + node.distance
    hits: set[RawHit] = set()
    for field in fields:
        text = env.text(field)
        items = [
            (_position(text, a), word, a, b)
            for word in need
            for a, b in env.spans(word, False, field)
        ]
        for first in {pos for pos, _, _, _ in items}:
            window = [item for item in items if first <= item[0] <= first + limit]
            have = Counter(word for _, word, _, _ in window)
            if all(have[w] >= n for w, n in need.items()):
                hits.update((field, a, b, word) for _, word, a, b in window)
    return sorted(hits)


def _leaf_hits(node: Leaf, fields: tuple[str, ...], env: _Env) -> list[RawHit]:
    """Every occurrence of a leaf in ``fields``."""
    match node:
        case Proximity():
            return _proximity_hits(node, fields, env)
        case Regex():
            pattern = compile_regex(node.pattern)
            return [
                (f, m.start(), m.end(), f"/{node.pattern}/")
                for f in fields
                for m in pattern.finditer(env.text(f))
                if m.end() > m.start()
            ]
        case Term() | Phrase():
            literal = leaf_literal(node)
            prefix = isinstance(node, Term) and node.prefix
            label = literal + "*" if prefix else literal
            return [(f, a, b, label) for f in fields for a, b in env.spans(literal, prefix, f)]
        case _:
            assert_never(node)


def _holds(node: Node, fields: tuple[str, ...], env: _Env) -> bool:
    """Whether ``node`` holds, stopping at the first occurrence of each term."""
    match node:
        case MatchAll():
            return True
        case Field():
            return _holds(node.child, (node.name,), env)
        case Not():
            return not _holds(node.child, fields, env)
        case And():
            return all(_holds(c, fields, env) for c in node.children)
        case Or():
            return any(_holds(c, fields, env) for c in node.children)
        case Term() | Phrase():
            prefix = isinstance(node, Term) and node.prefix
            return any(env.occurs(leaf_literal(node), prefix, f) for f in fields)
        case Proximity() | Regex():
            return bool(_leaf_hits(node, fields, env))
        case _:
            assert_never(node)


def _evaluate(node: Node, fields: tuple[str, ...], env: _Env) -> tuple[bool, list[RawHit]]:
    """Whether ``node`` holds, and the hits of its positive parts that hold."""
    match node:
        case MatchAll():
            return True, []
        case Field():
            return _evaluate(node.child, (node.name,), env)
        case Not():
            holds, _ = _evaluate(node.child, fields, env)
            return not holds, []
        case And() | Or():
            results = [_evaluate(c, fields, env) for c in node.children]
            combine = all if isinstance(node, And) else any
            holds = combine(h for h, _ in results)
            hits = [hit for h, found in results if h for hit in found]
            return holds, hits if holds else []
        case Term() | Phrase() | Proximity() | Regex():
            hits = _leaf_hits(node, fields, env)
            return bool(hits), hits
        case _:
            assert_never(node)


def _positive(node: Node) -> bool:
    match node:
        case Not() | MatchAll():
            return False
        case Field():
            return _positive(node.child)
        case And() | Or():
            return any(_positive(c) for c in node.children)
        case Term() | Phrase() | Proximity() | Regex():
            return True
        case _:
            assert_never(node)


class ReferenceMatcher:
    """Rules parsed once; each :meth:`match` checks them one after another."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self._rules: list[ParsedRule] = [parse_rule(r) for r in rules]
        self._patterns: dict[tuple[str, bool, str], re.Pattern[str]] = {}

    def match(self, doc: Document) -> list[RuleMatch]:
        """Every rule matching ``doc``, in rule order."""
        env = _Env(doc, self._patterns)
        out = []
        for parsed in self._rules:
            rule = parsed.rule
            if not (language_allowed(rule, doc.language) and source_allowed(rule, doc.source)):
                continue
            if not _holds(parsed.query, DEFAULT_FIELDS, env):
                continue
            if parsed.exclude is not None and _holds(parsed.exclude, DEFAULT_FIELDS, env):
                continue
            raw = _evaluate(parsed.query, DEFAULT_FIELDS, env)[1]
            hits = finish_hits(env.texts, raw)
            if _positive(parsed.query) and len(hits) < rule.min_hits:
                continue
            out.append(RuleMatch(rule.name, hits))
        return out


def reference_match(rules: Iterable[Rule], doc: Document) -> list[RuleMatch]:
    """Match ``rules`` against ``doc`` the slow, obvious way."""
    return ReferenceMatcher(rules).match(doc)
