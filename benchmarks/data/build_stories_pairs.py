"""Build stories_pairs.json, the labelled set for benchmarks/stories_eval.py.

Sources: article bodies from the shared corpus (zyte-benchmark ground truth, newspaper4k texts,
Khmer/Thai/Chinese/Burmese texts, the seed article), the invented Cambodia crime stories in
stories_written.json and the invented short feed items (headline and summary, English, Khmer and
Chinese) in stories_feeds.json. Each source is edited the way syndicating outlets edit wire copy
(headline changed, paragraph added or removed, byline/"Read more"/footer boilerplate, light
rewording, typographic noise); an edit and its source are a "same story" pair. "Different
story" pairs are the invented stories against each other (same places, same officials, shared
background paragraphs, follow-ups reusing half the text), the most similar pairs of distinct
corpus articles, short template items and non-Latin articles against each other. Feed items
are paired with their group's original, copies with each other, and every two items of
different groups in one language (different raids in one town in one week among them).

    /tmp/nw/bin/python benchmarks/data/build_stories_pairs.py
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parents[2] / "shared" / "corpus"
SEED_DIR = HERE.parents[2] / "shared" / "seed"
WRITTEN = HERE / "stories_written.json"
FEEDS = HERE / "stories_feeds.json"
OUTPUT = HERE / "stories_pairs.json"

KINDS = (
    "syndicated",
    "headline",
    "para_added",
    "para_removed",
    "boilerplate",
    "reword",
    "combined",
)
CORPUS_SOURCES = 36
HARD_NEGATIVES = 60
# Feed items made from their group's original without rewording: any two of them are copies.
FEED_COPIES = ("retitled", "trimmed", "extended", "footer", "dateline")


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n+", text) if p.strip()]


def _slug_title(url: str) -> str:
    """A headline-like title from a URL's last meaningful path segment."""
    parts = [p for p in url.rstrip("/").split("/") if p and not p.isdigit()]
    words = re.split(r"[-_]+", re.sub(r"\.\w+$", "", parts[-1]))
    return " ".join(w for w in words if w and not w.isdigit()).capitalize()


def corpus_sources() -> list[dict]:
    """English-script corpus articles: zyte ground truth, newspaper4k texts, the seed article."""
    truth = json.loads((CORPUS / "articles/zyte-benchmark/ground-truth.json").read_text())
    sources = []
    for key in sorted(truth):
        paras = _paragraphs(truth[key]["articleBody"])
        words = sum(len(p.split()) for p in paras)
        if 250 <= words <= 1200 and len(paras) >= 4:
            sources.append(
                {
                    "id": f"zyte-{key[:10]}",
                    "title": _slug_title(truth[key]["url"]),
                    "paragraphs": paras,
                }
            )
    for name in (
        "cnn_article",
        "time_001",
        "wired_001",
        "cleveland.com1",
        "fox13now_001",
        "spanish_article",
        "latvian_article",
    ):
        meta_path = CORPUS / f"articles/newspaper4k/metadata/{name}.json"
        title = json.loads(meta_path.read_text())["title"] if meta_path.exists() else name
        paras = _paragraphs((CORPUS / f"articles/newspaper4k/txt/{name}.txt").read_text())
        sources.append({"id": f"np4k-{name}", "title": title, "paragraphs": paras})
    seed = _paragraphs((SEED_DIR / "casino-org-2022-03-11-cambodia-crackdown.txt").read_text())
    sources.append({"id": "seed-casino-org", "title": seed[0], "paragraphs": seed[1:]})
    return sources


def non_latin_sources() -> dict[str, dict]:
    """Khmer, Thai, Chinese, Japanese and Burmese article texts."""
    files = {
        "km": "khmer/km/khmer-nltk__samples_input.txt",
        "th": "khmer/th/newspaper4k__thai_article.txt",
        "zh1": "khmer/zh/newspaper4k__chinese_article.txt",
        "zh2": "khmer/zh/newspaper4k__chinese_article_001.txt",
        "zh3": "khmer/zh/newspaper4k__chinese_article_002.txt",
        "my": "khmer/my/newspaper4k__burmese_article.txt",
        "ja1": "articles/newspaper4k/txt/japanese_article.txt",
        "ja2": "articles/newspaper4k/txt/japanese_article2.txt",
    }
    out = {}
    for key, rel in files.items():
        paras = _paragraphs((CORPUS / rel).read_text(encoding="utf-8"))
        out[key] = {"id": f"nl-{key}", "title": paras[0][:60], "paragraphs": paras[1:] or paras}
    return out


class Editor:
    """Deterministic edits that syndicating outlets make to a story."""

    def __init__(self, written: dict) -> None:
        self.written = written

    def apply(self, kind: str, item: dict, rnd: random.Random) -> dict:
        title, paras = item["title"], list(item["paragraphs"])
        if kind in ("headline", "combined"):
            title = self.headline(title, paras, rnd)
        if kind == "syndicated":
            title, paras = _typography(title), [_typography(p) for p in paras]
        if kind == "para_added":
            paras.insert(rnd.randint(1, len(paras)), rnd.choice(self.written["context_paragraphs"]))
        if kind == "para_removed":
            paras = _remove_paragraph(paras, rnd)
        if kind in ("reword", "combined"):
            paras = [self.reword(p, rnd) for p in paras]
        if kind in ("boilerplate", "combined"):
            paras = self.boilerplate(paras, rnd)
        return {"title": title, "paragraphs": paras}

    def headline(self, title: str, paras: list[str], rnd: random.Random) -> str:
        if rnd.random() < 0.5:
            return rnd.choice(self.written["headline_templates"]).format(head=title)
        return " ".join(paras[0].split()[:9]).rstrip(",.;:")

    def boilerplate(self, paras: list[str], rnd: random.Random) -> list[str]:
        footers = self.written["footers"]
        inline = [f for f in footers if f.startswith(("Read more", "Related"))]
        ends = [f for f in footers if f not in inline]
        middle = rnd.randint(1, len(paras))
        out = [rnd.choice(self.written["bylines"]), *paras[:middle], rnd.choice(inline)]
        return out + paras[middle:] + rnd.sample(ends, 2)

    def reword(self, paragraph: str, rnd: random.Random) -> str:
        """Swap about one in three replaceable words or phrases (about 4% of all words)."""
        table = self.written["rewording"]
        pattern = re.compile(
            r"\b(" + "|".join(sorted(map(re.escape, table), key=len, reverse=True)) + r")\b"
        )
        return pattern.sub(
            lambda m: table[m.group(1)] if rnd.random() < 0.35 else m.group(1), paragraph
        )


def _typography(text: str) -> str:
    """Straight quotes, different dashes, doubled spaces: what a CMS re-import does."""
    text = text.replace("\u2019", "'").replace("\u201c", '"').replace("\u201d", '"')
    return text.replace(" \u2014 ", " - ").replace(". ", ".  ").replace(", ", ",\u00a0")


def _remove_paragraph(paras: list[str], rnd: random.Random) -> list[str]:
    """Drop one non-lead paragraph of at most a fifth of the words (else the shortest)."""
    total = sum(len(p.split()) for p in paras)
    fits = [i for i in range(1, len(paras)) if len(paras[i].split()) <= total / 5]
    index = rnd.choice(fits) if fits else min(range(1, len(paras)), key=lambda i: len(paras[i]))
    return paras[:index] + paras[index + 1 :]


def _rnd(*parts: str) -> random.Random:
    return random.Random(int(hashlib.sha256("|".join(parts).encode()).hexdigest()[:16], 16))


def _exact_jaccard(a: dict, b: dict) -> float:
    def grams(item: dict) -> set[tuple[str, ...]]:
        words = re.findall(r"\w+", " ".join([item["title"], *item["paragraphs"]]).casefold())
        return set(zip(words, words[1:], words[2:], strict=False))

    left, right = grams(a), grams(b)
    return len(left & right) / max(1, len(left | right))


class Builder:
    """Collects texts and labelled pairs."""

    def __init__(self, written: dict) -> None:
        self.editor = Editor(written)
        self.texts: dict[str, dict] = {}
        self.pairs: list[dict] = []

    def add_text(
        self,
        tid: str,
        group: str,
        kind: str,
        title: str,
        paragraphs: list[str],
        **extra: object,
    ) -> None:
        self.texts[tid] = {
            "id": tid,
            "group": group,
            "kind": kind,
            "title": title,
            "text": "\n\n".join(paragraphs),
            **extra,
        }

    def add_source(self, item: dict, group: str | None = None) -> None:
        if item["id"] not in self.texts:
            self.add_text(
                item["id"],
                group or item["id"],
                item.get("kind", "original"),
                item["title"],
                item["paragraphs"],
            )

    def add_edit(self, item: dict, kind: str) -> None:
        edited = self.editor.apply(kind, item, _rnd(item["id"], kind))
        tid = f"{item['id']}~{kind}"
        self.add_text(
            tid, self.texts[item["id"]]["group"], kind, edited["title"], edited["paragraphs"]
        )
        self.pair(item["id"], tid, kind)

    def pair(self, a: str, b: str, kind: str) -> None:
        same = self.texts[a]["group"] == self.texts[b]["group"]
        self.pairs.append({"a": a, "b": b, "same": same, "kind": kind})


def build() -> dict:
    """Build the labelled set from the corpus and stories_written.json."""
    written = json.loads(WRITTEN.read_text())
    builder = Builder(written)
    items = {item["id"]: item for item in written["items"]}
    for item in items.values():
        builder.add_source(item, item["group"])
    for sid in (i for i in items if i.startswith("s")):
        for kind in KINDS:
            builder.add_edit(items[sid], kind)
    for item in items.values():
        if "of" in item:
            label = "hand_rewrite" if item["kind"] == "hand_rewrite" else item["kind"]
            builder.pair(item["of"], item["id"], label)
    originals = [i for i in items if i.startswith("s")]
    for a, b in itertools.combinations(originals, 2):
        builder.pair(a, b, "written_other_story")
    for a, b in [
        ("s01", "r03"),
        ("s02", "s01~reword"),
        ("s09", "r01"),
        ("s09", "s01~combined"),
        ("s12", "s05~boilerplate"),
        ("s04", "r03"),
        ("s11", "r07"),
        ("s08", "f01"),
    ]:
        builder.pair(a, b, "written_other_story")
    for a, b in [
        ("k01", "k02"),
        ("k01", "k03"),
        ("k01", "k04"),
        ("k02", "k04"),
        ("k03", "k04"),
        ("k05", "k06"),
        ("k07", "k08"),
    ]:
        builder.pair(a, b, "short_other_story")
    _add_corpus(builder)
    _add_non_latin(builder, written["non_latin"])
    _add_feeds(builder, json.loads(FEEDS.read_text(encoding="utf-8"))["items"])
    return {
        "about": __doc__.strip().splitlines()[0],
        "texts": list(builder.texts.values()),
        "pairs": builder.pairs,
    }


def _add_corpus(builder: Builder) -> None:
    sources = corpus_sources()
    chosen = random.Random(20240501).sample(sources[:-8], CORPUS_SOURCES) + sources[-8:]
    for n, item in enumerate(chosen):
        builder.add_source(item)
        for kind in (KINDS * 2)[n % len(KINDS) : n % len(KINDS) + 4]:
            builder.add_edit(item, kind)
    scored = sorted(
        ((_exact_jaccard(a, b), a["id"], b["id"]) for a, b in itertools.combinations(sources, 2)),
        reverse=True,
    )
    by_id = {item["id"]: item for item in sources}
    for _, a, b in scored[:HARD_NEGATIVES]:
        builder.add_source(by_id[a])
        builder.add_source(by_id[b])
        builder.pair(a, b, "corpus_similar_other")


def _add_non_latin(builder: Builder, extra: dict) -> None:
    src = non_latin_sources()
    for item in src.values():
        builder.add_source(item)
    km = src["km"]
    edits = {
        "km~zwsp": (km, km["title"], [p.replace("\u200b", "") for p in km["paragraphs"]]),
        "km~para_removed": (km, km["title"], _remove_paragraph(km["paragraphs"], _rnd("km"))),
        "km~headline_footer": (km, extra["km_headline"], [*km["paragraphs"], extra["km_footer"]]),
        "th~para_removed": (
            src["th"],
            src["th"]["title"],
            _remove_paragraph(src["th"]["paragraphs"], _rnd("th")),
        ),
        "th~footer": (
            src["th"],
            src["th"]["title"],
            [*src["th"]["paragraphs"], extra["th_footer"]],
        ),
        "zh1~headline_footer": (
            src["zh1"],
            src["zh1"]["title"] + extra["zh_headline_suffix"],
            [*src["zh1"]["paragraphs"], extra["zh_footer"]],
        ),
        "zh2~footer": (
            src["zh2"],
            src["zh2"]["title"],
            [*src["zh2"]["paragraphs"], extra["zh_footer"]],
        ),
        "ja2~para_removed": (
            src["ja2"],
            src["ja2"]["title"],
            _remove_paragraph(src["ja2"]["paragraphs"], _rnd("ja2")),
        ),
        "my~boilerplate": (src["my"], src["my"]["title"], ["AFP", *src["my"]["paragraphs"]]),
    }
    for suffix, (item, title, paras) in edits.items():
        tid = "nl-" + suffix
        builder.add_text(tid, item["id"], "non_latin_copy", title, paras)
        builder.pair(item["id"], tid, "non_latin_copy")
    for a, b in [
        ("zh1", "zh2"),
        ("zh1", "zh3"),
        ("zh2", "zh3"),
        ("ja1", "ja2"),
        ("th", "km"),
        ("km", "my"),
        ("zh1", "ja1"),
    ]:
        builder.pair(f"nl-{a}", f"nl-{b}", "non_latin_other")


def _add_feeds(builder: Builder, items: list[dict]) -> None:
    """Short feed items: each against the item it was made from (``of``, else its group's
    first item), copies against each other, and every pair of items of different groups in
    one language (kinds ``feed_*``)."""
    for item in items:
        links = [item["url"], *([item["guid"]] if "guid" in item else [])]
        builder.add_text(
            item["id"],
            item["group"],
            item["kind"],
            item["title"],
            [item["summary"]],
            source=item["source"],
            links=links,
        )
    groups: dict[str, list[dict]] = {}
    for item in items:
        groups.setdefault(item["group"], []).append(item)
    for members in groups.values():
        original, *others = members
        for item in others:
            builder.pair(item.get("of", original["id"]), item["id"], f"feed_{item['kind']}")
        copies = [item for item in others if item["kind"] in FEED_COPIES]
        for a, b in itertools.combinations(copies, 2):
            builder.pair(a["id"], b["id"], "feed_copies")
    for a, b in itertools.combinations(items, 2):
        if a["language"] == b["language"] and a["group"] != b["group"]:
            kind = "feed_other_event"
            if a["title"] == b["title"]:
                kind = "feed_other_same_title"
            elif a["summary"] == b["summary"] and a["summary"]:
                kind = "feed_other_same_summary"
            builder.pair(a["id"], b["id"], kind)


def main() -> None:
    """Build and write the labelled set."""
    if not CORPUS.is_dir():
        sys.exit(f"corpus not found at {CORPUS}: the labelled set is built from it")
    data = build()
    OUTPUT.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    same = sum(p["same"] for p in data["pairs"])
    print(
        f"wrote {OUTPUT}: {len(data['texts'])} texts, {len(data['pairs'])} pairs"
        f" ({same} same story, {len(data['pairs']) - same} different),"
        f" {OUTPUT.stat().st_size / 1e6:.2f} MB"
    )


if __name__ == "__main__":
    main()
