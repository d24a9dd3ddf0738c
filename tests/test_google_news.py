"""google-news sources against a local imitation of Google News (tests/googlenews.py).

The imitation serves both steps of resolving a current-style link (the article page with
its signature, then the batchexecute POST), so these tests check what reaches the store: the
publisher's canonical URL, deduped against the outlet's own feed; the outlet's name; an item
whose link cannot be resolved stored under the Google link and relinked when a later poll
resolves it. A proxy that refuses everything stands in for the internet: nothing reaches it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any

import pytest
import sqlite_utils

from crawler import google_news as protocol
from crawler.models import Source
from crawler.poll import PollContext, SourcePoll, poll_batch
from crawler.sources import SOURCE_KINDS, SourceKind
from crawler.sources.google_news import MAX_LOOKUPS, GoogleNewsKind
from crawler.store import sync_sources
from scheduler.config import load_config
from tests.clirunner import ROOT, cli_env, config_problems, write_config, write_config_text
from tests.googlenews import GoogleNews, Story, Trap, old_style_id
from tests.httpserver import rss

KT_URL = "https://www.khmertimeskh.com/501234567/police-raid-scam-compound-in-bavet/"
PPP_URL = "https://www.phnompenhpost.com/national/rescued-workers-return-home"
VOD_URL = "https://vodenglish.news/families-seek-news-of-missing-relatives/"
SEARCH = '"scam compound" OR "online scam" Cambodia'


@pytest.fixture
def trap(monkeypatch: pytest.MonkeyPatch) -> Iterator[Trap]:
    """Every request to anywhere but 127.0.0.1 goes to a proxy that refuses and records it."""
    proxy = Trap()
    for key, value in proxy.environ().items():
        monkeypatch.setenv(key, value)
    yield proxy
    proxy.stop()


def gnews_source(name: str = "gnews-en", query: str = SEARCH) -> Source:
    url = protocol.search_feed_url(query, "en", "KH")
    return Source(name, "google-news", url)


def kinds(server: GoogleNews) -> Mapping[str, SourceKind]:
    return {**SOURCE_KINDS, "google-news": GoogleNewsKind(origin=server.origin)}


def poll(loop_thread, crawls, db, server: GoogleNews, *sources: Source) -> dict[str, SourcePoll]:
    sync_sources(db, [(s.name, s.type, s.url) for s in sources])
    context = PollContext(
        db=db, crawls=crawls, interval_of=lambda _: timedelta(minutes=15), kinds=kinds(server)
    )
    return {p.source: p for p in loop_thread.run(poll_batch(context, list(sources)))}


def articles(db: sqlite_utils.Database) -> dict[str, dict[str, Any]]:
    rows = db.query("SELECT url, source, outlet, title FROM articles ORDER BY id")
    return {row["url"]: row for row in rows}


def outlet_feed(server: GoogleNews) -> Source:
    """Khmer Times' own feed, with the article Google News also lists."""
    body = rss(
        [
            {
                "title": "Police raid scam compound in Bavet",
                "link": KT_URL + "?utm_source=rss",
                "guid": "kt-501234567",
                "description": "Police freed 200 workers from a compound in Bavet.",
            }
        ],
        title="Khmer Times",
    )
    server.extra["/kt/feed.xml"] = ("application/rss+xml", body.encode())
    return Source("khmertimes", "rss", f"{server.origin}/kt/feed.xml")


# The feed's address and the configuration


def test_google_news_feed_url_is_built_from_query_language_and_region():
    assert protocol.search_feed_url("Cambodia scam", "en", "KH") == (
        "https://news.google.com/rss/search?q=Cambodia+scam&hl=en-KH&gl=KH&ceid=KH:en"
    )
    assert protocol.search_feed_url("柬埔寨 诈骗", "zh-Hans", "KH").endswith(
        "&hl=zh-CN&gl=KH&ceid=KH:zh-Hans"
    )
    assert protocol.search_feed_url("ឆបោក", "km", "KH").endswith("&hl=km&gl=KH&ceid=KH:km")


def test_google_news_config_builds_the_url(tmp_path):
    path = write_config(
        tmp_path,
        sources={
            "gnews": {"type": "google-news", "query": SEARCH, "language": "en", "region": "KH"}
        },
        rules={},
        channels={},
    )
    source = load_config(path, environ={}).sources["gnews"].to_source()
    assert source.type == "google-news"
    assert source.url == protocol.search_feed_url(SEARCH, "en", "KH")
    assert source.url.startswith("https://news.google.com/rss/search?q=%22scam+compound%22+OR")


def test_google_news_config_errors_name_the_key(tmp_path):
    text = """
[sources.gnews]
type = "google-news"
url = "https://news.google.com/rss/search?q=x"
query = "   "
language = "zh-hans"
region = "kh"
langage = "en"

[sources.other]
type = "googlenews"
"""
    problems = {p.path: p for p in config_problems(write_config_text(tmp_path, text))}
    assert set(problems) == {
        "sources.gnews.url",
        "sources.gnews.query",
        "sources.gnews.language",
        "sources.gnews.region",
        "sources.gnews.langage",
        "sources.other.type",
    }
    assert "built from query, language and region" in problems["sources.gnews.url"].message
    assert problems["sources.gnews.query"].message == "the query is empty"
    assert problems["sources.gnews.language"].hint == 'did you mean "zh-Hans"?'
    assert problems["sources.gnews.region"].hint == 'region codes are upper case: write "KH"'
    assert problems["sources.gnews.langage"].message == "unknown key (did you mean 'language'?)"
    assert problems["sources.other.type"].hint == "did you mean 'google-news'?"


def test_google_news_config_requires_query_language_region(tmp_path):
    text = '[sources.gnews]\ntype = "google-news"\nlanguage = "xx"\nregion = "Cambodia"\n'
    problems = {p.path: p for p in config_problems(write_config_text(tmp_path, text))}
    assert problems["sources.gnews.query"].message == "required key is missing"
    assert problems["sources.gnews.language"].message.startswith(
        "unknown Google News language 'xx' (expected one of: en, km, zh-Hans"
    )
    assert "two-letter country code" in (problems["sources.gnews.region"].hint or "")


# The protocol


def test_google_news_old_style_ids_decode_without_a_request():
    assert protocol.decode_article_id(old_style_id(PPP_URL)) == PPP_URL
    assert protocol.decode_article_id(Story("t", "o", "u").article) is None  # current style
    assert protocol.decode_article_id("not*base64") is None
    assert protocol.decode_article_id("") is None


def test_google_news_article_links_are_recognised_under_the_origin_only():
    link = "https://news.google.com/rss/articles/CBMiabc_-1?oc=5"
    assert protocol.article_id(link) == "CBMiabc_-1"
    assert protocol.article_id("https://news.google.com/articles/CBMiabc") == "CBMiabc"
    assert protocol.article_id("https://news.google.com/rss/search?q=x") is None
    assert protocol.article_id("https://example.org/rss/articles/CBMiabc") is None
    assert protocol.article_id(link, "http://127.0.0.1:8080") is None


def test_google_news_batch_answers_are_read_in_both_shapes():
    row = ["wrb.fr", "Fbv4je", '["garturlres","https://a.example/1",1]', None, None, None, "1"]
    plain = ")]}'\n\n" + protocol._compact([row, ["di", 5]])
    chunk = protocol._compact([row])
    chunked = f')]}}\'\n\n{len(chunk)}\n{chunk}\n25\n[["e",4,null,null,171]]\n'
    assert protocol.read_batch_response(plain) == {1: "https://a.example/1"}
    assert protocol.read_batch_response(chunked) == {1: "https://a.example/1"}
    refused = ["wrb.fr", "Fbv4je", None, None, None, [3], "0"]
    assert protocol.read_batch_response(")]}'\n\n" + protocol._compact([refused])) == {}
    with pytest.raises(protocol.GoogleNewsResponseError, match="not a batchexecute answer"):
        protocol.read_batch_response("<html>Sorry...</html>")


def test_google_news_article_page_without_signature_is_an_error():
    with pytest.raises(protocol.GoogleNewsResponseError, match="data-n-a-sg"):
        protocol.read_signature("<html><body><c-wiz><div jscontroller=x></div></c-wiz></body>")
    page = '<c-wiz><div jscontroller="a" data-n-a-sg="SIG" data-n-a-ts="17"></div></c-wiz>'
    assert protocol.read_signature(page) == ("SIG", "17")


# Polling


def test_google_news_links_resolve_and_dedupe_against_the_outlets_feed(
    loop_thread, crawls, db, google_news, trap
):
    google_news.stories = [
        Story("Police raid scam compound in Bavet", "Khmer Times", KT_URL),
        Story("Rescued workers return home", "Phnom Penh Post", PPP_URL),
    ]
    own = outlet_feed(google_news)
    polls = poll(loop_thread, crawls, db, google_news, own, gnews_source())

    assert polls["khmertimes"].new == 1 and polls["gnews-en"].failure is None
    stored = articles(db)
    assert set(stored) == {KT_URL, PPP_URL}
    # The article both feeds carry is stored once, from the outlet's own feed.
    assert stored[KT_URL]["source"] == "khmertimes" and stored[KT_URL]["outlet"] is None
    assert stored[PPP_URL]["source"] == "gnews-en"
    assert stored[PPP_URL]["outlet"] == "Phnom Penh Post"
    assert stored[PPP_URL]["title"] == "Rescued workers return home"
    # Each link took one article page and the two went in one batchexecute POST.
    assert len(google_news.seen("/rss/articles/", "GET")) == 2
    (post,) = google_news.seen(protocol.BATCHEXECUTE_PATH, "POST")
    assert post.body.startswith("f.req=")
    page = google_news.seen("/rss/articles/")[0]
    assert page.query == {"hl": ["en-KH"], "gl": ["KH"], "ceid": ["KH:en"]}
    resolved = {r["link"]: r["resolved"] for r in db.query("SELECT * FROM google_news_links")}
    assert resolved == {google_news.link(s): s.publisher_url for s in google_news.stories}
    assert trap.targets == []


def test_google_news_outlets_feed_later_still_dedupes(loop_thread, crawls, db, google_news, trap):
    google_news.stories = [Story("Police raid scam compound in Bavet", "Khmer Times", KT_URL)]
    first = poll(loop_thread, crawls, db, google_news, gnews_source())
    assert first["gnews-en"].new == 1
    own = outlet_feed(google_news)
    later = poll(loop_thread, crawls, db, google_news, own, gnews_source())
    assert later["khmertimes"].new in (0, 1)  # a revision with the outlet's fuller text
    assert later["gnews-en"].new == 0
    urls = [row["url"] for row in db.query("SELECT url FROM articles")]
    assert set(urls) == {KT_URL}
    # Resolved once ever: the second poll sent Google nothing but the feed request.
    assert len(google_news.seen("/rss/articles/")) == 1
    assert len(google_news.seen(protocol.BATCHEXECUTE_PATH)) == 1
    assert trap.targets == []


def test_google_news_old_style_link_needs_no_lookup(loop_thread, crawls, db, google_news, trap):
    google_news.stories = [
        Story("Rescued workers return home", "Phnom Penh Post", PPP_URL, old_style_id(PPP_URL))
    ]
    polls = poll(loop_thread, crawls, db, google_news, gnews_source())
    assert polls["gnews-en"].new == 1
    assert articles(db)[PPP_URL]["outlet"] == "Phnom Penh Post"
    assert google_news.seen("/rss/articles/") == []
    assert google_news.seen(protocol.BATCHEXECUTE_PATH) == []
    assert trap.targets == []


def test_google_news_unresolvable_link_is_kept_then_relinked(
    loop_thread, crawls, db, google_news, trap, caplog
):
    broken = Story("Families seek news of missing relatives", "VOD English", VOD_URL)
    broken.page_status = 500
    refused = Story("Rescued workers return home", "Phnom Penh Post", PPP_URL)
    refused.resolvable = False
    google_news.stories = [broken, refused]
    with caplog.at_level(logging.WARNING, logger="crawler.sources.google_news"):
        polls = poll(loop_thread, crawls, db, google_news, gnews_source())

    assert polls["gnews-en"].failure is None and polls["gnews-en"].new == 2
    assert "2 Google News link(s) not resolved" in (polls["gnews-en"].warning or "")
    stored = articles(db)
    broken_link, refused_link = google_news.link(broken), google_news.link(refused)
    assert set(stored) == {broken_link, refused_link}
    assert stored[broken_link]["outlet"] == "VOD English"
    messages = [r.getMessage() for r in caplog.records]
    assert any(
        broken_link in m and "article page: HTTP 500" in m and "kept with the Google link" in m
        for m in messages
    ), messages
    assert any(refused_link in m and "no URL for this link" in m for m in messages), messages

    # The next poll does not retry before the back-off ends...
    pages = len(google_news.seen("/rss/articles/"))
    again = poll(loop_thread, crawls, db, google_news, gnews_source())
    assert again["gnews-en"].new == 0 and len(google_news.seen("/rss/articles/")) == pages
    # ...then resolves the links and the stored articles take the publishers' URLs.
    broken.page_status, refused.resolvable = 200, True
    db.execute("UPDATE google_news_links SET next_try = '2000-01-01T00:00:00+00:00'")
    db.conn.commit()
    last = poll(loop_thread, crawls, db, google_news, gnews_source())
    assert last["gnews-en"].new == 0 and last["gnews-en"].warning is None
    assert set(articles(db)) == {VOD_URL, PPP_URL}
    assert trap.targets == []


def test_google_news_batchexecute_refusal_keeps_every_item(
    loop_thread, crawls, db, google_news, trap
):
    google_news.stories = [Story(f"Story {n}", "Khmer Times", f"{KT_URL}{n}") for n in range(3)]
    google_news.batch_status = 429
    polls = poll(loop_thread, crawls, db, google_news, gnews_source())
    assert polls["gnews-en"].new == 3
    errors = {r["error"] for r in db.query("SELECT error FROM google_news_links")}
    assert errors == {"batchexecute: HTTP 429"}
    assert trap.targets == []


def test_google_news_chunked_batch_answer_resolves(loop_thread, crawls, db, google_news, trap):
    google_news.chunked = True
    google_news.stories = [Story("Police raid scam compound in Bavet", "Khmer Times", KT_URL)]
    poll(loop_thread, crawls, db, google_news, gnews_source())
    assert set(articles(db)) == {KT_URL}


def test_google_news_lookups_per_poll_are_bounded(loop_thread, crawls, db, google_news, trap):
    count = MAX_LOOKUPS + 3
    google_news.stories = [Story(f"Story {n}", "Khmer Times", f"{KT_URL}{n}") for n in range(count)]
    first = poll(loop_thread, crawls, db, google_news, gnews_source())
    assert first["gnews-en"].new == MAX_LOOKUPS
    assert "3 Google News item(s) left for the next poll" in (first["gnews-en"].warning or "")
    assert len(google_news.seen("/rss/articles/")) == MAX_LOOKUPS
    second = poll(loop_thread, crawls, db, google_news, gnews_source())
    assert second["gnews-en"].new == 3
    assert len(google_news.seen("/rss/articles/")) == count
    assert all(url.startswith(KT_URL) for url in articles(db))
    assert trap.targets == []


# End to end


@pytest.mark.slow
def test_google_news_once_alerts_with_outlet_and_links(tmp_path, google_news):
    import subprocess
    import sys

    from tests.alertkit import read_mbox, text_of

    resolved = Story("Police raid scam compound in Bavet", "Khmer Times", KT_URL)
    broken = Story("Scam compound workers freed in Poipet", "VOD English", VOD_URL)
    broken.page_status = 503
    google_news.stories = [resolved, broken]
    path = write_config(
        tmp_path,
        sources={
            "gnews-en": {
                "type": "google-news",
                "query": SEARCH,
                "language": "en",
                "region": "KH",
                "title": "Google News (English)",
            }
        },
        rules={"compounds": {"query": '"scam compound"', "channels": ["box"]}},
        channels={"box": {"type": "mbox", "path": "alerts.mbox"}},
    )
    proxy = Trap()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "tests.googlenews", google_news.origin, "once"]
            + ["--config", str(path)],
            capture_output=True,
            text=True,
            env=cli_env(proxy.environ()),
            timeout=120,
            cwd=ROOT,
        )
    finally:
        proxy.stop()
    assert done.returncode == 0, done.stderr
    assert proxy.targets == []
    assert "could not resolve Google News link" in done.stderr
    messages = {
        text_of(m).split("\n", 1)[0]: text_of(m) for m in read_mbox(tmp_path / "alerts.mbox")
    }
    bodies = "\n".join(messages.values())
    assert KT_URL in bodies and google_news.link(broken).split("?")[0] in bodies
    assert "Khmer Times" in bodies and "VOD English" in bodies
    assert "Google News (English)" not in bodies


def test_google_news_outlets_name_the_story_members(db):
    from datetime import UTC, datetime

    from alerts.outbox.matches import list_stories
    from crawler.models import Article
    from crawler.store import store_articles, story_members, story_outlets
    from crawler.stories import StoryIndex

    now = datetime(2026, 12, 1, 8, tzinfo=UTC)
    text = (
        "Police raided a suspected online scam compound in Sihanoukville on Friday, freeing"
        " more than two hundred workers from several countries who said they had been lured"
        " with offers of office jobs and then forced to defraud strangers"
    )
    items = [
        ("gnews-en", PPP_URL, "Phnom Penh Post", "Officials said."),
        ("khmertimes", KT_URL, None, "The ministry confirmed the raid on Saturday."),
        ("gnews-en", VOD_URL, "VOD English", "Families abroad had raised the alarm weeks ago."),
    ]
    index = StoryIndex(db)
    for n, (source, url, outlet, more) in enumerate(items):
        article = Article(
            url=url,
            source=source,
            title="Police raid scam compound in Sihanoukville",
            summary=f"{more} {text}",
            published=now,
            fetched=now,
            guid=f"g{n}",
            outlet=outlet,
        )
        assert store_articles(db, [article], index) == [n + 1]
    assert story_outlets(db, 1) == (("khmertimes", None), ("gnews-en", "VOD English"))
    (story,) = list_stories(db, since=now.replace(year=2000))
    assert story.outlets == ("Phnom Penh Post", "VOD English", "khmertimes")
    members = story_members(db, [story.id])[story.id]
    assert [m.outlet_name for m in members] == ["Phnom Penh Post", "khmertimes", "VOD English"]


def test_google_news_two_items_of_one_article_store_it_once(
    loop_thread, crawls, db, google_news, trap
):
    google_news.stories = [
        Story("Police raid scam compound in Bavet", "Khmer Times", KT_URL),
        Story("Bavet raid: 200 freed", "Khmer Times", KT_URL + "?utm_source=gn"),
    ]
    polls = poll(loop_thread, crawls, db, google_news, gnews_source())
    assert polls["gnews-en"].new == 1
    assert articles(db)[KT_URL]["title"] == "Police raid scam compound in Bavet"
    assert trap.targets == []


def test_google_news_unexpected_answers_and_timeouts_keep_the_items(
    loop_thread, db, google_news, trap
):
    from crawler.fetch import CrawlManager
    from tests.crawlkit import fetch_settings

    unsigned = Story("Scam compound workers freed in Poipet", "VOD English", VOD_URL)
    unsigned.signed_page = False
    slow = Story("Rescued workers return home", "Phnom Penh Post", PPP_URL)
    slow.page_delay = 3.0
    fine = Story("Police raid scam compound in Bavet", "Khmer Times", KT_URL)
    google_news.stories = [unsigned, slow, fine]
    google_news.batch_html = True
    crawls = CrawlManager(fetch_settings(timeout=1, retries=0))
    try:
        polls = poll(loop_thread, crawls, db, google_news, gnews_source())
    finally:
        loop_thread.run(crawls.aclose())
    assert polls["gnews-en"].new == 3 and polls["gnews-en"].failure is None
    errors = {r["link"]: r["error"] for r in db.query("SELECT link, error FROM google_news_links")}
    assert errors == {
        google_news.link(unsigned): "the article page has no data-n-a-sg/data-n-a-ts attributes",
        google_news.link(slow): "article page: timed out",
        google_news.link(fine): "batchexecute: not a batchexecute answer (Expecting value)",
    }
    assert set(articles(db)) == {google_news.link(s) for s in google_news.stories}
    assert trap.targets == []


def test_google_news_refusal_stops_the_lookups_of_the_poll(
    loop_thread, crawls, db, google_news, trap
):
    google_news.stories = [Story(f"Story {n}", "Khmer Times", f"{KT_URL}{n}") for n in range(6)]
    google_news.stories[0].page_status = 429
    polls = poll(loop_thread, crawls, db, google_news, gnews_source())
    assert polls["gnews-en"].new == 6  # every item kept, with its Google link
    # Google asked to back off: at most the request already under way follows the 429.
    assert len(google_news.seen("/rss/articles/")) <= 2
    assert google_news.seen(protocol.BATCHEXECUTE_PATH) == []
    errors = [r["error"] for r in db.query("SELECT error FROM google_news_links ORDER BY link")]
    assert "article page: HTTP 429" in errors
    unsent = "article page: not sent: Google answered HTTP 429 to an earlier request"
    assert errors.count(unsent) >= 4
    assert trap.targets == []
