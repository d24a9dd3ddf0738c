"""The web interface over real HTTP: every page, escaping of feed text, sessions and CSRF,
read-only mode, and the changes a page makes (config saves, mutes, retries)."""

from __future__ import annotations

import base64
import re
import tomllib

import pytest

from alerts.outbox.mutes import active_mutes
from alerts.outbox.store import outbox_counts
from crawler.db import utcnow
from scheduler.web.passwords import hash_password
from scheduler.web.security import CONTENT_SECURITY_POLICY
from tests.archivekit import validate
from tests.webkit import HOSTILE_TITLE, Client, web_site

PAGES = ["/", "/matches", "/search?q=scam", "/rules", "/rules/new", "/rules/scam", "/sources"]
PAGES += ["/sources/new", "/deliveries"]


@pytest.fixture
def web(tmp_path, loop_thread):
    with web_site(tmp_path, loop_thread) as running:
        yield running


@pytest.mark.parametrize("path", PAGES)
def test_web_page_answers_with_strict_security_headers(web, path):
    reply = web.client.get(path)
    assert reply.status == 200, reply.text
    assert reply.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert reply.headers["X-Frame-Options"] == "DENY"
    assert reply.headers["Cache-Control"] == "no-store"
    # No inline script or style anywhere: the CSP would block it anyway.
    assert not re.search(r"<script(?![^>]*\bsrc=)", reply.text)
    assert "style=" not in reply.text and "<style" not in reply.text
    assert re.search(r' on[a-z]+="', reply.text) is None


def test_web_feed_text_is_escaped_and_hostile_links_are_not_links(web):
    for path in ("/matches", "/search?q=scam", "/rules/preview?query=scam&period=7d"):
        text = web.client.get(path).text
        assert "<script>window.pwned" not in text and "<img src=x" not in text
        assert "&lt;script&gt;window.pwned = 1&lt;/script&gt;" in text
        assert 'href="javascript:' not in text


def test_web_session_cookie_is_httponly_and_samesite(web):
    cookie = web.client.get("/").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie


def test_web_post_without_the_csrf_token_is_refused(web):
    web.client.get("/")  # a session, but no token in the form
    reply = web.client.post("/deliveries/retry", {"all": "1"})
    assert reply.status == 403 and "security token" in reply.text
    reply = web.client.post("/deliveries/retry", {"all": "1", "csrf": "forged"})
    assert reply.status == 403
    assert outbox_counts(web.db)["failed"] == 1  # nothing was retried


@pytest.mark.parametrize(
    "path", ["/rules", "/sources", "/deliveries", "/rules/scam", "/sources/new"]
)
def test_web_forms_carry_the_session_token(web, path):
    reply = web.client.get(path)
    fields = re.findall(r'name="csrf" value="([^"]*)"', reply.text)
    assert fields and set(fields) == {reply.csrf()}


def test_web_post_from_another_site_is_refused_even_with_a_token(web):
    token = web.client.token()
    reply = web.client.post(
        "/deliveries/retry", {"all": "1", "csrf": token}, headers={"Origin": "https://evil.example"}
    )
    assert reply.status == 403 and "another site" in reply.text


def test_web_every_post_route_needs_the_token(web):
    from starlette.routing import Route

    app = web.server.app.app  # the Starlette app inside the Guard
    posts = [r.path for r in app.routes if isinstance(r, Route) and "POST" in (r.methods or ())]
    assert len(posts) >= 12
    web.client.get("/")
    for path in posts:
        concrete = path.replace("{name}", "scam")
        assert web.client.post(concrete, {"x": "1"}).status == 403, path


def test_web_overview_shows_sources_rules_and_delivery_problems(web):
    text = web.client.get("/").text
    for name in ("kt", "pp", "scam", "casino"):
        assert f">{name}</a>" in text
    assert "connection refused" in text  # the failed delivery
    assert 'class="spark"' in text and "new items of kt" in text


def test_web_matches_one_entry_per_story_with_its_other_outlets(web):
    text = web.client.get("/matches?rule=scam").text
    assert text.count('class="story"') == 2  # the hostile item, and the story of kt + pp
    assert "Also carried by 1 other outlet: kt" in text  # the lead is pp's newer match
    assert "<mark>scam</mark>" in text


def test_web_pages_show_sources_by_their_display_names(web):
    from crawler.store import record_feed_title, sync_sources

    sync_sources(web.db, [(n, s.type, s.url) for n, s in web.config.sources.items()])
    record_feed_title(web.db, "kt", "Khmer Times")
    record_feed_title(web.db, "pp", "Phnom Penh Post")
    overview = web.client.get("/").text
    assert ">Khmer Times</a><br><small>kt</small>" in overview
    sources = web.client.get("/sources").text
    assert "Phnom Penh Post <small>(pp)</small>" in sources
    matches = web.client.get("/matches?rule=scam").text
    assert '<span class="source" title="source pp">Phnom Penh Post</span>' in matches
    assert "Also carried by 1 other outlet: Khmer Times" in matches
    assert "<li>Khmer Times: " in matches


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("rule=casino", 1),
        ("source=pp", 2),
        ("language=km", 0),
        ("from=2000-01-01&to=2000-01-02", 0),
    ],
)
def test_web_matches_filters(web, query, expected):
    text = web.client.get(f"/matches?{query}").text
    assert text.count('class="story"') == expected


def test_web_search_gives_the_backtest_results(web):
    text = web.client.get("/search?q=raided&period=7d").text
    assert "<strong>2</strong> of 5 articles" in text
    text = web.client.get("/search?q=raided+AND+(").text
    assert "unclosed" in text and "column 12" in text


def test_web_rule_check_places_errors_and_warnings(web):
    text = web.client.get("/rules/check?query=scam+AND%0A(raid+OR").text
    assert "line 2, column 1" in text and "unclosed" in text
    text = web.client.get("/rules/check?query=the+OR+news").text
    assert "matches almost every article" in text


def test_web_rule_preview_counts_per_day_and_source(web):
    text = web.client.get("/rules/preview?query=scam&period=7d").text
    assert "<strong>3</strong> of 5 articles" in text
    assert "kt <strong>2</strong>" in text and "pp <strong>1</strong>" in text


def test_web_rule_test_box_on_a_pasted_text(web):
    token = web.client.token("/rules/new")
    fields = {"csrf": token, "query": "scam AND raid", "try_text": "A scam raid happened."}
    reply = web.client.post("/rules/try", fields, headers={"X-Requested-With": "fetch"})
    assert reply.status == 200
    assert "<strong>match</strong>" in reply.text and "<mark>scam</mark>" in reply.text


def test_web_rule_save_keeps_comments_and_reloads(web):
    token = web.client.token("/rules/scam")
    version = re.search(r'name="version" value="([^"]+)"', web.client.get("/rules/scam").text)
    fields = {
        "csrf": token,
        "name": "scam",
        "new": "0",
        "version": version.group(1),
        "query": 'scam AND (raid OR "rescued workers")',
        "channels": "box",
        "languages": "en, km",
        "enabled": "1",
    }
    reply = web.client.post("/rules/save", fields)
    assert reply.status == 200 and "Rule scam saved" in reply.text
    text = web.config_path.read_text()
    assert "# raids on scam compounds" in text and "# The Phnom Penh Post" in text
    rule = tomllib.loads(text)["rules"]["scam"]
    assert rule["query"] == 'scam AND (raid OR "rescued workers")'
    assert rule["languages"] == ["en", "km"]
    assert web.reloads and web.config.rules["scam"].languages == ("en", "km")


def test_web_rule_save_refuses_an_invalid_result_and_keeps_the_file(web):
    before = web.config_path.read_bytes()
    token = web.client.token("/rules/new")
    fields = {"csrf": token, "name": "bad", "new": "1", "query": "raid AND (", "channels": "box"}
    reply = web.client.post("/rules/save", fields)
    assert reply.status == 422
    assert "rules.bad.query" in reply.text and "unclosed" in reply.text
    fields.update(query="raid", channels="nowhere")
    assert "unknown channel" in web.client.post("/rules/save", fields).text
    assert web.config_path.read_bytes() == before
    assert not web.reloads


def test_web_rule_save_refuses_a_file_changed_meanwhile(web):
    token = web.client.token("/rules/scam")
    web.config_path.write_text(web.config_path.read_text() + "\n# edited by hand\n")
    fields = {"csrf": token, "name": "scam", "new": "0", "version": "0123456789abcdef"}
    fields.update(query="scam", channels="box", enabled="1")
    reply = web.client.post("/rules/save", fields)
    assert reply.status == 422 and "changed by someone else" in reply.text


def test_web_rule_create_then_disable(web):
    token = web.client.token("/rules/new")
    fields = {"csrf": token, "name": "arrests", "new": "1", "query": "arrest*", "channels": "box"}
    fields["enabled"] = "1"
    assert "Rule arrests created" in web.client.post("/rules/save", fields).text
    assert web.config.rules["arrests"].query == "arrest*"
    web.client.post("/rules/arrests/enabled", {"csrf": token, "enabled": "0"})
    assert web.config.rules["arrests"].enabled is False
    assert "enabled = false" in web.config_path.read_text()


def test_web_rule_mute_and_unmute(web):
    token = web.client.token("/rules")
    reply = web.client.post("/rules/scam/mute", {"csrf": token, "for": "8h", "action": "mute"})
    assert "muted for 8h" in reply.text
    assert ("rule", "scam") in active_mutes(web.db, utcnow())
    web.client.post("/rules/scam/mute", {"csrf": token, "action": "unmute"})
    assert active_mutes(web.db, utcnow()) == {}


def test_web_source_pause_resume_and_remove(web):
    token = web.client.token("/sources")
    web.client.post("/sources/kt/enabled", {"csrf": token, "enabled": "0"})
    assert web.config.sources["kt"].enabled is False
    web.client.post("/sources/kt/enabled", {"csrf": token, "enabled": "1"})
    assert web.config.sources["kt"].enabled is True
    reply = web.client.post("/sources/pp/remove", {"csrf": token})
    assert "Source pp removed" in reply.text
    text = web.config_path.read_text()
    assert "[sources.pp]" not in text and "# --- Rules ---" in text


def test_web_retry_a_failed_delivery(web):
    token = web.client.token("/deliveries")
    failed = re.search(r'name="id" value="(\d+)"', web.client.get("/deliveries").text).group(1)
    reply = web.client.post("/deliveries/retry", {"csrf": token, "id": failed})
    assert f"Alert {failed} queued again" in reply.text
    assert outbox_counts(web.db)["failed"] == 0


def test_web_atom_feed_of_a_rule(web):
    reply = web.client.get("/feeds/scam.atom")
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("application/atom+xml")
    # Three matches, two of them one story carried by two outlets: two entries.
    assert reply.text.count("<entry>") == 2 and "Also reported by" in reply.text
    assert "&lt;script&gt;" in reply.text and "javascript:" not in reply.text
    validate(reply.text.encode())
    every = web.client.get("/feeds/all.atom")
    assert every.status == 200 and every.text.count("<entry>") == 3
    validate(every.text.encode())
    missing = web.client.get("/feeds/nothing.atom")
    assert missing.status == 404 and "no rule named nothing" in missing.text


def test_web_unknown_page_is_a_404_page(web):
    reply = web.client.get("/no/such/page")
    assert reply.status == 404 and "Not found" in reply.text


def test_web_read_only_serves_pages_and_refuses_changes(tmp_path, loop_thread):
    with web_site(tmp_path, loop_thread, read_only=True) as web:
        text = web.client.get("/rules").text
        assert ">Disable" not in text and "New rule" not in text and "read-only" in text
        token = web.client.token()
        reply = web.client.post("/deliveries/retry", {"csrf": token, "all": "1"})
        assert reply.status == 403 and "read-only" in reply.text
        fields = {"csrf": token, "name": "x", "new": "1", "query": "x", "channels": "box"}
        assert web.client.post("/rules/save", fields).status == 403
        # Reading POSTs still work: the preview and the test box.
        fields = {"csrf": token, "query": "scam", "period": "7d"}
        assert web.client.post("/rules/draft", fields).status == 200
        assert outbox_counts(web.db)["failed"] == 1


def test_web_login_required_with_a_password(tmp_path, loop_thread):
    web_settings = {"password_hash": hash_password("correct horse")}
    with web_site(tmp_path, loop_thread, web=web_settings) as web:
        reply = web.client.get("/matches", follow=False)
        assert reply.status == 303 and reply.headers["Location"] == "/login?next=%2Fmatches"
        assert web.client.get("/healthz").status == 404  # open, no probe in this site
        token = web.client.get("/login").csrf()
        first = {cookie.value for cookie in web.client.jar}  # the session id must change
        wrong = web.client.post("/login", {"csrf": token, "password": "nope", "next": "/"})
        assert wrong.status == 401 and "Wrong password" in wrong.text
        reply = web.client.post(
            "/login", {"csrf": token, "password": "correct horse", "next": "/matches"}
        )
        assert reply.status == 200 and "<h1>Matches</h1>" in reply.text
        after = {cookie.value for cookie in web.client.jar}
        assert after and not after & first
        # Feed readers may use Basic authentication.
        anonymous = Client(web.client.base)
        assert anonymous.get("/feeds/scam.atom").status == 401
        basic = {"Authorization": "Basic " + base64.b64encode(b"x:correct horse").decode()}
        assert anonymous.get("/feeds/scam.atom", headers=basic).status == 200


def test_web_login_attempts_are_rate_limited(tmp_path, loop_thread):
    with web_site(tmp_path, loop_thread, web={"password": "s3cret"}) as web:
        token = web.client.get("/login").csrf()
        statuses = [
            web.client.post("/login", {"csrf": token, "password": f"guess{n}"}).status
            for n in range(6)
        ]
        assert statuses == [401] * 5 + [429]
        # Even the right password waits now.
        reply = web.client.post("/login", {"csrf": token, "password": "s3cret"})
        assert reply.status == 429 and "Retry-After" in reply.headers


def test_web_login_redirects_only_to_this_site(tmp_path, loop_thread):
    with web_site(tmp_path, loop_thread, web={"password": "s3cret"}) as web:
        token = web.client.get("/login").csrf()
        fields = {"csrf": token, "password": "s3cret", "next": "//evil.example/"}
        reply = web.client.post("/login", fields, follow=False)
        assert reply.status == 303 and reply.headers["Location"] == "/"


def test_web_hostile_title_fixture_is_really_hostile():
    assert "<script>" in HOSTILE_TITLE and "onerror=" in HOSTILE_TITLE


@pytest.mark.parametrize(
    ("url", "title", "name"),
    [
        ("https://www.khmertimeskh.com/feed/", None, "khmertimeskh"),
        ("https://news.example.org/rss", "Mekong Daily: News!", "mekong-daily-news"),
        ("http://127.0.0.1:8000/feed", None, "source"),
        ("https://cambodia.example/feed", "ខ្មែរ", "cambodia"),
        ("https://kt.example/feed", None, "kt-2"),
    ],
)
def test_web_source_name_suggestions(url, title, name):
    from scheduler.sources_edit import suggest_name

    assert suggest_name(url, title, {"kt"}) == name


def test_web_search_page_agrees_with_the_archive_search(web):
    """The page and ``newswatch search`` share one engine: the index proposes, the matcher
    decides; the page lists the same articles, newest stored first."""
    from datetime import timedelta

    from markupsafe import escape

    from alerts.rules.archive import SearchFilter, search
    from alerts.rules.rule import Rule

    for query in ("scam", "sihanoukville AND compound", "casino OR rice", "NOT harvest"):
        since = utcnow() - timedelta(days=7)
        expected = [f.article.title for f in search(web.db, Rule("s", query), SearchFilter(since))]
        page = web.client.get(f"/search?q={query.replace(' ', '+')}&period=7d&source=").text
        places = [page.find(str(escape(title))) for title in expected]
        assert expected and -1 not in places and places == sorted(places), query
        assert f"<strong>{len(expected)}</strong>" in page
