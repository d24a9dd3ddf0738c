"""Channels are chosen by their config ``type`` from one registry, alerts.channels.CHANNELS."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.channels import CHANNELS, channel_from_config
from alerts.channels.apprise import AppriseChannel, load_apprise
from alerts.channels.base import ChannelContext
from alerts.channels.mail import MailChannel
from alerts.channels.mbox import MboxChannel
from alerts.channels.webhook import WebhookChannel
from scheduler.config import load_config
from scheduler.config_models import CHANNEL_TYPES
from scheduler.wiring import build_channels
from tests.clirunner import write_config_text

CONFIG = """\
[service]
timezone = "Asia/Phnom_Penh"
user_agent = "desk-watch/2"

[channels.team-mail]
type = "email"
host = "smtp.example.org"
security = "tls"
username = "newswatch"
password = "pw"
from = "Newswatch <newswatch@example.org>"
to = ["desk@example.org", "Editor <editor@example.org>"]
timeout = "12s"

[channels.team-hook]
type = "webhook"
url = "https://hooks.example.org/T0/B0"
format = "slack"
headers = { Authorization = "Bearer t0ken" }
secret = "s3cret"

[channels.archive]
type = "mbox"
path = "alerts.mbox"
"""


def _has_apprise() -> bool:
    try:
        load_apprise()
    except ModuleNotFoundError:
        return False
    return True


def test_channels_registry_matches_the_config_models():
    assert list(CHANNELS) == list(CHANNEL_TYPES)


def test_channels_registry_builds_every_type_from_loaded_config(tmp_path: Path) -> None:
    folder = tmp_path.resolve()
    (folder / "templates").mkdir()
    text = CONFIG
    if _has_apprise():
        text += '\n[channels.chat]\ntype = "apprise"\nurls = ["json://localhost/hook"]\n'
    path = write_config_text(folder, text)
    config = load_config(path, environ={})
    channels = build_channels(config)
    assert {name: type(c) for name, c in channels.items()} == {
        name: CHANNELS[settings.type] for name, settings in config.channels.items()
    }

    mail = channels["team-mail"]
    assert isinstance(mail, MailChannel)
    assert (mail.name, mail.host, mail.port, mail.security) == (
        "team-mail",
        "smtp.example.org",
        465,
        "tls",
    )
    assert (mail.username, mail.password, mail.timeout) == ("newswatch", "pw", 12.0)
    assert mail.to == ("desk@example.org", "Editor <editor@example.org>")
    assert (mail.timezone, mail.template_dir) == ("Asia/Phnom_Penh", folder / "templates")

    hook = channels["team-hook"]
    assert isinstance(hook, WebhookChannel)
    assert (hook.url, hook.format, hook.secret, hook.timeout) == (
        "https://hooks.example.org/T0/B0",
        "slack",
        "s3cret",
        30.0,
    )
    assert hook.headers == {"User-Agent": "desk-watch/2", "Authorization": "Bearer t0ken"}
    assert str(hook.zone) == "Asia/Phnom_Penh"

    archive = channels["archive"]
    assert isinstance(archive, MboxChannel)
    assert archive.path == folder / "alerts.mbox"
    assert (archive.timezone, archive.template_dir) == ("Asia/Phnom_Penh", folder / "templates")

    if "chat" in channels:
        assert isinstance(channels["chat"], AppriseChannel)


def test_channels_registry_refuses_an_unknown_type() -> None:
    class Settings:
        type = "pigeon"

    with pytest.raises(ValueError, match="unknown channel type 'pigeon'"):
        channel_from_config("loft", Settings(), ChannelContext())
