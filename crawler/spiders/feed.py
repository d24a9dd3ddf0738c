"""The spider that fetches feed documents (RSS 0.9x/1.0/2.0, RDF, Atom)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from scrapy import Request, Spider
from scrapy.http import Response
from twisted.python.failure import Failure

from crawler.fetch import (
    HANDLED_STATUSES,
    FetchRequest,
    FetchResult,
    conditional_headers,
    describe_failure,
    result_from_response,
)

logger = logging.getLogger(__name__)


class FeedSpider(Spider):
    """Fetch each requested feed once and hand the raw result to ``collect``.

    Parsing happens outside Scrapy, off the event loop, so a huge or hostile feed never
    blocks other downloads.
    """

    name = "newswatch-feeds"

    def __init__(
        self,
        *args: Any,
        requests: list[FetchRequest],
        collect: Callable[[FetchResult], None],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.feed_requests = requests
        self.collect = collect

    async def start(self) -> AsyncIterator[Request]:
        for fetch in self.feed_requests:
            yield Request(
                fetch.source.url,
                headers=conditional_headers(fetch),
                callback=self.parse_feed_response,
                errback=self.on_error,
                dont_filter=True,
                meta={"source": fetch.source.name, "handle_httpstatus_list": HANDLED_STATUSES},
            )

    def parse_feed_response(self, response: Response) -> None:
        self.collect(result_from_response(response.meta["source"], response))

    def on_error(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        self.collect(
            FetchResult(
                source=request.meta["source"],
                url=request.url,
                error=describe_failure(failure.value),
            )
        )
