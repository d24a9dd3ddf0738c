"""The naive loop: newswatch's first-poll job done by a plain Python loop, as a baseline.

    python benchmarks/naive.py --urls urls.txt --rules rules.json --db naive.db

One feed after another: urllib fetch, feedparser parse, insert each new item into SQLite
(unique URL), run every rule's regular expressions over it, insert one alert row per match,
one commit per feed. No canonicalisation, stories or delivery. Prints one JSON object with
what it did and where the time went. ingest.py runs it in a child process so its peak
memory is its own.
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import sys
import time
import urllib.request
from pathlib import Path

import feedparser


def load_rules(path: Path) -> list[tuple[str, list[tuple[str, re.Pattern[str]]], list]]:
    rules = []
    for rule in json.loads(path.read_text(encoding="utf-8")):
        required = [(f, re.compile(rx, re.IGNORECASE)) for f, rx in rule["required"]]
        excluded = [(f, re.compile(rx, re.IGNORECASE)) for f, rx in rule["excluded"]]
        rules.append((rule["name"], required, excluded))
    return rules


def matches(rule: tuple, title: str, text: str) -> bool:
    _, required, excluded = rule
    fields = {"title": title, "text": text}
    if not all(rx.search(fields[f]) for f, rx in required):
        return False
    return not any(rx.search(fields[f]) for f, rx in excluded)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--urls", type=Path, required=True, help="one feed URL a line")
    parser.add_argument("--rules", type=Path, required=True, help="rules.json (workload.py)")
    parser.add_argument("--db", type=Path, required=True)
    args = parser.parse_args()
    rules = load_rules(args.rules)
    db = sqlite3.connect(args.db)
    db.execute("CREATE TABLE IF NOT EXISTS items (url TEXT UNIQUE, title TEXT, body TEXT)")
    db.execute("CREATE TABLE IF NOT EXISTS alerts (rule TEXT, url TEXT)")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    spent = {"fetch": 0.0, "parse": 0.0, "store": 0.0, "match": 0.0}
    items = alerts = 0
    started = time.perf_counter()
    for url in args.urls.read_text().split():
        t0 = time.perf_counter()
        with opener.open(url, timeout=30) as response:
            body = response.read()
        t1 = time.perf_counter()
        parsed = feedparser.parse(body)
        t2 = time.perf_counter()
        spent["fetch"] += t1 - t0
        spent["parse"] += t2 - t1
        for entry in parsed.entries:
            t3 = time.perf_counter()
            title, text = entry.get("title", ""), entry.get("summary", "")
            cursor = db.execute(
                "INSERT OR IGNORE INTO items VALUES (?, ?, ?)", (entry.link, title, text)
            )
            t4 = time.perf_counter()
            found = []
            if cursor.rowcount:
                items += 1
                found = [rule[0] for rule in rules if matches(rule, title, f"{title}\n{text}")]
            t5 = time.perf_counter()
            db.executemany("INSERT INTO alerts VALUES (?, ?)", [(r, entry.link) for r in found])
            alerts += len(found)
            spent["store"] += (t4 - t3) + (time.perf_counter() - t5)
            spent["match"] += t5 - t4
        t6 = time.perf_counter()
        db.commit()
        spent["store"] += time.perf_counter() - t6
    elapsed = time.perf_counter() - started
    print(json.dumps({"items": items, "alerts": alerts, "seconds": elapsed, "spent": spent}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
