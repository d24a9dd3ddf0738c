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

    @property
    def body(self) -> str:
        """The text rules match: the full text when extracted, else the summary."""
        return self.text or self.summary
