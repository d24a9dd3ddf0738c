"""What the ``matches`` table tells about articles and stories.

:func:`alerts.outbox.store.record_match` writes matches; this module reads them, joined
with the crawler's ``articles`` where a question is about a story.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from crawler.db import Database, table_names, to_iso

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
        "SELECT rule, sum(matched_at >= ?) AS day, count(*) AS week FROM matches "
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
               count(*) AS articles, group_concat(DISTINCT a.source) AS outlets,
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
