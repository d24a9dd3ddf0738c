"""The rule query language: a Lucene-style syntax parsed by luqum into our own immutable tree.

Supported: words, ``"phrases"``, ``AND`` / ``OR`` / ``NOT`` (upper case only), ``-word`` and
``+word``, parentheses, implicit AND between juxtaposed parts, trailing ``*`` prefix wildcards,
proximity ``"scam compound"~5``, field restriction (``title:``, ``body:``, ``source:``,
``url:``) and ``/regex/``. A lone ``*`` matches every document.

luqum only parses; the meaning of the tree is defined here and in the matchers.
"""

from __future__ import annotations

import functools
import re
import threading
from typing import assert_never

from luqum import tree
from luqum.exceptions import IllegalCharacterError, ParseSyntaxError
from luqum.parser import lexer as _luqum_lexer
from luqum.parser import parser as _luqum_parser

from alerts.errors import QueryError
from alerts.rules.query_ast import (
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
)
from crawler.textnorm import normalise_term

__all__ = [
    "DEFAULT_FIELDS",
    "FIELDS",
    "And",
    "Field",
    "Leaf",
    "MatchAll",
    "Node",
    "Not",
    "Or",
    "Phrase",
    "Proximity",
    "QueryError",
    "Regex",
    "Term",
    "compile_regex",
    "has_positive_terms",
    "leaf_literal",
    "keep_parsed",
    "parse_query",
]

FIELDS = ("title", "body", "source", "url")
DEFAULT_FIELDS = ("title", "body")

# PLY keeps lexer and parser state on shared objects, so one parse at a time.
_PARSE_LOCK = threading.Lock()
_LEXER = _luqum_lexer.clone()

_SYNTAX_RE = re.compile(r"unexpected\s+'(?P<token>.*)' at position (?P<pos>\d+)", re.DOTALL)
_ILLEGAL_RE = re.compile(r"Illegal character '(?P<char>.)", re.DOTALL)
_ILLEGAL_POS_RE = re.compile(r"at position (?P<pos>\d+)$")
_BAD_DISTANCE_RE = re.compile(r"~[0-9]*\.[0-9.]*")
_ESCAPE_RE = re.compile(r"\\(.)", re.DOTALL)
_UNSUPPORTED = {
    tree.Fuzzy: ("fuzzy matching 'word~' is not supported", "use a quoted phrase for proximity"),
    tree.Boost: ("boosting '^' is not supported", "alerts have no ranking; remove the '^'"),
    tree.Range: ("range queries '[a TO b]' are not supported", None),
    tree.From: ("range queries '>' are not supported", None),
    tree.To: ("range queries '<' are not supported", None),
}


def _fail(text: str, message: str, position: int, hint: str | None = None) -> QueryError:
    return QueryError(f"{message} at position {position}", query=text, position=position, hint=hint)


def _lex_error(text: str, exc: IllegalCharacterError) -> QueryError:
    msg = str(exc)
    pos_m = _ILLEGAL_POS_RE.search(msg)
    char_m = _ILLEGAL_RE.search(msg)
    pos = int(pos_m.group("pos")) if pos_m else 0
    char = char_m.group("char") if char_m else text[pos : pos + 1]
    if char == '"':
        return _fail(text, "unclosed '\"'", pos, hint='close the phrase with a second "')
    if char == "/":
        return _fail(text, "unclosed regular expression '/'", pos, hint="end it with '/'")
    if char == "\\":
        return _fail(text, "nothing to escape after '\\'", pos)
    return _fail(text, f"illegal character {char!r}", pos)


def _check_brackets(text: str) -> None:
    """Report unbalanced parentheses where they are, not at the end of the query."""
    _LEXER.input(text)
    opened: list[int] = []
    try:
        for tok in iter(_LEXER.token, None):
            if tok.type == "LPAREN":
                opened.append(tok.lexpos)
            elif tok.type == "RPAREN":
                if not opened:
                    raise _fail(text, "unexpected ')'", tok.lexpos, hint="no '(' to close")
                opened.pop()
    except IllegalCharacterError as exc:
        raise _lex_error(text, exc) from None
    if opened:
        raise _fail(text, "unclosed '('", opened[-1], hint="add the missing ')'")


def _parse_luqum(text: str) -> tree.Item:
    with _PARSE_LOCK:
        try:
            return _luqum_parser.parse(text, lexer=_LEXER)
        except ParseSyntaxError as exc:
            # Only a failed parse pays for a second pass to point at an unbalanced bracket.
            _check_brackets(text)
            m = _SYNTAX_RE.search(str(exc))
            if m is None:
                raise _fail(text, "unexpected end of query", len(text.rstrip())) from None
            token, pos = m.group("token"), int(m.group("pos"))
            raise _fail(text, f"unexpected {token!r}", pos) from None
        except IllegalCharacterError as exc:
            raise _lex_error(text, exc) from None
        except ValueError:
            # luqum converts the proximity distance with int() inside the grammar.
            m = _BAD_DISTANCE_RE.search(text)
            pos = m.start() if m else 0
            raise _fail(text, "proximity distance must be a whole number", pos) from None


# Parsed trees by query text. A config's queries are parsed when it is validated, then read
# again by the matcher and by lint: each text costs one luqum parse (about 0.45 ms) however
# often it is asked for. The trees are immutable, so sharing them is safe.
PARSE_CACHE_SIZE = 65536


# Trees kept on disk by earlier runs (read on the first parse), and those parsed since.
_kept: dict[str, Node] | None = None
_parsed: dict[str, Node] = {}


@functools.lru_cache(maxsize=PARSE_CACHE_SIZE)
def parse_query(text: str) -> Node:
    """Parse a rule query into an immutable tree; raises :class:`QueryError` if malformed."""
    global _kept
    if not text.strip():
        raise QueryError("the query is empty", query=text, position=0)
    if _kept is None:
        from alerts.rules import query_cache

        _kept = query_cache.load()
    node = _kept.get(text)
    if node is None:
        node = _parsed[text] = _Converter(text).convert(_parse_luqum(text), None)
    return node


def keep_parsed() -> None:
    """Keep the trees parsed by this process on disk for the next one (a config's rules
    then load without luqum: :mod:`alerts.rules.query_cache`)."""
    if not _parsed:
        return
    from alerts.rules import query_cache

    query_cache.save(_kept or {}, dict(_parsed))
    _parsed.clear()


def leaf_literal(leaf: Term | Phrase | Proximity) -> str:
    """The normalised text a word, phrase or proximity group looks for."""
    return normalise_term(leaf.text)


def has_positive_terms(node: Node) -> bool:
    """True if some word, phrase or regex of ``node`` is not under a NOT."""
    match node:
        case Not() | MatchAll():
            return False
        case Field():
            return has_positive_terms(node.child)
        case And() | Or():
            return any(has_positive_terms(c) for c in node.children)
        case Term() | Phrase() | Proximity() | Regex():
            return True
        case _:
            assert_never(node)


def compile_regex(pattern: str) -> re.Pattern[str]:
    """Compile the pattern of a ``/regex/``; case-insensitive like the rest of the language."""
    return re.compile(pattern, re.IGNORECASE)


def _unescape_regex(body: str) -> str:
    # Only "\/" is the query's own escape; every other backslash belongs to the pattern.
    return re.sub(r"\\(.)", lambda m: "/" if m.group(1) == "/" else m.group(0), body, flags=re.S)


class _Converter:
    """Turn luqum's tree into ours, checking what luqum accepts but we do not."""

    def __init__(self, text: str) -> None:
        self.text = text

    def convert(self, item: tree.Item, field: str | None) -> Node:
        for kind, (message, hint) in _UNSUPPORTED.items():
            if isinstance(item, kind):
                raise _fail(self.text, message, item.pos or 0, hint)
        if isinstance(item, tree.BaseGroup | tree.Plus):
            return self.convert(item.expr if isinstance(item, tree.BaseGroup) else item.a, field)
        if isinstance(item, tree.Not | tree.Prohibit):
            return Not(self.convert(item.a, field))
        if isinstance(item, tree.AndOperation | tree.UnknownOperation):
            return And(self._flatten(item, And, field))
        if isinstance(item, tree.OrOperation):
            return Or(self._flatten(item, Or, field))
        if isinstance(item, tree.SearchField):
            return self._field(item, field)
        return self._leaf(item)

    def _flatten(
        self, item: tree.BaseOperation, kind: type[And | Or], field: str | None
    ) -> tuple[Node, ...]:
        children: list[Node] = []
        for operand in item.operands:
            child = self.convert(operand, field)
            children.extend(child.children if isinstance(child, kind) else (child,))
        return tuple(children)

    def _field(self, item: tree.SearchField, outer: str | None) -> Node:
        name = item.name.lower()
        if name not in FIELDS:
            hint = "fields: " + ", ".join(FIELDS)
            raise _fail(self.text, f"unknown field {item.name!r}", item.pos, hint=hint)
        if outer is not None:
            raise _fail(self.text, f"field {item.name!r} inside field {outer!r}", item.pos)
        return Field(name, self.convert(item.expr, name))

    def _leaf(self, item: tree.Item) -> Node:
        if isinstance(item, tree.Word):
            return self._word(item)
        if isinstance(item, tree.Proximity):
            phrase = self._phrase(item.term)
            return Proximity(phrase.text, item.degree)
        if isinstance(item, tree.Phrase):
            return self._phrase(item)
        if isinstance(item, tree.Regex):
            return self._regex(item)
        raise _fail(self.text, f"unsupported syntax {str(item)!r}", item.pos or 0)

    def _word(self, item: tree.Word) -> Term | MatchAll:
        raw = item.value
        if raw == "*":
            return MatchAll()
        prefix = re.search(r"(?<!\\)(?:\\\\)*\*$", raw) is not None
        body = raw[:-1] if prefix else raw
        quote = re.search(r"(?<!\\)(?:\\\\)*\"", raw)
        if quote:
            raise _fail(self.text, "unbalanced '\"'", item.pos + quote.end() - 1)
        wild = re.search(r"(?<!\\)(?:\\\\)*[*?]", body)
        if wild:
            raise _fail(
                self.text,
                "wildcards are only supported at the end of a word",
                item.pos + wild.end() - 1,
                hint="write 'traffick*'; escape a literal '*' or '?' with '\\'",
            )
        term = Term(_ESCAPE_RE.sub(r"\1", body), prefix)
        if not leaf_literal(term):
            raise _fail(self.text, f"{raw!r} is empty once normalised", item.pos)
        return term

    def _phrase(self, item: tree.Phrase) -> Phrase:
        phrase = Phrase(_ESCAPE_RE.sub(r"\1", item.value[1:-1]))
        if not leaf_literal(phrase):
            raise _fail(self.text, "empty phrase", item.pos)
        return phrase

    def _regex(self, item: tree.Regex) -> Regex:
        pattern = _unescape_regex(item.value[1:-1])
        if not pattern:
            raise _fail(self.text, "empty regular expression", item.pos)
        try:
            compile_regex(pattern)
        except re.error as exc:
            offset = exc.pos if exc.pos is not None else 0
            raise _fail(
                self.text, f"invalid regular expression ({exc.msg})", item.pos + 1 + offset
            ) from None
        return Regex(pattern)
