"""Kinds read by crawling a web site: index documents (listing pages, sitemaps) lead to
article pages, whose text is extracted.

Every web source of a batch goes into one crawl (:func:`crawler.web.crawl_sites`),
whatever its kind, so sources on one host share its politeness limits. A kind only builds
each source's :class:`~crawler.spiders.plan.SourcePlan`: how an index document yields
links, and (through the plan's hooks) how links are canonicalised and pages extracted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from crawler.db import utcnow
from crawler.errors import FetchError, describe
from crawler.models import Source
from crawler.sources.base import Crawl, Harvest, PollContext, SourceKind
from crawler.spiders.plan import SourcePlan
from crawler.store import SourceState, load_source_state
from crawler.web import Claims, SiteResult, crawl_sites

logger = logging.getLogger(__name__)


class SiteCrawl(Crawl):
    """One crawl for every web source of a batch."""

    async def harvest(
        self,
        context: PollContext,
        members: Sequence[tuple[SourceKind, Source]],
        ready: Callable[[Harvest], None] | None = None,
    ) -> list[Harvest]:
        # When the crawl started: the next sitemap poll looks for entries after it.
        now = utcnow()
        claims = Claims(context.db)
        harvests = [Harvest(source, when=now) for _, source in members]
        plans: list[SourcePlan] = []
        for (kind, source), harvest in zip(members, harvests, strict=True):
            assert isinstance(kind, SiteKind)
            try:
                state = load_source_state(context.db, source.name)
                plans.append(
                    kind.plan(source, claims, state=state, now=now, max_bytes=context.max_bytes)
                )
            except Exception as exc:  # noqa: BLE001 - this source's failure, not the batch's
                logger.debug("%s: cannot plan its crawl", source.name, exc_info=True)
                harvest.failure = FetchError(f"could not plan the crawl ({describe(exc)})")
        results = {result.source: result for result in await crawl_sites(context.crawls, plans)}
        for harvest in harvests:
            if (result := results.get(harvest.source.name)) is not None:
                _fill(harvest, result)
        return harvests


def _fill(harvest: Harvest, result: SiteResult) -> None:
    harvest.articles = result.articles
    harvest.found = result.found
    harvest.status = result.status
    harvest.retry_after = result.retry_after
    if result.error is not None:
        harvest.failure = FetchError(result.error)
    if result.warning:
        harvest.notes.append(result.warning)


class SiteKind(SourceKind):
    """A kind whose sources are web sites: subclasses say how to plan a source's crawl."""

    crawl = SiteCrawl()

    def plan(
        self,
        source: Source,
        claim: Callable[[str], bool],
        *,
        state: SourceState,
        now: datetime,
        max_bytes: int,
    ) -> SourcePlan:
        """The plan for one poll of ``source``; ``claim`` says which links it may fetch."""
        raise NotImplementedError
