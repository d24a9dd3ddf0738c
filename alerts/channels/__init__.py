"""Delivery channels: one module per channel type, registered here under its config ``type``.

A ``[channels.NAME]`` table is validated at load by the scheduler's settings model for its
``type``; :func:`channel_from_config` hands it to the registered class's ``from_config``.
Adding a channel type is one module here plus its settings model (docs/architecture.md).
"""

from __future__ import annotations

from typing import Any

from alerts.channels.apprise import AppriseChannel
from alerts.channels.base import Channel, ChannelContext
from alerts.channels.mail import MailChannel
from alerts.channels.mbox import MboxChannel
from alerts.channels.webhook import WebhookChannel

CHANNELS: dict[str, type[Channel]] = {
    "email": MailChannel,
    "webhook": WebhookChannel,
    "mbox": MboxChannel,
    "apprise": AppriseChannel,
}


def channel_from_config(name: str, settings: Any, context: ChannelContext) -> Channel:
    """The channel for one validated ``[channels.NAME]`` table, chosen by ``settings.type``."""
    try:
        kind = CHANNELS[settings.type]
    except KeyError:
        raise ValueError(
            f"unknown channel type {settings.type!r} (expected one of: {', '.join(CHANNELS)})"
        ) from None
    return kind.from_config(name, settings, context)
