"""Compile parsed queries into evaluators over a :class:`alerts.rules.scan.Scan`.

Every word, phrase, prefix stem and proximity word becomes a literal of one shared
Aho-Corasick automaton; evaluators only look up where the automaton found their literal.
Each compiled query also reports its *trigger* literals (it cannot match unless one of them
occurs) and its *required* literals (it cannot match unless all of them occur).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import assert_never

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
    compile_regex,
    leaf_literal,
)
from alerts.rules.scan import RawHit, Scan
from crawler.textnorm import needs_boundary

# (field, check word boundary at start, at end, extend the span to the end of the word)
Where = tuple[tuple[str, bool, bool, bool], ...]
Triggers = frozenset[int] | None
# Ranks alternative trigger sets; the cheapest is used.
Cost = Callable[[frozenset[int]], tuple[int, int]]


class Literals:
    """The literals of all rules: one id per distinct normalised string."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.lengths: list[int] = []
        self.rule_counts: Counter[int] = Counter()
        # Identical terms of different rules share one probe, evaluated once per document.
        self.probes: dict[tuple[int, Where, str], int] = {}

    def probe(self, kid: int, where: Where, label: str) -> int:
        return self.probes.setdefault((kid, where, label), len(self.probes))

    def add(self, literal: str) -> int:
        kid = self.ids.get(literal)
        if kid is None:
            kid = self.ids[literal] = len(self.lengths)
            self.lengths.append(len(literal))
        return kid


def _where(literal: str, fields: tuple[str, ...], prefix: bool = False) -> Where:
    start = needs_boundary(literal[0])
    end = needs_boundary(literal[-1]) and not prefix
    extend = prefix and needs_boundary(literal[-1])
    # url: matches anywhere inside the URL, so no word boundaries there.
    return tuple(
        (f, False, False, False) if f == "url" else (f, start, end, extend) for f in fields
    )


class Lit:
    """A word, prefix or phrase: true if its literal occurs on the right boundaries."""

    __slots__ = ("kid", "where", "label", "probe")

    def __init__(self, kid: int, where: Where, label: str, probe: int) -> None:
        self.kid, self.where, self.label, self.probe = kid, where, label, probe

    def true(self, scan: Scan) -> bool:
        if self.kid not in scan.present:
            return False
        return bool(self._hits(scan))

    def _hits(self, scan: Scan) -> list[RawHit]:
        hits = scan.probed.get(self.probe)
        if hits is None:
            hits = []
            for where in self.where:
                spans = scan.occurrences(self.kid, *where)
                hits.extend((where[0], a, b, self.label) for a, b in spans)
            scan.probed[self.probe] = hits
        return hits

    def collect(self, scan: Scan, out: list[RawHit]) -> None:
        out.extend(self._hits(scan))

    def triggers(self, cost: Cost) -> Triggers:
        return frozenset((self.kid,))

    def required(self) -> frozenset[int]:
        return frozenset((self.kid,))


class Prox:
    """Proximity: every word, with at most ``distance`` other words in between, any order."""

    __slots__ = ("words", "needs", "fields", "limit")

    def __init__(self, words: list[tuple[int, str, Where]], distance: int) -> None:
        counts = Counter(kid for kid, _, _ in words)
        unique = {kid: (kid, label, where) for kid, label, where in words}
        self.words = list(unique.values())
        self.needs = [counts[kid] for kid in unique]
        self.fields = tuple(w[0] for w in words[0][2])
        self.limit = len(words) - 1 + distance

    def _items(self, scan: Scan, index: int) -> list[tuple[int, int, int, int]] | None:
        items: list[tuple[int, int, int, int]] = []
        for w, ((kid, _, where), need) in enumerate(zip(self.words, self.needs, strict=True)):
            field = where[index][0]
            spans = scan.occurrences(kid, *where[index]) if kid in scan.present else []
            if len(spans) < need:
                return None
            items.extend((scan.position(field, a), w, a, b) for a, b in spans)
        items.sort()
        return items

    def _in_windows(self, scan: Scan, index: int) -> list[RawHit]:
        """Occurrences lying in some window of ``limit`` positions that holds every word."""
        items = self._items(scan, index)
        if not items:
            return []
        field = self.fields[index]
        counts = [0] * len(self.words)
        missing, n, j, marked, out = len(self.words), len(items), 0, 0, []
        i = 0
        while i < n:
            first = items[i][0]
            while j < n and items[j][0] <= first + self.limit:
                w = items[j][1]
                counts[w] += 1
                missing -= counts[w] == self.needs[w]
                j += 1
            if missing == 0:
                for _pos, w, a, b in items[max(i, marked) : j]:
                    out.append((field, a, b, self.words[w][1]))
                marked = j
            while i < n and items[i][0] == first:
                w = items[i][1]
                missing += counts[w] == self.needs[w]
                counts[w] -= 1
                i += 1
        return out

    def _all(self, scan: Scan) -> list[RawHit]:
        key = (id(self), "")
        hits = scan.memo.get(key)
        if hits is None:
            hits = [h for i in range(len(self.fields)) for h in self._in_windows(scan, i)]
            scan.memo[key] = hits
        return hits

    def true(self, scan: Scan) -> bool:
        return bool(self._all(scan))

    def collect(self, scan: Scan, out: list[RawHit]) -> None:
        out.extend(self._all(scan))

    def triggers(self, cost: Cost) -> Triggers:
        return min((frozenset((kid,)) for kid, _, _ in self.words), key=cost)

    def required(self) -> frozenset[int]:
        return frozenset(kid for kid, _, _ in self.words)


class Rx:
    """A regular expression searched in the normalised fields."""

    __slots__ = ("pattern", "fields", "label")

    def __init__(self, pattern: re.Pattern[str], fields: tuple[str, ...]) -> None:
        self.pattern, self.fields, self.label = pattern, fields, f"/{pattern.pattern}/"

    def true(self, scan: Scan) -> bool:
        return any(scan.regex_spans(self.pattern, f) for f in self.fields)

    def collect(self, scan: Scan, out: list[RawHit]) -> None:
        for f in self.fields:
            out.extend((f, a, b, self.label) for a, b in scan.regex_spans(self.pattern, f))

    def triggers(self, cost: Cost) -> Triggers:
        return None

    def required(self) -> frozenset[int]:
        return frozenset()


class Everything:
    """``*``: true for every document, with no hits."""

    __slots__ = ()

    def true(self, scan: Scan) -> bool:
        return True

    def collect(self, scan: Scan, out: list[RawHit]) -> None:
        return None

    def triggers(self, cost: Cost) -> Triggers:
        return None

    def required(self) -> frozenset[int]:
        return frozenset()


class Negation(Everything):
    """True when the child is false; contributes no hits."""

    __slots__ = ("child",)

    def __init__(self, child: Evaluator) -> None:
        self.child = child

    def true(self, scan: Scan) -> bool:
        return not self.child.true(scan)


class AllOf:
    """True when every child is true."""

    __slots__ = ("children",)

    def __init__(self, children: list[Evaluator]) -> None:
        self.children = children

    def true(self, scan: Scan) -> bool:
        return all(c.true(scan) for c in self.children)

    def collect(self, scan: Scan, out: list[RawHit]) -> None:
        for c in self.children:
            c.collect(scan, out)

    def triggers(self, cost: Cost) -> Triggers:
        options = [t for t in (c.triggers(cost) for c in self.children) if t is not None]
        return min(options, key=cost) if options else None

    def required(self) -> frozenset[int]:
        return frozenset().union(*(c.required() for c in self.children))


class AnyOf(AllOf):
    """True when at least one child is true; only true children contribute hits."""

    __slots__ = ()

    def true(self, scan: Scan) -> bool:
        return any(c.true(scan) for c in self.children)

    def collect(self, scan: Scan, out: list[RawHit]) -> None:
        for c in self.children:
            if c.true(scan):
                c.collect(scan, out)

    def triggers(self, cost: Cost) -> Triggers:
        found: set[int] = set()
        for c in self.children:
            t = c.triggers(cost)
            if t is None:
                return None
            found |= t
        return frozenset(found)

    def required(self) -> frozenset[int]:
        return frozenset.intersection(*(c.required() for c in self.children))


Evaluator = Lit | Prox | Rx | Everything | Negation | AllOf | AnyOf


def compile_node(
    node: Node, literals: Literals, fields: tuple[str, ...] = DEFAULT_FIELDS
) -> Evaluator:
    """Build the evaluator for ``node``, registering its literals."""
    match node:
        case Term() | Phrase():
            literal = leaf_literal(node)
            prefix = isinstance(node, Term) and node.prefix
            label = literal + "*" if prefix else literal
            kid, where = literals.add(literal), _where(literal, fields, prefix)
            return Lit(kid, where, label, literals.probe(kid, where, label))
        case Proximity():
            words = leaf_literal(node).split(" ")
            specs = [(literals.add(w), w, _where(w, fields)) for w in words]
            return Prox(specs, node.distance)
        case Regex():
            return Rx(compile_regex(node.pattern), fields)
        case MatchAll():
            return Everything()
        case Field():
            return compile_node(node.child, literals, (node.name,))
        case Not():
            return Negation(compile_node(node.child, literals, fields))
        case And():
            return AllOf([compile_node(c, literals, fields) for c in node.children])
        case Or():
            return AnyOf([compile_node(c, literals, fields) for c in node.children])
        case _:
            assert_never(node)


def literal_ids(evaluator: Evaluator) -> set[int]:
    """Every literal id an evaluator refers to."""
    if isinstance(evaluator, Lit):
        return {evaluator.kid}
    if isinstance(evaluator, Prox):
        return {kid for kid, _, _ in evaluator.words}
    if isinstance(evaluator, Negation):
        return literal_ids(evaluator.child)
    if isinstance(evaluator, AllOf):
        return set().union(*(literal_ids(c) for c in evaluator.children))
    return set()
