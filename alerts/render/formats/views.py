"""Display-ready pieces shared by the chat formats: cleaned titles, times, snippets."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from alerts.records import Alert
from alerts.render.message import Segment, alert_context, truncate


@dataclass(frozen=True, slots=True)
class ItemView:
    """One alert as chat formats show it. Text is cleaned (one line, no controls)."""

    key: str
    alert_id: str
    rule: str
    title: str
    url: str
    link: str | None
    source: str
    when: str
    segments: tuple[Segment, ...]
    summary: str
    also_reported_by: tuple[str, ...]

    @property
    def excerpt(self) -> str:
        """The first snippet as plain text, or the summary."""
        return "".join(s.text for s in self.segments) or self.summary


def item_view(alert: Alert, zone: ZoneInfo) -> ItemView:
    """The :class:`ItemView` of ``alert`` with times in ``zone``."""
    context = alert_context(alert, zone)
    snippets = context["snippets"]
    when = context["published"] or f"first seen {context['first_seen']}"
    return ItemView(
        key=alert.key,
        alert_id=alert.id,
        rule=context["rule"],
        title=context["title"],
        url=context["url"],
        link=context["link"],
        source=context["source"],
        when=when,
        segments=snippets[0].segments if snippets else (),
        summary=context["summary"],
        also_reported_by=tuple(context["also_reported_by"]),
    )


def reference(alert_id: str) -> str:
    """How a message names itself for people: the ID ``newswatch alerts list`` shows."""
    return f"alert {alert_id}" if alert_id else "test alert"


def fit_lines(lines: list[str], limit: int, more: str = "…and {n} more") -> str:
    """Join ``lines`` with newlines within ``limit`` characters; the cut lines are counted.

    ``more`` is appended (with the number left out) when not everything fits.
    """
    out: list[str] = []
    used = 0
    for index, line in enumerate(lines):
        rest = len(lines) - index - 1
        reserve = len(more.format(n=rest + 1)) + 1 if rest else 0
        cost = len(line) + (1 if out else 0)
        if used + cost + reserve > limit:
            tail = more.format(n=len(lines) - index)
            return "\n".join([*out, tail]) if out else truncate(tail, limit)
        out.append(line)
        used += cost
    return "\n".join(out)
