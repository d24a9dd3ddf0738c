"""Warnings about a valid configuration that will not do what its author wants.

``newswatch check`` prints them; nothing stops the service from starting. Rule queries are
checked by :mod:`alerts.rules.lint`; this module looks at how sections fit together: an
empty file, a source no rule reads, a rule none of whose channels can deliver.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from alerts.delivery.schedule import mute_deadline
from scheduler.config import Config, RuleSettings


def config_warnings(config: Config, now: datetime) -> list[str]:
    """Everything that looks wrong in how ``config``'s sections fit together, at ``now``."""
    sources = [name for name, s in config.sources.items() if s.enabled]
    rules = {name: r for name, r in config.rules.items() if r.enabled}
    if not config.sources and not config.rules and not config.channels:
        return [
            f"{config.path}: no sources, rules or channels are configured, so nothing will be "
            "polled or sent (newswatch init writes a commented starter config)"
        ]
    warnings = []
    if not sources:
        warnings.append("no source is configured and enabled: nothing will be polled")
    if not rules:
        warnings.append("no rule is configured and enabled: articles are stored, none alerts")
    warnings += _unread_sources(sources, rules)
    warnings += _undeliverable_rules(config, rules, now)
    return warnings


def _unread_sources(sources: list[str], rules: dict[str, RuleSettings]) -> list[str]:
    """Sources that every rule's ``sources`` list leaves out."""
    if not rules:
        return []  # already said: no rule reads anything
    limits = [rule.sources for rule in rules.values()]
    if any(not limit for limit in limits):
        return []  # a rule without a sources list reads every source
    read = {name.casefold() for limit in limits for name in limit}
    return [
        f"sources.{name}: no rule reads this source (every rule's 'sources' leaves it out), "
        "so its articles never alert"
        for name in sources
        if name.casefold() not in read
    ]


def _undeliverable_rules(
    config: Config, rules: dict[str, RuleSettings], now: datetime
) -> list[str]:
    """Rules none of whose channels can deliver, with each channel's reason."""
    reasons = {name: _channel_problem(config, name, now) for name in config.channels}
    warnings = []
    for name, rule in rules.items():
        channels = rule.channels
        problems = [f"{c} ({reasons[c]})" for c in channels if reasons.get(c)]
        if channels and len(problems) == len(channels):
            warnings.append(
                f"rules.{name}: none of its channels can deliver: {'; '.join(problems)}"
            )
    return warnings


def _channel_problem(config: Config, name: str, now: datetime) -> str | None:
    """Why channel ``name`` cannot deliver now, or None."""
    settings = config.channels[name]
    zone = ZoneInfo(config.service.timezone)
    until = mute_deadline(settings.mute_until, zone)
    if until is not None and until > now:
        return f"muted until {until.astimezone(zone):%Y-%m-%d %H:%M %Z} by its mute_until"
    check = WRITE_CHECKS.get(settings.type)
    return check(settings) if check else None


def _mbox_problem(settings: Any) -> str | None:
    """Why an mbox file cannot be appended to (its folders are created as needed), or None."""
    path: Path = settings.path
    if path.is_dir():
        return f"{path} is a folder"
    if path.exists():
        return None if os.access(path, os.W_OK) else f"{path} is not writable"
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        return f"{folder} is a file, not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"cannot create {path}: {folder} is not writable"
    return None


# Channel types whose target can be checked before anything is sent.
WRITE_CHECKS: dict[str, Callable[[Any], str | None]] = {"mbox": _mbox_problem}
