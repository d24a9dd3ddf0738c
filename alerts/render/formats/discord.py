"""Discord webhook messages with embeds, within Discord's limits.

Limits: embed title 256 characters, description 4096, field name 256 and value 1024,
footer 2048, at most 10 embeds and 6000 characters over all embeds of a message, message
content 2000. Feed text has Discord's markdown characters backslash-escaped, and
``allowed_mentions`` is empty, so an ``@everyone`` in a headline pings nobody.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from alerts.records import Alert, Digest, Notification, OpsAlert
from alerts.render.formats.views import ItemView, fit_lines, item_view, reference
from alerts.render.message import clean_line, display_time, iso_time, truncate
from alerts.render.notices import digest_headline, ops_headline

TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_LIMIT = 1024
FOOTER_LIMIT = 2048
CONTENT_LIMIT = 2000
MAX_EMBEDS = 10
TOTAL_LIMIT = 6000
AMBER, RED, GREEN = 0xF59E0B, 0xB91C1C, 0x15803D
# Inline markup everywhere; headings, quotes and list bullets only count at a line start.
_MARKDOWN = re.compile(r"[\\*_~|\[\]<`]|^[#>\-+]|^\d+(?=\.)")
_URL_SAFE = "/:?#@!$&'*+,;=%-._~"


def escape(text: str) -> str:
    """Feed text with every markdown character backslash-escaped."""
    # "1." becomes "1\." (a backslash before a digit would show); the rest get a "\" before.
    return _MARKDOWN.sub(
        lambda m: m.group(0) + "\\" if m.group(0)[0].isdigit() else "\\" + m.group(0), text
    )


def escape_cut(text: str, limit: int) -> str:
    """Escape, then shorten to ``limit`` without leaving a lone trailing backslash."""
    escaped = escape(text)
    if len(escaped) <= limit:
        return escaped
    cut = truncate(escaped, limit)
    body = cut.removesuffix("…")
    if (len(body) - len(body.rstrip("\\"))) % 2:  # an odd run of backslashes escapes "…"
        body = body[:-1]
    return body + "…"


def payload(item: Notification, zone: ZoneInfo) -> dict[str, Any]:
    """The Discord message for an alert, a digest or an operations alert."""
    if isinstance(item, Alert):
        embeds, content = [_alert(item_view(item, zone), item, zone)], ""
    elif isinstance(item, Digest):
        embeds, content = _digest(item, zone), _digest_content(item, zone)
    else:
        embeds, content = [_ops(item, zone)], ""
    message: dict[str, Any] = {"embeds": embeds, "allowed_mentions": {"parse": []}}
    if content:
        message["content"] = content[:CONTENT_LIMIT]
    return message


def _field(name: str, value: str) -> dict[str, Any]:
    return {"name": name, "value": value[:FIELD_LIMIT] or "-", "inline": True}


def _excerpt(view: ItemView) -> str:
    if not view.segments:
        return escape(view.summary)
    return "".join(
        f"**{escape(s.text.strip())}**" if s.marked and s.text.strip() else escape(s.text)
        for s in view.segments
    )


def _alert(view: ItemView, alert: Alert, zone: ZoneInfo) -> dict[str, Any]:
    embed: dict[str, Any] = {
        "title": escape_cut(view.title, TITLE_LIMIT),
        "description": truncate(_excerpt(view), DESCRIPTION_LIMIT),
        "color": AMBER,
        "fields": [
            _field("Rule", escape(view.rule)),
            _field("Source", escape(view.source)),
            _field("Published", escape(view.when)),
        ],
        "footer": {"text": truncate(f"newswatch {reference(view.alert_id)}", FOOTER_LIMIT)},
    }
    if view.also_reported_by:
        embed["fields"].append(_field("Also reported by", escape(", ".join(view.also_reported_by))))
    if view.link:
        embed["url"] = view.link
    else:
        embed["fields"].append(_field("Address", escape(view.url)))
    if alert.article.published is not None:
        embed["timestamp"] = iso_time(alert.article.published, ZoneInfo("UTC"))
    return embed


def _digest_content(digest: Digest, zone: ZoneInfo) -> str:
    period = display_time(digest.until, zone) or ""
    if digest.since is not None:
        period = f"{display_time(digest.since, zone)} to {period}"
    return f"**{escape(digest_headline(digest))}** · {escape(period)}"


def _digest(digest: Digest, zone: ZoneInfo) -> list[dict[str, Any]]:
    sections = list(digest.sections)
    shown = sections if len(sections) <= MAX_EMBEDS else sections[: MAX_EMBEDS - 1]
    budget = TOTAL_LIMIT
    embeds = []
    for index, section in enumerate(shown):
        count = len(section.alerts)
        title = escape_cut(
            f"{clean_line(section.rule)} · {count} match{'es' * (count != 1)}", TITLE_LIMIT
        )
        # Leave every later embed at least room for its title and a line.
        reserve = sum(min(300, TITLE_LIMIT + 44) for _ in shown[index + 1 :]) + 120
        room = max(0, min(DESCRIPTION_LIMIT, budget - len(title) - reserve))
        lines = [_digest_line(item_view(a, zone)) for a in section.alerts] or ["No new matches."]
        description = fit_lines(lines, room) if room >= 20 else ""
        embeds.append({"title": title, "description": description, "color": AMBER})
        budget -= len(title) + len(description)
    if len(shown) < len(sections):
        rest = sections[len(shown) :]
        names = escape_cut(
            ", ".join(clean_line(s.rule) for s in rest), max(20, min(1000, budget - 40))
        )
        embeds.append(
            {"title": f"…and {len(rest)} more rules", "description": names, "color": AMBER}
        )
    return embeds


def _digest_line(view: ItemView) -> str:
    title = escape_cut(view.title, 200)
    shown = f"[{title}](<{quote(view.link, safe=_URL_SAFE)}>)" if view.link else title
    return f"• {shown} — {escape(view.source)}, {escape(view.when)}"


def _ops(ops: OpsAlert, zone: ZoneInfo) -> dict[str, Any]:
    broken = ops.status == "broken"
    fields = [_field("Source", escape(clean_line(ops.source)))]
    if ops.url:
        fields.append(_field("Address", escape(ops.url)))
    if broken and ops.last_error:
        fields.append(_field("Last error", escape(clean_line(ops.last_error))))
    fields.append(_field("Noticed", escape(display_time(ops.detected, zone) or "")))
    return {
        "title": escape_cut(ops_headline(ops), TITLE_LIMIT),
        "description": escape_cut(clean_line(ops.reason), DESCRIPTION_LIMIT),
        "color": RED if broken else GREEN,
        "fields": fields,
        "footer": {"text": truncate(f"newswatch operations {reference(ops.id)}", FOOTER_LIMIT)},
    }
