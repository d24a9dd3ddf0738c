"""OPML subscription lists: read a feed reader's export, write the sources as one.

Reading is defensive: an OPML file comes from elsewhere, so it is parsed with defusedxml
(no entity expansion, no external entities or DTD fetching), size-capped, and anything
that is not an OPML document is an :class:`OpmlError` saying what was wrong. Feeds are the
``<outline>`` elements with an ``xmlUrl``, at any depth; the outlines around them are
their categories. Writing produces OPML 2.0 (http://opml.org/spec2.opml).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from scheduler.errors import OpmlError

MAX_OPML_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class OpmlFeed:
    """One subscription: its feed address, its title, the categories it is filed under."""

    url: str
    title: str | None
    categories: tuple[str, ...] = ()
    site_url: str | None = None


def read_opml(data: bytes, *, where: str = "the OPML file") -> list[OpmlFeed]:
    """The feeds an OPML document lists, in document order; OpmlError if it is not one."""
    if len(data) > MAX_OPML_BYTES:
        raise OpmlError(
            f"{where} is {len(data):,} bytes, more than the {MAX_OPML_BYTES:,} an OPML "
            "subscription list can reasonably need",
            hint="export the subscriptions again from the feed reader",
        )
    try:
        root = SafeET.fromstring(data)
    except DefusedXmlException as exc:
        raise OpmlError(
            f"{where} declares XML entities or a DTD, refused for safety ({exc})",
            hint="an OPML export from a feed reader has none; export it again",
        ) from exc
    except ET.ParseError as exc:
        raise OpmlError(
            f"{where} is not well-formed XML ({exc})",
            hint="check that it is the OPML file the feed reader exported, not a web page",
        ) from exc
    if _local(root.tag) != "opml":
        raise OpmlError(
            f"{where} is not OPML (its root element is <{_local(root.tag)}>, not <opml>)",
            hint="export the subscriptions from the feed reader as OPML",
        )
    body = next((child for child in root if _local(child.tag) == "body"), None)
    if body is None:
        raise OpmlError(f"{where} has no <body>: it lists no subscriptions")
    return list(_feeds(body, ()))


def _feeds(parent: ET.Element, categories: tuple[str, ...]) -> Iterator[OpmlFeed]:
    for outline in parent:
        if _local(outline.tag) != "outline":
            continue
        title = _clean(outline.get("title")) or _clean(outline.get("text"))
        url = (outline.get("xmlUrl") or outline.get("xmlurl") or "").strip()
        if url:
            site = (outline.get("htmlUrl") or "").strip() or None
            yield OpmlFeed(url, title, categories, site)
        # A category is an outline holding others; a feed's children (rare) are read too.
        yield from _feeds(outline, (*categories, title) if title and not url else categories)


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _clean(text: str | None) -> str | None:
    """One line of printable text, or None."""
    if not text:
        return None
    line = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return line or None


def write_opml(feeds: Iterable[OpmlFeed], *, title: str, created: datetime) -> str:
    """An OPML 2.0 document listing ``feeds``, grouped by their first category."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = title
    ET.SubElement(head, "dateCreated").text = format_datetime(created)
    body = ET.SubElement(root, "body")
    groups: dict[str, ET.Element] = {}
    for feed in feeds:
        parent = body
        if feed.categories:
            name = " / ".join(feed.categories)
            if name not in groups:
                groups[name] = ET.SubElement(body, "outline", text=name, title=name)
            parent = groups[name]
        text = feed.title or feed.url
        attributes = {"type": "rss", "text": text, "title": text, "xmlUrl": feed.url}
        if feed.site_url:
            attributes["htmlUrl"] = feed.site_url
        ET.SubElement(parent, "outline", attributes)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"
