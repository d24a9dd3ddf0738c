"""Canonical article URLs: one spelling per article, so the same story dedupes across feeds."""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl, unquote_plus, urljoin, urlsplit, urlunsplit

from w3lib.url import canonicalize_url as _w3lib_canonicalize

log = logging.getLogger(__name__)

# Query parameters that only say how a reader arrived (ad click ids, newsletter and RSS
# campaign tags, share widgets). Compared lower-case; any ``utm_*`` is dropped as well.
TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid", "ttclid",
        "li_fat_id", "srsltid", "mc_cid", "mc_eid", "mc_tc", "_ga", "_gl", "igshid", "mkt_tok",
        "oly_anon_id", "oly_enc_id", "vero_id", "vero_conv", "__s", "ref_src", "ref_url",
        "s_cid", "s_kwcid", "ef_id", "_hsenc", "_hsmi", "__hstc", "__hssc", "__hsfp",
        "hsctatracking", "_openstat", "wt_mc", "wt.mc_id", "wt_zmc", "xtor", "at_medium",
        "at_campaign", "at_custom1", "at_custom2", "at_custom3", "at_custom4", "ns_mchannel",
        "ns_source", "ns_campaign", "ns_linkname", "ns_fee", "guccounter", "guce_referrer",
        "guce_referrer_sig", "ocid", "ncid", "cmpid", "smid", "sr_share", "rb_clickid",
        "_branch_match_id", "spm", "zanpid", "epik",
    }
)  # fmt: skip

_DEFAULT_PORTS = {"http": 80, "https": 443}
_GOOGLE_HOST = re.compile(r"(?:www\.)?google\.(?:[a-z]{2,3}|co\.[a-z]{2}|com\.[a-z]{2})")
_PORT_SUFFIX = re.compile(r":\d*$")
# Control characters and spaces that browsers strip or drop from URLs before parsing.
_URL_STRIP = "".join(chr(c) for c in range(0x21)) + "\x7f"
_URL_DROP = re.compile(r"[\t\n\r]")
_WEB_URL = re.compile(r"https?://", re.IGNORECASE)


def canonicalize_url(url: str, base: str | None = None) -> str:
    """Return the canonical form of ``url`` (resolved against ``base``); never raises.

    Scheme and host are lower-cased (IDN hosts become punycode), default ports, fragments
    and tracking parameters are dropped, the remaining query is sorted, percent-encoding
    is normalised and an empty path becomes "/". Google redirect links unwrap to their
    target. Anything that is not an http(s) URL comes back stripped but otherwise as given.
    """
    raw = url.strip(_URL_STRIP) if isinstance(url, str) else ""
    try:
        return _canonicalize(raw, base)
    except (ValueError, UnicodeError) as exc:
        log.debug("cannot canonicalise %r: %s", raw, exc)
        return raw


def is_tracking_param(name: str) -> bool:
    """Whether a query parameter name only tracks the reader (``utm_source``, ``fbclid``...)."""
    key = name.strip().lower()
    return key.startswith("utm_") or key in TRACKING_PARAMS


def _canonicalize(raw: str, base: str | None) -> str:
    absolute = _URL_DROP.sub("", raw)
    if base:
        absolute = urljoin(_URL_DROP.sub("", base.strip(_URL_STRIP)), absolute)
    # Nested redirects happen (an alert pointing at another redirector); a few levels suffice.
    for _ in range(3):
        target = _unwrap_google_redirect(absolute)
        if target is None:
            break
        absolute = target
    parts = urlsplit(absolute)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return raw
    query = _drop_tracking(parts.query)
    cleaned = urlunsplit((scheme, parts.netloc, parts.path, query, ""))
    result = urlsplit(_w3lib_canonicalize(cleaned, keep_fragments=False))
    netloc = result.netloc
    if result.port in (None, _DEFAULT_PORTS[scheme]) and not netloc.endswith("]"):
        netloc = _PORT_SUFFIX.sub("", netloc)
    return urlunsplit((scheme, netloc, result.path or "/", result.query, ""))


def _drop_tracking(query: str) -> str:
    """Remove tracking parameters, leaving the other pairs byte for byte as they were."""
    if not query:
        return query
    kept = [
        pair
        for pair in query.split("&")
        if pair and not is_tracking_param(unquote_plus(pair.partition("=")[0]))
    ]
    return "&".join(kept)


def _unwrap_google_redirect(url: str) -> str | None:
    """The target of a google.com/url?...&url=TARGET link, or None if ``url`` is not one."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.path != "/url" or not _GOOGLE_HOST.fullmatch(host):
        return None
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    target = (params.get("url") or params.get("q") or "").strip(_URL_STRIP)
    if urlsplit(target).scheme.lower() in _DEFAULT_PORTS:
        return target
    return None


# Host prefixes and path/query markers of the mobile and AMP copies of a page.
_EDITION_HOST = re.compile(r"^(?:www|m|mobile|amp)\.")
_AMP_PATH = re.compile(r"(?:/amp|\.amp)/?$")
_AMP_PARAMS = frozenset({"amp", "outputtype", "m"})


def article_link_key(url: str) -> str | None:
    """What the www, mobile and AMP addresses of one article have in common, or None.

    ``https://m.example.org/news/raid/amp`` and ``https://www.example.org/news/raid/`` give
    ``example.org/news/raid``. Home pages (no path and no query) give None: they name a
    site, not an article.
    """
    if not isinstance(url, str) or not _WEB_URL.match(url.strip()):
        return None
    parts = urlsplit(canonicalize_url(url))
    host = _EDITION_HOST.sub("", (parts.hostname or "").lower())
    path = _AMP_PATH.sub("", parts.path).rstrip("/")
    query = "&".join(
        pair
        for pair in parts.query.split("&")
        if pair and pair.partition("=")[0].lower() not in _AMP_PARAMS
    )
    if not host or (not path and not query):
        return None
    return f"{host}{path}?{query}" if query else f"{host}{path}"
