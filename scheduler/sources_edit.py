"""Sources added to ``config.toml`` from a site's feeds or an OPML file; sources as OPML.

``newswatch sources add`` and the web interface's add-source page share the discovery
(:func:`crawler.discovery.discover_feeds`) and the naming (:func:`suggest_name`); every
change goes through :func:`scheduler.config_edit.edit_config`, so it keeps the file's
comments and layout, is validated exactly as ``newswatch check`` validates, and is not
written at all when the result would be invalid.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from tomlkit.toml_document import TOMLDocument

from crawler.canonical import canonicalize_url
from crawler.discovery import Discovery, FeedCandidate, Kind, Trial, discover_feeds, try_feeds
from crawler.fetch import CrawlManager
from scheduler.config import Config
from scheduler.config_edit import Saved, edit_config, put_table
from scheduler.opml import OpmlFeed
from scheduler.runloop import run_async
from scheduler.wiring import fetch_settings

MAX_TITLE = 200


def suggest_name(url: str, title: str | None, taken: set[str]) -> str:
    """A source name from the feed's title (``Mekong Daily`` -> ``mekong-daily``), else from
    its address (``https://www.khmertimeskh.com/feed/`` -> ``khmertimeskh``), made unique
    among ``taken``."""
    base = re.sub(r"[^a-z0-9]+", "-", (title or "").lower()).strip("-")[:40].strip("-")
    host = (urlsplit(url).hostname or "").lower().removeprefix("www.")
    if not base and host and not re.fullmatch(r"[\d.:]+", host):
        labels = host.split(".")
        base = "-".join(labels[:-1] if len(labels) > 1 else labels)
        base = re.sub(r"[^a-z0-9_.-]+", "-", base).strip("-._")
    base = base or "source"
    name, number = base, 2
    while name in taken:
        name, number = f"{base}-{number}", number + 1
    return name


def configured_urls(config: Config) -> dict[str, str]:
    """Each configured source's address, canonicalised, -> the source's name."""
    return {canonicalize_url(s.url): name for name, s in config.sources.items()}


def discover(config: Config, address: str) -> Discovery:
    """The feeds and sitemaps found from ``address``, fetched as a poll would fetch them.

    ValueError when ``address`` is not a web address.
    """

    async def find() -> Discovery:
        crawls = CrawlManager(fetch_settings(config))
        try:
            return await discover_feeds(crawls, address)
        finally:
            await crawls.aclose()

    found, _ = run_async(find())
    return found


def try_sources(config: Config) -> dict[str, Trial]:
    """Fetch every enabled rss, google-news and sitemap source once, as a poll would, storing
    nothing (a google-news source: its search feed, not the links of its items).

    ``newswatch check --fetch``: a source whose ``url`` is a web page advertising feeds gets
    a problem naming them. (html sources are listing pages; any page reads as one.)
    """
    wanted: dict[str, tuple[str, Kind]] = {
        name: (s.url, "sitemap" if s.type == "sitemap" else "rss")
        for name, s in config.sources.items()
        if s.enabled and s.type in ("rss", "google-news", "sitemap")
    }

    async def fetch_all() -> dict[str, Trial]:
        crawls = CrawlManager(fetch_settings(config))
        try:
            trials = await try_feeds(crawls, list(wanted.values()), limit=1, names=list(wanted))
        finally:
            await crawls.aclose()
        return dict(zip(wanted, trials, strict=True))

    tried, _ = run_async(fetch_all())
    return tried


def source_table(url: str, kind: str, title: str | None = None) -> dict[str, str]:
    """The keys of a new source's table (the title only when one is given)."""
    table = {"type": kind, "url": url}
    if title:
        table["title"] = title
    return table


def add_source(config: Config, name: str, table: Mapping[str, str]) -> Saved:
    """Append ``[sources.NAME]`` to the config file, validated; ConfigError/ConfigEditError."""
    return edit_config(config.path, lambda doc: put_table(doc, "sources", name, table, create=True))


def pick(candidates: list[FeedCandidate], kind: str | None) -> list[FeedCandidate]:
    """The candidates of the wanted kind (``rss`` or ``sitemap``; None: all), feeds first."""
    wanted = [c for c in candidates if kind is None or c.kind == kind]
    return sorted(wanted, key=lambda c: c.kind != "rss")


@dataclass(slots=True)
class ImportReport:
    """What an OPML import added (name, feed) and skipped (feed, why)."""

    added: list[tuple[str, OpmlFeed]] = field(default_factory=list)
    skipped: list[tuple[OpmlFeed, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def plan_import(config: Config, feeds: list[OpmlFeed]) -> ImportReport:
    """Which feeds become which sources, and which are skipped and why (nothing written)."""
    report = ImportReport()
    known = configured_urls(config)
    taken = set(config.sources)
    for feed in feeds:
        scheme = urlsplit(feed.url).scheme.lower()
        if scheme not in ("http", "https") or " " in feed.url:
            report.skipped.append((feed, "not an http(s) address"))
            continue
        canonical = canonicalize_url(feed.url)
        if canonical in known:
            already = known[canonical]
            where = "in this file" if already not in config.sources else f"source {already!r}"
            report.skipped.append((feed, f"already present ({where})"))
            continue
        name = suggest_name(feed.url, feed.title, taken)
        taken.add(name)
        known[canonical] = name
        report.added.append((name, feed))
    return report


def import_feeds(config: Config, feeds: list[OpmlFeed]) -> ImportReport:
    """Add every new feed as an ``rss`` source with its title, in one validated write."""
    report = plan_import(config, feeds)
    if not report.added:
        return report

    def add_all(document: TOMLDocument) -> None:
        for name, feed in report.added:
            title = feed.title[:MAX_TITLE] if feed.title else None
            put_table(document, "sources", name, source_table(feed.url, "rss", title), create=True)
            if feed.categories:
                document["sources"][name].comment("category: " + " / ".join(feed.categories))

    saved = edit_config(config.path, add_all)
    report.warnings = saved.warnings
    return report


def export_feeds(config: Config, titles: Mapping[str, str]) -> tuple[list[OpmlFeed], list[str]]:
    """The ``rss`` sources as OPML subscriptions, and the names of sources left out (web
    pages and sitemaps, which feed readers cannot read). ``titles``: display names."""
    feeds: list[OpmlFeed] = []
    left_out: list[str] = []
    for name, settings in config.sources.items():
        if settings.type != "rss":
            left_out.append(name)
            continue
        title = settings.title or titles.get(name) or name
        feeds.append(OpmlFeed(settings.url, title))
    return feeds, left_out
