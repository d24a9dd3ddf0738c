"""One document, scanned once: normalised fields and every literal the automaton found in them.

A :class:`Scan` belongs to a single :meth:`alerts.rules.matcher.Matcher.match` call, so the
caches it fills while rules are evaluated are never shared between threads.
"""

from __future__ import annotations

import re
from typing import Any

from crawler.textnorm import NormText, continues_word, normalise, word_position

# (field, start, end, label) in normalised offsets.
RawHit = tuple[str, int, int, str]


class Scan:
    """Normalised fields of a document and where each automaton literal occurs in them."""

    __slots__ = ("texts", "ends", "present", "_lengths", "_occ", "_regex", "memo", "made", "probed")

    def __init__(self, automaton: Any, lengths: list[int], fields: dict[str, str]) -> None:
        self.texts: dict[str, NormText] = {}
        self.ends: dict[str, dict[int, list[int]]] = {}
        present: set[int] = set()
        for field, text in fields.items():
            norm = normalise(text)
            self.texts[field] = norm
            found: dict[int, list[int]] = {}
            if automaton is not None and norm.text:
                for end, kid in automaton.iter(norm.text):
                    ends = found.get(kid)
                    if ends is None:
                        found[kid] = [end]
                    else:
                        ends.append(end)
            self.ends[field] = found
            present.update(found)
        self.present = present
        self._lengths = lengths
        self._occ: dict[tuple[int, str, bool, bool, bool], list[tuple[int, int]]] = {}
        self._regex: dict[tuple[str, str], list[tuple[int, int]]] = {}
        self.memo: dict[tuple[int, str], list[RawHit]] = {}
        self.made: dict[RawHit, Any] = {}  # hits already mapped to original offsets
        self.probed: dict[int, list[RawHit]] = {}  # hits of each term probe evaluated so far

    def occurrences(
        self, kid: int, field: str, check_start: bool, check_end: bool, extend: bool = False
    ) -> list[tuple[int, int]]:
        """Spans of literal ``kid`` in ``field`` that sit on the requested word boundaries.

        With ``extend`` (prefix terms) each span runs on to the end of the word.
        """
        key = (kid, field, check_start, check_end, extend)
        cached = self._occ.get(key)
        if cached is not None:
            return cached
        spans: list[tuple[int, int]] = []
        ends = self.ends[field].get(kid)
        if ends:
            text = self.texts[field].text
            size = len(text)
            length = self._lengths[kid]
            for end in ends:
                start = end - length + 1
                if check_start and start > 0 and continues_word(text[start - 1]):
                    continue
                if check_end and end + 1 < size and continues_word(text[end + 1]):
                    continue
                end += 1
                while extend and end < size and continues_word(text[end]):
                    end += 1
                spans.append((start, end))
        self._occ[key] = spans
        return spans

    def position(self, field: str, offset: int) -> int:
        """Index of the space-separated word of ``field`` at ``offset``."""
        return word_position(self.texts[field].text, offset)

    def regex_spans(self, pattern: re.Pattern[str], field: str) -> list[tuple[int, int]]:
        """Non-empty matches of ``pattern`` in normalised ``field``."""
        key = (pattern.pattern, field)
        spans = self._regex.get(key)
        if spans is None:
            text = self.texts[field].text
            spans = [m.span() for m in pattern.finditer(text) if m.end() > m.start()]
            self._regex[key] = spans
        return spans
