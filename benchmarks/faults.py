"""Fault injection: ``newswatch run`` killed, starved of disk, cut off from SMTP, fed slowly.

    python benchmarks/faults.py                       # every scenario, 25 kills
    python benchmarks/faults.py --kills 40 --only kills
    python benchmarks/faults.py --only smtp-down disk-full trickle

Each scenario runs the service against a local feed farm (benchmarks/farm.py), an SMTP server
(aiosmtpd) and a webhook receiver (tests/peers.py), with one rule whose alerts go to both,
while a publisher thread keeps adding items (every third one matching the rule).

* ``kills``: SIGKILL at chosen moments, restarting the service each time: right as a feed
  is requested (fetch), shortly after a feed answered with new items (parse, store and the
  match transaction), the moment the database's WAL file changes size (a transaction is
  being written), as soon as a message reached the SMTP server or the webhook (between the
  receiver accepting it and the commit that records it), or at a random time.
* ``smtp-down``: the SMTP server stops for a while, then comes back on the same port.
* ``disk-full``: the database lives on a small tmpfs that a ballast file fills up
  ("database or disk is full"); the service must log it, keep running, lose nothing already
  committed and resume once the ballast is removed (needs root to mount; skipped otherwise).
* ``trickle``: one feed sends its body one byte per second; its poll must end at the
  timeout and the other feeds must keep their schedule.

After each scenario (and a settling period) :func:`verify` checks: the database passes
``PRAGMA integrity_check``; every item the farm served is stored exactly once; every
matching item reached every channel. Repeats are counted per channel and split into those
carrying the same Message-ID / Idempotency-Key as an earlier copy (the documented window
between the receiver accepting and the commit; a receiver drops them by key) and true
duplicates under a new key (a bug). tests/test_faults.py runs a bounded version.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiosmtpd.controller import Controller  # noqa: E402

from benchmarks.farm import FeedFarm  # noqa: E402
from benchmarks.procs import Child, newswatch_cmd, newswatch_env  # noqa: E402
from benchmarks.workload import Clause, ConfigSpec, Item, RuleSpec  # noqa: E402
from tests.peers import SmtpPeer, WebhookReceiver, start_smtp_server  # noqa: E402

MARK = "qfault"  # in the title of every matching item; the rule matches it
TOKEN = re.compile(r"\bn(\d+)x\b", re.IGNORECASE)  # each item's own title word: n<number>x
KILL_MODES = ("fetch", "store", "commit", "deliver", "random")
Peers = tuple[SmtpPeer, WebhookReceiver]


# --- the rig: farm, peers, config, service ---------------------------------------------


class Publisher(threading.Thread):
    """Adds an item to a random feed every ``period`` seconds; every third one matches."""

    def __init__(self, farm: FeedFarm, period: float, seed: int, feeds: list[int]) -> None:
        super().__init__(daemon=True)
        self.farm, self.period, self.feeds = farm, period, feeds
        self.rng = random.Random(seed)
        self.stopping = threading.Event()
        self.count = 0

    def run(self) -> None:
        while not self.stopping.wait(self.period):
            self.publish()

    def publish(self) -> Item:
        self.count += 1
        number = self.farm.next_number + 1
        words = (MARK, f"n{number}x") if self.count % 3 == 0 else (f"n{number}x",)
        return self.farm.add_item(self.rng.choice(self.feeds), extra=words)

    def stop(self) -> None:
        self.stopping.set()
        self.join(5)


@dataclass
class Rig:
    """Everything one scenario runs against."""

    folder: Path
    farm: FeedFarm
    smtp: SmtpPeer
    hook: WebhookReceiver
    database: Path
    config: Path
    children: list[Child] = field(default_factory=list)
    starts: int = 0

    @classmethod
    @contextlib.contextmanager
    def up(
        cls,
        folder: Path,
        *,
        feeds: int = 10,
        interval: str = "1s",
        timeout: str = "5s",
        database: Path | None = None,
        peers: Peers | None = None,
    ) -> Iterator[Rig]:
        """Farm, SMTP server and webhook receiver (``peers`` when given: the caller's)."""
        own = peers is None
        smtp, hook = peers if peers is not None else (start_smtp_server(), WebhookReceiver())
        if own:
            hook.start()
        farm = FeedFarm(feeds, hosts=min(50, feeds), items=3).start()
        try:
            database = database or folder / "newswatch.db"
            config = ConfigSpec(
                sources={f"f{i:03d}": farm.url(i) for i in range(feeds)},
                rules=[RuleSpec("fault", (Clause((MARK,), field="title"),))],
                channels={
                    "mail": {
                        "type": "email",
                        "host": smtp.host,
                        "port": smtp.port,
                        "security": "none",
                        "from": "newswatch@example.org",
                        "to": ["analyst@example.org"],
                        "timeout": "5s",
                    },
                    "hook": {"type": "webhook", "url": hook.url, "timeout": "5s"},
                },
                service={"interval": interval, "timeout": timeout, "database": str(database)},
            ).write(folder)
            rig = cls(folder, farm, smtp, hook, database, config)
            try:
                yield rig
            finally:
                for child in rig.children:  # a scenario that failed half-way leaves one
                    if child.poll() is None:
                        child.kill()
        finally:
            farm.stop()
            if own:
                hook.stop()
                with contextlib.suppress(Exception):
                    smtp.controller.stop()

    def start(self) -> Child:
        self.starts += 1
        child = Child(
            newswatch_cmd("run", "--config", str(self.config)),
            self.folder,
            f"run-{self.starts:03d}",
            env=newswatch_env({"PYTHONFAULTHANDLER": "1"}),
        )
        self.children.append(child)
        return child

    def stop(self, child: Child, timeout: float = 15) -> int:
        # A SIGTERM that lands while the interpreter is still importing meets Python's default
        # handler (exit -15) before the service has installed its own: wait until it is up.
        wait_for(lambda: child.poll() is not None or "watching " in _output(child), 60)
        child.signal(signal.SIGTERM)
        try:
            return child.wait(timeout).returncode
        except TimeoutError:
            return -9

    def log_text(self) -> str:
        return "".join(c.stderr.read_text(errors="replace") for c in self.children)

    def delivered(self) -> tuple[Counter[int], Counter[int], Counter[int], Counter[int]]:
        """Per item number: e-mails, e-mail keys, webhook posts, webhook keys."""
        mails, mail_keys, posts, post_keys = Counter(), Counter(), Counter(), Counter()
        for mail in list(self.smtp.messages):
            number = _token(str(mail.message.get("Subject", "")))
            if number is not None:
                mails[number] += 1
                mail_keys[(number, str(mail.message.get("Message-ID")))] += 1
        for request in list(self.hook.requests):
            number = _token(request.body.decode(errors="replace"))
            if number is not None:
                posts[number] += 1
                post_keys[(number, request.headers.get("idempotency-key"))] += 1
        return mails, Counter(n for n, _ in mail_keys), posts, Counter(n for n, _ in post_keys)


def _output(child: Child) -> str:
    return child.stdout.read_text(errors="replace") + child.stderr.read_text(errors="replace")


def _token(text: str) -> int | None:
    found = TOKEN.search(text)
    return int(found.group(1)) if found else None


# --- checks ------------------------------------------------------------------------------


@dataclass
class Verdict:
    name: str
    integrity: str = "?"
    served: int = 0
    missing: list[int] = field(default_factory=list)
    stored_twice: list[int] = field(default_factory=list)
    matching: int = 0
    undelivered: dict[str, list[int]] = field(default_factory=dict)
    repeats_same_key: dict[str, int] = field(default_factory=dict)
    duplicates_new_key: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    figures: dict[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def print(self) -> None:
        print(f"\n[{self.name}] {'PASS' if self.ok else 'FAIL'}")
        print(f"  integrity_check: {self.integrity}")
        print(
            f"  items served {self.served}: missing {len(self.missing)}, "
            f"stored more than once {len(self.stored_twice)}"
        )
        for channel in ("mail", "hook"):
            print(
                f"  {channel}: {self.matching} matching items, undelivered "
                f"{len(self.undelivered.get(channel, []))}, repeats under the same key "
                f"{self.repeats_same_key.get(channel, 0)}, duplicates under a new key "
                f"{self.duplicates_new_key.get(channel, 0)}"
            )
        for note in self.notes:
            print(f"  {note}")
        for problem in self.problems:
            print(f"  PROBLEM: {problem}")


def read_db(database: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def stored_counts(database: Path) -> Counter[int]:
    """Rows per item number (from the GUID ``farm-N`` the farm gives item N)."""
    counts: Counter[int] = Counter()
    with contextlib.suppress(sqlite3.Error):
        for (guid,) in read_db(database, "SELECT guid FROM articles"):
            if guid and guid.startswith("farm-"):
                counts[int(guid.removeprefix("farm-"))] += 1
    return counts


def settled(rig: Rig) -> Callable[[], bool]:
    """True once every served item is stored and every matching one reached both channels."""

    def check() -> bool:
        served = rig.farm.served()
        stored = stored_counts(rig.database)
        if any(stored[item.number] == 0 for item in served):
            return False
        mails, _, posts, _ = rig.delivered()
        matching = [i.number for i in served if MARK in i.title.lower()]
        return all(mails[n] and posts[n] for n in matching)

    return check


def verify(rig: Rig, name: str) -> Verdict:
    verdict = Verdict(name)
    rows = read_db(rig.database, "PRAGMA integrity_check")
    verdict.integrity = "; ".join(str(r[0]) for r in rows)[:300]
    if verdict.integrity != "ok":
        verdict.problems.append(f"integrity_check: {verdict.integrity}")
    served = rig.farm.served()
    stored = stored_counts(rig.database)
    verdict.served = len(served)
    verdict.missing = [i.number for i in served if stored[i.number] == 0]
    verdict.stored_twice = [i.number for i in served if stored[i.number] > 1]
    if verdict.missing:
        verdict.problems.append(f"{len(verdict.missing)} served items not stored")
    if verdict.stored_twice:
        verdict.problems.append(f"{len(verdict.stored_twice)} items stored more than once")
    matching = [i.number for i in served if MARK in i.title.lower()]
    verdict.matching = len(matching)
    mails, mail_keys, posts, post_keys = rig.delivered()
    for channel, copies, keys in (("mail", mails, mail_keys), ("hook", posts, post_keys)):
        verdict.undelivered[channel] = [n for n in matching if not copies[n]]
        verdict.repeats_same_key[channel] = sum(copies[n] - keys[n] for n in copies)
        verdict.duplicates_new_key[channel] = sum(max(0, keys[n] - 1) for n in keys)
        if verdict.undelivered[channel]:
            verdict.problems.append(
                f"{channel}: {len(verdict.undelivered[channel])} matching items never delivered"
            )
        if verdict.duplicates_new_key[channel]:
            verdict.problems.append(
                f"{channel}: {verdict.duplicates_new_key[channel]} duplicates under a new key"
            )
    return verdict


def wait_for(predicate: Callable[[], bool], timeout: float, step: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


# --- scenario: kill -9 at chosen moments --------------------------------------------------


def _count_hits(farm: FeedFarm, status: int | None = None) -> int:
    return sum(1 for _, hit in farm.all_hits() if status is None or hit.status == status)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


def arm_kill(rig: Rig, child: Child, mode: str, rng: random.Random, limit: float) -> str:
    """Wait for the moment ``mode`` names (at most ``limit`` s), then SIGKILL; what happened."""
    deadline = time.monotonic() + limit

    def until(predicate: Callable[[], bool]) -> bool:
        while not predicate():
            if child.poll() is not None:
                return False
            if time.monotonic() > deadline:
                return False
            time.sleep(0.001)
        return True

    if mode == "fetch":
        seen = _count_hits(rig.farm)
        hit = until(lambda: _count_hits(rig.farm) > seen)
    elif mode == "store":
        seen = _count_hits(rig.farm, 200)
        hit = until(lambda: _count_hits(rig.farm, 200) > seen)
        if hit:
            time.sleep(rng.uniform(0, 0.3))
    elif mode == "commit":
        wal = Path(f"{rig.database}-wal")
        size = _size(wal)
        hit = until(lambda: _size(wal) != size)
    elif mode == "deliver":
        seen = len(rig.smtp.messages) + len(rig.hook.requests)
        hit = until(lambda: len(rig.smtp.messages) + len(rig.hook.requests) > seen)
    else:
        time.sleep(rng.uniform(0.2, 3.0))
        hit = True
    if child.poll() is not None:
        return f"{mode}: the service had exited ({child.result.returncode})"
    child.kill()
    return mode if hit else f"{mode} (moment not reached in {limit:.0f}s)"


def scenario_kills(
    folder: Path, kills: int, seed: int, settle: float, peers: Peers | None = None
) -> Verdict:
    rng = random.Random(seed)
    with Rig.up(folder, peers=peers) as rig:
        publisher = Publisher(rig.farm, 0.25, seed, list(range(len(rig.farm.feeds))))
        publisher.start()
        moments: Counter[str] = Counter()
        try:
            child = rig.start()
            for n in range(kills):
                mode = KILL_MODES[n % len(KILL_MODES)] if n < len(KILL_MODES) else None
                mode = mode or rng.choice(KILL_MODES)
                moments[arm_kill(rig, child, mode, rng, limit=20)] += 1
                child = rig.start()
        finally:
            publisher.stop()
        ok = wait_for(settled(rig), settle)
        code = rig.stop(child)
        if not settled(rig)():
            # A poll during the stop stored an item the stop kept from delivery: the next
            # start delivers it, as after any stop.
            child = rig.start()
            ok = wait_for(settled(rig), settle)
            code = rig.stop(child)
        verdict = verify(rig, f"kills ({kills} x SIGKILL)")
        verdict.notes.append(f"kill moments: {dict(moments)}; items published {publisher.count}")
        verdict.figures["moments"] = dict(moments)
        for channel, repeats in verdict.repeats_same_key.items():
            # One kill interrupts at most one send per channel: the one in flight.
            if repeats > kills:
                verdict.problems.append(
                    f"{channel}: {repeats} repeats for {kills} kills (more than the one "
                    "message in flight per kill)"
                )
        verdict.notes.append(f"settled: {ok}; final SIGTERM exit code {code}")
        if code != 0:
            verdict.problems.append(f"the last service did not stop cleanly on SIGTERM ({code})")
        _tracebacks(rig, verdict)
    return verdict


def _tracebacks(rig: Rig, verdict: Verdict) -> None:
    text = rig.log_text()
    count = text.count("Traceback") + text.count('"exception"')
    if count:
        verdict.notes.append(f"tracebacks in the service logs: {count}")


# --- scenario: SMTP server down for a while -----------------------------------------------


def restart_smtp(peer: SmtpPeer) -> None:
    """A new server on the stopped one's port, recording into the same handler."""
    controller = Controller(
        peer.handler,
        hostname=peer.host,
        port=peer.port,
        server_hostname="localhost",
        ready_timeout=10.0,
    )
    controller.start()
    peer.controller = controller


def scenario_smtp_down(
    folder: Path, down: float, seed: int, settle: float, peers: Peers | None = None
) -> Verdict:
    with Rig.up(folder, peers=peers) as rig:
        publisher = Publisher(rig.farm, 0.25, seed, list(range(len(rig.farm.feeds))))
        publisher.start()
        child = rig.start()
        try:
            wait_for(lambda: len(rig.smtp.messages) >= 2, 30)
            rig.smtp.controller.stop()
            went_down = time.monotonic()
            time.sleep(down)
            restart_smtp(rig.smtp)
            back = time.monotonic()
        finally:
            publisher.stop()
        ok = wait_for(settled(rig), settle)
        recovered = time.monotonic() - back
        code = rig.stop(child)
        verdict = verify(rig, f"smtp-down ({down:.0f}s)")
        verdict.notes.append(
            f"SMTP down {back - went_down:.1f}s; all delivered {recovered:.1f}s after it came back"
            if ok
            else f"not all delivered {settle:.0f}s after SMTP came back"
        )
        if child.poll() is not None and child.result.returncode not in (0,):
            verdict.problems.append("the service exited while SMTP was down")
        if code != 0:
            verdict.problems.append(f"the service did not stop cleanly on SIGTERM ({code})")
    return verdict


# --- scenario: the disk fills up ------------------------------------------------------------


@contextlib.contextmanager
def small_disk(folder: Path, size_mib: int) -> Iterator[Path]:
    mount = folder / "disk"
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mib}m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise PermissionError(f"cannot mount a tmpfs: {result.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(mount: Path) -> Path:
    """Write a ballast file until the file system is full (unbuffered: nothing left over)."""
    ballast = mount / "ballast"
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        for size in (1 << 20, 1 << 16, 1 << 12, 1 << 9, 1):
            chunk = b"\0" * size
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, chunk)
    finally:
        os.close(fd)
    return ballast


def scenario_disk_full(
    folder: Path, full_for: float, seed: int, settle: float, peers: Peers | None = None
) -> Verdict:
    try:
        disk = small_disk(folder, 64)
        mount = disk.__enter__()
    except (PermissionError, FileNotFoundError) as exc:
        verdict = Verdict("disk-full")
        verdict.notes.append(f"SKIPPED: {exc}")
        verdict.figures["skipped"] = str(exc)
        return verdict
    try:
        return _disk_full(folder, mount, full_for, seed, settle, peers)
    finally:
        disk.__exit__(None, None, None)


def logged_full(rig: Rig) -> bool:
    """Whether the service logged SQLite's "database or disk is full"."""
    return "full" in rig.log_text().lower()


def _disk_full(
    folder: Path, mount: Path, full_for: float, seed: int, settle: float, peers: Peers | None = None
) -> Verdict:
    with Rig.up(folder, database=mount / "newswatch.db", peers=peers) as rig:
        publisher = Publisher(rig.farm, 0.25, seed, list(range(len(rig.farm.feeds))))
        publisher.start()
        child = rig.start()
        try:
            wait_for(lambda: len(rig.hook.requests) >= 2, 30)
            before = stored_counts(rig.database)
            ballast = fill(mount)
            filled = time.monotonic()
            time.sleep(full_for)
            alive = child.poll() is None
            during = stored_counts(rig.database)
            ballast.unlink()
        finally:
            publisher.stop()
        ok = wait_for(settled(rig), settle)
        code = rig.stop(child)
        verdict = verify(rig, f"disk-full ({full_for:.0f}s)")
        lost = [n for n in before if during[n] < before[n]]
        verdict.figures.update(alive=alive, logged=logged_full(rig), lost=len(lost))
        logged = logged_full(rig)
        verdict.notes.append(
            f"full for {time.monotonic() - filled:.0f}s: service alive {alive}, "
            f"'disk is full' logged {logged}, stored before {len(before)}, while full "
            f"{len(during)}; settled after space returned: {ok}"
        )
        if not alive:
            verdict.problems.append("the service exited when the disk filled up")
        if not logged:
            verdict.problems.append("no log record says the disk is full")
        if lost:
            verdict.problems.append(f"{len(lost)} committed items lost while the disk was full")
        if code != 0:
            verdict.problems.append(f"the service did not stop cleanly on SIGTERM ({code})")
    return verdict


# --- scenario: a feed that trickles one byte per second ---------------------------------------


def scenario_trickle(
    folder: Path, duration: float, seed: int, settle: float, peers: Peers | None = None
) -> Verdict:
    interval, timeout = 2.0, 4.0
    with Rig.up(folder, feeds=10, interval="2s", timeout="4s", peers=peers) as rig:
        rig.farm.set_trickle(0, 1.0)
        publisher = Publisher(rig.farm, 0.5, seed, list(range(1, len(rig.farm.feeds))))
        publisher.start()
        child = rig.start()
        try:
            time.sleep(duration)
        finally:
            publisher.stop()
        rig.farm.set_trickle(0, None)
        ok = wait_for(settled(rig), settle)
        code = rig.stop(child)
        measured = child.result
        verdict = verify(rig, f"trickle ({duration:.0f}s, 1 byte/s, timeout {timeout:.0f}s)")
        gaps = []
        for index in range(1, len(rig.farm.feeds)):
            times = [h.at for h in rig.farm.hits(index)]
            gaps += [b - a for a, b in zip(times, times[1:], strict=False)]
        slow_polls = _poll_durations(rig, measured, "f000")
        took = _timed_out_polls(rig, measured, "f000", 0)
        worst_gap = max(gaps, default=float("nan"))
        verdict.figures.update(
            worst_gap=worst_gap, timed_out_polls=took, interval=interval, timeout=timeout
        )
        verdict.notes.append(
            "trickling feed's failed polls took "
            + ", ".join(f"{t:.1f}s" for t in took)
            + f" from first request to outcome (timeout {timeout:.0f}s, one retry allowed)"
        )
        if any(t > 2 * timeout + 2 for t in took):
            verdict.problems.append(
                f"the timeout did not hold: a poll of the trickling feed took {max(took):.1f}s"
            )
        verdict.notes.append(
            f"other feeds: {len(gaps)} gaps, max {worst_gap:.2f}s (interval {interval:.0f}s); "
            f"trickling feed: {len(rig.farm.hits(0))} requests, poll outcomes logged "
            f"{len(slow_polls)}: {slow_polls[:3]}; settled {ok}"
        )
        if worst_gap > interval * 1.1 + 1.5:
            verdict.problems.append(
                f"other feeds starved: a gap of {worst_gap:.1f}s with a {interval:.0f}s interval"
            )
        if not slow_polls:
            verdict.problems.append("the trickling feed's poll never ended (no timeout logged)")
        if code != 0:
            verdict.problems.append(f"the service did not stop cleanly on SIGTERM ({code})")
    return verdict


def _poll_durations(rig: Rig, measured, source: str) -> list[str]:
    """The logged poll summaries of ``source`` (each should report the timeout)."""
    if measured is None:
        return []
    return [
        str(r["message"])[:120]
        for r in measured.log
        if str(r.get("message", "")).startswith(f"poll {source}:")
    ]


def _timed_out_polls(rig: Rig, measured, source: str, index: int) -> list[float]:
    """For each poll of ``source`` that failed, seconds from its first request to its log."""
    if measured is None:
        return []
    hits = [h.at - measured.started for h in rig.farm.hits(index)]
    took, since = [], 0.0
    for record in measured.log:
        message = str(record.get("message", ""))
        if message.startswith(f"poll {source}:") and "errors 1" in message:
            started = [h for h in hits if since < h <= record["at"]]
            if started:
                took.append(record["at"] - min(started))
            since = record["at"]
    return took


# --- driver ------------------------------------------------------------------------------------


SCENARIOS = ("kills", "smtp-down", "disk-full", "trickle")


def run(args: argparse.Namespace, work: Path) -> list[Verdict]:
    verdicts = []
    for name in args.only or SCENARIOS:
        folder = work / name
        folder.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        if name == "kills":
            verdict = scenario_kills(folder, args.kills, args.seed, args.settle)
        elif name == "smtp-down":
            verdict = scenario_smtp_down(folder, args.smtp_down, args.seed, args.settle)
        elif name == "disk-full":
            verdict = scenario_disk_full(folder, args.disk_full, args.seed, args.settle)
        else:
            verdict = scenario_trickle(folder, args.trickle, args.seed, args.settle)
        verdict.notes.append(f"scenario took {time.monotonic() - started:.0f}s")
        verdict.print()
        verdicts.append(verdict)
    return verdicts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=SCENARIOS)
    parser.add_argument("--kills", type=int, default=25)
    parser.add_argument("--smtp-down", type=float, default=20, help="seconds the SMTP is down")
    parser.add_argument("--disk-full", type=float, default=15, help="seconds the disk is full")
    parser.add_argument("--trickle", type=float, default=20, help="seconds of the trickle run")
    parser.add_argument("--settle", type=float, default=120, help="max wait for delivery")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--json", type=Path, help="write the verdicts here")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()} on {os.cpu_count()} cores", flush=True)
    with tempfile.TemporaryDirectory(prefix="newswatch-faults-") as tmp:
        verdicts = run(args, Path(tmp))
    if args.json:
        args.json.write_text(json.dumps([v.__dict__ for v in verdicts], indent=1))
    failed = [v.name for v in verdicts if not v.ok]
    print(f"\n{len(verdicts) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
