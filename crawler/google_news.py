"""Google News search feeds: their addresses, and how their article links are read.

A search feed (``/rss/search?q=...&hl=...&gl=...&ceid=...``) links every item to
``news.google.com/rss/articles/<id>``, not to the publisher. The id is a base64 protocol
buffer. Ids of the old style hold the publisher's URL and decode here, with no request.
Ids of the current style (their payload starts ``AU_yqL``) do not: the article page at
Google carries a signature (``data-n-a-sg``) and a timestamp (``data-n-a-ts``), and a POST
of id, timestamp and signature to Google's ``batchexecute`` endpoint (remote procedure
``Fbv4je``, request ``garturlreq``) answers with the publisher's URL (``garturlres``).
This is what the maintained decoders do (the googlenewsdecoder package, for one); they
cannot be pointed anywhere but Google nor fetch through Scrapy, so the two steps are
written here and fetched by :mod:`crawler.sources.google_news`.

Everything in this module is pure: it builds addresses and request bodies, and reads
responses.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from urllib.parse import quote, quote_plus, urlsplit

GOOGLE_NEWS = "https://news.google.com"
BATCHEXECUTE_PATH = "/_/DotsSplashUi/data/batchexecute"
MAX_QUERY_CHARS = 500

# The languages Google News has editions in, as its ``ceid`` spells them, each with the
# interface language (``hl``) it is paired with; "{region}" is the region's code.
LANGUAGES: dict[str, str] = {
    "en": "en-{region}",
    "km": "km",
    "zh-Hans": "zh-CN",
    "zh-Hant": "zh-TW",
    "th": "th",
    "vi": "vi",
    "lo": "lo",
    "my": "my",
    "ms": "ms",
    "id": "id",
    "fil": "fil",
    "ja": "ja",
    "ko": "ko",
    "hi": "hi",
    "bn": "bn",
    "ta": "ta",
    "ar": "ar",
    "fr": "fr",
    "de": "de",
    "es": "es-419",
    "pt-BR": "pt-BR",
    "ru": "ru",
    "uk": "uk",
}
_REGION = re.compile(r"[A-Z]{2}")
_ARTICLE_PATH = re.compile(r"/(?:rss/)?(?:articles|read)/([A-Za-z0-9_-]+)/?")
_WEB_URL = re.compile(r"https?://[^\s]+", re.IGNORECASE)
_NEW_STYLE = b"AU_yqL"


class GoogleNewsResponseError(ValueError):
    """A response from Google News did not have the expected shape."""


def check_region(region: str) -> str | None:
    """Why ``region`` is not a region code Google News takes, or None if it is one."""
    if _REGION.fullmatch(region):
        return None
    if _REGION.fullmatch(region.upper()):
        return f'region codes are upper case: write "{region.upper()}"'
    return "a region is a two-letter country code (ISO 3166-1), e.g. KH for Cambodia"


def search_feed_url(query: str, language: str, region: str, origin: str = GOOGLE_NEWS) -> str:
    """The search feed of ``query`` in Google News' edition of ``language`` for ``region``."""
    interface = LANGUAGES[language].format(region=region)
    return (
        f"{origin}/rss/search?q={quote_plus(query)}&hl={quote(interface)}"
        f"&gl={region}&ceid={quote(f'{region}:{language}', safe=':')}"
    )


def with_origin(url: str, origin: str) -> str:
    """``url`` with its scheme, host and port replaced by ``origin``'s."""
    parts = urlsplit(url)
    rest = parts.path + (f"?{parts.query}" if parts.query else "")
    return origin.rstrip("/") + rest


def locale_query(url: str) -> str:
    """The ``hl``, ``gl`` and ``ceid`` parameters of a search feed's URL, as a query."""
    wanted = ("hl=", "gl=", "ceid=")
    return "&".join(p for p in urlsplit(url).query.split("&") if p.startswith(wanted))


def article_id(link: str, origin: str = GOOGLE_NEWS) -> str | None:
    """The article id of a Google News article link under ``origin``; None for other links."""
    parts, home = urlsplit(link), urlsplit(origin)
    if (parts.scheme, parts.netloc.lower()) != (home.scheme, home.netloc.lower()):
        return None
    found = _ARTICLE_PATH.fullmatch(parts.path)
    return found.group(1) if found else None


def article_page_url(article: str, origin: str, locale: str) -> str:
    """The article's page at Google News, which carries its signature and timestamp."""
    return f"{origin}/rss/articles/{article}" + (f"?{locale}" if locale else "")


def decode_article_id(article: str) -> str | None:
    """The publisher's URL held in an old-style id; None when the id must be looked up."""
    try:
        data = base64.urlsafe_b64decode(article + "=" * (-len(article) % 4))
    except (binascii.Error, ValueError):
        return None
    for number, value in _fields(data):
        if number == 4 and not value.startswith(_NEW_STYLE):
            text = value.decode("utf-8", "replace")
            return text if _WEB_URL.fullmatch(text) else None
    return None


def _fields(data: bytes) -> list[tuple[int, bytes]]:
    """The length-delimited fields of a protocol buffer message, up to the first oddity."""
    found: list[tuple[int, bytes]] = []
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, at = _varint(data, at)
        elif wire == 2:
            size, at = _varint(data, at)
            if at + size > len(data):
                break
            found.append((number, data[at : at + size]))
            at += size
        else:
            break
    return found


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while at < len(data):
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7
    return value, len(data) + 1  # truncated: past the end, so the caller stops


def read_signature(page: str) -> tuple[str, str]:
    """The signature and timestamp an article page carries; GoogleNewsResponseError if not."""
    from parsel import Selector  # Scrapy's selectors; imported only when pages are read

    for node in Selector(text=page).css("[data-n-a-sg][data-n-a-ts]"):
        signature = node.attrib.get("data-n-a-sg", "").strip()
        timestamp = node.attrib.get("data-n-a-ts", "").strip()
        if signature and timestamp:
            return signature, timestamp
    raise GoogleNewsResponseError("the article page has no data-n-a-sg/data-n-a-ts attributes")


def batch_body(lookups: list[tuple[str, str, str]]) -> str:
    """The form body of one batchexecute POST for (article id, timestamp, signature) triples.

    Each envelope carries its position as its request id, so answers are matched to links
    even if Google leaves one out or changes their order.
    """
    context = [
        ["X", "X", ["X", "X"], None, None, 1, 1, "US:en", None, 1] + [None] * 5 + [0, 1],
        "X",
        "X",
        1,
        [1, 1, 1],
        1,
        1,
        None,
        0,
        0,
        None,
        0,
    ]
    envelopes = []
    for number, (article, timestamp, signature) in enumerate(lookups):
        stamp: int | str = int(timestamp) if timestamp.isdigit() else timestamp
        request = ["garturlreq", context, article, stamp, signature]
        envelopes.append(["Fbv4je", _compact(request), None, str(number)])
    return "f.req=" + quote(_compact([envelopes]), safe="")


def read_batch_response(text: str) -> dict[int, str]:
    """The publisher URLs a batchexecute answer holds, by request number.

    GoogleNewsResponseError when the answer is not batchexecute's JSON at all.
    """
    rows = _batch_rows(text)
    found: dict[int, str] = {}
    for row in rows:
        if not (isinstance(row, list) and len(row) >= 3 and row[:2] == ["wrb.fr", "Fbv4je"]):
            continue
        try:
            payload = json.loads(row[2]) if isinstance(row[2], str) else row[2]
        except json.JSONDecodeError:
            continue
        if not (isinstance(payload, list) and len(payload) > 1 and payload[0] == "garturlres"):
            continue
        url = payload[1]
        number = next((cell for cell in reversed(row[3:]) if cell is not None), None)
        if isinstance(url, str) and _WEB_URL.fullmatch(url) and str(number).isdigit():
            found[int(str(number))] = url
    return found


def _batch_rows(text: str) -> list[object]:
    """The rows of an answer: after the ``)]}'`` guard, one JSON array or several chunks,
    each chunk after a line giving its length."""
    body = text.lstrip()
    if body.startswith(")]}'"):
        body = body[4:]
    decoder = json.JSONDecoder()
    rows: list[object] = []
    at = 0
    while at < len(body):
        if body[at].isspace() or body[at].isdigit():
            at += 1
            continue
        try:
            chunk, at = decoder.raw_decode(body, at)
        except json.JSONDecodeError as exc:
            raise GoogleNewsResponseError(f"not a batchexecute answer ({exc.msg})") from None
        if not isinstance(chunk, list):
            raise GoogleNewsResponseError("not a batchexecute answer (no list of rows)")
        rows.extend(chunk)
    if not rows:
        raise GoogleNewsResponseError("empty batchexecute answer")
    return rows


def _compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
