"""AppriseChannel through apprise's own json:// notifier to a real local receiver.

Skipped when the optional apprise package is not installed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from alerts.channels.apprise import AppriseChannel, load_apprise
from alerts.errors import DeliveryError
from scheduler.config import load_config
from scheduler.errors import ConfigError
from tests.alertkit import make_digest, make_ops, notice_alert
from tests.clirunner import write_config_text
from tests.peers import LOCALHOST, WebhookReceiver, free_port

try:
    load_apprise()
except ModuleNotFoundError:
    pytest.skip(
        'apprise is not installed (optional extra: pip install "apprise>=1.9,<2")',
        allow_module_level=True,
    )


def json_url(receiver: WebhookReceiver) -> str:
    return f"json://{LOCALHOST}:{receiver.port}/hook"


def test_apprise_channel_sends_subject_and_text(webhook_receiver: WebhookReceiver) -> None:
    channel = AppriseChannel("chat", urls=[json_url(webhook_receiver)], timeout=10)
    asyncio.run(channel.send(notice_alert()))
    (request,) = webhook_receiver.wait_for(1)
    body = request.json()
    assert body["title"] == "[newswatch] scam: Police raid compound in Sihanoukville"
    assert "**scam compound**" in body["message"] and body["type"] == "info"


def test_apprise_channel_digest_and_ops_types(webhook_receiver: WebhookReceiver) -> None:
    channel = AppriseChannel("chat", urls=[json_url(webhook_receiver)], timeout=10)
    asyncio.run(channel.send(make_digest()))
    asyncio.run(channel.send(make_ops()))
    digest, ops = (r.json() for r in webhook_receiver.wait_for(2))
    assert digest["title"].startswith("[newswatch] Digest: 3 matches")
    assert ops["title"] == "[newswatch] Source khmer-times is not working"
    assert ops["type"] == "warning"


def test_apprise_channel_failure_carries_apprises_reason(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.respond(404)
    channel = AppriseChannel("chat", urls=[json_url(webhook_receiver)], timeout=10)
    with pytest.raises(DeliveryError) as info:
        asyncio.run(channel.send(notice_alert()))
    assert not info.value.permanent  # apprise cannot tell lasting failures apart
    assert "json://" in info.value.message and "404" in info.value.message


def test_apprise_channel_unreachable_service_is_reported() -> None:
    channel = AppriseChannel("chat", urls=[f"json://{LOCALHOST}:{free_port()}/x"], timeout=10)
    with pytest.raises(DeliveryError, match="apprise could not notify json://"):
        asyncio.run(channel.send(notice_alert()))


def test_apprise_channel_rejects_urls_it_does_not_know() -> None:
    with pytest.raises(ValueError, match=r"urls\[1\] is not a URL apprise understands \(nope://\)"):
        AppriseChannel("chat", urls=["json://localhost/x", "nope://secret-token@x"])


def test_apprise_urls_are_checked_at_load_without_echoing_them(tmp_path: Path) -> None:
    path = write_config_text(
        tmp_path,
        '[channels.chat]\ntype = "apprise"\nurls = ["json://localhost/x", "nope://t0ken@x"]\n',
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    (problem,) = info.value.problems
    assert problem.path == "channels.chat.urls"
    assert "urls[1]: apprise does not understand this nope:// URL" in problem.message
    assert "t0ken" not in str(info.value)
