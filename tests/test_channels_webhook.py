"""WebhookChannel against a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import json
import re
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest

from alerts.channels.webhook import WebhookChannel, parse_retry_after
from alerts.render.message import webhook_payload
from tests import alertkit
from tests.alertkit import KHMER_TITLE, RAIDED, send, send_failure
from tests.peers import LOCALHOST, WebhookReceiver, free_port

SECRET = "s3cret-shared-with-receiver"
DOCS = Path(__file__).resolve().parents[1] / "docs" / "alerts.md"


make_alert = partial(alertkit.make_alert, key="r.1.hook", snippets=(RAIDED,), also=("VOD English",))


def channel_for(receiver: WebhookReceiver, **overrides: object) -> WebhookChannel:
    options: dict[str, object] = {"url": receiver.url, "timeout": 5.0}
    options.update(overrides)
    return WebhookChannel("team-hook", **options)  # type: ignore[arg-type]


def verify_signature(body: bytes, header: str, secret: str) -> bool:
    """An independent receiver-side check."""
    expected = "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)


def docs_code_blocks(language: str) -> list[str]:
    text = DOCS.read_text(encoding="utf-8")
    return re.findall(rf"```{language}\n(.*?)```", text, re.DOTALL)


def test_webhook_channel_posts_versioned_json(webhook_receiver: WebhookReceiver) -> None:
    alert = make_alert(KHMER_TITLE)
    send(channel_for(webhook_receiver, user_agent="newswatch/0.1"), alert)
    (request,) = webhook_receiver.wait_for(1)
    assert request.method == "POST" and request.path == "/hook"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == "newswatch/0.1"
    assert request.headers["idempotency-key"] == "r.1.hook"
    assert "x-newswatch-signature" not in request.headers
    assert request.json() == webhook_payload(alert)
    assert request.json()["version"] == 1
    assert KHMER_TITLE.encode("utf-8") in request.body  # raw UTF-8, not \u escapes


def test_webhook_channel_signature_verifies(webhook_receiver: WebhookReceiver) -> None:
    send(channel_for(webhook_receiver, secret=SECRET), make_alert())
    (request,) = webhook_receiver.wait_for(1)
    signature = request.headers["x-newswatch-signature"]
    assert signature.startswith("sha256=")
    assert verify_signature(request.body, signature, SECRET)
    assert not verify_signature(request.body, signature, "another secret")
    assert not verify_signature(request.body + b" ", signature, SECRET)


def test_webhook_channel_resend_is_byte_identical(webhook_receiver: WebhookReceiver) -> None:
    channel = channel_for(webhook_receiver, secret=SECRET)
    send(channel, make_alert())
    send(channel, make_alert())
    send(channel, make_alert(key="r.2.hook"))
    first, second, other = webhook_receiver.wait_for(3)
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"] == "r.1.hook"
    assert first.body == second.body
    assert first.headers["x-newswatch-signature"] == second.headers["x-newswatch-signature"]
    assert other.headers["idempotency-key"] == "r.2.hook"


def test_webhook_channel_sends_configured_headers(webhook_receiver: WebhookReceiver) -> None:
    send(channel_for(webhook_receiver, headers={"Authorization": "Bearer abc"}), make_alert())
    (request,) = webhook_receiver.wait_for(1)
    assert request.headers["authorization"] == "Bearer abc"


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_webhook_channel_accepts_any_2xx(webhook_receiver: WebhookReceiver, status: int) -> None:
    webhook_receiver.respond(status)
    send(channel_for(webhook_receiver), make_alert())
    assert len(webhook_receiver.wait_for(1)) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 408])
def test_webhook_channel_server_errors_are_retryable(
    webhook_receiver: WebhookReceiver, status: int
) -> None:
    webhook_receiver.respond(status, body="upstream\r\nbroke")
    error = send_failure(channel_for(webhook_receiver), make_alert())
    assert not error.permanent
    assert error.retry_after is None
    assert f"answered {status}" in error.message
    assert "upstream broke" in error.message  # the receiver's explanation, on one line


def test_webhook_channel_429_honours_retry_after_seconds(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.respond(429, headers={"Retry-After": "7"})
    error = send_failure(channel_for(webhook_receiver), make_alert())
    assert not error.permanent
    assert error.retry_after == 7.0


def test_webhook_channel_503_honours_retry_after_date(webhook_receiver: WebhookReceiver) -> None:
    later = datetime.now(UTC) + timedelta(seconds=120)
    webhook_receiver.respond(
        503, headers={"Retry-After": email.utils.format_datetime(later, usegmt=True)}
    )
    error = send_failure(channel_for(webhook_receiver), make_alert())
    assert not error.permanent
    assert error.retry_after is not None and 100 < error.retry_after <= 120


@pytest.mark.parametrize(
    ("status", "hint"),
    [
        (400, "JSON v1"),
        (401, "credentials"),
        (403, "credentials"),
        (404, "does not exist"),
        (410, "removed"),
        (422, "`url` and `headers`"),
    ],
)
def test_webhook_channel_client_errors_are_permanent(
    webhook_receiver: WebhookReceiver, status: int, hint: str
) -> None:
    webhook_receiver.respond(status)
    error = send_failure(channel_for(webhook_receiver), make_alert())
    assert error.permanent
    assert str(status) in error.message
    assert hint in (error.hint or "")


def test_webhook_channel_does_not_follow_redirects(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.respond(302, headers={"Location": "http://127.0.0.1:9/elsewhere"})
    error = send_failure(channel_for(webhook_receiver), make_alert())
    assert error.permanent
    assert "redirects" in (error.hint or "")
    assert len(webhook_receiver.wait_for(1)) == 1
    assert all(r.method == "POST" for r in webhook_receiver.requests)


def test_webhook_channel_hanging_receiver_times_out_retryable(
    webhook_receiver: WebhookReceiver,
) -> None:
    webhook_receiver.hang()
    error = send_failure(channel_for(webhook_receiver, timeout=0.5), make_alert())
    assert not error.permanent
    assert "timed out after 0.5s" in error.message
    assert len(webhook_receiver.wait_for(1)) == 1


def test_webhook_channel_connection_refused_is_retryable() -> None:
    port = free_port()  # nothing listens there
    channel = WebhookChannel("team-hook", url=f"http://{LOCALHOST}:{port}/hook/tok3n", timeout=5)
    error = send_failure(channel, make_alert())
    assert not error.permanent
    assert f"{LOCALHOST}:{port}" in error.message
    assert "tok3n" not in str(error)  # paths often carry tokens


def test_webhook_channel_next_request_after_failure_succeeds(
    webhook_receiver: WebhookReceiver,
) -> None:
    webhook_receiver.respond(500)
    channel = channel_for(webhook_receiver)
    assert not send_failure(channel, make_alert()).permanent
    send(channel, make_alert())
    first, second = webhook_receiver.wait_for(2)
    assert first.body == second.body


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7", 7.0),
        (" 0 ", 0.0),
        ("1.5", 1.5),
        ("-3", None),
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 60.0),
        ("Wed, 21 Oct 2015 07:26:00 GMT", 0.0),
    ],
)
def test_parse_retry_after_reads_seconds_and_dates(
    value: str | None, expected: float | None
) -> None:
    now = datetime(2015, 10, 21, 7, 27, tzinfo=UTC)
    assert parse_retry_after(value, now=now) == expected


def test_webhook_payload_json_is_what_the_docs_promise(webhook_receiver: WebhookReceiver) -> None:
    send(channel_for(webhook_receiver), make_alert())
    body = webhook_receiver.wait_for(1)[0].json()
    assert set(body) == {
        "version",
        "type",
        "id",
        "alert_id",
        "rule",
        "article",
        "snippets",
        "also_reported_by",
    }
    assert set(body["article"]) == {
        "url",
        "title",
        "source",
        "source_title",
        "published",
        "fetched",
        "summary",
        "guid",
    }
    assert body["snippets"] == [
        {"text": "a suspected scam compound was raided", "highlights": [[12, 25]]}
    ]
    assert body["also_reported_by"] == ["VOD English"]
    assert json.loads(json.dumps(body)) == body


def test_webhook_docs_verification_snippet_checks_real_requests(
    webhook_receiver: WebhookReceiver,
) -> None:
    (snippet,) = docs_code_blocks("python")
    namespace: dict[str, object] = {}
    exec(snippet, namespace)  # the exact code receivers are told to use
    verify = namespace["verify"]
    send(channel_for(webhook_receiver, secret=SECRET), make_alert())
    (request,) = webhook_receiver.wait_for(1)
    signature = request.headers["x-newswatch-signature"]
    assert verify(request.body, signature, SECRET) is True  # type: ignore[operator]
    assert verify(request.body, signature, "wrong") is False  # type: ignore[operator]


def test_webhook_docs_schema_example_matches_the_payload_shape() -> None:
    (example,) = [b for b in docs_code_blocks("json") if '"type": "match"' in b]
    documented = json.loads(example)
    actual = webhook_payload(make_alert())
    assert set(documented) == set(actual)
    assert set(documented["article"]) == set(actual["article"])
    assert set(documented["snippets"][0]) == set(actual["snippets"][0])
    text = documented["snippets"][0]["text"]
    assert [text[s:e] for s, e in documented["snippets"][0]["highlights"]] == [
        "scam compound",
        "trafficked",
    ]
