"""``newswatch alerts list | retry | test`` and ``newswatch mute``, run as real subprocesses
against real local feeds, webhook receivers and SMTP servers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.alertkit import read_mbox
from tests.clirunner import db_rows, make_due, newswatch, write_config
from tests.httpserver import FeedServer, rss
from tests.peers import SMTP_PASSWORD, SMTP_USER, SmtpPeer, TlsFiles, WebhookReceiver

pytestmark = pytest.mark.slow  # every test here runs newswatch in a subprocess

ITEMS = [
    {"title": "Police raid compound in Bavet", "link": "https://n.example.org/1", "guid": "1"},
    {"title": "Rice harvest", "link": "https://n.example.org/2", "guid": "2"},
]


def configure(
    tmp_path: Path, http_server: FeedServer, channels: dict[str, dict[str, Any]], **rule: Any
) -> Path:
    http_server.add("/feed", rss(ITEMS))
    return write_config(
        tmp_path,
        service={"timezone": "Asia/Phnom_Penh"},
        sources={"kt": {"type": "rss", "url": http_server.url("/feed")}},
        rules={"scam": {"query": "raid", "channels": list(channels), **rule}},
        channels=channels,
    )


def add_item(http_server: FeedServer, title: str, guid: str) -> None:
    http_server.add(
        "/feed",
        rss([{"title": title, "link": f"https://n.example.org/{guid}", "guid": guid}, *ITEMS]),
    )


def test_alerts_list_shows_failed_alerts_and_retry_sends_them(
    tmp_path, http_server, webhook_receiver: WebhookReceiver
):
    config = configure(
        tmp_path, http_server, {"hook": {"type": "webhook", "url": webhook_receiver.url}}
    )
    webhook_receiver.respond(404, body="no such hook")
    assert newswatch("once", config=config).returncode == 0
    listing = newswatch("alerts", "list", "--state", "failed", config=config)
    assert listing.returncode == 0, listing.stderr
    header, line = listing.stdout.splitlines()
    assert header.split()[:4] == ["ID", "STATE", "TRIES", "NEXT"]
    alert_id = line.split()[0]
    assert " failed " in line and "scam" in line and "hook" in line
    assert "Police raid compound in Bavet" in line and "404" in line

    retried = newswatch("alerts", "retry", alert_id, config=config)
    assert retried.returncode == 0, retried.stderr
    assert f"queued again: {alert_id}" in retried.stdout
    (row,) = db_rows(tmp_path / "newswatch.db", "SELECT state, attempts FROM outbox")
    assert row == {"state": "pending", "attempts": 0}
    assert newswatch("once", config=config).returncode == 0
    assert len(webhook_receiver.wait_for(2)) == 2
    sent = newswatch("alerts", "list", config=config).stdout
    assert f"{alert_id}   sent" in sent or " sent " in sent.splitlines()[1]


def test_alerts_retry_all_failed_and_bad_ids(tmp_path, http_server, webhook_receiver):
    config = configure(
        tmp_path, http_server, {"hook": {"type": "webhook", "url": webhook_receiver.url}}
    )
    webhook_receiver.respond(401)
    newswatch("once", config=config)
    add_item(http_server, "Second raid", "3")
    webhook_receiver.respond(410)
    newswatch("once", config=config)
    db = tmp_path / "newswatch.db"
    assert [r["state"] for r in db_rows(db, "SELECT state FROM outbox")] == ["failed", "failed"]
    bad = newswatch("alerts", "retry", "999", "n7", "abc", config=config)
    assert bad.returncode == 1
    assert "999: no such alert" in bad.stderr and "abc: not an id" in bad.stderr
    ok = newswatch("alerts", "retry", "--all-failed", config=config)
    assert ok.returncode == 0 and "queued 2 failed alerts again" in ok.stdout
    again = newswatch("alerts", "retry", "1", config=config)
    assert again.returncode == 1 and "it is pending, not failed" in again.stderr
    assert newswatch("alerts", "retry", config=config).returncode == 2  # nothing to retry given


def test_alert_message_names_the_id_that_alerts_list_and_retry_use(tmp_path, http_server):
    # Issue 11: the footer showed the delivery key (with the article's number, 3 here)
    # while `alerts list` showed the alert's own number (2), and retry 3 took another alert.
    config = configure(tmp_path, http_server, {"box": {"type": "mbox", "path": "alerts.mbox"}})
    assert newswatch("once", config=config).returncode == 0
    add_item(http_server, "Second raid in Bavet", "3")
    assert newswatch("once", config=config).returncode == 0
    first, second = read_mbox(tmp_path / "alerts.mbox")
    text = second.get_body(("plain",)).get_content()
    assert second["X-Newswatch-Key"] == "scam.3.box"
    assert 'newswatch alert 2, rule "scam"' in text
    assert "scam.3.box" not in text and "scam.3.box" not in second.get_body(("html",)).get_content()
    assert "newswatch mute scam --for 7d" in text
    listing = newswatch("alerts", "list", config=config).stdout.splitlines()
    (row,) = [line for line in listing if "Second raid in Bavet" in line]
    assert row.split()[0] == "2"


def test_alerts_list_without_database_says_so(tmp_path, http_server):
    config = configure(tmp_path, http_server, {"box": {"type": "mbox", "path": "a.mbox"}})
    result = newswatch("alerts", "list", config=config)
    assert result.returncode == 0 and "no alerts yet" in result.stdout
    assert not (tmp_path / "newswatch.db").exists()


def test_mute_through_the_cli_records_matches_as_muted(tmp_path, http_server):
    config = configure(tmp_path, http_server, {"box": {"type": "mbox", "path": "alerts.mbox"}})
    muted = newswatch("mute", "scam", "--for", "2d", config=config)
    assert muted.returncode == 0, muted.stderr
    assert "rule scam muted until" in muted.stdout and "recorded as muted" in muted.stdout
    assert "rule scam: muted until" in newswatch("mute", config=config).stdout

    assert newswatch("once", config=config).returncode == 0
    assert read_mbox(tmp_path / "alerts.mbox") == []
    listing = newswatch("alerts", "list", "--state", "muted", config=config).stdout
    assert "Police raid compound in Bavet" in listing and "muted: rule scam" in listing

    lifted = newswatch("mute", "scam", "--clear", config=config)
    assert "mute lifted" in lifted.stdout
    assert "nothing is muted" in newswatch("mute", config=config).stdout
    add_item(http_server, "Another raid in Poipet", "4")
    assert newswatch("once", config=config).returncode == 0
    (message,) = read_mbox(tmp_path / "alerts.mbox")
    assert "Another raid in Poipet" in message["Subject"]


def test_once_uses_templates_next_to_the_config(tmp_path, http_server):
    config = configure(tmp_path, http_server, {"box": {"type": "mbox", "path": "alerts.mbox"}})
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "subject.txt.j2").write_text("ALERT {{ rule }}: {{ source }}\n")
    assert newswatch("once", config=config).returncode == 0
    (message,) = read_mbox(tmp_path / "alerts.mbox")
    # {{ source }} is the outlet's display name: no title configured, so the feed's own.
    assert message["Subject"] == "ALERT scam: Test feed"
    assert "Police raid compound in Bavet" in message.get_body(("plain",)).get_content()


def test_mute_rejects_unknown_names_and_bad_durations(tmp_path, http_server):
    config = configure(tmp_path, http_server, {"box": {"type": "mbox", "path": "alerts.mbox"}})
    unknown = newswatch("mute", "scma", "--for", "1d", config=config)
    assert unknown.returncode == 2 and "did you mean 'scam'" in unknown.stderr
    bad = newswatch("mute", "scam", "--for", "soon", config=config)
    assert bad.returncode == 2 and "invalid duration 'soon'" in bad.stderr
    past = newswatch("mute", "box", "--channel", "--until", "2001-01-01", config=config)
    assert past.returncode == 2 and "already past" in past.stderr
    both = newswatch("mute", "scam", "--for", "1d", "--clear", config=config)
    assert both.returncode == 2 and "exactly one" in both.stderr
    channel = newswatch("mute", "box", "--channel", "--until", "2099-01-01", config=config)
    assert channel.returncode == 0 and "channel box muted until 2099-01-01 00:00" in channel.stdout


def test_alerts_test_reports_success_and_webhook_errors(tmp_path, http_server, webhook_receiver):
    config = configure(
        tmp_path,
        http_server,
        {"hook": {"type": "webhook", "url": webhook_receiver.url, "format": "slack"}},
    )
    ok = newswatch("alerts", "test", "hook", config=config)
    assert ok.returncode == 0, ok.stderr
    assert "sent a test alert through hook" in ok.stdout
    (request,) = webhook_receiver.wait_for(1)
    assert "Test alert" in request.json()["blocks"][0]["text"]["text"]

    webhook_receiver.respond(404, body="no_service")
    failed = newswatch("alerts", "test", "hook", config=config)
    assert failed.returncode == 1
    assert "answered 404" in failed.stderr and "no_service" in failed.stderr
    assert "does not exist" in failed.stderr  # the hint
    unknown = newswatch("alerts", "test", "hok", config=config)
    assert unknown.returncode == 2 and "did you mean 'hook'" in unknown.stderr


def mail_channel(peer: SmtpPeer, **overrides: Any) -> dict[str, Any]:
    settings = {
        "type": "email",
        "host": peer.host,
        "port": peer.port,
        "security": "starttls",
        "username": SMTP_USER,
        "password": "${SMTP_PASSWORD}",
        "from": "newswatch@example.org",
        "to": ["analyst@example.org"],
    }
    settings.update(overrides)
    return settings


def test_alerts_test_reports_smtp_login_and_tls_errors(
    tmp_path, http_server, smtp_server_starttls: SmtpPeer, tls_files: TlsFiles
):
    peer = smtp_server_starttls
    channels = {
        "mail": mail_channel(peer),
        "implicit": mail_channel(peer, security="tls"),
    }
    config = configure(tmp_path, http_server, channels)
    env = {"SSL_CERT_FILE": str(tls_files.cert), "SMTP_PASSWORD": SMTP_PASSWORD}
    ok = newswatch("alerts", "test", "mail", config=config, env=env)
    assert ok.returncode == 0, ok.stderr
    (mail,) = peer.wait_for(1)
    assert mail.tls and mail.login == SMTP_USER
    assert mail.message["Subject"].startswith("[newswatch] test: Test alert")

    wrong = newswatch("alerts", "test", "mail", config=config, env={**env, "SMTP_PASSWORD": "nope"})
    assert wrong.returncode == 1
    assert f"rejected the login of '{SMTP_USER}'" in wrong.stderr and "535" in wrong.stderr
    tls = newswatch("alerts", "test", "implicit", config=config, env=env, timeout=60)
    assert tls.returncode == 1
    assert f"{peer.host}:{peer.port}" in tls.stderr and "Traceback" not in tls.stderr
    assert len(peer.messages) == 1


def test_once_digest_waits_while_smtp_is_down_then_goes_out_once(
    tmp_path, http_server, smtp_server_factory, tls_files: TlsFiles
):
    peer = smtp_server_factory("starttls", auth=True)
    config = configure(
        tmp_path, http_server, {"mail": mail_channel(peer)}, mode="digest", digest="0 8 * * *"
    )
    env = {"SSL_CERT_FILE": str(tls_files.cert), "SMTP_PASSWORD": SMTP_PASSWORD}
    db = tmp_path / "newswatch.db"
    assert newswatch("once", config=config, env=env).returncode == 0
    assert [r["state"] for r in db_rows(db, "SELECT state FROM outbox")] == ["digest"]
    assert peer.messages == []

    peer.stop()
    make_due(db)  # 08:00 has come
    assert newswatch("once", config=config, env=env).returncode == 0
    (notice,) = db_rows(db, "SELECT * FROM notices")
    assert notice["state"] == "retrying" and f"{peer.host}:{peer.port}" in notice["last_error"]
    listing = newswatch("alerts", "list", config=config, env=env)
    assert f"n{notice['id']}" in listing.stdout, listing.stderr
    assert "digest: 1 match (scam)" in listing.stdout

    peer.start()
    make_due(db)
    result = newswatch("once", config=config, env=env)
    assert "sent 1" in result.stdout, result.stdout + result.stderr
    (mail,) = peer.wait_for(1)
    assert mail.message["Subject"] == "[newswatch] Digest: 1 match (scam)"
    assert mail.message["Message-ID"] == f"<digest.{notice['id']}.mail@example.org>"
    make_due(db)
    assert newswatch("once", config=config, env=env).returncode == 0
    assert len(peer.messages) == 1
    assert [r["state"] for r in db_rows(db, "SELECT state FROM outbox")] == ["sent"]
