"""One poll of a batch of sources: fetch, parse, full text, dedupe, store, record.

``newswatch once``, every tick of ``newswatch run`` and ``newswatch rules test --url`` call
:func:`poll_batch`. Sources are grouped by the crawl their kind names
(:mod:`crawler.sources`: feeds in one Scrapy crawl, web sites in another); the crawls run
at the same time, and each source is stored as soon as its crawl hands it over (a feed as
soon as it is parsed, not when the slowest feed of the batch is in; in the batch's order
unless ``PollContext.in_order`` is off, as the service has it): its articles in one
transaction (:func:`crawler.store.store_articles` decides what is new), then its poll is
recorded, with a back-off after a failure.

One source never costs another its poll. Whatever goes wrong while fetching, parsing,
extracting or storing one source becomes that source's failure: recorded, counted in its
failures, shown by ``status`` and the source-health alerts. A fault of a whole crawl fails
the sources in that crawl, not those of the batch's other crawl.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from crawler.db import utcnow
from crawler.errors import FetchError, NewswatchError, StoreError, describe
from crawler.models import Source
from crawler.sources import Crawl, Harvest, PollContext, SourceKind, source_kind
from crawler.store import load_source_state, record_feed_title, record_poll, store_articles

__all__ = ["MAX_BACKOFF_FACTOR", "PollContext", "SourcePoll", "backoff", "poll_batch"]

logger = logging.getLogger(__name__)

MAX_BACKOFF_FACTOR = 8


@dataclass(frozen=True, slots=True)
class SourcePoll:
    """The outcome of polling one source."""

    source: str
    fetched: int = 0  # items or article links seen, stored ones included
    new: int = 0
    failure: NewswatchError | None = None
    not_modified: bool = False
    warning: str | None = None

    @property
    def error(self) -> str | None:
        """What went wrong, as recorded for ``status``; None when the poll succeeded."""
        return None if self.failure is None else self.failure.message


def backoff(interval: timedelta, failures: int, retry_after: float | None) -> timedelta:
    """How long a failing source waits before its next poll."""
    factor = min(2 ** max(0, failures - 1), MAX_BACKOFF_FACTOR)
    delay = interval * factor
    if retry_after is not None:
        delay = max(delay, timedelta(seconds=retry_after))
    return delay


async def poll_batch(
    context: PollContext,
    sources: Sequence[Source],
    on_settled: Callable[[SourcePoll], None] | None = None,
) -> list[SourcePoll]:
    """Poll ``sources``, store what is new and record each poll; one outcome per source.

    ``on_settled`` sees each source's outcome as soon as it is stored and recorded, while
    slower sources of the batch may still be downloading.
    """
    groups: dict[Crawl, list[tuple[SourceKind, Source]]] = {}
    polls: dict[str, SourcePoll] = {}
    for source in sources:
        try:
            kind = source_kind(source.type, context.kinds)
        except KeyError as exc:  # config validation prevents this; still only this source's
            failure = FetchError(f"source {source.name!r}: {exc.args[0]}")
            polls[source.name] = _settle(context, Harvest(source, utcnow(), failure=failure))
            _tell(on_settled, polls[source.name])
            continue
        groups.setdefault(kind.crawl, []).append((kind, source))
    done = await asyncio.gather(
        *(_poll_group(context, crawl, members, on_settled) for crawl, members in groups.items())
    )
    polls.update((poll.source, poll) for group in done for poll in group)
    return [polls[source.name] for source in sources]


async def _poll_group(
    context: PollContext,
    crawl: Crawl,
    members: Sequence[tuple[SourceKind, Source]],
    on_settled: Callable[[SourcePoll], None] | None,
) -> list[SourcePoll]:
    settled: dict[str, SourcePoll] = {}
    order = [source.name for _, source in members]
    held: dict[str, Harvest] = {}

    def settle(harvest: Harvest) -> None:
        name = harvest.source.name
        if name not in settled:
            settled[name] = _settle(context, harvest)
            _tell(on_settled, settled[name])

    def ready(harvest: Harvest) -> None:
        if not context.in_order:
            settle(harvest)
            return
        # Stored in the batch's order: which copy of a story comes first stays the same
        # from run to run, whichever feed answered first.
        held.setdefault(harvest.source.name, harvest)
        while order and order[0] in held:
            settle(held.pop(order.pop(0)))

    try:
        harvests = await crawl.harvest(context, members, ready)
    except Exception as exc:  # a crawler fault must not lose the sources of the other crawl
        logger.exception("crawl of %s failed", ", ".join(source.name for _, source in members))
        failure = FetchError(f"crawl failed: {describe(exc)}")
        now = utcnow()
        harvests = [Harvest(source, when=now, failure=failure) for _, source in members]
    for harvest in harvests:  # those not handed over already (a settled one stays settled)
        ready(harvest)
    return [settled[source.name] for _, source in members]


def _tell(on_settled: Callable[[SourcePoll], None] | None, poll: SourcePoll) -> None:
    if on_settled is None:
        return
    try:
        on_settled(poll)
    except Exception:  # the caller's bookkeeping must not cost the other sources their poll
        logger.exception("%s: handling the finished poll failed", poll.source)


def _settle(context: PollContext, harvest: Harvest) -> SourcePoll:
    """Store a source's articles and record its poll; a failure here is the source's too."""
    name = harvest.source.name
    new = 0
    try:
        if harvest.articles:
            new = len(store_articles(context.db, harvest.articles, context.stories))
    except Exception as exc:  # noqa: BLE001 - hostile data or a bug: this source's failure
        logger.debug("%s: storing failed", name, exc_info=True)
        harvest.failure = StoreError(
            f"source {name!r}: the articles could not be stored ({describe(exc)})"
        )
    try:
        _record(context, harvest, new)
    except Exception:  # the database itself is failing; the other sources still get a turn
        logger.exception("%s: could not record the poll", name)
    warning = "; ".join(harvest.notes) or None
    if warning and harvest.failure is None:
        logger.info("%s: %s", name, warning)
    return SourcePoll(
        name,
        fetched=harvest.found,
        new=new,
        failure=harvest.failure,
        not_modified=harvest.not_modified,
        warning=warning,
    )


def _record(context: PollContext, harvest: Harvest, new: int) -> None:
    name = harvest.source.name
    if harvest.failure is None:
        record_feed_title(context.db, name, harvest.title)
        record_poll(
            context.db,
            name,
            status=harvest.status,
            error=None,
            etag=harvest.etag,
            last_modified=harvest.last_modified,
            new_items=new,
            when=harvest.when,
        )
        return
    failures = load_source_state(context.db, name).failures + 1
    delay = backoff(context.interval_of(name), failures, harvest.retry_after)
    record_poll(
        context.db,
        name,
        status=harvest.status,
        error=harvest.failure.message,
        next_due=harvest.when + delay,
        new_items=new,
        when=harvest.when,
    )
