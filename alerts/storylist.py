"""Stories for ``newswatch stories``: articles grouped by story, with their outlets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlite_utils

from crawler.store import to_iso


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
    db: sqlite_utils.Database, *, since: datetime, rule: str | None = None, limit: int = 200
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
