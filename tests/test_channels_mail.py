"""MailChannel against a real aiosmtpd server on 127.0.0.1 (plain, STARTTLS+AUTH, SMTPS)."""

from __future__ import annotations

import ssl
from functools import partial

import pytest

from alerts.channels.mail import MailChannel
from tests import alertkit
from tests.alertkit import KHMER_TITLE, RAIDED, send, send_failure
from tests.peers import LOCALHOST, SmtpPeer, free_port

make_alert = partial(alertkit.make_alert, key="r.1.mail", snippets=(RAIDED,), alert_id="")


def channel_for(peer: SmtpPeer, security: str = "none", **overrides: object) -> MailChannel:
    options: dict[str, object] = {
        "host": peer.host,
        "port": peer.port,
        "security": security,
        "username": peer.username,
        "password": peer.password,
        "sender": "newswatch <alerts@example.org>",
        "to": ["Researcher <team@example.org>", "desk@example.org"],
        "timeout": 10.0,
        "timezone": "Asia/Phnom_Penh",
        "ssl_context": peer.client_context,
    }
    options.update(overrides)
    return MailChannel("team-mail", **options)  # type: ignore[arg-type]


def test_mail_channel_sends_mute_address_as_list_unsubscribe(smtp_server: SmtpPeer) -> None:
    mute = "mailto:newswatch-admin@example.org?subject=mute%20{rule}"
    send(channel_for(smtp_server, mute_url=mute), make_alert())
    (mail,) = smtp_server.wait_for(1)
    assert mail.message["List-Unsubscribe"] == (
        "<mailto:newswatch-admin@example.org?subject=mute%20scam-crackdown>"
    )


def test_mail_channel_delivers_multipart_message(smtp_server: SmtpPeer) -> None:
    send(channel_for(smtp_server), make_alert())
    (mail,) = smtp_server.wait_for(1)
    assert mail.mail_from == "alerts@example.org"
    assert mail.rcpt_tos == ["team@example.org", "desk@example.org"]
    msg = mail.message
    assert msg["Subject"] == "[newswatch] scam-crackdown: Police raid compound in Sihanoukville"
    assert msg["Message-ID"] == "<r.1.mail@example.org>"
    assert msg["X-Newswatch-Key"] == "r.1.mail"
    assert msg["List-Unsubscribe"] is None
    assert msg["To"] == "Researcher <team@example.org>, desk@example.org"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    text = msg.get_body(("plain",)).get_content()
    assert "**scam compound**" in text
    assert "2024-05-03 14:05 UTC+07:00 (Asia/Phnom_Penh)" in text
    assert not mail.tls


def test_mail_channel_resend_keeps_message_id(smtp_server: SmtpPeer) -> None:
    channel = channel_for(smtp_server)
    send(channel, make_alert())
    send(channel, make_alert())
    first, second = smtp_server.wait_for(2)
    assert first.message["Message-ID"] == second.message["Message-ID"]


def test_mail_channel_starttls_with_login(smtp_server_starttls: SmtpPeer) -> None:
    send(channel_for(smtp_server_starttls, "starttls"), make_alert(KHMER_TITLE))
    (mail,) = smtp_server_starttls.wait_for(1)
    assert mail.tls
    assert mail.login == smtp_server_starttls.username
    assert mail.message["Subject"] == f"[newswatch] scam-crackdown: {KHMER_TITLE}"


def test_mail_channel_implicit_tls_with_login(smtp_server_tls: SmtpPeer) -> None:
    send(channel_for(smtp_server_tls, "tls"), make_alert())
    (mail,) = smtp_server_tls.wait_for(1)
    assert mail.tls
    assert mail.login == smtp_server_tls.username


def test_mail_channel_wrong_password_is_permanent(smtp_server_starttls: SmtpPeer) -> None:
    channel = channel_for(smtp_server_starttls, "starttls", password="wrong")
    error = send_failure(channel, make_alert())
    assert error.permanent
    assert f"{LOCALHOST}:{smtp_server_starttls.port}" in error.message
    assert "535" in error.message
    assert "username and password" in (error.hint or "")
    assert smtp_server_starttls.messages == []


def test_mail_channel_untrusted_certificate_is_retryable_tls_error(
    smtp_server_starttls: SmtpPeer,
) -> None:
    channel = channel_for(
        smtp_server_starttls, "starttls", ssl_context=ssl.create_default_context()
    )
    error = send_failure(channel, make_alert())
    assert not error.permanent
    assert error.message.startswith(f"TLS refused by {LOCALHOST}:{smtp_server_starttls.port}")
    assert "certificate" in error.message


def test_mail_channel_tls_against_plain_server_is_tls_error(smtp_server: SmtpPeer) -> None:
    error = send_failure(channel_for(smtp_server, "tls"), make_alert())
    assert not error.permanent
    assert error.message.startswith(f"TLS refused by {LOCALHOST}:{smtp_server.port}")


def test_mail_channel_starttls_not_offered_is_permanent(smtp_server: SmtpPeer) -> None:
    error = send_failure(channel_for(smtp_server, "starttls"), make_alert())
    assert error.permanent
    assert "STARTTLS" in error.message and 'security = "tls"' in (error.hint or "")


def test_mail_channel_server_down_is_retryable_and_names_host_port() -> None:
    port = free_port()  # nothing listens there
    channel = MailChannel(
        "team-mail",
        host=LOCALHOST,
        port=port,
        security="none",
        sender="alerts@example.org",
        to=["team@example.org"],
        timeout=5.0,
    )
    error = send_failure(channel, make_alert())
    assert not error.permanent
    assert f"{LOCALHOST}:{port}" in error.message
    assert "refused the connection" in error.message


def test_mail_channel_rejected_recipient_is_permanent(smtp_server: SmtpPeer) -> None:
    smtp_server.reject_recipient("team@example.org")
    smtp_server.reject_recipient("desk@example.org", "550 5.7.1 Relaying denied")
    error = send_failure(channel_for(smtp_server), make_alert())
    assert error.permanent
    assert "team@example.org: 550" in error.message and "Relaying denied" in error.message


def test_mail_channel_temporarily_refused_recipient_is_retryable(smtp_server: SmtpPeer) -> None:
    smtp_server.reject_recipient("team@example.org", "450 4.2.1 Mailbox busy")
    smtp_server.reject_recipient("desk@example.org", "451 4.3.0 Try later")
    error = send_failure(channel_for(smtp_server), make_alert())
    assert not error.permanent


def test_mail_channel_partial_recipient_refusal_still_delivers(smtp_server: SmtpPeer) -> None:
    smtp_server.reject_recipient("desk@example.org")
    send(channel_for(smtp_server), make_alert())
    (mail,) = smtp_server.wait_for(1)
    assert mail.rcpt_tos == ["team@example.org"]


@pytest.mark.parametrize(
    ("reply", "permanent"), [("451 4.3.0 Queue full", False), ("554 5.7.1 Rejected as spam", True)]
)
def test_mail_channel_data_refusal_follows_reply_class(
    smtp_server: SmtpPeer, reply: str, permanent: bool
) -> None:
    smtp_server.fail_data(reply)
    error = send_failure(channel_for(smtp_server), make_alert())
    assert error.permanent is permanent
    assert reply.split()[0] in error.message
    assert f"{LOCALHOST}:{smtp_server.port}" in error.message


def test_mail_channel_title_cannot_add_recipients(smtp_server: SmtpPeer) -> None:
    send(channel_for(smtp_server), make_alert("Raid\r\nBcc: evil@x.example\r\nX-Evil: 1"))
    (mail,) = smtp_server.wait_for(1)
    assert mail.rcpt_tos == ["team@example.org", "desk@example.org"]
    assert mail.message["Bcc"] is None and mail.message["X-Evil"] is None
    head = mail.raw.split(b"\r\n\r\n", 1)[0]
    assert b"\nBcc:" not in head and b"\nX-Evil:" not in head
