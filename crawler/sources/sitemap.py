"""sitemap sources: a sitemap, sitemap index, Google News sitemap or robots.txt.

Documents are read with Scrapy's sitemap support (:class:`scrapy.utils.sitemap.Sitemap`,
``sitemap_urls_from_robots``, ``gunzip`` with the size cap), extended to read Google News'
nested ``<news:publication_date>`` and ``<news:title>``. Scrapy's ``SitemapSpider`` itself
is not used: it requests every entry at once with no error callback, which leaves no way
to stop a source that answers 429 or to count what failed.

Only entries dated after the last successful poll are fetched (``sitemap_filter``), with an
hour's slack for clock skew and for pages published while that poll ran; URLs already
stored are skipped anyway. On the first poll "recent" means the last two days, the span a
Google News sitemap covers. Undated entries are candidates on every poll (stored ones are
skipped by URL). Crawled with the other web sources of a batch (:mod:`crawler.sources.site`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

from lxml import etree
from scrapy.http import Response
from scrapy.utils.gz import gunzip
from scrapy.utils.sitemap import Sitemap, sitemap_urls_from_robots

from crawler.errors import ParseError
from crawler.models import Source
from crawler.sources.site import SiteKind
from crawler.spiders.plan import IndexContent, PageHint, SourcePlan
from crawler.store import SourceState

CLOCK_SLACK = timedelta(hours=1)
FIRST_POLL_WINDOW = timedelta(days=2)
# Sitemaps (the index and its children) read per poll; indexes of old sites list hundreds.
MAX_SITEMAPS = 50
DEFAULT_MAX_BYTES = 10 * 1024 * 1024


class NewsSitemap(Sitemap):
    """Scrapy's Sitemap, plus the Google News fields nested in ``<news:news>``."""

    __slots__ = ()

    def _process_sitemap_element(self, elem: etree._Element) -> dict[str, Any] | None:
        news = _news_fields(elem)  # read before Scrapy clears the element's children
        entry = super()._process_sitemap_element(elem)
        if entry is not None:
            entry.update(news)
        return entry


def _local_name(elem: etree._Element) -> str:
    return elem.tag.rpartition("}")[2] if isinstance(elem.tag, str) else ""


def _news_fields(elem: etree._Element) -> dict[str, str]:
    fields: dict[str, str] = {}
    for child in elem:
        if _local_name(child) != "news":
            continue
        for node in child.iter():
            name = _local_name(node)
            if name in ("publication_date", "title") and node.text and node.text.strip():
                fields[f"news_{name}"] = node.text.strip()
    return fields


class SitemapKind(SiteKind):
    """``type = "sitemap"``: a sitemap, sitemap index, Google News sitemap or robots.txt."""

    type = "sitemap"

    def plan(
        self,
        source: Source,
        claim: Callable[[str], bool],
        *,
        state: SourceState,
        now: datetime,
        max_bytes: int,
    ) -> SourcePlan:
        return SitemapPlan(source, claim, since=state.last_success, now=now, max_bytes=max_bytes)


class SitemapPlan(SourcePlan):
    """Read the sitemap(s), then fetch the new pages dated after the last successful poll."""

    index_name = "sitemap"

    def __init__(
        self,
        source: Source,
        claim: Callable[[str], bool],
        *,
        since: datetime | None,
        now: datetime,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        super().__init__(source, claim)
        self.cutoff = since - CLOCK_SLACK if since is not None else now - FIRST_POLL_WINDOW
        self._max_bytes = max_bytes
        self._allow = [re.compile(p) for p in source.allow]
        self._deny = [re.compile(p) for p in source.deny]

    def index_limit(self) -> int:
        return MAX_SITEMAPS

    def read_index(self, response: Response) -> IndexContent:
        if urlsplit(response.url).path.endswith("/robots.txt"):
            found = list(sitemap_urls_from_robots(response.body, base_url=response.url))
            if not found:
                raise ParseError(f"{response.url} lists no 'Sitemap:' lines")
            return IndexContent(indexes=found)
        sitemap = _open_sitemap(response, self._max_bytes)
        entries = sorted(self.sitemap_filter(sitemap), key=_newest_first)
        located = [(url, e) for e in entries if (url := _location(response.url, e)) is not None]
        note = None
        if len(located) < len(entries):
            unusable = len(entries) - len(located)
            note = f"{response.url}: {unusable} entry(ies) without a usable <loc> skipped"
        if sitemap.type == "sitemapindex":
            return IndexContent(indexes=[url for url, _ in located], note=note)
        pages = [(url, _hint(entry)) for url, entry in located if self._wanted(url)]
        return IndexContent(pages=pages, note=note)

    def sitemap_filter(self, entries: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """Keep undated entries and those dated after the cutoff (as SitemapSpider's hook)."""
        for entry in entries:
            when = entry_date(entry)
            if when is None or _not_older(when, self.cutoff):
                entry["date"] = when
                yield entry

    def _wanted(self, url: str) -> bool:
        if self._allow and not any(p.search(url) for p in self._allow):
            return False
        return not any(p.search(url) for p in self._deny)


def _location(base: str, entry: dict[str, Any]) -> str | None:
    """The entry's absolute URL; None for a ``<loc>`` no URL parser accepts ("http://[x/")."""
    try:
        return urljoin(base, entry["loc"])
    except ValueError:
        return None


def _open_sitemap(response: Response, max_bytes: int) -> NewsSitemap:
    body = bytes(response.body)
    if body[:3] == b"\x1f\x8b\x08":  # a .xml.gz file, not Content-Encoding
        try:
            body = gunzip(body, max_size=max_bytes)
        except ValueError as exc:
            raise ParseError(f"{response.url} inflates beyond the size cap") from exc
        except (OSError, EOFError) as exc:
            raise ParseError(f"{response.url} is a corrupt gzip file: {exc}") from exc
    try:
        sitemap = NewsSitemap(body)
    except (etree.XMLSyntaxError, StopIteration) as exc:
        raise ParseError(f"{response.url} is not a sitemap (not XML)") from exc
    if sitemap.type not in ("urlset", "sitemapindex"):
        raise ParseError(
            f"{response.url} is not a sitemap (root element <{sitemap.type}>)",
            hint="point the source at sitemap.xml, a sitemap index or robots.txt",
        )
    return sitemap


def entry_date(entry: dict[str, Any]) -> datetime | date | None:
    """An entry's date: Google News publication date, else lastmod; a bare day stays a date."""
    for key in ("news_publication_date", "lastmod"):
        if (when := parse_w3c_date(entry.get(key))) is not None:
            return when
    return None


def parse_w3c_date(value: str | None) -> datetime | date | None:
    """A W3C datetime as aware UTC, a bare ``YYYY-MM-DD`` as a date, else None."""
    value = (value or "").strip()
    if len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp.astimezone(UTC) if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def _not_older(when: datetime | date, cutoff: datetime) -> bool:
    if isinstance(when, datetime):
        return when >= cutoff
    return when >= cutoff.date()  # a bare day might be any time of that day


def _newest_first(entry: dict[str, Any]) -> tuple[bool, float]:
    when = _as_datetime(entry.get("date"))
    return (True, 0.0) if when is None else (False, -when.timestamp())


def _as_datetime(when: datetime | date | None) -> datetime | None:
    if when is None or isinstance(when, datetime):
        return when
    return datetime.combine(when, time(), tzinfo=UTC)


def _hint(entry: dict[str, Any]) -> PageHint:
    when = _as_datetime(entry.get("date"))
    title = " ".join((entry.get("news_title") or "").split()) or None
    return PageHint(title=title, published=when, date_source="sitemap" if when else None)
