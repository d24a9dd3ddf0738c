"""Records that flow between the stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Article:
    """One news item, as fetched from a feed or a page.

    ``url`` is always the canonical URL (see :func:`crawler.canonical.canonicalize_url`);
    it is the article's identity. ``published`` is timezone-aware UTC or ``None`` when the
    source gave no usable date. ``text`` holds the extracted full text when the page was
    fetched, otherwise it is empty and rules match the summary.
    """

    url: str
    source: str
    title: str
    summary: str
    published: datetime | None
    fetched: datetime
    guid: str
    text: str = ""
    author: str | None = None
    language: str | None = None
    # Which date ``published`` came from: "page", "feed", "sitemap" or "fetched".
    date_source: str = "feed"
    links: tuple[str, ...] = field(default=())
    # The publisher an aggregator (Google News) named for the item; None for an outlet's
    # own feed or site, whose source is the outlet.
    outlet: str | None = None

    @property
    def body(self) -> str:
        """The text rules match: the full text when extracted, else the summary."""
        return self.text or self.summary


@dataclass(frozen=True, slots=True)
class Source:
    """What the fetcher needs to know about one configured source.

    ``type`` names the source's kind in :data:`crawler.sources.SOURCE_KINDS`: "rss" (RSS
    0.9x/1.0/2.0, RDF and Atom), "html" (a listing page whose article links are followed) or
    "sitemap". Regex fields are kept as strings; the fetcher compiles them. ``delay`` is
    seconds between requests to the source's host.
    """

    name: str
    type: str
    url: str
    user_agent: str | None = None
    full_text: bool = False
    follow: str | None = None
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    pages: int = 1
    delay: float | None = None
    max_articles: int | None = None
