"""``newswatch browse``: the Datasette app answers its canned queries, titles its tables,
facets matches by rule and articles by source, and never writes the database."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

pytest.importorskip("datasette", reason="Datasette is the optional extra newswatch[browse]")

from alerts.outbox import store as outbox  # noqa: E402
from crawler.db import open_database, utcnow  # noqa: E402
from crawler.models import Article  # noqa: E402
from crawler.store import record_poll, store_articles, sync_sources  # noqa: E402
from crawler.stories import StoryIndex  # noqa: E402
from scheduler.browse import CANNED, make_datasette  # noqa: E402
from tests.archivekit import fill_archive  # noqa: E402


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    path = tmp_path_factory.mktemp("browse") / "newswatch.db"
    db = open_database(path)
    fill_archive(db)
    now = utcnow()
    fresh = Article("https://vod.example.org/1", "vod", "Fresh raid", "", now, now, "v1", "A raid.")
    store_articles(db, [fresh], StoryIndex(db))
    sync_sources(db, [("cna", "rss", "https://cna.example.org/feed")])
    record_poll(db, "cna", status=503, error="HTTP 503")
    failed = outbox.due_deliveries(db)[0]
    outbox.mark_failed_attempt(db, failed, "connection refused", permanent=True)
    db.close()
    return path


def fetch(path, *urls):
    """JSON answers of the Datasette app for ``urls``, in-process."""

    async def go():
        ds = make_datasette(path)
        await ds.invoke_startup()
        answers = []
        for url in urls:
            response = await ds.client.get(url)
            assert response.status_code == 200, (url, response.text[:500])
            answers.append(response.json())
        return answers

    return asyncio.run(go())


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_browse_canned_queries_answer(database):
    before = digest(database)
    latest, by_rule, stories, failing, problems = fetch(
        database,
        "/newswatch/latest_matches.json?_shape=objects",
        "/newswatch/matches_by_rule.json?_shape=objects&rule=casino",
        "/newswatch/stories_this_week.json?_shape=objects",
        "/newswatch/failing_sources.json?_shape=objects",
        "/newswatch/outbox_problems.json?_shape=objects",
    )
    assert len(latest["rows"]) == 10
    assert latest["rows"][0]["rule"] == "scam"
    assert [r["source"] for r in by_rule["rows"]] == [
        "phnom-penh-post",
        "cna",
        "phnom-penh-post",
        "khmer-times",
    ]
    # The archive's stories are from 2026-11-20; only the fresh article's is this week's.
    assert [(r["title"], r["outlets"]) for r in stories["rows"]] == [("Fresh raid", "vod")]
    assert [(r["name"], r["last_error"]) for r in failing["rows"]] == [("cna", "HTTP 503")]
    assert [(r["state"], r["last_error"]) for r in problems["rows"]] == [
        ("failed", "connection refused")
    ]
    assert set(CANNED) == {
        "latest_matches",
        "matches_by_rule",
        "stories_this_week",
        "failing_sources",
        "outbox_problems",
    }
    assert digest(database) == before  # read-only: the file is untouched


def test_browse_tables_are_titled_and_faceted(database):
    (matches, articles, meta) = fetch(
        database,
        "/newswatch/matches.json?_facet=rule",
        "/newswatch/articles.json?_facet=source",
        "/-/metadata.json",
    )
    rules = {f["value"]: f["count"] for f in matches["facet_results"]["rule"]["results"]}
    assert rules == {"scam": 6, "casino": 4}
    sources = {f["value"]: f["count"] for f in articles["facet_results"]["source"]["results"]}
    assert sources["khmer-times"] == 3 and sources["vod"] == 1
    tables = meta["databases"]["newswatch"]["tables"]
    assert tables["matches"]["title"] == "Matches" and tables["matches"]["facets"] == ["rule"]
    assert tables["articles_fts"]["hidden"] is True


def test_browse_refuses_writes(database):
    async def go():
        ds = make_datasette(database)
        await ds.invoke_startup()
        db = ds.get_database("newswatch")
        with pytest.raises(Exception, match="readonly|read-only"):
            await db.execute("DELETE FROM matches")
        return await ds.client.get("/newswatch.json?sql=select+count(*)+as+n+from+matches")

    response = asyncio.run(go())
    assert response.json()["rows"] == [[10]]


@pytest.mark.slow
def test_browse_command_serves_on_loopback(database, tmp_path):
    import json
    import subprocess
    import sys
    import urllib.request

    from tests.clirunner import ROOT, cli_env, write_config
    from tests.peers import free_port
    from tests.waiting import wait_until

    config = write_config(
        tmp_path,
        sources={"cna": {"type": "rss", "url": "https://cna.example.org/feed"}},
        rules={"scam": {"query": "scam", "channels": ["box"]}},
        channels={"box": {"type": "mbox", "path": str(tmp_path / "box.mbox")}},
        service={"database": str(database)},
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}/newswatch/latest_matches.json?_shape=objects"
    proc = subprocess.Popen(
        [sys.executable, "-m", "newswatch", "browse", "--port", str(port), "--config", str(config)],
        env=cli_env(),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    answers: list[dict] = []

    def answered() -> bool:
        assert proc.poll() is None, proc.communicate()
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                answers.append(json.load(reply))
        except OSError:
            return False
        return True

    try:
        wait_until(answered, timeout=60, what="Datasette answering")
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
    assert len(answers[0]["rows"]) == 10
