"""One poll of a batch of sources: fetch, parse off the loop, store, record, match.

``newswatch once`` and every scheduled tick of ``newswatch run`` call :func:`poll_sources`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from alerts.routing import match_pending
from crawler.errors import ParseError
from crawler.feeds import parse_feed
from crawler.fetch import FetchRequest, FetchResult, fetch_feeds
from crawler.models import Source
from crawler.store import load_source_state, record_poll, store_articles, utcnow
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
    """Poll ``sources`` in one crawl, store new articles and run rules over them."""
    requests = []
    for source in sources:
        state = load_source_state(runtime.db, source.name)
        requests.append(FetchRequest(source, state.etag, state.last_modified))
    results = await fetch_feeds(runtime.crawls, requests)
    summaries = [await _ingest(runtime, result) for result in results]
    matched = match_pending(runtime.db, runtime.matcher, runtime.routes)
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


async def _ingest(runtime: Runtime, result: FetchResult) -> PollSummary:
    now = utcnow()
    interval = runtime.interval_of(result.source)
    if not result.ok:
        return _record_failure(runtime, result, result.error or "no response", now, interval)
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
        return _record_failure(runtime, result, exc.message, now, interval)
    new_ids = store_articles(runtime.db, feed.articles)
    record_poll(
        runtime.db,
        result.source,
        status=result.status,
        error=None,
        etag=result.etag,
        last_modified=result.last_modified,
        new_items=len(new_ids),
        when=now,
    )
    if feed.warning:
        logger.info("%s: %s", result.source, feed.warning)
    return PollSummary(result.source, len(feed.articles), len(new_ids), warning=feed.warning)


def _record_failure(
    runtime: Runtime,
    result: FetchResult,
    error: str,
    now: datetime,
    interval: timedelta,
) -> PollSummary:
    failures = load_source_state(runtime.db, result.source).failures + 1
    next_due = now + backoff(interval, failures, result.retry_after)
    record_poll(
        runtime.db,
        result.source,
        status=result.status,
        error=error,
        next_due=next_due,
        when=now,
    )
    return PollSummary(result.source, error=error)
