"""The spider that sends a fixed list of requests (GET or POST) and hands back the answers.

Used to resolve aggregator links (:mod:`crawler.sources.google_news`): the requests are
known in advance, each answer is read outside Scrapy. Requests to one host are spaced like
page requests (``page_delay``, AutoThrottle) and obey robots.txt like every other request.
Lookups are sent one after another, and a 403 or 429 answer ends the crawl: the host asked
us to back off, so the lookups not sent yet are left without an answer.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.http import Response
from twisted.python.failure import Failure

from crawler.fetch import HANDLED_STATUSES, describe_failure, page_crawl_settings, parse_retry_after

logger = logging.getLogger(__name__)

BACK_OFF_STATUSES = frozenset({403, 429})


@dataclass(frozen=True, slots=True)
class Lookup:
    """One request to send; ``key`` names its answer."""

    key: str
    url: str
    method: str = "GET"
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Answer:
    """What one lookup got: a response (possibly an HTTP error) or a transport error."""

    key: str
    status: int | None = None
    body: bytes = b""
    error: str | None = None
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        """A 2xx response."""
        return self.error is None and self.status is not None and 200 <= self.status < 300

    def describe(self) -> str:
        """Why the lookup failed, in words."""
        if self.error:
            return self.error
        return f"HTTP {self.status}"


class LookupSpider(Spider):
    """Send each lookup once and hand its :class:`Answer` to ``collect``."""

    name = "newswatch-lookups"

    def __init__(
        self,
        *args: Any,
        lookups: list[Lookup],
        collect: Callable[[Answer], None],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lookups = lookups
        self.collect = collect
        self.sent = 0

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> LookupSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        page_delay = crawler.settings.getfloat("NEWSWATCH_PAGE_DELAY", 1.0)
        crawler.settings.setdict(page_crawl_settings(page_delay, []), priority="spider")
        return spider

    async def start(self) -> AsyncIterator[Request]:
        # One lookup at a time, each sent once the previous one is answered: all go to one
        # host, and a refusal must stop the ones after it.
        first = self._next()
        if first is not None:
            yield first

    def _next(self) -> Request | None:
        if self.sent >= len(self.lookups):
            return None
        lookup = self.lookups[self.sent]
        self.sent += 1
        return Request(
            lookup.url,
            method=lookup.method,
            body=lookup.body or None,
            headers=lookup.headers,
            callback=self.on_response,
            errback=self.on_error,
            dont_filter=True,
            meta={"key": lookup.key, "handle_httpstatus_list": HANDLED_STATUSES},
        )

    def on_response(self, response: Response) -> Iterator[Request]:
        status = int(response.status)
        value = response.headers.get("Retry-After")
        self.collect(
            Answer(
                key=response.meta["key"],
                status=status,
                body=bytes(response.body) if status < 400 else b"",
                retry_after=parse_retry_after(value.decode("latin-1") if value else None),
            )
        )
        if status in BACK_OFF_STATUSES:
            logger.info("%s answered HTTP %d: no more lookups this poll", response.url, status)
            return
        if (request := self._next()) is not None:
            yield request

    def on_error(self, failure: Failure) -> Iterator[Request]:
        request = failure.request  # type: ignore[attr-defined]
        self.collect(Answer(key=request.meta["key"], error=describe_failure(failure.value)))
        if (following := self._next()) is not None:
            yield following
