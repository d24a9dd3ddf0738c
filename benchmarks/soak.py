"""Soak test: ``newswatch run`` against a local farm of feeds for thousands of polls.

    /tmp/nw/bin/python benchmarks/soak.py                  # 200 feeds, >= 3000 source polls
    /tmp/nw/bin/python benchmarks/soak.py --feeds 300 --polls 6000 --max-seconds 300

One ThreadingHTTPServer on 127.0.0.1 serves every feed (one path each, with ETag / 304);
items are added while the service runs, in step with the polls done so far. Every source
polls each second. The script prints resident memory (VmRSS) and open file descriptors at
start, after warm-up, in the middle and at the end; checks that every item added was stored
and that every matching item was alerted exactly once (mbox channel, counted per article
URL); and reports the gap between two polls of the same feed, seen from the farm, as an
outside measure of how late the service runs its schedule. When the service logs event-loop
lag (``scheduler.looplag``), the last figures logged are printed as well.
"""

from __future__ import annotations

import argparse
import json
import mailbox
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scheduler.looplag import percentile  # noqa: E402

RULE = "raid AND Sihanoukville"
SHOWN_ITEMS = 40  # a feed shows its newest items only, as real feeds do
HOST_SUFFIX = ".soak.invalid"  # never resolved: the proxy (the farm) answers for it


@dataclass
class Feed:
    items: list[tuple[int, str]] = field(default_factory=list)  # (n, title), newest first
    version: int = 0
    body: bytes = b""
    hits: list[float] = field(default_factory=list)


class Farm:
    """Many feeds behind one HTTP server on 127.0.0.1.

    With ``proxy`` (the default) each feed has a host name of its own, and the service
    reaches them all through the farm acting as its HTTP proxy: no name is ever resolved
    and every connection goes to 127.0.0.1, yet the service schedules 200 hosts, as in
    real use. Without it every feed is a path on 127.0.0.1, one host for the service.
    """

    def __init__(self, count: int, *, proxy: bool = True) -> None:
        self.proxy = proxy
        self.feeds = [Feed() for _ in range(count)]
        self.lock = threading.Lock()
        self.added: dict[int, int] = {}  # item number -> feed index
        for index in range(count):
            self._render(index)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.server.request_queue_size = 256
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def url(self, index: int) -> str:
        if self.proxy:
            return f"http://feed-{index:04d}{HOST_SUFFIX}/feed.xml"
        return f"{self.address}/feed/{index}.xml"

    def add_item(self, number: int, index: int) -> None:
        """Publish item ``number`` in feed ``index``; every third one matches the rule."""
        place = "Sihanoukville" if number % 3 == 0 else "Battambang"
        verb = "raid on" if number % 3 == 0 else "rice prices near"
        title = f"Item {number}: police {verb} a compound in {place}"
        with self.lock:
            self.feeds[index].items.insert(0, (number, title))
            self.added[number] = index
            self._render(index)

    def polls(self) -> int:
        with self.lock:
            return sum(len(feed.hits) for feed in self.feeds)

    def active(self) -> list[int]:
        """Feeds polled at least once (the service spaces the first polls to one host)."""
        with self.lock:
            return [index for index, feed in enumerate(self.feeds) if feed.hits]

    def _render(self, index: int) -> None:
        feed = self.feeds[index]
        feed.version += 1
        items = "".join(
            f"<item><title>{title}</title><link>{article_url(n)}</link>"
            f"<guid>soak-{n}</guid><description>{title}.</description></item>"
            for n, title in feed.items[:SHOWN_ITEMS]
        )
        feed.body = (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Feed {index}</title><link>http://127.0.0.1/</link>"
            f"<description>soak</description>{items}</channel></rss>"
        ).encode()

    def answer(self, target: str, etag_seen: str | None) -> tuple[int, bytes, str | None]:
        """Status, body and ETag for a request line's target (absolute when proxied)."""
        parts = urlsplit(target)
        if parts.path == "/robots.txt":
            return 200, b"User-agent: *\nAllow: /\n", None
        try:
            if parts.hostname:
                index = int(parts.hostname.removesuffix(HOST_SUFFIX).removeprefix("feed-"))
            else:
                index = int(parts.path.removeprefix("/feed/").removesuffix(".xml"))
            feed = self.feeds[index]
        except (ValueError, IndexError):
            return 404, b"not found", None
        with self.lock:
            feed.hits.append(time.monotonic())
            etag = f'"v{feed.version}"'
            if etag_seen == etag:
                return 304, b"", etag
            return 200, feed.body, etag


def article_url(number: int) -> str:
    return f"https://soak.example.org/article/{number}"


def _handler(farm: Farm) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

        def do_GET(self) -> None:  # noqa: N802
            status, body, etag = farm.answer(self.path, self.headers.get("If-None-Match"))
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
                if etag:
                    self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

    return Handler


def write_config(folder: Path, farm: Farm, args: argparse.Namespace) -> Path:
    lines = [
        "[service]",
        'database = "soak.db"',
        f'interval = "{args.interval}"',
        'timeout = "10s"',
        f"concurrency_per_host = {args.concurrency}",
        'timezone = "UTC"',
        "",
        "[rules.scam]",
        f'query = "{RULE}"',
        'channels = ["box"]',
        "",
        "[channels.box]",
        'type = "mbox"',
        'path = "alerts.mbox"',
    ]
    for index in range(len(farm.feeds)):
        lines += ["", f"[sources.feed-{index:04d}]", 'type = "rss"', f'url = "{farm.url(index)}"']
    path = folder / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def proc_figures(pid: int) -> tuple[int, int]:
    """(VmRSS in KiB, open file descriptors) of a running process."""
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def readonly(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)


def stored_urls(db_path: Path) -> set[str]:
    if not db_path.exists():
        return set()
    conn = readonly(db_path)
    try:
        return {row[0] for row in conn.execute("SELECT url FROM articles")}
    except sqlite3.OperationalError:
        return set()
    finally:
        conn.close()


def alerts_per_url(folder: Path) -> Counter[str]:
    """How many alert messages each article URL received (through the delivery key)."""
    box_path, db_path = folder / "alerts.mbox", folder / "soak.db"
    if not box_path.exists() or not db_path.exists():
        return Counter()
    box = mailbox.mbox(box_path)
    # A message being appended right now may still lack its headers; it counts next time.
    keys = [str(m["X-Newswatch-Key"]) for m in box if m["X-Newswatch-Key"]]
    ids = [int(key.split(".")[-2]) for key in keys]
    box.close()
    conn = readonly(db_path)
    try:
        urls = dict(conn.execute("SELECT id, url FROM articles"))
    finally:
        conn.close()
    return Counter(urls.get(i, f"<unknown article {i}>") for i in ids)


def wait_for(predicate: Callable[[], bool], deadline: float, step: float = 0.25) -> bool:
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


class Soak:
    """One run: the farm, the service process and what was measured."""

    def __init__(self, args: argparse.Namespace, folder: Path) -> None:
        self.args = args
        self.folder = folder
        self.farm = Farm(args.feeds, proxy=not args.direct)
        self.rng = random.Random(args.seed)
        self.samples: dict[str, tuple[int, int, int]] = {}  # label -> (polls, rss, fds)
        self.peak = (0, 0)  # highest (rss, fds) seen while driving
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = folder / "service.log"

    def start(self) -> None:
        self.farm.thread.start()
        config = write_config(self.folder, self.farm, self.args)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env = {
            k: v
            for k, v in env.items()
            if not k.startswith("NEWSWATCH_") and k.lower() not in ("http_proxy", "no_proxy")
        }
        if self.farm.proxy:
            # Scrapy's HttpProxyMiddleware sends every http:// request to the farm.
            env["http_proxy"] = self.farm.address
        env["PYTHONFAULTHANDLER"] = "1"
        cmd = [sys.executable, "-m", "newswatch", "--log-format", "json"]
        cmd += ["-v"] if self.args.verbose else []
        cmd += ["run", "--config", str(config)]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, cwd=ROOT, env=env)

    def sample(self, label: str) -> None:
        assert self.proc is not None
        rss, fds = proc_figures(self.proc.pid)
        self.samples[label] = (self.farm.polls(), rss, fds)

    def drive(self, started: float) -> bool:
        """Add items in step with the polls and sample at checkpoints; False on timeout."""
        target, items = self.args.polls, self.args.items
        checkpoints = [
            ("start", len(self.farm.feeds)),
            ("warm-up", target // 5),
            ("middle", target // 2),
        ]
        added = 0
        deadline = started + self.args.max_seconds
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise SystemExit(
                    f"the service exited with {self.proc.returncode}; see {self.log_path}"
                )
            polls = self.farm.polls()
            rss, fds = proc_figures(self.proc.pid)
            self.peak = (max(self.peak[0], rss), max(self.peak[1], fds))
            while checkpoints and polls >= checkpoints[0][1]:
                self.sample(checkpoints.pop(0)[0])
            # Items appear until 80 % of the polls, so the last ones are still polled.
            due = min(items, items * polls // max(1, int(target * 0.8)))
            for number in range(added + 1, due + 1):
                self.farm.add_item(number, self.rng.choice(self.farm.active()))
            added = max(added, due)
            if polls >= target and added >= items:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)

    def settle(self, deadline: float) -> bool:
        """Wait until every item is stored and every matching item alerted."""
        expected = {article_url(n) for n in self.farm.added}
        matching = {article_url(n) for n in self.farm.added if n % 3 == 0}

        def done() -> bool:
            alerts = alerts_per_url(self.folder)
            return expected <= stored_urls(self.folder / "soak.db") and matching <= set(alerts)

        return wait_for(done, deadline, step=0.5)

    def stop(self) -> tuple[int, float]:
        """SIGTERM the service; (exit code, seconds it took). A hung stop dumps its threads."""
        assert self.proc is not None
        began = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            # faulthandler (PYTHONFAULTHANDLER=1) writes every thread's stack on SIGABRT.
            self.proc.send_signal(signal.SIGABRT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            code = -1
        return code, time.monotonic() - began


def poll_gaps(farm: Farm) -> list[float]:
    gaps: list[float] = []
    with farm.lock:
        for feed in farm.feeds:
            gaps += [b - a for a, b in zip(feed.hits, feed.hits[1:], strict=False)]
    return gaps


def log_summary(path: Path) -> tuple[Counter[str], str | None, int]:
    """Log records per level, the last event-loop lag line and the number of tracebacks."""
    levels: Counter[str] = Counter()
    lag, tracebacks = None, 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            tracebacks += line.startswith("Traceback")
            continue
        levels[record.get("level", "?")] += 1
        tracebacks += "exception" in record
        if record.get("logger") == "scheduler.looplag":
            lag = record.get("message")
    return levels, lag, tracebacks


def print_load(soak: Soak, elapsed: float, finished: bool) -> None:
    farm = soak.farm
    conn = readonly(soak.folder / "soak.db")
    (db_polls,) = conn.execute("SELECT coalesce(sum(polls), 0) FROM sources").fetchone()
    conn.close()
    polls = farm.polls()
    print(
        f"feeds {len(farm.feeds)} ({len(farm.active())} polled at least once), "
        f"interval {soak.args.interval}, ran {elapsed:.0f}s"
    )
    print(
        f"source polls: {db_polls} recorded by the service, {polls} served by the farm "
        f"({polls / elapsed:.0f}/s)"
    )
    if not finished:
        print(f"TIMEOUT: stopped after --max-seconds {soak.args.max_seconds} before the target")


def print_resources(soak: Soak) -> None:
    print("\nmemory and descriptors (VmRSS, /proc/PID/fd):")
    for label, (at, rss, fds) in soak.samples.items():
        print(f"  {label:8} after {at:6d} polls: {rss / 1024:7.1f} MiB, {fds:4d} fds")
    if "warm-up" in soak.samples and "end" in soak.samples:
        warm, end = soak.samples["warm-up"][1], soak.samples["end"][1]
        print(f"  growth after warm-up: {100 * (end - warm) / warm:+.1f} %")
    print(f"  peak while running: {soak.peak[0] / 1024:.1f} MiB, {soak.peak[1]} fds")
    gaps = poll_gaps(soak.farm)
    print(
        f"\npoll gap per feed (target {soak.args.interval}): p50 {percentile(gaps, 0.5):.2f}s, "
        f"p99 {percentile(gaps, 0.99):.2f}s, max {max(gaps, default=0):.2f}s"
    )
    levels, lag, tracebacks = log_summary(soak.log_path)
    print(f"event loop lag (service log): {lag or 'not logged (LoopLagMonitor not started)'}")
    print(f"log records: {dict(levels)}, tracebacks {tracebacks}")


def print_correctness(soak: Soak) -> bool:
    """Every item stored, every matching item alerted exactly once; True if so."""
    expected = {article_url(n) for n in soak.farm.added}
    matching = {article_url(n) for n in soak.farm.added if n % 3 == 0}
    stored = stored_urls(soak.folder / "soak.db")
    alerts = alerts_per_url(soak.folder)
    missing = expected - stored
    duplicates = {url: n for url, n in alerts.items() if n > 1}
    unexpected = set(alerts) - matching
    unalerted = matching - set(alerts)
    print(f"\nitems added {len(expected)}, stored {len(expected & stored)}, missing {len(missing)}")
    print(
        f"matching items {len(matching)}, alerted {len(matching & set(alerts))}, "
        f"not alerted {len(unalerted)}, alerted twice or more {len(duplicates)}, "
        f"unexpected {len(unexpected)}"
    )
    return not (missing or duplicates or unexpected or unalerted)


def report(
    soak: Soak, elapsed: float, stopped: tuple[int, float], settled: bool, finished: bool
) -> bool:
    """Print every figure; True when the run passed."""
    print_load(soak, elapsed, finished)
    print_resources(soak)
    correct = print_correctness(soak)
    code, took = stopped
    hung = " (HUNG: thread dump in the service log)" if code == -1 else ""
    print(f"stop on SIGTERM: exit code {code} after {took:.1f}s{hung}")
    ok = correct and code == 0 and settled and finished
    print("RESULT:", "PASS" if ok else "FAIL")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=200, help="feeds in the farm")
    parser.add_argument("--polls", type=int, default=10_000, help="source polls to reach")
    parser.add_argument("--items", type=int, default=1200, help="items to add while running")
    parser.add_argument("--interval", default="1s", help="poll interval of every source")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrency_per_host")
    parser.add_argument("--max-seconds", type=float, default=240, help="give up after this")
    parser.add_argument(
        "--direct",
        action="store_true",
        help="serve every feed as a path of 127.0.0.1 (one host: first polls are spaced out)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--verbose", action="store_true", help="run the service with -v")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="newswatch-soak-"))
    soak = Soak(args, folder)
    started = time.monotonic()
    soak.start()
    try:
        finished = soak.drive(started)
        settled = soak.settle(time.monotonic() + 60)
        soak.sample("end")
    finally:
        stopped = soak.stop()
        soak.farm.server.shutdown()
    ok = report(soak, time.monotonic() - started, stopped, settled, finished)
    print(f"work folder: {folder}" + ("" if args.keep else " (removed)"))
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
