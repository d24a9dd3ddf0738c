"""Turn a fetched RSS 0.9x/1.0 (RDF)/2.0 or Atom body into Article records.

The body is defused first (see :mod:`crawler.defuse`), then parsed by feedparser, which
copes with most broken feeds. Everything here is synchronous and keeps no shared state,
so callers may run it in worker threads.
"""

from __future__ import annotations

import html
import io
import logging
import re
import time
import traceback
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, NoReturn
from xml.sax import SAXParseException

import feedparser

from crawler.canonical import canonicalize_url
from crawler.defuse import defuse_body
from crawler.errors import ParseError, describe
from crawler.models import Article

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
MAX_SUMMARY_CHARS = 20_000
MAX_FALLBACK_TITLE_CHARS = 120
MAX_OUTLET_CHARS = 200

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "html", "xhtml"})
_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption",
        "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main",
        "nav", "ol", "p", "pre", "section", "table", "td", "th", "tr", "ul",
    }
)  # fmt: skip
_HIDDEN_TAGS = frozenset({"script", "style", "template"})
_SPACES = re.compile(r"[^\S\n]+")
_TAG = re.compile(r"<[^>]*>")
_MARKUP = re.compile(r"<[A-Za-z/!?]")
_LANGUAGE = re.compile(r"\s*([A-Za-z]{2})(?:[-_]|\s*$)")
_WEB_URL = re.compile(r"https?://", re.IGNORECASE)
_FEEDPARSER = Path(feedparser.__file__).parent
_HANDLER = re.compile(r"_(?:start|end)_(\w+)$")


@dataclass(frozen=True, slots=True)
class FeedResult:
    """What one feed body yielded."""

    articles: list[Article]  # deduplicated by canonical URL within the feed
    title: str | None  # the feed's own title
    warning: str | None  # what was wrong with the feed, when it was parsed anyway


def parse_feed(
    body: bytes,
    *,
    source: str,
    url: str,
    fetched: datetime,
    content_type: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    outlets: bool = False,
) -> FeedResult:
    """Parse a feed body into articles; ParseError when the body is not a usable feed.

    With ``outlets``, an item's RSS ``<source>`` (the publisher an aggregator took it
    from) becomes its :attr:`~crawler.models.Article.outlet`.

    A valid feed with no items gives an empty list. A broken feed that still yields items
    gives them with a ``warning``; a broken one without items raises ParseError. No other
    exception escapes, whatever the bytes.
    """
    try:
        return _parse_feed(body, source, url, fetched, content_type, max_bytes, outlets)
    except ParseError:
        raise
    except Exception as exc:  # feedparser's handlers raise on some inputs instead of bozo
        log.debug("source %r (%s): the feed parser crashed", source, url, exc_info=True)
        raise unparseable_feed(source, exc) from exc


def unparseable_feed(source: str, exc: Exception) -> ParseError:
    """The ParseError for a feed whose parsing raised ``exc``, saying where it was raised."""
    where = _feedparser_part(exc)
    cause = f"{type(exc).__name__} in {where}" if where else describe(exc)
    return ParseError(
        f"source {source!r}: the feed could not be parsed ({cause})",
        hint="the feed is malformed in a way the parser does not survive; ask its publisher",
    )


def _feedparser_part(exc: BaseException) -> str | None:
    """Where in feedparser ``exc`` was raised ("feedparser's georss handling"), or None."""
    frames = [
        frame
        for frame in reversed(traceback.extract_tb(exc.__traceback__))
        if Path(frame.filename).is_relative_to(_FEEDPARSER)
    ]
    # The innermost element handler names the culprit: the helpers it calls (the dict in
    # util.py, the context lookup in mixin.py) are shared by every handler.
    for frame in frames:
        if handler := _HANDLER.match(frame.name):
            path = Path(frame.filename)
            if path.parent.name == "namespaces" and path.stem != "_base":
                return f"feedparser's {path.stem} handling"
            return f"feedparser's <{handler.group(1)}> handling"
    inner = next((f for f in frames if Path(f.filename).name != "util.py"), None)
    if inner is None:
        return "feedparser" if frames else None
    return f"feedparser ({Path(inner.filename).name}, {inner.name})"


def _parse_feed(
    body: bytes,
    source: str,
    url: str,
    fetched: datetime,
    content_type: str | None,
    max_bytes: int,
    outlets: bool = False,
) -> FeedResult:
    where = f"source {source!r} ({url})"
    safe = defuse_body(body, where=where, content_type=content_type, max_bytes=max_bytes)
    if safe.looks_html:
        _refuse_html(body, where=where, url=url)
    if safe.root is None:
        raise ParseError(
            f"{where}: not a feed (no XML markup)", hint="check that the source's url is a feed"
        )
    # The body is UTF-8 now whatever the server said, so the header must say so too;
    # Content-Location is the base feedparser resolves relative links against.
    parsed = feedparser.parse(
        io.BytesIO(safe.data),
        response_headers={
            "content-type": "application/xml; charset=utf-8",
            "content-location": url,
        },
        sanitize_html=True,
        resolve_relative_uris=True,
    )
    broken = _bozo_message(parsed)
    feed = parsed.get("feed", {})
    if not parsed.entries:
        _refuse_itemless(parsed, where=where, root=safe.root, broken=broken)
    language = _language(feed.get("language"))
    articles, skipped = _articles(parsed.entries, source, url, fetched, language, outlets)
    notes = [f"feed is {broken}; parsed leniently"] if broken else []
    notes.extend(safe.notes)
    if skipped:
        notes.append(f"{skipped} item(s) without a usable link or guid skipped")
    title = _text(feed.get("title_detail")) or None
    return FeedResult(articles=articles, title=title, warning="; ".join(notes) or None)


def _refuse_html(body: bytes, *, where: str, url: str) -> NoReturn:
    """Raise ParseError for an HTML page, naming the feeds it advertises, if any."""
    # Imported here: discovery parses the feeds it finds with this module.
    from crawler.discovery import feed_links

    advertised = [link for link, _ in feed_links(body, url)]
    if advertised:
        raise ParseError(
            f"{where}: not a feed: {url} is an HTML page; it advertises feeds: "
            f"{', '.join(advertised)} — use one as the source url"
        )
    raise ParseError(
        f"{where}: not a feed (looks like an HTML page)",
        hint='point the source at the RSS/Atom feed URL, or use type = "html" for pages; '
        "`newswatch sources add URL` finds a site's feeds",
    )


def _refuse_itemless(parsed: Any, *, where: str, root: str, broken: str | None) -> None:
    """Raise ParseError unless an item-less parse is a valid, empty feed."""
    if broken:
        raise ParseError(
            f"{where}: broken feed without items: {broken}",
            hint="the server may have sent a truncated or error response; retry later",
        )
    if not parsed.get("version"):
        raise ParseError(
            f"{where}: not a feed (root element <{root}> is not RSS, RDF or Atom)",
            hint="check that the source's url is a feed",
        )


def _bozo_message(parsed: Any) -> str | None:
    """What made expat give up ("not well-formed XML (line 12): mismatched tag"), or None."""
    if not parsed.get("bozo"):
        return None
    exc = parsed.get("bozo_exception")
    if isinstance(exc, SAXParseException):
        return f"not well-formed XML (line {exc.getLineNumber()}): {exc.getMessage()}"
    return f"not well-formed XML: {exc}"


def _articles(
    entries: list[Any],
    source: str,
    base: str,
    fetched: datetime,
    language: str | None,
    outlets: bool = False,
) -> tuple[list[Article], int]:
    """Articles from feedparser entries, first occurrence of each URL kept; and the skip count."""
    seen: dict[str, Article] = {}
    skipped = 0
    for entry in entries:
        article = _article(entry, source, base, fetched, language)
        if article is not None and outlets:
            article = _with_outlet(article, entry)
        if article is None:
            skipped += 1
        elif article.url not in seen:
            seen[article.url] = article
    return list(seen.values()), skipped


def _article(
    entry: Any, source: str, base: str, fetched: datetime, feed_language: str | None
) -> Article | None:
    guid = (entry.get("id") or "").strip()
    url = _entry_url(entry.get("link") or "", guid, base)
    if url is None:
        log.debug("%s: item %r has no usable link or guid, skipped", source, entry.get("title"))
        return None
    summary = _summary(entry)
    published = _published(entry)
    title = _text(entry.get("title_detail")) or _fallback_title(summary)
    return Article(
        url=url,
        source=source,
        title=title,
        summary=summary,
        published=published,
        fetched=fetched,
        guid=guid or url,
        author=html_to_text(entry.get("author") or "") or None,
        language=_entry_language(entry) or feed_language,
        date_source="feed" if published else "fetched",
    )


def _with_outlet(article: Article, entry: Any) -> Article:
    """The article with its item's ``<source>`` as outlet, and the title without the
    " - Outlet" an aggregator appends to it."""
    source = entry.get("source")
    name = html_to_text(source.get("title") or "") if isinstance(source, dict) else ""
    name = " ".join(name.split())[:MAX_OUTLET_CHARS]
    if not name:
        return article
    title = article.title
    for dash in (" - ", " – ", " — "):
        if title.endswith(dash + name) and len(title) > len(dash + name):
            title = title[: -len(dash + name)].rstrip()
            break
    return replace(article, outlet=name, title=title)


def _entry_url(link: str, guid: str, base: str) -> str | None:
    """The canonical URL of an item: its link, else a guid that is a web URL."""
    for candidate in (link.strip(), guid if _WEB_URL.match(guid) else ""):
        if candidate:
            url = canonicalize_url(candidate, base=base)
            if _WEB_URL.match(url):
                return url
    return None


def _published(entry: Any) -> datetime | None:
    """The item's date as aware UTC; feedparser's *_parsed values are UTC already."""
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        # dict.get skips FeedParserDict's deprecated updated->published fallback (it warns).
        value = dict.get(entry, key)
        if isinstance(value, time.struct_time):
            try:
                return datetime(*value[:6], tzinfo=UTC)
            except (ValueError, OverflowError):
                continue
    return None


def _summary(entry: Any) -> str:
    """The longest plain text among summary/description and content, capped."""
    details = [entry.get("summary_detail"), *(entry.get("content") or [])]
    texts = [_text(detail, keep_lines=True) for detail in details]
    best = max(texts, key=len, default="")
    if len(best) > MAX_SUMMARY_CHARS:
        best = best[:MAX_SUMMARY_CHARS].rstrip()
    return best


def _fallback_title(summary: str) -> str:
    """A title for an untitled item: the start of its summary, cut at a word."""
    first = summary.partition("\n")[0]
    if len(first) <= MAX_FALLBACK_TITLE_CHARS:
        return first
    return first[:MAX_FALLBACK_TITLE_CHARS].rsplit(" ", 1)[0] + "…"


def _entry_language(entry: Any) -> str | None:
    for key in ("title_detail", "summary_detail"):
        detail = entry.get(key) or {}
        language = _language(detail.get("language"))
        if language:
            return language
    return None


def _language(value: Any) -> str | None:
    """ISO 639-1 code from a language tag ("en-US" -> "en"); None if it is not one."""
    match = _LANGUAGE.match(value) if isinstance(value, str) else None
    return match.group(1).lower() if match else None


def _text(detail: Any, *, keep_lines: bool = False) -> str:
    """Plain text of a feedparser text construct (title_detail, summary_detail, content)."""
    if not detail:
        return ""
    value = detail.get("value") or ""
    if (detail.get("type") or "").lower() in _HTML_TYPES:
        return html_to_text(value, keep_lines=keep_lines)
    text = html.unescape(value)
    return _tidy(text, keep_lines=keep_lines)


def html_to_text(fragment: str, *, keep_lines: bool = False) -> str:
    """Visible text of an HTML fragment: tags dropped, entities decoded, spaces collapsed.

    With ``keep_lines`` block elements and <br> become line breaks, otherwise everything
    ends up on one line.
    """
    if not _MARKUP.search(fragment):
        # Text in an HTML field but without markup: its line breaks are all the structure
        # it has, so they are kept as if it were plain text.
        return _tidy(html.unescape(fragment), keep_lines=keep_lines)
    collector = _TextCollector()
    try:
        collector.feed(fragment)
        collector.close()
        text = "".join(collector.parts)
    except AssertionError:
        # html.parser gives up on some malformed "<![" sections; a crude strip will do.
        text = html.unescape(_TAG.sub(" ", fragment))
    return _tidy(text, keep_lines=keep_lines)


def _tidy(text: str, *, keep_lines: bool) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not keep_lines:
        return " ".join(text.split())
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


class _TextCollector(HTMLParser):
    """Collects the text of an HTML fragment, marking block boundaries with newlines."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden = max(self._hidden - 1, 0)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            # In HTML a line break in text is just a space; only elements break lines.
            self.parts.append(data.replace("\r", " ").replace("\n", " "))
