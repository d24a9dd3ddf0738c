"""rss sources (RSS 0.9x/1.0/2.0, RDF and Atom feeds), and the crawl that reads feeds.

Every feed due in a batch is fetched in one crawl, with the validators the store kept
(ETag / Last-Modified) so an unchanged feed costs a 304. Each body is parsed as soon as it
arrives, in a worker thread (:func:`crawler.feeds.parse_feed`), and ``max_articles`` picks
the new items; the feed is then handed on to be stored while the others are still
downloading. The pages
of the new items of ``full_text`` feeds are fetched in one more crawl
(:func:`crawler.web.fetch_full_texts`) once every feed is in, before those are stored.

A kind built on rss (:mod:`crawler.sources.google_news`) subclasses :class:`RssKind` and
overrides :meth:`~RssKind.request`, :meth:`~RssKind.parse`, :meth:`~RssKind.settle` or
:meth:`~RssKind.item_pages`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from crawler.db import utcnow
from crawler.errors import FetchError, ParseError, describe
from crawler.feeds import FeedResult, parse_feed, unparseable_feed
from crawler.fetch import FetchRequest, FetchResult, fetch_feeds
from crawler.models import Article, Source
from crawler.sources.base import Crawl, Harvest, PollContext, SourceKind
from crawler.spiders.plan import SourcePlan
from crawler.store import SourceState, load_source_state
from crawler.web import Claims, FullTextResult, fetch_full_texts, new_articles, plan_item_pages

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Settled:
    """A parsed feed once its kind has settled its items (see :meth:`RssKind.settle`)."""

    feed: FeedResult
    deferred: int = 0  # items left out, for a later poll to take
    known: int = 0  # items left out because they are stored already; still counted as found
    notes: tuple[str, ...] = ()  # what the source's summary line should warn about


@dataclass
class _Staged:
    """A feed between parsing and storing (full text is fetched in between)."""

    kind: RssKind
    harvest: Harvest
    pages: list[Article] = field(default_factory=list)  # new items whose pages are wanted
    deferred: int = 0  # new items left for a later poll (max_articles)
    held: int = 0  # items the kind left for a later poll (its notes say why)
    etag: str | None = None  # the response's validators, kept unless items were deferred
    last_modified: str | None = None

    def fail(self, failure: ParseError) -> None:
        """The feed could not be read: nothing of it is stored."""
        self.harvest.failure = failure
        self.harvest.articles, self.harvest.found, self.harvest.notes = [], 0, []
        self.pages, self.deferred, self.held = [], 0, 0

    def finish(self) -> Harvest:
        """The harvest, with its validators and notes settled."""
        harvest = self.harvest
        if self.deferred:
            harvest.notes.append(
                f"{self.deferred} new item(s) left for the next poll (max_articles)"
            )
        if not (self.deferred or self.held) and harvest.failure is None:
            # Items left for later must be read again: without validators the next poll
            # is not answered "304 Not Modified".
            harvest.etag, harvest.last_modified = self.etag, self.last_modified
        return harvest


class FeedCrawl(Crawl):
    """One crawl for every feed of a batch, then one for the pages of full-text feeds."""

    async def harvest(
        self,
        context: PollContext,
        members: Sequence[tuple[SourceKind, Source]],
        ready: Callable[[Harvest], None] | None = None,
    ) -> list[Harvest]:
        requests: dict[str, tuple[RssKind, FetchRequest]] = {}
        unsent: dict[str, Harvest] = {}
        for kind, source in members:
            assert isinstance(kind, RssKind)
            try:
                state = load_source_state(context.db, source.name)
                requests[source.name] = (kind, kind.request(source, state))
            except Exception as exc:  # noqa: BLE001 - this source's failure, not the batch's
                logger.debug("%s: cannot build its request", source.name, exc_info=True)
                failure = FetchError(f"could not build the request ({describe(exc)})")
                unsent[source.name] = Harvest(source, when=utcnow(), failure=failure)
        # Each feed is read (parsed, items picked) as soon as its response arrives, and,
        # unless its items' pages are wanted too, handed to ``ready`` at once.
        staged: dict[str, _Staged] = {}
        finished: dict[str, Harvest] = {}
        reading: list[asyncio.Task[None]] = []

        async def read(result: FetchResult) -> None:
            kind, request = requests[result.source]
            item = staged[result.source] = await self._read(context, kind, request.source, result)
            if not item.pages:
                finished[result.source] = harvest = item.finish()
                if ready is not None:
                    ready(harvest)

        def arrived(result: FetchResult) -> None:
            if result.source in requests:
                reading.append(asyncio.ensure_future(read(result)))

        results = await fetch_feeds(
            context.crawls, [request for _, request in requests.values()], on_result=arrived
        )
        await asyncio.gather(*reading)
        for result in results:  # those the crawl ended without answering
            if result.source not in staged:
                await read(result)
        waiting = [item for name, item in staged.items() if name not in finished]
        await self._add_full_text(context, waiting)
        finished.update((item.harvest.source.name, item.finish()) for item in waiting)
        return [unsent.get(source.name) or finished[source.name] for _, source in members]

    async def _read(
        self, context: PollContext, kind: RssKind, source: Source, result: FetchResult
    ) -> _Staged:
        now = utcnow()
        staged = _Staged(kind, Harvest(source, when=now, status=result.status))
        harvest = staged.harvest
        if not result.ok:
            harvest.failure = FetchError(result.error or "no response")
            harvest.retry_after = result.retry_after
            return staged
        if result.not_modified:
            return staged
        try:
            feed = await asyncio.to_thread(
                kind.parse, source, result, fetched=now, max_bytes=context.max_bytes
            )
            _select_items(context, staged, await kind.settle(context, source, feed))
        except ParseError as exc:
            staged.fail(exc)
        except Exception as exc:  # noqa: BLE001 - a crash reading this feed is its failure only
            logger.debug("%s: reading the feed crashed", source.name, exc_info=True)
            staged.fail(unparseable_feed(source.name, exc))
        else:
            staged.etag, staged.last_modified = result.etag, result.last_modified
        return staged

    async def _add_full_text(self, context: PollContext, wanted: Sequence[_Staged]) -> None:
        if not wanted:
            return
        claims = Claims(None)
        items: list[tuple[SourcePlan, list[Article]]] = [
            (item.kind.item_pages(item.harvest.source, item.pages, claims), item.pages)
            for item in wanted
        ]
        try:
            texts = await fetch_full_texts(context.crawls, items)
        except Exception as exc:  # a crawler fault must not lose the feeds parsed alongside
            logger.exception("full-text crawl failed")
            error = f"full-text crawl failed: {describe(exc)}"
            texts = [
                FullTextResult(i.harvest.source.name, [], 0, len(i.pages), error) for i in wanted
            ]
        for item, text in zip(wanted, texts, strict=True):
            item.harvest.articles = text.articles
            item.deferred += text.deferred
            if text.error:  # the site asked us to back off (403/429), or the crawl failed
                item.harvest.failure = FetchError(text.error)
                item.harvest.status = text.status
                item.harvest.retry_after = text.retry_after


def _select_items(context: PollContext, staged: _Staged, settled: Settled) -> None:
    """Apply ``max_articles`` and pick the items whose pages ``full_text`` wants."""
    source, harvest, feed = staged.harvest.source, staged.harvest, settled.feed
    harvest.title = feed.title
    harvest.found = len(feed.articles) + settled.known
    harvest.articles = feed.articles
    if feed.warning:
        harvest.notes.append(feed.warning)
    harvest.notes.extend(settled.notes)
    staged.held = settled.deferred
    if not (source.full_text or source.max_articles):
        return
    fresh = new_articles(context.db, feed.articles)
    keep = fresh[: source.max_articles] if source.max_articles else fresh
    staged.deferred = len(fresh) - len(keep)
    if source.full_text:
        # Only new items: a stored item seen again without its page text would look like
        # a changed article to the store.
        staged.pages, harvest.articles = keep, []
    else:
        later = {a.url for a in fresh[len(keep) :]}
        harvest.articles = [a for a in feed.articles if a.url not in later]


class RssKind(SourceKind):
    """``type = "rss"``: an RSS 0.9x/1.0/2.0, RDF or Atom feed."""

    type = "rss"
    crawl = FeedCrawl()

    def request(self, source: Source, state: SourceState) -> FetchRequest:
        """The request for ``source``: its URL, conditional on the kept validators."""
        return FetchRequest(source, state.etag, state.last_modified)

    def parse(
        self, source: Source, result: FetchResult, *, fetched: datetime, max_bytes: int
    ) -> FeedResult:
        """The items of a fetched feed; runs in a worker thread. ParseError if unusable."""
        return parse_feed(
            result.body,
            source=source.name,
            url=result.url,
            fetched=fetched,
            content_type=result.content_type,
            max_bytes=max_bytes,
        )

    async def settle(self, context: PollContext, source: Source, feed: FeedResult) -> Settled:
        """The parsed items as they are to be stored; runs in the event loop, may fetch.

        A feed's items are its own: they are kept as parsed. A kind whose links point
        somewhere else first (an aggregator's redirects) replaces them here, before
        ``max_articles`` and ``full_text`` look at the items.
        """
        return Settled(feed)

    def item_pages(
        self, source: Source, items: Sequence[Article], claim: Callable[[str], bool]
    ) -> SourcePlan:
        """The plan that fetches the pages of new items of a ``full_text`` feed."""
        return plan_item_pages(source, items, claim)
