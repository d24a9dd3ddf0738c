"""A poll isolates each source: what breaks one source is that source's failure alone.

Every test polls a batch through :func:`crawler.poll.poll_batch` against the local server,
with one hostile source among good ones of the same and of the other crawl, and checks
that the good ones are stored as usual. Failures come from real hostile input where one
exists (the fuzz corpus, unusable links, junk pages), otherwise from a source kind that
fails on purpose, plugged in through :attr:`PollContext.kinds` (the registry seam).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlite_utils

from crawler.errors import FetchError, ParseError, StoreError
from crawler.extract import Extracted
from crawler.feeds import FeedResult
from crawler.fetch import FetchResult
from crawler.models import Article, Source
from crawler.poll import PollContext, SourcePoll, poll_batch
from crawler.sources import SOURCE_KINDS, Crawl, Harvest, SourceKind
from crawler.sources.html import HtmlKind, HtmlPlan
from crawler.sources.rss import RssKind
from crawler.sources.sitemap import SitemapKind, SitemapPlan
from crawler.spiders.plan import FetchedPage, IndexContent, PageHint, PageListPlan, SourcePlan
from crawler.store import SourceState, load_source_state, sync_sources
from tests.corpus import FUZZ_FEEDS
from tests.httpserver import rss
from tests.newssite import HTML, XML, Site

FUZZ_FILES = sorted(FUZZ_FEEDS.glob("*.xml")) if FUZZ_FEEDS.is_dir() else []
PAGES = ["raid-sihanoukville.html", "bavet-workers.html", "poipet-casino.html"]
INTERVAL = timedelta(minutes=10)
INJECTED = "injected for the test"


def poll(
    loop_thread, crawls, db, *sources: Source, kinds: Mapping[str, SourceKind] | None = None
) -> dict[str, SourcePoll]:
    sync_sources(db, [(s.name, s.type, s.url) for s in sources])
    context = PollContext(
        db, crawls, interval_of=lambda _: INTERVAL, max_bytes=200_000, kinds=kinds
    )
    polls = loop_thread.run(poll_batch(context, list(sources)))
    assert [p.source for p in polls] == [s.name for s in sources]
    return {p.source: p for p in polls}


def stored(db: sqlite_utils.Database, source: str) -> dict[str, dict[str, Any]]:
    return {row["url"]: row for row in db["articles"].rows_where("source = ?", [source])}


def publish(site: Site, prefix: str, names: list[str] = PAGES) -> list[str]:
    """Serve copies of the test site's articles under ``/prefix/``; their URLs."""
    urls = []
    for name in names:
        path = f"/{prefix}/{name}"
        site.server.add(path, site.fill(name), content_type=HTML)
        urls.append(site.url(path))
    return urls


def feed_of(site: Site, path: str, links: list[str]) -> str:
    items = [
        {"title": f"Item {n}", "link": link, "description": f"Summary {n}.", "guid": link}
        for n, link in enumerate(links)
    ]
    return site.server.add(path, rss(items))


def listing_of(site: Site, path: str, links: list[str], extra: str = "") -> str:
    anchors = "".join(f'<h2 class="headline"><a href="{link}">Story</a></h2>' for link in links)
    body = f"<html><head><title>News</title></head><body>{anchors}{extra}</body></html>"
    return site.server.add(path, body, content_type=HTML)


def sitemap_of(site: Site, path: str, locs: list[str]) -> str:
    when = datetime.now(UTC).isoformat(timespec="seconds")
    entries = "".join(f"<url><loc>{loc}</loc><lastmod>{when}</lastmod></url>" for loc in locs)
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</urlset>'
    )
    return site.server.add(path, body, content_type=XML)


def good_sources(site: Site) -> list[Source]:
    """A plain feed, a full-text feed, an html and a sitemap source that all work."""
    feed = feed_of(site, "/good/feed.xml", ["https://example.org/a"])
    full = feed_of(site, "/good/full.xml", publish(site, "full"))
    listing = listing_of(site, "/good/list.html", publish(site, "list"))
    sitemap = sitemap_of(site, "/good/map.xml", publish(site, "map"))
    return [
        Source("feed", "rss", feed),
        Source("full", "rss", full, full_text=True),
        Source("list", "html", listing, follow="h2.headline a"),
        Source("map", "sitemap", sitemap),
    ]


def assert_good_sources_stored(db, polls: Mapping[str, SourcePoll]) -> None:
    expected = {"feed": 1, "full": 3, "list": 3, "map": 3}
    for name, count in expected.items():
        assert polls[name].failure is None, polls[name]
        assert polls[name].new == count, polls[name]
        assert len(stored(db, name)) == count
        assert load_source_state(db, name).failures == 0
    for name in ("full", "list", "map"):  # pages fetched and extracted, not just listed
        assert all(row["text"] for row in stored(db, name).values()), name


def assert_source_failed(db, polls, name: str, error: type[Exception], message: str) -> None:
    failure = polls[name].failure
    assert isinstance(failure, error), polls[name]
    assert message in failure.message
    state = load_source_state(db, name)
    assert state.failures == 1 and state.last_error == failure.message
    assert state.next_due is not None and state.last_poll is not None


# --- the fuzz corpus: inputs that made feedparser raise ------------------------------------


@pytest.mark.parametrize(
    "path",
    [pytest.param(p, id=p.name) for p in FUZZ_FILES]
    or [
        pytest.param(None, marks=pytest.mark.skip(reason=f"fuzz corpus not found at {FUZZ_FEEDS}"))
    ],
)
def test_poll_feed_that_crashes_the_parser_fails_alone(loop_thread, crawls, db, site, path):
    bad = Source("bad", "rss", site.server.add("/bad.xml", path.read_bytes()))
    polls = poll(loop_thread, crawls, db, bad, *good_sources(site))
    assert_source_failed(db, polls, "bad", ParseError, "source 'bad': the feed could not be parsed")
    assert " in feedparser's " in polls["bad"].failure.message
    assert stored(db, "bad") == {}
    assert_good_sources_stored(db, polls)


# --- real hostile input at each stage -------------------------------------------------------


def test_poll_pages_that_defeat_extraction_cost_only_their_own_text(loop_thread, crawls, db, site):
    nested = "<html><body>" + "<div>" * 5000 + "<p>lost</p>" + "</div>" * 5000 + "</body></html>"

    def junk_pages(prefix: str) -> list[str]:
        site.server.add(f"/{prefix}/binary.html", b"\x00\x01\x02\xff" * 2000, content_type=HTML)
        site.server.add(f"/{prefix}/nested.html", nested, content_type=HTML)
        paths = [f"/{prefix}/binary.html", f"/{prefix}/nested.html"]
        return [site.url(path) for path in paths] + publish(site, prefix, PAGES[:1])

    feed_pages, list_pages = junk_pages("junkfeed"), junk_pages("junklist")
    feed = feed_of(site, "/junk/feed.xml", feed_pages)
    listing = listing_of(site, "/junk/list.html", list_pages)
    hostile = [
        Source("junkfeed", "rss", feed, full_text=True),
        Source("junklist", "html", listing, follow="h2.headline a"),
    ]
    polls = poll(loop_thread, crawls, db, *hostile, *good_sources(site))
    assert_good_sources_stored(db, polls)
    # The feed's items keep their summaries; the html source stores its readable page.
    assert polls["junkfeed"].failure is None and polls["junkfeed"].new == 3
    texts = [stored(db, "junkfeed")[url]["text"] for url in feed_pages]
    assert [bool(text) for text in texts] == [False, False, True]
    assert polls["junklist"].failure is None
    assert "2 page(s) had no extractable text" in (polls["junklist"].warning or "")
    assert stored(db, "junklist")[list_pages[2]]["text"]


def test_poll_unusable_links_are_skipped_not_fatal(loop_thread, crawls, db, site):
    # Links no URL parser accepts: canonicalisation leaves them as they are, and asking
    # Scrapy for them raises. Before, one in a full-text feed ended the whole page crawl.
    bad_links = ["http://[oops/story", "http://127.0.0.1:99999/story"]
    pages = {name: publish(site, name, PAGES[:1])[0] for name in ("oddfeed", "oddlist", "oddmap")}
    nav = '<a rel="next" href="http://[oops/?page=2">next</a>'
    feed = feed_of(site, "/odd/feed.xml", [*bad_links, pages["oddfeed"]])
    listing = listing_of(site, "/odd/list.html", [*bad_links, pages["oddlist"]], nav)
    sitemap = sitemap_of(site, "/odd/map.xml", [*bad_links, pages["oddmap"]])
    hostile = [
        Source("oddfeed", "rss", feed, full_text=True),
        Source("oddlist", "html", listing, follow="h2.headline a", pages=2),
        Source("oddmap", "sitemap", sitemap),
    ]
    polls = poll(loop_thread, crawls, db, *hostile, *good_sources(site))
    assert_good_sources_stored(db, polls)
    for name, page in pages.items():
        assert polls[name].failure is None, polls[name]
        assert stored(db, name)[page]["text"], name  # the good link's page was still fetched
    warning = polls["oddmap"].warning or ""
    assert "1 entry(ies) without a usable <loc> skipped" in warning
    assert "1 page(s) could not be fetched" in warning  # the port out of range


def test_poll_sitemap_that_is_not_a_sitemap_fails_alone(loop_thread, crawls, db, site):
    junk = site.server.add("/junk/map.xml", b"\x1f\x8b\x08garbage", content_type=XML)
    polls = poll(loop_thread, crawls, db, Source("junkmap", "sitemap", junk), *good_sources(site))
    assert_source_failed(db, polls, "junkmap", FetchError, "is a corrupt gzip file")
    assert_good_sources_stored(db, polls)


# --- a stage failing unexpectedly, through kinds that fail on purpose -----------------------


class CrashingFeed(RssKind):
    """An rss kind whose parser raises (what a parser bug looks like)."""

    type = "crashing-feed"

    def parse(
        self, source: Source, result: FetchResult, *, fetched: datetime, max_bytes: int
    ) -> FeedResult:
        raise RuntimeError(INJECTED)


class UnstorableFeed(RssKind):
    """An rss kind whose items the store cannot take."""

    type = "unstorable-feed"

    def parse(
        self, source: Source, result: FetchResult, *, fetched: datetime, max_bytes: int
    ) -> FeedResult:
        feed = super().parse(source, result, fetched=fetched, max_bytes=max_bytes)
        broken = [_with(a, published="not a date") for a in feed.articles]
        return FeedResult(broken, feed.title, feed.warning)


def _with(article: Article, **changes: Any) -> Article:
    fields = {name: getattr(article, name) for name in Article.__slots__}
    return Article(**{**fields, **changes})


def crashing_plan(base: type[SourcePlan], stage: str) -> type[SourcePlan]:
    """A plan class whose ``stage`` (read_index, canonical or extract) raises."""

    class Crashing(base):  # type: ignore[valid-type, misc]
        def read_index(self, response: Any) -> IndexContent:
            if stage == "read_index":
                raise RuntimeError(INJECTED)
            return super().read_index(response)

        def canonical(self, url: str) -> str:
            if stage == "canonical" and url != self.source.url:
                raise RuntimeError(INJECTED)
            return super().canonical(url)

        def extract(self, page: FetchedPage) -> Extracted:
            if stage == "extract":
                raise RuntimeError(INJECTED)
            return super().extract(page)

    return Crashing


class CrashingHtml(HtmlKind):
    type = "crashing-html"

    def __init__(self, stage: str) -> None:
        self.plan_class = crashing_plan(HtmlPlan, stage)

    def plan(
        self,
        source: Source,
        claim: Callable[[str], bool],
        *,
        state: SourceState,
        now: datetime,
        max_bytes: int,
    ) -> SourcePlan:
        return self.plan_class(source, claim)


class CrashingSitemap(SitemapKind):
    type = "crashing-sitemap"

    def __init__(self, stage: str) -> None:
        self.plan_class = crashing_plan(SitemapPlan, stage)

    def plan(
        self,
        source: Source,
        claim: Callable[[str], bool],
        *,
        state: SourceState,
        now: datetime,
        max_bytes: int,
    ) -> SourcePlan:
        return self.plan_class(source, claim, since=state.last_success, now=now)


class CrashingFullText(RssKind):
    """An rss kind whose item pages crash in ``stage``."""

    type = "crashing-full-text"

    def __init__(self, stage: str) -> None:
        self.stage = stage

    def item_pages(
        self, source: Source, items: Sequence[Article], claim: Callable[[str], bool]
    ) -> SourcePlan:
        pages = [(item.url, PageHint(title=item.title)) for item in items]
        return crashing_plan(PageListPlan, self.stage)(source, claim, pages)


class ExplodingCrawl(Crawl):
    async def harvest(self, context: PollContext, members: Any, ready: Any = None) -> list[Harvest]:
        raise RuntimeError(INJECTED)


class ExplodingKind(SourceKind):
    type = "exploding"
    crawl = ExplodingCrawl()


def with_kinds(*kinds: SourceKind) -> dict[str, SourceKind]:
    return {**SOURCE_KINDS, **{kind.type: kind for kind in kinds}}


def test_poll_parser_crash_is_the_feeds_failure(loop_thread, crawls, db, site):
    bad = Source("bad", CrashingFeed.type, feed_of(site, "/bad.xml", ["https://example.org/b"]))
    polls = poll(
        loop_thread, crawls, db, bad, *good_sources(site), kinds=with_kinds(CrashingFeed())
    )
    message = f"source 'bad': the feed could not be parsed (RuntimeError: {INJECTED})"
    assert_source_failed(db, polls, "bad", ParseError, message)
    assert_good_sources_stored(db, polls)


def test_poll_store_failure_is_the_sources_failure(loop_thread, crawls, db, site):
    bad = Source("bad", UnstorableFeed.type, feed_of(site, "/bad.xml", ["https://example.org/b"]))
    polls = poll(
        loop_thread, crawls, db, bad, *good_sources(site), kinds=with_kinds(UnstorableFeed())
    )
    assert_source_failed(
        db, polls, "bad", StoreError, "source 'bad': the articles could not be stored ("
    )
    assert stored(db, "bad") == {}
    assert_good_sources_stored(db, polls)


@pytest.mark.parametrize(
    ("kind", "path", "message"),
    [
        (CrashingHtml("read_index"), "list", "the listing page could not be read (RuntimeError"),
        (CrashingSitemap("read_index"), "map", "the sitemap could not be read (RuntimeError"),
        (CrashingHtml("canonical"), "list", "the listing page could not be read (RuntimeError"),
        (CrashingSitemap("canonical"), "map", "the sitemap could not be read (RuntimeError"),
    ],
    ids=["link-extraction", "sitemap-parsing", "canonical-html", "canonical-sitemap"],
)
def test_poll_index_crash_is_the_sites_failure(loop_thread, crawls, db, site, kind, path, message):
    pages = publish(site, "bad")
    url = (listing_of if path == "list" else sitemap_of)(site, f"/bad/{path}", pages)
    bad = Source("bad", kind.type, url, follow="h2.headline a")
    polls = poll(loop_thread, crawls, db, bad, *good_sources(site), kinds=with_kinds(kind))
    assert_source_failed(db, polls, "bad", FetchError, message)
    assert INJECTED in polls["bad"].failure.message
    assert_good_sources_stored(db, polls)


@pytest.mark.parametrize("kind", [CrashingHtml("extract"), CrashingSitemap("extract")], ids=repr)
def test_poll_extraction_crash_costs_only_the_page_text(loop_thread, crawls, db, site, kind):
    pages = publish(site, "bad")
    maker = listing_of if isinstance(kind, HtmlKind) else sitemap_of
    bad = Source("bad", kind.type, maker(site, "/bad/index", pages), follow="h2.headline a")
    polls = poll(loop_thread, crawls, db, bad, *good_sources(site), kinds=with_kinds(kind))
    assert polls["bad"].failure is None
    assert "3 page(s) had no extractable text" in (polls["bad"].warning or "")
    assert_good_sources_stored(db, polls)


@pytest.mark.parametrize("stage", ["canonical", "extract"])
def test_poll_full_text_crash_keeps_the_feeds_summaries(loop_thread, crawls, db, site, stage):
    kind = CrashingFullText(stage)
    pages = publish(site, "bad")
    bad = Source("bad", kind.type, feed_of(site, "/bad.xml", pages), full_text=True)
    polls = poll(loop_thread, crawls, db, bad, *good_sources(site), kinds=with_kinds(kind))
    assert_good_sources_stored(db, polls)
    if stage == "extract":  # each page fails alone; the items keep their feed summaries
        assert polls["bad"].failure is None and polls["bad"].new == 3
        assert [row["text"] for row in stored(db, "bad").values()] == ["", "", ""]
    else:  # the plan could not even queue its pages: that source's failure
        assert_source_failed(db, polls, "bad", FetchError, f"(RuntimeError: {INJECTED})")


def test_poll_crawl_fault_fails_only_the_sources_in_that_crawl(loop_thread, crawls, db, site):
    bad = Source("bad", ExplodingKind.type, site.url("/nothing"))
    polls = poll(
        loop_thread, crawls, db, bad, *good_sources(site), kinds=with_kinds(ExplodingKind())
    )
    assert_source_failed(db, polls, "bad", FetchError, f"crawl failed: RuntimeError: {INJECTED}")
    assert_good_sources_stored(db, polls)


def test_poll_unknown_source_type_fails_alone(loop_thread, crawls, db, site):
    bad = Source("bad", "gopher", site.url("/nothing"))
    polls = poll(loop_thread, crawls, db, bad, *good_sources(site))
    assert_source_failed(db, polls, "bad", FetchError, "no source kind 'gopher'")
    assert_good_sources_stored(db, polls)
