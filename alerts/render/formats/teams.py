"""Microsoft Teams messages: an Adaptive Card (version 1.4) in a ``message`` envelope.

This is what Teams incoming webhooks and Workflows ("Post to a channel when a webhook
request is received") accept. Feed text travels in ``TextRun`` elements of
``RichTextBlock``s, which Teams shows verbatim (no markdown), with matched terms
highlighted. A card stays well under Teams' 28 KB message limit: a digest lists at most
:data:`DIGEST_ITEMS` matches, and no more than :data:`DIGEST_BYTES` of them as sent (long
titles in scripts of several bytes per character fill it sooner), and counts the rest.
"""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import ZoneInfo

from alerts.records import Alert, Digest, Notification, OpsAlert
from alerts.render.formats.views import ItemView, item_view, reference
from alerts.render.message import clean_line, display_time, truncate
from alerts.render.notices import digest_headline, ops_headline

CARD_VERSION = "1.4"
DIGEST_ITEMS = 40
DIGEST_BYTES = 24_000
SECTION_BYTES = 400
TITLE_LIMIT = 300


def payload(item: Notification, zone: ZoneInfo) -> dict[str, Any]:
    """The Teams message for an alert, a digest or an operations alert."""
    if isinstance(item, Alert):
        body, actions = _alert(item_view(item, zone))
    elif isinstance(item, Digest):
        body, actions = _digest(item, zone), []
    else:
        body, actions = _ops(item, zone)
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "msteams": {"width": "Full"},
        "body": body,
    }
    if actions:
        card["actions"] = actions
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


def run(text: str, **style: Any) -> dict[str, Any]:
    """A ``TextRun``: literal text, never parsed as markdown."""
    return {"type": "TextRun", "text": text, **style}


def rich(*inlines: dict[str, Any], **options: Any) -> dict[str, Any]:
    """A ``RichTextBlock`` of text runs."""
    return {"type": "RichTextBlock", "inlines": list(inlines), **options}


def _open(url: str) -> dict[str, Any]:
    return {"type": "Action.OpenUrl", "url": url}


def _title_run(view: ItemView, **style: Any) -> dict[str, Any]:
    title = run(truncate(view.title, TITLE_LIMIT), **style)
    if view.link:
        title["selectAction"] = _open(view.link)
    return title


def _alert(view: ItemView) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    body = [
        rich(run(f"newswatch · rule {view.rule}", size="Small", isSubtle=True)),
        rich(_title_run(view, size="Large", weight="Bolder")),
        rich(run(f"{view.source} · {view.when}", isSubtle=True)),
    ]
    if view.segments:
        runs = [
            run(s.text, highlight=True, weight="Bolder") if s.marked else run(s.text)
            for s in view.segments
        ]
        body.append(rich(*runs, separator=True))
    elif view.summary:
        body.append(rich(run(view.summary), separator=True))
    if view.also_reported_by:
        body.append(
            rich(run(f"Also reported by: {', '.join(view.also_reported_by)}", isSubtle=True))
        )
    if not view.link:
        body.append(rich(run(f"Address: {view.url}", isSubtle=True)))
    actions = [{**_open(view.link), "title": "Read the article"}] if view.link else []
    return body, actions


def _digest(digest: Digest, zone: ZoneInfo) -> list[dict[str, Any]]:
    period = display_time(digest.until, zone) or ""
    if digest.since is not None:
        period = f"{display_time(digest.since, zone)} to {period}"
    body = [
        rich(run(digest_headline(digest), size="Large", weight="Bolder")),
        rich(run(period, isSubtle=True)),
    ]
    left = DIGEST_ITEMS
    # each section's heading, box and "…and N more" line come first
    budget = DIGEST_BYTES - SECTION_BYTES * len(digest.sections)
    for section in digest.sections:
        count = len(section.alerts)
        items: list[dict[str, Any]] = [
            rich(
                run(
                    f"{clean_line(section.rule)} · {count} match{'es' * (count != 1)}",
                    weight="Bolder",
                )
            )
        ]
        if not section.alerts:
            items.append(rich(run("No new matches.", isSubtle=True)))
        shown = 0
        for alert in section.alerts:
            if left <= 0:
                break
            view = item_view(alert, zone)
            line = rich(_title_run(view), run(f" — {view.source}, {view.when}", isSubtle=True))
            size = _sent_size(line)
            if size > budget:
                left = 0
                break
            items.append(line)
            budget -= size
            left -= 1
            shown += 1
        if hidden := count - shown:
            items.append(rich(run(f"…and {hidden} more", isSubtle=True)))
        body.append({"type": "Container", "separator": True, "items": items})
    return body


def _sent_size(block: dict[str, Any]) -> int:
    """Bytes a block adds to the body as the webhook channel sends it."""
    return len(json.dumps(block, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def _ops(ops: OpsAlert, zone: ZoneInfo) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    broken = ops.status == "broken"
    body = [
        rich(
            run(
                ops_headline(ops),
                size="Large",
                weight="Bolder",
                color="Attention" if broken else "Good",
            )
        ),
        rich(run("Problem: " if broken else "Now: ", weight="Bolder"), run(clean_line(ops.reason))),
    ]
    if broken and ops.last_error:
        body.append(rich(run("Last error: ", weight="Bolder"), run(clean_line(ops.last_error))))
    if ops.url:
        body.append(rich(run("Address: ", weight="Bolder"), run(ops.url)))
    noticed = f"Noticed {display_time(ops.detected, zone)} · operations {reference(ops.id)}"
    body.append(rich(run(noticed, isSubtle=True)))
    return body, []
