"""Find a site's feeds from its address, to add it as a source.

Where feeds are looked for, in order: the address itself (it may be a feed); the page's
``<link rel="alternate">`` feed links; when the page names none, the usual feed paths
(``/feed``, ``/rss.xml``...); and sitemaps, from ``robots.txt`` or ``/sitemap.xml``. Every
candidate is fetched and parsed the way a poll would, so only addresses that work are
offered, each with its title and how many items it holds.

Every request goes through the crawler (:func:`crawler.fetch.fetch_feeds`): user agent,
robots.txt, timeouts and size caps are those of a poll. The parsing helpers are pure
functions of the fetched text.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from urllib.parse import urljoin, urlsplit

import lxml.html
from lxml import etree

from crawler.db import utcnow
from crawler.errors import ParseError
from crawler.extract import decode_html
from crawler.feeds import parse_feed
from crawler.fetch import CrawlManager, FetchRequest, FetchResult, fetch_feeds
from crawler.models import Article, Source

FEED_TYPES = frozenset(
    {
        "application/rss+xml",
        "application/atom+xml",
        "application/rdf+xml",
        "application/feed+json",
        "application/xml",
        "text/xml",
    }
)
COMMON_FEED_PATHS = (
    "/feed",
    "/rss",
    "/feed.xml",
    "/rss.xml",
    "/atom.xml",
    "/index.xml",
    "/feeds/posts/default",
)
SITEMAP_PATHS = ("/sitemap.xml",)
MAX_CANDIDATES = 12
_SITEMAP_LINE = re.compile(r"^\s*sitemap\s*:\s*(\S+)", re.IGNORECASE | re.MULTILINE)
_SITEMAP_ROOT = re.compile(rb"<(?:\w+:)?(urlset|sitemapindex)[\s>]")
_LOC = re.compile(rb"<(?:\w+:)?loc[\s>]")

Kind = Literal["rss", "sitemap"]


@dataclass(frozen=True, slots=True)
class FeedCandidate:
    """A working feed or sitemap of the site."""

    url: str
    kind: Kind
    title: str | None
    items: int
    found: str  # how it was found: "the address", "page link", "usual path", "robots.txt"


@dataclass(slots=True)
class Discovery:
    """What was found at a site's address, and what went wrong on the way."""

    address: str
    candidates: list[FeedCandidate] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def site_address(text: str) -> str:
    """An address as typed (``example.org/news``) as a URL (``https://example.org/news``)."""
    text = text.strip()
    if not re.match(r"^[a-z][a-z0-9+.-]*://", text, re.IGNORECASE):
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not a web address: {text!r}")
    return text


def feed_links(html: bytes, base_url: str) -> list[tuple[str, str | None]]:
    """The ``<link rel="alternate">`` feeds a page declares: (absolute URL, title)."""
    try:
        tree = lxml.html.document_fromstring(decode_html(html) or "<html></html>")
    except (ValueError, etree.ParserError):
        return []
    found: dict[str, str | None] = {}
    for link in tree.iter("link"):
        rel = (link.get("rel") or "").lower().split()
        kind = (link.get("type") or "").split(";")[0].strip().lower()
        href = (link.get("href") or "").strip()
        if "alternate" in rel and kind in FEED_TYPES and href:
            url = urljoin(base_url, href)
            if urlsplit(url).scheme in ("http", "https"):
                found.setdefault(url, (link.get("title") or "").strip() or None)
    return list(found.items())


def robots_sitemaps(text: str, base_url: str) -> list[str]:
    """The ``Sitemap:`` lines of a robots.txt, as absolute URLs."""
    return list(dict.fromkeys(urljoin(base_url, m) for m in _SITEMAP_LINE.findall(text)))


def sitemap_entries(body: bytes) -> int | None:
    """How many ``<loc>`` a sitemap lists; None if the body is not a sitemap."""
    head = body[:4096]
    if not _SITEMAP_ROOT.search(head):
        return None
    return len(_LOC.findall(body))


def as_feed(result: FetchResult, found: str, now: datetime) -> FeedCandidate | None:
    """The fetched body as a candidate, when it parses as a feed or reads as a sitemap."""
    if not result.ok or not result.body:
        return None
    entries = sitemap_entries(result.body)
    if entries is not None:
        return FeedCandidate(result.url, "sitemap", None, entries, found)
    try:
        feed = parse_feed(
            result.body,
            source="discovery",
            url=result.url,
            fetched=now,
            content_type=result.content_type,
        )
    except ParseError:
        return None
    return FeedCandidate(result.url, "rss", feed.title, len(feed.articles), found)


async def _fetch(crawls: CrawlManager, urls: list[str]) -> list[FetchResult]:
    requests = [FetchRequest(Source(f"candidate-{n}", "rss", url)) for n, url in enumerate(urls)]
    return await fetch_feeds(crawls, requests)


async def discover_feeds(crawls: CrawlManager, address: str) -> Discovery:
    """Every working feed and sitemap found from ``address`` (see the module docstring)."""
    url = site_address(address)
    root = urljoin(url, "/")
    found = Discovery(url)
    now = utcnow()
    page, robots = await _fetch(crawls, [url, urljoin(root, "/robots.txt")])
    if not page.ok:
        found.problems.append(f"{url}: {page.error or f'HTTP {page.status}'}")
    itself = await asyncio.to_thread(as_feed, page, "the address", now)
    if itself is not None:
        found.candidates.append(itself)
        return found
    links = feed_links(page.body, page.url) if page.ok else []
    to_try = {link: "page link" for link, _ in links}
    if not to_try:
        to_try = {urljoin(root, path): "usual path" for path in COMMON_FEED_PATHS}
    declared = robots_sitemaps(robots.body.decode("utf-8", "replace"), root) if robots.ok else []
    for sitemap in declared or [urljoin(root, path) for path in SITEMAP_PATHS]:
        to_try.setdefault(sitemap, "robots.txt" if declared else "usual path")
    urls = list(to_try)[:MAX_CANDIDATES]
    seen: set[str] = set()
    for candidate_url, result in zip(urls, await _fetch(crawls, urls), strict=True):
        candidate = await asyncio.to_thread(as_feed, result, to_try[candidate_url], now)
        if candidate is not None and candidate.url not in seen:
            seen.add(candidate.url)
            found.candidates.append(candidate)
    if not found.candidates and page.ok:
        found.problems.append("no feed or sitemap found on this site")
    return found


@dataclass(frozen=True, slots=True)
class Trial:
    """One fetch of a candidate, as a poll would make it, without storing anything."""

    url: str
    kind: Kind
    title: str | None = None
    articles: tuple[Article, ...] = ()
    pages: tuple[str, ...] = ()  # the article addresses a sitemap lists
    problem: str | None = None


_LOC_TEXT = re.compile(rb"<(?:\w+:)?loc>\s*([^<\s]+)\s*<", re.IGNORECASE)


async def try_feed(crawls: CrawlManager, url: str, kind: Kind, *, limit: int = 50) -> Trial:
    """Fetch ``url`` now and parse it: a feed's items, or the addresses a sitemap lists."""
    (trial,) = await try_feeds(crawls, [(url, kind)], limit=limit)
    return trial


async def try_feeds(
    crawls: CrawlManager,
    wanted: Sequence[tuple[str, Kind]],
    *,
    limit: int = 50,
    names: Sequence[str] = (),
) -> list[Trial]:
    """:func:`try_feed` for each (url, kind), fetched in one crawl; ``names`` are the
    sources' names, for the messages of feeds that do not parse."""
    results = await _fetch(crawls, [url for url, _ in wanted])
    names = list(names) or ["trial"] * len(wanted)
    return [
        await asyncio.to_thread(_trial, result, url, kind, limit, name)
        for (url, kind), result, name in zip(wanted, results, names, strict=True)
    ]


def _trial(result: FetchResult, url: str, kind: Kind, limit: int, source: str) -> Trial:
    if not result.ok:
        return Trial(url, kind, problem=result.error or f"HTTP {result.status}")
    if kind == "sitemap":
        if sitemap_entries(result.body) is None:
            return Trial(url, kind, problem="not a sitemap")
        pages = [m.decode("utf-8", "replace") for m in _LOC_TEXT.findall(result.body)]
        return Trial(url, kind, pages=tuple(pages[:limit]))
    try:
        feed = parse_feed(
            result.body,
            source=source,
            url=result.url,
            fetched=utcnow(),
            content_type=result.content_type,
        )
    except ParseError as exc:
        return Trial(url, kind, problem=exc.message)
    return Trial(url, kind, title=feed.title, articles=tuple(feed.articles[:limit]))
