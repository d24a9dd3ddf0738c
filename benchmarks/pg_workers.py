"""Workers on PostgreSQL against one process on SQLite: a farm of 2,000 feeds.

    python benchmarks/pg_workers.py                         # 2,000 feeds x 5 items, 1/2/3 workers
    python benchmarks/pg_workers.py --feeds 200 --workers 1 2   # a quick look

For each setup (SQLite with one ``newswatch run``; PostgreSQL with 1, 2 and 3 workers), in
a fresh folder and a fresh database, against a fresh farm on 50 loopback hosts:

* *first poll*: the workers start on an empty database; from the farm's first request to
  the moment every served item is stored (read from the database every half second):
  items per second, and the requests each worker made (from the workers table on
  PostgreSQL);
* *steady state*: once that is done, one new item is added to every feed; feeds poll every
  ``--interval``, so the time until all of them are stored says whether the setup keeps up
  with ``feeds / interval`` polls a second (it cannot finish before the feeds fall due).

Then, in this process, the *database time per article*: ``store_articles`` (with the story
index) and ``match_pending`` over the same items on each backend, without any fetching, and
on PostgreSQL with 1, 2 and 3 threads storing at once (each its own connection): what the
serialised store transaction costs when workers write together.

Needs the PostgreSQL server at 127.0.0.1:5432 (``--server`` names another); each setup
gets a database of its own, dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from benchmarks.farm import FeedFarm  # noqa: E402
from benchmarks.procs import Child, newswatch_cmd, newswatch_env  # noqa: E402
from benchmarks.workload import ConfigSpec, ItemMaker, make_rules  # noqa: E402

SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def create_db(server: str) -> str:
    name = f"newswatch_bench_{secrets.token_hex(4)}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    return server.rsplit("/", 1)[0] + "/" + name


def drop_db(server: str, url: str) -> None:
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'.encode())


def counter(target: str) -> Callable[[str], int]:
    """A function answering ``SELECT count(*)`` queries on either backend."""
    if target.startswith("postgresql://"):

        def pg(sql: str) -> int:
            try:
                with psycopg.connect(target) as conn:
                    row = conn.execute(sql.encode()).fetchone()
                    return int(row[0]) if row else 0
            except psycopg.Error:
                return 0

        return pg

    def lite(sql: str) -> int:
        if not Path(target).exists():
            return 0
        conn = sqlite3.connect(f"{Path(target).resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        try:
            return int(conn.execute(sql).fetchone()[0])
        except sqlite3.Error:
            return 0
        finally:
            conn.close()

    return lite


def wait_for(predicate: Callable[[], bool], timeout: float, step: float = 0.5) -> float | None:
    """Seconds (monotonic) at which ``predicate`` first held, or None after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        time.sleep(step)
    return None


def run_setup(args: argparse.Namespace, backend: str, workers: int) -> dict:
    folder = Path(tempfile.mkdtemp(prefix=f"pgw-{backend}-{workers}-"))
    target = str(folder / "newswatch.db") if backend == "sqlite" else create_db(args.server)
    farm = FeedFarm(args.feeds, hosts=args.hosts, items=args.items, maker=ItemMaker(seed=16))
    farm.start()
    children: list[Child] = []
    try:
        config = ConfigSpec(
            sources={f"f{i:04d}": farm.url(i) for i in range(args.feeds)},
            rules=make_rules(args.rules),
            channels={"box": {"type": "mbox", "path": "alerts.mbox"}},
            service={
                "database": target,
                "interval": f"{args.interval}s",
                "host_spacing": "0.01s",  # politeness is not what is measured
                "timeout": "60s",
                "concurrency_per_host": 2,
            },
        ).write(folder)
        count = counter(target)
        total = args.feeds * args.items
        env = newswatch_env()
        launched = time.monotonic()
        for n in range(workers):
            cmd = newswatch_cmd("run", "--config", str(config))
            children.append(Child(cmd, folder, f"worker-{n}", env=env))
        done = wait_for(lambda: count("SELECT count(*) FROM articles") >= total, args.timeout)
        hits = [hit.at for _, hit in farm.all_hits()]
        first_request = min(hits, default=float("nan"))
        result: dict = {"backend": backend, "workers": workers, "items": total}
        result["startup"] = first_request - launched
        if done is None:
            result["first"] = None
            return result
        result["first"] = done - first_request
        result["first_rate"] = total / (done - first_request)
        result["requests"] = len(hits)
        if backend != "sqlite":
            with psycopg.connect(target) as conn:
                rows = conn.execute(b"SELECT polls FROM workers ORDER BY polls DESC").fetchall()
            result["polls_per_worker"] = [int(r[0]) for r in rows]
        # Steady state: one new item per feed, polled when each feed next falls due.
        farm.clear_hits()
        published = time.monotonic()
        for index in range(args.feeds):
            farm.add_item(index)
        goal = total + args.feeds
        steady = wait_for(lambda: count("SELECT count(*) FROM articles") >= goal, args.steady_wait)
        result["steady"] = None if steady is None else steady - published
        result["steady_stored"] = count("SELECT count(*) FROM articles") - total
        result["steady_requests"] = sum(1 for _ in farm.all_hits())
        return result
    finally:
        for child in children:
            child.kill()
        farm.stop()
        if backend != "sqlite":
            drop_db(args.server, target)
        shutil.rmtree(folder, ignore_errors=True)


# --- database time per article, in this process ------------------------------------------


def db_time(args: argparse.Namespace) -> list[dict]:
    """Store and match times per article on each backend (and with threads on PostgreSQL)."""
    from alerts.rules.matcher import Matcher
    from alerts.rules.rule import Rule

    rules = [Rule(r.name, r.query()) for r in make_rules(args.rules)]
    matcher = Matcher.build(rules)
    routes = {r.name: ["box"] for r in rules}
    figures = []
    for backend, threads in (
        ("sqlite", 1),
        ("postgresql", 1),
        ("postgresql", 2),
        ("postgresql", 3),
    ):
        folder = Path(tempfile.mkdtemp(prefix="pgw-db-"))
        target = str(folder / "n.db") if backend == "sqlite" else create_db(args.server)
        try:
            figures.append(_db_time_on(args, target, threads, matcher, routes))
            figures[-1].update(backend=backend, threads=threads)
        finally:
            if backend != "sqlite":
                drop_db(args.server, target)
            shutil.rmtree(folder, ignore_errors=True)
    return figures


def _db_time_on(args: argparse.Namespace, target: str, threads: int, matcher, routes) -> dict:
    from datetime import UTC, datetime

    from alerts.routing import match_pending
    from crawler.db import open_database
    from crawler.models import Article
    from crawler.store import store_articles
    from crawler.stories import StoryIndex

    maker = ItemMaker(seed=7)
    now = datetime.now(UTC)
    per_thread: list[list[list[Article]]] = [[] for _ in range(threads)]
    batches = args.db_articles // args.batch
    for b in range(batches):
        items = [maker.item(b * args.batch + i, b % 97) for i in range(args.batch)]
        source = f"s{b % threads}"
        per_thread[b % threads].append(
            [Article(it.link, source, it.title, it.body, None, now, it.guid) for it in items]
        )
    dbs = [open_database(target) for _ in range(threads)]
    stored: Counter[int] = Counter()

    def store(t: int) -> None:
        index = StoryIndex(dbs[t])
        for batch in per_thread[t]:
            stored[t] += len(store_articles(dbs[t], batch, index))

    started = time.perf_counter()
    pool = [threading.Thread(target=store, args=(t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    store_s = time.perf_counter() - started
    started = time.perf_counter()
    match_pending(dbs[0], matcher, routes)
    match_s = time.perf_counter() - started
    for db in dbs:
        db.close()
    n = sum(stored.values())
    return {
        "articles": n,
        "store_ms": 1000 * store_s / n,
        "match_ms": 1000 * match_s / n,
        "store_rate": n / store_s,
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--items", type=int, default=5, help="items per feed at the start")
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--rules", type=int, default=200)
    parser.add_argument("--interval", type=int, default=60, help="seconds between polls")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--db-articles", type=int, default=1200)
    parser.add_argument("--batch", type=int, default=20, help="articles per store transaction")
    parser.add_argument("--server", default=os.environ.get("NEWSWATCH_BENCH_PG", SERVER))
    parser.add_argument("--skip-runs", action="store_true", help="only the database times")
    parser.add_argument("--no-sqlite", action="store_true", help="leave out the SQLite run")
    parser.add_argument(
        "--steady-wait", type=float, default=180, help="seconds to wait for the steady cycle"
    )
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    load = os.getloadavg()[0]
    print(
        f"farm: {args.feeds} feeds x {args.items} items on {args.hosts} hosts, "
        f"{args.rules} rules, interval {args.interval}s; load average {load:.1f}"
    )
    if not args.skip_runs:
        setups = [] if args.no_sqlite else [("sqlite", 1)]
        setups += [("postgresql", n) for n in args.workers]
        print("\nsetup             start-up  first poll          steady state (new item per feed)")
        for backend, workers in setups:
            r = run_setup(args, backend, workers)
            name = f"{backend} x{workers}"
            if r["first"] is None:
                print(f"{name:<17} {r['startup']:6.1f} s  did not finish in {args.timeout:.0f} s")
                continue
            steady = (
                f"{r['steady_stored']} of {args.feeds} in {args.steady_wait:.0f} s"
                if r["steady"] is None
                else (f"{r['steady']:.1f} s = {args.feeds / r['steady']:.0f} items/s")
            )
            print(
                f"{name:<17} {r['startup']:6.1f} s  {r['first']:6.1f} s = "
                f"{r['first_rate']:5.0f} items/s  {steady}"
                + (
                    f"  polls per worker {r['polls_per_worker']}"
                    if r.get("polls_per_worker")
                    else ""
                )
            )
    print(
        f"\ndatabase time per article ({args.db_articles} articles, {args.batch} per transaction,"
        f" {args.rules} rules; no fetching)"
    )
    print("backend        threads  store+story    match     articles/s stored")
    for f in db_time(args):
        times = f"{f['store_ms']:6.2f} ms  {f['match_ms']:6.2f} ms"
        print(f"{f['backend']:<14} {f['threads']:>7}  {times}  {f['store_rate']:8.0f}")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
