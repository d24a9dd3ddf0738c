"""``newswatch sources add``: a site's feeds found over real HTTP and one added to the config."""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduler.config import load_config
from tests.clirunner import newswatch, write_config_text
from tests.httpserver import FeedServer, rss

pytestmark = pytest.mark.slow  # every test here runs newswatch in a subprocess

HTML = "text/html; charset=utf-8"
ITEMS = [{"title": "Scam compound raided", "link": "https://site.example/1", "guid": "1"}]
CONFIG = """\
# Sources we watch.
[service]
database = "newswatch.db"
timeout = "5s"

# The wire, polled hourly.
[sources.wire]
type = "rss"
url = "https://wire.example/feed"

[rules.scams]
query = "scam"
channels = ["box"]

[channels.box]
type = "mbox"
path = "alerts.mbox"
"""


def site(http_server: FeedServer) -> str:
    http_server.add(
        "/",
        '<html><head><link rel="alternate" type="application/rss+xml" href="/news.rss">'
        '<link rel="alternate" type="application/atom+xml" href="/khmer.xml"></head>'
        "<body>Front page</body></html>",
        content_type=HTML,
    )
    http_server.add("/news.rss", rss(ITEMS, title="Mekong Daily"))
    http_server.add("/khmer.xml", rss(ITEMS * 1, title="Mekong Daily Khmer"))
    return http_server.url("/")


def test_sources_add_finds_the_advertised_feeds_and_adds_the_one_picked(tmp_path, http_server):
    config = write_config_text(tmp_path, CONFIG)
    result = newswatch("sources", "add", site(http_server), "--pick", "2", config=config)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "1. Mekong Daily  [rss, 1 item, page link]" in out
    assert "2. Mekong Daily Khmer  [rss, 1 item, page link]" in out
    url = http_server.url("/khmer.xml")
    assert f"added source mekong-daily-khmer (rss, Mekong Daily Khmer): {url}" in out
    text = config.read_text(encoding="utf-8")
    assert text.startswith(CONFIG.split("[rules.scams]")[0])  # comments and order kept
    source = load_config(config).sources["mekong-daily-khmer"]
    assert (source.type, source.url, source.title) == ("rss", url, None)


def test_sources_add_without_a_choice_takes_the_first_and_says_so(tmp_path, http_server):
    config = write_config_text(tmp_path, CONFIG)
    result = newswatch(
        "sources", "add", site(http_server), "--name", "mekong", "--title", "Mekong", config=config
    )
    assert result.returncode == 0, result.stderr
    assert "took the first (pass --pick N to choose another)" in result.stderr
    source = load_config(config).sources["mekong"]
    assert (source.url, source.title) == (http_server.url("/news.rss"), "Mekong")


def test_sources_add_refuses_a_taken_name_a_known_feed_and_a_site_without_feeds(
    tmp_path, http_server
):
    config = write_config_text(tmp_path, CONFIG)
    address = site(http_server)
    taken = newswatch("sources", "add", address, "--name", "wire", config=config)
    assert taken.returncode == 1
    assert "a source named 'wire' already exists" in taken.stderr
    first = newswatch("sources", "add", http_server.url("/news.rss"), config=config)
    assert first.returncode == 0, first.stderr
    again = newswatch("sources", "add", http_server.url("/news.rss"), config=config)
    assert again.returncode == 1
    assert "is already configured as source 'mekong-daily'" in again.stderr
    http_server.add("/empty/", "<html><body>No feeds</body></html>", content_type=HTML)
    before = config.read_text(encoding="utf-8")
    empty = newswatch("sources", "add", http_server.url("/empty/"), config=config)
    assert empty.returncode == 1
    assert "no feed or sitemap found on this site" in empty.stderr
    assert "Traceback" not in empty.stderr + taken.stderr + again.stderr
    assert config.read_text(encoding="utf-8") == before


def test_sources_add_bad_address_is_a_usage_error(tmp_path: Path):
    config = write_config_text(tmp_path, CONFIG)
    result = newswatch("sources", "add", "ftp://files.example/feed", config=config)
    assert result.returncode == 2
    assert "not a web address" in result.stderr


def test_check_fetch_names_the_feeds_a_web_page_source_advertises(tmp_path, http_server):
    address = site(http_server)
    http_server.add("/gone.rss", "gone", status=404)
    config = write_config_text(
        tmp_path,
        CONFIG.replace("https://wire.example/feed", address)
        + f'\n[sources.ok]\ntype = "rss"\nurl = "{http_server.url("/news.rss")}"\n'
        + f'\n[sources.gone]\ntype = "rss"\nurl = "{http_server.url("/gone.rss")}"\n',
    )
    offline = newswatch("check", config=config)
    assert offline.returncode == 0, offline.stderr
    assert http_server.hits("/") == []  # without --fetch nothing is fetched
    result = newswatch("check", "--fetch", config=config)
    assert result.returncode == 1, result.stderr
    assert "fetched 3 sources, 2 failed" in result.stdout
    problems = [line for line in result.stderr.splitlines() if line.startswith("problem:")]
    assert len(problems) == 2, result.stderr
    feeds = f"{http_server.url('/news.rss')}, {http_server.url('/khmer.xml')}"
    assert problems[0].startswith("problem: sources.wire: source 'wire' ")
    assert f"{address} is an HTML page; it advertises feeds: {feeds} — use one" in problems[0]
    assert problems[1].startswith("problem: sources.gone: ") and "404" in problems[1]
