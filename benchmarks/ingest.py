"""First poll, re-poll and delivery of a feed farm: newswatch against rss2email and a naive loop.

    python benchmarks/ingest.py                       # 500 feeds x 50 items, 1,000 rules
    python benchmarks/ingest.py --feeds 40 --rules 100 --no-one-host      # a quick look
    python benchmarks/ingest.py --archive 0 --archive 100000 --archive 1000000

The farm (benchmarks/farm.py) serves ``--feeds`` RSS feeds of ``--items`` items each (about
65 KB a feed) with ETag / 304, spread over ``--hosts`` loopback addresses (127.0.0.1 ...
127.0.0.50, ten feeds each by default), as real outlets are; the one-host layout serves the
same feeds from 127.0.0.1 alone. newswatch keeps its default politeness (one request at a
time per host).

For each layout and archive size the script runs, in a fresh folder:

1. ``newswatch once`` (first poll: fetch, parse, canonicalise, dedupe, store, stories,
   match every rule, queue alerts, then deliver them to a local mbox). From its JSON log it
   splits the run into start-up (launch to the first request the farm saw), the pipeline
   (to the last per-source ``poll`` summary, which is logged after matching) and delivery
   (the ``sent`` records), and reads its peak memory from ``wait4``;
2. ``newswatch once`` again: the re-poll of the unchanged farm (every feed answers 304);
3. rss2email 3.14 ``run --no-send``, first and again (ETags kept), on the same farm;
4. the naive loop (benchmarks/naive.py) on the same farm, in a child process.

It checks that every item was stored and that newswatch and the naive loop found the same
number of (rule, item) matches, prints a table and writes every figure as JSON
(``--json``). Archives larger than 0 are built once and cached (benchmarks/archive.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import archive as archives  # noqa: E402
from benchmarks import profiles  # noqa: E402
from benchmarks.farm import FeedFarm  # noqa: E402
from benchmarks.peers import find_r2e, naive_report, run_naive, run_r2e  # noqa: E402
from benchmarks.procs import Measured, newswatch_cmd, newswatch_env, run_measured  # noqa: E402
from benchmarks.workload import ConfigSpec, ItemMaker, make_rules, rules_to_json  # noqa: E402

TARGET_ITEMS_PER_SECOND = 3000
TARGET_REPOLL_SECONDS = 0.9
TARGET_PEAK_MIB = 200


def count(db: Path, sql: str) -> int:
    if not db.exists():
        return 0
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def matches_of(db: Path, feeds: int) -> int:
    """Matches of articles from the first ``feeds`` feeds (those the naive loop also reads)."""
    names = ",".join(f"'f{i:04d}'" for i in range(feeds))
    return count(
        db,
        "SELECT count(*) FROM matches m JOIN articles a ON a.id = m.article_id "
        f"WHERE a.source IN ({names})",
    )


def mbox_messages(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open("rb") as box:
        return sum(1 for line in box if line.startswith(b"From "))


def newswatch_config(folder: Path, farm: FeedFarm, rules: list, args: argparse.Namespace) -> Path:
    spec = ConfigSpec(
        sources={f"f{i:04d}": farm.url(i) for i in range(len(farm.feeds))},
        rules=rules,
        channels={"box": {"type": "mbox", "path": "alerts.mbox"}},
        service={"timeout": "60s"},
    )
    return spec.write(folder)


def phases(run: Measured, farm: FeedFarm) -> dict[str, Any]:
    """Start-up, pipeline and delivery times of one ``once`` (seconds after launch)."""
    hits = [hit.at - run.started for _, hit in farm.all_hits()]
    polls = run.log_offsets(lambda r: str(r.get("message", "")).startswith("poll "))
    sent = run.log_offsets(lambda r: str(r.get("message", "")).startswith("sent "))
    first_hit = min(hits, default=float("nan"))
    pipeline_end = max(polls, default=run.wall)
    return {
        "wall": run.wall,
        "startup": first_hit,
        "first_request": first_hit,
        "last_request": max(hits, default=float("nan")),
        "pipeline_end": pipeline_end,
        "delivery_start": min(sent, default=float("nan")),
        "delivery_end": max(sent, default=float("nan")),
        "requests": len(hits),
        "peak_mib": run.peak_mib,
        "returncode": run.returncode,
    }


def newswatch_runs(
    folder: Path, farm: FeedFarm, rules: list, args: argparse.Namespace, seed_db: Path | None
) -> dict[str, Any]:
    """First poll and re-poll in ``folder`` (starting from a copy of ``seed_db`` if given)."""
    config = newswatch_config(folder, farm, rules, args)
    db = folder / "newswatch.db"
    if seed_db is not None:
        archives.copy_archive(seed_db, db)
    before = count(db, "SELECT count(*) FROM articles")
    env = newswatch_env()
    farm.clear_hits()
    first = run_measured(newswatch_cmd("once", "--config", str(config)), folder, "first", env=env)
    if first.returncode != 0:
        raise SystemExit(f"newswatch once failed ({first.returncode}):\n{first.text()[-3000:]}")
    figures = {"first": phases(first, farm)}
    stored = count(db, "SELECT count(*) FROM articles") - before
    figures["first"].update(
        items=stored,
        archive_before=before,
        matches=count(db, "SELECT count(*) FROM matches")
        - (count(seed_db, "SELECT count(*) FROM matches") if seed_db else 0),
        alerts_queued=count(db, "SELECT count(*) FROM outbox")
        - (count(seed_db, "SELECT count(*) FROM outbox") if seed_db else 0),
        mbox=mbox_messages(folder / "alerts.mbox"),
        matches_naive_feeds=matches_of(db, args.naive_feeds or args.feeds)
        - (matches_of(seed_db, args.naive_feeds or args.feeds) if seed_db else 0),
    )
    farm.clear_hits()
    again = run_measured(newswatch_cmd("once", "--config", str(config)), folder, "again", env=env)
    figures["again"] = phases(again, farm)
    figures["again"]["items"] = count(db, "SELECT count(*) FROM articles") - before - stored
    return figures


def peer_runs(
    folder: Path, farm: FeedFarm, rules_json: Path, args: argparse.Namespace, *, naive: bool
) -> dict:
    urls = [farm.url(i) for i in range(len(farm.feeds))]
    figures: dict[str, Any] = {}
    r2e = None if args.no_r2e else find_r2e(args.r2e)
    if r2e is not None:
        for name in ("first", "again"):
            farm.clear_hits()
            run = run_r2e(r2e, folder, urls, f"r2e-{name}")
            figures[f"r2e_{name}"] = {
                "wall": run.wall,
                "peak_mib": run.peak_mib,
                "returncode": run.returncode,
                "requests": sum(1 for _ in farm.all_hits()),
            }
    if naive and not args.no_naive:
        farm.clear_hits()
        sample = urls[: args.naive_feeds] if args.naive_feeds else urls
        run = run_naive(folder, sample, rules_json)
        report = naive_report(run)
        figures["naive"] = {
            "wall": run.wall,
            "peak_mib": run.peak_mib,
            "feeds": len(sample),
            **report,
        }
    return figures


def profile_polls(
    folder: Path, farm: FeedFarm, rules: list, args: argparse.Namespace
) -> dict[str, str]:
    """A first poll and a re-poll (not timed: the profiler slows them) under a profiler."""
    folder.mkdir(parents=True, exist_ok=True)
    config = newswatch_config(folder, farm, rules, args)
    cmd = newswatch_cmd("once", "--config", str(config))
    results = {}
    for name in ("first-poll", "re-poll"):
        out = (args.profile_dir or folder) / f"{name}-{args.feeds}x{args.items}"
        out.parent.mkdir(parents=True, exist_ok=True)
        if args.profile == "pyinstrument":
            report = profiles.record_pyinstrument(cmd, out, newswatch_env())
            summary = "\n".join(report.read_text().splitlines()[:80])
        else:
            report = profiles.record_py_spy(cmd, out, newswatch_env())
            summary = profiles.summarize_speedscope(report)
        print(f"\n== profile of the {name} ({args.profile}): {report} ==\n{summary}")
        results[name] = str(report)
    return results


def run_layout(
    label: str, hosts: int, archive_sizes: list[int], args: argparse.Namespace, work: Path
) -> dict[str, Any]:
    maker = ItemMaker(seed=args.seed)
    rules = make_rules(args.rules, seed=args.seed, vocab=maker.vocab)
    results: dict[str, Any] = {"layout": label, "hosts": hosts, "runs": {}}
    with FeedFarm(args.feeds, hosts=hosts, items=args.items, maker=maker) as farm:
        results["farm_bytes"] = sum(len(f.body) for f in farm.feeds)
        for size in archive_sizes:
            folder = work / f"{label}-archive-{size}"
            folder.mkdir(parents=True, exist_ok=True)
            seed_db = archives.ensure_archive(size, args.archive_cache) if size else None
            results["runs"][str(size)] = newswatch_runs(folder, farm, rules, args, seed_db)
            farm_reset(farm)
        if args.profile and label == "many-hosts":
            results["profile"] = profile_polls(work / "profile", farm, rules, args)
        if not args.no_peers:
            folder = work / f"{label}-peers"
            folder.mkdir(parents=True, exist_ok=True)
            rules_json = folder / "rules.json"
            rules_to_json(rules, rules_json)
            # The naive loop fetches one feed after another: the layout cannot change it.
            naive = label == "many-hosts" or args.no_one_host
            results["peers"] = peer_runs(folder, farm, rules_json, args, naive=naive)
    return results


def farm_reset(farm: FeedFarm) -> None:
    """Forget what was served (the feeds keep their ETags: the next client is new anyway)."""
    for item in farm.all_items():
        item.served = False


def rate(items: int, seconds: float) -> float:
    return items / seconds if seconds and seconds == seconds else float("nan")


def print_layout(result: dict[str, Any], total_items: int) -> None:
    print(f"\n== {result['layout']}: {result['hosts']} host(s), {total_items} items ==")
    for size, runs in result["runs"].items():
        first, again = runs["first"], runs["again"]
        pipe = first["pipeline_end"]
        print(
            f"newswatch first poll, archive {int(size):>9,}: {first['items']} items stored "
            f"in {pipe:.1f}s end to end = {rate(first['items'], pipe):.0f} items/s "
            f"(start-up {first['startup']:.2f}s, fetch->queued "
            f"{pipe - first['startup']:.1f}s = "
            f"{rate(first['items'], pipe - first['startup']):.0f} items/s), "
            f"peak {first['peak_mib']:.0f} MiB"
        )
        print(
            f"  matches {first['matches']}, alerts queued {first['alerts_queued']}, mbox "
            f"{first['mbox']}; delivery {first['wall'] - pipe:.2f}s after the pipeline "
            f"(sent records {first['delivery_start']:.1f}s..{first['delivery_end']:.1f}s); "
            f"process wall {first['wall']:.1f}s"
        )
        print(
            f"  re-poll (304s): wall {again['wall']:.2f}s, requests {again['requests']} "
            f"between {again['first_request']:.2f}s and {again['last_request']:.2f}s, "
            f"pipeline done at {again['pipeline_end']:.2f}s "
            f"(in-process {again['pipeline_end'] - again['startup']:.2f}s), new {again['items']}"
        )
    peers = result.get("peers", {})
    if "r2e_first" in peers:
        r1, r2 = peers["r2e_first"], peers["r2e_again"]
        print(
            f"rss2email 3.14 --no-send: first {r1['wall']:.1f}s = "
            f"{rate(total_items, r1['wall']):.0f} items/s (peak {r1['peak_mib']:.0f} MiB), "
            f"re-poll {r2['wall']:.2f}s"
        )
    if "naive" in peers:
        nv = peers["naive"]
        print(
            f"naive loop ({nv['feeds']} feeds): {nv['items']} items, {nv['alerts']} matches in "
            f"{nv['wall']:.1f}s = {rate(nv['items'], nv['wall']):.0f} items/s "
            f"(fetch {nv['spent']['fetch']:.1f}s, parse {nv['spent']['parse']:.1f}s, "
            f"match {nv['spent']['match']:.1f}s, store {nv['spent']['store']:.1f}s), "
            f"peak {nv['peak_mib']:.0f} MiB"
        )


def print_verdict(results: list[dict[str, Any]], total_items: int) -> None:
    """The issue's targets, each with the figure it is judged on."""
    print("\n== targets (issue 12) ==")
    for result in results:
        runs = result["runs"]
        if "0" not in runs:
            continue
        first, again = runs["0"]["first"], runs["0"]["again"]
        nw = rate(first["items"], first["pipeline_end"])
        lines = [
            (f">= {TARGET_ITEMS_PER_SECOND} items/s", nw >= TARGET_ITEMS_PER_SECOND, f"{nw:.0f}"),
            (
                f"<= {TARGET_PEAK_MIB} MiB peak",
                first["peak_mib"] <= TARGET_PEAK_MIB,
                f"{first['peak_mib']:.0f}",
            ),
            (
                f"re-poll < {TARGET_REPOLL_SECONDS}s (process wall)",
                again["wall"] < TARGET_REPOLL_SECONDS,
                f"{again['wall']:.2f}s",
            ),
            ("all items stored", first["items"] == total_items, f"{first['items']}/{total_items}"),
        ]
        peers = result.get("peers", {})
        if "r2e_first" in peers:
            r2e = rate(total_items, peers["r2e_first"]["wall"])
            lines.append(("2x rss2email", nw >= 2 * r2e, f"{nw / r2e:.2f}x"))
        if "naive" in peers:
            nv = peers["naive"]
            naive = rate(nv["items"], nv["wall"])
            lines.append(("30x naive loop", nw >= 30 * naive, f"{nw / naive:.1f}x"))
            ours = first["matches_naive_feeds"]
            lines.append(
                (
                    f"same (rule, item) matches as the naive loop on its {nv['feeds']} feeds",
                    nv["alerts"] == ours,
                    f"{ours} vs {nv['alerts']}",
                )
            )
        lines.append(
            (
                "once delivers every alert it queued",
                first["mbox"] == first["alerts_queued"],
                f"{first['mbox']} of {first['alerts_queued']}",
            )
        )
        for text, ok, figure in lines:
            print(f"  [{'ok' if ok else 'MISS'}] {result['layout']}: {text}: {figure}")
    sizes = {int(s): r["first"] for s, r in results[0]["runs"].items()}
    if 0 in sizes and len(sizes) > 1:
        base = rate(sizes[0]["items"], sizes[0]["pipeline_end"])
        for size, first in sorted(sizes.items()):
            if size:
                now = rate(first["items"], first["pipeline_end"])
                drop = 100 * (1 - now / base)
                mark = ("ok" if drop <= 20 else "MISS") if size >= 1_000_000 else "info"
                print(
                    f"  [{mark}] archive {size:,}: {now:.0f} items/s, "
                    f"{drop:+.0f}% slower than empty (target: at most 20% at 1M)"
                )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--items", type=int, default=50, help="items per feed")
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--hosts", type=int, default=50, help="loopback hosts (max 50)")
    parser.add_argument("--no-one-host", action="store_true", help="skip the one-host layout")
    parser.add_argument(
        "--archive",
        type=int,
        action="append",
        help="articles already stored before the first poll (repeatable; default 0)",
    )
    parser.add_argument(
        "--archive-cache",
        type=Path,
        default=Path(os.environ.get("NEWSWATCH_BENCH_CACHE", "/work/tmp-bench/archives")),
        help="where built archives are kept between runs",
    )
    parser.add_argument("--r2e", help="the rss2email 3.14 r2e executable")
    parser.add_argument("--no-r2e", action="store_true")
    parser.add_argument("--no-naive", action="store_true")
    parser.add_argument("--no-peers", action="store_true", help="neither rss2email nor naive")
    parser.add_argument(
        "--naive-feeds", type=int, default=0, help="run the naive loop on the first N feeds only"
    )
    parser.add_argument(
        "--profile",
        choices=["py-spy", "pyinstrument"],
        help="profile one more first poll and re-poll (many hosts, empty archive)",
    )
    parser.add_argument("--profile-dir", type=Path, help="where profiles go (default: work)")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--work", type=Path, help="work folder (default: a new temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--json", type=Path, help="write every figure here")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="newswatch-ingest-"))
    work.mkdir(parents=True, exist_ok=True)
    total = args.feeds * args.items
    sizes = args.archive or [0]
    started = time.monotonic()
    print(f"load average at start: {os.getloadavg()} on {os.cpu_count()} cores", flush=True)
    results = [run_layout("many-hosts", args.hosts, sizes, args, work)]
    print_layout(results[-1], total)
    if not args.no_one_host and args.hosts > 1:
        results.append(run_layout("one-host", 1, [0], args, work))
        print_layout(results[-1], total)
    print_verdict(results, total)
    print(f"\nbenchmark took {time.monotonic() - started:.0f}s; work folder {work}")
    print(f"load average at the end: {os.getloadavg()} (other work on the machine skews times)")
    if args.json:
        payload = {"args": {k: str(v) for k, v in vars(args).items()}, "results": results}
        args.json.write_text(json.dumps(payload, indent=1), encoding="utf-8")
    if not args.keep and args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
