"""Whether two feed items (a headline and a short summary) are the same story.

Long texts are compared by the Jaccard similarity of their shingles (see
:mod:`crawler.stories`). A feed item is too short for that: two reports written from one
template ("Police in Preah Sihanouk province on Tuesday rescued 40 Indonesian nationals...")
about raids on different days differ in two or three words and look 0.6-0.8 similar, while
a copy under a reworded headline shares its whole summary. So items up to
``BRIEF_CHARS`` characters, *briefs*, are decided by rules that look at what copies keep
and different events change:

* **Facts**: numbers (digits in any script, English number words, Chinese numerals),
  weekdays and months (English, Khmer, Chinese). Two items conflict when each has a fact of
  one kind that the other lacks (40 and 23 people, Tuesday and Thursday). Copies add facts
  (a dateline) or drop them (a trimmed summary) but do not swap them. Conflicting items are
  never the same story.
* **Same summary**: at least ``SAME_TEXT`` of the shorter summary's shingles are in the
  other one (a trimmed, extended or re-titled copy). Outlet lines ("The post ... appeared
  first on ...", "Read more", a source line) are dropped first. When both items come from
  one source, the headlines must be alike too: an outlet that gives every item the same
  description has not published one story twice.
* **Same headline**: an item without a summary of its own (an aggregator's headline, whose
  description repeats it) matches an item whose headline contains ``SAME_TITLE`` of its
  headline words (characters pairs for Khmer, Chinese...), e.g. the same headline with
  " - Khmer Times" appended.

Everything here is pure computation on texts; :mod:`crawler.stories` stores briefs and finds
the candidates to compare.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from crawler import signatures
from crawler.canonical import article_link_key
from crawler.shingles import Shingled, normalise, shingle_units, strip_boilerplate, text_units

BRIEF_CHARS = 1000
SAME_TEXT = 0.85
SAME_TITLE = 0.9
# Below these sizes a summary or headline says too little to identify a story.
MIN_TEXT_SHINGLES = 10
MIN_TITLE_TOKENS = 5
# The first units of a summary: trimmed copies keep them, so they are a lookup key.
LEAD_WORDS = 12
LEAD_CHARS = 30
TITLE_EDGE_WORDS = 5
TITLE_EDGE_CHARS = 10

# Lines feeds append to summaries: WordPress's "The post ... appeared first on ...", and
# "read more" / source / editor lines in Khmer and Chinese.
_FEED_LINE = re.compile(
    r"^\W*(?:the post\b.*\bappeared first on\b|អានបន្ថែម|ប្រភព\s*[៖:]|阅读全文|阅读更多"
    r"|责任编辑|来源\s*[：:])",
    re.IGNORECASE,
)
_FEED_TAIL = re.compile(r"\W*(?:阅读全文|阅读更多|continue reading|read more)\W*$", re.IGNORECASE)

_NUMBER_WORDS = {
    word: value
    for value, word in enumerate(
        (
            "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
            "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
            "seventeen", "eighteen", "nineteen",
        )
    )
}  # fmt: skip
_TENS = {
    word: 10 * n
    for n, word in enumerate(
        ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"), 2
    )
}
_ZH_NUMERAL = re.compile(r"[零〇一二两三四五六七八九十百千万]+")
_ZH_DIGITS = {c: v for v, c in enumerate("零一二三四五六七八九")} | {"〇": 0, "两": 2}
_ZH_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10000}
_ZH_WEEKDAY = re.compile(r"(?:周|星期|礼拜)([一二三四五六日天])")
# Weekdays Monday first, months January first; Khmer names with their ថ្ងៃ (day) / ខែ (month).
# "may" is a month and a verb, so English months leave it out.
_WEEKDAYS = (
    ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"),
    ("ថ្ងៃច័ន្ទ", "ថ្ងៃអង្គារ", "ថ្ងៃពុធ", "ថ្ងៃព្រហស្បតិ៍", "ថ្ងៃសុក្រ", "ថ្ងៃសៅរ៍", "ថ្ងៃអាទិត្យ"),
)
_MONTHS = (
    (
        "january", "february", "march", "april", "", "june", "july", "august", "september",
        "october", "november", "december",
    ),
    (
        "ខែមករា", "ខែកុម្ភៈ", "ខែមីនា", "ខែមេសា", "ខែឧសភា", "ខែមិថុនា", "ខែកក្កដា", "ខែសីហា",
        "ខែកញ្ញា", "ខែតុលា", "ខែវិច្ឆិកា", "ខែធ្នូ",
    ),
)  # fmt: skip


def _calendar_words() -> dict[str, str]:
    words: dict[str, str] = {}
    for kind, tables in (("day", _WEEKDAYS), ("month", _MONTHS)):
        for names in tables:
            words.update({normalise(name): f"{kind}{n}" for n, name in enumerate(names) if name})
    return words


_CALENDAR = _calendar_words()
# English names are looked up word by word ("march" is not "marched"); Khmer ones are
# written joined to the words around them, always after ថ្ងៃ (day) or ខែ (month).
_KHMER_CALENDAR = re.compile(
    "|".join(
        re.escape(name) for name in sorted(_CALENDAR, key=len, reverse=True) if not name.isascii()
    )
)
_KHMER_MARKERS = ("ថ្ងៃ", "ខែ")


class Facts(NamedTuple):
    """The numbers and calendar words (weekdays, months) an item mentions."""

    numbers: frozenset[int]
    dates: frozenset[str]

    def conflicts_with(self, other: Facts) -> bool:
        """Whether each item has a fact of one kind the other lacks (40 vs 23, Tue vs Thu)."""
        return any(
            bool(mine - theirs) and bool(theirs - mine)
            for mine, theirs in ((self.numbers, other.numbers), (self.dates, other.dates))
        )


@dataclass(frozen=True, slots=True)
class Brief:
    """A feed item reduced to what the rules compare."""

    source: str | None
    title_tokens: frozenset[str]
    text_shingles: frozenset[str]
    facts: Facts

    @property
    def has_text(self) -> bool:
        """Whether the item has a summary beyond its headline."""
        return bool(self.text_shingles)


def feed_text(text: str) -> str:
    """A summary without outlet lines: bylines, "Read more", "The post ... appeared first"."""
    lines = [line for line in strip_boilerplate(text).splitlines() if not _FEED_LINE.match(line)]
    return _FEED_TAIL.sub("", "\n".join(lines)).strip()


def is_brief(text: str) -> bool:
    """Whether a text is short enough to be compared as a feed item."""
    return len(feed_text(text)) <= BRIEF_CHARS


def make_brief(title: str, text: str, source: str | None = None) -> Brief:
    """Reduce an item to its headline tokens, summary shingles and facts.

    A summary that only repeats the headline (aggregators do this) counts as no summary.
    """
    body = feed_text(text)
    title_units, body_units = text_units(title), text_units(body)
    if set(body_units) <= set(title_units):
        body, body_units = "", ()
    shingled = shingle_units(body_units or title_units)
    return Brief(
        source=source,
        title_tokens=_title_tokens(title_units, shingled.char_mode),
        text_shingles=shingled.shingles if body_units else frozenset(),
        facts=find_facts(f"{title}\n{body}"),
    )


def _title_tokens(units: tuple[str, ...], char_mode: bool) -> frozenset[str]:
    # Words; for scripts without spaces, pairs of characters (single ones repeat too often).
    if char_mode and len(units) > 1:
        return frozenset(a + b for a, b in zip(units, units[1:], strict=False))
    return frozenset(units)


def find_facts(text: str) -> Facts:
    """Numbers and weekday/month names in ``text`` (English, Khmer, Chinese)."""
    normal = normalise(text)
    # int() reads digits of any script: Khmer ៤០ is 40.
    numbers = {int(digits) for digits in re.findall(r"\d+", normal)}
    numbers.update(_zh_value(numeral) for numeral in _ZH_NUMERAL.findall(normal))
    words = normal.split()
    numbers.update(_english_numbers(words))
    dates = {_CALENDAR[word] for word in words if word in _CALENDAR}
    if any(marker in normal for marker in _KHMER_MARKERS):
        dates.update(_CALENDAR[name] for name in _KHMER_CALENDAR.findall(normal))
    dates.update(f"day{'一二三四五六日天'.index(d) % 7}" for d in _ZH_WEEKDAY.findall(normal))
    return Facts(frozenset(numbers), frozenset(dates))


def _english_numbers(words: list[str]) -> set[int]:
    """Number words: "forty", "forty one" (the hyphen became a space), "seven"."""
    found: set[int] = set()
    for index, word in enumerate(words):
        if word in _TENS:
            following = _NUMBER_WORDS.get(words[index + 1] if index + 1 < len(words) else "", 0)
            found.add(_TENS[word] + (following if following < 10 else 0))
        elif word in _NUMBER_WORDS:
            units = _NUMBER_WORDS[word]
            if not (0 < units < 10 and index > 0 and words[index - 1] in _TENS):
                found.add(units)
    return found


def _zh_value(numeral: str) -> int:
    """四十 -> 40, 一百零五 -> 105, 两 -> 2."""
    total, digit = 0, 0
    for char in numeral:
        if char in _ZH_DIGITS:
            digit = _ZH_DIGITS[char]
        else:
            total += (digit or 1) * _ZH_UNITS[char]
            digit = 0
    return total + digit


def _containment(a: frozenset[str], b: frozenset[str]) -> float:
    """Share of the smaller set that is in the other one."""
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def compare_briefs(earlier: Brief, later: Brief) -> float | None:
    """How surely two briefs are the same story (0-1), or None when they are not."""
    if earlier.facts.conflicts_with(later.facts):
        return None
    if earlier.has_text and later.has_text:
        if min(len(earlier.text_shingles), len(later.text_shingles)) < MIN_TEXT_SHINGLES:
            return None
        score = _containment(earlier.text_shingles, later.text_shingles)
        same_outlet = earlier.source is not None and earlier.source == later.source
        titles = _jaccard(earlier.title_tokens, later.title_tokens)
        if score >= SAME_TEXT and (not same_outlet or titles >= 0.5):
            return round(score, 4)
        return None
    if min(len(earlier.title_tokens), len(later.title_tokens)) < MIN_TITLE_TOKENS:
        return None
    score = _containment(earlier.title_tokens, later.title_tokens)
    return round(score, 4) if score >= SAME_TITLE else None


def lookup_keys(title: str, text: str) -> tuple[str, ...]:
    """Keys a copy of this item shares: the summary's first units, the headline's ends.

    Trimmed or extended copies keep the start of the summary; headlines get a prefix
    ("UPDATE:") or a suffix (" - Khmer Times"), rarely both.
    """
    keys: list[str] = []
    units = text_units(feed_text(text))
    size = LEAD_CHARS if shingle_units(units).char_mode else LEAD_WORDS
    if len(units) >= size:
        keys.append("lead " + " ".join(units[:size]))
    units = text_units(title)
    size = TITLE_EDGE_CHARS if shingle_units(units).char_mode else TITLE_EDGE_WORDS
    if len(units) >= size:
        keys.extend(("head " + " ".join(units[:size]), "tail " + " ".join(units[-size:])))
    return tuple(keys)


@dataclass(frozen=True, slots=True)
class BriefEntry:
    """What the story index stores of a brief: its texts, and hashes of what copies share."""

    brief: Brief
    title: str
    text: str
    bands: tuple[int, ...]  # LSH band hashes of the summary's shingles
    keys: tuple[int, ...]  # hashes of lookup_keys()


def brief_entry(
    title: str, text: str, source: str | None, shingled: Shingled, values: np.ndarray
) -> BriefEntry | None:
    """The entry of a feed item, or None for a text too long to be a brief.

    ``shingled`` and ``values`` are the article's shingles and MinHash values, reused when
    the summary's shingles are the same.
    """
    body = feed_text(text)
    if len(body) > BRIEF_CHARS:
        return None
    brief = make_brief(title, body, source)
    bands: tuple[int, ...] = ()
    if len(brief.text_shingles) >= MIN_TEXT_SHINGLES:
        if brief.text_shingles != shingled.shingles:
            values = signatures.minhash_values(brief.text_shingles)
        bands = tuple(signatures.band_hashes(values).tolist())
    keys = tuple(key_hash(key) for key in lookup_keys(title, body))
    return BriefEntry(brief=brief, title=title, text=body, bands=bands, keys=keys)


def link_hashes(links: Iterable[str]) -> tuple[int, ...]:
    """Hashes of the article link keys of an item's addresses (none for home pages)."""
    keys = {article_link_key(link) for link in links}
    return tuple(sorted(key_hash(key) for key in keys if key))


def key_hash(key: str) -> int:
    """A 63-bit hash: link keys decide without verification, so collisions must not happen."""
    return int.from_bytes(hashlib.sha1(key.encode("utf-8")).digest()[:8], "big", signed=True)
