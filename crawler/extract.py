"""Full-text article extraction from HTML pages.

The body is decoded here rather than by trafilatura, because trafilatura ignores both the
HTTP charset and ``<meta charset>``. Extraction itself is trafilatura's (its own
readability/jusText fallbacks included). When that finds nothing, or when the page's JSON-LD
``articleBody`` is far longer (script-rendered pages), trafilatura's baseline (JSON-LD
``articleBody``, then ``<article>``, then all ``<p>``) is used instead.
The publication date prefers a timestamp stated in the page's metadata over htmldate's
day-only guess, and the language prefers the script of the text over a contradicting
``lang`` attribute (Khmer sites often ship a template's ``lang="en"``).

:func:`extract_article` is synchronous and keeps no state between calls, so it can run in
worker threads.
"""

from __future__ import annotations

import json
import logging
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from w3lib.encoding import html_body_declared_encoding, read_bom, resolve_encoding

from crawler.errors import ParseError

if TYPE_CHECKING:  # trafilatura and charset_normalizer are imported when a page is read:
    # every poll imports this module, and only web sources need them (0.2 s at start-up).
    from lxml.html import HtmlElement

logger = logging.getLogger(__name__)

# The fetcher caps bodies too; this guards callers that read pages from elsewhere.
MAX_BODY_BYTES = 10 * 1024 * 1024
# Extraction time grows with the element count (about 50 µs each); real article pages have
# a few thousand, so a page past this is generated junk that would stall a worker.
MAX_ELEMENTS = 100_000
_DETECT_SAMPLE = 64 * 1024
_EARLIEST = datetime(1995, 1, 1, tzinfo=UTC)  # htmldate's floor too: no news site predates it


@dataclass(frozen=True, slots=True)
class Extracted:
    """What a page yields: its article text and the metadata the page states."""

    title: str | None
    text: str  # main article body, paragraphs separated by "\n"
    author: str | None
    published: datetime | None  # timezone-aware UTC when the page states a date
    language: str | None  # ISO 639-1 when detectable


@dataclass(frozen=True, slots=True)
class ExtractOptions:
    """The trafilatura switches that change which text is kept."""

    favor_precision: bool = False
    favor_recall: bool = False
    include_tables: bool = True
    fast: bool = False  # skip trafilatura's readability/jusText fallbacks


# Chosen by benchmarks/extraction.py (figures in docs/extraction.md).
DEFAULT_OPTIONS = ExtractOptions(favor_precision=True)


def extract_article(body: bytes, *, url: str, encoding: str | None = None) -> Extracted:
    """Extract the article text and metadata from an HTML page; raise ParseError if none."""
    return extract_with_options(body, url=url, encoding=encoding, options=DEFAULT_OPTIONS)


def extract_with_options(
    body: bytes, *, url: str, encoding: str | None = None, options: ExtractOptions
) -> Extracted:
    """Like :func:`extract_article`, with explicit trafilatura options (for benchmarks)."""
    if not isinstance(body, bytes | bytearray | memoryview):
        raise TypeError(f"body must be bytes, not {type(body).__name__}")
    if len(body) > MAX_BODY_BYTES:
        raise ParseError(
            f"page {url} is {len(body):,} bytes, over the {MAX_BODY_BYTES:,}-byte limit",
            hint="such a page is almost certainly not an article",
        )
    try:
        return _extract(bytes(body), url, encoding, options)
    except ParseError:
        raise
    except Exception as exc:  # hostile markup can break lxml or trafilatura in many ways
        logger.debug("extraction crashed on %s", url, exc_info=True)
        raise ParseError(f"could not extract text from {url}: {type(exc).__name__}: {exc}") from exc


def _extract(body: bytes, url: str, encoding: str | None, options: ExtractOptions) -> Extracted:
    html = decode_html(_gunzip(body, url), encoding)
    if not html.strip():
        raise ParseError(f"page {url} is empty")
    if _looks_binary(html):
        raise ParseError(f"page {url} is binary data, not HTML", hint="check its Content-Type")
    import trafilatura
    from trafilatura.settings import set_date_params

    tree = _parse(html, url)
    json_ld = _json_ld(tree)
    doc = trafilatura.bare_extraction(
        tree,
        url=url,
        fast=options.fast,
        favor_precision=options.favor_precision,
        favor_recall=options.favor_recall,
        include_comments=False,
        include_tables=options.include_tables,
        with_metadata=True,
        date_extraction_params=set_date_params(extensive=True),
    )
    assert not isinstance(doc, dict)  # a dict only with as_dict=True
    text = _clean_text(doc.text if doc is not None else None)
    if not text or _json_ld_body_is_longer(json_ld, text):
        # Script-rendered pages often carry the whole story only in JSON-LD articleBody.
        text = _clean_text(trafilatura.baseline(tree)[1]) or text
    if not text:
        raise ParseError(f"page {url} has no extractable article text")
    return Extracted(
        title=_clean_field(doc.title if doc else None),
        text=text,
        author=_clean_field(doc.author if doc else None),
        published=_published(tree, json_ld, doc.date if doc else None),
        language=detect_language(tree, text),
    )


def _parse(html: str, url: str) -> HtmlElement:
    from trafilatura.utils import load_html

    # trafilatura rejects a bare fragment (no <html>, one top element) unless it is wrapped.
    tree = load_html(html)
    if tree is None:
        tree = load_html(f"<html><body>{html}</body></html>")
    if tree is None:
        raise ParseError(f"page {url} could not be parsed as HTML")
    count = sum(1 for _ in tree.iter())
    if count > MAX_ELEMENTS:
        raise ParseError(
            f"page {url} has {count:,} HTML elements, over the {MAX_ELEMENTS:,} limit",
            hint="such a page is almost certainly not an article",
        )
    return tree


def _json_ld_body_is_longer(json_ld: list[object], text: str) -> bool:
    longest = max(map(len, _json_ld_values(json_ld, "articleBody")), default=0)
    return longest > max(2 * len(text), 500)


def _clean_text(text: str | None) -> str:
    if not text:
        return ""
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def _clean_field(value: str | None) -> str | None:
    value = " ".join(value.split()) if value else ""
    return value or None


# --- decoding ---------------------------------------------------------------------------


def decode_html(body: bytes, declared: str | None = None) -> str:
    """Decode a page: BOM, valid UTF-8, the declared charset, ``<meta charset>``, detection.

    Valid non-ASCII UTF-8 wins over any declaration: legacy-encoded text that happens to
    be valid UTF-8 is vanishingly rare, while pages re-saved as UTF-8 with a stale
    ``<meta charset=gb2312>`` (or served with a default ``charset=iso-8859-1``) are common.
    """
    bom_encoding, bom = read_bom(body)
    if bom_encoding and bom:
        return body[len(bom) :].decode(bom_encoding, errors="replace")
    if not body.isascii():
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            pass
    for candidate in _candidate_encodings(body, declared):
        try:
            return body.decode(candidate)
        except (UnicodeDecodeError, LookupError):
            logger.debug("bytes are not %s, trying the next candidate", candidate)
    return body.decode("utf-8", errors="replace")


def _candidate_encodings(body: bytes, declared: str | None) -> Iterator[str]:
    if declared and (codec := resolve_encoding(declared.strip().strip("\"'"))):
        yield codec
    # A meta tag claiming UTF-16 was read as ASCII, so it cannot be true (HTML spec).
    if (codec := html_body_declared_encoding(body)) and not codec.startswith(("utf-16", "utf-32")):
        yield codec
    if not body.isascii():
        from charset_normalizer import from_bytes

        best = from_bytes(body[:_DETECT_SAMPLE]).best()
        if best is not None:
            yield best.encoding


def _gunzip(body: bytes, url: str) -> bytes:
    # Some servers send gzip bodies without Content-Encoding; inflate within the cap.
    if not body.startswith(b"\x1f\x8b"):
        return body
    inflater = zlib.decompressobj(wbits=31)
    try:
        data = inflater.decompress(body, MAX_BODY_BYTES + 1)
    except zlib.error as exc:
        raise ParseError(f"page {url} is a corrupt gzip stream: {exc}") from exc
    if len(data) > MAX_BODY_BYTES:
        raise ParseError(f"page {url} inflates to over {MAX_BODY_BYTES:,} bytes")
    return data


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\ufffd]")


def _looks_binary(html: str) -> bool:
    sample = html[:4096]
    return len(_CONTROL.findall(sample)) > len(sample) * 0.05


# --- dates ------------------------------------------------------------------------------

# Strongest first: publishers fill these with the first-publication time. The weaker names
# below are sometimes the revision time (Reuters' sailthru.date), so they come after JSON-LD.
_DATE_XPATHS = (
    "//meta[@property='article:published_time' or @property='og:article:published_time']/@content",
    "//meta[@itemprop='datePublished']/@content",
    "//*[@itemprop='datePublished']/@datetime",
)
_WEAK_DATE_XPATHS = (
    "//meta[@name='pubdate' or @name='publishdate' or @name='parsely-pub-date']/@content",
    "//meta[@name='dc.date' or @name='DC.date.issued' or @name='sailthru.date']/@content",
)


def _published(tree: HtmlElement, json_ld: list[object], htmldate: str | None) -> datetime | None:
    """The stated publication time in UTC; a day without a time becomes midnight UTC."""
    strong = [str(value) for xpath in _DATE_XPATHS for value in tree.xpath(xpath)]
    weak = [str(value) for xpath in _WEAK_DATE_XPATHS for value in tree.xpath(xpath)]
    for value in (*strong, *_json_ld_values(json_ld, "datePublished"), *weak):
        if (stamp := _parse_stamp(value)) is not None:
            return stamp
    if htmldate:
        return _parse_stamp(htmldate)
    return None


def _json_ld(tree: HtmlElement) -> list[object]:
    objects = []
    for script in tree.xpath("//script[@type='application/ld+json']/text()")[:10]:
        try:
            # strict=False: real pages put raw newlines inside JSON strings
            objects.append(json.loads(script, strict=False))
        except (ValueError, RecursionError):
            logger.debug("skipping malformed JSON-LD block")
    return objects


def _json_ld_values(node: object, key: str, depth: int = 0) -> list[str]:
    """Every string stored under ``key`` in nested JSON-LD, walked to a bounded depth."""
    if depth > 8:
        return []
    if isinstance(node, dict):
        found = [node[key]] if isinstance(node.get(key), str) else []
        children = [child for child in node.values() if isinstance(child, dict | list)]
    elif isinstance(node, list):
        found, children = [], node[:50]
    else:
        return []
    for child in children:
        found += _json_ld_values(child, key, depth + 1)
    return found


def _parse_stamp(value: str) -> datetime | None:
    value = value.strip()
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            stamp = datetime.combine(date.fromisoformat(value[:10]), time())
        except ValueError:
            return None
    # A naive stamp's zone is unknown; UTC is the least surprising reading.
    stamp = stamp.astimezone(UTC) if stamp.tzinfo else stamp.replace(tzinfo=UTC)
    if not _EARLIEST <= stamp <= datetime.now(UTC) + timedelta(days=1):
        return None
    return stamp


# --- language ---------------------------------------------------------------------------

_LANG_XPATHS = (
    "/html/@lang",
    "/html/@*[name()='xml:lang']",  # the HTML parser keeps the prefix in the name
    "//meta[translate(@http-equiv,'CONTENT-LANGUAGE','content-language')"
    "='content-language']/@content",
    "//meta[@name='language' or @name='lang' or @name='dc.language']/@content",
    "//meta[@property='og:locale']/@content",
)
_SCRIPTS = (  # script ranges that name their language (Han alone is checked last)
    ("ja", re.compile(r"[\u3040-\u30ff]")),
    ("ko", re.compile(r"[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]")),
    ("km", re.compile(r"[\u1780-\u17ff\u19e0-\u19ff]")),
    ("th", re.compile(r"[\u0e00-\u0e7f]")),
    ("lo", re.compile(r"[\u0e80-\u0eff]")),
    ("my", re.compile(r"[\u1000-\u109f]")),
)
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_ISO_639_1 = re.compile(r"[a-z]{2}")


def detect_language(tree: HtmlElement, text: str) -> str | None:
    """ISO 639-1 code from the page's declarations, corrected by the script of its text."""
    declared = _declared_language(tree)
    by_script = _script_language(text)
    if by_script is None:
        return declared
    if by_script == "zh" and declared in {"ja", "ko"}:
        return declared  # kanji/hanja-heavy passages are still Japanese/Korean
    return by_script


def _declared_language(tree: HtmlElement) -> str | None:
    for xpath in _LANG_XPATHS:
        for value in tree.xpath(xpath):
            code = re.split(r"[-_,;\s]", str(value).strip().lower(), maxsplit=1)[0]
            if _ISO_639_1.fullmatch(code):
                return code
    return None


def _script_language(text: str) -> str | None:
    sample = text[:3000]
    letters = sum(ch.isalpha() for ch in sample) or 1
    for code, pattern in _SCRIPTS:
        share = len(pattern.findall(sample)) / letters
        # Kana are a minority even in Japanese prose; the other scripts carry the text.
        if share > (0.05 if code == "ja" else 0.3):
            return code
    return "zh" if len(_HAN.findall(sample)) / letters > 0.3 else None
