"""Full text for summary-only feeds: each new item's page is fetched and extracted."""

from __future__ import annotations

from datetime import UTC, datetime

from crawler.feeds import parse_feed
from crawler.fetch import CrawlManager
from crawler.models import Article, Source
from crawler.web import Claims, fetch_full_texts, plan_item_pages
from tests.httpserver import rss
from tests.newssite import PDF_PATH, Site, serve_site

RAID = "/news/2026/raid-sihanoukville.html"
BAVET = "/news/2026/bavet-workers.html"
CASINO = "/news/2026/poipet-casino.html"


def feed_items(site: Site, *paths: str) -> list[Article]:
    items = [
        {
            "title": f"Item {n}",
            "link": site.url(path),
            "description": f"One-line summary {n}.",
            "pubDate": "Mon, 23 Nov 2026 08:00:00 GMT",
        }
        for n, path in enumerate(paths)
    ]
    body = rss(items).encode()
    return parse_feed(body, source="kt", url=site.url("/feed"), fetched=datetime.now(UTC)).articles


async def full_texts(crawls: CrawlManager, source: Source, items: list[Article]):
    plan = plan_item_pages(source, items, Claims(None))
    return await fetch_full_texts(crawls, [(plan, items)])


def test_fetch_full_texts_puts_page_text_in_articles_and_keeps_summary_on_failure(
    loop_thread, crawls, http_server
):
    site = serve_site(http_server)
    items = feed_items(site, BAVET, CASINO, "/news/2026/missing.html", PDF_PATH)
    source = Source(name="kt", type="rss", url=site.url("/feed"), full_text=True)
    (result,) = loop_thread.run(full_texts(crawls, source, items))
    assert result.error is None and result.extracted == 2 and result.deferred == 0
    bavet, casino, missing, pdf = result.articles
    assert "amounts to forced labour" in bavet.text
    assert bavet.body == bavet.text and bavet.summary == "One-line summary 0."
    assert bavet.title == "Item 0"  # the feed's title is kept
    assert bavet.date_source == "page" and bavet.published == site.fresh
    # No date on the page: the feed's date stays.
    assert casino.date_source == "feed" and casino.published == datetime(
        2026, 11, 23, 8, tzinfo=UTC
    )
    assert "Poipet" in casino.text
    for failed in (missing, pdf):
        assert failed.text == "" and failed.body.startswith("One-line summary")
    assert site.requested("/news/2026/missing.html") == 1


def test_fetch_full_texts_429_defers_the_items_not_fetched(loop_thread, crawls, http_server):
    site = serve_site(http_server)
    http_server.add(BAVET, "busy", status=429, content_type="text/plain",
                    headers={"Retry-After": "600"})  # fmt: skip
    items = feed_items(site, RAID, BAVET, CASINO)
    source = Source(name="kt", type="rss", url=site.url("/feed"), full_text=True)
    (result,) = loop_thread.run(full_texts(crawls, source, items))
    assert result.retry_after == 600 and "HTTP 429" in (result.error or "")
    assert [a.url for a in result.articles] == [site.url(RAID)]
    assert result.deferred == 2
    assert site.requested(CASINO) == 0
