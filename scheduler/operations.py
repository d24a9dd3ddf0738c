"""What operators see of a running service: the web interface with /healthz and /metrics,
loop lag, retention."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from alerts.outbox.store import unsent_article_ids
from crawler.db import DatabaseTarget, OptimizeReport
from crawler.retention import PruneReport, apply_retention
from scheduler.health import parse_address, service_probe
from scheduler.looplag import LoopLagMonitor
from scheduler.metrics import Metrics
from scheduler.polling import PollSummary

if TYPE_CHECKING:
    from scheduler.service import Service
    from scheduler.web.server import WebServer
    from scheduler.web.site import ServiceView, Site

logger = logging.getLogger(__name__)

RETENTION_EVERY_HOURS = 24


def retain(database: DatabaseTarget, keep: timedelta) -> tuple[PruneReport, OptimizeReport]:
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
        self.probe = service_probe(service, loop_lag=self.loop_lag)
        self.web: WebServer | None = None
        self.site: Site | None = None

    def start(self) -> None:
        """Start the loop-lag sampler and the retention job."""
        self.loop_lag.start()
        self.attach()
        self.schedule_retention()

    async def start_web(self) -> None:
        """Serve the web interface, /healthz and /metrics, when an address is configured.

        ``[web] listen`` serves everything; the older ``[service] health`` only the
        health check and the metrics, as it always did.
        """
        from scheduler.web.app import create_app
        from scheduler.web.server import WebServer
        from scheduler.web.site import Site

        config = self.service.runtime.config
        if config.listen is None:
            return
        pages = config.web.listen is not None
        if not pages:
            logger.warning(
                "[service] health is now [web] listen, which also serves the web interface; "
                "serving /healthz and /metrics only on %s",
                config.listen,
            )
        self.site = Site(
            lambda: self.service.runtime.config,
            writer=lambda: self.service.runtime.db,
            service=self.view,
            on_config_saved=self.service.reload_now,
            on_queue_changed=self.service.wake_deliveries,
            probe=self.probe,
            metrics=self.metrics,
        )
        host, port = parse_address(config.listen)
        self.web = WebServer(create_app(self.site, pages=pages), host, port)
        await self.web.start()
        what = "web interface, health and metrics" if pages else "health and metrics"
        logger.info("%s on %s", what, self.web.url("/"))

    def view(self) -> ServiceView:
        """The service's state for the overview page."""
        from scheduler.web.site import ServiceView

        service = self.service
        lag = self.loop_lag.snapshot()
        return ServiceView(
            started_at=service.started_at,
            last_poll_at=service.last_poll_at,
            polls_completed=service.polls_completed,
            polling=tuple(sorted(service.polling)),
            health=self.probe(),
            loop_lag_p99=lag.p99 if lag.samples else None,
        )

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
        # Once a day per cluster, whichever worker's job fires first.
        every = RETENTION_EVERY_HOURS * 3600 * 0.9
        if not self.service.cluster.take_job("retention", every):
            return
        pruned, optimized = await asyncio.to_thread(retain, service.database, service.keep)
        logger.info("retention: %s; %s", pruned, optimized)

    def record_polls(self, summaries: Sequence[PollSummary], seconds: float) -> None:
        """Count a finished poll batch."""
        for summary in summaries:
            self.metrics.record_poll(summary, seconds)

    async def stop(self) -> None:
        """Stop the web server and the lag sampler."""
        if self.web is not None:
            await self.web.stop()
        if self.site is not None:
            await self.site.aclose()
        await self.loop_lag.stop()
