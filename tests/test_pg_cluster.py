"""Workers sharing a PostgreSQL database: claims, leases, host spacing, turns, and writes
that must not interleave (story assignment, matching). Each test has its own database."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from alerts.outbox.store import outbox_counts
from alerts.routing import match_pending
from alerts.rules.matcher import Matcher
from alerts.rules.rule import Rule
from crawler.db import open_database
from crawler.models import Article
from crawler.pg import cluster
from crawler.store import store_articles
from crawler.stories import StoryIndex

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
INTERVALS = {"a": 60.0, "b": 60.0, "c": 60.0}
HOSTS = {"a": "one.example", "b": "one.example", "c": "two.example"}


@pytest.fixture
def pg(pg_url):
    db = open_database(pg_url)
    cluster.sync_sources(db, HOSTS)
    for worker in ("w1", "w2"):
        cluster.join(db, worker, "test", 1)
    yield db
    db.close()


def test_pg_claim_gives_each_due_source_to_one_worker_once_per_interval(pg):
    first = cluster.claim(pg, "w1", INTERVALS, lease_seconds=30, host_spacing=0)
    assert set(first.sources) == {"a", "c"}  # b waits: one poll of a host at a time
    second = cluster.claim(pg, "w2", INTERVALS, lease_seconds=30, host_spacing=0)
    assert second.sources == ()  # a's poll still runs on one.example
    cluster.release(pg, "w1", {"a": 60.0, "c": 60.0}, host_spacing=0)
    assert cluster.claim(pg, "w2", INTERVALS, lease_seconds=30, host_spacing=0).sources == ("b",)
    # Nothing is due again before its interval has passed, counted from the poll's end.
    again = cluster.claim(pg, "w1", INTERVALS, lease_seconds=30, host_spacing=0)
    assert again.sources == ()
    assert again.retry_in is not None and 55 < again.retry_in <= 60


def test_pg_claim_spaces_polls_of_one_host_across_workers(pg):
    first = cluster.claim(pg, "w1", INTERVALS, lease_seconds=30, host_spacing=0.4)
    assert set(first.sources) == {"a", "c"}
    cluster.release(pg, "w1", {"a": 60.0}, host_spacing=0.4)
    held_back = cluster.claim(pg, "w2", INTERVALS, lease_seconds=30, host_spacing=0.4)
    assert held_back.sources == ()
    assert held_back.retry_in is not None and 0 < held_back.retry_in <= 0.4
    time.sleep(held_back.retry_in + 0.05)  # the host's spacing, as the service waits it
    assert cluster.claim(pg, "w2", INTERVALS, lease_seconds=30, host_spacing=0.4).sources == ("b",)


def test_pg_lease_of_a_dead_worker_runs_out_and_another_takes_over(pg):
    short = {"a": 0.3}
    assert cluster.claim(pg, "w1", short, lease_seconds=1.0, host_spacing=0).sources == ("a",)
    time.sleep(0.4)  # due again, but w1's lease (it died mid-poll) still holds it
    assert cluster.claim(pg, "w2", short, lease_seconds=1.0, host_spacing=0).sources == ()
    (w1,) = [w for w in cluster.workers(pg) if w.id == "w1"]
    assert w1.holding == ("a",)
    time.sleep(0.7)
    assert cluster.claim(pg, "w2", short, lease_seconds=1.0, host_spacing=0).sources == ("a",)


def test_pg_heartbeat_keeps_a_live_workers_lease(pg):
    short = {"a": 0.2}
    assert cluster.claim(pg, "w1", short, lease_seconds=0.5, host_spacing=0).sources == ("a",)
    for _ in range(3):
        time.sleep(0.3)
        cluster.heartbeat(pg, "w1", 0.5)
        assert cluster.claim(pg, "w2", short, lease_seconds=0.5, host_spacing=0).sources == ()
    cluster.leave(pg, "w1")  # an orderly stop hands the lease back at once
    assert cluster.claim(pg, "w2", short, lease_seconds=0.5, host_spacing=0).sources == ("a",)


def test_pg_concurrent_claims_never_hand_out_a_source_twice(pg):
    names = {f"s{i}": 60.0 for i in range(60)}
    cluster.sync_sources(pg, {name: f"h{i}.example" for i, name in enumerate(names)})
    got: dict[str, list[str]] = {}

    def worker(name: str) -> None:
        mine: list[str] = []
        for _ in range(5):
            mine += cluster.claim(pg, name, names, lease_seconds=30, host_spacing=0).sources
        got[name] = mine

    threads = [threading.Thread(target=worker, args=(f"t{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    claimed = [s for mine in got.values() for s in mine]
    assert sorted(claimed) == sorted(names)  # every source once, none twice


def test_pg_cluster_jobs_and_locks_take_one_worker_at_a_time(pg):
    assert cluster.take_job(pg, "retention", "w1", 3600)
    assert not cluster.take_job(pg, "retention", "w2", 3600)
    with cluster.try_lock(pg, "delivery") as first, cluster.try_lock(pg, "delivery") as second:
        assert (first, second) == (True, False)
    with cluster.try_lock(pg, "delivery") as after:
        assert after


TEXT = (
    "Police raided a compound in Sihanoukville on Tuesday and freed more than 200 workers"
    " held by an online scam operation, officials said. The workers, from several countries,"
    " had been lured with fake job offers and forced to defraud people online for months."
    " The provincial police chief said the raid followed complaints from relatives abroad who"
    " had received messages asking for ransom. Investigators seized hundreds of phones and"
    " computers, and several managers were detained for questioning. Rights groups welcomed"
    " the operation but warned that similar compounds continue to operate along the coast,"
    " and urged the authorities to treat the rescued workers as victims of trafficking rather"
    " than as immigration offenders. The embassy of one country said it was arranging"
    " flights home for its citizens in the coming days."
)


def test_pg_two_workers_storing_copies_of_one_story_at_once_make_one_story(pg_url):
    dbs = [open_database(pg_url) for _ in range(4)]
    barrier = threading.Barrier(len(dbs))
    results: dict[int, list[int]] = {}

    def store(n: int) -> None:
        # Each outlet's copy adds a line of its own: new text, the same story.
        name = ("Alpha", "Bravo", "Charlie", "Delta")[n]
        text = f"{TEXT} Reported by the {name} desk of the region."
        url = f"https://outlet{n}.example/raid"
        article = Article(url, f"outlet{n}", "Raid frees 200", text, None, NOW, url)
        barrier.wait(timeout=10)
        results[n] = store_articles(dbs[n], [article], StoryIndex(dbs[n]))

    threads = [threading.Thread(target=store, args=(n,)) for n in range(len(dbs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    db = dbs[0]
    stored = sum(len(ids) for ids in results.values())
    stories = {row["story_id"] for row in db.query("SELECT story_id FROM articles")}
    assert stored == len(dbs) and len(stories) == 1
    for other in dbs:
        other.close()


def test_pg_two_workers_matching_at_once_alert_once(pg_url):
    db = open_database(pg_url)
    articles = [
        Article(f"https://a.example/{i}", "kt", f"Scam raid {i}", f"body {i}", None, NOW, str(i))
        for i in range(30)
    ]
    store_articles(db, articles)
    matcher = Matcher.build([Rule(name="scam", query="scam")])
    routes = {"scam": ["box", "hook"]}
    barrier = threading.Barrier(3)

    def match() -> None:
        mine = open_database(pg_url)
        barrier.wait(timeout=10)
        match_pending(mine, matcher, routes, batch=7)
        mine.close()

    threads = [threading.Thread(target=match) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert outbox_counts(db)["pending"] == 60  # 30 matches x 2 channels, none twice
    (row,) = db.query("SELECT count(*) AS n FROM matches")
    assert row["n"] == 30
    db.close()


def test_pg_status_shows_workers_and_what_they_hold(pg, tmp_path, pg_url):
    from crawler.db import PostgresUrl
    from scheduler.config import load_config
    from scheduler.status import gather_status, render_table, status_dict
    from tests.clirunner import write_config_text

    cluster.claim(pg, "w1", {"c": 60.0}, lease_seconds=30, host_spacing=0)
    cluster.leave(pg, "w2")
    path = write_config_text(tmp_path, f'[service]\ndatabase = "{pg_url}"\n')
    config = load_config(path)
    assert isinstance(config.service.database, PostgresUrl)
    status = gather_status(config, datetime.now(UTC) + timedelta(seconds=1))
    states = {w.id: (w.state(status.now), w.holding) for w in status.workers}
    assert states == {"w1": ("running", ("c",)), "w2": ("stopped", ())}
    table = render_table(status)
    assert "WORKER" in table and "w1" in table and "running" in table
    assert status_dict(status)["workers"][0]["id"] in {"w1", "w2"}


def test_pg_workers_starting_at_once_add_each_source_once(pg_url):
    from crawler.store import source_states, sync_sources

    sources = [(f"s{i}", "rss", f"https://h{i}.example/feed") for i in range(200)]
    dbs = [open_database(pg_url) for _ in range(4)]
    barrier = threading.Barrier(len(dbs))
    failures: list[BaseException] = []

    def start(db) -> None:
        barrier.wait(timeout=10)
        try:
            sync_sources(db, sources)
        except BaseException as exc:  # what a worker would die of
            failures.append(exc)

    threads = [threading.Thread(target=start, args=(db,)) for db in dbs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    assert sorted(source_states(dbs[0])) == sorted(name for name, _, _ in sources)
    for db in dbs:
        db.close()
