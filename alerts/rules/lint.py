"""Warnings about rules that are valid but probably not what their author meant.

Each distinct term of a rule is treated as a yes/no variable, with the implications between
terms that always hold (the phrase ``"scam compound"`` implies the word ``scam``; ``title:x``
implies ``x``; ``trafficking`` implies ``traffick*``). A rule that is false under every
assignment can never match; a rule that is true when only very common words occur matches
almost every article.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import assert_never

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
    has_positive_terms,
    leaf_literal,
)
from alerts.rules.query_format import format_query
from alerts.rules.rule import Rule, parse_rule
from crawler.textnorm import normalise

# More distinct terms than this and the exhaustive "can never match" check is skipped.
MAX_TERMS = 14

# Words so frequent that a rule matching on one of them alone matches nearly everything.
_COMMON_TEXT = """
    a an and are as at be but by for from had has have he her his i in is it its new news
    not of on or report reports said says she that the their they this to today was we were
    will with would year you people also after more one two
    និង នៃ ក្នុង ដែល បាន ជា នេះ ទៅ ពី មាន
    的 是 在 了 和 有 新闻
    ที่ และ ใน ของ การ เป็น ได้
"""
COMMON_WORDS = frozenset(_COMMON_TEXT.split())
_OPERATOR_WORDS = {"and": "AND", "or": "OR", "not": "NOT"}
_SAMPLE = normalise("The news today: people said that 2024 was a year of reports.").text


@dataclass(frozen=True, slots=True)
class _Var:
    kind: str  # "lit", "prox" or "rx"
    fields: tuple[str, ...]
    words: tuple[str, ...] = ()
    prefix: bool = False
    pattern: str = ""

    def label(self) -> str:
        if self.kind == "rx":
            return f"/{self.pattern}/"
        return " ".join(self.words) + ("*" if self.prefix else "")


def _var(leaf: Leaf, fields: tuple[str, ...]) -> _Var:
    match leaf:
        case Regex():
            return _Var("rx", fields, pattern=leaf.pattern)
        case Proximity():
            return _Var("prox", fields, tuple(leaf_literal(leaf).split(" ")))
        case Term() | Phrase():
            words = tuple(leaf_literal(leaf).split(" "))
            return _Var("lit", fields, words, isinstance(leaf, Term) and leaf.prefix)
        case _:
            assert_never(leaf)


def _contains(outer: tuple[str, ...], inner: tuple[str, ...]) -> bool:
    n = len(inner)
    return any(outer[i : i + n] == inner for i in range(len(outer) - n + 1))


def _implies(a: _Var, b: _Var) -> bool:
    """True if ``a`` occurring guarantees that ``b`` occurs."""
    if a == b or a.kind == "rx" or b.kind != "lit" or not set(a.fields) <= set(b.fields):
        return False
    if b.prefix:
        stem = b.words[0]
        if a.prefix:
            return len(b.words) == 1 and len(a.words) == 1 and a.words[0].startswith(stem)
        return len(b.words) == 1 and any(w.startswith(stem) for w in a.words)
    if a.prefix:
        return False
    if a.kind == "prox":
        return len(b.words) == 1 and b.words[0] in a.words
    return _contains(a.words, b.words)


Evaluate = Callable[[dict[_Var, bool]], bool]


def _compile(node: Node, fields: tuple[str, ...], found: list[_Var]) -> Evaluate:
    """A function of the term assignment, collecting the terms into ``found``."""
    match node:
        case MatchAll():
            return lambda env: True
        case Field():
            return _compile(node.child, (node.name,), found)
        case Not():
            inner = _compile(node.child, fields, found)
            return lambda env: not inner(env)
        case And() | Or():
            parts = [_compile(c, fields, found) for c in node.children]
            combine = all if isinstance(node, And) else any
            return lambda env: combine(p(env) for p in parts)
        case Term() | Phrase() | Proximity() | Regex():
            var = _var(node, fields)
            if var not in found:
                found.append(var)
            return lambda env: env[var]
        case _:
            assert_never(node)


def _is_common(var: _Var) -> bool:
    if var.kind == "rx":
        return any(m.end() > m.start() for m in compile_regex(var.pattern).finditer(_SAMPLE))
    if var.kind == "prox" or len(var.words) > 1:
        return False
    word = var.words[0]
    return word in COMMON_WORDS or len(word) == 1 or (var.prefix and len(word) <= 2)


def _close(env: dict[_Var, bool], rules: Implications) -> dict[_Var, bool]:
    """Make every implied term true as well."""
    changed = True
    while changed:
        changed = False
        for a, b in rules:
            if env[a] and not env[b]:
                env[b] = changed = True
    return env


Implications = list[tuple[_Var, _Var]]


def _polarity(node: Node, fields: tuple[str, ...], positive: bool, out: set[_Var]) -> None:
    """Collect into ``out`` the terms that occur outside an odd number of NOTs."""
    match node:
        case Field():
            _polarity(node.child, (node.name,), positive, out)
        case Not():
            _polarity(node.child, fields, not positive, out)
        case And() | Or():
            for child in node.children:
                _polarity(child, fields, positive, out)
        case MatchAll():
            pass
        case Term() | Phrase() | Proximity() | Regex():
            if positive:
                out.add(_var(node, fields))
        case _:
            assert_never(node)


def _satisfiable(
    check: Evaluate, terms: list[_Var], rules: Implications, likely: set[_Var]
) -> bool:
    """Whether some consistent assignment makes ``check`` true.

    The assignment where the ``likely`` terms occur and no other does is tried first: it
    satisfies nearly every real rule, and the exhaustive search only runs for the rest.
    """
    for guess in (likely, set(terms)):
        env = _close({v: v in guess for v in terms}, rules)
        if check(env):
            return True
    if len(terms) > MAX_TERMS:
        return True  # too many to enumerate: assume it can match
    for values in itertools.product((False, True), repeat=len(terms)):
        env = dict(zip(terms, values, strict=True))
        if all(env[b] or not env[a] for a, b in rules) and check(env):
            return True
    return False


def _operator_words(terms: list[_Var]) -> list[str]:
    out = []
    for var in terms:
        if var.kind == "lit" and len(var.words) == 1 and not var.prefix:
            upper = _OPERATOR_WORDS.get(var.words[0])
            if upper:
                out.append(
                    f"'{var.words[0]}' is searched as a word; write {upper} in capitals "
                    "for the operator"
                )
    return out


def _breadth(
    query: Evaluate, exclude: Evaluate, terms: list[_Var], rules: Implications
) -> list[str]:
    nothing = dict.fromkeys(terms, False)
    if query(nothing) and not exclude(nothing):
        if not terms:
            return ["matches every article"]
        return ["matches almost every article: it matches an article containing none of its terms"]
    common = [v for v in terms if _is_common(v)]
    env = _close({**nothing, **dict.fromkeys(common, True)}, rules)
    if query(env) and not exclude(env):
        names = [f"'{v.label()}'" for v in common if env[v]]
        verb = "occurs" if len(names) == 1 else "occur"
        return [f"matches almost every article: {', '.join(names)} {verb} in nearly every text"]
    return []


def lint_rule(rule: Rule) -> list[str]:
    """Warnings for ``rule``: it can never match, or it matches almost everything.

    Raises :class:`alerts.rules.query.QueryError` if the rule is malformed.
    """
    parsed = parse_rule(rule)
    terms: list[_Var] = []
    query = _compile(parsed.query, DEFAULT_FIELDS, terms)
    exclude: Evaluate = lambda env: False  # noqa: E731
    if parsed.exclude is not None:
        exclude = _compile(parsed.exclude, DEFAULT_FIELDS, terms)
    rules = [(a, b) for a in terms for b in terms if _implies(a, b)]
    likely: set[_Var] = set()
    _polarity(parsed.query, DEFAULT_FIELDS, True, likely)
    warnings = _operator_words(terms)
    if not _satisfiable(query, terms, rules, likely):
        return [
            *warnings,
            f"can never match: `{format_query(parsed.query)}` requires and forbids the same terms",
        ]
    if parsed.exclude is not None:
        _polarity(parsed.exclude, DEFAULT_FIELDS, False, likely)
        if not _satisfiable(lambda env: query(env) and not exclude(env), terms, rules, likely):
            return [*warnings, "can never match: exclude vetoes every article the query matches"]
    warnings.extend(_breadth(query, exclude, terms, rules))
    if rule.min_hits > 1 and not has_positive_terms(parsed.query):
        warnings.append("min_hits has no effect: the query has no positive terms to count")
    return warnings


_TEXT_FIELDS = frozenset(("title", "body"))


@dataclass
class _Words:
    """The words a query mentions: bare positive terms, and every literal and prefix."""

    bare: list[str]
    literals: set[str]
    prefixes: set[str]

    def covers(self, form: str) -> bool:
        return form in self.literals or any(form.startswith(p) for p in self.prefixes)


def _collect_words(node: Node, fields: tuple[str, ...], positive: bool, out: _Words) -> None:
    match node:
        case Field():
            _collect_words(node.child, (node.name,), positive, out)
        case Not():
            _collect_words(node.child, fields, not positive, out)
        case And() | Or():
            for child in node.children:
                _collect_words(child, fields, positive, out)
        case Term() if node.prefix:
            out.prefixes.add(node.text.lower())
        case Term():
            word = node.text.lower()
            out.literals.add(word)
            # A word written with a capital is taken for a name (China, Bavet), not checked.
            if positive and set(fields) <= _TEXT_FIELDS and node.text == word not in out.bare:
                out.bare.append(word)
        case Phrase() | Proximity():
            out.literals.update(leaf_literal(node).lower().split(" "))
        case Regex() | MatchAll():
            pass  # they mention no word
        case _:
            assert_never(node)


def _either(words: tuple[str, ...]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def word_form_warnings(rule: Rule) -> list[str]:
    """Warnings for bare English words whose other forms the query never matches.

    ``raid`` matches the word *raid* only, so "Second wave of raids" is missed. A word is
    reported when it has common forms (:func:`alerts.rules.wordforms.word_forms`) and the
    query covers none of them, neither as a word nor with a prefix such as ``raid*``.
    Words written with a capital letter are taken for names and not checked, and a query
    that uses a prefix anywhere is taken to know the rule and is not checked at all.
    """
    from alerts.rules.wordforms import word_forms

    words = _Words([], set(), set())
    _collect_words(parse_rule(rule).query, DEFAULT_FIELDS, True, words)
    if words.prefixes:
        # Its author writes prefixes (traffick*), so knows terms match whole words: an
        # exact word next to them is a choice (curated rules use many), not an oversight.
        return []
    warnings = []
    for word in words.bare:
        forms = () if word in COMMON_WORDS else word_forms(word)
        if forms and not any(words.covers(form) for form in forms):
            warnings.append(
                f"'{word}' matches that exact word only, not {_either(forms)}: "
                f"write {word}* to match its other forms too, or add the ones you want"
            )
    return warnings
