"""What operators see of a running service: health endpoint, metrics, loop lag, retention."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from alerts.outbox.store import unsent_article_ids
from crawler.db import OptimizeReport
from crawler.retention import PruneReport, apply_retention
from scheduler.health import HealthServer, parse_address, service_probe
from scheduler.looplag import LoopLagMonitor
from scheduler.metrics import Metrics
from scheduler.polling import PollSummary

if TYPE_CHECKING:
    from scheduler.service import Service

logger = logging.getLogger(__name__)

RETENTION_EVERY_HOURS = 24


def retain(database: Path, keep: timedelta) -> tuple[PruneReport, OptimizeReport]:
    """The daily retention job: prune article text older than ``keep`` that no alert still
    waiting to be sent needs (the outbox says which), then optimize the file."""
    return apply_retention(database, keep, still_needed=unsent_article_ids)


class Operations:
    """Starts and stops the observability parts of one :class:`Service`."""

    def __init__(self, service: Service) -> None:
        runtime = service.runtime
        self.service = service
        self.loop_lag = LoopLagMonitor()
        self.metrics = Metrics(
            runtime.config.service.database,
            sources=runtime.sources,
            rules=runtime.routes,
            loop_lag=self.loop_lag,
        )
        self.health: HealthServer | None = None

    def start(self) -> None:
        """Start the loop-lag sampler, the health server (if configured) and retention."""
        self.loop_lag.start()
        self.attach()
        address = self.service.runtime.config.service.health
        if address:
            host, port = parse_address(address)
            self.health = HealthServer(
                host, port, service_probe(self.service, loop_lag=self.loop_lag), self.metrics
            )
            self.health.start()
            logger.info("health and metrics on http://%s:%d/", host, self.health.port)
        self.schedule_retention()

    def attach(self) -> None:
        """Point the (possibly reloaded) runtime's hooks at these metrics."""
        runtime = self.service.runtime
        runtime.on_match = self.metrics.record_match
        self.metrics.declare(runtime.sources, runtime.routes)

    def schedule_retention(self) -> None:
        """A daily prune + optimize job when ``[service] keep`` is set."""
        scheduler = self.service.scheduler
        if scheduler.get_job("retention"):
            scheduler.remove_job("retention")
        if self.service.runtime.config.service.keep is not None:
            scheduler.add_job(
                self.run_retention,
                "interval",
                hours=RETENTION_EVERY_HOURS,
                id="retention",
                name="retention",
                max_instances=1,
                coalesce=True,
            )

    async def run_retention(self) -> None:
        """Prune old article text and optimize the database, off the event loop."""
        service = self.service.runtime.config.service
        if service.keep is None:
            return
        pruned, optimized = await asyncio.to_thread(retain, service.database, service.keep)
        logger.info("retention: %s; %s", pruned, optimized)

    def record_polls(self, summaries: Sequence[PollSummary], seconds: float) -> None:
        """Count a finished poll batch."""
        for summary in summaries:
            self.metrics.record_poll(summary, seconds)

    async def stop(self) -> None:
        """Stop the health server and the lag sampler."""
        if self.health is not None:
            self.health.stop()
        await self.loop_lag.stop()
