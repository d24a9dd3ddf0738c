"""Every function that walks a query tree handles every node type.

A new operator is a new class in ``alerts.rules.query_ast`` added to ``Node``; these tests
fail, naming the walker and the node type, until every walker handles it. Walkers are found
by their signature: any function in ``alerts.rules`` taking a ``Node`` parameter.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import types
import typing
from collections.abc import Callable, Iterator

import pytest

import alerts.rules
from alerts.rules import (
    archive,
    lint,
    matcher,
    query,
    query_cache,
    query_format,
    reference,
    tryout,
)
from alerts.rules.compile import Literals, compile_node
from alerts.rules.matcher import Document
from alerts.rules.query import DEFAULT_FIELDS
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

NODE_TYPES: tuple[type, ...] = typing.get_args(Node)

# One sample per node type; compound nodes hold leaves so walkers recurse into them.
SAMPLES: dict[type, Node] = {
    Term: Term("traffick", prefix=True),
    Phrase: Phrase("scam compound"),
    Proximity: Proximity("scam compound", 3),
    Regex: Regex(r"fraud\w*"),
    MatchAll: MatchAll(),
    Field: Field("title", Term("scam")),
    And: And((Term("scam"), Phrase("online fraud"))),
    Or: Or((Term("scam"), Regex("rai[ds]"))),
    Not: Not(Term("scam")),
}

_DOC = Document(title="Scam compound raided", body="Police raided a traffickers' den.")


def _lint_compile(node: Node) -> object:
    found: list[lint._Var] = []
    check = lint._compile(node, DEFAULT_FIELDS, found)
    return check(dict.fromkeys(found, True))


def _reference_env() -> reference._Env:
    return reference._Env(_DOC, {})


# How to call each walker on one node; the node is the only argument that varies.
WALKERS: dict[str, Callable[[Node], object]] = {
    "alerts.rules.query_format.format_query": query_format.format_query,
    "alerts.rules.query_format._operand": query_format._operand,
    "alerts.rules.query.has_positive_terms": query.has_positive_terms,
    "alerts.rules.compile.compile_node": lambda node: compile_node(node, Literals()),
    "alerts.rules.lint._compile": _lint_compile,
    "alerts.rules.lint._polarity": lambda node: lint._polarity(node, DEFAULT_FIELDS, True, set()),
    "alerts.rules.matcher._fields_of": matcher._fields_of,
    "alerts.rules.reference._holds": lambda node: reference._holds(
        node, DEFAULT_FIELDS, _reference_env()
    ),
    "alerts.rules.reference._evaluate": lambda node: reference._evaluate(
        node, DEFAULT_FIELDS, _reference_env()
    ),
    "alerts.rules.reference._positive": reference._positive,
    "alerts.rules.lint._collect_words": lambda node: lint._collect_words(
        node, DEFAULT_FIELDS, True, lint._Words([], set(), set())
    ),
    "alerts.rules.tryout._bare_terms": lambda node: list(tryout._bare_terms(node, positive=True)),
    "alerts.rules.tryout._as_prefix": lambda node: tryout._as_prefix(node, Term("scam")),
    "alerts.rules.query_cache.encode": query_cache.encode,
    "alerts.rules.archive.index_expression": archive.index_expression,
}


def _takes_node(annotation: object) -> bool:
    """True for ``Node`` and for unions that contain it (``Node | None``)."""
    if isinstance(annotation, str):  # postponed evaluation: the annotation as written
        return re.search(r"\bNode\b", annotation) is not None
    members = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else ()
    return set(NODE_TYPES) <= set(members or (annotation,))


def _walkers_in_rules() -> Iterator[str]:
    """Qualified names of the functions in alerts.rules that take a Node argument."""
    for info in pkgutil.iter_modules(alerts.rules.__path__, "alerts.rules."):
        module = importlib.import_module(info.name)
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if function.__module__ != module.__name__:
                continue
            parameters = inspect.signature(function).parameters.values()
            if any(_takes_node(p.annotation) for p in parameters):
                yield f"{module.__name__}.{name}"


def test_query_walkers_every_node_type_has_a_sample():
    missing = [kind.__name__ for kind in NODE_TYPES if kind not in SAMPLES]
    assert not missing, f"add a sample of {', '.join(missing)} to SAMPLES"
    assert all(type(SAMPLES[kind]) is kind for kind in NODE_TYPES)


def test_query_walkers_are_all_listed():
    found = set(_walkers_in_rules())
    unlisted = sorted(found - set(WALKERS))
    assert not unlisted, f"new query walkers: add them to WALKERS so they are tested: {unlisted}"
    gone = sorted(set(WALKERS) - found)
    assert not gone, f"WALKERS lists functions that no longer take a Node: {gone}"


@pytest.mark.parametrize("kind", NODE_TYPES, ids=lambda kind: kind.__name__)
@pytest.mark.parametrize("walker", sorted(WALKERS))
def test_query_walker_handles_node_type(walker: str, kind: type) -> None:
    if kind not in SAMPLES:
        pytest.fail(f"cannot check {walker} on {kind.__name__}: add a sample to SAMPLES")
    try:
        WALKERS[walker](SAMPLES[kind])
    except AssertionError as exc:  # typing.assert_never: no case for this node type
        pytest.fail(f"{walker} does not handle {kind.__name__}: {exc}")
