"""Compiled matcher vs. the rule-by-rule regex loop, on 10,000 generated rules.

Run: /tmp/nw/bin/python benchmarks/matcher.py [--rules N] [--articles N]

Targets: build <= 2 s for 10,000 rules, median <= 1 ms per 5,000-character article, and at
least 100 times faster than checking the rules one by one with per-term compiled regexes.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alerts.rules.matcher import Document, Matcher  # noqa: E402
from alerts.rules.reference import ReferenceMatcher  # noqa: E402
from alerts.rules.rule import Rule  # noqa: E402

PLACES = [
    "sihanoukville",
    "phnom penh",
    "poipet",
    "bavet",
    "koh kong",
    "kampot",
    "siem reap",
    "battambang",
    "preah sihanouk",
    "o'smach",
    "chrey thom",
    "svay rieng",
    "takeo",
    "otres",
    "dara sakor",
    "kampong som",
    "myawaddy",
    "shwe kokko",
    "golden triangle",
    "kandal",
]
TOPICS = [
    "scam",
    "fraud",
    "casino",
    "gambling",
    "ransom",
    "rescued",
    "raid",
    "deported",
    "repatriated",
    "torture",
    "victims",
    "crypto",
    "extortion",
    "detained",
    "smuggling",
]
PREFIXES = ["traffick*", "kidnap*", "recruit*", "escape*", "smuggl*", "extort*", "launder*"]
PHRASES = [
    "scam compound",
    "forced labour",
    "forced labor",
    "online gambling",
    "call centre",
    "pig butchering",
    "human trafficking",
    "debt bondage",
    "fake job",
    "money laundering",
    "job offer",
    "online scam",
    "chinese nationals",
    "special economic zone",
]
OTHER_SCRIPTS = [
    "ក្រុងព្រះសីហនុ",
    "ភ្នំពេញ",
    "ប៉ោយប៉ែត",
    "បាវិត",
    "ជួញដូរមនុស្ស",
    "ការឆបោក",
    "កាស៊ីណូ",
    "西港",
    "诈骗",
    "柬埔寨",
    "园区",
    "电诈",
    "人口贩卖",
    "金边",
    "波贝",
    "กัมพูชา",
    "แก๊งคอลเซ็นเตอร์",
    "ค้ามนุษย์",
]
NOISE = ["football", "tourism", "festival", "election", "weather", "recipe"]
SYLLABLES = [
    "sok",
    "chan",
    "dara",
    "vuth",
    "heng",
    "lim",
    "wang",
    "zhao",
    "chen",
    "kim",
    "sophea",
    "rith",
    "vanna",
    "bun",
    "thy",
    "meng",
    "huot",
    "seng",
    "li",
    "xu",
    "tan",
    "ly",
    "nak",
    "pheap",
    "rin",
    "som",
    "mao",
    "hun",
    "ouk",
    "yim",
    "kong",
    "phal",
    "chea",
    "narin",
]
SOURCES = ["Khmer Times", "VOD", "CamboJA", "RFA", "Nikkei Asia"]


def _entities(rng: random.Random, count: int) -> list[str]:
    """Names of people, companies and compounds, as an NGO's watch list would have."""
    names: set[str] = set()
    while len(names) < count:
        names.add("".join(rng.sample(SYLLABLES, rng.choice([2, 2, 3]))))
    return sorted(names)


def _q(phrase: str) -> str:
    return f'"{phrase}"' if " " in phrase else phrase


def _rule_query(rng: random.Random, ents: list[str]) -> str:
    e, e2 = rng.choice(ents), rng.choice(ents)
    place, topic, phrase = rng.choice(PLACES), rng.choice(TOPICS), rng.choice(PHRASES)
    templates = [
        lambda: f"{e} AND ({topic} OR {rng.choice(PREFIXES)})",
        lambda: f"({e} OR {e2}) AND {_q(place)} AND NOT {rng.choice(NOISE)}",
        lambda: f'"{e} {e2}" OR ({e} AND {_q(phrase)})',
        lambda: f'"{phrase} {e}"~{rng.randint(2, 8)}',
        lambda: f"title:{e} OR body:({e2} AND {topic})",
        lambda: f"{e}* AND ({_q(place)} OR {rng.choice(OTHER_SCRIPTS)})",
        lambda: f"{rng.choice(OTHER_SCRIPTS)} {e}",
        lambda: f"+{e} +{_q(phrase)} -{rng.choice(NOISE)}",
    ]
    return rng.choice(templates)()


def make_rules(count: int, seed: int = 7) -> tuple[list[Rule], list[str]]:
    """``count`` realistic rules, a few of them regex- or place-only watches."""
    rng = random.Random(seed)
    ents = _entities(rng, 4000)
    rules = []
    for i in range(count):
        if i % 1000 == 0:
            query = rf"/{rng.choice(ents)}\s*(?:group|co\.?)/"
        elif i % 250 == 1:
            query = f"{_q(rng.choice(PLACES))} AND {_q(rng.choice(PHRASES))}"
        else:
            query = _rule_query(rng, ents)
        sources = (rng.choice(SOURCES),) if i % 10 == 0 else ()
        rules.append(Rule(f"rule-{i}", query, sources=sources, min_hits=1 + (i % 7 == 0)))
    return rules, ents


def make_article(rng: random.Random, ents: list[str], size: int = 5000) -> Document:
    """A news article about scam compounds that names a few entities from the rules."""
    people = rng.sample(ents, 4)
    sentences = [
        "Police in {place} raided a {phrase} on Tuesday and rescued {n} foreign victims.",
        "The raid followed complaints that {person} recruited workers with a fake job offer.",
        "Officials said {person} and {person2} ran an online gambling operation near {place}.",
        "Victims described torture, debt bondage and forced labour inside the compound.",
        "Many were trafficked from Thailand and Vietnam and held for ransom in {place}.",
        "Chinese nationals were deported after the operation, the ministry said.",
        "Rights groups say human trafficking in the special economic zone continues.",
        "Local reporters wrote about ក្រុងព្រះសីហនុ and the 西港 诈骗 networks.",
        "A spokesman for the provincial government declined to comment on the case.",
        "Residents said the buildings had been guarded day and night for months.",
        "The company's lawyer denied wrongdoing and said the workers were free to leave.",
    ]
    parts: list[str] = []
    while sum(len(p) + 1 for p in parts) < size:
        template = rng.choice(sentences)
        parts.append(
            template.format(
                place=rng.choice(PLACES).title(),
                phrase=rng.choice(PHRASES),
                n=rng.randint(10, 400),
                person=people[rng.randint(0, 1)].title(),
                person2=people[rng.randint(2, 3)].title(),
            )
        )
        if rng.random() < 0.15:
            parts.append("\n\n")
    body = " ".join(parts)[:size]
    return Document(
        title=f"{people[0].title()} compound in {rng.choice(PLACES).title()} raided",
        body=body,
        source=rng.choice(SOURCES),
        url=f"https://news.example.org/{people[0]}-raid",
        language="en",
    )


def _ms(seconds: float) -> float:
    return seconds * 1000.0


def _time_each(fn, docs: list[Document], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        for doc in docs:
            start = time.perf_counter()
            fn(doc)
            times.append(time.perf_counter() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=10_000)
    parser.add_argument("--articles", type=int, default=20)
    args = parser.parse_args()

    rules, ents = make_rules(args.rules)
    rng = random.Random(11)
    docs = [make_article(rng, ents) for _ in range(args.articles)]

    start = time.perf_counter()
    matcher = Matcher.build(rules)
    build = time.perf_counter() - start
    reference = ReferenceMatcher(rules)

    mismatches = 0
    matched = 0
    for doc in docs:
        fast = {m.rule for m in matcher.match(doc)}
        slow = {m.rule for m in reference.match(doc)}
        matched += len(fast)
        mismatches += fast != slow

    fast_t = _time_each(matcher.match, docs, repeat=25)
    slow_t = _time_each(reference.match, docs[:5], repeat=1)
    fast_med, slow_med = statistics.median(fast_t), statistics.median(slow_t)

    def p95(values: list[float]) -> float:
        return statistics.quantiles(values, n=20)[-1]

    print(f"rules: {len(rules)}, articles: {len(docs)} x {len(docs[0].body)} chars")
    print(f"build time: {build:.2f} s (target <= 2 s)")
    print(f"{'':24}{'compiled':>12}{'naive loop':>14}")
    print(f"{'median ms/article':24}{_ms(fast_med):12.3f}{_ms(slow_med):14.1f}")
    print(f"{'p95 ms/article':24}{_ms(p95(fast_t)):12.3f}{_ms(p95(slow_t)):14.1f}")
    print(f"speed-up (median): {slow_med / fast_med:.0f}x (target >= 100x)")
    print(f"matching rules per article: {matched / len(docs):.1f}")
    print(f"same matching rules: {'yes' if not mismatches else f'NO ({mismatches} differ)'}")
    return 1 if mismatches else 0


if __name__ == "__main__":
    raise SystemExit(main())
