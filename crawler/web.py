"""Crawls of web pages: html and sitemap sources, and the full text of feed items.

:func:`crawl_sites` runs one crawl for the plans of every web source of a batch (each kind
builds its :class:`~crawler.spiders.plan.SourcePlan`) and returns their new articles with
the extracted text; :func:`fetch_full_texts` fetches the pages of new feed items (rss
sources with ``full_text = true``) and puts the extracted text in ``Article.text``, which
is what rules match. Links already stored (by canonical URL) are never fetched again.

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

from crawler.errors import ParseError, describe
from crawler.extract import Extracted
from crawler.fetch import CrawlManager
from crawler.models import Article, Source
from crawler.spiders.pages import WebSpider
from crawler.spiders.plan import FetchedPage, PageHint, PageListPlan, SiteOutcome, SourcePlan
from crawler.store import is_known, utcnow

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
    """Extract each collected page in a worker thread while the crawl goes on.

    Each page is read by its source's plan (:meth:`SourcePlan.extract`); whatever that
    raises is the failure of that one page.
    """

    def __init__(self, plans: Sequence[SourcePlan], workers: int = EXTRACT_WORKERS) -> None:
        self._plans = {plan.source.name: plan for plan in plans}
        self._loop = asyncio.get_running_loop()
        self._slots = asyncio.Semaphore(workers)
        self._tasks: list[asyncio.Task[PageText]] = []

    def submit(self, page: FetchedPage) -> None:
        """Queue a page (called from the spider, on the loop)."""
        self._tasks.append(self._loop.create_task(self._extract(page)))

    async def _extract(self, page: FetchedPage) -> PageText:
        async with self._slots:
            try:
                extracted = await asyncio.to_thread(self._plans[page.source].extract, page)
            except ParseError as exc:
                error = exc.message
            except Exception as exc:  # noqa: BLE001 - hostile pages break extractors in many ways
                logger.debug("%s: extraction crashed on %s", page.source, page.url, exc_info=True)
                error = f"the page could not be read ({describe(exc)})"
            else:
                return PageText(page.source, page.url, page.final_url, page.hint, extracted)
        return PageText(page.source, page.url, page.final_url, page.hint, None, error)

    async def results(self) -> list[PageText]:
        """Every page's outcome, once all extractions are done."""
        return list(await asyncio.gather(*self._tasks))

    def cancel(self) -> None:
        """Drop extractions not started yet (the poll is being stopped)."""
        for task in self._tasks:
            task.cancel()


async def crawl_pages(manager: CrawlManager, plans: Sequence[SourcePlan]) -> list[PageText]:
    """Run one crawl of ``plans``; every article page it fetched, extracted."""
    extractions = Extractions(plans)
    try:
        if plans:
            await manager.crawl(WebSpider, plans=list(plans), collect=extractions.submit)
        return await extractions.results()
    except BaseException:
        extractions.cancel()
        raise


async def crawl_sites(manager: CrawlManager, plans: Sequence[SourcePlan]) -> list[SiteResult]:
    """Crawl web sources in one crawl; each plan's source gets its articles and outcome."""
    pages = await crawl_pages(manager, plans)
    fetched = utcnow()
    results = []
    for plan in plans:
        own = [page for page in pages if page.source == plan.source.name]
        articles = [page_article(page, fetched) for page in own]
        results.append(_site_result(plan.outcome, articles, own))
    return results


def page_article(page: PageText, fetched: datetime) -> Article:
    """The article of an extracted page (its text, else what the link said about it)."""
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


def plan_item_pages(
    source: Source, articles: Sequence[Article], claims: Callable[[str], bool]
) -> PageListPlan:
    """The plan that fetches the pages of a feed's items (the default for full text)."""
    return PageListPlan(source, claims, [(a.url, _feed_hint(a)) for a in articles])


async def fetch_full_texts(
    manager: CrawlManager, items: Sequence[tuple[SourcePlan, Sequence[Article]]]
) -> list[FullTextResult]:
    """Fetch the page of each new feed item; extracted text goes in ``Article.text``.

    Each plan (see :func:`plan_item_pages`) fetches the pages of the articles paired with it.
    An item whose page cannot be fetched or extracted keeps its feed summary (logged once).
    """
    plans = [plan for plan, _ in items]
    pages = {(page.source, page.url): page for page in await crawl_pages(manager, plans)}
    return [_full_text_result(plan, articles, pages) for plan, articles in items]


def _feed_hint(article: Article) -> PageHint:
    source = article.date_source if article.published is not None else None
    return PageHint(title=article.title, published=article.published, date_source=source)


def _full_text_result(
    plan: SourcePlan, articles: Sequence[Article], pages: dict[tuple[str, str], PageText]
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
