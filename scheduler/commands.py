"""What the commands do, as plain functions the CLI (and tests) call."""

from __future__ import annotations

import logging

from alerts.delivery.health import check_sources
from alerts.delivery.rounds import deliver_due
from alerts.outbox.store import outbox_counts
from alerts.rules.lint import lint_rule
from crawler.db import utcnow
from scheduler.config import Config
from scheduler.lock import InstanceLock
from scheduler.polling import poll_sources
from scheduler.runloop import run_async
from scheduler.service import Service
from scheduler.wiring import build_rules, build_runtime

logger = logging.getLogger(__name__)


def run_service(config: Config) -> tuple[int, bool]:
    """``newswatch run``: hold the instance lock and serve until stopped."""

    async def serve() -> int:
        service = Service(build_runtime(config))
        await service.run()
        return 0

    with InstanceLock(config.service.database):
        return run_async(serve())


def run_once(config: Config) -> tuple[list[str], bool]:
    """``newswatch once``: poll everything now, deliver what is due; returns report lines."""

    async def once() -> list[str]:
        runtime = build_runtime(config)
        try:
            summaries = await poll_sources(runtime, list(runtime.sources.values()))
            check_sources(runtime.db, runtime.sources, runtime.health_policy, utcnow())
            outcome = await deliver_due(runtime.db, runtime.channels, runtime.alert_policy)
            counts = outbox_counts(runtime.db)
        finally:
            await runtime.aclose()
        lines = [s.line() for s in summaries]
        lines.append(
            f"deliveries: sent {outcome['sent']}, retrying {counts['retrying']}, "
            f"failed {counts['failed']}, pending {counts['pending']}"
        )
        return lines

    with InstanceLock(config.service.database):
        return run_async(once())


def check_config(config: Config) -> tuple[str, list[str]]:
    """``newswatch check``: a one-line summary of a valid config and any rule warnings."""
    warnings = [
        f"rules.{rule.name}: {message}"
        for rule in build_rules(config)
        for message in lint_rule(rule)
    ]
    summary = (
        f"{config.path}: OK ({len(config.sources)} sources, {len(config.rules)} rules, "
        f"{len(config.channels)} channels)"
    )
    return summary, warnings
