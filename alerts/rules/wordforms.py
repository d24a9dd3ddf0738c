"""English word forms, so a rule written ``raid`` can be told that it misses *raids*.

A term matches whole words only (docs/rules.md), which surprises whoever writes ``raid`` and
expects "Second wave of raids" to match. :func:`word_forms` knows the regular forms of about
18,000 English words (plural or third person ``-s``/``-es``/``-ies``, past ``-ed``,
gerund ``-ing``, with doubled consonants and dropped ``e``), taken from SCOWL's English
word lists; names and words outside the list have none, so a rule about ``Poipet`` is left
alone.

``wordforms.txt`` holds one word per line with a code per form that exists; regenerate it
from Debian's ``wamerican`` and ``wbritish`` word lists with::

    python -m alerts.rules.wordforms /usr/share/dict/american-english \
        /usr/share/dict/british-english > alerts/rules/wordforms.txt
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Iterable
from importlib.resources import files

DATA = "wordforms.txt"
_WORD = re.compile(r"[a-z]{3,}")
_VOWELS = "aeiou"
_GROUP = dict.fromkeys("sei", 0) | dict.fromkeys("dDyxk", 1) | dict.fromkeys("gGhjK", 2)
_HEADER = """\
# English word forms for newswatch's rule warnings: WORD CODES, one code per form that is an
# English word (see alerts/rules/wordforms.py for the codes and how to regenerate this file).
# Derived from SCOWL (Spell Checker Oriented Word Lists) as packaged by Debian (wamerican,
# wbritish). Copyright 2000-2011 by Kevin Atkinson. Permission to use, copy, modify,
# distribute and sell these word lists, the associated scripts, the output created from the
# scripts, and its documentation for any purpose is hereby granted without fee, provided
# that the above copyright notice appears in all copies and that both that copyright notice
# and this permission notice appear in supporting documentation. Kevin Atkinson makes no
# representations about the suitability of this array for any purpose. It is provided "as
# is" without express or implied warranty.
"""


def _regular_forms(word: str) -> dict[str, str]:
    """Every regular inflection of ``word`` by its one-letter code (not all are words)."""
    forms = {
        "s": word + "s",
        "e": word + "es",
        "d": word + "ed",
        "D": word + "d",
        "g": word + "ing",
        "x": word + word[-1] + "ed",
        "G": word + word[-1] + "ing",
    }
    if word[-1] == "y" and word[-2] not in _VOWELS:
        forms |= {"i": word[:-1] + "ies", "y": word[:-1] + "ied"}
    if word.endswith("e"):
        forms["h"] = word[:-1] + "ing"
    if word.endswith("ie"):
        forms["j"] = word[:-2] + "ying"
    if word.endswith("c"):
        forms |= {"k": word + "ked", "K": word + "king"}
    return forms


def build_table(words: Iterable[str]) -> list[str]:
    """Lines ``word codes`` for every lower-case word with at least one form in ``words``."""
    known = {w for w in words if _WORD.fullmatch(w)}
    lines = []
    for word in sorted(known):
        if word.endswith("s"):
            continue  # a plural or third person already; its base word carries the forms
        codes = "".join(sorted(c for c, f in _regular_forms(word).items() if f in known))
        if codes:
            lines.append(f"{word} {codes}")
    return lines


@functools.cache
def _table() -> dict[str, str]:
    text = files("alerts.rules").joinpath(DATA).read_text(encoding="utf-8")
    table = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            word, codes = line.split(" ")
            table[word] = codes
    return table


@functools.cache
def _inflected() -> frozenset[str]:
    """Every form the table lists: ``kidnapping`` is a form of ``kidnap``, not a base word."""
    return frozenset(
        form
        for word, codes in _table().items()
        for code, form in _regular_forms(word).items()
        if code in codes
    )


def word_forms(word: str) -> tuple[str, ...]:
    """The other forms of the English word ``word`` (``raid``: raids, raided, raiding).

    Empty for words the list does not know (names, other languages) and for words that
    are themselves a form of another (``kidnapping``, ``raided``).
    """
    codes = _table().get(word)
    if not codes or word in _inflected():
        return ()
    forms = _regular_forms(word)
    # -s forms first, then -ed, then -ing: raids, raided, raiding.
    return tuple(forms[c] for c in sorted(codes, key=lambda c: (_GROUP[c], forms[c])))


def main(paths: list[str]) -> None:
    """Print the table for the word lists at ``paths`` (see the module docstring)."""
    words: set[str] = set()
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            words.update(line.strip() for line in handle)
    sys.stdout.write(_HEADER + "\n".join(build_table(words)) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
