"""Web sources through the real command line: ``newswatch once`` and ``newswatch run``."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.alertkit import mbox_subjects
from tests.clirunner import (
    db_rows,
    newswatch,
    start_service,
    stop_service,
    write_config,
)
from tests.httpserver import rss
from tests.newssite import ARTICLES, HTML, Site, serve_site
from tests.waiting import wait_until

pytestmark = pytest.mark.slow  # every test here runs newswatch in a subprocess

BAVET = "/news/2026/bavet-workers.html"
RAID = "/news/2026/raid-sihanoukville.html"
KAMPOT = "/news/2026/kampot-rescue.html"
# "forced labour" appears only in the body of the Bavet article: not in any listing,
# link text, title or feed summary.
RULES = {"labour": {"query": '"forced labour"', "channels": ["box"]}}
CHANNELS = {"box": {"type": "mbox", "path": "alerts.mbox"}}


def html_source(site: Site, **extra: Any) -> dict[str, Any]:
    return {
        "type": "html",
        "url": site.url("/news/"),
        "follow": "h2.headline a",
        "pages": 2,
        "delay": "0.05s",
        **extra,
    }


def configure(tmp_path: Path, sources: dict[str, Any], **service: Any) -> Path:
    service = {"max_size": "200KB", **service}
    return write_config(tmp_path, service=service, sources=sources, rules=RULES, channels=CHANNELS)


def test_web_phrase_only_in_the_body_alerts_through_once(tmp_path, http_server):
    site = serve_site(http_server)
    for name in ("news-1.html", "news-2.html"):
        assert "forced labour" not in site.fill(name)
    config = configure(tmp_path, {"md": html_source(site)})
    result = newswatch("once", config=config)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "md: fetched 8, new 3, matched 1, errors 0" in result.stdout
    (subject,) = mbox_subjects(tmp_path / "alerts.mbox")
    assert "Workers describe life inside a Bavet compound" in subject
    (row,) = db_rows(
        tmp_path / "newswatch.db", "SELECT * FROM articles WHERE url = ?", [site.url(BAVET)]
    )
    assert "forced labour" in row["text"] and row["date_source"] == "page"

    again = newswatch("once", config=config)
    assert again.returncode == 0, again.stderr
    assert "md: fetched 8, new 0, matched 0, errors 0" in again.stdout
    for path in ARTICLES:
        assert site.requested(path) == 1, path  # stored articles are not fetched again
    assert site.requested("/news/") == 2
    assert len(mbox_subjects(tmp_path / "alerts.mbox")) == 1


def test_web_full_text_feed_matches_page_text_and_keeps_summary_on_failure(tmp_path, http_server):
    site = serve_site(http_server)
    items = [
        {"title": "Inside a Bavet compound", "link": site.url(BAVET),
         "description": "Three men speak.", "guid": "b"},
        {"title": "Missing page", "link": site.url("/news/2026/gone.html"),
         "description": "Forced labour claims in Kampot.", "guid": "g"},
    ]  # fmt: skip
    http_server.add("/feed", rss(items), etag='"f1"')
    sources = {"kt": {"type": "rss", "url": site.url("/feed"), "full_text": True}}
    config = configure(tmp_path, sources)
    result = newswatch("once", config=config)
    assert result.returncode == 0, result.stderr
    assert "kt: fetched 2, new 2, matched 2, errors 0" in result.stdout
    assert "no full text for 1 of 2 item(s)" in result.stderr
    bavet, missing = mbox_subjects(
        tmp_path / "alerts.mbox"
    )  # sorted: "Inside..." before "Missing..."
    assert "Inside a Bavet compound" in bavet and "Missing page" in missing
    rows = db_rows(tmp_path / "newswatch.db", "SELECT url, text, summary FROM articles")
    texts = {r["url"].removeprefix(site.url("")): r for r in rows}
    assert "amounts to forced labour" in texts[BAVET]["text"]
    gone = texts["/news/2026/gone.html"]
    assert gone["text"] == "" and gone["summary"] == "Forced labour claims in Kampot."

    again = newswatch("once", config=config)
    assert "kt: fetched 0, new 0, matched 0, errors 0 (not modified)" in again.stdout
    assert site.requested(BAVET) == 1
    assert len(mbox_subjects(tmp_path / "alerts.mbox")) == 2


def test_web_site_answering_429_backs_off_until_retry_after(tmp_path, http_server):
    site = serve_site(http_server)
    http_server.add("/news/", "slow down", status=429, content_type="text/plain",
                    headers={"Retry-After": "3600"})  # fmt: skip
    config = configure(tmp_path, {"md": html_source(site)})
    result = newswatch("once", config=config)
    assert result.returncode == 3, result.stderr  # its only source failed
    assert "md: fetched 0, new 0, matched 0, errors 1 (HTTP 429" in result.stdout
    (row,) = db_rows(tmp_path / "newswatch.db", "SELECT * FROM sources WHERE name = 'md'")
    assert row["failures"] == 1 and row["last_status"] == 429
    wait = datetime.fromisoformat(row["next_due"]) - datetime.fromisoformat(row["last_poll"])
    assert wait >= timedelta(seconds=3600)
    assert site.requested(BAVET) == 0


def test_web_run_polls_an_html_source_and_stops_on_sigterm(tmp_path, http_server):
    site = serve_site(http_server)
    config = configure(tmp_path, {"md": html_source(site, pages=1, interval="1s")})
    proc = start_service(config)
    try:
        wait_until(
            lambda: len(mbox_subjects(tmp_path / "alerts.mbox")) == 1,
            what="alert for the Bavet article",
        )
        # A new article appears on the listing while the service runs.
        extra = (
            '<article class="teaser"><h2 class="headline">'
            f'<a href="{KAMPOT}">Fishermen rescued off Kampot</a></h2></article>'
        )
        listing = site.fill("news-1.html").replace("</h1>", f"</h1>{extra}", 1)
        http_server.add(KAMPOT, site.fill("kampot-rescue.html"), content_type=HTML)
        http_server.add("/news/", listing, content_type=HTML)
        wait_until(
            lambda: len(mbox_subjects(tmp_path / "alerts.mbox")) == 2,
            what="alert for the new article",
        )
        polls = site.requested("/news/")
        wait_until(lambda: site.requested("/news/") >= polls + 1, what="another poll")
    finally:
        code, took, err = stop_service(proc)
    assert code == 0, err
    assert took < 10 and "Traceback" not in err
    assert site.requested(BAVET) == 1 and site.requested(RAID) == 1
    assert site.requested(KAMPOT) == 1
    assert any(
        "Fishermen rescued from boats off Kampot" in s
        for s in mbox_subjects(tmp_path / "alerts.mbox")
    )


def test_web_full_text_max_articles_leaves_the_rest_for_the_next_poll(tmp_path, http_server):
    site = serve_site(http_server)
    items = [
        {"title": "Raid", "link": site.url(RAID), "description": "Police act.", "guid": "r"},
        {"title": "Bavet", "link": site.url(BAVET), "description": "Men speak.", "guid": "b"},
    ]
    http_server.add("/feed", rss(items), etag='"f1"')
    source = {"type": "rss", "url": site.url("/feed"), "full_text": True, "max_articles": 1}
    config = configure(tmp_path, {"kt": source})
    first = newswatch("once", config=config)
    assert "kt: fetched 2, new 1, matched 0, errors 0" in first.stdout
    assert "1 new item(s) left for the next poll (max_articles)" in first.stdout
    assert (site.requested(RAID), site.requested(BAVET)) == (1, 0)
    second = newswatch("once", config=config)
    # The feed is read in full again (no If-None-Match), and the item left over is taken.
    assert "If-None-Match" not in http_server.hits("/feed")[-1].headers
    assert "kt: fetched 2, new 1, matched 1, errors 0" in second.stdout
    assert (site.requested(RAID), site.requested(BAVET)) == (1, 1)


def test_web_full_text_page_answering_429_backs_the_feed_off(tmp_path, http_server):
    site = serve_site(http_server)
    http_server.add(BAVET, "busy", status=429, content_type="text/plain",
                    headers={"Retry-After": "900"})  # fmt: skip
    items = [{"title": "Bavet", "link": site.url(BAVET), "description": "Men speak.", "guid": "b"}]
    http_server.add("/feed", rss(items))
    config = configure(
        tmp_path, {"kt": {"type": "rss", "url": site.url("/feed"), "full_text": True}}
    )
    result = newswatch("once", config=config)
    assert result.returncode == 3, result.stderr  # its only source failed
    assert "kt: fetched 1, new 0, matched 0, errors 1 (HTTP 429" in result.stdout
    (row,) = db_rows(tmp_path / "newswatch.db", "SELECT * FROM sources WHERE name = 'kt'")
    wait = datetime.fromisoformat(row["next_due"]) - datetime.fromisoformat(row["last_poll"])
    assert row["failures"] == 1 and wait >= timedelta(seconds=900)
    # The item was not stored with its summary: it is fetched in full after the back-off.
    assert db_rows(tmp_path / "newswatch.db", "SELECT * FROM articles") == []


def test_web_sitemap_source_alerts_through_once_then_run(tmp_path, http_server):
    site = serve_site(http_server)  # fresh entries: an hour ago; stale: five days ago
    sitemap = {"type": "sitemap", "url": site.url("/sitemap_index.xml"), "deny": ["/tag/"]}
    config = configure(tmp_path, {"sm": sitemap})
    result = newswatch("once", config=config)
    assert result.returncode == 0, result.stderr
    assert "sm: " in result.stdout and "matched 1, errors 0" in result.stdout
    (subject,) = mbox_subjects(tmp_path / "alerts.mbox")
    assert "Bavet" in subject
    assert site.requested(BAVET) == 1 and site.requested(RAID) == 1
    assert site.requested("/news/2026/poipet-casino.html") == 0  # older than two days

    config.write_text(config.read_text().replace('interval = "1h"', 'interval = "1s"'))
    proc = start_service(config)
    try:
        wait_until(lambda: site.requested("/sitemap_index.xml") >= 3, what="sitemap polled")
    finally:
        code, took, err = stop_service(proc)
    assert code == 0 and took < 10, err
    assert site.requested(BAVET) == 1  # stored entries are not fetched again
    assert len(mbox_subjects(tmp_path / "alerts.mbox")) == 1
