"""What the benchmarks feed newswatch: items, rules and config files, all deterministic.

Items are made of pseudo-words so that the rate of matches is known in advance and every
item's text is distinct (newswatch drops a text it stored before under another URL, and
groups near-duplicates into stories). Each item carries two *keywords* (words starting with
``q`` that no common word starts with) and one *place*; rules combine keywords and places, so
that with 1,000 rules about one item in twenty matches at least one rule.

Each rule exists twice: as a newswatch query (Lucene syntax, docs/rules.md) and as a list
of regular expressions that the naive loop (benchmarks/naive.py) evaluates, so the two can be
checked against each other: both must find the same (rule, item) pairs.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONSONANTS = "bdfgklmnprstvz"
VOWELS = "aeiou"
COMMON_WORDS = 4000
KEYWORDS = 2000
PLACES = 50
BODY_WORDS = 165  # about 1.3 KB per item in the feed, 65 KB for a feed of 50
TITLE_WORDS = 7


def _syllable(rng: random.Random) -> str:
    return rng.choice(CONSONANTS) + rng.choice(VOWELS)


def _words(rng: random.Random, count: int, make: Any) -> list[str]:
    seen: dict[str, None] = {}
    while len(seen) < count:
        seen.setdefault(make(rng), None)
    return list(seen)


@dataclass(frozen=True)
class Vocabulary:
    common: list[str]
    keywords: list[str]
    places: list[str]

    @classmethod
    def make(cls, seed: int = 12) -> Vocabulary:
        rng = random.Random(seed)
        common = _words(
            rng, COMMON_WORDS, lambda r: "".join(_syllable(r) for _ in range(r.randint(2, 3)))
        )
        keywords = _words(
            rng, KEYWORDS, lambda r: "q" + r.choice(VOWELS) + _syllable(r) + _syllable(r)
        )
        places = _words(rng, PLACES, lambda r: "X" + r.choice(VOWELS) + _syllable(r) + _syllable(r))
        return cls(common, keywords, places)


@dataclass
class Item:
    number: int
    feed: int
    title: str
    body: str
    guid: str
    link: str
    served: bool = False  # set by the farm once a 200 answer carried it


class ItemMaker:
    """Makes item ``number`` of feed ``feed``: the same text for the same pair, every run."""

    def __init__(self, seed: int = 12, body_words: int = BODY_WORDS) -> None:
        self.vocab = Vocabulary.make(seed)
        self.seed = seed
        self.body_words = body_words

    def item(self, number: int, feed: int, *, extra: tuple[str, ...] = ()) -> Item:
        rng = random.Random(self.seed * 1_000_003 + number)
        vocab = self.vocab
        body = rng.choices(vocab.common, k=self.body_words)
        first, second = rng.sample(vocab.keywords, 2)
        place = rng.choice(vocab.places)
        # Half the items hold "keyword Place" side by side, for the phrase rules.
        together = rng.random() < 0.5
        for word in (first, f"{second} {place}") if together else (first, second, place):
            body.insert(rng.randrange(len(body)), word)
        title = rng.choices(vocab.common, k=TITLE_WORDS)
        if rng.random() < 0.5:  # for the title: rules
            title.insert(rng.randrange(len(title)), first)
        title = list(extra) + title  # first, so a shortened headline keeps them
        return Item(
            number=number,
            feed=feed,
            title=" ".join(title).capitalize(),
            body=" ".join(body).capitalize() + ".",
            guid=f"farm-{number}",
            link=f"https://outlet{feed % 97}.example.org/news/{feed}/{number}.html",
        )


@dataclass(frozen=True)
class Clause:
    """Any one of ``words`` in ``field`` (``text`` = title and body); ``prefix`` words end in *."""

    words: tuple[str, ...]
    field: str = "text"
    prefix: bool = False
    phrase: bool = False  # words is one phrase, all in order, side by side

    def query(self) -> str:
        if self.phrase:
            inner = '"' + " ".join(self.words) + '"'
        else:
            terms = [w + "*" if self.prefix else w for w in self.words]
            inner = terms[0] if len(terms) == 1 else "(" + " OR ".join(terms) + ")"
        return f"title:{inner}" if self.field == "title" else inner

    def regex(self) -> str:
        if self.phrase:
            return r"\b" + r"\s+".join(map(re.escape, self.words)) + r"\b"
        tail = r"\w*\b" if self.prefix else r"\b"
        return r"\b(?:" + "|".join(map(re.escape, self.words)) + ")" + tail


@dataclass(frozen=True)
class RuleSpec:
    name: str
    required: tuple[Clause, ...]
    excluded: tuple[Clause, ...] = ()

    def query(self) -> str:
        parts = [c.query() for c in self.required]
        parts += [f"NOT {c.query()}" for c in self.excluded]
        return " AND ".join(parts)


def make_rules(count: int, seed: int = 12, vocab: Vocabulary | None = None) -> list[RuleSpec]:
    """``count`` rules of five shapes, each combining keywords with a place."""
    vocab = vocab or Vocabulary.make(seed)
    rng = random.Random(seed + 1)
    rules = []
    for n in range(count):
        kws = rng.sample(vocab.keywords, 4)
        place = Clause((rng.choice(vocab.places),))
        shape = n % 5
        if shape == 0:
            required = (Clause(tuple(kws[:3])), place)
            excluded: tuple[Clause, ...] = ()
        elif shape == 1:
            required = (Clause(tuple(kws[:3])), Clause(tuple(rng.sample(vocab.places, 2))))
            excluded = (Clause((kws[3],)),)
        elif shape == 2:
            required = (Clause(tuple(k[:-1] for k in kws[:2]), prefix=True), place)
            excluded = ()
        elif shape == 3:
            required = (Clause((kws[0],), field="title"), place)
            excluded = ()
        else:
            required = (Clause((kws[0], place.words[0]), phrase=True),)
            excluded = ()
        rules.append(RuleSpec(f"r{n:05d}", required, excluded))
    return rules


def rules_to_json(rules: list[RuleSpec], path: Path) -> None:
    """The regular expressions of each rule, for the naive loop."""
    data = [
        {
            "name": rule.name,
            "required": [[c.field, c.regex()] for c in rule.required],
            "excluded": [[c.field, c.regex()] for c in rule.excluded],
        }
        for rule in rules
    ]
    path.write_text(json.dumps(data), encoding="utf-8")


# --- newswatch configuration -------------------------------------------------------------


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f'"{k}" = {toml_value(v)}' for k, v in value.items()) + "}"
    return json.dumps(str(value), ensure_ascii=False)


@dataclass
class ConfigSpec:
    """A newswatch config: sources by URL, rules, channels and service keys."""

    sources: dict[str, str] = field(default_factory=dict)  # name -> feed URL
    rules: list[RuleSpec] = field(default_factory=list)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    service: dict[str, Any] = field(default_factory=dict)
    source_keys: dict[str, Any] = field(default_factory=dict)  # added to every source

    def write(self, folder: Path, name: str = "config.toml") -> Path:
        service = {"database": "newswatch.db", "interval": "1h", "timezone": "UTC"}
        service.update(self.service)
        lines = ["[service]"] + [f"{k} = {toml_value(v)}" for k, v in service.items()]
        channel_names = list(self.channels)
        for source, url in self.sources.items():
            lines += ["", f"[sources.{source}]", 'type = "rss"', f"url = {toml_value(url)}"]
            lines += [f"{k} = {toml_value(v)}" for k, v in self.source_keys.items()]
        for rule in self.rules:
            lines += ["", f"[rules.{rule.name}]", f"query = {toml_value(rule.query())}"]
            lines.append(f"channels = {toml_value(channel_names)}")
        for channel, keys in self.channels.items():
            lines += ["", f"[channels.{channel}]"]
            lines += [f"{k} = {toml_value(v)}" for k, v in keys.items()]
        path = folder / name
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path
