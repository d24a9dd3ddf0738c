"""What ``search`` and ``export`` answer, and the formats they print it in.

A search is :func:`alerts.rules.archive.search` (the index proposes, the matcher decides)
over the configured service's database; an export is the matches recorded by the service
(:func:`alerts.outbox.matches.export_matches`). Both become flat records with the same
article fields, printed as a table, JSON, JSON Lines or CSV.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, tzinfo
from itertools import islice
from typing import Any

from alerts.outbox.matches import MatchFilter, recent_matches
from alerts.render.message import snippet_view
from alerts.rules.archive import Found, SearchFilter, SearchStats, search
from alerts.rules.matcher import Document
from alerts.rules.rule import Rule
from alerts.rules.snippets import make_snippets
from crawler.db import Database, is_postgres
from crawler.durations import parse_duration
from crawler.store import story_outlets

FORMATS = ("table", "json", "jsonl", "csv")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_moment(text: str, zone: tzinfo, now: datetime) -> datetime:
    """``--since`` / ``--until``: a date (midnight in ``zone``), a date and time, or a
    duration back from ``now`` (``30d``). ValueError says what is accepted."""
    text = text.strip()
    try:
        if _DATE.match(text):
            return datetime.combine(datetime.fromisoformat(text).date(), time(), zone)
        if text[:4].isdigit() and "-" in text:
            moment = datetime.fromisoformat(text)
            return moment if moment.tzinfo else moment.replace(tzinfo=zone)
        return now - parse_duration(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a date (2026-06-01), a date and time (2026-06-01T08:00) "
            "nor a duration back from now (30d, 12h)"
        ) from None


@dataclass(frozen=True, slots=True)
class ArchiveRecord:
    """One article found (a search) or matched (an export), flat for any format."""

    article_id: int
    date: datetime  # published, else fetched
    fetched: datetime
    source: str
    title: str
    url: str
    language: str | None
    story_id: int | None
    snippet: str  # the hits marked **like this**, as in text alerts
    hits: tuple[str, ...]
    rule: str | None = None
    matched_at: datetime | None = None
    other_outlets: tuple[str, ...] = field(default=())


@dataclass
class SearchOutcome:
    """The records a search found, and how much it read."""

    records: list[ArchiveRecord]
    stats: SearchStats
    indexed: bool  # False: the database predates the index and was walked


def export_matches(
    db: Database, where: MatchFilter, *, limit: int | None, page: int = 500
) -> list[ArchiveRecord]:
    """The matches the service recorded, newest first, with their articles and stories."""
    records: list[ArchiveRecord] = []
    before = None
    while limit is None or len(records) < limit:
        size = page if limit is None else min(page, limit - len(records))
        batch = recent_matches(db, where, before=before, limit=size)
        for match in batch:
            doc = Document(match.title, match.body, match.source, match.url, match.language)
            snippets = make_snippets(doc, match.usable_hits(), limit=1)
            fetched = match.fetched or match.matched_at
            records.append(
                ArchiveRecord(
                    article_id=match.article_id,
                    date=match.published or fetched,
                    fetched=fetched,
                    source=match.source,
                    title=match.title,
                    url=match.url,
                    language=match.language,
                    story_id=match.story_id,
                    snippet=snippet_view(snippets[0]).marked if snippets else "",
                    hits=tuple(dict.fromkeys(hit.term for hit in match.hits)),
                    rule=match.rule,
                    matched_at=match.matched_at,
                    other_outlets=_outlet_names(db, match.article_id),
                )
            )
        if len(batch) < size:
            break
        before = batch[-1].cursor
    return records


def _outlet_names(db: Database, article_id: int) -> tuple[str, ...]:
    """The other outlets of an article's story: the publisher an aggregator named, else the
    source."""
    pairs = story_outlets(db, article_id)
    return tuple(dict.fromkeys(outlet or source for source, outlet in pairs))


def _record(found: Found, *, outlets: tuple[str, ...] = ()) -> ArchiveRecord:
    article = found.article
    snippets = found.snippets(limit=1)
    return ArchiveRecord(
        article_id=found.article_id,
        date=article.published or article.fetched,
        fetched=article.fetched,
        source=article.source,
        title=article.title,
        url=article.url,
        language=article.language,
        story_id=found.story_id,
        snippet=snippet_view(snippets[0]).marked if snippets else "",
        hits=tuple(dict.fromkeys(hit.term for hit in found.match.hits)),
        other_outlets=outlets,
    )


def search_archive(
    db: Database,
    query: str,
    where: SearchFilter,
    *,
    limit: int | None,
    with_outlets: bool = False,
) -> SearchOutcome:
    """The newest ``limit`` stored articles ``query`` matches (all when None)."""
    from crawler.fulltext import has_index

    stats = SearchStats()
    found = islice(search(db, Rule("search", query), where, stats=stats), limit)
    records = [
        _record(f, outlets=_outlet_names(db, f.article_id) if with_outlets else ()) for f in found
    ]
    # PostgreSQL has no full-text index (yet): not a database waiting for its upgrade.
    return SearchOutcome(records, stats, is_postgres(db) or has_index(db.conn))


def as_dict(record: ArchiveRecord, zone: tzinfo) -> dict[str, Any]:
    """A record for JSON and CSV: times in ``zone`` with their offset."""

    def local(moment: datetime | None) -> str | None:
        return moment.astimezone(zone).isoformat(timespec="seconds") if moment else None

    row: dict[str, Any] = {
        "date": local(record.date),
        "source": record.source,
        "title": record.title,
        "url": record.url,
        "language": record.language,
        "snippet": record.snippet,
        "hits": list(record.hits),
        "article_id": record.article_id,
        "fetched": local(record.fetched),
        "story_id": record.story_id,
        "other_outlets": list(record.other_outlets),
    }
    if record.rule is not None:
        row = {"rule": record.rule, "matched_at": local(record.matched_at), **row}
    return row


SEARCH_COLUMNS = (
    "date", "source", "title", "url", "language", "snippet", "hits", "article_id", "fetched",
    "story_id", "other_outlets",
)  # fmt: skip
MATCH_COLUMNS = ("rule", "matched_at", *SEARCH_COLUMNS)


def render_records(
    records: Sequence[ArchiveRecord], fmt: str, zone: tzinfo, *, matches: bool = False
) -> str:
    """``records`` as JSON, JSON Lines or CSV (lists joined with ``; `` in CSV); ``matches``:
    the records are matches (their columns head an empty CSV too)."""
    rows = [as_dict(record, zone) for record in records]
    if fmt == "json":
        return json.dumps(rows, ensure_ascii=False, indent=2) + "\n"
    if fmt == "jsonl":
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    if fmt == "csv":
        out = io.StringIO()
        columns = list(rows[0]) if rows else list(MATCH_COLUMNS if matches else SEARCH_COLUMNS)
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "; ".join(v) if isinstance(v, list) else v for k, v in row.items()})
        return out.getvalue()
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def show_date(moment: datetime, zone: tzinfo) -> str:
    """``2026-11-24 16:00 +07``."""
    local = moment.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def render_table(records: Iterable[ArchiveRecord], zone: tzinfo, *, snippets: bool = True) -> str:
    """Date, source, title and URL, one article a line, its snippet under it."""
    records = list(records)
    source_width = max([len("SOURCE"), *(len(r.source) for r in records)])
    lines = [f"{'DATE':<21}  {'SOURCE':<{source_width}}  {'TITLE':<60}  URL"]
    for record in records:
        lines.append(
            f"{show_date(record.date, zone):<21}  {record.source:<{source_width}}  "
            f"{_clip(record.title, 60):<60}  {record.url}"
        )
        if snippets and record.snippet:
            lines.append(f"    {_clip(record.snippet, 200)}")
    return "\n".join(lines) + "\n"
