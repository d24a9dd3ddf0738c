"""Story index speed: assign latency against a large archive, DB size, reopen time.

Fills a SQLite file with ``--articles`` synthetic signatures and band hashes in bulk (numpy
generates the MinHash values directly, rows are inserted in key order), then times real
``StoryIndex.assign`` calls on synthetic texts, a fifth of them near-copies of earlier ones.

    /tmp/nw/bin/python benchmarks/stories_speed.py                     # 1,000,000 articles
    /tmp/nw/bin/python benchmarks/stories_speed.py --articles 100000   # quick run
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import sqlite_utils

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crawler import signatures  # noqa: E402
from crawler.db import open_database  # noqa: E402
from crawler.stories import StoryIndex  # noqa: E402

CHUNK = 100_000


def _bulk_fill(path: Path, count: int, seed: int) -> float:
    """Create the index tables and insert ``count`` synthetic articles; return seconds."""
    started = time.perf_counter()
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    db = open_database(path)
    conn = db.conn
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -200000")
    rng = np.random.default_rng(seed)
    band_ids, band_hashes = [], []
    conn.execute("BEGIN")
    for start in range(0, count, CHUNK):
        ids = np.arange(start + 1, min(start + CHUNK, count) + 1, dtype=np.int64)
        values = rng.integers(0, 2**32, size=(len(ids), signatures.NUM_PERM), dtype=np.uint32)
        blobs = (values & 0xFF).astype(np.uint8)
        fingerprints = rng.integers(-(2**63), 2**63 - 1, size=len(ids), dtype=np.int64)
        conn.executemany(
            "INSERT INTO stories (id, first_article, created, title) VALUES (?, ?, ?, ?)",
            ((i, i, "2024-01-01T00:00:00+00:00", f"synthetic {i}") for i in ids.tolist()),
        )
        conn.executemany(
            "INSERT INTO story_signatures (article_id, story_id, signature, fingerprint)"
            " VALUES (?, ?, ?, ?)",
            zip(ids.tolist(), ids.tolist(), map(bytes, blobs), fingerprints.tolist(), strict=True),
        )
        band_ids.append(np.repeat(ids, signatures.BANDS))
        band_hashes.append(signatures.band_hashes(values).reshape(-1))
    article = np.concatenate(band_ids)
    hashes = np.concatenate(band_hashes)
    band = np.tile(np.arange(signatures.BANDS, dtype=np.int64), count)
    # Key order turns the B-tree build into appends instead of random page splits.
    order = np.lexsort((article, hashes, band))
    for start in range(0, len(order), CHUNK * 10):
        part = order[start : start + CHUNK * 10]
        conn.executemany(
            "INSERT INTO story_bands (band, hash, article_id) VALUES (?, ?, ?)",
            zip(band[part].tolist(), hashes[part].tolist(), article[part].tolist(), strict=True),
        )
    conn.execute("COMMIT")
    db.close()
    return time.perf_counter() - started


def _synthetic_texts(count: int, seed: int) -> list[tuple[str, str]]:
    """(title, text) pairs of Zipf-distributed words; every fifth repeats an earlier one, edited."""
    rnd = random.Random(seed)
    vocabulary = [f"w{n}" for n in range(20_000)]
    weights = [1.0 / (rank + 1) for rank in range(len(vocabulary))]
    texts: list[tuple[str, str]] = []
    for n in range(count):
        if n % 5 == 4 and texts:
            title, text = rnd.choice(texts)
            words = text.split()
            words[rnd.randrange(len(words))] = "changed"
            texts.append(("re: " + title, " ".join(words) + " read more at example news"))
            continue
        words = rnd.choices(vocabulary, weights, k=rnd.randint(150, 700))
        texts.append((" ".join(words[:8]), " ".join(words)))
    return texts


def _time_assigns(path: Path, first_id: int, texts: list[tuple[str, str]]) -> dict[str, list]:
    """Assign each text in its own transaction; collect per-call timings in ms."""
    db = open_database(path)
    index = StoryIndex(db)
    assign_ms, total_ms, joined = [], [], 0
    for offset, (title, text) in enumerate(texts):
        started = time.perf_counter()
        db.conn.execute("BEGIN")
        result = index.assign(first_id + offset, title=title, text=text)
        assigned = time.perf_counter()
        db.conn.execute("COMMIT")
        done = time.perf_counter()
        assign_ms.append((assigned - started) * 1000)
        total_ms.append((done - started) * 1000)
        joined += not result.is_new_story
    db.close()
    return {"assign": assign_ms, "total": total_ms, "joined": [joined]}


def _time_reopen(path: Path, article_id: int) -> tuple[float, float]:
    """Seconds to open the database and the index, and to run the first assign after that."""
    started = time.perf_counter()
    db = open_database(path)
    index = StoryIndex(db)
    opened = time.perf_counter()
    with db.atomic():
        index.assign(article_id, title="after restart", text=" ".join(["restart"] * 80))
    first = time.perf_counter()
    db.close()
    return opened - started, first - opened


def _table_sizes(path: Path) -> dict[str, int]:
    """Bytes per table and index, when SQLite was built with the dbstat table."""
    db = sqlite_utils.Database(path)
    try:
        rows = db.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall()
    except Exception:  # dbstat is a compile-time option
        rows = []
    db.close()
    return {name: size for name, size in rows if size > 1_000_000}


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    """Parse options, run the benchmark, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=1_000_000, help="archive size")
    parser.add_argument("--assigns", type=int, default=500, help="timed assign calls")
    parser.add_argument("--db", type=Path, default=Path("/tmp/newswatch-stories-speed.db"))
    parser.add_argument("--keep", action="store_true", help="keep the database file")
    args = parser.parse_args()
    if args.articles < 0 or args.assigns < 1:
        parser.error("--articles must be >= 0 and --assigns >= 1")

    fill_s = _bulk_fill(args.db, args.articles, seed=7)
    print(f"archive: {args.articles:,} articles filled in {fill_s:.1f} s")
    texts = _synthetic_texts(args.assigns, seed=11)
    timings = _time_assigns(args.db, args.articles + 1, texts)
    for label in ("assign", "total"):
        values = timings[label]
        name = "assign()" if label == "assign" else "assign()+COMMIT (WAL)"
        print(
            f"{name:>22}: median {statistics.median(values):.2f} ms,"
            f" p95 {_percentile(values, 0.95):.2f} ms, max {max(values):.2f} ms"
            f" over {len(values)} calls"
        )
    print(f"joined an earlier story: {timings['joined'][0]} of {len(texts)}")
    open_s, first_s = _time_reopen(args.db, args.articles + args.assigns + 1)
    print(
        f"reopen: open + StoryIndex() {open_s * 1000:.1f} ms, first assign {first_s * 1000:.1f} ms"
    )
    size = args.db.stat().st_size
    print(f"database size: {size / 1e6:.1f} MB ({size / max(args.articles, 1):.0f} bytes/article)")
    for name, table_size in sorted(_table_sizes(args.db).items(), key=lambda kv: -kv[1]):
        print(f"  {name}: {table_size / 1e6:.1f} MB")
    if not args.keep:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{args.db}{suffix}").unlink(missing_ok=True)
    else:
        print(f"kept {args.db} ({os.path.getsize(args.db) / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
