"""Page timings of the web interface over an archive of a million articles.

    /work/venvs/web/bin/python benchmarks/web.py                      # 1,000,000 articles
    /work/venvs/web/bin/python benchmarks/web.py --articles 200000 --rounds 10

The archive is built once (a few minutes) and cached under ``--cache``: a year of articles
from 40 sources in three languages, stories of one to three outlets, about 3 % of the
articles matched by one of seven rules, their deliveries (a few failed, a few retrying).
It is written with plain SQL inserts for speed, into a database created by newswatch
itself (the schema and its indexes are the real ones); the pages read it as they always
do, through the store modules, over a read-only connection.

The web interface then runs in this process on uvicorn, exactly as the service serves it,
and every page is requested ``--rounds`` times over HTTP, one request at a time. The
script prints the median, 95th percentile and worst time per page; the goal is under
200 ms for every page. The rule preview and the search (``/rules/preview``,
``/search``) read the full-text index and run the matcher over its candidates; they are
shown apart: their time grows with the number of articles the query matches in the period
(see docs/archive.md and benchmarks/search.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import statistics
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crawler import fulltext  # noqa: E402
from crawler.db import open_database  # noqa: E402
from scheduler.config import load_config  # noqa: E402

SOURCES = [f"outlet-{n:02d}" for n in range(40)]
RULES = {
    "scam": "scam AND (compound OR raid)",
    "casino": "casino AND licence",
    "trafficking": "traffick*",
    "land": '"land dispute" OR eviction',
    "border": "border AND (Thailand OR Vietnam)",
    "fraud": "fraud OR swindle",
    "flood": "flood* AND Mekong",
}
_VOCABULARY = (
    "police government minister province market rice farmers Mekong river border Thailand "
    "Vietnam court ruling election party casino licence scam compound raid workers rescued "
    "fraud investment land dispute eviction families school hospital road bridge garment "
    "factory exports tourism airport Phnom Penh Siem Reap Sihanoukville Kampot Battambang "
    "trafficking victims officials arrested charged fined weather flood drought harvest"
)
WORDS = _VOCABULARY.split()
LANGUAGES = ["en"] * 6 + ["km"] * 3 + ["zh"]
STORY_SIZES = [1, 1, 1, 2, 2, 3]
MATCH_RATE = 0.03
DAYS = 365

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


def sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def write_config(folder: Path) -> Path:
    sources = "".join(
        f'[sources.{name}]\ntype = "rss"\nurl = "https://{name}.example/feed"\n\n'
        for name in SOURCES
    )
    rules = "".join(
        f'[rules.{name}]\nquery = {json.dumps(query)}\nchannels = ["team"]\n\n'
        for name, query in RULES.items()
    )
    path = folder / "config.toml"
    path.write_text(CONFIG.format(sources=sources, rules=rules), encoding="utf-8")
    return path


def build_archive(folder: Path, count: int, seed: int = 7) -> None:
    """Write ``count`` articles, their stories, matches and deliveries."""
    database = folder / "newswatch.db"
    open_database(database).close()  # the real schema, migrations and indexes
    conn = sqlite3.connect(database)
    conn.execute("PRAGMA synchronous = OFF")
    rng = random.Random(seed)
    now = datetime.now(UTC)
    start = now - timedelta(days=DAYS)
    step = (now - start) / count
    rules = list(RULES)
    articles, matches, outbox = [], [], []
    story, left_in_story, match_id = 0, 0, 0
    for n in range(1, count + 1):
        if left_in_story == 0:
            story += 1
            left_in_story = rng.choice(STORY_SIZES)
            topic = sentence(rng, 8)
        left_in_story -= 1
        fetched = (start + step * n).isoformat(timespec="seconds")
        title = topic.capitalize() + " " + sentence(rng, 3)
        summary = topic + ". " + sentence(rng, 30)
        text = sentence(rng, 140) if rng.random() < 0.2 else None
        source = rng.choice(SOURCES)
        articles.append(
            (n, f"https://{source}.example/{n}", f"g{n}", source, title, summary, text,
             rng.choice(LANGUAGES), fetched, "feed", fetched, 1, 0, story)
        )  # fmt: skip
        if rng.random() < MATCH_RATE:
            match_id += 1
            rule = rng.choice(rules)
            hits = json.dumps([["title", 0, len(topic.split()[0]), topic.split()[0].lower()]])
            matches.append((match_id, rule, n, fetched, hits))
            state = rng.choices(["sent", "failed", "retrying"], [0.97, 0.02, 0.01])[0]
            error = None if state == "sent" else "HTTP 503 Service Unavailable"
            outbox.append(
                (match_id, f"{rule}.{n}.team", match_id, rule, n, "team", state, 1, fetched,
                 error, fetched, fetched if state == "sent" else None, 1)
            )  # fmt: skip
        if len(articles) >= 50_000:
            _flush(conn, articles, matches, outbox)
    _flush(conn, articles, matches, outbox)
    conn.executemany(
        "INSERT OR REPLACE INTO sources (name, type, url, last_status, last_poll, last_success, "
        "failures, polls, articles) VALUES (?, 'rss', ?, 200, ?, ?, 0, 1000, 1000)",
        [(s, f"https://{s}.example/feed", now.isoformat(), now.isoformat()) for s in SOURCES],
    )
    conn.commit()
    # The search index, built as the migration that adds it builds it for stored articles.
    conn.execute("BEGIN IMMEDIATE")
    fulltext.rebuild(conn)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


def _flush(conn: sqlite3.Connection, articles: list, matches: list, outbox: list) -> None:
    conn.executemany(
        "INSERT INTO articles (id, url, guid, source, title, summary, text, language, published, "
        "date_source, fetched, matched, revision, story_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        articles,
    )
    conn.executemany(
        "INSERT INTO matches (id, rule, article_id, matched_at, hits) VALUES (?,?,?,?,?)", matches
    )
    conn.executemany(
        "INSERT INTO outbox (id, key, match_id, rule, article_id, channel, state, attempts, "
        "next_attempt, last_error, created, sent_at, classified) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        outbox,
    )
    conn.commit()
    articles.clear()
    matches.clear()
    outbox.clear()


def archive(cache: Path, count: int) -> Path:
    """The cached archive of ``count`` articles (built when missing)."""
    folder = cache / f"archive-{count}-v5"  # schema 5: with the search index
    marker = folder / "complete"
    if not marker.exists():
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("newswatch.db*"):
            old.unlink()
        started = time.monotonic()
        print(f"building an archive of {count:,} articles in {folder} ...", flush=True)
        build_archive(folder, count)
        marker.write_text("ok\n")
        print(f"  built in {time.monotonic() - started:.0f}s", flush=True)
    write_config(folder)
    return folder


PAGES = [
    "/",
    "/matches",
    "/matches?rule=trafficking",
    "/matches?source=outlet-07",
    "/matches?language=km",
    "/matches?from={week_ago}&to={today}",
    "/rules",
    "/rules/scam",
    "/rules/new",
    "/rules/check?query=scam+AND+(compound+OR+raid)",
    "/sources",
    "/sources/new",
    "/deliveries",
    "/search",
    "/feeds/scam.atom",
    "/healthz",
]
SCANS = [
    "/rules/preview?query=scam+AND+compound&period=1d",
    "/rules/preview?query=scam+AND+compound&period=7d",
    "/search?q=casino+AND+licence&period=7d",
    "/search?q=casino+AND+licence&period=30d",
]


def fetch(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as response:
        response.read()
        assert response.status == 200, (url, response.status)
    return time.perf_counter() - started


async def measure(folder: Path, rounds: int, scan_rounds: int) -> list[tuple[str, list[float]]]:
    from scheduler.health import HealthState
    from scheduler.web.app import create_app
    from scheduler.web.server import WebServer
    from scheduler.web.site import Site

    config = load_config(folder / "config.toml")
    site = Site(lambda: config, probe=lambda: HealthState(True, "ok"))
    server = WebServer(create_app(site), "127.0.0.1", 0)
    await server.start()
    today = datetime.now(UTC).date()
    values = {"today": today.isoformat(), "week_ago": (today - timedelta(days=7)).isoformat()}
    results = []
    try:
        for paths, count in ((PAGES, rounds), (SCANS, scan_rounds)):
            for path in paths:
                url = server.url(path.format(**values))
                await asyncio.to_thread(fetch, url)  # warm the page cache once
                times = [await asyncio.to_thread(fetch, url) for _ in range(count)]
                results.append((path, times))
    finally:
        await server.stop()
        await site.aclose()
    return results


def report(results: list[tuple[str, list[float]]], count: int) -> None:
    print(f"\npage timings over {count:,} articles (ms; one request at a time)")
    print(f"{'PAGE':58} {'MEDIAN':>8} {'P95':>8} {'MAX':>8}")
    slow = []
    for path, times in results:
        ordered = sorted(times)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        median = statistics.median(ordered)
        print(f"{path:58} {median * 1000:8.1f} {p95 * 1000:8.1f} {ordered[-1] * 1000:8.1f}")
        if path in PAGES and p95 > 0.2:
            slow.append(path)
    print("\nevery page under 200 ms (p95)" if not slow else f"\nover 200 ms: {', '.join(slow)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--scan-rounds", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/newswatch-web-bench"))
    args = parser.parse_args()
    folder = archive(args.cache, args.articles)
    results = asyncio.run(measure(folder, args.rounds, args.scan_rounds))
    report(results, args.articles)


if __name__ == "__main__":
    main()
