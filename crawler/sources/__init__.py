"""Source kinds, one module each, registered under their config ``type``.

=========  =====================================  ==============================
type       module                                 crawl
=========  =====================================  ==============================
rss        :mod:`crawler.sources.rss`             feeds, one crawl per batch
html       :mod:`crawler.sources.html`            web sites, one crawl per batch
sitemap    :mod:`crawler.sources.sitemap`         web sites (shared with html)
google-    :mod:`crawler.sources.google_news`     feeds (shared with rss), then
news                                              its links resolved
=========  =====================================  ==============================

To add a kind: write ``crawler/sources/<kind>.py`` with a subclass of
:class:`~crawler.sources.rss.RssKind` (a feed read differently) or
:class:`~crawler.sources.site.SiteKind` (a site crawled differently), add it to
:data:`SOURCE_KINDS`, and add its config model to ``scheduler/config_models.py``
(``SOURCE_TYPES``). The poll (:func:`crawler.poll.poll_batch`) needs no change.
"""

from __future__ import annotations

from collections.abc import Mapping

from crawler.sources.base import Crawl, Harvest, PollContext, SourceKind
from crawler.sources.google_news import GoogleNewsKind
from crawler.sources.html import HtmlKind
from crawler.sources.rss import RssKind
from crawler.sources.sitemap import SitemapKind

__all__ = ["SOURCE_KINDS", "Crawl", "Harvest", "PollContext", "SourceKind", "source_kind"]

SOURCE_KINDS: Mapping[str, SourceKind] = {
    kind.type: kind for kind in (RssKind(), HtmlKind(), SitemapKind(), GoogleNewsKind())
}


def source_kind(type_: str, kinds: Mapping[str, SourceKind] | None = None) -> SourceKind:
    """The kind registered under a config ``type``; KeyError names the known ones."""
    registry = SOURCE_KINDS if kinds is None else kinds
    try:
        return registry[type_]
    except KeyError:
        known = ", ".join(sorted(registry))
        raise KeyError(f"no source kind {type_!r} (known: {known})") from None
