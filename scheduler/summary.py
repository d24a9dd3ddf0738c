"""The configuration in words for people: counts with their plurals, where alerts go."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from scheduler.config import Config


def plural(count: int, noun: str) -> str:
    """``1 rule``, ``2 rules``, ``0 sources``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def counts(config: Config) -> str:
    """``5 sources, 1 rule, 1 channel``."""
    return ", ".join(
        plural(len(section), noun)
        for section, noun in (
            (config.sources, "source"),
            (config.rules, "rule"),
            (config.channels, "channel"),
        )
    )


def _mbox(settings: Any) -> str:
    return _shown_path(settings.path)


def _email(settings: Any) -> str:
    return f"{', '.join(settings.to)} via {settings.host}:{settings.port}"


def _webhook(settings: Any) -> str:
    # Paths and queries of webhook URLs often hold tokens (Slack, Discord).
    parts = urlsplit(str(settings.url))
    return f"{parts.scheme}://{parts.hostname}/… ({settings.format})"


def _apprise(settings: Any) -> str:
    return f"apprise {', '.join(sorted({url.split('://', 1)[0] for url in settings.urls}))}"


# How each channel type names where it sends; a type missing here is named by its type.
DESCRIBE: dict[str, Callable[[Any], str]] = {
    "mbox": _mbox,
    "email": _email,
    "webhook": _webhook,
    "apprise": _apprise,
}


def destination(settings: Any) -> str:
    """Where a channel sends, without secrets: a file, recipients, a web address's host."""
    describe = DESCRIBE.get(settings.type)
    return describe(settings) if describe else str(settings.type)


def destinations(config: Config) -> list[str]:
    """``alerts go to alerts.mbox (channel inbox)``, one line per channel an enabled rule uses."""
    used = {c for rule in config.rules.values() if rule.enabled for c in rule.channels}
    lines = [
        f"alerts go to {destination(config.channels[name])} (channel {name})"
        for name in config.channels
        if name in used
    ]
    ops = [name for name in config.service.ops_channels if name in config.channels]
    lines += [
        f"operations alerts go to {destination(config.channels[name])} (channel {name})"
        for name in ops
    ]
    return lines or ["no enabled rule has a channel: nothing will be sent"]


def _shown_path(path: Path) -> str:
    """A path relative to the current folder when it lies inside it, else absolute."""
    try:
        relative = path.relative_to(Path.cwd())
    except ValueError:
        return str(path)
    return str(relative) if not str(relative).startswith("..") else os.fspath(path)
