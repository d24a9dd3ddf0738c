"""What ``newswatch rules test --url`` reads: a feed's items, else the page itself.

The URL is polled like an rss source, through :func:`crawler.poll.poll_batch`, into a
database in memory: the same fetch settings, size caps, parser and store. Only reading the
body differs: a body that is not a feed is extracted as one article page. The kind has no
config ``type``; it exists for this probe alone.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from crawler.canonical import canonicalize_url
from crawler.db import open_database
from crawler.errors import FetchError, ParseError
from crawler.extract import extract_article
from crawler.feeds import DEFAULT_MAX_BYTES, FeedResult
from crawler.fetch import CrawlManager, FetchResult, content_charset
from crawler.models import Article, Source
from crawler.poll import PollContext, poll_batch
from crawler.sources.rss import RssKind
from crawler.spiders.plan import PageHint
from crawler.store import sync_sources, unmatched_articles
from crawler.web import PageText, page_article

PROBE_SOURCE = "url"
# A feed lists far fewer items; this only bounds reading them back.
MAX_ITEMS = 100_000


class ProbeKind(RssKind):
    """A URL that may be a feed or an article page."""

    type = "feed-or-page"

    def parse(
        self, source: Source, result: FetchResult, *, fetched: datetime, max_bytes: int
    ) -> FeedResult:
        try:
            return super().parse(source, result, fetched=fetched, max_bytes=max_bytes)
        except ParseError:
            encoding = content_charset(result.content_type)
            page = extract_article(result.body, url=result.url, encoding=encoding)
        url = canonicalize_url(result.url)
        article = page_article(PageText(source.name, url, result.url, PageHint(), page), fetched)
        return FeedResult(articles=[article], title=page.title, warning=None)


async def read_url(
    crawls: CrawlManager, url: str, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> list[Article]:
    """The articles at ``url``, read the way a poll reads them; FetchError or ParseError."""
    db = open_database(":memory:")
    try:
        source = Source(PROBE_SOURCE, ProbeKind.type, url)
        sync_sources(db, [(source.name, source.type, source.url)])
        context = PollContext(
            db,
            crawls,
            interval_of=lambda _: timedelta(0),
            max_bytes=max_bytes,
            kinds={ProbeKind.type: ProbeKind()},
        )
        (poll,) = await poll_batch(context, [source])
        if isinstance(poll.failure, FetchError):
            raise FetchError(f"cannot fetch {url}: {poll.failure.message}")
        if poll.failure is not None:
            raise poll.failure
        return [article for _, article in unmatched_articles(db, limit=MAX_ITEMS)]
    finally:
        db.close()
