"""``/rules``: every rule with its recent matches; enable, disable, mute for a while."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alerts.delivery.schedule import mute_deadline
from alerts.outbox.matches import daily_match_counts
from alerts.outbox.mutes import active_mutes, clear_mute, set_mute
from crawler.db import Database, table_names, utcnow
from scheduler.config import Config
from scheduler.config_edit import set_enabled
from scheduler.web.daycounts import DayCounts
from scheduler.web.pages.common import back, page, read_form, site_of, web_of
from scheduler.web.pages.editing import save_config
from scheduler.web.render import day_series, local_today

DAYS = 7
MUTE_CHOICES = {
    "1h": timedelta(hours=1),
    "8h": timedelta(hours=8),
    "1d": timedelta(days=1),
    "7d": timedelta(days=7),
}


@dataclass(frozen=True, slots=True)
class RuleRow:
    """One rule as the list shows it."""

    name: str
    query: str
    channels: tuple[str, ...]
    enabled: bool
    mode: str
    muted_until: datetime | None
    week: int
    days: list[tuple[str, int]]


def gather_rules(db: Database, config: Config, now: datetime, days: DayCounts) -> list[RuleRow]:
    """Every configured rule with its matches per day and its mute."""
    zone = config.service.timezone
    counts: dict[str, dict[str, int]] = {}
    mutes: dict[tuple[str, str], datetime] = {}
    if "matches" in table_names(db):
        counts = days.counts(db, daily_match_counts, config=config, days=DAYS, now=now)
        mutes = active_mutes(db, now)
    today = local_today(zone, now)
    rows = []
    for name, rule in config.rules.items():
        configured = mute_deadline(rule.mute_until, ZoneInfo(zone))
        stored = mutes.get(("rule", name))
        ends = [t for t in (configured, stored) if t is not None and t > now]
        series = day_series(counts.get(name, {}), DAYS, today=today)
        rows.append(
            RuleRow(
                name=name,
                query=rule.query,
                channels=tuple(rule.channels),
                enabled=rule.enabled,
                mode=rule.mode,
                muted_until=max(ends) if ends else None,
                week=sum(n for _, n in series),
                days=series,
            )
        )
    return rows


async def list_rules(request: Request) -> Response:
    """The list of rules."""
    site = site_of(request)
    rows = await site.read(gather_rules, site.config, utcnow(), web_of(request).day_counts)
    return await page(request, "rules.html", title="Rules", rows=rows, mute_choices=MUTE_CHOICES)


async def toggle_rule(request: Request) -> Response:
    """Enable or disable a rule (``enabled = false`` in config.toml)."""
    name = request.path_params["name"]
    form = await read_form(request)
    enabled = form.get("enabled") == "1"
    saved = await save_config(
        request, lambda doc: set_enabled(doc, "rules", name, enabled), form.get("version")
    )
    if saved is None:
        return back(request, "/rules")
    word = "enabled" if enabled else "disabled"
    return back(request, "/rules", f"Rule {name} {word}; the service is using the change now.")


async def mute_rule(request: Request) -> Response:
    """Mute a rule's alerts for a while (kept in the database), or lift the mute."""
    name = request.path_params["name"]
    site = site_of(request)
    if name not in site.config.rules:
        return back(request, "/rules", f"There is no rule named {name}.", "error")
    form = await read_form(request)
    if form.get("action") == "unmute":
        site.write(clear_mute, "rule", name)
        return back(request, "/rules", f"Rule {name} is no longer muted.")
    length = MUTE_CHOICES.get(form.get("for"))
    if length is None:
        return back(request, "/rules", "Choose how long to mute the rule.", "error")
    now = utcnow()
    site.write(set_mute, "rule", name, now + length, now)
    return back(
        request,
        "/rules",
        f"Rule {name} muted for {form.get('for')}: its matches are recorded, not sent.",
    )


routes = [
    Route("/rules", list_rules, name="rules"),
    Route("/rules/{name}/enabled", toggle_rule, methods=["POST"]),
    Route("/rules/{name}/mute", mute_rule, methods=["POST"]),
]
