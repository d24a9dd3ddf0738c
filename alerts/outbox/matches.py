"""What the ``matches`` table tells about articles and stories.

:func:`alerts.outbox.store.record_match` writes matches; this module reads them, joined
with the crawler's ``articles`` where a question is about a story.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from alerts.outbox.store import load_hits
from alerts.records import Hit
from crawler.db import Database, from_iso, table_names, to_iso
from crawler.store import outlet_column

# Each arm of the UNION is one indexed lookup (articles by story, articles by URL), which
# SQLite cannot do for a join on "story_id = ? OR url = ?".
_ALREADY_ALERTED = """
    SELECT 1 FROM matches WHERE rule = :rule AND article_id IN (
        SELECT a.id FROM articles a JOIN articles me ON me.id = :article
            WHERE a.story_id = me.story_id AND a.id != me.id
        UNION
        SELECT a.id FROM articles a JOIN articles me ON me.id = :article
            WHERE a.url = me.url AND a.id != me.id
    ) LIMIT 1
"""


def already_alerted(db: Database, rule: str, article_id: int) -> bool:
    """Whether ``rule`` matched an earlier article of the same story or URL (a revision)."""
    rows = db.query(_ALREADY_ALERTED, {"rule": rule, "article": article_id})
    return next(iter(rows), None) is not None


def rule_match_counts(
    db: Database, *, day_since: datetime, week_since: datetime
) -> dict[str, tuple[int, int]]:
    """Per rule, its matches since ``day_since`` and since ``week_since``."""
    # "+rule": group in a temporary b-tree, so the planner reads the week from the
    # matched_at index instead of walking the whole (rule, article) index in rule order.
    sql = (
        "SELECT rule, count(*) FILTER (WHERE matched_at >= ?) AS day, count(*) AS week "
        "FROM matches "
        "WHERE matched_at >= ? GROUP BY +rule"
    )
    params = [to_iso(day_since), to_iso(week_since)]
    return {row["rule"]: (row["day"], row["week"]) for row in db.query(sql, params)}


@dataclass(frozen=True, slots=True)
class StorySummary:
    """One story: its first headline, size, outlets and the rules that matched it."""

    id: int
    title: str
    first_seen: str
    last_seen: str
    articles: int
    outlets: tuple[str, ...]
    rules: tuple[str, ...]


def list_stories(
    db: Database, *, since: datetime, rule: str | None = None, limit: int = 200
) -> list[StorySummary]:
    """Stories with an article fetched since ``since``, newest first; optionally only those
    a rule matched."""
    params: list[object] = [to_iso(since)]
    rule_filter = ""
    if rule:
        rule_filter = (
            "AND a.story_id IN (SELECT x.story_id FROM articles x "
            "JOIN matches m ON m.article_id = x.id WHERE m.rule = ?)"
        )
        params.append(rule)
    params.append(limit)
    sql = f"""
        SELECT a.story_id AS id, min(a.fetched) AS first_seen, max(a.fetched) AS last_seen,
               count(*) AS articles, group_concat(DISTINCT coalesce(a.outlet, a.source)) AS outlets,
               (SELECT title FROM articles f WHERE f.story_id = a.story_id ORDER BY f.id LIMIT 1)
                   AS title,
               (SELECT group_concat(DISTINCT m.rule) FROM matches m
                  JOIN articles r ON r.id = m.article_id WHERE r.story_id = a.story_id) AS rules
        FROM articles a
        WHERE a.story_id IS NOT NULL AND a.story_id IN (
            SELECT story_id FROM articles WHERE fetched >= ?) {rule_filter}
        GROUP BY a.story_id ORDER BY last_seen DESC, a.story_id DESC LIMIT ?
    """
    return [
        StorySummary(
            id=row["id"],
            title=row["title"] or "",
            first_seen=row["first_seen"],
            last_seen=row["last_seen"],
            articles=row["articles"],
            outlets=tuple(sorted((row["outlets"] or "").split(","))),
            rules=tuple(sorted(filter(None, (row["rules"] or "").split(",")))),
        )
        for row in db.query(sql, params)
    ]


def matched_rules(db: Database) -> set[str]:
    """Every rule name that has a recorded match (configured now or not)."""
    if "matches" not in table_names(db):
        return set()
    return {row["rule"] for row in db.query("SELECT DISTINCT rule FROM matches")}


def daily_match_counts(
    db: Database, since: datetime, until: datetime | None = None, *, shift_minutes: int = 0
) -> dict[str, dict[str, int]]:
    """Per rule, matches per day from ``since`` (to ``until``); days are ``YYYY-MM-DD`` in a
    zone ``shift_minutes`` ahead of UTC."""
    # "+rule": read the days from the matched_at index, as rule_match_counts does.
    sql = (
        "SELECT rule, date(matched_at, ?) AS day, count(*) AS n FROM matches "
        "WHERE matched_at >= ? AND matched_at < ? GROUP BY +rule, day"
    )
    counts: dict[str, dict[str, int]] = {}
    end = to_iso(until) if until else "9999"
    for row in db.query(sql, [f"{shift_minutes:+d} minutes", to_iso(since), end]):
        counts.setdefault(row["rule"], {})[row["day"]] = row["n"]
    return counts


@dataclass(frozen=True, slots=True)
class MatchedArticle:
    """One match with the article it matched, as the list of matches shows it."""

    match_id: int
    rule: str
    matched_at: datetime
    hits: tuple[Hit, ...]
    article_id: int
    source: str
    title: str
    url: str
    language: str | None
    published: datetime | None
    story_id: int | None
    body: str  # the text the rule matched: full text, else the summary
    fetched: datetime | None = None
    outlet: str | None = None  # the publisher an aggregator (Google News) named

    def usable_hits(self) -> list[Hit]:
        """The hits that still point into the stored text (retention may have blanked it);
        those in the body when there are any, since the headline is shown anyway."""
        sizes = {"title": len(self.title), "body": len(self.body)}
        hits = [h for h in self.hits if h.field in sizes and h.end <= sizes[h.field]]
        in_body = [h for h in hits if h.field == "body"]
        return in_body or hits

    @property
    def outlet_name(self) -> str:
        """Who published the article: the named publisher, else the source."""
        return self.outlet or self.source

    @property
    def cursor(self) -> str:
        """Where a page of matches ending with this one stops (see ``before``)."""
        return f"{to_iso(self.matched_at)}~{self.match_id}"


@dataclass(frozen=True, slots=True)
class MatchFilter:
    """Which matches to list; unset fields do not filter."""

    rule: str | None = None
    source: str | None = None
    language: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def recent_matches(
    db: Database, where: MatchFilter, *, before: str | None = None, limit: int = 50
) -> list[MatchedArticle]:
    """Matches newest first, with their articles; ``before`` is the ``cursor`` of the last
    match of the previous page."""
    clauses, params = _match_clauses(where)
    if before:
        stamp, _, number = before.rpartition("~")
        if stamp and number.isdigit():
            clauses.append("(m.matched_at, m.id) < (?, ?)")
            params += [stamp, int(number)]
    sql = (
        "SELECT m.id, m.rule, m.matched_at, m.hits, a.id AS article_id, a.source, a.title, "
        f"a.url, a.language, a.published, a.fetched, a.story_id, {outlet_column(db, 'a.')} "
        "AS outlet, "
        "coalesce(nullif(a.text, ''), a.summary) AS body "
        "FROM matches m JOIN articles a ON a.id = m.article_id "
        f"WHERE {' AND '.join(clauses) or '1'} ORDER BY m.matched_at DESC, m.id DESC LIMIT ?"
    )
    found = []
    for row in db.query(sql, [*params, limit]):
        matched_at = from_iso(row["matched_at"])
        if matched_at is None:
            continue
        found.append(
            MatchedArticle(
                match_id=row["id"],
                rule=row["rule"],
                matched_at=matched_at,
                hits=tuple(load_hits(row["hits"])),
                article_id=row["article_id"],
                source=row["source"],
                title=row["title"] or "",
                url=row["url"],
                language=row["language"],
                published=from_iso(row["published"]),
                story_id=row["story_id"],
                body=row["body"] or "",
                fetched=from_iso(row["fetched"]),
                outlet=row["outlet"],
            )
        )
    return found


def _match_clauses(where: MatchFilter) -> tuple[list[str], list[object]]:
    clauses: list[str] = ["m.matched_at IS NOT NULL"]
    params: list[object] = []
    if where.rule:
        clauses.append("m.rule = ?")
        params.append(where.rule)
    if where.source:
        # "+": walk the matches newest first and stop at the page's end, rather than read
        # every article of the source and sort their matches.
        clauses.append("+a.source = ?")
        params.append(where.source)
    if where.language:
        clauses.append("(a.language = ? OR a.language LIKE ?)")
        params += [where.language, f"{where.language}-%"]
    if where.since:
        clauses.append("m.matched_at >= ?")
        params.append(to_iso(where.since))
    if where.until:
        clauses.append("m.matched_at < ?")
        params.append(to_iso(where.until))
    return clauses, params


def matched_article_ids(db: Database, rule: str) -> set[int]:
    """Every article ``rule`` has matched (read from the (rule, article) index)."""
    sql = "SELECT article_id FROM matches WHERE rule = ?"
    return {row["article_id"] for row in db.query(sql, [rule])}
