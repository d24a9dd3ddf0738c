"""google-news sources: a Google News search feed, its links resolved to the publishers'.

The feed is fetched like any rss source (same crawl, validators, robots.txt). Its items link
to Google, so before anything else looks at them (``max_articles``, the store's dedupe) each
link is replaced by the publisher's own URL, canonicalised: the item then dedupes against
the outlet's own feed. The item's ``<source>`` is kept as its outlet.

Resolution (:mod:`crawler.google_news` has the protocol) costs no request for old-style
links, and two for the others: the article page at Google, then a POST to its batchexecute
endpoint (one POST for every link of a poll, in chunks). Each link is resolved once ever
(:mod:`crawler.link_store`); at most :data:`MAX_LOOKUPS` links per source and poll, the
rest waiting for the next poll, so a new search feed does not send Google a hundred
requests at once. Requests go one at a time, and a 403 or 429 ends them for the poll.

A link that cannot be resolved is not lost: its item is stored with the Google link, the
failure is logged, and a later poll tries again (with a back-off, at most
:data:`MAX_ATTEMPTS` times); if it then succeeds, the stored article takes the publisher's
URL.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from crawler import google_news
from crawler.canonical import canonicalize_url
from crawler.db import utcnow
from crawler.errors import describe
from crawler.feeds import FeedResult, parse_feed
from crawler.fetch import CrawlManager, FetchRequest, FetchResult
from crawler.link_store import LinkState, load_links, record_failure, record_resolved
from crawler.models import Article, Source
from crawler.sources.base import PollContext
from crawler.sources.rss import RssKind, Settled
from crawler.store import SourceState, relink_article, stored_urls

if TYPE_CHECKING:  # the spider module imports Scrapy's spiders: only when links are resolved
    from crawler.spiders.lookup import Answer, Lookup

logger = logging.getLogger(__name__)

MAX_LOOKUPS = 30  # links resolved per source and poll; the rest wait for the next poll
MAX_ATTEMPTS = 5  # then a link stays a Google link
FIRST_RETRY = timedelta(minutes=30)  # doubled after each failed attempt
BATCH_SIZE = 10  # links per batchexecute POST
_FORM = "application/x-www-form-urlencoded;charset=UTF-8"


@dataclass(frozen=True, slots=True)
class Resolution:
    """The publisher's URL of one link, or why it could not be found."""

    url: str | None = None
    error: str | None = None


class GoogleNewsKind(RssKind):
    """``type = "google-news"``: a Google News search feed (query, language, region).

    ``origin`` is where Google News is; tests give the address of a local imitation
    through :attr:`crawler.sources.base.PollContext.kinds`. It is not a configuration key.
    """

    type = "google-news"

    def __init__(self, origin: str = google_news.GOOGLE_NEWS) -> None:
        self.origin = origin.rstrip("/")

    def request(self, source: Source, state: SourceState) -> FetchRequest:
        url = google_news.with_origin(source.url, self.origin)
        return FetchRequest(replace(source, url=url), state.etag, state.last_modified)

    def parse(
        self, source: Source, result: FetchResult, *, fetched: datetime, max_bytes: int
    ) -> FeedResult:
        return parse_feed(
            result.body,
            source=source.name,
            url=result.url,
            fetched=fetched,
            content_type=result.content_type,
            max_bytes=max_bytes,
            outlets=True,
        )

    async def settle(self, context: PollContext, source: Source, feed: FeedResult) -> Settled:
        """Replace Google's links by the publishers' URLs; leave out what is stored already."""
        links = [a.url for a in feed.articles if google_news.article_id(a.url, self.origin)]
        known = load_links(context.db, links)
        now = utcnow()
        due = [link for link in links if _due(known.get(link), now)]
        wait = {link for link in due[MAX_LOOKUPS:] if link not in known}
        found = await self.resolve(context.crawls, due[:MAX_LOOKUPS], source)
        failed = self._record(context, source, found, known, now)
        resolved = {link: state.resolved for link, state in known.items() if state.resolved}
        resolved.update((link, r.url) for link, r in found.items() if r.url)
        # Two items may name one article (Google lists some stories twice): keep the first.
        by_url: dict[str, Article] = {}
        for article in feed.articles:
            if article.url not in wait:
                item = _publisher(article, resolved.get(article.url))
                by_url.setdefault(item.url, item)
        articles = list(by_url.values())
        stored = stored_urls(context.db, [a.url for a in articles])
        fresh = [a for a in articles if a.url not in stored]
        notes = []
        if failed:
            notes.append(
                f"{failed} Google News link(s) not resolved; their items keep the Google link"
            )
        if wait:
            notes.append(f"{len(wait)} Google News item(s) left for the next poll")
        return Settled(
            replace(feed, articles=fresh),
            deferred=len(wait),
            known=len(articles) - len(fresh),
            notes=tuple(notes),
        )

    async def resolve(
        self, crawls: CrawlManager, links: Sequence[str], source: Source
    ) -> dict[str, Resolution]:
        """The publisher's URL of each link (or why not), fetching only what must be."""
        found: dict[str, Resolution] = {}
        pending: dict[str, str] = {}  # link -> article id, to look up at Google
        for link in links:
            article = google_news.article_id(link, self.origin) or ""
            url = google_news.decode_article_id(article)
            if url:
                found[link] = Resolution(url)
            else:
                pending[link] = article
        if pending:
            try:
                found.update(await self._look_up(crawls, pending, source))
            except Exception as exc:  # a crawler fault: these links wait for a later poll
                logger.exception("%s: resolving Google News links failed", source.name)
                error = f"the lookup crawl failed ({describe(exc)})"
                found.update((link, Resolution(error=error)) for link in pending)
        return found

    async def _look_up(
        self, crawls: CrawlManager, pending: dict[str, str], source: Source
    ) -> dict[str, Resolution]:
        from crawler.spiders.lookup import Lookup

        locale = google_news.locale_query(source.url)
        pages = [
            Lookup(link, google_news.article_page_url(article, self.origin, locale))
            for link, article in pending.items()
        ]
        found: dict[str, Resolution] = {}
        signed: list[tuple[str, tuple[str, str, str]]] = []
        for link, answer in (await _send(crawls, pages)).items():
            if not answer.ok:
                found[link] = Resolution(error=f"article page: {answer.describe()}")
                continue
            try:
                signature, stamp = google_news.read_signature(
                    answer.body.decode("utf-8", "replace")
                )
            except google_news.GoogleNewsResponseError as exc:
                found[link] = Resolution(error=str(exc))
                continue
            signed.append((link, (pending[link], stamp, signature)))
        batches = [signed[i : i + BATCH_SIZE] for i in range(0, len(signed), BATCH_SIZE)]
        posts = [
            Lookup(
                str(number),
                self.origin + google_news.BATCHEXECUTE_PATH,
                method="POST",
                body=google_news.batch_body([triple for _, triple in batch]).encode(),
                headers={"Content-Type": _FORM},
            )
            for number, batch in enumerate(batches)
        ]
        answers = await _send(crawls, posts)
        for number, batch in enumerate(batches):
            found.update(_read_batch(answers[str(number)], [link for link, _ in batch]))
        return found

    def _record(
        self,
        context: PollContext,
        source: Source,
        found: dict[str, Resolution],
        known: dict[str, LinkState],
        now: datetime,
    ) -> int:
        """Keep what was found; log and count the failures. Relink articles stored before
        under a Google link that is now resolved."""
        failed = 0
        for link, resolution in found.items():
            if resolution.url:
                record_resolved(context.db, link, resolution.url, now)
                if link in known:  # tried before: its item may be stored under the link
                    relink_article(context.db, link, canonicalize_url(resolution.url))
                continue
            failed += 1
            attempts = (known[link].attempts if link in known else 0) + 1
            retry = now + FIRST_RETRY * 2 ** (attempts - 1)
            record_failure(context.db, link, resolution.error or "unknown error", now, retry)
            later = (
                f"tried again after {retry:%Y-%m-%d %H:%M} UTC"
                if attempts < MAX_ATTEMPTS
                else f"given up after {attempts} attempts"
            )
            logger.warning(
                "%s: could not resolve Google News link %s (%s); the item is kept with the"
                " Google link, %s",
                source.name,
                link,
                resolution.error,
                later,
            )
        return failed


def _due(state: LinkState | None, now: datetime) -> bool:
    """Whether a link is to be resolved now: never tried, or failed and due for a retry."""
    if state is None:
        return True
    if state.resolved or state.attempts >= MAX_ATTEMPTS:
        return False
    return state.next_try is None or state.next_try <= now


def _publisher(article: Article, url: str | None) -> Article:
    """The article under its publisher's canonical URL; as it is when that is unknown."""
    if not url:
        return article
    canonical = canonicalize_url(url)
    if not canonical.lower().startswith(("http://", "https://")):
        return article
    return replace(article, url=canonical)


async def _send(crawls: CrawlManager, lookups: list[Lookup]) -> dict[str, Answer]:
    """Send ``lookups`` in one crawl; every lookup gets an answer."""
    from crawler.spiders.lookup import BACK_OFF_STATUSES, Answer, LookupSpider

    answers: dict[str, Answer] = {}
    if lookups:
        await crawls.crawl(
            LookupSpider, lookups=list(lookups), collect=lambda a: answers.setdefault(a.key, a)
        )
    refused = next((a for a in answers.values() if a.status in BACK_OFF_STATUSES), None)
    unsent = (
        f"not sent: Google answered HTTP {refused.status} to an earlier request"
        if refused
        else "no answer (crawl ended)"
    )
    return {
        lookup.key: answers.get(lookup.key) or Answer(lookup.key, error=unsent)
        for lookup in lookups
    }


def _read_batch(answer: Answer, links: list[str]) -> dict[str, Resolution]:
    """Each link of one batchexecute POST with the URL its answer gave, or the failure."""
    if not answer.ok:
        error = f"batchexecute: {answer.describe()}"
        return {link: Resolution(error=error) for link in links}
    try:
        urls = google_news.read_batch_response(answer.body.decode("utf-8", "replace"))
    except google_news.GoogleNewsResponseError as exc:
        return {link: Resolution(error=f"batchexecute: {exc}") for link in links}
    return {
        link: Resolution(urls[number])
        if number in urls
        else Resolution(error="batchexecute: no URL for this link in the answer")
        for number, link in enumerate(links)
    }
