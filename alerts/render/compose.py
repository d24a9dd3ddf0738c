"""Turn stored rows into what channels send: an Alert, a Digest or an OpsAlert."""

from __future__ import annotations

from datetime import UTC, datetime

from alerts.outbox.admin import alert_id, notice_id
from alerts.outbox.notices import Notice
from alerts.outbox.store import Delivery, bundled_deliveries
from alerts.records import Alert, Digest, DigestSection, Hit, Notification, OpsAlert
from alerts.routing import document_for
from alerts.rules.snippets import Snippet, make_snippets
from crawler.db import Database, from_iso
from crawler.models import Article
from crawler.store import get_article, source_titles, story_outlets

SAMPLE_TEXT = (
    "Police on Friday raided a suspected online scam compound in Sihanoukville, freeing "
    "more than 200 workers who said they had been trafficked."
)


def build_alert(db: Database, delivery: Delivery) -> Alert | None:
    """The message content for one delivery (``None`` if its article is gone)."""
    article = get_article(db, delivery.article_id)
    if article is None:
        return None
    hits = [Hit(h.field, h.start, h.end, h.term) for h in delivery.hits]
    # The message shows the headline itself: snippets come from the text only.
    snippets = tuple(make_snippets(document_for(article), hits, fields=("body",)))
    outlets = story_outlets(db, delivery.article_id)
    titles = source_titles(db, [article.source, *(source for source, _ in outlets)])
    # An aggregated item (Google News) is shown by the publisher it names, not the search.
    also = (outlet or titles[source] for source, outlet in outlets)
    return Alert(
        key=delivery.key,
        rule=delivery.rule,
        article=article,
        snippets=snippets,
        also_reported_by=tuple(dict.fromkeys(also)),
        id=alert_id(delivery.id),
        source_title=article.outlet or titles[article.source],
    )


def build_digest(db: Database, notice: Notice) -> Digest:
    """The digest a notice stands for: its alerts grouped by rule, newest first.

    Rules listed in the notice's ``empty_rules`` (``send_empty = true``) get a section
    even without matches. Alerts whose article is no longer stored are left out.
    """
    by_rule: dict[str, list[tuple[datetime, int, Alert]]] = {
        rule: [] for rule in notice.payload.get("empty_rules", [])
    }
    for delivery in bundled_deliveries(db, notice.id):
        alert = build_alert(db, delivery)
        if alert is None:
            continue
        when = alert.article.published or alert.article.fetched
        by_rule.setdefault(delivery.rule, []).append((when, delivery.id, alert))
    sections = [
        DigestSection(rule, tuple(a for _, _, a in sorted(items, key=_newest_first)))
        for rule, items in sorted(by_rule.items())
    ]
    return Digest(
        key=notice.key,
        kind=notice.kind,
        sections=tuple(sections),
        until=notice.created,
        since=notice.since,
        id=notice_id(notice.id),
    )


def _newest_first(item: tuple[datetime, int, Alert]) -> tuple[float, int]:
    when, row_id, _ = item
    moment = when if when.tzinfo else when.replace(tzinfo=UTC)
    return (-moment.timestamp(), -row_id)


def build_ops(notice: Notice) -> OpsAlert:
    """The operations alert a notice stands for."""
    payload = notice.payload
    return OpsAlert(
        key=notice.key,
        source=str(payload.get("source", "")),
        status=str(payload.get("status", "broken")),
        reason=str(payload.get("reason", "")),
        detected=from_iso(payload.get("detected")) or notice.created,
        url=payload.get("url"),
        since=from_iso(payload.get("since")),
        last_error=payload.get("last_error"),
        id=notice_id(notice.id),
    )


def build_notification(db: Database, notice: Notice) -> Notification:
    """A digest or an operations alert, depending on the notice's kind."""
    return build_ops(notice) if notice.kind == "ops" else build_digest(db, notice)


def sample_alert(channel: str, now: datetime) -> Alert:
    """A realistic alert for ``newswatch alerts test``, with a key of its own."""
    start = SAMPLE_TEXT.index("scam compound")
    article = Article(
        url="https://www.example.org/newswatch-test",
        source="newswatch test",
        title="Test alert: police raid scam compound in Sihanoukville",
        summary=SAMPLE_TEXT,
        published=now,
        fetched=now,
        guid="newswatch-test",
        language="en",
    )
    snippet = Snippet(SAMPLE_TEXT, ((start, start + len("scam compound")),))
    return Alert(
        key=f"test.{int(now.timestamp())}.{channel}",
        rule="test",
        article=article,
        snippets=(snippet,),
    )
