"""The archive search at scale: searches, index size and cost, index build, page timings.

    python benchmarks/search.py                                # 1,000,000 articles
    python benchmarks/search.py --articles 50000 --rounds 5    # a quick look
    python benchmarks/search.py --compare 20000                # trigram vs pairs, only

An archive of synthetic articles is built once and cached under ``--cache``: sentences
of the shared corpus (``../shared/corpus``: English articles, Khmer and Chinese text),
60 % English, 25 % Khmer, 15 % Chinese, over a year, 40 sources, every article with a
title and summary and a third with a full text, about 3 % of them matched by one of the
rules. It is written with plain SQL inserts into a database newswatch created (the real
schema), without the search index; then the index is built exactly as the migration
that introduces it does (``crawler.fulltext.rebuild``), and timed: that is the upgrade
of an existing archive. The script prints:

- database size per 1,000 articles without and with the index;
- the time to build the index for the existing archive;
- what the index adds to storing one article (tokens made and inserted, per article);
- median and 95th percentile of typical searches (a word, a phrase, AND/OR, a Khmer
  term, a Chinese term; each with and without ``--since 30d``), run as ``newswatch
  search`` runs them (``scheduler.archive.search_archive``, 50 results, read-only
  connection); the goal is a median under 100 ms;
- page timings of the web interface over the archive (search, rule preview, matches,
  overview, a feed), over HTTP from the server running in this process; goal < 200 ms.

``--compare N`` builds N articles twice more, once with FTS5's trigram tokenizer over the
three columns, and prints size, build time and query times of both designs, with the
terms each cannot find.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import random
import re
import sqlite3
import statistics
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alerts.rules.archive import SearchFilter  # noqa: E402
from crawler import fulltext  # noqa: E402
from crawler.db import open_database, open_readonly  # noqa: E402
from scheduler.archive import search_archive  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
SOURCES = [f"outlet-{n:02d}" for n in range(40)]
RULES = {
    "scam": '"scam compound" OR ក្រុងព្រះសីហនុ OR 西港',
    "casino": "casino AND (raid OR licence)",
    "trafficking": "traffick*",
}
LANGUAGES = ["en"] * 12 + ["km"] * 5 + ["zh"] * 3
DAYS = 365
MATCH_RATE = 0.03
FULL_TEXT_RATE = 0.33
# Planted terms, so that each search has answers at realistic rates.
PLANTED = {
    "en": ["Police raided a scam compound in Bavet.", "The casino lost its licence."],
    "km": ["ប៉ូលិសបានវាយឆ្មក់នៅក្រុងព្រះសីហនុកាលពីម្សិលមិញ។"],
    "zh": ["警方在西港一处诈骗园区解救了数十人。"],
}
PLANT_RATE = 0.02
SEARCHES = {
    "word": "police",
    "phrase": '"scam compound"',
    "and/or": "casino AND (raid OR licence)",
    "khmer": "ក្រុងព្រះសីហនុ",
    "chinese": "西港",
}
PAGES = [
    "/search?q=police&period=30d",
    "/search?q=%E8%A5%BF%E6%B8%AF&period=30d",
    "/search?q=casino+AND+(raid+OR+licence)&period=30d",
    "/rules/preview?query=%22scam+compound%22&period=7d",
    "/rules/preview?query=%22scam+compound%22&period=30d",
    "/matches",
    "/",
    "/feeds/scam.atom",
]

CONFIG = """\
[service]
database = "newswatch.db"
timezone = "Asia/Phnom_Penh"

[web]
listen = "127.0.0.1:8787"

{sources}
{rules}
[channels.team]
type = "mbox"
path = "alerts.mbox"
"""


# The corpus ---------------------------------------------------------------------------


def corpus_sentences() -> dict[str, list[str]]:
    """Sentences per language from the shared corpus (exit if it is absent)."""
    if not CORPUS.is_dir():
        sys.exit(f"the shared corpus is missing at {CORPUS} (see its PROVENANCE.md)")
    english = []
    for path in sorted((CORPUS / "articles" / "newspaper4k" / "txt").glob("*.txt")):
        text = path.read_text(encoding="utf-8", errors="replace")
        if re.search(r"[a-zA-Z]{4} [a-zA-Z]{4}", text) and not re.search(r"[^\x00-\u024f\s]", text):
            english += [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if len(s) > 40]
    khmer = []
    for path in (CORPUS / "khmer" / "km").glob("*input*.txt"):
        khmer += [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    chinese = []
    for path in (CORPUS / "khmer" / "zh").glob("*.txt"):
        chinese += re.split(r"(?<=[。！？])", path.read_text(encoding="utf-8"))
    pools = {
        "en": [s for s in english if s],
        "km": [s for s in khmer if len(s) > 10],
        "zh": [s.strip() for s in chinese if len(s.strip()) > 8],
    }
    for language, pool in pools.items():
        if not pool:
            sys.exit(f"no {language} sentences found in {CORPUS}")
    return pools


class Writer:
    """Synthetic articles from corpus sentences."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.pools = corpus_sentences()

    def text(self, language: str, length: int) -> str:
        pool, rng = self.pools[language], self.rng
        parts = [rng.choice(pool) for _ in range(length)]
        if rng.random() < PLANT_RATE:
            parts.insert(rng.randrange(len(parts) + 1), rng.choice(PLANTED[language]))
        joiner = " " if language == "en" else ("" if language == "zh" else " ")
        return joiner.join(parts)

    def article(self, n: int, fetched: str) -> tuple[object, ...]:
        rng = self.rng
        language = rng.choice(LANGUAGES)
        title = self.text(language, 1)[:150]
        summary = self.text(language, 2)[:400]
        text = self.text(language, 12) if rng.random() < FULL_TEXT_RATE else None
        source = rng.choice(SOURCES)
        return (n, f"https://{source}.example/{n}", f"g{n}", source, title, summary, text,
                language, fetched, "feed", fetched, 1, 0, n)  # fmt: skip


# Building -----------------------------------------------------------------------------


def write_config(folder: Path) -> Path:
    sources = "".join(
        f'[sources.{name}]\ntype = "rss"\nurl = "https://{name}.example/feed"\n\n'
        for name in SOURCES
    )
    rules = "".join(
        f'[rules.{name}]\nquery = {json.dumps(query, ensure_ascii=False)}\nchannels = ["team"]\n\n'
        for name, query in RULES.items()
    )
    path = folder / "config.toml"
    path.write_text(CONFIG.format(sources=sources, rules=rules), encoding="utf-8")
    return path


def insert_articles(conn: sqlite3.Connection, count: int, writer: Writer) -> None:
    """``count`` articles over the last year, their matches and deliveries; no index."""
    now = datetime.now(UTC)
    start = now - timedelta(days=DAYS)
    step = (now - start) / count
    rules = list(RULES)
    articles: list[tuple[object, ...]] = []
    matches: list[tuple[object, ...]] = []
    match_id = 0
    for n in range(1, count + 1):
        fetched = (start + step * n).isoformat(timespec="seconds")
        articles.append(writer.article(n, fetched))
        if writer.rng.random() < MATCH_RATE:
            match_id += 1
            matches.append((match_id, writer.rng.choice(rules), n, fetched, "[]"))
        if len(articles) >= 20_000:
            _flush(conn, articles, matches)
    _flush(conn, articles, matches)
    conn.executemany(
        "INSERT OR REPLACE INTO sources (name, type, url, last_status, last_poll, last_success, "
        "failures, polls, articles) VALUES (?, 'rss', ?, 200, ?, ?, 0, 1000, 1000)",
        [(s, f"https://{s}.example/feed", now.isoformat(), now.isoformat()) for s in SOURCES],
    )
    conn.commit()


def _flush(conn: sqlite3.Connection, articles: list, matches: list) -> None:
    conn.executemany(
        "INSERT INTO articles (id, url, guid, source, title, summary, text, language, published, "
        "date_source, fetched, matched, revision, story_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        articles,
    )
    conn.executemany(
        "INSERT INTO matches (id, rule, article_id, matched_at, hits) VALUES (?,?,?,?,?)", matches
    )
    conn.commit()
    articles.clear()
    matches.clear()


def file_bytes(path: Path) -> int:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path.stat().st_size


def build(cache: Path, count: int) -> tuple[Path, dict[str, float]]:
    """The cached archive of ``count`` articles and the figures measured building it."""
    folder = cache / f"search-{count}"
    figures_path = folder / "figures.json"
    if figures_path.exists():
        write_config(folder)
        return folder, json.loads(figures_path.read_text())
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("newswatch.db*"):
        old.unlink()
    database = folder / "newswatch.db"
    open_database(database).close()  # the real schema, migrations and indexes
    conn = sqlite3.connect(database, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    print(f"building an archive of {count:,} articles in {folder} ...", flush=True)
    started = time.monotonic()
    conn.execute("BEGIN")
    insert_articles(conn, count, Writer())
    conn.execute("ANALYZE")
    print(f"  articles written in {time.monotonic() - started:.0f}s", flush=True)
    without = file_bytes(database)
    started = time.monotonic()
    conn.execute("BEGIN IMMEDIATE")
    fulltext.rebuild(conn)  # what migration 5 runs on an existing database
    conn.execute("COMMIT")
    build_seconds = time.monotonic() - started
    print(f"  index built in {build_seconds:.0f}s", flush=True)
    conn.close()
    figures = {
        "bytes_without_index": without,
        "bytes_with_index": file_bytes(database),
        "index_build_seconds": build_seconds,
    }
    figures_path.write_text(json.dumps(figures))
    write_config(folder)
    return folder, figures


# Measuring ----------------------------------------------------------------------------


def ingest_cost(database: Path, count: int, samples: int = 3000) -> float:
    """Seconds per article that indexing adds when storing (tokens made and inserted)."""
    writer = Writer(seed=99)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    rows = [writer.article(count + n, now) for n in range(1, samples + 1)]
    docs = [(r[0], r[4], r[5], r[6]) for r in rows]
    conn = sqlite3.connect(database, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    started = time.perf_counter()
    fulltext.add_documents(conn, docs)  # type: ignore[arg-type]
    elapsed = time.perf_counter() - started
    conn.execute("ROLLBACK")
    conn.close()
    return elapsed / samples


def timed(func: Callable[[], object], rounds: int) -> list[float]:
    func()  # warm the page cache
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return times


def searches(database: Path, rounds: int) -> Iterator[tuple[str, list[float], int]]:
    db = open_readonly(database)
    since = datetime.now(UTC) - timedelta(days=30)
    try:
        for label, query in SEARCHES.items():
            for where, suffix in (
                (SearchFilter(), ""),
                (SearchFilter(since=since), " --since 30d"),
            ):
                run = functools.partial(search_archive, db, query, where, limit=50)
                found = len(run().records)
                yield f"{label}: {query}{suffix}", timed(run, rounds), found
    finally:
        db.close()


def fetch(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=300) as response:
        response.read()
        assert response.status == 200, (url, response.status)
    return time.perf_counter() - started


async def pages(folder: Path, rounds: int) -> list[tuple[str, list[float]]]:
    from scheduler.config import load_config
    from scheduler.health import HealthState
    from scheduler.web.app import create_app
    from scheduler.web.server import WebServer
    from scheduler.web.site import Site

    config = load_config(folder / "config.toml")
    site = Site(lambda: config, probe=lambda: HealthState(True, "ok"))
    server = WebServer(create_app(site), "127.0.0.1", 0)
    await server.start()
    results = []
    try:
        for path in PAGES:
            url = server.url(path)
            await asyncio.to_thread(fetch, url)
            results.append((path, [await asyncio.to_thread(fetch, url) for _ in range(rounds)]))
    finally:
        await server.stop()
        await site.aclose()
    return results


def stats(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p95 * 1000


# Tokenizers compared ------------------------------------------------------------------


def compare(cache: Path, count: int, rounds: int) -> None:
    """Pairs for unspaced scripts (what newswatch uses) against FTS5's trigram tokenizer."""
    folder = cache / f"compare-{count}"
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\ntokenizers compared over {count:,} articles (ms; index only, no matcher)")
    print(f"{'DESIGN':34} {'BYTES/1000':>11} {'BUILD S':>8}  QUERY MEDIAN (found)")
    designs = {
        "unicode61 + pairs (newswatch)": (
            "CREATE VIRTUAL TABLE idx USING fts5(doc, content='', columnsize=0, "
            "tokenize=\"unicode61 remove_diacritics 0 categories 'L* N* Co M*'\")",
            lambda row: (row[0], fulltext.document(row[1], row[2], row[3])),
            lambda query: _pairs_expression(query),
        ),
        "trigram over the three columns": (
            "CREATE VIRTUAL TABLE idx USING fts5(title, summary, text, content='', "
            "columnsize=0, tokenize='trigram')",
            lambda row: row,
            lambda query: query if query.startswith('"') else f'"{query}"',
        ),
    }
    for name, (create, make, expression) in designs.items():
        path = folder / f"{name.split()[0]}.db"
        path.unlink(missing_ok=True)
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute(create)
        writer = Writer()
        rows = [writer.article(n, "2026-01-01") for n in range(1, count + 1)]
        started = time.monotonic()
        conn.execute("BEGIN")
        columns = "rowid, doc" if "pairs" in name else "rowid, title, summary, text"
        marks = ",".join("?" * len(columns.split(",")))
        conn.executemany(
            f"INSERT INTO idx ({columns}) VALUES ({marks})",
            [make((r[0], r[4], r[5], r[6])) for r in rows],
        )
        conn.execute("COMMIT")
        seconds = time.monotonic() - started
        size = file_bytes(path)
        answers = []
        for label, query in SEARCHES.items():
            if label == "and/or":
                continue
            sql = "SELECT count(*) FROM idx WHERE idx MATCH ?"
            count_of = functools.partial(_count, conn, sql, expression(query))
            found = count_of()
            times = timed(count_of, rounds)
            answers.append(f"{label} {stats(times)[0]:.1f} ({found})")
        conn.close()
        print(f"{name:34} {size * 1000 / count:11,.0f} {seconds:8.1f}  {', '.join(answers)}")


def _count(conn: sqlite3.Connection, sql: str, expression: str) -> int:
    return int(conn.execute(sql, [expression]).fetchone()[0])


def _pairs_expression(query: str) -> str:
    from alerts.rules.archive import index_expression
    from alerts.rules.query import parse_query

    return index_expression(parse_query(query)) or '""'


# Main -----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--page-rounds", type=int, default=10)
    parser.add_argument("--compare", type=int, default=0, help="compare tokenizers only")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/newswatch-search-bench"))
    args = parser.parse_args()
    if args.compare:
        compare(args.cache, args.compare, args.rounds)
        return
    folder, figures = build(args.cache, args.articles)
    database = folder / "newswatch.db"
    count = args.articles
    print(f"\narchive of {count:,} articles")
    without, with_index = figures["bytes_without_index"], figures["bytes_with_index"]
    print(
        f"  database per 1,000 articles: {without * 1000 / count / 1e6:.2f} MB without the "
        f"index, {with_index * 1000 / count / 1e6:.2f} MB with it "
        f"(+{(with_index - without) / without:.0%})"
    )
    print(
        f"  index built for the existing archive in {figures['index_build_seconds']:.0f} s "
        f"({figures['index_build_seconds'] / count * 1e6:.0f} µs per article)"
    )
    print(f"  indexing adds {ingest_cost(database, count) * 1000:.2f} ms to storing an article")
    print(f"\nsearches, 50 results at most (ms; {args.rounds} rounds; goal: median ≤ 100)")
    print(f"{'SEARCH':58} {'MEDIAN':>8} {'P95':>8} {'FOUND':>6}")
    for label, times, found in searches(database, args.rounds):
        median, p95 = stats(times)
        print(f"{label:58} {median:8.1f} {p95:8.1f} {found:6}")
    print(f"\npage timings (ms; {args.page_rounds} rounds; goal: under 200)")
    print(f"{'PAGE':58} {'MEDIAN':>8} {'P95':>8}")
    for path, times in asyncio.run(pages(folder, args.page_rounds)):
        median, p95 = stats(times)
        print(f"{path:58} {median:8.1f} {p95:8.1f}")


if __name__ == "__main__":
    main()
