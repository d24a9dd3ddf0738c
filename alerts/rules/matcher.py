"""Match many rules against a document in one pass.

All rules are compiled together: one Aho-Corasick automaton over the normalised text finds
every literal of every rule, and only rules whose trigger literals appeared (plus the few that
can match without any literal, such as ``NOT x`` or a bare ``/regex/``) are evaluated.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import assert_never

import ahocorasick

from alerts.records import Hit
from alerts.rules.compile import Evaluator, Literals, compile_node, literal_ids
from alerts.rules.query import (
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
    has_positive_terms,
)
from alerts.rules.rule import Rule, parse_rule
from alerts.rules.scan import RawHit, Scan
from crawler.textnorm import NormText

log = logging.getLogger(__name__)

FIELD_ORDER = {"title": 0, "body": 1, "source": 2, "url": 3}


@dataclass(frozen=True, slots=True)
class Document:
    """The parts of an article rules look at."""

    title: str
    body: str
    source: str = ""
    url: str = ""
    language: str | None = None


@dataclass(frozen=True, slots=True)
class RuleMatch:
    """A rule that matched, with the occurrences that made it match."""

    rule: str
    hits: tuple[Hit, ...]


def document_fields(doc: Document, names: Iterable[str]) -> dict[str, str]:
    """The text of each named field of ``doc``."""
    return {name: getattr(doc, name) for name in names}


def finish_hits(
    texts: dict[str, NormText],
    raw: Iterable[RawHit],
    made: dict[RawHit, tuple[tuple[int, int, int, str], Hit]] | None = None,
) -> tuple[Hit, ...]:
    """Map normalised hits to original offsets, drop duplicates and sort them.

    ``made`` caches the mapped hits of one document, shared by the rules matching it.
    """
    if made is None:
        made = {}
    hits: dict[tuple[int, int, int, str], Hit] = {}
    for item in raw:
        entry = made.get(item)
        if entry is None:
            field, start, end, label = item
            a, b = texts[field].original_span(start, end)
            entry = made[item] = ((FIELD_ORDER[field], a, b, label), Hit(field, a, b, label))
        hits[entry[0]] = entry[1]
    return tuple(hits[key] for key in sorted(hits))


class _CompiledRule:
    __slots__ = ("name", "query", "exclude", "languages", "sources", "min_hits", "required")

    def __init__(self, rule: Rule, query: Evaluator, exclude: Evaluator | None, counts: bool):
        self.name = rule.name
        self.query = query
        self.exclude = exclude
        self.languages = frozenset(code.lower() for code in rule.languages)
        self.sources = frozenset(name.casefold() for name in rule.sources)
        # A query without positive terms ("NOT x", "*") has no occurrences to count.
        self.min_hits = rule.min_hits if counts else 0
        self.required = query.required()

    def accepts(self, doc: Document) -> bool:
        if self.languages and doc.language:
            primary = doc.language.strip().replace("_", "-").split("-", 1)[0].lower()
            if primary not in self.languages:
                return False
        return not self.sources or doc.source.casefold() in self.sources

    def evaluate(self, scan: Scan) -> RuleMatch | None:
        if not self.query.true(scan):
            return None
        if self.exclude is not None and self.exclude.true(scan):
            return None
        raw: list[RawHit] = []
        self.query.collect(scan, raw)
        hits = finish_hits(scan.texts, raw, scan.made)
        if len(hits) < self.min_hits:
            return None
        return RuleMatch(self.name, hits)


class Matcher:
    """Every rule compiled into one automaton; :meth:`match` is safe to call from threads."""

    def __init__(
        self,
        rules: list[_CompiledRule],
        literals: Literals,
        always: tuple[int, ...],
        by_literal: list[tuple[int, ...]],
        fields: tuple[str, ...],
    ) -> None:
        self._rules = rules
        self._lengths = literals.lengths
        self._always = always
        self._by_literal = by_literal
        self._fields = fields
        self.rule_names: tuple[str, ...] = tuple(r.name for r in rules)
        self._automaton = None
        if literals.ids:
            automaton = ahocorasick.Automaton()
            for literal, kid in literals.ids.items():
                automaton.add_word(literal, kid)
            automaton.make_automaton()
            self._automaton = automaton

    @classmethod
    def build(cls, rules: Iterable[Rule]) -> Matcher:
        """Compile ``rules``; raises :class:`QueryError` naming the first malformed rule."""
        literals = Literals()
        compiled: list[_CompiledRule] = []
        fields = {"title", "body"}
        for rule in rules:
            parsed = parse_rule(rule)
            query = compile_node(parsed.query, literals)
            exclude = None if parsed.exclude is None else compile_node(parsed.exclude, literals)
            literals.rule_counts.update(literal_ids(query))
            compiled.append(_CompiledRule(rule, query, exclude, has_positive_terms(parsed.query)))
            fields.update(_fields_of(parsed.query))
            if parsed.exclude is not None:
                fields.update(_fields_of(parsed.exclude))
        always, by_literal = _index_triggers(compiled, literals)
        log.debug(
            "compiled %d rules: %d literals, %d always evaluated",
            len(compiled),
            len(literals.lengths),
            len(always),
        )
        order = tuple(f for f in ("title", "body", "source", "url") if f in fields)
        return cls(compiled, literals, always, by_literal, order)

    def match(self, doc: Document) -> list[RuleMatch]:
        """Every rule matching ``doc``, in the order the rules were given."""
        scan = Scan(self._automaton, self._lengths, document_fields(doc, self._fields))
        candidates = set(self._always)
        by_literal = self._by_literal
        for kid in scan.present:
            candidates.update(by_literal[kid])
        present = scan.present
        out = []
        for index in sorted(candidates):
            rule = self._rules[index]
            if rule.required and not rule.required <= present:
                continue
            if rule.accepts(doc):
                found = rule.evaluate(scan)
                if found is not None:
                    out.append(found)
        return out


def _fields_of(node: Node) -> set[str]:
    """The fields a query names explicitly (``title:x``)."""
    match node:
        case Field():
            return {node.name}
        case Not():
            return _fields_of(node.child)
        case And() | Or():
            return set().union(*(_fields_of(c) for c in node.children))
        case Term() | Phrase() | Proximity() | Regex() | MatchAll():
            return set()
        case _:
            assert_never(node)


def _index_triggers(
    rules: list[_CompiledRule], literals: Literals
) -> tuple[tuple[int, ...], list[tuple[int, ...]]]:
    """Rules to evaluate always, and for each literal the rules it triggers."""
    counts = literals.rule_counts

    def cost(option: frozenset[int]) -> tuple[int, int]:
        # Prefer the literals fewest rules use: they are the most specific.
        return sum(counts[k] for k in option), len(option)

    always: list[int] = []
    by_literal: list[list[int]] = [[] for _ in literals.lengths]
    for index, rule in enumerate(rules):
        triggers = rule.query.triggers(cost)
        if triggers is None:
            always.append(index)
            continue
        for kid in triggers:
            by_literal[kid].append(index)
    return tuple(always), [tuple(r) for r in by_literal]
