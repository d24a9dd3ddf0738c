"""Every query on the ingest, match and delivery paths is answered from an index.

The paths run for real against a database file while SQLite's trace hook records each
statement as executed (parameters bound in); then ``EXPLAIN QUERY PLAN`` of each must not
read a whole table that grows with the archive. Without statistics (no ``ANALYZE``) the
planner's choice depends on the indexes, not on how few rows the test has.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from alerts.channels.mbox import MboxChannel
from alerts.channels.webhook import WebhookChannel
from alerts.delivery.health import HealthPolicy, check_sources
from alerts.delivery.policy import ChannelPolicy, Policy, RulePolicy
from alerts.delivery.rounds import deliver_all_due, deliver_due
from alerts.delivery.schedule import QuietHours, parse_cron
from alerts.outbox import matches
from alerts.outbox import store as outbox
from alerts.outbox.mutes import set_mute
from alerts.routing import match_pending
from alerts.rules.matcher import Matcher
from alerts.rules.rule import Rule
from crawler.db import Database, utcnow
from crawler.link_store import load_links, record_failure, record_resolved
from crawler.models import Article
from crawler.retention import prune
from crawler.store import (
    is_known,
    load_source_state,
    new_articles_per_source,
    record_poll,
    relink_article,
    source_states,
    store_articles,
    stored_urls,
    story_outlets,
    sync_sources,
)
from crawler.stories import StoryIndex
from tests.peers import free_port

# Tables whose size grows with the archive: reading one whole is a cost per article.
LARGE = {
    "articles",
    "matches",
    "outbox",
    "notices",
    "stories",
    "story_signatures",
    "story_bands",
    "google_news_links",
}
MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
RAID = (
    "Police raided a suspected online scam compound in {place} on {day}, freeing more than "
    "two hundred workers from several countries who said they had been lured with offers of "
    "office jobs and then forced to defraud strangers over the internet. Officers seized "
    "hundreds of phones and computers and arrested the managers of the compound."
)
_TABLE_REF = re.compile(r"\b(?:FROM|JOIN)\s+(\w+)(?:\s+(?:AS\s+)?(\w+))?", re.IGNORECASE)
_NOT_ALIAS = {"where", "join", "on", "group", "order", "limit", "left", "inner", "union", "set"}


@contextmanager
def traced(db: Database) -> Iterator[list[str]]:
    """Record every statement run on ``db`` inside the block."""
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    try:
        yield statements
    finally:
        db.conn.set_trace_callback(None)


def full_reads(db: Database, sql: str) -> list[str]:
    """The steps of ``sql``'s plan that read a whole large table (or index it on the fly)."""
    aliases = {}
    for table, alias in _TABLE_REF.findall(sql):
        aliases[table] = table
        if alias and alias.lower() not in _NOT_ALIAS:
            aliases[alias] = table
    found = []
    for *_, detail in db.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall():
        words = detail.split()
        whole = words[0] == "SCAN" and aliases.get(words[1], words[1]) in LARGE
        if whole or "AUTOMATIC" in detail:
            found.append(detail)
    return found


def planned(statements: list[str]) -> list[str]:
    """The statements whose plan reads data: queries and writes with a WHERE clause."""
    return [
        s
        for s in dict.fromkeys(statements)
        if s.lstrip().split(None, 1)[0].upper() in {"SELECT", "UPDATE", "DELETE", "INSERT", "WITH"}
    ]


def article(n: int, source: str, *, day: str = "Monday", text_of: int | None = None) -> Article:
    """Article ``n``; its text is its own (a story of its own) unless it copies ``text_of``."""
    words = " ".join(f"w{text_of or n}x{i}" for i in range(60))
    return Article(
        url=f"https://{source}.example.org/{n}",
        source=source,
        title=f"Raid {n}",
        summary="",
        published=MONDAY - timedelta(hours=n),
        fetched=MONDAY,
        guid=f"{source}-{n}",
        text=RAID.format(place="Bavet", day=day) + " " + words,
    )


def policy() -> Policy:
    rules = {
        "scam": RulePolicy(channels=("box", "hook")),
        "weekly": RulePolicy(channels=("box",), digest=parse_cron("0 8 * * 1", "UTC")),
        "quiet": RulePolicy(channels=("night",)),
    }
    channels = {
        "box": ChannelPolicy(max_per_hour=2),
        "hook": ChannelPolicy(),
        "night": ChannelPolicy(quiet_hours=QuietHours.parse("00:00-23:59")),
    }
    return Policy(rules=rules, channels=channels, timezone="UTC")


def run_paths(db: Database, tmp_path) -> list[str]:
    """Ingest, match and deliver a few rounds, as the service does; the statements run."""
    sources = [("kt", "rss", "https://kt.example.org/feed"), ("pp", "rss", "https://pp/feed")]
    matcher = Matcher.build(
        [Rule("scam", "scam"), Rule("weekly", "compound"), Rule("quiet", "phones")]
    )
    routes = {"scam": ("box", "hook"), "weekly": ("box",), "quiet": ("night",)}
    channels = {
        "box": MboxChannel("box", path=tmp_path / "alerts.mbox"),
        "hook": WebhookChannel("hook", url=f"http://127.0.0.1:{free_port()}/", timeout=2),
        "night": MboxChannel("night", path=tmp_path / "night.mbox"),
    }
    stories = StoryIndex(db)
    sync_sources(db, sources)
    ops = HealthPolicy(failure_alert_after=1, ops_channels=("box",))
    now = utcnow()  # matching stamps its rows with the clock
    # An archive to search in, before tracing starts.
    store_articles(db, [article(n, "kt") for n in range(1, 40)], stories)
    match_pending(db, matcher, routes)
    asyncio.run(deliver_due(db, channels, policy(), now=now))
    set_mute(db, "rule", "nothing", now + timedelta(days=1), now=now)

    with traced(db) as statements:
        # ingest: what is known, what is new, a copy from another outlet, a revision
        load_source_state(db, "kt")
        is_known(db, "https://kt.example.org/1", source="kt", guid="kt-1")
        is_known(db, "https://kt.example.org/new", source="kt", guid="kt-new")
        fresh = [article(n, "kt") for n in range(41, 46)]
        revised = article(2, "kt", day="Tuesday")
        copy = article(50, "pp", text_of=3)
        store_articles(db, [*fresh, revised, copy], stories)
        record_poll(db, "kt", status=200, error=None, new_items=7, when=now)
        # a Google News poll: its links' state, resolved or not, the stored ones relinked
        google = [f"https://news.google.com/rss/articles/CBMi{n}?oc=5" for n in range(3)]
        load_links(db, google)
        record_resolved(db, google[0], "https://kt.example.org/60", now)
        record_failure(db, google[1], "HTTP 429", now, now + timedelta(hours=1))
        relink_article(db, "https://kt.example.org/41", "https://kt.example.org/41b")
        stored_urls(db, ["https://kt.example.org/41b", "https://kt.example.org/60"])
        record_poll(db, "pp", status=500, error="HTTP 500", when=now)
        # match
        match_pending(db, matcher, routes)
        # deliver: immediate alerts, a failing channel, quiet hours, the hourly limit, the
        # weekly digest; the health of the sources
        check_sources(db, ["kt", "pp"], ops, now)
        for hours in (0, 1, 2):
            asyncio.run(deliver_due(db, channels, policy(), now=now + timedelta(hours=hours)))
        asyncio.run(deliver_all_due(db, channels, policy(), now=now + timedelta(hours=24 * 8)))
        outbox.next_due_time(db, channels)
        story_outlets(db, 2)
        # retention
        later = now + timedelta(days=30)
        prune(db, timedelta(days=1), still_needed=outbox.unsent_article_ids, now=later)
    return planned(statements)


def test_query_plans_of_ingest_match_and_delivery_use_indexes(db, tmp_path):
    statements = run_paths(db, tmp_path)
    # The paths really ran: a few of the statements that must be among them.
    text = "\n".join(statements)
    for expected in (
        "FROM story_bands",
        "FROM matches WHERE rule",
        "UPDATE outbox SET state",
        "SELECT count(*) AS n FROM outbox WHERE state IN",
    ):
        assert expected in text
    assert any(s.startswith("INSERT INTO notices") for s in statements)
    problems = {s: reads for s in statements if (reads := full_reads(db, s))}
    assert problems == {}


def test_query_plans_of_status_and_story_reports_use_indexes(db, tmp_path):
    run_paths(db, tmp_path)
    with traced(db) as statements:
        source_states(db)
        new_articles_per_source(db, MONDAY - timedelta(days=1))
        matches.rule_match_counts(db, day_since=MONDAY, week_since=MONDAY - timedelta(days=7))
        matches.list_stories(db, since=MONDAY - timedelta(days=7), rule="scam")
    problems = {s: reads for s in planned(statements) if (reads := full_reads(db, s))}
    assert problems == {}


def test_query_plans_already_alerted_is_two_index_lookups(db):
    """A rule's matches are found by (rule, article), never by reading all of the rule's."""
    (sql,) = [matches._ALREADY_ALERTED]
    plan = [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}", {"rule": "r", "article": 1})]
    assert any("matches_rule_article (rule=? AND article_id=?)" in step for step in plan)
    assert any("articles_story (story_id=?)" in step for step in plan)
    assert any("articles_url (url=?)" in step for step in plan)
    assert not [step for step in plan if step.startswith("SCAN")]


def test_query_plans_detector_sees_a_full_scan(db):
    # The check itself: a query that must read every row is reported, through its alias.
    assert full_reads(db, "SELECT * FROM articles a WHERE a.title = 'x'") == ["SCAN a"]
    assert full_reads(db, "SELECT * FROM articles WHERE id = 1") == []


def test_query_plans_of_the_web_pages_use_indexes(db, tmp_path):
    from alerts.outbox.admin import list_entries
    from crawler.store import daily_article_counts, story_members

    run_paths(db, tmp_path)
    week = MONDAY - timedelta(days=7)
    with traced(db) as statements:
        daily_article_counts(db, MONDAY - timedelta(days=14), shift_minutes=420)
        matches.daily_match_counts(db, week, shift_minutes=420)
        matches.recent_matches(db, matches.MatchFilter(rule="scam", since=week), limit=10)
        story_members(db, [1, 2])
        list_entries(db, state=("failed", "retrying"), limit=10)
    problems = {s: reads for s in planned(statements) if (reads := full_reads(db, s))}
    assert problems == {}


def test_query_plans_newest_matches_walk_the_time_index_without_sorting(db):
    """The list of matches reads newest first from matches(matched_at) and stops at the
    page's end: no sort of the whole table, whatever the filter."""
    for where in (matches.MatchFilter(), matches.MatchFilter(source="kt", language="en")):
        with traced(db) as statements:
            matches.recent_matches(db, where, limit=10)
        (sql,) = planned(statements)
        plan = [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}")]
        assert any("matches_matched_at" in step for step in plan), plan
        assert not any("TEMP B-TREE" in step for step in plan), plan


def test_query_plans_of_archive_search_use_the_index(db, tmp_path):
    """A search reads candidates from the full-text index, newest first without a sort,
    and looks each article up by its id."""
    from alerts.rules.archive import SearchFilter, search

    run_paths(db, tmp_path)
    filters = [
        SearchFilter(),
        SearchFilter(since=MONDAY - timedelta(days=7), until=MONDAY, sources=("kt", "pp")),
        SearchFilter(only={1, 2, 3}),
    ]
    for query in ("raid", '"scam compound" AND bavet', "raid* OR /x+/"):
        for where in filters:
            with traced(db) as statements:
                list(search(db, Rule("s", query), where))
            sqls = planned(statements)
            assert sqls, query
            problems = {s: reads for s in sqls if (reads := full_reads(db, s))}
            assert problems == {} or "/x+/" in query, problems
            for sql in sqls:
                plan = [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}")]
                assert not any("TEMP B-TREE" in step for step in plan), (sql, plan)
    with traced(db) as statements:
        list(search(db, Rule("s", "raid"), filters[1]))
    text = "\n".join(statements)
    assert "articles_fts MATCH" in text and "INDEXED BY articles_fetched" in text


def test_query_plans_of_feeds_and_exports_use_indexes(db, tmp_path):
    """A rule's feed reads its newest matches from matches(rule, matched_at), without a
    sort; the feed of every rule and an export walk the time index."""
    from alerts.outbox.matches import matched_article_ids
    from alerts.render.atom import feed_for

    run_paths(db, tmp_path)
    with traced(db) as statements:
        feed_for(db, "scam", self_url="http://127.0.0.1/feeds/scam.atom", now=MONDAY)
        feed_for(db, None, self_url="http://127.0.0.1/feeds/all.atom", now=MONDAY)
        matched_article_ids(db, "scam")
    sqls = planned(statements)
    problems = {s: reads for s in sqls if (reads := full_reads(db, s))}
    assert problems == {}
    rule_pages = [s for s in sqls if "m.rule = 'scam'" in s]
    assert rule_pages
    for sql in rule_pages:
        plan = [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}")]
        assert any("matches_rule_time" in step for step in plan), plan
        assert not any("TEMP B-TREE" in step for step in plan), plan
