"""What ``/healthz`` and ``/metrics`` answer, for systemd watchdogs, Docker and Prometheus.

The web server (:mod:`scheduler.web`) serves them in the service's event loop, next to the
pages. ``/healthz`` asks a *probe*, a function returning :class:`HealthState`;
:func:`service_probe` builds the one the service uses. A loop blocked for long makes the
health check time out, which supervisors count as a failure, just as a stopped process.

A service is healthy when polls keep happening: the last poll finished within
``max(3 x shortest interval, 5 min)``, or the service started less than that ago.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from prometheus_client.exposition import CONTENT_TYPE_LATEST

from crawler.db import utcnow
from scheduler.config_types import split_address
from scheduler.metrics import Metrics

if TYPE_CHECKING:
    from scheduler.looplag import LoopLagMonitor
    from scheduler.service import Service

logger = logging.getLogger(__name__)

MIN_GRACE = timedelta(minutes=5)
# The lag sampler ticks every fraction of a second; this long without a tick is a stuck loop.
LOOP_STALL_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class HealthState:
    """The answer of a probe: alive or not, and why, in words for a person."""

    alive: bool
    reason: str


Probe = Callable[[], HealthState]


def grace_period(shortest_interval: timedelta) -> timedelta:
    """How long without a poll is still healthy: max(3 x shortest interval, 5 min)."""
    return max(3 * shortest_interval, MIN_GRACE)


def poll_health(
    *,
    now: datetime,
    started_at: datetime,
    last_poll_at: datetime | None,
    shortest_interval: timedelta | None,
    scheduler_running: bool = True,
) -> HealthState:
    """Decide whether polls are happening as often as the schedule asks."""
    if not scheduler_running:
        return HealthState(False, "the scheduler is not running")
    if shortest_interval is None:
        return HealthState(True, "ok: no source is polled on an interval")
    grace = grace_period(shortest_interval)
    if last_poll_at is not None and now - last_poll_at <= grace:
        return HealthState(True, f"ok: last poll {_seconds(now - last_poll_at)}s ago")
    if now - started_at <= grace:
        return HealthState(True, "ok: starting, no poll finished yet")
    allowed = f"allowed: {_seconds(grace)}s"
    if last_poll_at is None:
        since = _seconds(now - started_at)
        return HealthState(
            False, f"no poll has finished in the {since}s since the start ({allowed})"
        )
    since = _seconds(now - last_poll_at)
    return HealthState(False, f"no poll has finished for {since}s ({allowed})")


def _seconds(delta: timedelta) -> int:
    return int(delta.total_seconds())


def loop_health(monitor: LoopLagMonitor, now: float | None = None) -> HealthState | None:
    """A failed state when the event loop has not turned for too long, else ``None``."""
    since = monitor.snapshot().seconds_since_tick(now)
    if since is not None and since > LOOP_STALL_SECONDS:
        return HealthState(False, f"the event loop has been blocked for {since:.0f}s")
    return None


def service_probe(
    service: Service,
    *,
    started_at: datetime | None = None,
    loop_lag: LoopLagMonitor | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Probe:
    """The probe of a running :class:`~scheduler.service.Service`; call it at service start."""
    started = started_at or clock()

    def probe() -> HealthState:
        stalled = loop_health(loop_lag) if loop_lag is not None else None
        if stalled is not None:
            return stalled
        runtime = service.runtime
        # Cron sources may rightly be quiet for days; the interval sources show liveness.
        intervals = [
            runtime.interval_of(name) for name in runtime.sources if not runtime.cron_of(name)
        ]
        return poll_health(
            now=clock(),
            started_at=started,
            last_poll_at=service.last_poll_at,
            shortest_interval=min(intervals, default=None),
            scheduler_running=service.scheduler.running,
        )

    return probe


def parse_address(text: str) -> tuple[str, int]:
    """Parse ``"127.0.0.1:8787"`` / ``"[::1]:8787"`` / ``":8787"`` (localhost)."""
    return split_address(text)


def health_response(path: str, probe: Probe, metrics: Metrics | None) -> tuple[int, str, bytes]:
    """Status, content type and body for a GET of ``/healthz`` or ``/metrics``."""
    route = path.split("?", 1)[0]
    if route == "/healthz":
        try:
            state = probe()
        except Exception as exc:  # a broken probe is itself a failed health check
            logger.exception("health probe failed")
            state = HealthState(False, f"health probe failed: {type(exc).__name__}: {exc}")
        status = 200 if state.alive else 503
        return status, "text/plain; charset=utf-8", (state.reason + "\n").encode()
    if route == "/metrics" and metrics is not None:
        return 200, CONTENT_TYPE_LATEST, metrics.render()
    return 404, "text/plain; charset=utf-8", b"not found: try /healthz or /metrics\n"
