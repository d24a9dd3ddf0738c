"""Send what is due in the outbox through the configured channels."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

import sqlite_utils

from alerts.channels.base import Alert, Channel, DeliveryError
from alerts.matcher import Hit
from alerts.outbox import (
    Delivery,
    due_deliveries,
    mark_failed_attempt,
    mark_sent,
    postpone,
)
from alerts.routing import document_for
from alerts.snippets import make_snippets
from crawler.store import get_article

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When to stop retrying a delivery."""

    max_attempts: int = 20
    max_age: timedelta = timedelta(days=2)


def build_alert(db: sqlite_utils.Database, delivery: Delivery) -> Alert | None:
    """The message content for one delivery (``None`` if its article is gone)."""
    article = get_article(db, delivery.article_id)
    if article is None:
        return None
    hits = [Hit(h.field, h.start, h.end, h.term) for h in delivery.hits]
    snippets = tuple(make_snippets(document_for(article), hits))
    return Alert(key=delivery.key, rule=delivery.rule, article=article, snippets=snippets)


async def deliver_due(
    db: sqlite_utils.Database,
    channels: Mapping[str, Channel],
    policy: RetryPolicy = RetryPolicy(),
) -> Counter[str]:
    """Try every due delivery once; returns counts by outcome (sent / retrying / failed).

    Channels are served concurrently and each channel's deliveries in order, so a down SMTP
    server delays nothing but its own messages.
    """
    by_channel: dict[str, list[Delivery]] = {}
    for delivery in due_deliveries(db):
        by_channel.setdefault(delivery.channel, []).append(delivery)
    outcome: Counter[str] = Counter()
    tasks = []
    for name, deliveries in by_channel.items():
        channel = channels.get(name)
        if channel is None:
            logger.warning(
                "%d deliveries wait for channel %r, which is not configured any more",
                len(deliveries),
                name,
            )
            outcome["waiting"] += len(deliveries)
            continue
        tasks.append(_deliver_channel(db, channel, deliveries, policy, outcome))
    await asyncio.gather(*tasks)
    return outcome


async def _deliver_channel(
    db: sqlite_utils.Database,
    channel: Channel,
    deliveries: list[Delivery],
    policy: RetryPolicy,
    outcome: Counter[str],
) -> None:
    for index, delivery in enumerate(deliveries):
        alert = build_alert(db, delivery)
        if alert is None:
            mark_failed_attempt(db, delivery, "article no longer stored", permanent=True)
            outcome["failed"] += 1
            continue
        try:
            await channel.send(alert)
        except DeliveryError as exc:
            state, next_attempt = mark_failed_attempt(
                db,
                delivery,
                str(exc),
                permanent=exc.permanent,
                retry_after=exc.retry_after,
                max_attempts=policy.max_attempts,
                max_age=policy.max_age,
            )
            outcome[state] += 1
            logger.warning(
                "delivery %s via %s %s: %s", delivery.key, channel.name,
                "failed for good" if state == "failed" else "will be retried", exc,
            )
            if next_attempt is not None:
                # The channel is down: hold the rest until the retry instead of hammering it.
                postpone(db, [d.id for d in deliveries[index + 1 :]], next_attempt)
                break
            continue
        mark_sent(db, delivery.id)
        outcome["sent"] += 1
        logger.info("sent %s via %s", delivery.key, channel.name)
