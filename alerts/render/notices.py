"""Render digests and operations alerts for e-mail, from Jinja2 templates.

Digests use ``digest_subject.txt.j2``, ``digest.txt.j2`` and ``digest.html.j2``;
operations alerts ``ops_subject.txt.j2``, ``ops.txt.j2`` and ``ops.html.j2``. Like the
single-alert templates, each can be replaced by a file of the same name in the template
directory. Every piece of feed text goes through the same cleaning as in
:mod:`alerts.render.message`.
"""

from __future__ import annotations

from collections.abc import Sequence
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from alerts.records import Alert, Digest, Notification, OpsAlert
from alerts.render.message import (
    MUTE_FOR,
    RenderedMessage,
    alert_context,
    clean_line,
    display_time,
    environment,
    load_zone,
    render_message,
    render_template,
    truncate,
)
from alerts.render.mime import compose_email

# An e-mail digest shows this many matches per rule, then says how many more there were.
DIGEST_ITEMS_PER_RULE = 200
RULE_LIST_LIMIT = 100


def digest_headline(digest: Digest) -> str:
    """``Digest: 12 matches``, ``7 more matches`` or ``5 matches held during quiet hours``."""
    count = digest.count
    noun = "match" if count == 1 else "matches"
    if digest.kind == "overflow":
        return f"{count} more {noun}"
    if digest.kind == "quiet":
        return f"{count} {noun} held during quiet hours"
    return f"Digest: {count} {noun}" if count else "Digest: no new matches"


def ops_headline(ops: OpsAlert) -> str:
    """``Source kt is not working`` or ``Source kt is working again``."""
    name = clean_line(ops.source)
    if ops.status == "broken":
        return f"Source {name} is not working"
    return f"Source {name} is working again"


def digest_context(
    digest: Digest, zone: ZoneInfo, limit: int = DIGEST_ITEMS_PER_RULE
) -> dict[str, Any]:
    """What the digest templates may use; documented in docs/alerts.md."""
    sections: list[dict[str, Any]] = []
    for section in digest.sections:
        items = [_item(alert, zone) for alert in section.alerts[:limit]]
        sections.append(
            {
                "rule": clean_line(section.rule),
                "count": len(section.alerts),
                "matches": items,
                "omitted": max(0, len(section.alerts) - limit),
            }
        )
    rules = [s["rule"] for s in sections]
    first = next((i for s in sections for i in s["matches"]), None)
    rule = rules[0] if len(rules) == 1 else "RULE"
    return {
        "key": digest.key,
        "alert_id": digest.id,
        "mute_command": f"newswatch mute {rule} --for {MUTE_FOR}",
        "kind": digest.kind,
        "count": digest.count,
        "headline": digest_headline(digest),
        "rules": rules,
        "rule_list": truncate(", ".join(rules), RULE_LIST_LIMIT),
        "since": display_time(digest.since, zone),
        "until": display_time(digest.until, zone),
        "sections": sections,
        "preheader": first["title"] if first else digest_headline(digest),
    }


def _item(alert: Alert, zone: ZoneInfo) -> dict[str, Any]:
    context = alert_context(alert, zone)
    context["snippet"] = context["snippets"][0] if context["snippets"] else None
    return context


def ops_context(ops: OpsAlert, zone: ZoneInfo) -> dict[str, Any]:
    """What the operations templates may use; documented in docs/alerts.md."""
    url = ops.url or ""
    return {
        "key": ops.key,
        "alert_id": ops.id,
        "status": ops.status,
        "headline": ops_headline(ops),
        "source": clean_line(ops.source),
        "url": url,
        "link": url if urlsplit(url).scheme in ("http", "https") else None,
        "reason": clean_line(ops.reason),
        "last_error": clean_line(ops.last_error or ""),
        "since": display_time(ops.since, zone),
        "detected": display_time(ops.detected, zone),
        "preheader": clean_line(ops.reason),
    }


def render_digest(
    digest: Digest, *, timezone: str = "UTC", template_dir: Path | None = None
) -> RenderedMessage:
    """Render the subject, text body and HTML body of a digest."""
    return _render("digest", digest_context(digest, load_zone(timezone)), template_dir)


def render_ops(
    ops: OpsAlert, *, timezone: str = "UTC", template_dir: Path | None = None
) -> RenderedMessage:
    """Render the subject, text body and HTML body of an operations alert."""
    return _render("ops", ops_context(ops, load_zone(timezone)), template_dir)


def _render(prefix: str, context: dict[str, Any], template_dir: Path | None) -> RenderedMessage:
    env = environment(template_dir)
    subject = clean_line(render_template(env, f"{prefix}_subject.txt.j2", context))
    return RenderedMessage(
        subject=subject,
        text=render_template(env, f"{prefix}.txt.j2", context),
        html=render_template(env, f"{prefix}.html.j2", {**context, "subject": subject}),
    )


def render_any(
    item: Notification, *, timezone: str = "UTC", template_dir: Path | None = None
) -> RenderedMessage:
    """Subject, text and HTML for an alert, a digest or an operations alert."""
    if isinstance(item, Alert):
        return render_message(item, timezone=timezone, template_dir=template_dir)
    if isinstance(item, Digest):
        return render_digest(item, timezone=timezone, template_dir=template_dir)
    return render_ops(item, timezone=timezone, template_dir=template_dir)


def email_for(
    item: Notification,
    *,
    sender: str,
    to: Sequence[str],
    timezone: str = "UTC",
    template_dir: Path | None = None,
    mute_url: str | None = None,
) -> EmailMessage:
    """The e-mail message for an alert, a digest or an operations alert.

    ``mute_url`` is where recipients can ask to mute a rule; ``{rule}`` in it becomes the
    rule's name (the rules' names, comma-separated, in a digest). Operations alerts have no
    rule and get no ``List-Unsubscribe`` header.
    """
    rendered = render_any(item, timezone=timezone, template_dir=template_dir)
    if isinstance(item, Alert):
        headers = {"X-Newswatch-Rule": clean_line(item.rule)}
    elif isinstance(item, Digest):
        headers = {"X-Newswatch-Kind": item.kind}
        if item.rules:
            headers["X-Newswatch-Rule"] = truncate(", ".join(map(clean_line, item.rules)), 900)
    else:
        headers = {"X-Newswatch-Kind": "ops", "X-Newswatch-Source": clean_line(item.source)}
    return compose_email(
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        key=item.key,
        sender=sender,
        to=to,
        headers=headers,
        unsubscribe=_mute_address(mute_url, item),
    )


def _mute_address(template: str | None, item: Notification) -> str | None:
    rules = [item.rule] if isinstance(item, Alert) else getattr(item, "rules", ())
    if not template or not rules:
        return None
    return template.replace("{rule}", quote(",".join(rules), safe=","))
