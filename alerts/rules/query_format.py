"""Print a query tree back as query text that parses to the same tree."""

from __future__ import annotations

import re
from typing import assert_never

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
    match node:
        case Term():
            return _word(node.text) + ("*" if node.prefix else "")
        case Phrase():
            return _phrase(node.text)
        case Proximity():
            return f"{_phrase(node.text)}~{node.distance}"
        case Regex():
            return _regex(node.pattern)
        case MatchAll():
            return "*"
        case Field():
            inner = format_query(node.child)
            if isinstance(node.child, And | Or | Not):
                inner = f"({inner})"
            return f"{node.name}:{inner}"
        case Not():
            return "NOT " + _operand(node.child)
        case And():
            return " AND ".join(_operand(c) for c in node.children)
        case Or():
            return " OR ".join(_operand(c) for c in node.children)
        case _:
            assert_never(node)
