"""Atom feeds (RFC 4287) of matches, for feed readers: one rule's, or every rule's.

A feed has the newest :data:`ENTRIES` stories a rule matched, one entry per story: the
newest matched article is the entry's link, the story's other outlets are related links
and named in the summary, which is the snippet around the hits (marked in bold, as in
HTML alerts). Ids and times are chosen so that readers do not show repeats:

- an entry's id is derived from the rule and the story's first article URL, so it stays
  the same however many outlets join the story and whoever serves the feed;
- its ``updated`` is the time of the story's newest match, which changes only when the
  rule matches one more article of the story (an update, not a new entry);
- the feed's ``updated`` is its newest entry's (or ``now`` for an empty feed).

The XML is built with lxml, so every piece of feed text is escaped.
"""

from __future__ import annotations

import html
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from lxml import etree

from alerts.outbox.matches import MatchedArticle, MatchFilter, recent_matches
from alerts.render.message import snippet_view
from alerts.rules.matcher import Document
from alerts.rules.snippets import make_snippets
from crawler.db import Database
from crawler.store import StoryMember, source_titles, story_members

ATOM = "http://www.w3.org/2005/Atom"
ENTRIES = 50
_PAGE = 200
_E = f"{{{ATOM}}}"


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One story in a feed: its newest match, when it was first and last matched."""

    entry_id: str
    newest: MatchedArticle
    first_matched: datetime
    rules: tuple[str, ...]
    outlets: tuple[StoryMember, ...]  # the first article of each other outlet of the story


def story_groups(
    db: Database, rule: str | None, *, limit: int = ENTRIES
) -> list[list[MatchedArticle]]:
    """The matches of the newest ``limit`` stories, newest first; each story's matches
    newest first (an article in no story is a story of its own)."""
    groups: dict[object, list[MatchedArticle]] = {}
    before = None
    while True:
        page = recent_matches(db, MatchFilter(rule=rule), before=before, limit=_PAGE)
        for match in page:
            key = match.story_id if match.story_id is not None else ("article", match.article_id)
            if key not in groups and len(groups) >= limit:
                return list(groups.values())
            groups.setdefault(key, []).append(match)
        if len(page) < _PAGE:
            return list(groups.values())
        before = page[-1].cursor


def entry_id(rule: str | None, first_url: str) -> str:
    """A stable, globally unique entry id for a story in a rule's feed."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"newswatch:{rule or '*'}:{first_url}").urn


def feed_entries(db: Database, rule: str | None, *, limit: int = ENTRIES) -> list[FeedEntry]:
    """The entries of a rule's feed (every rule's when ``rule`` is None)."""
    groups = story_groups(db, rule, limit=limit)
    story_ids = [g[0].story_id for g in groups if g[0].story_id is not None]
    members = story_members(db, story_ids)
    entries = []
    for group in groups:
        newest = group[0]
        stored = members.get(newest.story_id, []) if newest.story_id is not None else []
        first_url = stored[0].url if stored else newest.url
        entries.append(
            FeedEntry(
                entry_id=entry_id(rule, first_url),
                newest=newest,
                first_matched=min(m.matched_at for m in group),
                rules=tuple(sorted({m.rule for m in group})),
                outlets=_other_outlets(stored, newest.outlet_name),
            )
        )
    return entries


def _other_outlets(members: Sequence[StoryMember], outlet: str) -> tuple[StoryMember, ...]:
    first: dict[str, StoryMember] = {}
    for member in members:
        if member.outlet_name != outlet:
            first.setdefault(member.outlet_name, member)
    return tuple(first.values())


def _outlet(item: MatchedArticle | StoryMember, titles: dict[str, str]) -> str:
    """Who published ``item``: the publisher an aggregator named, else its source's title."""
    return item.outlet or titles.get(item.source, item.source)


def _web_url(url: str | None) -> str | None:
    """``url`` when it is an http(s) address: feed text is hostile, readers follow links."""
    try:
        scheme = urlsplit((url or "").strip()).scheme.lower()
    except ValueError:
        return None
    return url.strip() if url and scheme in ("http", "https") else None


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _summary(entry: FeedEntry, titles: dict[str, str]) -> str:
    match = entry.newest
    doc = Document(match.title, match.body, match.source, match.url, match.language)
    snippets = make_snippets(doc, match.usable_hits(), limit=1)
    parts = []
    if snippets:
        view = snippet_view(snippets[0])
        parts.append(
            "<p>"
            + "".join(
                f"<b>{html.escape(s.text)}</b>" if s.marked else html.escape(s.text)
                for s in view.segments
            )
            + "</p>"
        )
    if entry.outlets:
        links = ", ".join(
            f'<a href="{html.escape(url, quote=True)}">{name}</a>'
            if (url := _web_url(m.url))
            else name
            for m in entry.outlets
            for name in [html.escape(_outlet(m, titles))]
        )
        parts.append(f"<p>Also reported by: {links}</p>")
    return "".join(parts) or html.escape(match.title)


def render_feed(
    entries: Sequence[FeedEntry],
    *,
    title: str,
    self_url: str,
    alternate_url: str | None,
    now: datetime,
    source_names: dict[str, str] | None = None,
) -> bytes:
    """The Atom document of ``entries`` (UTF-8, with an XML declaration)."""
    titles = source_names or {}
    feed = etree.Element(_E + "feed", nsmap={None: ATOM})

    def add(
        parent: etree._Element, tag: str, text: str | None = None, **attrs: str
    ) -> etree._Element:
        element = etree.SubElement(parent, _E + tag, attrs)
        if text is not None:
            element.text = text
        return element

    add(feed, "title", title)
    add(feed, "id", self_url)
    add(feed, "link", rel="self", type="application/atom+xml", href=self_url)
    if alternate_url:
        add(feed, "link", rel="alternate", type="text/html", href=alternate_url)
    newest = max((e.newest.matched_at for e in entries), default=now)
    add(feed, "updated", _stamp(newest))
    add(add(feed, "author"), "name", "newswatch")
    add(feed, "generator", "newswatch")
    for entry in entries:
        match = entry.newest
        item = add(feed, "entry")
        add(item, "title", match.title or match.url)
        add(item, "id", entry.entry_id)
        if link := _web_url(match.url):
            add(item, "link", rel="alternate", type="text/html", href=link)
        for member in entry.outlets:
            if related := _web_url(member.url):
                name = _outlet(member, titles)
                add(item, "link", rel="related", type="text/html", href=related, title=name)
        add(item, "updated", _stamp(match.matched_at))
        add(item, "published", _stamp(entry.first_matched))
        add(add(item, "author"), "name", _outlet(match, titles))
        for rule in entry.rules:
            add(item, "category", term=rule)
        summary = _summary(entry, titles)
        add(item, "summary", summary, type="html")
        if link is None:
            # RFC 4287 4.1.1.1: an entry without an alternate link carries its content.
            add(item, "content", summary, type="html")
    return etree.tostring(feed, xml_declaration=True, encoding="utf-8", pretty_print=True)


def feed_for(
    db: Database,
    rule: str | None,
    *,
    self_url: str,
    now: datetime,
    alternate_url: str | None = None,
    limit: int = ENTRIES,
) -> bytes:
    """The Atom feed of ``rule`` (every rule's when None), as served at ``self_url``."""
    entries = feed_entries(db, rule, limit=limit)
    names = {m.source for e in entries for m in e.outlets} | {e.newest.source for e in entries}
    title = f"newswatch: {rule}" if rule else "newswatch: every rule"
    return render_feed(
        entries,
        title=title,
        self_url=self_url,
        alternate_url=alternate_url,
        now=now,
        source_names=source_titles(db, names),
    )
