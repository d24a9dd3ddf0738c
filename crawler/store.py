"""The crawler's tables: sources and their polling state, and articles.

Every read and write of ``sources`` and ``articles`` is a function here; the tables are
declared in :mod:`crawler.schema`, and transactions come from :mod:`crawler.db`. Other
packages may read these tables through these functions; the alerts' store modules may also
join them (alerts build on the crawler), but only this module writes them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from crawler import fulltext
from crawler.db import Database, from_iso, is_postgres, to_iso, utcnow, write_transaction
from crawler.errors import StoreError
from crawler.models import Article

if TYPE_CHECKING:
    # Only a type here: readers of the store (status, backtest) need no story clustering.
    from crawler.stories import Prepared, StoryIndex

logger = logging.getLogger(__name__)

# A body with fewer words does not identify an article on its own (see _text_fingerprint).
MIN_IDENTIFYING_WORDS = 40
# Feed titles are feed text: a display name needs no more than this.
MAX_FEED_TITLE = 200


@dataclass(frozen=True, slots=True)
class SourceState:
    """What is remembered about a source between polls."""

    name: str
    etag: str | None = None
    last_modified: str | None = None
    last_status: int | None = None
    last_error: str | None = None
    last_poll: datetime | None = None
    last_success: datetime | None = None
    last_new: datetime | None = None
    next_due: datetime | None = None
    failures: int = 0
    feed_title: str | None = None  # the title the source's feed gives itself


def sync_sources(
    db: Database,
    sources: Iterable[tuple[str, str, str]],
    titles: Mapping[str, str | None] | None = None,
) -> None:
    """Make sure every configured (name, type, url) has a row; keep the state of the rest.

    Rows of sources no longer configured are kept (their articles reference them by name)
    but no longer polled. A source whose URL changed loses its validators. ``titles`` are
    the configured display names (``title = "Khmer Times"``); a source without one is shown
    by its feed's own title.
    """
    titles = titles or {}
    # Workers starting at once on one PostgreSQL database add the rows once.
    with write_transaction(db, serialize="sources"):
        for name, type_, url in sources:
            row = _source_row(db, name)
            title = titles.get(name)
            if row is None:
                db.table("sources").insert(
                    {"name": name, "type": type_, "url": url, "failures": 0, "title": title}
                )
            elif row["url"] != url or row["type"] != type_:
                db.table("sources").update(
                    name,
                    {
                        "type": type_,
                        "url": url,
                        "etag": None,
                        "last_modified": None,
                        "title": title,
                    },
                )
            elif row["title"] != title:
                db.table("sources").update(name, {"title": title})


def record_feed_title(db: Database, name: str, title: str | None) -> None:
    """Remember the title a source's feed gives itself, its display name by default."""
    title = " ".join((title or "").split())[:MAX_FEED_TITLE] or None
    if title is None:
        return
    with write_transaction(db):
        db.execute(
            "UPDATE sources SET feed_title = ? WHERE name = ? AND feed_title IS NOT ?",
            [title, name, title],
        )


def source_titles(db: Database, names: Iterable[str]) -> dict[str, str]:
    """Display names of ``names``: the configured title, else the feed's own, else the name.

    Works on a database not upgraded yet (read-only), whose sources have no title columns.
    """
    wanted = sorted(set(names))
    titles = dict.fromkeys(wanted, "")
    if wanted and "sources" in db.table_names():
        marks = ", ".join("?" * len(wanted))
        for row in db.query(f"SELECT * FROM sources WHERE name IN ({marks})", wanted):
            titles[row["name"]] = row.get("title") or row.get("feed_title") or ""
    return {name: title or name for name, title in titles.items()}


def _source_row(db: Database, name: str) -> dict[str, Any] | None:
    rows = list(db.query("SELECT * FROM sources WHERE name = ?", [name]))
    return rows[0] if rows else None


def load_source_state(db: Database, name: str) -> SourceState:
    """The stored state of one source (empty state for a source never polled)."""
    row = _source_row(db, name)
    return SourceState(name=name) if row is None else _state_from_row(row)


def source_states(db: Database) -> dict[str, SourceState]:
    """The stored state of every source ever configured, by name."""
    return {row["name"]: _state_from_row(row) for row in db.query("SELECT * FROM sources")}


def _state_from_row(row: dict[str, Any]) -> SourceState:
    return SourceState(
        name=row["name"],
        etag=row["etag"],
        last_modified=row["last_modified"],
        last_status=row["last_status"],
        last_error=row["last_error"],
        last_poll=from_iso(row["last_poll"]),
        last_success=from_iso(row["last_success"]),
        last_new=from_iso(row["last_new"]),
        next_due=from_iso(row["next_due"]),
        failures=row["failures"] or 0,
        # A database not upgraded yet (opened read-only) has no such column.
        feed_title=row.get("feed_title"),
    )


def record_poll(
    db: Database,
    name: str,
    *,
    status: int | None,
    error: str | None,
    etag: str | None = None,
    last_modified: str | None = None,
    new_items: int = 0,
    next_due: datetime | None = None,
    when: datetime | None = None,
) -> SourceState:
    """Record the outcome of one poll and return the source's new state.

    On success the validators are replaced by the response's (kept on a 304, which repeats
    them or omits them); on failure they are kept, so the next poll stays conditional.
    """
    when = when or utcnow()
    before = load_source_state(db, name)
    ok = error is None
    changes: dict[str, Any] = {
        "last_status": status,
        "last_error": error,
        "last_poll": to_iso(when),
        "next_due": to_iso(next_due),
        "failures": 0 if ok else before.failures + 1,
    }
    if ok:
        changes["last_success"] = to_iso(when)
        if status != 304:
            changes["etag"] = etag
            changes["last_modified"] = last_modified
    if new_items:
        changes["last_new"] = to_iso(when)
    with write_transaction(db):
        db.execute(
            "UPDATE sources SET polls = coalesce(polls, 0) + 1, "
            "articles = coalesce(articles, 0) + ? WHERE name = ?",
            [new_items, name],
        )
        db.table("sources").update(name, changes)
    return load_source_state(db, name)


def is_known(db: Database, url: str, *, source: str, guid: str | None) -> bool:
    """Whether an article with this canonical URL (or this source's GUID) is stored."""
    if next(iter(db.query("SELECT 1 FROM articles WHERE url = ? LIMIT 1", [url])), None):
        return True
    if not guid:
        return False
    sql = "SELECT 1 FROM articles WHERE source = ? AND guid = ? LIMIT 1"
    return next(iter(db.query(sql, [source, guid])), None) is not None


def store_articles(
    db: Database, articles: Iterable[Article], stories: StoryIndex | None = None
) -> list[int]:
    """Insert what is new, in one transaction; return the new rows' ids.

    Identity is the canonical URL; an item re-published under the same GUID by the same
    source is the same article. With a story index, three more things hold: an item whose
    text was stored before under another URL or GUID is not new; an article whose text
    changed since it was stored becomes a new revision (routing alerts on it only for rules
    the earlier text did not match); and every new row joins a story.
    """
    new_ids: list[int] = []
    # Workers sharing a PostgreSQL database store one source's articles at a time, so two
    # copies of a story (or one URL from two feeds) arriving at once are told apart.
    with write_transaction(db, serialize="articles"):
        for article in articles:
            row_id = _store_one(db, article, stories)
            if row_id is not None:
                new_ids.append(row_id)
    return new_ids


def _store_one(db: Database, article: Article, stories: StoryIndex | None) -> int | None:
    previous = _latest_revision(db, article)
    if stories is None:
        return None if previous else _insert_article(db, article, revision=0, fingerprint=None)
    from crawler.stories import Prepared

    prepared = Prepared.of(article.title, article.body)
    fingerprint = prepared.fingerprint.hex()
    text_fingerprint = _text_fingerprint(prepared, article)
    if previous is not None:
        if previous["fingerprint"] in (None, fingerprint):
            return None
        revision = previous["revision"] + 1
        logger.info("%s changed since it was stored: revision %d", article.url, revision)
        # A revision keeps the identity of the article it revises.
        article = replace(article, url=previous["url"], guid=previous["guid"] or article.guid)
    else:
        if text_fingerprint and _text_known(db, text_fingerprint):
            return None
        revision = 0
    row_id = _insert_article(
        db, article, revision=revision, fingerprint=fingerprint, text_fingerprint=text_fingerprint
    )
    story = stories.assign(
        row_id,
        title=article.title,
        text=article.body,
        source=article.source,
        links=(article.url, article.guid),
        prepared=prepared,
    )
    db.execute("UPDATE articles SET story_id = ? WHERE id = ?", [story.story_id, row_id])
    return row_id


def _latest_revision(db: Database, article: Article) -> dict[str, Any] | None:
    sql = (
        "SELECT id, url, guid, revision, fingerprint FROM articles "
        "WHERE url = ? OR (source = ? AND guid = ?) ORDER BY revision DESC, id DESC LIMIT 1"
    )
    rows = list(db.query(sql, [article.url, article.source, article.guid or None]))
    return rows[0] if rows else None


def _text_fingerprint(prepared: Prepared, article: Article) -> str | None:
    """Fingerprint of the body alone, when it is long enough to identify an article.

    Outlets re-publish the same text under a new headline, URL and GUID; a one-line summary
    is too short to tell such a copy from a different item.
    """
    if len(article.body.split()) < MIN_IDENTIFYING_WORDS:
        return None
    return prepared.text_fingerprint.hex()


def _text_known(db: Database, text_fingerprint: str) -> bool:
    sql = "SELECT 1 FROM articles WHERE text_fingerprint = ? LIMIT 1"
    return next(iter(db.query(sql, [text_fingerprint])), None) is not None


def _insert_article(
    db: Database,
    article: Article,
    *,
    revision: int,
    fingerprint: str | None,
    text_fingerprint: str | None = None,
) -> int:
    published = article.published
    date_source = article.date_source
    if published is None:
        published, date_source = article.fetched, "fetched"
    cursor = db.execute(
        "INSERT INTO articles (url, guid, source, title, summary, text, author, language, "
        "published, date_source, fetched, matched, revision, fingerprint, text_fingerprint, "
        "outlet) VALUES (?,?,?,?,?,?,?,?,?,?,?,0,?,?,?,?)",
        [
            article.url,
            article.guid,
            article.source,
            article.title,
            article.summary,
            article.text,
            article.author,
            article.language,
            to_iso(published),
            date_source,
            to_iso(article.fetched),
            revision,
            fingerprint,
            text_fingerprint,
            article.outlet,
        ],
    )
    row_id = cursor.lastrowid
    if row_id is None:  # pragma: no cover - sqlite always sets it for INSERT
        raise StoreError(f"insert of {article.url} returned no row id")
    if not is_postgres(db):  # the full-text index is SQLite's (FTS5)
        fulltext.add_documents(db.conn, [(row_id, article.title, article.summary, article.text)])
    return row_id


def article_from_row(row: dict[str, Any]) -> Article:
    """Rebuild an :class:`Article` from an ``articles`` row."""
    fetched = from_iso(row["fetched"])
    assert fetched is not None
    return Article(
        url=row["url"],
        source=row["source"],
        title=row["title"] or "",
        summary=row["summary"] or "",
        published=from_iso(row["published"]),
        fetched=fetched,
        guid=row["guid"] or "",
        text=row["text"] or "",
        author=row["author"],
        language=row["language"],
        date_source=row["date_source"] or "feed",
        outlet=row.get("outlet"),  # absent from a file not upgraded yet (read-only)
    )


def unmatched_articles(db: Database, limit: int = 500) -> list[tuple[int, Article]]:
    """Stored articles that rules have not been run against yet, oldest first."""
    rows = db.query("SELECT * FROM articles WHERE matched = 0 ORDER BY id LIMIT ?", [limit])
    return [(row["id"], article_from_row(row)) for row in rows]


def get_article(db: Database, article_id: int) -> Article | None:
    """One stored article by id."""
    rows = list(db.query("SELECT * FROM articles WHERE id = ?", [article_id]))
    return article_from_row(rows[0]) if rows else None


def still_unmatched(db: Database, article_ids: Sequence[int]) -> set[int]:
    """Those of ``article_ids`` the rules have not seen (another worker may have, meanwhile)."""
    if not article_ids:
        return set()
    marks = ",".join("?" * len(article_ids))
    sql = f"SELECT id FROM articles WHERE id IN ({marks}) AND matched = 0"
    return {row["id"] for row in db.query(sql, list(article_ids))}


def mark_matched(db: Database, article_id: int) -> None:
    """Record that the rules have seen an article; call in the transaction with its matches."""
    db.execute("UPDATE articles SET matched = 1 WHERE id = ?", [article_id])


def articles_fetched_since(db: Database, since: datetime) -> Iterator[tuple[int, Article]]:
    """Every article fetched at or after ``since``, newest first, with its id."""
    sql = "SELECT * FROM articles WHERE fetched >= ? ORDER BY fetched DESC, id DESC"
    for row in db.query(sql, [to_iso(since)]):
        yield row["id"], article_from_row(row)


def count_fetched_since(db: Database, since: datetime) -> int:
    """How many articles were fetched at or after ``since`` (read from the fetched index)."""
    sql = "SELECT count(*) AS n FROM articles WHERE fetched >= ?"
    return int(next(iter(db.query(sql, [to_iso(since)])))["n"])


def new_articles_per_source(db: Database, since: datetime) -> dict[str, int]:
    """How many articles each source brought in since ``since``."""
    # "+source": read the day from the fetched index rather than every row in source order.
    sql = "SELECT source, count(*) AS n FROM articles WHERE fetched >= ? GROUP BY +source"
    return {row["source"]: row["n"] for row in db.query(sql, [to_iso(since)])}


def outlet_column(db: Database, alias: str = "") -> str:
    """``articles.outlet`` for a SELECT list, or NULL in a file an older release wrote and no
    one upgraded (opened read-only: a copy searched or browsed on a laptop)."""
    if not is_postgres(db):
        columns = {row[1] for row in db.execute("PRAGMA table_info(articles)").fetchall()}
        if "outlet" not in columns:
            return "NULL"
    return f"{alias}outlet"


def story_outlets(db: Database, article_id: int) -> tuple[tuple[str, str | None], ...]:
    """Other outlets that carried the story of ``article_id``, in the order they did.

    Each is a (source, outlet) pair: ``outlet`` is the publisher an aggregator named (the
    one to show), None for an outlet's own feed or site (shown by its source's title).
    """
    theirs, mine = outlet_column(db, "a."), outlet_column(db, "me.")
    grouped = "a.source" if theirs == "NULL" else f"a.source, {theirs}"
    sql = (
        f"SELECT a.source, {theirs} AS outlet, min(a.id) AS first FROM articles me "
        "JOIN articles a ON a.story_id = me.story_id "
        f"AND coalesce({theirs}, a.source) != coalesce({mine}, me.source) "
        f"WHERE me.id = ? AND me.story_id IS NOT NULL GROUP BY {grouped} ORDER BY first"
    )
    first: dict[str, tuple[str, str | None]] = {}  # by the name shown, in order of arrival
    for row in db.query(sql, [article_id]):
        first.setdefault(row["outlet"] or row["source"], (row["source"], row["outlet"]))
    return tuple(first.values())


def prunable_articles(db: Database, cutoff: datetime, *, after: int, limit: int) -> list[int]:
    """Ids above ``after`` of matched articles fetched before ``cutoff`` that still have a
    body, in id order; at most ``limit``."""
    sql = (
        "SELECT id FROM articles WHERE fetched < ? AND matched = 1 AND id > ? "
        "AND (text IS NOT NULL OR summary IS NOT NULL) ORDER BY id LIMIT ?"
    )
    return [row["id"] for row in db.query(sql, [to_iso(cutoff), after, limit])]


def blank_article_text(db: Database, article_ids: Sequence[int]) -> None:
    """Drop the text and summary of these articles; the rest of each row stays.

    The search index keeps only their titles. Call inside a write transaction.
    """
    if not article_ids:
        return
    marks = ",".join("?" * len(article_ids))
    select = f"SELECT id, title, summary, text FROM articles WHERE id IN ({marks})"
    before = [(r["id"], r["title"], r["summary"], r["text"]) for r in db.query(select, article_ids)]
    db.execute(
        f"UPDATE articles SET text = NULL, summary = NULL WHERE id IN ({marks})",
        list(article_ids),
    )
    after = [(article_id, title, None, None) for article_id, title, _, _ in before]
    if not is_postgres(db):
        fulltext.replace_documents(db.conn, before, after)


def daily_article_counts(
    db: Database, since: datetime, until: datetime | None = None, *, shift_minutes: int = 0
) -> dict[str, dict[str, int]]:
    """Per source, articles fetched per day from ``since`` (to ``until``); days are
    ``YYYY-MM-DD`` in a zone ``shift_minutes`` ahead of UTC."""
    # "+source": read the days from the fetched index, not every row in source order.
    sql = (
        "SELECT source, date(fetched, ?) AS day, count(*) AS n FROM articles "
        "WHERE fetched >= ? AND fetched < ? GROUP BY +source, day"
    )
    counts: dict[str, dict[str, int]] = {}
    end = to_iso(until) if until else "9999"
    for row in db.query(sql, [f"{shift_minutes:+d} minutes", to_iso(since), end]):
        counts.setdefault(row["source"], {})[row["day"]] = row["n"]
    return counts


@dataclass(frozen=True, slots=True)
class StoryMember:
    """One article of a story, as a list of the outlets carrying it shows it."""

    article_id: int
    source: str
    title: str
    url: str
    published: datetime | None
    outlet: str | None = None  # the publisher an aggregator (Google News) named

    @property
    def outlet_name(self) -> str:
        """Who published the article: the named publisher, else the source."""
        return self.outlet or self.source


def story_members(
    db: Database, story_ids: Sequence[int], *, per_story: int = 12
) -> dict[int, list[StoryMember]]:
    """The first ``per_story`` articles of each story, in the order they were stored."""
    found: dict[int, list[StoryMember]] = {}
    sql = (
        f"SELECT id, source, title, url, published, {outlet_column(db)} AS outlet "
        "FROM articles WHERE story_id = ? ORDER BY id LIMIT ?"
    )
    for story_id in dict.fromkeys(story_ids):
        found[story_id] = [
            StoryMember(
                row["id"],
                row["source"],
                row["title"] or "",
                row["url"],
                from_iso(row["published"]),
                row["outlet"],
            )
            for row in db.query(sql, [story_id, per_story])
        ]
    return found


def first_id_fetched_since(db: Database, since: datetime) -> int | None:
    """The lowest id of an article fetched at or after ``since`` (None: there is none).

    Every article fetched since then has this id or a higher one: a search walks its index
    from the newest article down to here and no further.
    """
    hint = "" if is_postgres(db) else " INDEXED BY articles_fetched"
    sql = f"SELECT min(id) AS first FROM articles{hint} WHERE fetched >= ?"
    row = next(iter(db.query(sql, [to_iso(since)])), None)
    return None if row is None else row["first"]


def article_ids_newest_first(db: Database, min_id: int | None = None) -> Iterator[int]:
    """Ids of the stored articles from the highest down to ``min_id``."""
    sql = "SELECT id FROM articles WHERE id >= ? ORDER BY id DESC"
    for row in db.query(sql, [-1 if min_id is None else min_id]):
        yield row["id"]


@dataclass(frozen=True, slots=True)
class StoredArticle:
    """An article as a search finds it: the record, its id and its story."""

    article_id: int
    article: Article
    story_id: int | None


def articles_by_ids(
    db: Database,
    article_ids: Sequence[int],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    sources: Sequence[str] = (),
) -> dict[int, StoredArticle]:
    """The articles among ``article_ids`` fetched in [since, until) from one of ``sources``
    (any when empty), by id."""
    if not article_ids:
        return {}
    # "+": the ids are few; look each up by key rather than walk a range of dates or sources.
    clauses = [f"id IN ({','.join('?' * len(article_ids))})"]
    params: list[object] = list(article_ids)
    if since is not None:
        clauses.append("+fetched >= ?")
        params.append(to_iso(since))
    if until is not None:
        clauses.append("+fetched < ?")
        params.append(to_iso(until))
    if sources:
        clauses.append(f"+source IN ({','.join('?' * len(sources))})")
        params += list(sources)
    sql = f"SELECT * FROM articles WHERE {' AND '.join(clauses)}"
    return {
        row["id"]: StoredArticle(row["id"], article_from_row(row), row["story_id"])
        for row in db.query(sql, params)
    }


def stored_urls(db: Database, urls: Iterable[str]) -> set[str]:
    """Those of ``urls`` that some stored article has as its URL."""
    wanted = list(dict.fromkeys(urls))
    found: set[str] = set()
    for start in range(0, len(wanted), 500):  # below SQLite's limit on bound parameters
        chunk = wanted[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        sql = f"SELECT DISTINCT url FROM articles WHERE url IN ({marks})"
        found.update(row["url"] for row in db.query(sql, chunk))
    return found


def relink_article(db: Database, old: str, new: str) -> bool:
    """Give the article stored under ``old`` the URL ``new``, unless ``new`` is stored already.

    An aggregator's item stored under the aggregator's link, because the publisher's URL
    could not be found then, takes the publisher's URL once it is found, so the outlet's
    own item dedupes against it. Returns whether a row changed.
    """
    with write_transaction(db):
        if stored_urls(db, [new]):
            return False
        cursor = db.execute("UPDATE articles SET url = ? WHERE url = ?", [new, old])
        return bool(cursor.rowcount)
