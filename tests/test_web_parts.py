"""The pieces of web crawling that need no network: pagination, link picking, sitemap dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from scrapy.http import HtmlResponse, Response

from crawler.errors import ParseError
from crawler.fetch import is_html_type, page_crawl_settings, source_slot
from crawler.models import Source
from crawler.sources.html import HtmlPlan, next_page_url
from crawler.sources.sitemap import NewsSitemap, SitemapPlan, entry_date, parse_w3c_date
from crawler.spiders.plan import PageHint

BASE = "http://news.example.org/news/"


def page(body: str, url: str = BASE) -> HtmlResponse:
    return HtmlResponse(url, body=f"<html><body>{body}</body></html>", encoding="utf-8")


SITE = "http://news.example.org"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('<a href="/x">x</a><a rel="prev" href="/p">p</a><a rel="next" href="?page=2">2</a>',
         f"{BASE}?page=2"),
        ('<a class="page-numbers next" href="/news/page/2/">Next »</a>', f"{SITE}/news/page/2/"),
        ('<a href="/news/?p=9">»</a><a href="/news/?p=2">›</a>', f"{SITE}/news/?p=2"),
        ('<a href="/news/?p=2">Older posts</a>', f"{SITE}/news/?p=2"),
        ('<a href="/km/news/2">ទំព័របន្ទាប់</a>', f"{SITE}/km/news/2"),
        ('<a href="https://elsewhere.example.com/next">Next</a>', None),
        ('<a href="#">Next</a><a href="/news/">Next</a>', None),
        ("<p>No pagination here</p>", None),
    ],
)  # fmt: skip
def test_next_page_url_finds_the_next_listing_page(body, expected):
    assert next_page_url(page(body)) == expected


def test_next_page_url_prefers_rel_next_in_head():
    response = HtmlResponse(
        BASE,
        body=b'<html><head><link rel="next" href="/news/?page=3"></head>'
        b'<body><a href="/news/?page=2">Next</a></body></html>',
    )
    assert next_page_url(response) == "http://news.example.org/news/?page=3"


def plan(**options: object) -> HtmlPlan:
    source = Source(name="s", type="html", url=BASE, **options)  # type: ignore[arg-type]
    return HtmlPlan(source, claim=lambda url: True)


LISTING = """
<h2><a href="/news/1.html?utm_source=x">One</a></h2>
<h2><a href="/news/2.pdf">Report</a></h2>
<div class="more"><a href="/news/3.html">Three</a> <a href="/tag/x/">Tag</a></div>
<a rel="next" href="/news/?page=2">Next</a>
"""


@pytest.mark.parametrize(
    ("options", "paths"),
    [
        ({"follow": "h2 a"}, ["/news/1.html?utm_source=x"]),  # .pdf dropped by extension
        ({"follow": "//div[@class='more']//a"}, ["/news/3.html", "/tag/x/"]),
        ({"follow": "div.more", "deny": ("/tag/",)}, ["/news/3.html"]),
        ({"allow": (r"/news/\d+\.html",)}, ["/news/1.html?utm_source=x", "/news/3.html"]),
    ],
)
def test_html_plan_reads_links_by_selector_and_patterns(options, paths):
    content = plan(**options).read_index(page(LISTING))
    assert [url.removeprefix("http://news.example.org") for url, _ in content.pages] == paths
    assert content.indexes == ["http://news.example.org/news/?page=2"]


def test_html_plan_keeps_link_text_as_title_hint():
    content = plan(follow="h2 a").read_index(page(LISTING))
    assert content.pages[0][1] == PageHint(title="One")


def test_html_plan_notes_a_selector_that_matches_nothing():
    content = plan(follow="h3.gone a").read_index(page(LISTING))
    assert content.pages == []
    assert "does 'follow' (h3.gone a) still match the page?" in (content.note or "")


def test_html_plan_refuses_a_listing_that_is_not_html():
    with pytest.raises(ParseError, match="is not an HTML page"):
        plan(follow="a").read_index(Response(BASE, body=b"%PDF-1.4"))


def test_plan_queues_each_canonical_url_once_and_honours_max_articles():
    claimed: list[str] = []
    source = Source(name="s", type="html", url=BASE, follow="a", max_articles=2)
    html_plan = HtmlPlan(source, claim=lambda url: claimed.append(url) or True)
    for url in (BASE + "a?utm_source=x", BASE + "a", BASE + "b#top", BASE + "c", "mailto:x@y"):
        html_plan.offer_page(url, PageHint())
    assert claimed == [BASE + "a", BASE + "b", BASE + "c"]
    assert (html_plan.outcome.found, html_plan.outcome.queued) == (3, 2)
    assert html_plan.outcome.left_over == 1
    first = html_plan.next_request()
    assert first is not None and first.url == BASE + "a"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-23T08:00:00+07:00", datetime(2026, 11, 23, 1, tzinfo=UTC)),
        ("2026-11-23T08:00Z", datetime(2026, 11, 23, 8, tzinfo=UTC)),
        ("2026-11-23 08:00:00", datetime(2026, 11, 23, 8, tzinfo=UTC)),
        ("2026-11-23", date(2026, 11, 23)),
        ("23/11/2026", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_w3c_date_reads_sitemap_dates(value, expected):
    assert parse_w3c_date(value) == expected


NEWS_SITEMAP = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
  <url><loc>http://news.example.org/a</loc><lastmod>2020-01-01</lastmod>
    <news:news><news:publication><news:name>X</news:name></news:publication>
      <news:publication_date>2026-11-23T08:00:00Z</news:publication_date>
      <news:title> Raid  in Poipet </news:title></news:news></url>
  <url><loc>http://news.example.org/b</loc><lastmod>2026-11-20</lastmod></url>
  <url><loc>http://news.example.org/c</loc></url>
</urlset>"""


def test_news_sitemap_reads_google_news_fields():
    entries = list(NewsSitemap(NEWS_SITEMAP))
    assert [e["loc"] for e in entries] == [f"http://news.example.org/{x}" for x in "abc"]
    assert entries[0]["news_title"] == "Raid  in Poipet"
    assert entry_date(entries[0]) == datetime(2026, 11, 23, 8, tzinfo=UTC)  # beats lastmod
    assert entry_date(entries[1]) == date(2026, 11, 20)
    assert entry_date(entries[2]) is None


def test_sitemap_filter_keeps_recent_and_undated_entries():
    source = Source(name="s", type="sitemap", url="http://news.example.org/sitemap.xml")
    since = datetime(2026, 11, 20, 12, tzinfo=UTC)
    sitemap_plan = SitemapPlan(source, lambda url: True, since=since, now=since)
    kept = [e["loc"][-1] for e in sitemap_plan.sitemap_filter(NewsSitemap(NEWS_SITEMAP))]
    assert kept == ["a", "b", "c"]  # b is a bare day: the day of the last poll counts
    later = SitemapPlan(source, lambda url: True, since=since + timedelta(days=1), now=since)
    assert [e["loc"][-1] for e in later.sitemap_filter(NewsSitemap(NEWS_SITEMAP))] == ["a", "c"]


def test_page_crawl_settings_give_delayed_sources_their_own_slot():
    slow = Source(name="slow", type="html", url=BASE, follow="a", delay=5.0)
    quick = Source(name="quick", type="html", url=BASE, follow="a")
    settings = page_crawl_settings(1.0, [slow, quick])
    assert settings["AUTOTHROTTLE_ENABLED"] is True and settings["DOWNLOAD_DELAY"] == 1.0
    assert settings["DOWNLOAD_SLOTS"] == {
        "source:slow": {"concurrency": 1, "delay": 5.0, "jitter": 0.0}
    }
    assert source_slot(quick) is None


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("text/html; charset=utf-8", True),
        ("application/xhtml+xml", True),
        (None, True),
        ("application/pdf", False),
        ("image/jpeg", False),
    ],
)
def test_is_html_type_skips_documents_and_media(content_type, expected):
    assert is_html_type(content_type) is expected


def test_web_preview_counts_the_newest_matches_and_says_when_there_are_more(tmp_path):
    from datetime import timedelta

    from alerts.rules.rule import Rule
    from crawler.db import open_database, utcnow
    from crawler.models import Article
    from crawler.store import store_articles
    from scheduler.web.pages.drafts import COUNTED, preview_draft

    db = open_database(tmp_path / "newswatch.db")
    now = utcnow()

    def article(n: int) -> Article:
        when = now - timedelta(minutes=n)
        text = f"Report {n}: police raided a compound."
        return Article(f"https://kt.example/{n}", "kt", f"Raid {n}", text, when, when, f"g{n}")

    store_articles(db, [article(n) for n in reversed(range(COUNTED + 5))])  # oldest first
    rule = Rule("draft", "raided")
    full = preview_draft(db, rule, "7d", timedelta(days=7), "UTC", now)
    assert full.matched == COUNTED and not full.complete
    assert full.scanned == COUNTED + 5 and sum(n for _, n in full.per_source) == COUNTED
    assert full.hits[0].title == "Raid 0"  # the newest first
    few = preview_draft(db, Rule("draft", '"report 7:"'), "7d", timedelta(days=7), "UTC", now)
    assert few.matched == 1 and few.complete
    db.close()
