"""The full-text index: its tokens, kept in step with the articles, and searches that agree
with the rule matcher exactly."""

from __future__ import annotations

import dataclasses
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerts.rules.archive import SearchFilter, index_expression, search
from alerts.rules.query import parse_query
from alerts.rules.rule import Rule
from crawler import fulltext
from crawler.db import open_database, write_transaction
from crawler.models import Article
from crawler.retention import prune
from crawler.schema import LATEST, schema_version
from crawler.store import mark_matched, store_articles
from crawler.stories import StoryIndex
from tests.archivekit import scanned
from tests.corpus import corpus_text

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
RELEASE_DB = Path(__file__).parent / "data" / "store" / "release-dfa0e51.db"

TEXTS = [
    ("Police raid scam compound in Bavet", "Officers freed 200 workers at a casino in Bavet."),
    ("Sihanoukville crackdown", "The raids in Sihanoukville continued; U.S. officials watched."),
    ("Khmer report", "ប៉ូលិសបានវាយឆ្មក់ទីតាំងបោកប្រាស់មួយនៅក្រុងព្រះសីហនុកាលពីម្សិលមិញ។"),
    ("Chinese report", "警方周三在西港一处诈骗园区解救了数十名外国人。"),
    ("Mixed", "Raid西港 and O’Smach: US$5 million seized from a crypto-scam ring."),
    ("Forced labour", "Victims of forced labour said they were trafficked across the border."),
    ("Soft hyphen", "Phnom\u00adPenh police said a kidnapping ring was broken up."),
    ("Thai", "ตำรวจบุกค้นแก๊งคอลเซ็นเตอร์ในปอยเปต"),
]

QUERIES = [
    "bavet",
    "raid",
    "raid*",
    '"scam compound"',
    "bavet AND casino",
    "bavet OR sihanoukville",
    "raid* AND NOT bavet",
    "ក្រុងព្រះសីហនុ",
    "សីហនុ",
    "西港",
    "港",
    "诈骗园区",
    "raid西港",
    "o'smach",
    "us$5",
    "$5",
    "u.s.",
    "phnompenh",
    "title:bavet",
    "source:kt AND raid*",
    "/traffick\\w+/",
    '"forced labour"~2',
    "NOT police",
    "*",
    "ปอยเปต",
    "crypto-scam",
    "kidnap*",
]


def articles(texts=TEXTS, *, start: datetime = NOW - timedelta(days=3)) -> list[Article]:
    return [
        Article(
            url=f"https://news.example.org/{n}",
            source="kt" if n % 2 else "cna",
            title=title,
            summary=text[:40],
            published=start + timedelta(hours=n),
            fetched=start + timedelta(hours=n),
            guid=f"g{n}",
            text=text,
        )
        for n, (title, text) in enumerate(texts)
    ]


@pytest.fixture
def db(tmp_path):
    database = open_database(tmp_path / "newswatch.db")
    store_articles(database, articles())
    yield database
    database.close()


def fts_ids(db, expression: str) -> set[int]:
    return set(fulltext.candidate_ids(db.conn, expression))


def test_fulltext_tokens_split_unspaced_scripts_into_pairs():
    doc = fulltext.document("Raid in 西港口", "US$5 O’Smach", "ក្រុង")
    assert doc == "raid in 西港 港口 口 us 5 o smach ក្ ្រ រុ ុង ង"


def test_fulltext_segments_of_a_literal():
    def shown(literal, prefix=False):
        return [s.expression() for s in fulltext.literal_segments(literal, prefix=prefix)]

    assert shown("Scam compound") == ['"scam compound"']
    assert shown("raid", prefix=True) == ['"raid"*']
    assert shown("西港") == ['"西港"']
    assert shown("港") == ['"港"*']
    assert shown("abc西港def") == ['"abc"', '"西港"', '"def"']
    assert shown("$$") == []


def test_fulltext_expression_of_queries():
    def expression(query):
        return index_expression(parse_query(query))

    assert expression("bavet AND casino") == '"bavet" AND "casino"'
    assert expression("bavet OR sihanoukville") == '("bavet" OR "sihanoukville")'
    assert expression("raid* AND NOT bavet") == '"raid"*'
    assert expression("bavet OR /x+/") is None
    assert expression("NOT bavet") is None
    assert expression("source:kt") is None
    assert expression("title:bavet") == '"bavet"'
    assert expression("(a OR b) AND c") == '("a" OR "b") AND "c"'


@pytest.mark.parametrize("query", QUERIES)
def test_fulltext_search_agrees_with_the_matcher(db, query):
    rule = Rule("search", query)
    expected = scanned(db, rule)
    found = [f.article_id for f in search(db, rule)]
    assert found == expected


def test_fulltext_finds_unspaced_terms_inside_running_text(db):
    for term, title in [
        ("ក្រុងព្រះសីហនុ", "Khmer report"),
        ("西港", "Chinese report"),
        ("ปอยเปต", "Thai"),
    ]:
        titles = [f.article.title for f in search(db, Rule("s", term))]
        assert title in titles, term
        ids = fts_ids(db, index_expression(parse_query(term)) or "")
        assert len(ids) < len(TEXTS), f"{term}: the index should narrow the search"


def test_fulltext_search_with_corpus_texts(tmp_path):
    khmer = corpus_text("khmer/km/khmer-nltk__samples_input.txt").splitlines()
    chinese = corpus_text("khmer/zh/newspaper4k__chinese_article.txt")
    texts = [(line[:30], line) for line in khmer if line.strip()]
    texts += [(p[:20], p) for p in chinese.split("\n") if p.strip()]
    database = open_database(tmp_path / "corpus.db")
    store_articles(database, articles(texts))
    words = {w for _, text in texts for w in text.split()[:3]}
    pieces = {text[5:7] for _, text in texts if len(text) > 8} | {text[3:9] for _, text in texts}
    for query in sorted(words | pieces)[:80]:
        quoted = '"' + query.replace("\\", "").replace('"', "") + '"'
        rule = Rule("s", quoted)
        try:
            expected = scanned(database, rule)
        except Exception:  # a piece that is not a valid query
            continue
        assert [f.article_id for f in search(database, rule)] == expected, query
    database.close()


def test_fulltext_search_filters(db):
    rule = Rule("s", "raid* OR 西港 OR ក្រុងព្រះសីហនុ")
    every = [f.article_id for f in search(db, rule)]
    assert len(every) >= 4
    since = NOW - timedelta(days=3) + timedelta(hours=3)
    recent = [f.article_id for f in search(db, rule, SearchFilter(since=since))]
    assert recent == [i for i in every if i >= 4]
    until = [f.article_id for f in search(db, rule, SearchFilter(until=since))]
    assert until == [i for i in every if i < 4]
    kt = [f.article.source for f in search(db, rule, SearchFilter(sources=("kt",)))]
    assert kt and set(kt) == {"kt"}
    only = [f.article_id for f in search(db, rule, SearchFilter(only={every[-1]}))]
    assert only == [every[-1]]
    future = SearchFilter(since=NOW + timedelta(days=1))
    assert list(search(db, rule, future)) == []


def test_fulltext_index_follows_new_articles_and_revisions(tmp_path):
    database = open_database(tmp_path / "newswatch.db")
    stories = StoryIndex(database)
    first = articles()[:1]
    (old,) = store_articles(database, first, stories)
    revised = dataclasses.replace(
        first[0], text=first[0].text + " The Bavet casino was then closed by order."
    )
    (new,) = store_articles(database, [revised], stories)
    assert new != old
    assert fts_ids(database, '"closed by order"') == {new}
    assert fts_ids(database, '"bavet"') == {old, new}
    assert [f.article_id for f in search(database, Rule("s", '"closed by order"'))] == [new]
    database.close()


def test_fulltext_index_follows_retention(tmp_path):
    database = open_database(tmp_path / "newswatch.db")
    old = articles(start=NOW - timedelta(days=90))
    ids = store_articles(database, old)
    with write_transaction(database):
        for article_id in ids:
            mark_matched(database, article_id)
    assert fts_ids(database, '"casino"') == {ids[0]}
    report = prune(database, timedelta(days=30), still_needed=lambda db: (), now=NOW)
    assert report.articles == len(ids)
    # The body is gone from the index; the title stays searchable.
    assert fts_ids(database, '"casino"') == set()
    assert fts_ids(database, '"bavet"') == {ids[0]}
    assert [f.article_id for f in search(database, Rule("s", "bavet"))] == [ids[0]]
    database.execute("INSERT INTO articles_fts (articles_fts) VALUES ('integrity-check')")
    database.close()


def test_fulltext_index_is_built_when_an_old_database_is_upgraded(tmp_path):
    path = tmp_path / "release.db"
    shutil.copyfile(RELEASE_DB, path)
    with sqlite3.connect(path) as conn:
        before = schema_version(conn)
        stored = conn.execute("SELECT count(*) FROM articles").fetchone()[0]
        title = conn.execute("SELECT title FROM articles ORDER BY id LIMIT 1").fetchone()[0]
    assert before < 5 and stored > 0
    database = open_database(path)
    assert schema_version(database.conn) == LATEST
    for row in database.query("SELECT id, title FROM articles"):
        first = fulltext.text_tokens(row["title"])[0]
        assert row["id"] in fts_ids(database, f'"{first}"'), row["title"]
    word = max(title.split(), key=len).strip(".,:;'\"")
    rule = Rule("s", f'"{word}"')
    assert [f.article_id for f in search(database, rule)] == scanned(database, rule)
    assert scanned(database, rule)
    database.close()


def test_fulltext_a_lookup_fts5_refuses_reads_every_article(db, caplog):
    every = sorted(fulltext.candidate_ids(db.conn, None), reverse=True)
    assert list(fulltext.candidate_ids(db.conn, '"unbalanced')) == every
    assert "reading every article" in caplog.text
