"""Templates, and the filters that turn stored (hostile) text into safe HTML.

Autoescaping is on for every template, so feed titles, snippets and error messages are
escaped wherever they are printed. The only markup built in Python is
:func:`snippet_html`, which escapes every piece of text itself and adds ``<mark>`` around
the hits. Links to articles pass through :func:`safe_href`: only http(s) addresses become
links, so a ``javascript:`` URL in a feed is shown as text, never made clickable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from alerts.rules.snippets import Snippet
from crawler.db import utcnow


def safe_href(url: str | None) -> str | None:
    """``url`` when it is an http(s) address, else None (no link is made)."""
    if not url:
        return None
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return None
    return url.strip() if scheme in ("http", "https") else None


def snippet_html(snippet: Snippet) -> Markup:
    """A snippet as HTML: its text escaped, its hits in ``<mark>``."""
    out, last = [], 0
    for start, end in snippet.highlights:
        out.append(escape(snippet.text[last:start]))
        out.append(Markup("<mark>%s</mark>") % snippet.text[start:end])
        last = end
    out.append(escape(snippet.text[last:]))
    return Markup("").join(out)


def ago(value: datetime | None, now: datetime | None = None) -> str:
    """``4m ago`` / ``in 6m`` / ``2d3h ago``."""
    if value is None:
        return "never"
    delta = (now or utcnow()) - value
    future = delta < timedelta(0)
    text = _span(abs(delta))
    return f"in {text}" if future else f"{text} ago"


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return f"{seconds}s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if minutes < 60:
        return f"{minutes}m"
    if hours < 48:
        return f"{hours}h{minutes % 60}m" if hours < 10 and minutes % 60 else f"{hours}h"
    return f"{days}d{hours % 24}h" if days < 10 and hours % 24 else f"{days}d"


def make_environment(timezone: str) -> Environment:
    """The Jinja environment of the pages; times are shown in ``timezone``."""
    env = Environment(
        loader=PackageLoader("scheduler.web", "templates"),
        autoescape=select_autoescape(["html", "xml"], default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    zone = ZoneInfo(timezone)

    def local(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        if value is None:
            return "-"
        return value.astimezone(zone).strftime(fmt)

    env.filters.update(
        local=local,
        ago=ago,
        snippet=snippet_html,
        href=safe_href,
        number=lambda n: f"{n:,}",
    )
    env.globals.update(sparkline=sparkline)
    return env


def day_series(
    counts: Mapping[str, int], days: int, *, today: date | None = None
) -> list[tuple[str, int]]:
    """``days`` consecutive days ending today, with their counts (0 when missing)."""
    end = today or datetime.now(UTC).date()
    keys = [(end - timedelta(days=n)).isoformat() for n in range(days - 1, -1, -1)]
    return [(key, counts.get(key, 0)) for key in keys]


def local_today(timezone: str, now: datetime | None = None) -> date:
    """Today's date in ``timezone``."""
    return (now or utcnow()).astimezone(ZoneInfo(timezone)).date()


def shift_minutes(timezone: str, now: datetime | None = None) -> int:
    """How far ``timezone`` is ahead of UTC now, in minutes (for per-day counts in SQL)."""
    offset = (now or utcnow()).astimezone(ZoneInfo(timezone)).utcoffset()
    return int(offset.total_seconds() // 60) if offset else 0


def sparkline(series: Iterable[tuple[str, int]], label: str, *, width: int = 112) -> Markup:
    """A small bar chart as inline SVG (attributes only: no inline style, for the CSP)."""
    points = list(series)
    if not points:
        return Markup("")
    height, top = 24, max(n for _, n in points) or 1
    bar = width / len(points)
    total = sum(n for _, n in points)
    name = escape(f"{label}: {total} in {len(points)} days")
    parts = [
        f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{name}">',
        f'<rect class="base" x="0" y="{height - 1}" width="{width}" height="1"></rect>',
    ]
    for index, (day, count) in enumerate(points):
        tall = 0 if not count else max(1.5, count / top * (height - 2))
        parts.append(
            f'<rect x="{index * bar:.1f}" y="{height - tall:.1f}" width="{max(bar - 1, 1):.1f}" '
            f'height="{tall:.1f}"><title>{escape(day)}: {int(count)}</title></rect>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # every piece of text in it is escaped above


def render(env: Environment, name: str, context: Mapping[str, Any]) -> str:
    """Render one template."""
    return env.get_template(name).render(context)
