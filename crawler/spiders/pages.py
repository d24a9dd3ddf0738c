"""The spider that crawls web sources: listing pages, sitemaps and article pages.

One crawl serves every html and sitemap source due in a batch (or the article pages of
full-text feeds). Each source's :class:`~crawler.spiders.plan.SourcePlan` decides what to
fetch next; the spider only downloads and hands article bodies to ``collect``. Extraction
happens outside, in worker threads, and index documents are read in worker threads too,
so a 10 MB listing page or sitemap never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DontCloseSpider, StopDownload
from scrapy.http import Response
from scrapy.http.headers import Headers
from twisted.python.failure import Failure

from crawler.fetch import (
    content_charset,
    describe_failure,
    is_html_type,
    page_crawl_settings,
    parse_retry_after,
)
from crawler.spiders.plan import FetchedPage, SourcePlan

logger = logging.getLogger(__name__)


class WebSpider(Spider):
    """Walk each plan's requests, one in flight per source, and collect article pages."""

    name = "newswatch-web"

    def __init__(
        self,
        *args: Any,
        plans: list[SourcePlan],
        collect: Callable[[FetchedPage], None],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.plans = {plan.source.name: plan for plan in plans}
        self.collect = collect

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> WebSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        page_delay = crawler.settings.getfloat("NEWSWATCH_PAGE_DELAY", 1.0)
        sources = [plan.source for plan in spider.plans.values()]
        crawler.settings.setdict(page_crawl_settings(page_delay, sources), priority="spider")
        crawler.signals.connect(spider.check_headers, signal=signals.headers_received)
        crawler.signals.connect(spider.resume_stalled, signal=signals.spider_idle)
        return spider

    async def start(self) -> AsyncIterator[Request]:
        for plan in self.plans.values():
            try:
                plan.start()
            except Exception as exc:  # noqa: BLE001 - this source's failure, not the crawl's
                logger.debug("%s: cannot start", plan.source.name, exc_info=True)
                plan.abandon(exc)
            for request in self._advance(plan):
                yield request

    def check_headers(self, headers: Headers, body_length: int, request: Request, **_: Any) -> None:
        """Stop downloading a page as soon as its headers say it is not HTML."""
        if request.meta.get("expect_html"):
            content_type = _header(headers, "Content-Type")
            if not is_html_type(content_type):
                request.meta["not_html"] = content_type
                # fail=False: the response still reaches the callback with its status, so
                # a 429 served as text/plain is seen as a 429, and redirects still work.
                raise StopDownload(fail=False)

    async def parse(self, response: Response, **_: Any) -> AsyncIterator[Request]:
        """Every response comes here: errors, index documents and article pages."""
        request = response.request
        assert request is not None
        plan = self.plans[request.meta["source"]]
        plan.in_flight = None
        try:
            await self._handle(plan, request, response)
        except Exception as exc:  # noqa: BLE001 - hostile documents break parsers in many ways
            logger.debug("%s: cannot read %s", plan.source.name, request.url, exc_info=True)
            plan.crashed(request, exc)
        for next_request in self._advance(plan):
            yield next_request

    async def _handle(self, plan: SourcePlan, request: Request, response: Response) -> None:
        status = int(response.status)
        if status >= 400:
            retry_after = parse_retry_after(_header(response.headers, "Retry-After"))
            plan.failed(request, f"HTTP {status}", status=status, retry_after=retry_after)
        elif "not_html" in request.meta and "download_stopped" in response.flags:
            plan.skip(request, request.meta["not_html"])
        elif request.meta["kind"] == "index":
            plan.succeeded(request, status)
            await self._read_index(plan, request, response)
        else:
            plan.succeeded(request, status)
            self.collect(_page(request, response))

    async def _read_index(self, plan: SourcePlan, request: Request, response: Response) -> None:
        content = await asyncio.to_thread(plan.read_index, response)
        plan.apply(content)

    def on_error(self, failure: Failure) -> Iterator[Request]:
        """A request failed before a response (timeout, refused, robots.txt, size cap)."""
        request = failure.request  # type: ignore[attr-defined]
        plan = self.plans[request.meta["source"]]
        plan.in_flight = None
        plan.failed(request, describe_failure(failure.value))
        yield from self._advance(plan)

    def _advance(self, plan: SourcePlan) -> Iterator[Request]:
        request = plan.next_request()
        if request is None:
            return
        plan.in_flight = request
        yield request.replace(callback=self.parse, errback=self.on_error)

    def resume_stalled(self) -> None:
        """Restart a source whose request vanished without a callback (dropped by Scrapy).

        Should never happen (requests are never filtered), but a stalled source would
        otherwise end the crawl silently with pages left unfetched.
        """
        resumed = False
        for plan in self.plans.values():
            if plan.in_flight is None:
                continue
            logger.debug("%s: %s got no answer; moving on", plan.source.name, plan.in_flight)
            plan.failed(plan.in_flight, "request dropped by the crawler")
            plan.in_flight = None
            for request in self._advance(plan):
                self.crawler.engine.crawl(request)
                resumed = True
        if resumed:
            raise DontCloseSpider


def _page(request: Request, response: Response) -> FetchedPage:
    return FetchedPage(
        source=request.meta["source"],
        url=request.meta["canonical"],
        final_url=response.url,
        body=bytes(response.body),
        encoding=content_charset(_header(response.headers, "Content-Type")),
        hint=request.meta["hint"],
    )


def _header(headers: Headers, name: str) -> str | None:
    value = headers.get(name)
    return value.decode("latin-1") if value else None
