"""What every source kind provides, and what polling one source yields.

A source kind (rss, html, sitemap...) is registered under its config ``type`` in
:data:`crawler.sources.SOURCE_KINDS`. A kind does not fetch by itself: it names the
:class:`Crawl` that fetches its sources, and a poll runs each crawl once per batch for every
source whose kind names it (feeds in one Scrapy crawl, web sites in another), so sources on
one host share its politeness limits. The kind makes the per-source decisions the crawl
asks for: which request to send, how to read a body, which links to follow.

A crawl gives back one :class:`Harvest` per source; :func:`crawler.poll.poll_batch` stores
its articles and records the poll.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import ClassVar

from crawler.db import Database
from crawler.errors import NewswatchError
from crawler.feeds import DEFAULT_MAX_BYTES
from crawler.fetch import CrawlManager
from crawler.models import Article, Source
from crawler.stories import StoryIndex


@dataclass(frozen=True, slots=True)
class PollContext:
    """What a poll needs from its caller: the store, the crawler, the intervals and limits."""

    db: Database
    crawls: CrawlManager
    interval_of: Callable[[str], timedelta]  # a source's poll interval, for its back-off
    stories: StoryIndex | None = None
    max_bytes: int = DEFAULT_MAX_BYTES  # size cap of one feed, listing page or sitemap
    kinds: Mapping[str, SourceKind] | None = None  # by config type; None: the registry's
    # Store sources in the batch's order (deterministic, for once), or each as soon as it
    # is ready (the service: a slow source then holds up no other).
    in_order: bool = True


@dataclass
class Harvest:
    """What polling one source yielded, before it is stored and recorded."""

    source: Source
    when: datetime  # when this source's poll started; recorded as its last poll
    articles: list[Article] = field(default_factory=list)  # to store (new or not)
    found: int = 0  # items or article links seen, stored ones included
    status: int | None = None  # of the feed, listing page or sitemap
    failure: NewswatchError | None = None  # the poll failed, or the site asked us to back off
    retry_after: float | None = None
    etag: str | None = None  # validators to send next time (kept only on success)
    last_modified: str | None = None
    notes: list[str] = field(default_factory=list)  # what the summary line warns about
    title: str | None = None  # the title a feed gives itself (its default display name)

    @property
    def not_modified(self) -> bool:
        """The server said nothing changed since the last poll."""
        return self.status == 304 and self.failure is None


class Crawl(ABC):
    """Fetches the sources of every kind that names it, in one Scrapy crawl per batch."""

    @abstractmethod
    async def harvest(
        self,
        context: PollContext,
        members: Sequence[tuple[SourceKind, Source]],
        ready: Callable[[Harvest], None] | None = None,
    ) -> list[Harvest]:
        """One harvest per member, in order.

        Whatever goes wrong for one member (a parser crash included) is that member's
        ``failure``; only a fault of the crawl itself may raise. A crawl may hand a
        member's harvest to ``ready`` as soon as it is complete, before the others are
        (a slow source then holds up nobody); it still returns every harvest at the end.
        """


class SourceKind:
    """One kind of source, registered under its config ``type``.

    Subclasses set :attr:`type` and :attr:`crawl`, and override the hooks their crawl
    calls (see :class:`crawler.sources.rss.RssKind` and
    :class:`crawler.sources.site.SiteKind`).
    """

    type: ClassVar[str]
    crawl: ClassVar[Crawl]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.type!r}>"
