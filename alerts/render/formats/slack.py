"""Slack incoming-webhook messages in Block Kit.

Feed text is escaped for Slack's mrkdwn: ``&``, ``<`` and ``>`` become entities (so a title
can neither fake a link nor ping ``<!channel>``), and ``*``, ``~`` and backticks are
replaced by look-alikes so they cannot switch formatting on or off. Headlines go into
``plain_text`` header blocks, which Slack never parses. Limits respected: header text 150
characters, section text 3000, 50 blocks per message.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from alerts.records import Alert, Digest, Notification, OpsAlert
from alerts.render.formats.views import ItemView, fit_lines, item_view, reference
from alerts.render.message import clean_line, display_time, truncate
from alerts.render.notices import digest_headline, ops_headline

HEADER_LIMIT = 150
TEXT_LIMIT = 3000
FALLBACK_LIMIT = 300
MAX_BLOCKS = 50
_MRKDWN = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "*": "∗", "~": "∼", "`": "ˋ"})


def escape(text: str) -> str:
    """Feed text made inert for mrkdwn."""
    return text.translate(_MRKDWN)


def link(url: str | None, text: str) -> str:
    """``<url|text>`` for an http(s) address, else the escaped text alone."""
    if not url:
        return escape(text)
    return f"<{quote(url, safe=_URL_SAFE)}|{escape(text)}>"


# Everything a URL may hold except what would end Slack's <url|text> early.
_URL_SAFE = "/:?#[]@!$&'()*+,;=%-._~"


def payload(item: Notification, zone: ZoneInfo) -> dict[str, Any]:
    """The Slack message for an alert, a digest or an operations alert."""
    if isinstance(item, Alert):
        return _alert(item_view(item, zone))
    if isinstance(item, Digest):
        return _digest(item, zone)
    return _ops(item, zone)


def _message(fallback: str, blocks: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "text": truncate(escape(fallback), FALLBACK_LIMIT),
        "blocks": blocks[:MAX_BLOCKS],
        "unfurl_links": False,
        "unfurl_media": False,
    }


def _header(text: str) -> dict[str, Any]:
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": truncate(text, HEADER_LIMIT), "emoji": False},
    }


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, TEXT_LIMIT)}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(text, TEXT_LIMIT)}]}


def _excerpt(view: ItemView) -> str:
    """The snippet with matched terms in bold, or the summary."""
    if not view.segments:
        return escape(view.summary)
    return "".join(
        f"*{escape(s.text.strip())}*" if s.marked and s.text.strip() else escape(s.text)
        for s in view.segments
    )


def _alert(view: ItemView) -> dict[str, Any]:
    blocks = [_header(view.title)]
    excerpt = _excerpt(view)
    if excerpt:
        blocks.append(_section(excerpt))
    meta = f"Rule *{escape(view.rule)}* · {escape(view.source)} · {escape(view.when)}"
    if view.also_reported_by:
        meta += f" · also reported by {escape(', '.join(view.also_reported_by))}"
    blocks.append(_context(meta))
    if view.link:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Read the article"},
                        "url": view.link[:3000],
                    }
                ],
            }
        )
    else:
        blocks.append(_context(f"Address: {escape(view.url)}"))
    return _message(f"[newswatch] {view.rule}: {view.title}", blocks)


def _digest(digest: Digest, zone: ZoneInfo) -> dict[str, Any]:
    headline = digest_headline(digest)
    blocks = [_header(headline)]
    period = display_time(digest.until, zone)
    if digest.since is not None:
        period = f"{display_time(digest.since, zone)} to {period}"
    blocks.append(_context(escape(period or "")))
    room = (MAX_BLOCKS - len(blocks)) // 2
    sections = list(digest.sections)
    shown = sections if len(sections) <= room else sections[: room - 1]
    for section in shown:
        count = len(section.alerts)
        lines = [f"*{escape(clean_line(section.rule))}* · {count} match{'es' * (count != 1)}"]
        lines += [_digest_line(item_view(a, zone)) for a in section.alerts] or ["No new matches."]
        blocks += [{"type": "divider"}, _section(fit_lines(lines, TEXT_LIMIT))]
    if len(shown) < len(sections):
        rest = sections[len(shown) :]
        names = ", ".join(escape(clean_line(s.rule)) for s in rest)
        blocks.append(_section(f"…and {len(rest)} more rules: {names}"))
    rules = ", ".join(digest.rules)
    return _message(f"[newswatch] {headline}" + (f" ({rules})" if rules else ""), blocks)


def _digest_line(view: ItemView) -> str:
    return f"• {link(view.link, view.title)} — {escape(view.source)}, {escape(view.when)}"


def _ops(ops: OpsAlert, zone: ZoneInfo) -> dict[str, Any]:
    headline = ops_headline(ops)
    label = "Problem" if ops.status == "broken" else "Now"
    lines = [f"*{label}:* {escape(clean_line(ops.reason))}"]
    if ops.last_error and ops.status == "broken":
        lines.append(f"*Last error:* {escape(clean_line(ops.last_error))}")
    if ops.url:
        lines.append(f"*Address:* {link(ops.url, ops.url)}")
    blocks = [
        _header(headline),
        _section("\n".join(lines)),
        _context(
            f"Noticed {escape(display_time(ops.detected, zone) or '')}"
            f" · operations {escape(reference(ops.id))}"
        ),
    ]
    return _message(f"[newswatch] {headline}", blocks)
