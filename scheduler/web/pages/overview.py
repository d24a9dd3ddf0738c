"""``/``: every source's health, every rule's recent matches, delivery problems, the service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alerts.outbox.admin import QueueEntry, list_entries
from alerts.outbox.matches import daily_match_counts
from alerts.outbox.mutes import active_mutes
from alerts.outbox.store import FAILED, RETRYING
from crawler.db import Database, table_names, utcnow
from crawler.store import daily_article_counts
from scheduler.config import Config
from scheduler.status import Status, status_of
from scheduler.web.daycounts import DayCounts
from scheduler.web.pages.common import page, site_of, web_of
from scheduler.web.render import day_series, local_today

SOURCE_DAYS = 14
RULE_DAYS = 7
PROBLEMS_SHOWN = 8


@dataclass(frozen=True, slots=True)
class Overview:
    """Everything the overview shows that comes from the database."""

    status: Status
    source_days: dict[str, list[tuple[str, int]]]
    rule_days: dict[str, list[tuple[str, int]]]
    problems: list[QueueEntry]
    mutes: dict[tuple[str, str], datetime]


def gather_overview(db: Database, config: Config, now: datetime, days: DayCounts) -> Overview:
    """Read what the overview shows, in one read-only connection."""
    today = local_today(config.service.timezone, now)
    status = status_of(db, config, now)
    tables = table_names(db)
    articles = days.counts(db, daily_article_counts, config=config, days=SOURCE_DAYS, now=now)
    matches: dict[str, dict[str, int]] = {}
    problems: list[QueueEntry] = []
    mutes: dict[tuple[str, str], datetime] = {}
    if "matches" in tables:
        matches = days.counts(db, daily_match_counts, config=config, days=RULE_DAYS, now=now)
        problems = list_entries(db, state=(FAILED, RETRYING), limit=PROBLEMS_SHOWN)
        mutes = active_mutes(db, now)
    return Overview(
        status=status,
        source_days={
            name: day_series(articles.get(name, {}), SOURCE_DAYS, today=today)
            for name in config.sources
        },
        rule_days={
            name: day_series(matches.get(name, {}), RULE_DAYS, today=today) for name in config.rules
        },
        problems=problems,
        mutes=mutes,
    )


async def overview(request: Request) -> Response:
    """The overview page."""
    site = site_of(request)
    config = site.config
    data = await site.read(gather_overview, config, utcnow(), web_of(request).day_counts)
    service = site.service() if site.service is not None else None
    return await page(request, "overview.html", title="Overview", data=data, service=service)


routes = [Route("/", overview, name="overview")]
