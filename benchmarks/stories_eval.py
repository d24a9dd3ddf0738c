"""Story clustering quality: precision and recall of "same story" on labelled pairs.

Loads benchmarks/data/stories_pairs.json (built by benchmarks/data/build_stories_pairs.py from
the shared corpus, invented stories and invented feed items; built on first run). Every pair
goes through a real StoryIndex on an in-memory SQLite database: the earlier text is assigned,
then the later one (with its source and addresses, for feed items); the pair is predicted
"same story" when both land in one story. Prints the figures at the default threshold for the
article set and the feed-item set (kinds ``feed_*``) separately, per kind of edit, a threshold
sweep, an archive run (all texts in one index) and, with --compare, the alternatives that were
measured against the chosen design.

    /tmp/nw/bin/python benchmarks/stories_eval.py [--threshold 0.8] [--rebuild] [--compare]
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import logging
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks" / "data"))

from crawler import signatures  # noqa: E402
from crawler.db import open_database  # noqa: E402
from crawler.shingles import shingle_units, strip_boilerplate, text_units  # noqa: E402
from crawler.stories import StoryIndex, similarity  # noqa: E402

PAIRS = ROOT / "benchmarks" / "data" / "stories_pairs.json"
SWEEP = (0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


def load(rebuild: bool) -> dict:
    """The labelled set, built from the corpus when missing or asked to."""
    if rebuild or not PAIRS.exists():
        import build_stories_pairs

        build_stories_pairs.main()
    return json.loads(PAIRS.read_text(encoding="utf-8"))


def predict_pair(a: dict, b: dict, threshold: float) -> tuple[bool, float | None]:
    """Assign a then b in a fresh index; (same story?, similarity reported for b)."""
    db = open_database(":memory:")
    index = StoryIndex(db, threshold=threshold)
    with db.atomic():
        first = index.assign(1, **_fields(a))
        second = index.assign(2, **_fields(b))
    db.close()
    return second.story_id == first.story_id, second.similarity


def _fields(item: dict) -> dict:
    """assign() arguments of a labelled text; feed items also have a source and addresses."""
    return {
        "title": item["title"],
        "text": item["text"],
        "source": item.get("source"),
        "links": item.get("links", ()),
    }


def is_feed_pair(pair: dict) -> bool:
    """Whether a pair belongs to the feed-item set (headlines and short summaries)."""
    return pair["kind"].startswith("feed_")


def score(labels: list[bool], predicted: list[bool]) -> tuple[float, float, int, int]:
    """(precision, recall, false positives, false negatives) of "same story"."""
    tp = sum(1 for y, p in zip(labels, predicted, strict=True) if y and p)
    fp = sum(1 for y, p in zip(labels, predicted, strict=True) if not y and p)
    fn = sum(1 for y, p in zip(labels, predicted, strict=True) if y and not p)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall, fp, fn


def evaluate(data: dict, threshold: float) -> list[tuple[dict, bool, float | None]]:
    texts = {t["id"]: t for t in data["texts"]}
    return [(p, *predict_pair(texts[p["a"]], texts[p["b"]], threshold)) for p in data["pairs"]]


def print_default(
    data: dict, results: list[tuple[dict, bool, float | None]], threshold: float
) -> None:
    for name, part in (
        ("all", results),
        ("articles", [r for r in results if not is_feed_pair(r[0])]),
        ("feed items", [r for r in results if is_feed_pair(r[0])]),
    ):
        labels = [p["same"] for p, _, _ in part]
        precision, recall, fp, fn = score(labels, [r for _, r, _ in part])
        same = sum(labels)
        print(
            f"{name}: {len(part)} pairs ({same} same story, {len(part) - same} different);"
            f" threshold {threshold}: precision {precision:.3f}, recall {recall:.3f}"
            f" ({fp} false merges, {fn} missed copies)"
        )
    by_kind: dict[tuple[str, bool], list[bool]] = defaultdict(list)
    for pair, predicted, _ in results:
        by_kind[(pair["kind"], pair["same"])].append(predicted)
    print("\nper kind (same-story kinds: share joined; different-story kinds: share merged)")
    for (kind, same_label), outcomes in sorted(
        by_kind.items(), key=lambda kv: (not kv[0][1], kv[0][0])
    ):
        label = "same" if same_label else "diff"
        print(f"  {label} {kind:<24} {sum(outcomes):>3}/{len(outcomes):<3}")
    errors = [(p, r, s_) for p, r, s_ in results if r != p["same"]]
    texts = {t["id"]: t for t in data["texts"]}
    for pair, _, _ in errors:
        what = "missed" if pair["same"] else "merged"
        estimate = similarity(texts[pair["a"]]["text"], texts[pair["b"]]["text"])
        print(f"  {what}: {pair['a']} / {pair['b']} ({pair['kind']}, similarity {estimate:.3f})")


def print_sweep(data: dict) -> None:
    print("\nthreshold sweep (articles | feed items)")
    print("  threshold  precision  recall  false merges  missed copies")
    for threshold in SWEEP:
        results = evaluate(data, threshold)
        cells = []
        for feed in (False, True):
            part = [r for r in results if is_feed_pair(r[0]) is feed]
            labels = [p["same"] for p, _, _ in part]
            precision, recall, fp, fn = score(labels, [r for _, r, _ in part])
            cells.append(f"{precision:>9.3f}  {recall:>6.3f}  {fp:>12}  {fn:>13}")
        print(f"  {threshold:>9.2f}  " + " | ".join(cells))


def print_archive(data: dict, threshold: float) -> None:
    """All texts into one index in file order; pairwise precision/recall of story membership."""
    db = open_database(":memory:")
    index = StoryIndex(db, threshold=threshold)
    story: dict[str, int] = {}
    with db.atomic():
        for n, text in enumerate(data["texts"], start=1):
            story[text["id"]] = index.assign(n, **_fields(text)).story_id
    stories = len(set(story.values()))
    groups = len({t["group"] for t in data["texts"]})
    print(
        f"\narchive run: {len(data['texts'])} texts in one index -> {stories} stories"
        f" ({groups} true stories)"
    )
    for name, feed in (("all texts", None), ("articles", False), ("feed items", True)):
        texts = [t for t in data["texts"] if feed is None or ("source" in t) is feed]
        labels, predicted = [], []
        for a, b in itertools.combinations(texts, 2):
            labels.append(a["group"] == b["group"])
            predicted.append(story[a["id"]] == story[b["id"]])
        precision, recall, fp, fn = score(labels, predicted)
        print(
            f"  {name}: over all {len(labels):,} pairs of {len(texts)} texts: precision"
            f" {precision:.3f}, recall {recall:.3f} ({fp} false merges, {fn} missed)"
        )


def _pair_units(data: dict) -> list[tuple[dict, tuple[str, ...], tuple[str, ...]]]:
    """Each pair with the units the index shingles (text after boilerplate, else title)."""
    texts = {t["id"]: t for t in data["texts"]}

    def units(item: dict) -> tuple[str, ...]:
        return text_units(strip_boilerplate(item["text"])) or text_units(item["title"])

    return [(p, units(texts[p["a"]]), units(texts[p["b"]])) for p in data["pairs"]]


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def _report(name: str, labels: list[bool], scores: list[float], threshold: float) -> None:
    """Recall and precision at the threshold, and the gap between the classes."""
    precision, recall, fp, _ = score(labels, [s >= threshold for s in scores])
    worst_diff = max(s for s, y in zip(scores, labels, strict=True) if not y)
    print(
        f"  {name:<34} precision {precision:.3f}  recall {recall:.3f}"
        f"  highest different-story score {worst_diff:.3f}"
    )


def print_comparison(data: dict, threshold: float) -> None:
    """Shingle sizes, estimator variants, SimHash and band layouts, on the long-text pairs."""
    rows = [r for r in _pair_units(data) if "short" not in r[0]["kind"] and not is_feed_pair(r[0])]
    labels = [p["same"] for p, _, _ in rows]
    print(f"\nalternatives on the {len(rows)} pairs of long texts, at {threshold}")
    for size in (1, 2, 3, 4, 5):
        scores = [
            _jaccard(
                shingle_units(a, word_size=size).shingles, shingle_units(b, word_size=size).shingles
            )
            for _, a, b in rows
        ]
        _report(f"exact Jaccard, word {size}-shingles", labels, scores, threshold)
    sets = [(shingle_units(a).shingles, shingle_units(b).shingles) for _, a, b in rows]
    exact = [_jaccard(a, b) for a, b in sets]
    for perms, bits in ((128, 32), (128, 8), (256, 8), (64, 8)):
        estimates = [_estimate(a, b, perms, bits) for a, b in sets]
        error = sum(abs(e - x) for e, x in zip(estimates, exact, strict=True)) / len(exact)
        _report(
            f"MinHash {perms} perms, {bits}-bit (err {error:.3f})", labels, estimates, threshold
        )
    distances = [_simhash_distance(a, b) for a, b in sets]
    closest = min(d for d, y in zip(distances, labels, strict=True) if not y)
    print(f"  SimHash 64-bit (closest different-story pair: distance {closest}):")
    for bits in (3, 6, 10):
        precision, recall, _, _ = score(labels, [d <= bits for d in distances])
        # Pigeonhole lookup: bits+1 exact-match bands of 64/(bits+1) bits each.
        noise = 1e6 * (bits + 1) * 2.0 ** (-64 / (bits + 1))
        print(
            f"    distance <= {bits:>2}: precision {precision:.3f}  recall {recall:.3f}"
            f"  random candidates per lookup in 1M articles ~{noise:,.0f}"
        )
    print("\n  LSH layout: P(candidate) at Jaccard 0.6/0.7/0.8/0.9 (band rows per article = bands)")
    for bands, rows_ in ((16, 4), (20, 5), (32, 4), (9, 13), (16, 8)):
        odds = "/".join(
            f"{signatures.candidate_probability(j, bands=bands, rows=rows_):.3f}"
            for j in (0.6, 0.7, 0.8, 0.9)
        )
        note = "  (datasketch MinHashLSH's choice for 0.8)" if (bands, rows_) == (9, 13) else ""
        print(f"    {bands:>2} bands x {rows_:>2} rows: {odds}{note}")


def _estimate(a: frozenset[str], b: frozenset[str], perms: int, bits: int) -> float:
    values = []
    for shingles in (a, b):
        sketch = signatures.minhash_values(shingles, num_perm=perms)
        values.append(sketch & np.uint32((1 << bits) - 1 if bits < 32 else 0xFFFFFFFF))
    chance = 0.0 if bits == 32 else 1.0 / (1 << bits)
    agree = float(np.mean(values[0] == values[1]))
    return max(0.0, (agree - chance) / (1.0 - chance))


def _simhash(shingles: frozenset[str]) -> int:
    hashes = np.array(
        [
            int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "big")
            for s in shingles
        ],
        dtype=np.uint64,
    )
    bits = (hashes[:, None] >> np.arange(64, dtype=np.uint64)) & np.uint64(1)
    votes = bits.sum(axis=0) * 2 > len(hashes)
    return int(sum(1 << i for i, v in enumerate(votes) if v))


def _simhash_distance(a: frozenset[str], b: frozenset[str]) -> int:
    return (_simhash(a) ^ _simhash(b)).bit_count()


def main() -> None:
    """Parse options and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--rebuild", action="store_true", help="rebuild the labelled set")
    parser.add_argument("--compare", action="store_true", help="also measure alternatives")
    args = parser.parse_args()
    if not 0.0 < args.threshold <= 1.0:
        parser.error("--threshold must be in (0, 1]")
    logging.basicConfig(level=logging.ERROR)
    data = load(args.rebuild)
    print_default(data, evaluate(data, args.threshold), args.threshold)
    print_sweep(data)
    print_archive(data, args.threshold)
    if args.compare:
        print_comparison(data, args.threshold)


if __name__ == "__main__":
    main()
