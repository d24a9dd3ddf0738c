"""Text normalisation shared by rule queries and the documents they are matched against.

Both sides go through :func:`normalise`, so a query term and the article text meet in the same
form: NFKC, case folded, Latin accents stripped, typographic quotes and dashes made plain,
invisible joiners removed and whitespace runs collapsed to one space. The normalised text
keeps a map back to the original offsets, so a match found in normalised text can be
highlighted in the text the reader sees.

Word characters are letters, digits, underscores and combining marks. Scripts written
without spaces between words (Khmer, Thai, Lao, Myanmar, Chinese, Japanese kana) have no
word boundaries to check: a term in those scripts matches as a substring.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from functools import cache, lru_cache

# Characters that carry no text: zero-width space, non-joiner, joiner, word joiner, BOM, soft
# hyphen. Removing them lets "Phnom\u00adPenh" and Khmer text full of U+200B match plain terms.
REMOVED = frozenset("\u200b\u200c\u200d\u2060\ufeff\u00ad")

# Scripts whose words are not separated by spaces.
_NOSPACE_RANGES: tuple[tuple[int, int], ...] = (
    (0x0E00, 0x0E7F),  # Thai
    (0x0E80, 0x0EFF),  # Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x19E0, 0x19FF),  # Khmer symbols
    (0x2E80, 0x2FDF),  # CJK radicals
    (0x3005, 0x3007),  # ideographic iteration and number marks
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xA9E0, 0xA9FF),  # Myanmar extended B
    (0xAA60, 0xAA7F),  # Myanmar extended A
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF66, 0xFF9F),  # half-width Katakana
    (0x20000, 0x323AF),  # CJK extensions B and later
)


def class_body(ranges: tuple[tuple[int, int], ...]) -> str:
    """A regular-expression character class body (no brackets) for code point ranges."""
    return "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in ranges)


# A character class (without brackets) of the scripts written without spaces.
NOSPACE_CLASS = class_body(_NOSPACE_RANGES)


def _mark_ranges() -> tuple[tuple[int, int], ...]:
    """Code point ranges of combining marks (general category M*)."""
    ranges: list[tuple[int, int]] = []
    start = None
    for cp in [*range(0x0300, 0x20000), *range(0xE0100, 0xE01F0)]:
        is_mark = unicodedata.category(chr(cp))[0] == "M"
        if is_mark and start is None:
            start = cp
        elif not is_mark and start is not None:
            ranges.append((start, cp - 1))
            start = None
    if start is not None:
        ranges.append((start, 0xE01EF))
    return tuple(ranges)


@cache
def word_class() -> str:
    """A character class (without brackets) of word characters: letters, digits,
    underscores and combining marks.

    Computed on first use, not at import: scanning the code points takes a noticeable part
    of the start-up of every command that loads the config.
    """
    return r"\w" + class_body(_mark_ranges())


# Everything the ASCII fast path cannot copy as is: whitespace that is not one plain space, and
# runs of non-ASCII characters. Every alternative starts with a non-ASCII or space character,
# so the regex engine skips plain ASCII text quickly.
_SPECIAL_RE = re.compile(r"(?P<ws>\s{2,}|[^\S ])|(?P<na>[^\x00-\x7f\s]+)")
# Characters for which a non-ASCII run cannot be copied unchanged even when NFKC-stable:
# removed characters, combining marks used by Latin, precomposed Latin letters.
_CARE_RE = re.compile(
    "[\u200b\u200c\u200d\u2060\ufeff\u00ad\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff"
    "\u20d0-\u20ff\ufe20-\ufe2f\u00c0-\u024f\u1e00-\u1eff\u2c60-\u2c7f\ua720-\ua7ff"
    "\uab30-\uab6f\uff21-\uff3a\uff41-\uff5a\u2010-\u2015\u2018-\u201f\u2032\u2033\u02bc"
    "\u2212]"
)
_WHITESPACE_RE = re.compile(r"\s+")
_REMOVED_RE = re.compile("[" + "".join(sorted(REMOVED)) + "]+")
# Typographic apostrophes, quotes and dashes, so that "Cambodia’s" and "O’Smach" match terms
# typed with a plain keyboard.
_PUNCTUATION = str.maketrans(
    {
        **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032\u02bc", "'"),
        **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033", '"'),
        **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"),
    }
)

_CONTINUES_WORD: dict[str, bool] = {}


def is_nospace_char(ch: str) -> bool:
    """True for a character of a script written without spaces between words."""
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _NOSPACE_RANGES)


def continues_word(ch: str) -> bool:
    """True if ``ch`` next to a word of a space-delimited script makes it part of a longer word."""
    known = _CONTINUES_WORD.get(ch)
    if known is None:
        is_word = ch.isalnum() or ch == "_" or unicodedata.category(ch)[0] == "M"
        known = _CONTINUES_WORD[ch] = is_word and not is_nospace_char(ch)
    return known


@lru_cache(maxsize=8192)
def _normalise_cluster(cluster: str) -> str:
    """Normalise one base character with its combining marks."""
    folded = unicodedata.normalize("NFKC", cluster).casefold().translate(_PUNCTUATION)
    decomposed = unicodedata.normalize("NFKD", folded)
    if decomposed and unicodedata.name(decomposed[0], "").startswith("LATIN "):
        # Accent-insensitive for Latin only: the marks of Khmer, Thai or Myanmar are letters'
        # vowels and signs, and dropping them would corrupt the word.
        return "".join(c for c in decomposed if unicodedata.category(c)[0] != "M")
    return unicodedata.normalize("NFKC", folded)


def _is_mark(ch: str) -> bool:
    return unicodedata.category(ch)[0] == "M" or "\u1160" <= ch <= "\u11ff"


@dataclass(frozen=True, slots=True)
class NormText:
    """Normalised text plus the map from its offsets back to the original text.

    The map is a list of pieces; each starts at ``_norm[i]`` in the normalised text and comes
    from ``_orig[i]:_orig_end[i]`` of the original. A piece is either copied character for
    character (``_same[i]``) or a replacement whose characters all map to the whole source span.
    """

    text: str
    original: str
    _norm: list[int]
    _orig: list[int]
    _orig_end: list[int]
    _same: list[bool]

    def _char_span(self, pos: int) -> tuple[int, int]:
        k = bisect_right(self._norm, pos) - 1
        if self._same[k]:
            start = self._orig[k] + pos - self._norm[k]
            return start, start + 1
        return self._orig[k], self._orig_end[k]

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """Map the normalised span ``[start, end)`` (non-empty) to the original text."""
        return self._char_span(start)[0], self._char_span(end - 1)[1]


class _Builder:
    """Accumulates normalised pieces and the offset map."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.norm: list[int] = []
        self.orig: list[int] = []
        self.orig_end: list[int] = []
        self.same: list[bool] = []
        self.length = 0
        self.last_space = True  # a leading space is dropped, as after any space

    def _add(self, text: str, start: int, end: int, same: bool) -> None:
        self.parts.append(text)
        self.norm.append(self.length)
        self.orig.append(start)
        self.orig_end.append(end)
        self.same.append(same)
        self.length += len(text)
        self.last_space = text[-1] == " "

    def copy(self, text: str, start: int) -> None:
        """Add ``text``, which replaces the original character for character from ``start``."""
        if self.last_space and text.startswith(" "):
            text, start = text[1:], start + 1
        if not text:
            return
        if self.same and self.same[-1] and self.orig_end[-1] == start:
            # Contiguous with the last copied piece: one piece maps both, char for char.
            self.parts[-1] += text
            self.orig_end[-1] += len(text)
            self.length += len(text)
            self.last_space = text[-1] == " "
            return
        self._add(text, start, start + len(text), True)

    def replace(self, text: str, start: int, end: int) -> None:
        """Add ``text`` as the normalised form of original ``[start, end)``."""
        if not text.strip():
            if text:
                self.space(start, end)
            return
        text = _WHITESPACE_RE.sub(" ", text)
        if self.last_space and text.startswith(" "):
            text = text[1:]
        self._add(text, start, end, False)

    def space(self, start: int, end: int) -> None:
        """Add one space for the whitespace run ``[start, end)`` unless one precedes it."""
        if not self.last_space:
            self._add(" ", start, end, False)

    def result(self, original: str) -> NormText:
        if not self.parts:
            self.norm, self.orig, self.orig_end, self.same = [0], [0], [0], [True]
        return NormText(
            "".join(self.parts), original, self.norm, self.orig, self.orig_end, self.same
        )


def _copies_as_is(run: str) -> bool:
    return (
        _CARE_RE.search(run) is None
        and run.casefold() == run
        and unicodedata.is_normalized("NFKC", run)
    )


def _add_run(builder: _Builder, run: str, offset: int) -> None:
    """Normalise a run of non-ASCII characters (possibly led by one ASCII character)."""
    if _copies_as_is(run):
        builder.copy(run, offset)
        return
    if _REMOVED_RE.search(run):
        # Khmer and Thai text is full of zero-width spaces: the pieces between them are
        # usually plain, and no cluster spans a removed character.
        pos = 0
        for removed in _REMOVED_RE.finditer(run):
            if removed.start() > pos:
                _add_run(builder, run[pos : removed.start()], offset + pos)
            pos = removed.end()
        if pos < len(run):
            _add_run(builder, run[pos:], offset + pos)
        return
    i, n = 0, len(run)
    while i < n:
        if run[i] in REMOVED:
            i += 1
            continue
        j = i + 1
        while j < n and run[j] not in REMOVED and _is_mark(run[j]):
            j += 1
        cluster = run[i:j]
        folded = _normalise_cluster(cluster)
        if folded == cluster:
            builder.copy(folded, offset + i)
        else:
            builder.replace(folded, offset + i, offset + j)
        i = j


def normalise(text: str) -> NormText:
    """Normalise ``text`` for matching, keeping the map back to original offsets."""
    builder = _Builder()
    pos = 0
    for m in _SPECIAL_RE.finditer(text):
        start = m.start()
        is_run = m.lastgroup == "na"
        if is_run and start > pos and _is_mark(text[start]):
            start -= 1  # the combining mark belongs with the ASCII letter before it
        if start > pos:
            builder.copy(text[pos:start].lower(), pos)
        if is_run:
            _add_run(builder, text[start : m.end()], start)
        else:
            builder.space(start, m.end())
        pos = m.end()
    if pos < len(text):
        builder.copy(text[pos:].lower(), pos)
    return builder.result(text)


@lru_cache(maxsize=65536)
def normalise_term(text: str) -> str:
    """The normalised form of a query term or phrase, without leading or trailing space."""
    return normalise(text).text.strip()


def needs_boundary(ch: str) -> bool:
    """True if a term starting or ending with ``ch`` must sit at a word boundary there."""
    return continues_word(ch)


def word_position(text: str, offset: int) -> int:
    """Index of the word of normalised ``text`` at ``offset``, counting space-separated words.

    Normalised text has single spaces and no leading space, so counting spaces is enough.
    """
    return text.count(" ", 0, offset)
