"""``/matches``: what the rules matched, newest first, one entry per story."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alerts.outbox.matches import MatchedArticle, MatchFilter, recent_matches
from alerts.rules.matcher import Document
from alerts.rules.snippets import Snippet, make_snippets
from crawler.db import Database
from crawler.store import StoryMember, source_titles, story_members
from scheduler.web.pages.common import day_start, page, query_form, site_of

PAGE_SIZE = 25
# Matches read per page: several matches (rules, outlets) often share one story.
ROWS_PER_ENTRY = 2


@dataclass(slots=True)
class StoryEntry:
    """One story in the list: its newest match, every rule that matched, other outlets;
    ``titles`` maps each of their sources to its display name."""

    lead: MatchedArticle
    rules: list[str] = field(default_factory=list)
    snippets: list[Snippet] = field(default_factory=list)
    others: list[StoryMember] = field(default_factory=list)
    titles: dict[str, str] = field(default_factory=dict)


def list_stories(
    db: Database, where: MatchFilter, before: str | None, limit: int = PAGE_SIZE
) -> tuple[list[StoryEntry], str | None]:
    """A page of stories and the cursor of the next page (None on the last one)."""
    fetch = limit * ROWS_PER_ENTRY
    rows = recent_matches(db, where, before=before, limit=fetch)
    entries: dict[object, StoryEntry] = {}
    cursor = None
    for row in rows:
        key = row.story_id if row.story_id is not None else ("article", row.article_id)
        if key not in entries and len(entries) == limit:
            break
        entry = entries.setdefault(key, StoryEntry(row))
        if row.rule not in entry.rules:
            entry.rules.append(row.rule)
        cursor = row.cursor
    else:
        if len(rows) < fetch:
            cursor = None
    stories = [e.lead.story_id for e in entries.values() if e.lead.story_id is not None]
    members = story_members(db, stories)
    for entry in entries.values():
        lead = entry.lead
        doc = Document(lead.title, lead.body, lead.source, lead.url, lead.language)
        entry.snippets = make_snippets(doc, lead.usable_hits(), limit=2)
        seen = {lead.outlet_name}
        for member in members.get(lead.story_id or -1, []):
            if member.outlet_name not in seen:
                seen.add(member.outlet_name)
                entry.others.append(member)
    names = {e.lead.source for e in entries.values()}
    names |= {o.source for e in entries.values() for o in e.others}
    titles = source_titles(db, names)
    for entry in entries.values():
        entry.titles = titles
    return list(entries.values()), cursor


async def matches(request: Request) -> Response:
    """The list of matches, filtered by rule, source, language and dates."""
    site = site_of(request)
    config = site.config
    form = query_form(request)
    zone = config.service.timezone
    start = day_start(form.get("from"), zone)
    end = day_start(form.get("to"), zone)
    where = MatchFilter(
        rule=form.get("rule") or None,
        source=form.get("source") or None,
        language=form.get("language").lower() or None,
        since=start,
        until=end + timedelta(days=1) if end else None,
    )
    entries, cursor = await site.read(list_stories, where, form.get("before") or None)
    filters = {key: form.get(key) for key in ("rule", "source", "language", "from", "to")}
    languages = sorted({code for rule in config.rules.values() for code in rule.languages})
    return await page(
        request,
        "matches.html",
        title="Matches",
        entries=entries,
        cursor=cursor,
        filters=filters,
        languages=languages,
        rules=sorted(config.rules),
        sources=sorted(config.sources),
        source_titles={name: s.title for name, s in config.sources.items() if s.title},
    )


routes = [Route("/matches", matches, name="matches")]
