"""newswatch's own webhook JSON, version 1: ``match``, ``digest`` and ``source`` documents.

Times are ISO 8601 in UTC, whatever ``service.timezone`` says, so receivers never guess.
The schema is described in docs/alerts.md.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from alerts.records import Alert, Digest, Notification, OpsAlert
from alerts.render.message import WEBHOOK_VERSION, clean_line, iso_time, webhook_payload

UTC_ZONE = ZoneInfo("UTC")


def payload(item: Notification, zone: ZoneInfo) -> dict[str, Any]:
    """The version 1 document for an alert, a digest or an operations alert."""
    if isinstance(item, Alert):
        return webhook_payload(item)
    if isinstance(item, Digest):
        return digest_document(item)
    return source_document(item)


def digest_document(digest: Digest) -> dict[str, Any]:
    """``type: "digest"``: every match of the digest, grouped by rule, newest first."""
    sections = []
    for section in digest.sections:
        matches = []
        for alert in section.alerts:
            match = webhook_payload(alert)
            matches.append(
                {
                    key: match[key]
                    for key in ("id", "alert_id", "article", "snippets", "also_reported_by")
                }
            )
        sections.append({"rule": section.rule, "matches": matches})
    return {
        "version": WEBHOOK_VERSION,
        "type": "digest",
        "id": digest.key,
        "alert_id": digest.id,
        "kind": digest.kind,
        "since": iso_time(digest.since, UTC_ZONE),
        "until": iso_time(digest.until, UTC_ZONE),
        "count": digest.count,
        "sections": sections,
    }


def source_document(ops: OpsAlert) -> dict[str, Any]:
    """``type: "source"``: a source stopped working (``broken``) or works again."""
    return {
        "version": WEBHOOK_VERSION,
        "type": "source",
        "id": ops.key,
        "alert_id": ops.id,
        "status": ops.status,
        "source": {"name": ops.source, "url": ops.url},
        "reason": clean_line(ops.reason),
        "last_error": clean_line(ops.last_error) if ops.last_error else None,
        "since": iso_time(ops.since, UTC_ZONE),
        "detected": iso_time(ops.detected, UTC_ZONE),
    }
