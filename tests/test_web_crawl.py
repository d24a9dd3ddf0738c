"""Crawling html and sitemap sources against the local test site, in process."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from crawler.db import utcnow
from crawler.models import Source
from crawler.sources import source_kind
from crawler.store import load_source_state, record_poll, store_articles, sync_sources
from crawler.web import Claims, SiteResult, crawl_sites
from tests.newssite import (
    ARTICLES,
    BOMB,
    HTML,
    HUGE,
    KHMER_PATH,
    PDF_PATH,
    PRIVATE,
    Site,
    gzipped,
    khmer_lines,
    serve_site,
)

RAID = "/news/2026/raid-sihanoukville.html"
BAVET = "/news/2026/bavet-workers.html"
CASINO = "/news/2026/poipet-casino.html"


def listing(site: Site, name: str = "md", **options: object) -> Source:
    options = {"follow": "h2.headline a", "pages": 2, **options}
    return Source(name=name, type="html", url=site.url("/news/"), **options)  # type: ignore[arg-type]


def crawl(loop_thread, crawls, db, *sources: Source) -> list[SiteResult]:
    sync_sources(db, [(s.name, s.type, s.url) for s in sources])
    claims, now = Claims(db), utcnow()
    plans = [
        source_kind(s.type).plan(  # type: ignore[attr-defined]
            s, claims, state=load_source_state(db, s.name), now=now, max_bytes=200_000
        )
        for s in sources
    ]
    results = loop_thread.run(crawl_sites(crawls, plans))
    for result in results:
        store_articles(db, result.articles)
    return results


def by_path(site: Site, result: SiteResult) -> dict[str, object]:
    return {a.url.removeprefix(site.url("")): a for a in result.articles}


def test_crawl_sites_follows_listing_pages_and_extracts_article_text(
    loop_thread, crawls, db, http_server
):
    site = serve_site(http_server)
    (result,) = crawl(loop_thread, crawls, db, listing(site))
    assert result.ok and result.status == 200
    articles = by_path(site, result)
    assert set(articles) == {RAID, BAVET, CASINO}  # the Khmer page is not served here
    bavet = articles[BAVET]
    assert "amounts to forced labour" in bavet.text
    assert bavet.title == "Workers describe life inside a Bavet compound"
    assert bavet.date_source == "page" and bavet.published == site.fresh
    assert articles[CASINO].date_source == "fetched"  # no date on the page, none in a listing
    # The tracking tag on the listing's link is not part of the identity or the request.
    assert site.requested(RAID) == 1 and articles[RAID].url == site.url(RAID)
    assert site.requested("/news/?page=2") == 1
    assert site.requested("/news/?page=3") == 0  # pages = 2
    assert site.requested("/about.html") == 0  # not matched by 'follow'


def test_crawl_sites_refuses_disallowed_huge_bomb_and_pdf_without_harm(
    loop_thread, crawls, db, http_server
):
    site = serve_site(http_server)
    (result,) = crawl(loop_thread, crawls, db, listing(site))
    assert site.requested(PRIVATE) == 0  # robots.txt: Disallow: /private/
    assert site.requested(PDF_PATH) == 1 and site.requested(HUGE) == 1
    assert result.ok and len(result.articles) == 3
    stored = {a.url for a in result.articles}
    for path in (PRIVATE, PDF_PATH, HUGE, BOMB):
        assert site.url(path) not in stored
    assert "4 page(s) could not be fetched" in (result.warning or "")  # + the Khmer 404
    assert "1 non-HTML link(s) skipped" in (result.warning or "")


def test_crawl_sites_second_poll_fetches_only_new_articles(loop_thread, crawls, db, http_server):
    site = serve_site(http_server)
    crawl(loop_thread, crawls, db, listing(site))
    page = site.fill("news-1.html").replace(
        '<article class="teaser">',
        '<article class="teaser"><h2 class="headline">'
        '<a href="/news/2026/fresh.html">Rescued workers return home</a></h2></article>'
        '<article class="teaser">',
        1,
    )
    http_server.add("/news/", page, content_type=HTML)
    http_server.add("/news/2026/fresh.html", site.fill("poipet-casino.html"), content_type=HTML)
    (second,) = crawl(loop_thread, crawls, db, listing(site))
    assert [a.url for a in second.articles] == [site.url("/news/2026/fresh.html")]
    assert second.found == 9  # every link on both pages, the stored ones included
    for path in ARTICLES:
        assert site.requested(path) == 1, path
    assert site.requested("/news/") == 2


def test_crawl_sites_khmer_article_keeps_its_script_and_language(
    loop_thread, crawls, db, http_server
):
    lines = khmer_lines()
    site = serve_site(http_server, khmer=True)
    (result,) = crawl(loop_thread, crawls, db, listing(site))
    khmer = by_path(site, result)[KHMER_PATH]
    assert khmer.language == "km"
    assert lines[3][:40] in khmer.text
    assert khmer.title == lines[0].replace("\u200b", "")  # zero-width spaces are dropped
    assert khmer.date_source == "fetched"


def test_crawl_sites_xpath_follow_and_allow_deny_patterns(loop_thread, crawls, db, http_server):
    site = serve_site(http_server)
    by_xpath = listing(site, "x", follow="//h2[@class='headline']/a", pages=1, deny=("/private/",))
    (result,) = crawl(loop_thread, crawls, db, by_xpath)
    assert set(by_path(site, result)) == {RAID, BAVET}
    assert result.found == 5  # the private link is denied before it counts
    allow_only = Source(
        name="a", type="html", url=site.url("/news/?page=2"), allow=(r"/news/\d{4}/[a-z-]+\.html$",)
    )
    (result,) = crawl(loop_thread, crawls, db, allow_only)
    assert set(by_path(site, result)) == {CASINO}  # the Khmer page is linked but not served


def test_crawl_sites_max_articles_leaves_the_rest_for_the_next_poll(
    loop_thread, crawls, db, http_server
):
    site = serve_site(http_server)
    (result,) = crawl(loop_thread, crawls, db, listing(site, pages=1, max_articles=1))
    assert [a.url for a in result.articles] == [site.url(RAID)]
    assert site.requested(BAVET) == 0
    assert "5 new link(s) left for the next poll" in (result.warning or "")
    (result,) = crawl(loop_thread, crawls, db, listing(site, pages=1, max_articles=1))
    assert [a.url for a in result.articles] == [site.url(BAVET)]


def test_crawl_sites_429_stops_the_source_and_keeps_what_it_got(
    loop_thread, crawls, db, http_server
):
    site = serve_site(http_server)
    http_server.add(BAVET, "slow down", status=429, content_type="text/plain",
                    headers={"Retry-After": "120"})  # fmt: skip
    other = Source(name="sm", type="sitemap", url=site.url("/sitemap_index.xml"))
    result, sitemap = crawl(loop_thread, crawls, db, listing(site), other)
    assert not result.ok and result.status == 429 and result.retry_after == 120
    assert "HTTP 429" in (result.error or "")
    assert [a.url for a in result.articles] == [site.url(RAID)]  # fetched before the 429
    assert site.requested(BAVET) == 1
    for path in (CASINO, HUGE, BOMB, PDF_PATH):
        assert site.requested(path) == 0, path
    # Another source on the same host carries on.
    assert sitemap.ok and site.requested("/sitemaps/news.xml") == 1


def test_crawl_sites_listing_failure_is_the_source_error(loop_thread, crawls, db, http_server):
    site = serve_site(http_server)
    http_server.add("/news/", "gone", status=404, content_type="text/plain")
    http_server.add("/feed.pdf", b"%PDF-1.4", content_type="application/pdf")
    pdf = Source(name="pdf", type="html", url=site.url("/feed.pdf"), follow="a")
    missing, not_html = crawl(loop_thread, crawls, db, listing(site), pdf)
    assert missing.error == "HTTP 404" and missing.articles == []
    assert not_html.error and "not an HTML page (application/pdf)" in not_html.error


def test_crawl_sites_selector_matching_nothing_is_reported(loop_thread, crawls, db, http_server):
    site = serve_site(http_server)
    (result,) = crawl(loop_thread, crawls, db, listing(site, follow="h3.gone a", pages=1))
    assert result.ok and result.articles == []
    assert "does 'follow' (h3.gone a) still match the page?" in (result.warning or "")


def test_crawl_sites_source_user_agent_and_delay_apply_to_every_page(
    loop_thread, crawls, db, http_server
):
    site = serve_site(http_server)
    source = listing(site, pages=1, user_agent="mekong-monitor/2", delay=0.4, max_articles=2)
    started = time.monotonic()
    crawl(loop_thread, crawls, db, source)
    took = time.monotonic() - started
    for path in ("/news/", RAID, BAVET):
        (hit,) = http_server.hits(path)
        assert hit.headers["User-Agent"] == "mekong-monitor/2"
    assert took >= 2 * 0.4  # three requests in the source's slot: two gaps


# --- sitemaps ---------------------------------------------------------------------------


def test_crawl_sites_sitemap_fetches_only_entries_after_the_last_poll(
    loop_thread, crawls, db, http_server
):
    last_poll = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    site = serve_site(http_server, fresh=last_poll + timedelta(hours=2),
                      stale=last_poll - timedelta(hours=3))  # fmt: skip
    source = Source(name="sm", type="sitemap", url=site.url("/sitemap_index.xml"), deny=("/tag/",))
    sync_sources(db, [(source.name, source.type, source.url)])
    record_poll(db, "sm", status=200, error=None, when=last_poll)
    (result,) = crawl(loop_thread, crawls, db, source)
    assert result.ok
    assert set(by_path(site, result)) == {RAID, BAVET}
    assert site.requested(CASINO) == 0  # published before the last poll
    assert site.requested("/sitemaps/archive-2020.xml") == 0  # unchanged since 2020
    assert site.requested("/tag/economy/") == 0  # deny
    assert by_path(site, result)[RAID].date_source == "page"


def test_crawl_sites_first_sitemap_poll_reads_two_days_back(loop_thread, crawls, db, http_server):
    site = serve_site(http_server)  # fresh: an hour ago, stale: five days ago
    source = Source(name="sm", type="sitemap", url=site.url("/sitemap_index.xml"))
    (result,) = crawl(loop_thread, crawls, db, source)
    assert set(by_path(site, result)) == {RAID, BAVET}
    assert site.requested("/tag/economy/") == 1  # fresh, so tried (the test site has no page)
    assert site.requested(CASINO) == 0


def test_crawl_sites_robots_txt_and_gzipped_sitemap_give_sitemap_dates(
    loop_thread, crawls, db, http_server
):
    site = serve_site(http_server)
    http_server.add("/robots.txt", f"User-agent: *\nSitemap: {site.url('/news.xml.gz')}\n",
                    content_type="text/plain")  # fmt: skip
    news = site.fill("sitemap-news.xml").replace(site.stale.isoformat(), site.fresh.isoformat())
    http_server.add("/news.xml.gz", gzipped(news), content_type="application/octet-stream")
    source = Source(name="sm", type="sitemap", url=site.url("/robots.txt"), allow=("/news/",))
    (result,) = crawl(loop_thread, crawls, db, source)
    casino = by_path(site, result)[CASINO]
    assert casino.date_source == "sitemap" and casino.published == site.fresh
    assert set(by_path(site, result)) == {RAID, BAVET, CASINO}


def test_crawl_sites_not_a_sitemap_is_a_clear_error(loop_thread, crawls, db, http_server):
    site = serve_site(http_server)
    source = Source(name="sm", type="sitemap", url=site.url("/news/"))
    (result,) = crawl(loop_thread, crawls, db, source)
    assert result.error == f"{site.url('/news/')} is not a sitemap (root element <html>)"
