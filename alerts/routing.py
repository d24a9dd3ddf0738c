"""Run rules over newly stored articles and queue one delivery per (rule, story, channel).

A rule alerts once per story: when a rule matches a copy of a story it already alerted on
(another outlet's version, or a later revision of the same article), the match is recorded,
so digests and "also reported by" lines can show it, but no delivery is queued.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

from alerts.outbox.matches import already_alerted
from alerts.outbox.store import count_deliveries, record_match
from alerts.records import Hit
from alerts.rules.matcher import Document, Matcher, RuleMatch
from crawler.db import Database, write_transaction
from crawler.models import Article
from crawler.store import mark_matched, still_unmatched, unmatched_articles

logger = logging.getLogger(__name__)


def document_for(article: Article) -> Document:
    """What rules see of an article."""
    return Document(
        title=article.title,
        body=article.body,
        source=article.source,
        url=article.url,
        language=article.language,
    )


def match_pending(
    db: Database,
    matcher: Matcher,
    routes: Mapping[str, Sequence[str]],
    *,
    batch: int = 500,
    on_match: Callable[[str], None] | None = None,
) -> Counter[str]:
    """Match every stored article not matched yet; returns the number of matches per source.

    ``routes`` maps each rule name to its channel names. Each batch of articles is matched,
    then its matches, deliveries and ``matched`` flags are committed in one transaction
    (one commit per article was most of the cost of matching), so an interrupted run
    resumes exactly where it stopped and never records a match twice.
    """
    per_source: Counter[str] = Counter()
    while pending := unmatched_articles(db, limit=batch):
        found = [
            (article_id, article, matcher.match(document_for(article)))
            for article_id, article in pending
        ]
        # Workers sharing a database match one batch at a time; an article another
        # worker matched meanwhile is left as it is.
        with write_transaction(db, serialize="matching"):
            open_ids = still_unmatched(db, [article_id for article_id, _, _ in found])
            found = [entry for entry in found if entry[0] in open_ids]
            for article_id, _, results in found:
                for result in results:
                    hits = [Hit(h.field, h.start, h.end, h.term) for h in result.hits]
                    seen = already_alerted(db, result.rule, article_id)
                    record_match(
                        db,
                        rule=result.rule,
                        article_id=article_id,
                        hits=hits,
                        channels=() if seen else routes.get(result.rule, ()),
                    )
                mark_matched(db, article_id)
        for _, article, results in found:
            per_source[article.source] += len(results)
            for result in results:
                logger.info("rule %s matched %s (%s)", result.rule, article.url, article.source)
                if on_match is not None:
                    on_match(result.rule)
    return per_source


def queue_matches(
    db: Database,
    rule: str,
    channels: Sequence[str],
    matches: Mapping[int, RuleMatch],
) -> tuple[int, int]:
    """Queue the deliveries of matches found after the fact (``rules backtest --send``).

    Goes through the same outbox as live matching, oldest article first, so a story alerts
    once and running it again queues nothing twice. Returns (deliveries queued now,
    matches that queued nothing because they were queued before or their story alerted).
    """
    queued = skipped = 0
    for article_id in sorted(matches):
        hits = [Hit(h.field, h.start, h.end, h.term) for h in matches[article_id].hits]
        with write_transaction(db):
            before = count_deliveries(db, rule, article_id)
            seen = already_alerted(db, rule, article_id)
            record_match(
                db,
                rule=rule,
                article_id=article_id,
                hits=hits,
                channels=() if seen else channels,
            )
            added = count_deliveries(db, rule, article_id) - before
        queued += added
        skipped += not added
    return queued, skipped
