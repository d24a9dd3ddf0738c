"""What the commands do, as plain functions the CLI (and tests) call."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from alerts.channels.base import Channel
from alerts.delivery.health import check_sources
from alerts.delivery.rounds import Policy, deliver_all_due
from alerts.outbox.admin import last_alert_id, muted_after
from alerts.outbox.store import outbox_counts
from alerts.routing import queue_matches
from alerts.rules.lint import lint_rule, word_form_warnings
from alerts.rules.matcher import RuleMatch
from crawler.db import Database, open_database, utcnow
from scheduler.cluster import exclusive
from scheduler.config import Config
from scheduler.config_warnings import config_warnings
from scheduler.heap import building, bulk
from scheduler.lock import AlreadyRunningError, InstanceLock
from scheduler.polling import PollSummary, poll_sources
from scheduler.runloop import run_async
from scheduler.service import Service
from scheduler.summary import counts
from scheduler.wiring import build_channels, build_policy, build_rules, build_runtime

logger = logging.getLogger(__name__)


def run_service(config: Config) -> tuple[int, bool]:
    """``newswatch run``: hold the instance lock and serve until stopped."""

    async def serve() -> int:
        with building():
            service = Service(build_runtime(config))
        await service.run()
        return 0

    with InstanceLock(config.service.database):
        return run_async(serve())


@dataclass(frozen=True, slots=True)
class OnceReport:
    """What ``newswatch once`` did: one summary per source polled, and the lines to print."""

    summaries: list[PollSummary]
    lines: list[str] = field(default_factory=list)

    @property
    def all_failed(self) -> bool:
        """Every source polled failed (and at least one was polled): a total outage."""
        return bool(self.summaries) and all(s.error for s in self.summaries)


def run_once(config: Config) -> tuple[OnceReport, bool]:
    """``newswatch once``: poll everything now, deliver what is due; returns the report."""

    async def once() -> OnceReport:
        with building():
            runtime = build_runtime(config)
        try:
            mark = last_alert_id(runtime.db)
            with bulk():
                summaries = await poll_sources(runtime, list(runtime.sources.values()))
            with exclusive(runtime.db, "source-health") as mine:
                if mine:
                    check_sources(runtime.db, runtime.sources, runtime.health_policy, utcnow())
            outcome = await _deliver(runtime.db, runtime.channels, runtime.alert_policy)
            counts = outbox_counts(runtime.db)
            muted = muted_after(runtime.db, mark)
        finally:
            await runtime.aclose()
        lines = [s.line() for s in summaries] + delivery_lines(outcome, counts, muted)
        return OnceReport(summaries, lines)

    with InstanceLock(config.service.database):
        return run_async(once())


async def _deliver(
    db: Database, channels: Mapping[str, Channel], policy: Policy
) -> Mapping[str, int]:
    """Every due delivery, unless a worker sharing the database is delivering (it sends
    them)."""
    with exclusive(db, "delivery") as mine:
        if not mine:
            return {}
        return await deliver_all_due(db, channels, policy)


def delivery_lines(
    outcome: Mapping[str, int], counts: Mapping[str, int], muted: Mapping[str, int]
) -> list[str]:
    """``deliveries: sent 1, ...`` and, for matches muted in this round, why they were not sent."""
    muted_now = f"muted {sum(muted.values())}, " if muted else ""
    # A match that sends nothing must say why, or "matched 1 ... sent 0" looks broken.
    return [
        f"deliveries: sent {outcome.get('sent', 0)}, {muted_now}"
        f"retrying {counts['retrying']}, failed {counts['failed']}, pending {counts['pending']}",
        *(
            f"  {note} ({count} alert{'s' * (count != 1)} recorded, not sent)"
            for note, count in muted.items()
        ),
    ]


def _open_outbox(config: Config) -> Database:
    return open_database(config.service.database)


def queue_backtest(
    config: Config, rule: str, matches: Mapping[int, RuleMatch]
) -> tuple[int, int, int]:
    """``rules backtest --send``: queue a backtest's matches through the outbox, once each.

    Safe while the service runs (it shares the database in WAL mode and picks them up).
    Returns the deliveries queued, the matches that queued nothing, and the outbox mark
    from before (for :func:`deliver_now`).
    """
    db = _open_outbox(config)
    try:
        mark = last_alert_id(db)
        queued, skipped = queue_matches(db, rule, config.rules[rule].channels, matches)
    finally:
        db.close()
    return queued, skipped, mark


def deliver_now(config: Config, mark: int = 0) -> tuple[list[str] | None, bool]:
    """One delivery round now, as ``once`` runs it.

    Returns its report lines (muted ones counted from outbox row ``mark`` on), or None when
    a running service holds the database (it delivers them itself), and whether worker
    threads were left running.
    """

    async def deliver() -> list[str]:
        db = _open_outbox(config)
        channels = build_channels(config)
        try:
            outcome = await _deliver(db, channels, build_policy(config))
            return delivery_lines(outcome, outbox_counts(db), muted_after(db, mark))
        finally:
            for channel in channels.values():
                await channel.aclose()
            db.close()

    try:
        with InstanceLock(config.service.database):
            return run_async(deliver())
    except AlreadyRunningError:
        return None, False


def check_config(config: Config) -> tuple[str, list[str]]:
    """``newswatch check``: a one-line summary of a valid config and any warnings."""
    warnings = config_warnings(config, utcnow())
    for rule in build_rules(config):
        warnings += [f"rules.{rule.name}: {message}" for message in lint_rule(rule)]
        warnings += [f"rules.{rule.name}: {message}" for message in word_form_warnings(rule)]
    return f"{config.path}: OK ({counts(config)})", warnings
