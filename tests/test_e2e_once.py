"""``newswatch once`` end to end: real HTTP feeds, real SMTP, a real webhook receiver."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.alertkit import read_mbox
from tests.clirunner import db_rows, make_due, newswatch, write_config, write_config_text
from tests.httpserver import FeedServer, rss
from tests.peers import free_port

pytestmark = pytest.mark.slow  # every test here runs newswatch in a subprocess

RULE = '(raid OR crackdown OR rescued) AND (Sihanoukville OR "Phnom Penh") AND NOT football'

ITEMS = [
    {
        "title": "Police raid scam compound in Sihanoukville",
        "link": "https://news.example.org/raid-sihanoukville?utm_source=rss&utm_medium=feed",
        "description": "Hundreds of workers were rescued in the coastal city.",
        "guid": "kt-1",
        "pubDate": "Mon, 23 Nov 2026 08:00:00 GMT",
    },
    {
        "title": "Football: Phnom Penh Crown win after police raid the pitch",
        "link": "https://news.example.org/football",
        "description": "A crackdown on fans in Phnom Penh.",
        "guid": "kt-2",
    },
    {
        "title": "Rice prices steady",
        "link": "https://news.example.org/rice",
        "description": "Nothing to see in Battambang.",
        "guid": "kt-3",
    },
]


def configure(tmp_path: Path, http_server: FeedServer, smtp, hook, **service) -> Path:
    http_server.add("/feed", rss(ITEMS), etag='"v1"')
    return write_config(
        tmp_path,
        service=service,
        sources={"kt": {"type": "rss", "url": http_server.url("/feed")}},
        rules={"scam": {"query": RULE, "channels": ["mail", "hook", "box"]}},
        channels={
            "mail": {
                "type": "email",
                "host": smtp.host,
                "port": smtp.port,
                "security": "none",
                "from": "newswatch@example.org",
                "to": ["analyst@example.org"],
            },
            "hook": {"type": "webhook", "url": hook.url, "format": "json"},
            "box": {"type": "mbox", "path": "alerts.mbox"},
        },
    )


def test_once_sends_one_email_one_webhook_one_mbox_entry_per_match(
    tmp_path, http_server, smtp_server, webhook_receiver
):
    config = configure(tmp_path, http_server, smtp_server, webhook_receiver)
    result = newswatch("once", config=config)
    assert result.returncode == 0, result.stderr
    assert "kt: fetched 3, new 3, matched 1, errors 0" in result.stdout

    (mail,) = smtp_server.wait_for(1)
    assert "scam" in mail.message["Subject"]
    assert "Police raid scam compound in Sihanoukville" in mail.message["Subject"]
    assert mail.message.is_multipart()
    (request,) = webhook_receiver.wait_for(1)
    payload = request.json()
    assert payload["version"] == 1 and payload["rule"] == "scam"
    assert payload["article"]["url"] == "https://news.example.org/raid-sihanoukville"
    assert len(read_mbox(tmp_path / "alerts.mbox")) == 1

    again = newswatch("once", config=config)
    assert again.returncode == 0, again.stderr
    assert "not modified" in again.stdout
    assert http_server.hits("/feed")[-1].headers.get("If-None-Match") == '"v1"'
    assert len(smtp_server.messages) == 1
    assert len(webhook_receiver.requests) == 1
    assert len(read_mbox(tmp_path / "alerts.mbox")) == 1


def test_once_same_article_in_two_feeds_with_tracking_tags_alerts_once(
    tmp_path, http_server, smtp_server, webhook_receiver
):
    config = configure(tmp_path, http_server, smtp_server, webhook_receiver)
    copy = dict(
        ITEMS[0], link="https://NEWS.example.org/raid-sihanoukville?fbclid=x#top", guid="o-9"
    )
    http_server.add("/other", rss([copy]))
    text = config.read_text()
    text += f'\n[sources.other]\ntype = "rss"\nurl = "{http_server.url("/other")}"\n'
    config.write_text(text)
    result = newswatch("once", config=config)
    assert result.returncode == 0, result.stderr
    assert len(db_rows(tmp_path / "newswatch.db", "SELECT * FROM articles")) == 3
    smtp_server.wait_for(1)
    assert len(smtp_server.messages) == 1
    assert len(webhook_receiver.requests) == 1


def test_once_new_items_on_a_later_poll_alert_exactly_once(
    tmp_path, http_server, smtp_server, webhook_receiver
):
    config = configure(tmp_path, http_server, smtp_server, webhook_receiver)
    assert newswatch("once", config=config).returncode == 0
    later = {
        "title": "Trafficking victims rescued in Phnom Penh raid",
        "link": "https://news.example.org/pp-raid",
        "guid": "kt-4",
    }
    http_server.add("/feed", rss([later, *ITEMS]), etag='"v2"')
    result = newswatch("once", config=config)
    assert "kt: fetched 4, new 1, matched 1, errors 0" in result.stdout
    mails = smtp_server.wait_for(2)
    assert sorted("Phnom Penh" in m.message["Subject"] for m in mails) == [False, True]
    assert len(webhook_receiver.wait_for(2)) == 2


def test_once_webhook_failure_is_retried_and_email_unaffected(
    tmp_path, http_server, smtp_server, webhook_receiver
):
    config = configure(tmp_path, http_server, smtp_server, webhook_receiver)
    webhook_receiver.respond(500)
    result = newswatch("once", config=config)
    assert result.returncode == 0, result.stderr
    assert len(smtp_server.wait_for(1)) == 1
    db = tmp_path / "newswatch.db"
    (row,) = db_rows(db, "SELECT * FROM outbox WHERE channel = 'hook'")
    assert row["state"] == "retrying" and row["attempts"] == 1
    assert "500" in row["last_error"]
    # The first retry is due within 30 s.
    created = db_rows(db, "SELECT created, next_attempt FROM outbox WHERE channel = 'hook'")[0]
    from datetime import datetime

    delay = datetime.fromisoformat(created["next_attempt"]) - datetime.fromisoformat(
        created["created"]
    )
    assert 0 < delay.total_seconds() <= 30

    # Not due yet: a run now does not retry it.
    newswatch("once", config=config)
    assert len(webhook_receiver.requests) == 1
    # Time passes (the retry falls due): the next run delivers it, once.
    make_due(db)
    result = newswatch("once", config=config)
    assert "sent 1" in result.stdout
    assert len(webhook_receiver.wait_for(2)) == 2
    assert db_rows(db, "SELECT state FROM outbox WHERE channel = 'hook'")[0]["state"] == "sent"
    assert len(smtp_server.messages) == 1


def test_once_smtp_down_keeps_mail_queued_until_it_is_back(
    tmp_path, http_server, webhook_receiver, smtp_server_factory
):
    port = free_port()
    down = SimpleNamespace(host="127.0.0.1", port=port)
    config = configure(tmp_path, http_server, down, webhook_receiver)
    result = newswatch("once", config=config)
    assert result.returncode == 0, result.stderr
    db = tmp_path / "newswatch.db"
    (row,) = db_rows(db, "SELECT * FROM outbox WHERE channel = 'mail'")
    assert row["state"] == "retrying"
    assert f"127.0.0.1:{port}" in row["last_error"]
    assert len(webhook_receiver.wait_for(1)) == 1

    back = smtp_server_factory(port=port)
    make_due(db)
    assert newswatch("once", config=config).returncode == 0
    assert len(back.messages) == 1
    assert len(webhook_receiver.requests) == 1
    assert db_rows(db, "SELECT state FROM outbox WHERE channel = 'mail'")[0]["state"] == "sent"


BROKEN = {
    "missing": dict(body="gone", status=404),
    "html": dict(body="<html><body><p>Not a feed</p></body></html>", content_type="text/html"),
    "truncated": dict(body='<?xml version="1.0"?><rss version="2.0"><channel><title>x'),
    "bomb": dict(
        body=(
            '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
            '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
            '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">'
            '<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">'
            ']><rss version="2.0"><channel><title>&lol4;</title><item><title>&lol4;</title>'
            "<link>http://example.org/bomb</link></item></channel></rss>"
        )
    ),
    "slow": dict(body="<rss/>", delay=30),
    "huge": dict(body=b"<rss>" + b" " * 300_000),
}


def test_once_broken_sources_are_reported_and_do_not_stop_the_run(
    tmp_path, http_server, smtp_server, webhook_receiver
):
    config = configure(tmp_path, http_server, smtp_server, webhook_receiver, max_size="200KB")
    text = config.read_text().replace('timeout = "5s"', 'timeout = "2s"')
    for name, route in BROKEN.items():
        http_server.add(f"/{name}", **route)
        text += f'\n[sources.{name}]\ntype = "rss"\nurl = "{http_server.url("/" + name)}"\n'
    config.write_text(text)
    result = newswatch("once", config=config)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "kt: fetched 3, new 3, matched 1, errors 0" in result.stdout
    lines = {line.split(":")[0]: line for line in result.stdout.splitlines()}
    for name in ("missing", "html", "truncated", "slow", "huge"):
        assert "errors 1" in lines[name], lines[name]
    assert "HTTP 404" in lines["missing"]
    assert "timed out" in lines["slow"]
    assert "size cap" in lines["huge"]
    # The entity bomb is defused: either refused or parsed without expansion.
    bomb_rows = db_rows(
        tmp_path / "newswatch.db", "SELECT title FROM articles WHERE source = 'bomb'"
    )
    assert all(len(r["title"] or "") < 1000 for r in bomb_rows)
    assert len(smtp_server.wait_for(1)) == 1
    failures = db_rows(tmp_path / "newswatch.db", "SELECT name, failures FROM sources")
    assert {r["name"]: r["failures"] for r in failures}["missing"] == 1


def test_once_recovers_unmatched_articles_after_a_crash(
    tmp_path, http_server, smtp_server, webhook_receiver
):
    config = configure(tmp_path, http_server, smtp_server, webhook_receiver)
    assert newswatch("once", config=config).returncode == 0
    smtp_server.wait_for(1)
    # Simulate a crash after storing but before matching, and before delivery.
    import sqlite3

    with sqlite3.connect(tmp_path / "newswatch.db") as conn:
        conn.execute("DELETE FROM outbox")
        conn.execute("DELETE FROM matches")
        conn.execute("UPDATE articles SET matched = 0")
        conn.execute("UPDATE sources SET etag = NULL")
    result = newswatch("once", config=config)
    assert "new 0" in result.stdout
    assert len(smtp_server.wait_for(2)) == 2
    assert len(db_rows(tmp_path / "newswatch.db", "SELECT * FROM matches")) == 1


def test_once_config_errors_exit_2_with_every_problem(tmp_path):
    config = write_config_text(
        tmp_path,
        """
[service]
interval = "soon"
[sources.asia-wire]
type = "atom-ish"
url = "https://example.org/feed"
[rules.r]
query = '(raid AND'
channels = ["nowhere"]
""",
    )
    result = newswatch("once", config=config)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    for path in ("service.interval", "sources.asia-wire.type", "rules.r.query", "rules.r.channels"):
        assert path in result.stderr, result.stderr


def test_check_passes_on_the_shipped_config():
    result = newswatch("check", "--config", str(Path(__file__).parents[1] / "config.toml"))
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout


@pytest.mark.parametrize("command", ["run", "once", "check"])
def test_cli_missing_config_file_is_a_config_error(tmp_path, command):
    result = newswatch(command, config=tmp_path / "nope.toml", timeout=60)
    assert result.returncode == 2
    assert "nope.toml" in result.stderr and "Traceback" not in result.stderr


def test_once_exits_3_when_every_source_fails_and_0_when_some_do(tmp_path, http_server):
    http_server.add("/ok", rss(ITEMS))
    http_server.add("/down", "gone", status=500)
    http_server.add("/missing", "nope", status=404)
    sources = {
        "down": {"type": "rss", "url": http_server.url("/down")},
        "missing": {"type": "rss", "url": http_server.url("/missing")},
    }
    channels = {"box": {"type": "mbox", "path": "alerts.mbox"}}
    rules = {"scam": {"query": RULE, "channels": ["box"]}}
    config = write_config(tmp_path, sources=sources, rules=rules, channels=channels)
    outage = newswatch("once", config=config)
    assert outage.returncode == 3, outage.stderr
    assert "down: fetched 0, new 0, matched 0, errors 1" in outage.stdout

    config = write_config(
        tmp_path,
        sources={**sources, "kt": {"type": "rss", "url": http_server.url("/ok")}},
        rules=rules,
        channels=channels,
    )
    partial = newswatch("once", config=config)
    assert partial.returncode == 0, partial.stderr
    assert "errors 1" in partial.stdout and "kt: fetched 3" in partial.stdout


def test_once_prints_each_poll_line_once(tmp_path, http_server, smtp_server, webhook_receiver):
    config = configure(tmp_path, http_server, smtp_server, webhook_receiver)
    http_server.add("/down", "gone", status=503)
    config.write_text(
        config.read_text() + f'\n[sources.down]\ntype = "rss"\nurl = "{http_server.url("/down")}"\n'
    )
    result = newswatch("once", config=config)
    both = result.stdout + result.stderr
    assert both.count("kt: fetched 3, new 3") == 1, both
    assert both.count("down: fetched 0") == 1, both
    assert "kt: fetched 3" in result.stdout and "down: fetched 0" in result.stdout


def test_once_names_the_feeds_an_html_source_advertises(tmp_path, http_server):
    http_server.add("/news.rss", rss(ITEMS))
    http_server.add(
        "/",
        '<html><head><title>Wire</title><link rel="alternate" type="application/rss+xml" '
        'href="/news.rss" title="Wire news"></head><body>Front page</body></html>',
        content_type="text/html; charset=utf-8",
    )
    config = write_config(
        tmp_path,
        sources={"wire": {"type": "rss", "url": http_server.url("/")}},
        rules={"scam": {"query": RULE, "channels": ["box"]}},
        channels={"box": {"type": "mbox", "path": "alerts.mbox"}},
    )
    result = newswatch("once", config=config)
    assert result.returncode == 3, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("wire:"))
    assert "errors 1" in line
    assert f"{http_server.url('/')} is an HTML page; it advertises feeds: " in line
    assert f"{http_server.url('/news.rss')} — use one as the source url" in line


def test_once_says_why_a_match_of_a_muted_rule_was_not_sent(tmp_path, http_server):
    http_server.add("/feed", rss(ITEMS))
    config = write_config(
        tmp_path,
        sources={"kt": {"type": "rss", "url": http_server.url("/feed")}},
        rules={"scam": {"query": RULE, "channels": ["box"], "mute_until": "2099-01-01"}},
        channels={"box": {"type": "mbox", "path": "alerts.mbox"}},
    )
    result = newswatch("once", config=config)
    assert result.returncode == 0, result.stderr
    assert "matched 1" in result.stdout
    assert "deliveries: sent 0, muted 1," in result.stdout
    assert "muted: rule scam is muted until 2099-01-01 00:00" in result.stdout
    assert "(1 alert recorded, not sent)" in result.stdout
