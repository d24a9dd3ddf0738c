"""What one web source fetches in a crawl, in which order, and what went wrong.

A :class:`SourcePlan` is the per-source half of :class:`crawler.spiders.pages.WebSpider`:
the spider downloads, the plan decides. Each source has one request in flight at a time
(index documents first: listing pages or sitemaps, then article pages), so a site that
starts refusing us (403/429) gets no further request from this poll, and ``max_articles``
is exact. Variants say how an index document yields article links (the html and sitemap
kinds in :mod:`crawler.sources`); :class:`PageListPlan` fetches a given list of pages (full
text of feed items).

Whatever a plan's own code raises while reading one response is the failure of that
request (see :class:`crawler.spiders.pages.WebSpider`), and a link no URL parser accepts is
a failed page, so one source's hostile links or documents never stop another's crawl.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from scrapy import Request
from scrapy.http import Response

from crawler.canonical import canonicalize_url
from crawler.errors import ParseError, describe
from crawler.extract import Extracted, extract_article
from crawler.fetch import HANDLED_STATUSES, source_slot
from crawler.models import Source

logger = logging.getLogger(__name__)

# A safety net for sources without max_articles: a sitemap can list 50,000 pages.
MAX_PAGES_PER_POLL = 500
# Statuses that mean "you are asking too much": stop asking this poll, back off after it.
BLOCK_STATUSES = frozenset({403, 429})
# Longer URLs are dropped silently by Scrapy's UrlLengthMiddleware (URLLENGTH_LIMIT).
MAX_URL_LENGTH = 2083


@dataclass(frozen=True, slots=True)
class PageHint:
    """What is known about an article before its page is fetched."""

    title: str | None = None
    published: datetime | None = None
    date_source: str | None = None  # where ``published`` came from: "feed" or "sitemap"
    key: str | None = None  # the caller's own reference (a feed item's URL)


@dataclass(frozen=True, slots=True)
class FetchedPage:
    """An article page as downloaded, waiting for extraction."""

    source: str
    url: str  # canonical URL of the link that led here (the article's identity)
    final_url: str  # where redirects ended
    body: bytes
    encoding: str | None
    hint: PageHint


@dataclass(frozen=True, slots=True)
class IndexContent:
    """What an index document (listing page, sitemap) points to."""

    pages: list[tuple[str, PageHint]] = field(default_factory=list)
    indexes: list[str] = field(default_factory=list)
    note: str | None = None  # something worth a warning, e.g. "sitemap lists no pages"


@dataclass
class SiteOutcome:
    """How a source's crawl went: the poll's status, error and counts."""

    source: str
    url: str
    status: int | None = None
    error: str | None = None
    retry_after: float | None = None
    found: int = 0  # distinct article links seen, known ones included
    queued: int = 0  # new article pages requested
    left_over: int = 0  # new article links beyond max_articles, left for the next poll
    page_errors: list[tuple[str, str]] = field(default_factory=list)  # (url, reason)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (url, content type)
    notes: list[str] = field(default_factory=list)


class SourcePlan:
    """One source's queue of requests and the bookkeeping of its outcome."""

    # Whether index documents must be HTML (listing pages) or may be anything (sitemaps).
    index_is_html = False
    # What an index document is called in messages.
    index_name = "index document"

    def __init__(self, source: Source, claim: Callable[[str], bool]) -> None:
        self.source = source
        self.outcome = SiteOutcome(source.name, source.url)
        self.in_flight: Request | None = None
        self._claim = claim
        self._indexes: deque[Request] = deque()
        self._pages: deque[Request] = deque()
        self._seen: set[str] = set()
        self._index_urls: set[str] = set()
        self._budget = min(source.max_articles or MAX_PAGES_PER_POLL, MAX_PAGES_PER_POLL)
        self._blocked = False

    # --- what variants provide ---------------------------------------------------------

    def start(self) -> None:
        """Queue the first request(s); the default is the source's own URL as an index."""
        self.queue_index(self.source.url, seed=True)

    def read_index(self, response: Response) -> IndexContent:
        """Read an index document; runs in a worker thread, so it must not touch state."""
        raise NotImplementedError

    def index_limit(self) -> int:
        """How many index documents (listing pages, sitemaps) one poll may read."""
        return 1

    def canonical(self, url: str) -> str:
        """The canonical form of a link: the article's identity in the store."""
        return canonicalize_url(url)

    def extract(self, page: FetchedPage) -> Extracted:
        """The article in a fetched page; runs in a worker thread. ParseError if none."""
        return extract_article(page.body, url=page.final_url, encoding=page.encoding)

    # --- queueing ----------------------------------------------------------------------

    def apply(self, content: IndexContent) -> None:
        """Queue what an index document pointed to."""
        if content.note:
            self.outcome.notes.append(content.note)
        for url in content.indexes:
            self.queue_index(url)
        for url, hint in content.pages:
            self.offer_page(url, hint)

    def queue_index(self, url: str, *, seed: bool = False) -> None:
        """Queue an index document, once, within :meth:`index_limit`."""
        canonical = self.canonical(url)
        if canonical in self._index_urls or len(self._index_urls) >= self.index_limit():
            return
        self._index_urls.add(canonical)
        try:
            request = self._request(url, kind="index", seed=seed, canonical=canonical)
        except (ValueError, UnicodeError) as exc:
            self.outcome.notes.append(f"{url}: not a usable URL ({describe(exc)})")
            return
        self._indexes.append(request)

    def offer_page(self, url: str, hint: PageHint) -> None:
        """Queue an article page unless it is stored, claimed by another source, or over budget."""
        if not url.lower().startswith(("http://", "https://")):
            return
        canonical = self.canonical(url)
        if len(canonical) > MAX_URL_LENGTH:
            return
        if canonical in self._seen or canonical in self._index_urls:
            return
        self._seen.add(canonical)
        self.outcome.found += 1
        if not self._claim(canonical):
            return
        if self.outcome.queued >= self._budget:
            self.outcome.left_over += 1
            return
        # The canonical URL is fetched: it only drops what sites ignore (tracking tags,
        # fragments) and unwraps redirect links, and it is the URL the store knows.
        try:
            request = self._request(canonical, kind="page", hint=hint, canonical=canonical)
        except (ValueError, UnicodeError) as exc:  # "http://[x/", a port over 65535...
            self.outcome.page_errors.append((canonical, f"not a usable URL ({describe(exc)})"))
            return
        self.outcome.queued += 1
        self._pages.append(request)

    def next_request(self) -> Request | None:
        """The next request to send for this source, or None when it is done (or blocked)."""
        if self._blocked:
            return None
        if self._indexes:
            return self._indexes.popleft()
        if self._pages:
            return self._pages.popleft()
        return None

    def _request(
        self,
        url: str,
        *,
        kind: str,
        seed: bool = False,
        hint: PageHint | None = None,
        canonical: str | None = None,
    ) -> Request:
        meta: dict[str, Any] = {
            "source": self.source.name,
            "kind": kind,
            "seed": seed,
            "hint": hint or PageHint(),
            "canonical": canonical or self.canonical(url),
            "expect_html": kind == "page" or self.index_is_html,
            "handle_httpstatus_list": HANDLED_STATUSES,
        }
        if (slot := source_slot(self.source)) is not None:
            meta["download_slot"] = slot
            meta["autothrottle_dont_adjust_delay"] = True  # the configured delay is a promise
        headers = {"User-Agent": self.source.user_agent} if self.source.user_agent else {}
        # dont_filter: the plan dedupes by canonical URL itself, and a request Scrapy's
        # dupefilter dropped would never call back, stalling the source's queue.
        return Request(url, headers=headers, meta=meta, dont_filter=True)

    # --- failures ----------------------------------------------------------------------

    def failed(
        self,
        request: Request,
        reason: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Record a failed request: a blocked source, a failed poll or one lost page."""
        if request.meta.get("seed"):
            self.outcome.status = status
        if status in BLOCK_STATUSES or (retry_after is not None and status is not None):
            self._block(request.url, reason, status, retry_after)
        elif request.meta.get("seed"):
            self.outcome.error = reason
        elif request.meta.get("kind") == "index":
            self.outcome.notes.append(f"{request.url}: {reason}")
        else:
            self.outcome.page_errors.append((request.meta["canonical"], reason))

    def _block(self, url: str, reason: str, status: int | None, retry_after: float | None) -> None:
        skipped = self._block_all()
        self.outcome.status = status
        self.outcome.retry_after = retry_after
        wait = f", asked to wait {retry_after:.0f}s" if retry_after is not None else ""
        self.outcome.error = f"{reason} from {url}{wait}; {skipped} queued request(s) not sent"
        logger.info("%s: %s", self.source.name, self.outcome.error)

    def crashed(self, request: Request, exc: Exception) -> None:
        """Record a response the plan's own code could not handle (a hostile document)."""
        if isinstance(exc, ParseError):
            reason = exc.message
        else:
            what = self.index_name if request.meta.get("kind") == "index" else "page"
            reason = f"the {what} could not be read ({describe(exc)})"
        self.failed(request, reason)

    def abandon(self, exc: Exception) -> None:
        """Stop this source's crawl: its plan could not even start (a hostile URL)."""
        self._block_all()
        reason = f"{self.source.url} could not be queued ({describe(exc)})"
        self.outcome.error = self.outcome.error or reason

    def _block_all(self) -> int:
        """Send no further request; returns how many were queued."""
        self._blocked = True
        skipped = len(self._pages) + len(self._indexes)
        self._pages.clear()
        self._indexes.clear()
        return skipped

    def skip(self, request: Request, content_type: str) -> None:
        """Record a page that is not HTML (a PDF, an image): one log line, no error."""
        if request.meta.get("seed"):
            self.outcome.error = f"{request.url} is not an HTML page ({content_type})"
            return
        self.outcome.skipped.append((request.meta["canonical"], content_type))
        logger.info(
            "%s: skipped %s: not an HTML page (%s)", self.source.name, request.url, content_type
        )

    def succeeded(self, request: Request, status: int) -> None:
        """Record a successful response."""
        if request.meta.get("seed"):
            self.outcome.status = status


class PageListPlan(SourcePlan):
    """Fetch a given list of article pages (the full text of new feed items)."""

    def __init__(
        self,
        source: Source,
        claim: Callable[[str], bool],
        pages: Iterable[tuple[str, PageHint]],
    ) -> None:
        super().__init__(source, claim)
        self._given = list(pages)

    def start(self) -> None:
        for url, hint in self._given:
            self.offer_page(url, hint)
