"""Web sources in a poll: crawl html and sitemap sources, fetch full text for feed items.

:func:`crawl_sites` runs one crawl for every html and sitemap source of a batch and returns
their new articles with the extracted text; :func:`fetch_full_texts` fetches the pages of
new feed items (rss sources with ``full_text = true``) and puts the extracted text in
``Article.text``, which is what rules match. Links already stored (by canonical URL) are
never fetched again.

Extraction (trafilatura) is CPU-bound, so each page body goes to a worker thread as soon
as it arrives, at most :data:`EXTRACT_WORKERS` at a time; the event loop only downloads.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlite_utils

from crawler.errors import ParseError
from crawler.extract import Extracted, extract_article
from crawler.fetch import CrawlManager
from crawler.models import Article, Source
from crawler.spiders.html import HtmlPlan
from crawler.spiders.pages import WebSpider
from crawler.spiders.plan import FetchedPage, PageHint, PageListPlan, SiteOutcome, SourcePlan
from crawler.spiders.sitemap import DEFAULT_MAX_BYTES, SitemapPlan
from crawler.store import is_known, load_source_state, utcnow

logger = logging.getLogger(__name__)

EXTRACT_WORKERS = 2
MAX_LEAD_CHARS = 300


@dataclass(frozen=True, slots=True)
class SiteResult:
    """What one html or sitemap source yielded in a poll."""

    source: str
    url: str
    articles: list[Article]  # new articles, with their extracted text
    found: int  # distinct article links seen, stored ones included
    status: int | None = None  # of the listing page / sitemap
    error: str | None = None  # the poll failed (or the site asked us to back off)
    retry_after: float | None = None
    warning: str | None = None  # pages that failed, links skipped or left for later

    @property
    def ok(self) -> bool:
        """The listing page or sitemap was read and the site did not ask us to back off."""
        return self.error is None


@dataclass(frozen=True, slots=True)
class FullTextResult:
    """Feed items of one source after their pages were fetched."""

    source: str
    articles: list[Article]  # text filled where the page was extracted, else the summary
    extracted: int
    deferred: int = 0  # items not fetched because the site asked us to back off
    error: str | None = None  # the site asked us to back off (403/429)
    status: int | None = None
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class PageText:
    """One page after extraction: the text, or why there is none."""

    source: str
    url: str
    final_url: str
    hint: PageHint
    extracted: Extracted | None
    error: str | None = None


class Claims:
    """Which article URLs a crawl may fetch: not stored yet and not taken by another source."""

    def __init__(self, db: sqlite_utils.Database | None) -> None:
        self._db = db
        self._taken: set[str] = set()

    def __call__(self, url: str) -> bool:
        if url in self._taken:
            return False
        self._taken.add(url)
        return self._db is None or not is_known(self._db, url, source="", guid=None)


class Extractions:
    """Extract each collected page in a worker thread while the crawl goes on."""

    def __init__(self, workers: int = EXTRACT_WORKERS) -> None:
        self._loop = asyncio.get_running_loop()
        self._slots = asyncio.Semaphore(workers)
        self._tasks: list[asyncio.Task[PageText]] = []

    def submit(self, page: FetchedPage) -> None:
        """Queue a page (called from the spider, on the loop)."""
        self._tasks.append(self._loop.create_task(self._extract(page)))

    async def _extract(self, page: FetchedPage) -> PageText:
        async with self._slots:
            try:
                extracted = await asyncio.to_thread(
                    extract_article, page.body, url=page.final_url, encoding=page.encoding
                )
            except ParseError as exc:
                return PageText(page.source, page.url, page.final_url, page.hint, None, exc.message)
        return PageText(page.source, page.url, page.final_url, page.hint, extracted)

    async def results(self) -> list[PageText]:
        """Every page's outcome, once all extractions are done."""
        return list(await asyncio.gather(*self._tasks))

    def cancel(self) -> None:
        """Drop extractions not started yet (the poll is being stopped)."""
        for task in self._tasks:
            task.cancel()


async def _crawl(manager: CrawlManager, plans: Sequence[SourcePlan]) -> list[PageText]:
    extractions = Extractions()
    try:
        if plans:
            await manager.crawl(WebSpider, plans=plans, collect=extractions.submit)
        return await extractions.results()
    except BaseException:
        extractions.cancel()
        raise


async def crawl_sites(
    manager: CrawlManager,
    db: sqlite_utils.Database,
    sources: Sequence[Source],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    now: datetime | None = None,
) -> list[SiteResult]:
    """Crawl html and sitemap sources in one crawl; each gets its new articles and outcome."""
    now = now or utcnow()
    claims = Claims(db)
    plans = [_site_plan(source, claims, db, now, max_bytes) for source in sources]
    pages = await _crawl(manager, plans)
    fetched = utcnow()
    results = []
    for plan in plans:
        own = [page for page in pages if page.source == plan.source.name]
        articles = [_site_article(page, fetched) for page in own]
        results.append(_site_result(plan.outcome, articles, own))
    return results


def _site_plan(
    source: Source,
    claims: Callable[[str], bool],
    db: sqlite_utils.Database,
    now: datetime,
    max_bytes: int,
) -> SourcePlan:
    if source.type == "html":
        return HtmlPlan(source, claims)
    if source.type == "sitemap":
        since = load_source_state(db, source.name).last_success
        return SitemapPlan(source, claims, since=since, now=now, max_bytes=max_bytes)
    raise ValueError(f"source {source.name!r} has type {source.type!r}, not html or sitemap")


def _site_article(page: PageText, fetched: datetime) -> Article:
    extracted = page.extracted
    published, date_source = _published(extracted, page.hint, fetched)
    text = extracted.text if extracted else ""
    title = (extracted.title if extracted else None) or page.hint.title or page.url
    return Article(
        url=page.url,
        source=page.source,
        title=title,
        summary=_lead(text),
        published=published,
        fetched=fetched,
        guid=page.url,
        text=text,
        author=extracted.author if extracted else None,
        language=extracted.language if extracted else None,
        date_source=date_source,
    )


def _published(
    extracted: Extracted | None, hint: PageHint, fetched: datetime
) -> tuple[datetime, str]:
    """The page's own date, else the feed's or sitemap's, else the time it was fetched."""
    if extracted is not None and extracted.published is not None:
        return extracted.published, "page"
    if hint.published is not None:
        return hint.published, hint.date_source or "feed"
    return fetched, "fetched"


def _lead(text: str) -> str:
    first = text.partition("\n")[0]
    if len(first) <= MAX_LEAD_CHARS:
        return first
    return first[:MAX_LEAD_CHARS].rsplit(" ", 1)[0] + "…"


def _site_result(
    outcome: SiteOutcome, articles: list[Article], pages: list[PageText]
) -> SiteResult:
    error = outcome.error
    if error is None and outcome.status is None:
        error = "no response (crawl ended)"
    unreadable = [page for page in pages if page.extracted is None]
    for page in unreadable:
        logger.info("%s: no article text in %s (%s)", outcome.source, page.url, page.error)
    for url, reason in outcome.page_errors:
        logger.info("%s: could not fetch %s (%s)", outcome.source, url, reason)
    return SiteResult(
        source=outcome.source,
        url=outcome.url,
        articles=articles,
        found=outcome.found,
        status=outcome.status,
        error=error,
        retry_after=outcome.retry_after,
        warning=_warning(outcome, len(unreadable)),
    )


def _warning(outcome: SiteOutcome, unreadable: int) -> str | None:
    notes = list(outcome.notes)
    if outcome.page_errors:
        notes.append(f"{len(outcome.page_errors)} page(s) could not be fetched")
    if unreadable:
        notes.append(f"{unreadable} page(s) had no extractable text")
    if outcome.skipped:
        notes.append(f"{len(outcome.skipped)} non-HTML link(s) skipped")
    if outcome.left_over:
        notes.append(f"{outcome.left_over} new link(s) left for the next poll (max_articles)")
    return "; ".join(notes) or None


async def fetch_full_texts(
    manager: CrawlManager, items: Sequence[tuple[Source, Sequence[Article]]]
) -> list[FullTextResult]:
    """Fetch the page of each new feed item; extracted text goes in ``Article.text``.

    An item whose page cannot be fetched or extracted keeps its feed summary (logged once).
    """
    claims = Claims(None)
    plans = [
        PageListPlan(source, claims, [(a.url, _feed_hint(a)) for a in articles])
        for source, articles in items
    ]
    pages = {(page.source, page.url): page for page in await _crawl(manager, plans)}
    return [
        _full_text_result(plan, articles, pages)
        for plan, (_, articles) in zip(plans, items, strict=True)
    ]


def _feed_hint(article: Article) -> PageHint:
    source = article.date_source if article.published is not None else None
    return PageHint(title=article.title, published=article.published, date_source=source)


def _full_text_result(
    plan: PageListPlan, articles: Sequence[Article], pages: dict[tuple[str, str], PageText]
) -> FullTextResult:
    name, outcome = plan.source.name, plan.outcome
    reasons = dict(outcome.page_errors + outcome.skipped)
    out: list[Article] = []
    missing: list[str] = []
    deferred = 0
    for article in articles:
        page = pages.get((name, article.url))
        if page is not None and page.extracted is not None:
            out.append(with_page_text(article, page.extracted))
        elif page is None and article.url not in reasons and outcome.error:
            deferred += 1  # never asked for: left for the poll after the back-off
        else:
            reason = page.error if page is not None else reasons.get(article.url, "not fetched")
            missing.append(f"{article.url} ({reason})")
            out.append(article)
    if missing:
        examples = "; ".join(missing[:3]) + ("; ..." if len(missing) > 3 else "")
        logger.warning(
            "%s: no full text for %d of %d item(s), rules match their feed summary: %s",
            name,
            len(missing),
            len(articles),
            examples,
        )
    extracted = len(out) - len(missing)
    return FullTextResult(
        name, out, extracted, deferred, outcome.error, outcome.status, outcome.retry_after
    )


def with_page_text(article: Article, page: Extracted) -> Article:
    """A feed item with its page's text; the page's own date wins over the feed's."""
    changes: dict[str, object] = {"text": page.text}
    if page.published is not None:
        changes.update(published=page.published, date_source="page")
    if page.language:
        changes["language"] = page.language
    if not article.author and page.author:
        changes["author"] = page.author
    return dataclasses.replace(article, **changes)  # type: ignore[arg-type]


def new_articles(db: sqlite_utils.Database, articles: Sequence[Article]) -> list[Article]:
    """The articles not stored yet (by canonical URL, or the source's GUID)."""
    return [a for a in articles if not is_known(db, a.url, source=a.source, guid=a.guid)]
