"""Webhook body formats: newswatch's own versioned JSON and chat services' message formats.

Each module turns an alert, a digest or an operations alert into the JSON document one
kind of receiver expects: ``jsondoc`` (newswatch's schema, see docs/alerts.md),
``slack`` (Block Kit), ``discord`` (embeds) and ``teams`` (an Adaptive Card message).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from alerts.records import Notification
from alerts.render.formats import discord, jsondoc, slack, teams

Builder = Callable[[Notification, ZoneInfo], dict[str, Any]]
FORMATS: dict[str, Builder] = {
    "json": jsondoc.payload,
    "slack": slack.payload,
    "discord": discord.payload,
    "teams": teams.payload,
}


def build_payload(format: str, item: Notification, zone: ZoneInfo) -> dict[str, Any]:
    """The body for ``item`` in ``format`` (one of :data:`FORMATS`); times shown in ``zone``."""
    try:
        builder = FORMATS[format]
    except KeyError:
        raise ValueError(
            f"unknown webhook format {format!r} (expected one of: {', '.join(FORMATS)})"
        ) from None
    return builder(item, zone)
