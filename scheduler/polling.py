"""One poll of a batch of sources: fetch, parse off the loop, store, record, match.

``newswatch once`` and every scheduled tick of ``newswatch run`` call :func:`poll_sources`.
Feeds (rss) are fetched in one crawl; html and sitemap sources in another that runs at the
same time (see :mod:`crawler.web`). The new items of ``full_text`` feeds get their pages
fetched in a third crawl once the feeds are parsed, before anything is stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from alerts.routing import match_pending
from crawler.errors import ParseError
from crawler.feeds import FeedResult, parse_feed
from crawler.fetch import FetchRequest, FetchResult, fetch_feeds
from crawler.models import Article, Source
from crawler.store import load_source_state, record_poll, store_articles, utcnow
from crawler.web import (
    FullTextResult,
    SiteResult,
    crawl_sites,
    fetch_full_texts,
    new_articles,
)
from scheduler.wiring import Runtime

logger = logging.getLogger(__name__)

MAX_BACKOFF_FACTOR = 8


@dataclass(frozen=True, slots=True)
class PollSummary:
    """The outcome of polling one source, for the one-line summary."""

    source: str
    fetched: int = 0
    new: int = 0
    matched: int = 0
    error: str | None = None
    not_modified: bool = False
    warning: str | None = None

    def line(self) -> str:
        """``name: fetched N, new N, matched N, errors N`` plus what went wrong, if anything."""
        text = (
            f"{self.source}: fetched {self.fetched}, new {self.new}, "
            f"matched {self.matched}, errors {1 if self.error else 0}"
        )
        if self.not_modified:
            text += " (not modified)"
        if self.error:
            text += f" ({self.error})"
        elif self.warning:
            text += f" (warning: {self.warning})"
        return text


def backoff(interval: timedelta, failures: int, retry_after: float | None) -> timedelta:
    """How long a failing source waits before its next poll."""
    factor = min(2 ** max(0, failures - 1), MAX_BACKOFF_FACTOR)
    delay = interval * factor
    if retry_after is not None:
        delay = max(delay, timedelta(seconds=retry_after))
    return delay


async def poll_sources(runtime: Runtime, sources: Sequence[Source]) -> list[PollSummary]:
    """Poll ``sources`` (feeds and web sources at once), store new articles, run rules."""
    feeds = [s for s in sources if s.type == "rss"]
    sites = [s for s in sources if s.type != "rss"]
    polled = await asyncio.gather(_poll_feeds(runtime, feeds), _poll_sites(runtime, sites))
    by_name = {summary.source: summary for group in polled for summary in group}
    summaries = [by_name[source.name] for source in sources]
    matched = match_pending(runtime.db, runtime.matcher, runtime.routes, on_match=runtime.on_match)
    summaries = [_with_matches(s, matched.get(s.source, 0)) for s in summaries]
    for summary in summaries:
        (logger.warning if summary.error else logger.info)("poll %s", summary.line())
    return summaries


def _with_matches(summary: PollSummary, matched: int) -> PollSummary:
    if not matched:
        return summary
    return PollSummary(
        summary.source,
        summary.fetched,
        summary.new,
        matched,
        summary.error,
        summary.not_modified,
        summary.warning,
    )


@dataclass
class _StagedFeed:
    """A parsed feed between parsing and storing (full text is fetched in between)."""

    source: Source
    result: FetchResult
    now: datetime
    feed: FeedResult
    articles: list[Article]  # what goes to the store
    pages: list[Article] = field(default_factory=list)  # new items whose pages are wanted
    deferred: int = 0  # new items left for a later poll
    blocked: FullTextResult | None = None  # the site answered 403/429 to a page request


async def _poll_feeds(runtime: Runtime, sources: Sequence[Source]) -> list[PollSummary]:
    if not sources:
        return []
    by_name = {source.name: source for source in sources}
    requests = []
    for source in sources:
        state = load_source_state(runtime.db, source.name)
        requests.append(FetchRequest(source, state.etag, state.last_modified))
    results = await fetch_feeds(runtime.crawls, requests)
    staged = [await _parse(runtime, by_name[result.source], result) for result in results]
    await _add_full_text(runtime, [item for item in staged if isinstance(item, _StagedFeed)])
    return [
        item if isinstance(item, PollSummary) else _store_feed(runtime, item) for item in staged
    ]


async def _parse(
    runtime: Runtime, source: Source, result: FetchResult
) -> _StagedFeed | PollSummary:
    now = utcnow()
    if not result.ok:
        error = result.error or "no response"
        return _record_failure(runtime, source.name, error, now, result.status, result.retry_after)
    if result.not_modified:
        record_poll(runtime.db, result.source, status=304, error=None, when=now)
        return PollSummary(result.source, not_modified=True)
    try:
        feed = await asyncio.to_thread(
            parse_feed,
            result.body,
            source=result.source,
            url=result.url,
            fetched=now,
            content_type=result.content_type,
            max_bytes=runtime.config.service.max_size,
        )
    except ParseError as exc:
        return _record_failure(runtime, source.name, exc.message, now, result.status)
    return _select_items(runtime, _StagedFeed(source, result, now, feed, feed.articles))


def _select_items(runtime: Runtime, staged: _StagedFeed) -> _StagedFeed:
    """Apply ``max_articles`` and pick the items whose pages ``full_text`` wants."""
    source = staged.source
    if not (source.full_text or source.max_articles):
        return staged
    fresh = new_articles(runtime.db, staged.articles)
    keep = fresh[: source.max_articles] if source.max_articles else fresh
    staged.deferred = len(fresh) - len(keep)
    if source.full_text:
        # Only new items: a stored item seen again without its page text would look like
        # a changed article to the store.
        staged.pages, staged.articles = keep, []
    else:
        later = {a.url for a in fresh[len(keep) :]}
        staged.articles = [a for a in staged.articles if a.url not in later]
    return staged


async def _add_full_text(runtime: Runtime, staged: Sequence[_StagedFeed]) -> None:
    wanted = [item for item in staged if item.pages]
    if not wanted:
        return
    try:
        texts = await fetch_full_texts(runtime.crawls, [(i.source, i.pages) for i in wanted])
    except Exception as exc:  # a crawler fault must not lose the feeds parsed alongside
        logger.exception("full-text crawl failed")
        error = f"full-text crawl failed: {type(exc).__name__}: {exc}"
        texts = [FullTextResult(i.source.name, [], 0, len(i.pages), error) for i in wanted]
    for item, text in zip(wanted, texts, strict=True):
        item.articles = text.articles
        item.deferred += text.deferred
        item.blocked = text if text.error else None


def _store_feed(runtime: Runtime, staged: _StagedFeed) -> PollSummary:
    result, feed, now = staged.result, staged.feed, staged.now
    new_ids = store_articles(runtime.db, staged.articles, runtime.stories)
    found, new = len(feed.articles), len(new_ids)
    if (blocked := staged.blocked) is not None and blocked.error:
        return _record_failure(
            runtime, result.source, blocked.error, now, blocked.status, blocked.retry_after,
            fetched=found, new=new,
        )  # fmt: skip
    # Items left for later must be read again: without validators the next poll is not
    # answered "304 Not Modified".
    keep_validators = staged.deferred == 0
    record_poll(
        runtime.db,
        result.source,
        status=result.status,
        error=None,
        etag=result.etag if keep_validators else None,
        last_modified=result.last_modified if keep_validators else None,
        new_items=new,
        when=now,
    )
    notes = [feed.warning] if feed.warning else []
    if staged.deferred:
        notes.append(f"{staged.deferred} new item(s) left for the next poll (max_articles)")
    warning = "; ".join(notes) or None
    if warning:
        logger.info("%s: %s", result.source, warning)
    return PollSummary(result.source, found, new, warning=warning)


async def _poll_sites(runtime: Runtime, sources: Sequence[Source]) -> list[PollSummary]:
    if not sources:
        return []
    now = utcnow()
    max_bytes = runtime.config.service.max_size
    try:
        results = await crawl_sites(
            runtime.crawls, runtime.db, sources, max_bytes=max_bytes, now=now
        )
    except Exception as exc:  # a crawler fault must not lose the feeds polled alongside
        logger.exception("crawl of %s failed", ", ".join(s.name for s in sources))
        error = f"crawl failed: {type(exc).__name__}: {exc}"
        return [_record_failure(runtime, source.name, error, now) for source in sources]
    return [_store_site(runtime, result, now) for result in results]


def _store_site(runtime: Runtime, result: SiteResult, now: datetime) -> PollSummary:
    # ``now`` is when the crawl started: the next sitemap poll looks for entries after it.
    new = len(store_articles(runtime.db, result.articles, runtime.stories))
    if not result.ok:
        error = result.error or "no response"
        return _record_failure(
            runtime, result.source, error, now, result.status, result.retry_after,
            fetched=result.found, new=new,
        )  # fmt: skip
    record_poll(
        runtime.db, result.source, status=result.status, error=None, new_items=new, when=now
    )
    if result.warning:
        logger.info("%s: %s", result.source, result.warning)
    return PollSummary(result.source, result.found, new, warning=result.warning)


def _record_failure(
    runtime: Runtime,
    source: str,
    error: str,
    now: datetime,
    status: int | None = None,
    retry_after: float | None = None,
    *,
    fetched: int = 0,
    new: int = 0,
) -> PollSummary:
    interval = runtime.interval_of(source)
    failures = load_source_state(runtime.db, source).failures + 1
    next_due = now + backoff(interval, failures, retry_after)
    record_poll(
        runtime.db,
        source,
        status=status,
        error=error,
        next_due=next_due,
        new_items=new,
        when=now,
    )
    return PollSummary(source, fetched, new, error=error)
