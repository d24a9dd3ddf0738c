"""Print a query tree back as query text that parses to the same tree."""

from __future__ import annotations

import re

from alerts.rules.query_ast import (
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
)

# Characters luqum treats specially somewhere in a word, plus whitespace.
_WORD_SPECIAL_RE = re.compile(r"""([\s:^~(){}\[\]/"'+\-\\<>*?!&|])""")
_RESERVED = {"AND", "OR", "NOT", "TO"}


def _word(text: str) -> str:
    escaped = _WORD_SPECIAL_RE.sub(r"\\\1", text)
    if text in _RESERVED:
        escaped = "\\" + escaped
    return escaped


def _phrase(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _regex(pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            out.append(pattern[i : i + 2])
            i += 2
            continue
        out.append("\\/" if pattern[i] == "/" else pattern[i])
        i += 1
    return "/" + "".join(out) + "/"


def _operand(node: Node) -> str:
    text = format_query(node)
    return f"({text})" if isinstance(node, And | Or) else text


def format_query(node: Node) -> str:
    """Query text for ``node``; ``parse_query(format_query(n)) == n`` for parsed trees."""
    if isinstance(node, Term):
        return _word(node.text) + ("*" if node.prefix else "")
    if isinstance(node, Phrase):
        return _phrase(node.text)
    if isinstance(node, Proximity):
        return f"{_phrase(node.text)}~{node.distance}"
    if isinstance(node, Regex):
        return _regex(node.pattern)
    if isinstance(node, MatchAll):
        return "*"
    if isinstance(node, Field):
        inner = format_query(node.child)
        if isinstance(node.child, And | Or | Not):
            inner = f"({inner})"
        return f"{node.name}:{inner}"
    if isinstance(node, Not):
        return "NOT " + _operand(node.child)
    if isinstance(node, And):
        return " AND ".join(_operand(c) for c in node.children)
    if isinstance(node, Or):
        return " OR ".join(_operand(c) for c in node.children)
    raise TypeError(f"not a query node: {node!r}")
