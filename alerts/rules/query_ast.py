"""The immutable tree a rule query parses into (see :mod:`alerts.rules.query`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Term:
    """A word; with ``prefix`` it matches any word starting with ``text``."""

    text: str
    prefix: bool = False


@dataclass(frozen=True, slots=True)
class Phrase:
    """Words in this order, separated by whitespace."""

    text: str


@dataclass(frozen=True, slots=True)
class Proximity:
    """All the words of ``text``, in any order, with at most ``distance`` other words between."""

    text: str
    distance: int


@dataclass(frozen=True, slots=True)
class Regex:
    """A Python regular expression searched in the normalised text."""

    pattern: str


@dataclass(frozen=True, slots=True)
class MatchAll:
    """``*``: every document."""


@dataclass(frozen=True, slots=True)
class Field:
    """Restrict ``child`` to one field of the document."""

    name: str
    child: Node


@dataclass(frozen=True, slots=True)
class And:
    """Every child matches."""

    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """At least one child matches."""

    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """The child does not match."""

    child: Node


Node = Term | Phrase | Proximity | Regex | MatchAll | Field | And | Or | Not
Leaf = Term | Phrase | Proximity | Regex
