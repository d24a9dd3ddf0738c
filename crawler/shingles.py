"""Text normalisation and shingling for near-duplicate detection.

Normalisation: NFKC, casefold, invisible format characters (zero-width space, joiners, soft
hyphen) removed, punctuation and symbols turned into spaces. Combining marks are kept, since
Khmer, Thai and Myanmar vowel signs are marks and carry meaning.

Units: whitespace-separated words, except that every character of a script written without
spaces between words (Khmer, Thai, Lao, Myanmar, Tibetan, Chinese, Japanese kana) is a unit of
its own. A text whose units are mostly such characters is shingled by ``CHAR_SHINGLE``
consecutive units (character n-grams); any other text by ``WORD_SHINGLE`` consecutive words.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass

WORD_SHINGLE = 3
CHAR_SHINGLE = 5

# Scripts that do not put spaces between words, so words cannot be split reliably.
_NO_SPACE_RANGES = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x0F00, 0x0FFF),  # Tibetan
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x19E0, 0x19FF),  # Khmer symbols
    (0x2E80, 0x2FDF),  # CJK radicals
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3100, 0x312F),  # Bopomofo
    (0x3190, 0x31FF),  # Kanbun, CJK strokes, Katakana extension
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xA9E0, 0xA9FF),  # Myanmar extended-B
    (0xAA60, 0xAA7F),  # Myanmar extended-A
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0x20000, 0x3134F),  # CJK extensions B..G
)
_NO_SPACE_CLASS = "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in _NO_SPACE_RANGES)
_NO_SPACE_CHAR = re.compile(f"[{_NO_SPACE_CLASS}]")
_SPLIT_NO_SPACE = re.compile(f"[{_NO_SPACE_CLASS}]|[^{_NO_SPACE_CLASS}]+")


# Lines that belong to the outlet, not the story: outlets add or drop them when they copy a
# story, so they would lower the similarity of true copies. Matched on short lines only.
_BOILERPLATE_LINE = re.compile(
    r"^\W*(?:read more|read also|also read|see also|more on this|related(?: stories| articles"
    r"| news)?\s*:|follow us|subscribe|sign up|share this|click here|copyright|\u00a9"
    r"|all rights reserved|reporting by|editing by|additional reporting)",
    re.IGNORECASE,
)
_AGENCY_LINE = re.compile(r"^\W*(?:afp|ap|reuters|xinhua|bernama|ani|pti|upi)\W*$", re.IGNORECASE)
_BYLINE = re.compile(r"^\W*by\s+\w", re.IGNORECASE)
_BOILERPLATE_MAX_WORDS = 25
_BYLINE_MAX_WORDS = 8


class _CharTable(dict[int, str | None]):
    """``str.translate`` table that classifies each code point once, on first sight."""

    def __missing__(self, codepoint: int) -> str | None:
        category = unicodedata.category(chr(codepoint))
        if category[0] in "LMN":
            mapped: str | None = chr(codepoint)
        elif category == "Cf":
            # Zero-width spaces and joiners are sprinkled inconsistently through Khmer
            # and Thai web text; two copies of one article differ only in them.
            mapped = None
        else:
            mapped = " "
        self[codepoint] = mapped
        return mapped


_TABLE = _CharTable()


@dataclass(frozen=True, slots=True)
class Shingled:
    """A text reduced to units and the set of its shingles."""

    units: tuple[str, ...]
    shingles: frozenset[str]
    char_mode: bool


def normalise(text: str) -> str:
    """NFKC, casefold, drop format characters, punctuation and symbols become spaces."""
    return unicodedata.normalize("NFKC", text).casefold().translate(_TABLE)


def _is_boilerplate(line: str) -> bool:
    words = len(line.split())
    if words > _BOILERPLATE_MAX_WORDS:
        return False
    if _BOILERPLATE_LINE.match(line) or _AGENCY_LINE.match(line):
        return True
    return words <= _BYLINE_MAX_WORDS and _BYLINE.match(line) is not None


def strip_boilerplate(text: str) -> str:
    """Drop short lines that are outlet furniture: "Read more:", bylines, copyright, follow-us."""
    return "\n".join(line for line in text.splitlines() if not _is_boilerplate(line))


def text_units(text: str) -> tuple[str, ...]:
    """Split a text into normalised units: words, or single characters of no-space scripts."""
    units: list[str] = []
    for token in normalise(text).split():
        if _NO_SPACE_CHAR.search(token) is None:
            units.append(token)
        else:
            units.extend(_SPLIT_NO_SPACE.findall(token))
    return tuple(units)


def shingle_units(
    units: tuple[str, ...],
    *,
    word_size: int = WORD_SHINGLE,
    char_size: int = CHAR_SHINGLE,
) -> Shingled:
    """Build the shingle set of already split units, choosing word or character shingles."""
    no_space = sum(1 for unit in units if len(unit) == 1 and _NO_SPACE_CHAR.match(unit))
    char_mode = no_space * 2 >= len(units) > 0
    size = char_size if char_mode else word_size
    if len(units) <= size:
        shingles = frozenset([" ".join(units)]) if units else frozenset()
    else:
        shingles = frozenset(" ".join(units[i : i + size]) for i in range(len(units) - size + 1))
    return Shingled(units=units, shingles=shingles, char_mode=char_mode)


def shingle(text: str, *, word_size: int = WORD_SHINGLE, char_size: int = CHAR_SHINGLE) -> Shingled:
    """Normalise, split and shingle one text."""
    return shingle_units(text_units(text), word_size=word_size, char_size=char_size)


def fingerprint_units(title_units: tuple[str, ...], text_units_: tuple[str, ...]) -> bytes:
    """SHA-1 of the normalised title and text units; equal for texts that normalise equally."""
    payload = "\x1f".join(title_units) + "\x1e" + "\x1f".join(text_units_)
    return hashlib.sha1(payload.encode("utf-8")).digest()
