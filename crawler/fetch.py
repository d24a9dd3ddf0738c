"""HTTP fetching through Scrapy: one crawl per batch of due sources.

All network access goes through Scrapy so that the user agent, robots.txt, timeouts,
retries, size caps, decompression limits and per-host concurrency are configured in one
place (:func:`scrapy_settings`). The service runs a short crawl for each batch of sources
that fell due, in the service's own asyncio loop, through
:class:`scrapy.crawler.AsyncCrawlerRunner`; a crawl costs a few milliseconds, a crashed or
stuck crawl affects only its batch, and nothing lives between polls except what the store
keeps (ETag / Last-Modified per source).

Scrapy's HTTP cache is deliberately not used: its RFC 2616 policy guesses freshness and can
skip polls for hours. Conditional requests are built here from the stored validators, and a
304 answer is returned as such, without a body to parse.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
    UnsupportedURLSchemeError,
)
from twisted.internet import error as tx_error
from twisted.internet.defer import CancelledError

from crawler.errors import describe
from crawler.models import Source

logger = logging.getLogger(__name__)

ASYNCIO_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
# Statuses handed to the spider rather than swallowed by Scrapy's middlewares; redirects
# (3xx other than 304) are still followed by RedirectMiddleware.
HANDLED_STATUSES = [304, *range(400, 600)]


@dataclass(frozen=True, slots=True)
class FetchSettings:
    """Politeness and safety limits that apply to every request."""

    user_agent: str
    timeout: float = 30.0
    max_size: int = 10 * 1024 * 1024
    obey_robots: bool = True
    concurrency_per_host: int = 1
    retries: int = 1
    # Pause between page requests to one host (listing, sitemap and article pages); the
    # floor AutoThrottle starts from. A source's own ``delay`` replaces it for that source.
    page_delay: float = 1.0


@dataclass(frozen=True, slots=True)
class FetchRequest:
    """One source to fetch, with the validators kept from its last successful poll."""

    source: Source
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one fetch produced: a response (possibly an HTTP error) or a transport error."""

    source: str
    url: str
    status: int | None = None
    body: bytes = b""
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None
    retry_after: float | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def not_modified(self) -> bool:
        """The server said nothing changed since the validators we sent."""
        return self.status == 304

    @property
    def ok(self) -> bool:
        """A usable response: 2xx with a body, or 304."""
        return self.error is None and self.status is not None and self.status < 400


def scrapy_settings(settings: FetchSettings) -> dict[str, Any]:
    """The Scrapy settings every crawl runs with."""
    return {
        "USER_AGENT": settings.user_agent,
        "ROBOTSTXT_OBEY": settings.obey_robots,
        "DOWNLOAD_TIMEOUT": settings.timeout,
        "DOWNLOAD_MAXSIZE": settings.max_size,
        "DOWNLOAD_WARNSIZE": 0,
        "CONCURRENT_REQUESTS": 16,
        "CONCURRENT_REQUESTS_PER_DOMAIN": settings.concurrency_per_host,
        "RETRY_TIMES": settings.retries,
        # 429 is not retried within a poll: the source backs off until Retry-After instead.
        "RETRY_HTTP_CODES": [500, 502, 503, 504, 522, 524, 408],
        "REDIRECT_MAX_TIMES": 5,
        "METAREFRESH_ENABLED": False,
        "COOKIES_ENABLED": False,
        "HTTPCACHE_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        "LOG_ENABLED": False,
        "EXTENSIONS": {
            "scrapy.extensions.logstats.LogStats": None,
            "scrapy.extensions.telnet.TelnetConsole": None,
            "scrapy.extensions.memusage.MemoryUsage": None,
        },
        "TWISTED_REACTOR": ASYNCIO_REACTOR,
        "NEWSWATCH_PAGE_DELAY": settings.page_delay,
    }


# Media types worth extracting; anything else (PDF, images, video) is skipped unread.
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})


def is_html_type(content_type: str | None) -> bool:
    """Whether a Content-Type header names an HTML page (a missing header might be one)."""
    if not content_type:
        return True
    return content_type.split(";", 1)[0].strip().lower() in HTML_TYPES


def content_charset(content_type: str | None) -> str | None:
    """The ``charset`` parameter of a Content-Type header, if it names one."""
    for param in (content_type or "").split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return value.strip().strip("\"'")
    return None


def source_slot(source: Source) -> str | None:
    """The download slot of a source with its own ``delay``; None for the host's slot."""
    if source.delay is None:
        return None
    return f"source:{source.name}"


def page_crawl_settings(page_delay: float, sources: Sequence[Source]) -> dict[str, Any]:
    """Settings added to crawls that fetch web pages rather than feeds.

    Requests to a host are spaced by ``page_delay`` at least, and AutoThrottle widens the
    gap when the host answers slowly. A source with its own ``delay`` gets a download slot
    of its own with exactly that delay (its requests tell AutoThrottle to leave it alone).
    """
    slots = {
        slot: {"concurrency": 1, "delay": source.delay, "jitter": 0.0}
        for source in sources
        if (slot := source_slot(source)) is not None
    }
    return {
        "DOWNLOAD_DELAY": page_delay,
        "AUTOTHROTTLE_ENABLED": True,
        "AUTOTHROTTLE_START_DELAY": page_delay,
        "AUTOTHROTTLE_MAX_DELAY": 60.0,
        "AUTOTHROTTLE_TARGET_CONCURRENCY": 1.0,
        "DOWNLOAD_SLOTS": slots,
    }


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


# Scrapy wraps most Twisted errors in its own, but retries and middlewares can surface
# either, so both are listed.
_FAILURES: tuple[tuple[tuple[type[BaseException], ...], str], ...] = (
    (
        (DownloadTimeoutError, tx_error.TimeoutError, tx_error.TCPTimedOutError, TimeoutError),
        "timed out",
    ),
    (
        (DownloadConnectionRefusedError, tx_error.ConnectionRefusedError, ConnectionRefusedError),
        "connection refused",
    ),
    ((CannotResolveHostError, tx_error.DNSLookupError), "DNS lookup failed"),
    ((ResponseDataLossError,), "connection closed before the whole response arrived"),
    ((UnsupportedURLSchemeError,), "unsupported URL scheme"),
)


def describe_failure(exc: BaseException | None) -> str:
    """A short, human explanation of why a request failed."""
    if exc is None:  # Twisted's Failure.value, which is always set for a failed request
        return "request failed"
    text = str(exc).strip()
    if isinstance(exc, IgnoreRequest):
        # The robots.txt and decompression middlewares both raise IgnoreRequest; only its
        # text tells them apart.
        if "robots.txt" in text:
            return "forbidden by robots.txt"
        if "during decompression" in text:
            return "compressed response expands beyond the size cap ([service] max_size)"
    if isinstance(exc, DownloadCancelledError | CancelledError):
        if "larger than download max size" in text:
            return "response larger than the size cap ([service] max_size)"
        return "download cancelled (response larger than the size cap, or crawl stopped)"
    for types, meaning in _FAILURES:
        if isinstance(exc, types):
            return meaning
    return describe(exc)


def _header(response: Any, name: str) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None


def result_from_response(source: str, response: Any) -> FetchResult:
    """Turn a Scrapy response into a :class:`FetchResult`."""
    status = int(response.status)
    error = None if status < 400 else f"HTTP {status}"
    body = b"" if status == 304 or status >= 400 else bytes(response.body)
    return FetchResult(
        source=source,
        url=response.url,
        status=status,
        body=body,
        content_type=_header(response, "Content-Type"),
        etag=_header(response, "ETag"),
        last_modified=_header(response, "Last-Modified"),
        error=error,
        retry_after=parse_retry_after(_header(response, "Retry-After")),
    )


def conditional_headers(request: FetchRequest) -> dict[str, str]:
    """Request headers: validators for a conditional GET and the per-source user agent."""
    headers: dict[str, str] = {}
    if request.etag:
        headers["If-None-Match"] = request.etag
    if request.last_modified:
        headers["If-Modified-Since"] = request.last_modified
    if request.source.user_agent:
        headers["User-Agent"] = request.source.user_agent
    return headers


class CrawlManager:
    """Owns the Scrapy runner inside the running asyncio loop and runs crawls on it."""

    def __init__(self, settings: FetchSettings, *, stop_grace: float = 2.0) -> None:
        self.settings = settings
        self.stop_grace = stop_grace
        self._runner: Any = None
        self._tasks: set[asyncio.Task[None]] = set()

    def _ensure_runner(self) -> Any:
        if self._runner is None:
            from scrapy.crawler import AsyncCrawlerRunner
            from scrapy.utils.reactor import install_reactor, is_reactor_installed

            if not is_reactor_installed():
                install_reactor(ASYNCIO_REACTOR)
            from twisted.internet import reactor

            if not reactor.running:  # type: ignore[attr-defined]
                # The asyncio loop is already running; tell Twisted it is too, without
                # letting it install signal handlers (the service owns SIGTERM/SIGINT).
                reactor.startRunning(installSignalHandlers=False)  # type: ignore[attr-defined]
            self._runner = AsyncCrawlerRunner(scrapy_settings(self.settings))
        return self._runner

    async def crawl(self, spider_cls: type, **kwargs: Any) -> None:
        """Run one crawl of ``spider_cls`` to completion."""
        runner = self._ensure_runner()
        task = runner.crawl(spider_cls, **kwargs)
        self._tasks.add(task)
        try:
            await task
        finally:
            self._tasks.discard(task)

    async def aclose(self) -> None:
        """Stop running crawls, waiting at most ``stop_grace`` seconds.

        Stopping a crawler that is still starting can make Scrapy's stop hang forever, so the
        wait is bounded and whatever is left is cancelled.
        """
        if self._runner is None:
            return
        # Not asyncio.wait_for: on timeout it cancels the stop and then waits, without limit,
        # for the cancellation to finish, which is exactly the hang being avoided.
        stopping = asyncio.ensure_future(self._runner.stop())
        done, _ = await asyncio.wait({stopping}, timeout=self.stop_grace)
        if not done:
            logger.warning("crawl did not stop within %.0fs; abandoning it", self.stop_grace)
            stopping.cancel()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=self.stop_grace)
        self._runner = None


def shutdown_reactor() -> None:
    """Release Twisted's threads at the end of the process (no-op if never started).

    Twisted's DNS thread pool is not a daemon pool and keeps the process alive after the
    asyncio loop has ended.
    """
    from scrapy.utils.reactor import is_reactor_installed

    if not is_reactor_installed():
        return
    from twisted.internet import reactor

    if reactor.threadpool is not None:  # type: ignore[attr-defined]
        reactor.threadpool.stop()  # type: ignore[attr-defined]


async def fetch_feeds(
    manager: CrawlManager,
    requests: Sequence[FetchRequest],
    on_result: Callable[[FetchResult], None] | None = None,
) -> list[FetchResult]:
    """Fetch every request in one crawl; every request gets exactly one result.

    ``on_result`` sees each result as soon as it arrives (once per request, in the event
    loop), so a caller can go on with the fast feeds while a slow one is still downloading;
    the results returned at the end then come without their bodies.
    """
    from crawler.spiders.feed import FeedSpider

    results: dict[str, FetchResult] = {}
    if requests:
        collect = _collector(results, on_result)
        await manager.crawl(FeedSpider, requests=list(requests), collect=collect)
    return [
        results.get(r.source.name)
        or FetchResult(source=r.source.name, url=r.source.url, error="no response (crawl ended)")
        for r in requests
    ]


def _collector(
    results: dict[str, FetchResult], on_result: Callable[[FetchResult], None] | None = None
) -> Callable[[FetchResult], None]:
    def collect(result: FetchResult) -> None:
        if result.source in results:  # one result per request; the first one counts
            return
        if on_result is None:
            results[result.source] = result
            return
        # The caller has the body now; the batch's list keeps no copy of every feed.
        results[result.source] = dataclasses.replace(result, body=b"")
        on_result(result)

    return collect
