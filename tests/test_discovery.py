"""Finding a site's feeds from its address, against a real local site."""

from __future__ import annotations

import pytest

from crawler.discovery import (
    discover_feeds,
    feed_links,
    robots_sitemaps,
    site_address,
    sitemap_entries,
    try_feed,
)
from crawler.fetch import CrawlManager, FetchSettings
from tests.httpserver import rss

HTML = "text/html; charset=utf-8"
SITEMAP = (
    '<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
    "<url><loc>https://site.example/a</loc></url><url><loc>https://site.example/b</loc></url></urlset>"
)
ITEMS = [{"title": "Scam raid", "link": "https://site.example/1", "guid": "1"}]


def run(loop_thread, coro_factory):
    async def scenario():
        crawls = CrawlManager(FetchSettings(user_agent="newswatch-test", timeout=5, retries=0))
        try:
            return await coro_factory(crawls)
        finally:
            await crawls.aclose()

    return loop_thread.run(scenario())


def test_discovery_page_links():
    page = (
        b'<html><head><link rel="alternate" type="application/rss+xml" title="News" href="/rss">'
        b'<link rel="alternate" type="application/atom+xml" href="atom.xml">'
        b'<link rel="alternate" type="text/html" href="/en">'
        b'<link rel="alternate" type="application/rss+xml" href="javascript:x()"></head></html>'
    )
    assert feed_links(page, "https://site.example/news/") == [
        ("https://site.example/rss", "News"),
        ("https://site.example/news/atom.xml", None),
    ]
    assert feed_links(b"", "https://site.example/") == []


def test_discovery_robots_and_sitemaps():
    robots = (
        "User-agent: *\nDisallow:\nSitemap: /sitemap-news.xml\nsitemap: https://cdn.example/s.xml"
    )
    assert robots_sitemaps(robots, "https://site.example/") == [
        "https://site.example/sitemap-news.xml",
        "https://cdn.example/s.xml",
    ]
    assert sitemap_entries(SITEMAP.encode()) == 2
    assert sitemap_entries(b"<rss><channel></channel></rss>") is None


@pytest.mark.parametrize(
    ("typed", "url"),
    [("site.example", "https://site.example"), ("http://a.example/x", "http://a.example/x")],
)
def test_discovery_site_address(typed, url):
    assert site_address(typed) == url


def test_discovery_site_address_refuses_other_schemes():
    with pytest.raises(ValueError, match="not a web address"):
        site_address("ftp://site.example/")


def test_discovery_finds_the_announced_feed_and_the_robots_sitemap(http_server, loop_thread):
    http_server.add(
        "/",
        '<html><head><link rel="alternate" type="application/rss+xml" href="/news.rss">'
        "</head></html>",
        content_type=HTML,
    )
    http_server.add("/news.rss", rss(ITEMS, title="Site news"))
    http_server.add("/robots.txt", "Sitemap: /map.xml\n", content_type="text/plain")
    http_server.add("/map.xml", SITEMAP, content_type="application/xml")
    found = run(loop_thread, lambda crawls: discover_feeds(crawls, http_server.url("/")))
    kinds = {
        (c.kind, c.url.rsplit("/", 1)[-1], c.title, c.items, c.found) for c in found.candidates
    }
    assert kinds == {
        ("rss", "news.rss", "Site news", 1, "page link"),
        ("sitemap", "map.xml", None, 2, "robots.txt"),
    }
    assert http_server.hits("/feed") == []  # the usual paths are tried only without links


def test_discovery_tries_the_usual_paths_when_the_page_names_no_feed(http_server, loop_thread):
    http_server.add("/", "<html><body>No links</body></html>", content_type=HTML)
    http_server.add("/feed.xml", rss(ITEMS))
    found = run(loop_thread, lambda crawls: discover_feeds(crawls, http_server.url("/")))
    assert [(c.url.rsplit("/", 1)[-1], c.found) for c in found.candidates] == [
        ("feed.xml", "usual path")
    ]


def test_discovery_of_a_feed_address_is_the_feed(http_server, loop_thread):
    http_server.add("/only.rss", rss(ITEMS, title="Only"))
    found = run(loop_thread, lambda crawls: discover_feeds(crawls, http_server.url("/only.rss")))
    assert [(c.title, c.found) for c in found.candidates] == [("Only", "the address")]


def test_discovery_of_a_site_without_feeds_says_so(http_server, loop_thread):
    http_server.add("/", "<html><body>Nothing</body></html>", content_type=HTML)
    found = run(loop_thread, lambda crawls: discover_feeds(crawls, http_server.url("/")))
    assert found.candidates == [] and found.problems == ["no feed or sitemap found on this site"]


def test_discovery_try_feed_and_sitemap(http_server, loop_thread):
    http_server.add("/news.rss", rss(ITEMS))
    http_server.add("/map.xml", SITEMAP, content_type="application/xml")
    http_server.add("/down", "gone", status=410)
    feed = run(loop_thread, lambda crawls: try_feed(crawls, http_server.url("/news.rss"), "rss"))
    assert [a.title for a in feed.articles] == ["Scam raid"] and feed.problem is None
    sitemap = run(loop_thread, lambda c: try_feed(c, http_server.url("/map.xml"), "sitemap"))
    assert sitemap.pages == ("https://site.example/a", "https://site.example/b")
    down = run(loop_thread, lambda crawls: try_feed(crawls, http_server.url("/down"), "rss"))
    assert down.problem and "410" in down.problem
