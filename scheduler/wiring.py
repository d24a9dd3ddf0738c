"""Build the running objects (database, crawler, matcher, channels) from a loaded config."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from alerts.channels import channel_from_config
from alerts.channels.base import Channel, ChannelContext
from alerts.delivery.health import HealthPolicy
from alerts.delivery.policy import ChannelPolicy, Policy, RulePolicy
from alerts.delivery.rounds import RetryPolicy
from alerts.delivery.schedule import QuietHours, mute_deadline, parse_cron
from alerts.rules.matcher import Matcher
from alerts.rules.rule import Rule
from crawler.db import Database, open_database
from crawler.fetch import CrawlManager, FetchSettings
from crawler.models import Source
from crawler.store import sync_sources
from crawler.stories import StoryIndex
from scheduler.config import ChannelSettings, Config


@dataclass
class Runtime:
    """Everything a poll or a delivery needs, built once per config (re)load."""

    config: Config
    db: Database
    crawls: CrawlManager
    matcher: Matcher
    routes: dict[str, tuple[str, ...]]
    channels: dict[str, Channel]
    sources: dict[str, Source] = field(default_factory=dict)
    stories: StoryIndex | None = None
    # Called with a rule's name for every match (the service counts them for /metrics).
    on_match: Callable[[str], None] | None = None

    def interval_of(self, source: str) -> timedelta:
        """The poll interval of a source (its own, else the service default)."""
        settings = self.config.sources.get(source)
        interval = getattr(settings, "interval", None)
        return interval or self.config.service.interval

    def cron_of(self, source: str) -> str | None:
        """The source's cron schedule, if it has one instead of an interval."""
        return getattr(self.config.sources.get(source), "cron", None)

    @functools.cached_property
    def alert_policy(self) -> Policy:
        """Retries, digests, quiet hours, hourly limits and mutes, for deliver_due."""
        return build_policy(self.config)

    @functools.cached_property
    def health_policy(self) -> HealthPolicy:
        """When sources count as broken and where operations alerts go."""
        return build_health_policy(self.config)

    async def aclose(self) -> None:
        """Stop crawls, close channels and the database."""
        await self.crawls.aclose()
        for channel in self.channels.values():
            await channel.aclose()
        self.db.close()


def fetch_settings(config: Config) -> FetchSettings:
    """Crawler limits from ``[service]``."""
    service = config.service
    return FetchSettings(
        user_agent=service.user_agent,
        timeout=service.timeout.total_seconds(),
        max_size=service.max_size,
        obey_robots=service.obey_robots,
        concurrency_per_host=service.concurrency_per_host,
    )


def build_rules(config: Config) -> list[Rule]:
    """The enabled rules as matcher input."""
    return [rule.to_rule(name) for name, rule in config.rules.items() if rule.enabled]


def template_dir(config: Config) -> Path | None:
    """The user's template folder, when it exists."""
    folder = config.service.templates
    return folder if folder.is_dir() else None


def channel_context(config: Config) -> ChannelContext:
    """What every channel takes from ``[service]``."""
    service = config.service
    return ChannelContext(
        timezone=service.timezone,
        template_dir=template_dir(config),
        user_agent=service.user_agent,
    )


def build_channel(name: str, settings: ChannelSettings, config: Config) -> Channel:
    """One channel object from its validated settings."""
    return channel_from_config(name, settings, channel_context(config))


def build_channels(config: Config) -> dict[str, Channel]:
    """Every configured channel."""
    return {name: build_channel(name, s, config) for name, s in config.channels.items()}


def enabled_sources(config: Config) -> dict[str, Source]:
    """Configured sources that are enabled, as crawler records."""
    return {name: s.to_source() for name, s in config.sources.items() if s.enabled}


def configured_titles(config: Config) -> dict[str, str | None]:
    """Each source's configured display name (``title``), None where it has none."""
    return {name: settings.title for name, settings in config.sources.items()}


def open_store(config: Config) -> Database:
    """Open the database with every stage's tables and the configured sources."""
    db = open_database(config.service.database)
    sources = [(s.name, s.type, s.url) for s in enabled_sources(config).values()]
    sync_sources(db, sources, titles=configured_titles(config))
    return db


def build_runtime(config: Config, db: Database | None = None) -> Runtime:
    """Build the runtime for ``config`` (reusing ``db`` on reload)."""
    rules = build_rules(config)
    db = db if db is not None else open_store(config)
    return Runtime(
        config=config,
        db=db,
        crawls=CrawlManager(fetch_settings(config)),
        matcher=Matcher.build(rules),
        routes=routes_of(config),
        channels=build_channels(config),
        sources=enabled_sources(config),
        stories=StoryIndex(db, threshold=config.service.near_duplicate),
    )


def routes_of(config: Config) -> dict[str, tuple[str, ...]]:
    """Rule name to channel names."""
    return {name: tuple(r.channels) for name, r in config.rules.items() if r.enabled}


def build_policy(config: Config) -> Policy:
    """What happens to matches before they are sent, from rules' and channels' settings."""
    service = config.service
    zone = ZoneInfo(service.timezone)
    rules = {
        name: RulePolicy(
            channels=tuple(rule.channels),
            digest=parse_cron(rule.digest, zone) if rule.mode == "digest" and rule.digest else None,
            send_empty=rule.send_empty,
            mute_until=mute_deadline(rule.mute_until, zone),
        )
        for name, rule in config.rules.items()
        if rule.enabled
    }
    channels = {
        name: ChannelPolicy(
            max_per_hour=channel.max_per_hour,
            quiet_hours=QuietHours.parse(channel.quiet_hours) if channel.quiet_hours else None,
            mute_until=mute_deadline(channel.mute_until, zone),
        )
        for name, channel in config.channels.items()
    }
    retry = RetryPolicy(service.retry_max_attempts, service.retry_max_age)
    return Policy(retry=retry, rules=rules, channels=channels, timezone=service.timezone)


def build_health_policy(config: Config) -> HealthPolicy:
    """Source-health settings: failures before an alert, per-source staleness, ops channels."""
    return HealthPolicy(
        failure_alert_after=config.service.failure_alert_after,
        stale_after={
            name: s.stale_after for name, s in config.sources.items() if s.stale_after is not None
        },
        ops_channels=tuple(config.service.ops_channels),
        urls={name: str(s.url) for name, s in config.sources.items()},
    )
