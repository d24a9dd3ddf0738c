"""Three ``newswatch run`` workers on one PostgreSQL database, against a local feed farm,
an SMTP server and a webhook receiver; one is killed with SIGKILL mid-run and started
again. Every item is stored once and every matching item alerted once per channel; no
source is polled twice within its interval and per-host spacing holds across workers.

The farm (benchmarks/farm.py) serves feeds on several loopback hosts and records every
request; a publisher thread keeps adding items, every third one matching the rule.
"""

from __future__ import annotations

import signal
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.farm import FeedFarm
from benchmarks.faults import MARK, Publisher, _output, _token
from benchmarks.procs import Child, newswatch_cmd, newswatch_env
from benchmarks.workload import Clause, ConfigSpec, RuleSpec
from tests.peers import WebhookReceiver, start_smtp_server
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

FEEDS, HOSTS = 12, 6
INTERVAL, SPACING = 4.0, 1.0
# Both gaps are counted in the database from the end of a poll, so a request can come
# early only by the clocks' resolution; a little is allowed for timing on a busy machine.
DRIFT = 0.05


@pytest.fixture
def rig(tmp_path: Path, pg_url: str) -> Iterator[dict]:
    smtp = start_smtp_server()
    hook = WebhookReceiver()
    hook.start()
    farm = FeedFarm(FEEDS, hosts=HOSTS, items=2).start()
    config = ConfigSpec(
        sources={f"f{i:02d}": farm.url(i) for i in range(FEEDS)},
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
        service={
            "interval": f"{INTERVAL:g}s",
            "host_spacing": f"{SPACING:g}s",
            "timeout": "5s",
            "database": pg_url,
        },
    ).write(tmp_path)
    children: list[Child] = []
    try:
        yield {"farm": farm, "smtp": smtp, "hook": hook, "config": config, "children": children}
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
        farm.stop()
        hook.stop()
        smtp.controller.stop()


def start(rig: dict, tmp_path: Path, name: str) -> Child:
    child = Child(
        newswatch_cmd("run", "--config", str(rig["config"])), tmp_path, name, env=newswatch_env()
    )
    rig["children"].append(child)
    return child


def pg_rows(url: str, sql: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(sql.encode()).fetchall()


def stored(url: str) -> Counter[int]:
    rows = pg_rows(url, "SELECT guid FROM articles WHERE guid LIKE 'farm-%'")
    return Counter(int(guid.removeprefix("farm-")) for (guid,) in rows)


def delivered(rig: dict) -> tuple[Counter[int], Counter[int]]:
    mails = Counter(_token(str(m.message.get("Subject", ""))) for m in list(rig["smtp"].messages))
    posts = Counter(_token(r.body.decode(errors="replace")) for r in list(rig["hook"].requests))
    return mails, posts


def test_pg_three_workers_share_the_work_and_survive_a_kill(rig, tmp_path, pg_url):
    farm: FeedFarm = rig["farm"]
    workers = [start(rig, tmp_path, f"worker-{n}") for n in range(3)]
    wait_until(lambda: all("watching " in _output(w) for w in workers), timeout=90)
    publisher = Publisher(farm, period=0.25, seed=16, feeds=list(range(FEEDS)))
    publisher.start()
    try:
        # Work goes round: feeds are polled, then one worker dies mid-run.
        wait_until(lambda: sum(1 for _ in farm.all_hits()) >= 2 * FEEDS, timeout=90)
        workers[1].kill()
        hits_at_kill = sum(1 for _ in farm.all_hits())
        wait_until(lambda: sum(1 for _ in farm.all_hits()) >= hits_at_kill + FEEDS, timeout=60)
        workers.append(start(rig, tmp_path, "worker-1-again"))
        wait_until(lambda: "watching " in _output(workers[-1]), timeout=90)
        hits_at_restart = sum(1 for _ in farm.all_hits())
        wait_until(lambda: sum(1 for _ in farm.all_hits()) >= hits_at_restart + FEEDS, timeout=90)
    finally:
        publisher.stop()

    served = farm.served()
    matching = [item.number for item in served if MARK in item.title.lower()]

    def settled() -> bool:
        counts = stored(pg_url)
        mails, posts = delivered(rig)
        return all(counts[i.number] for i in served) and all(
            mails[n] and posts[n] for n in matching
        )

    wait_until(settled, timeout=120, what="every item stored and alerted")
    live = [w for w in workers if w.poll() is None]
    for worker in live:
        worker.signal(signal.SIGTERM)
    for worker in live:
        assert worker.wait(30).returncode == 0, _output(worker)[-2000:]

    # Every item stored once.
    counts = stored(pg_url)
    assert served and [i.number for i in served if counts[i.number] != 1] == []
    # Every matching item alerted once per channel.
    mails, posts = delivered(rig)
    assert len(matching) >= 5
    assert {n: mails[n] for n in matching if mails[n] != 1} == {}
    assert {n: posts[n] for n in matching if posts[n] != 1} == {}
    # No feed was polled twice within its interval, whichever workers polled it.
    short = {
        index: gap
        for index in range(FEEDS)
        for gap in _gaps([hit.at for hit in farm.hits(index)])
        if gap < INTERVAL - DRIFT
    }
    assert short == {}
    # Polls of one host were spaced across workers.
    per_host: dict[str, list[float]] = defaultdict(list)
    for _, hit in farm.all_hits():
        per_host[hit.host].append(hit.at)
    crowded = {h: min(_gaps(t)) for h, t in per_host.items() if min(_gaps(t)) < SPACING - DRIFT}
    assert crowded == {}
    # The work was shared: every worker that ran long enough polled sources.
    polls = dict(pg_rows(pg_url, "SELECT id, polls FROM workers"))
    assert len(polls) == 4 and sum(1 for n in polls.values() if n > 0) >= 3, polls


def _gaps(times: list[float]) -> list[float]:
    ordered = sorted(times)
    return [b - a for a, b in zip(ordered, ordered[1:], strict=False)] or [float("inf")]
