"""html sources: a listing page whose article links are followed, with pagination.

Crawled with the other web sources of a batch (:mod:`crawler.sources.site`); this module
says how a listing page is read.

Links are picked by Scrapy's ``LinkExtractor``: ``follow`` (a CSS selector, or an XPath
when it starts with ``/`` or ``(``) narrows where links are taken from, ``allow`` / ``deny``
filter their URLs. The extractor already drops links to files such as PDFs and images by
their extension. Up to ``pages`` listing pages are read, following ``rel="next"`` or a
"next" pagination link.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from scrapy.http import Response, TextResponse
from scrapy.linkextractors import LinkExtractor

from crawler.canonical import canonicalize_url
from crawler.errors import ParseError
from crawler.models import Source
from crawler.sources.site import SiteKind
from crawler.spiders.plan import IndexContent, PageHint, SourcePlan
from crawler.store import SourceState

MAX_TITLE_CHARS = 300

# Where sites put the link to the next listing page, strongest signal first.
_NEXT_HREFS = (
    "//link[contains(concat(' ', normalize-space(translate(@rel, 'NEXT', 'next')), ' '),"
    " ' next ')]/@href",
    "//a[contains(concat(' ', normalize-space(translate(@rel, 'NEXT', 'next')), ' '),"
    " ' next ')]/@href",
)
_NEXT_CSS = (
    "a.next::attr(href), .next > a::attr(href), a.nextpostslink::attr(href), "
    ".pagination-next a::attr(href), .pager-next a::attr(href), "
    "a[aria-label='Next']::attr(href), a[aria-label='Next page']::attr(href)"
)
# Link texts that mean "next page": words (English, Khmer, Thai, Chinese), then arrows.
# A bare "»" is left out: pagers often use it for "last page".
_NEXT_TEXTS = (
    re.compile(r"^(next|older)(\s+(page|posts|entries|news|stories|articles))?\b", re.I),
    re.compile(r"បន្ទាប់|ถัดไป|下一页|下一頁"),
    re.compile(r"^(›|→|>)$"),
)


class HtmlKind(SiteKind):
    """``type = "html"``: a listing page whose article links are followed."""

    type = "html"

    def plan(
        self,
        source: Source,
        claim: Callable[[str], bool],
        *,
        state: SourceState,
        now: datetime,
        max_bytes: int,
    ) -> SourcePlan:
        return HtmlPlan(source, claim)


class HtmlPlan(SourcePlan):
    """Read up to ``pages`` listing pages, then fetch the new article pages they link to."""

    index_is_html = True
    index_name = "listing page"

    def __init__(self, source: Source, claim: Callable[[str], bool]) -> None:
        super().__init__(source, claim)
        self._links = link_extractor(source)

    def index_limit(self) -> int:
        return max(1, self.source.pages)

    def read_index(self, response: Response) -> IndexContent:
        if not isinstance(response, TextResponse):
            raise ParseError(f"listing page {response.url} is not an HTML page")
        following = next_page_url(response)
        own = {self.canonical(response.url), self.canonical(following or response.url)}
        pages = [
            (link.url, PageHint(title=_title(link.text)))
            for link in self._links.extract_links(response)
            if self.canonical(link.url) not in own
        ]
        note = None
        if not pages:
            what = f"'follow' ({self.source.follow})" if self.source.follow else "'allow'"
            note = f"no article links on {response.url}: does {what} still match the page?"
        return IndexContent(pages=pages, indexes=[following] if following else [], note=note)


def link_extractor(source: Source) -> LinkExtractor:
    """A LinkExtractor for the source's ``follow`` / ``allow`` / ``deny``."""
    restrict: dict[str, Any] = {}
    if source.follow:
        is_xpath = source.follow.lstrip().startswith(("/", "("))
        restrict["restrict_xpaths" if is_xpath else "restrict_css"] = source.follow
    return LinkExtractor(allow=source.allow, deny=source.deny, unique=True, **restrict)


def next_page_url(response: TextResponse) -> str | None:
    """The URL of the next listing page, if the page links to one on the same host."""
    candidates = [h for xpath in _NEXT_HREFS for h in response.xpath(xpath).getall()]
    candidates += response.css(_NEXT_CSS).getall()
    candidates += _next_by_text(response)
    here = canonicalize_url(response.url)
    host = urlsplit(response.url).hostname
    for href in candidates:
        href = href.strip()
        if not href or href.startswith(("#", "javascript:")):
            continue
        try:
            url = urljoin(response.url, href)
            same_host = urlsplit(url).hostname == host
        except ValueError:  # "http://[x/" and the like: not a link anyone can follow
            continue
        if same_host and canonicalize_url(url) != here:
            return url
    return None


def _next_by_text(response: TextResponse) -> list[str]:
    anchors = [
        (" ".join(" ".join(a.css("::text").getall()).split()), a.attrib.get("href", ""))
        for a in response.css("a[href]")
    ]
    return [href for pattern in _NEXT_TEXTS for text, href in anchors if pattern.search(text)]


def _title(text: str | None) -> str | None:
    title = " ".join((text or "").split())
    return title[:MAX_TITLE_CHARS] or None
