"""Build the running objects (database, crawler, matcher, channels) from a loaded config."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlite_utils

from alerts import outbox
from alerts.channels.base import Channel
from alerts.channels.mail import MailChannel
from alerts.channels.mbox import MboxChannel
from alerts.channels.webhook import WebhookChannel
from alerts.delivery import RetryPolicy
from alerts.matcher import Matcher
from alerts.rules import Rule
from crawler.fetch import CrawlManager, FetchSettings
from crawler.models import Source
from crawler.stories import StoryIndex
from crawler.store import open_database, sync_sources
from scheduler.config import Config


@dataclass
class Runtime:
    """Everything a poll or a delivery needs, built once per config (re)load."""

    config: Config
    db: sqlite_utils.Database
    crawls: CrawlManager
    matcher: Matcher
    routes: dict[str, tuple[str, ...]]
    channels: dict[str, Channel]
    sources: dict[str, Source] = field(default_factory=dict)
    stories: StoryIndex | None = None

    def interval_of(self, source: str) -> timedelta:
        """The poll interval of a source (its own, else the service default)."""
        settings = self.config.sources.get(source)
        interval = getattr(settings, "interval", None)
        return interval or self.config.service.interval

    def cron_of(self, source: str) -> str | None:
        """The source's cron schedule, if it has one instead of an interval."""
        return getattr(self.config.sources.get(source), "cron", None)

    @property
    def retry_policy(self) -> RetryPolicy:
        service = self.config.service
        return RetryPolicy(service.retry_max_attempts, service.retry_max_age)

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
    return [
        Rule(
            name=name,
            query=rule.query,
            exclude=rule.exclude,
            languages=tuple(rule.languages),
            sources=tuple(rule.sources),
            min_hits=rule.min_hits,
        )
        for name, rule in config.rules.items()
        if rule.enabled
    ]


def _secret(value: Any) -> str | None:
    if value is None:
        return None
    reveal = getattr(value, "get_secret_value", None)
    return reveal() if reveal else str(value)


def build_channel(name: str, settings: Any, config: Config) -> Channel:
    """One channel object from its settings."""
    timezone = config.service.timezone
    kind = settings.type
    if kind == "email":
        return MailChannel(
            name,
            host=settings.host,
            port=settings.port,
            security=settings.security,
            username=_secret(settings.username),
            password=_secret(settings.password),
            sender=settings.sender,
            to=tuple(settings.to),
            timeout=settings.timeout.total_seconds(),
            timezone=timezone,
        )
    if kind == "webhook":
        return WebhookChannel(
            name,
            url=str(settings.url),
            format=settings.format,
            headers=dict(settings.headers),
            secret=_secret(settings.secret),
            timeout=settings.timeout.total_seconds(),
            user_agent=config.service.user_agent,
        )
    if kind == "mbox":
        return MboxChannel(name, path=settings.path, timezone=timezone)
    raise ValueError(f"unknown channel type {kind!r}")  # config validation prevents this


def build_channels(config: Config) -> dict[str, Channel]:
    """Every configured channel."""
    return {name: build_channel(name, s, config) for name, s in config.channels.items()}


def enabled_sources(config: Config) -> dict[str, Source]:
    """Configured sources that are enabled, as crawler records."""
    return {name: s.to_source() for name, s in config.sources.items() if s.enabled}


def open_store(config: Config) -> sqlite_utils.Database:
    """Open the database with every stage's tables and the configured sources."""
    db = open_database(config.service.database)
    outbox.ensure_schema(db)
    sync_sources(db, [(s.name, s.type, s.url) for s in enabled_sources(config).values()])
    return db


def build_runtime(config: Config, db: sqlite_utils.Database | None = None) -> Runtime:
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
