"""Prometheus metrics of one service, in a registry of its own.

Each :class:`Metrics` owns a ``CollectorRegistry`` (not prometheus-client's global one), so
tests and several services in one process never share counters. The service calls
:meth:`Metrics.record_poll` after each poll batch and :meth:`Metrics.record_match` per
match; the outbox gauge is read from the database at scrape time, read-only.

    newswatch_polls_total{source,result}      result: ok | not_modified | error
    newswatch_poll_errors_total{source}
    newswatch_articles_total{source}          new articles stored
    newswatch_matches_total{rule}
    newswatch_deliveries{state}               gauge: pending | retrying | failed | sent
    newswatch_poll_duration_seconds           histogram: one observation per source polled
    newswatch_last_poll_timestamp_seconds     when the last poll finished (Unix time)
    newswatch_event_loop_lag_seconds{stat}    gauge, when a LoopLagMonitor is attached
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from alerts.outbox.store import outbox_counts
from crawler.db import DatabaseError, DatabaseTarget, open_readonly, table_names, utcnow
from crawler.errors import StoreError
from scheduler.status import OUTBOX_STATES

if TYPE_CHECKING:
    from scheduler.looplag import LoopLagMonitor

logger = logging.getLogger(__name__)

POLL_RESULTS = ("ok", "not_modified", "error")
# Polls run as batched crawls: from a few milliseconds (all 304) to the fetch timeout.
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class PollOutcome(Protocol):
    """What metrics need of a ``scheduler.polling.PollSummary``."""

    @property
    def source(self) -> str: ...
    @property
    def new(self) -> int: ...
    @property
    def error(self) -> str | None: ...
    @property
    def not_modified(self) -> bool: ...


def poll_result(summary: PollOutcome) -> str:
    """The ``result`` label of one poll."""
    if summary.error:
        return "error"
    return "not_modified" if summary.not_modified else "ok"


class Metrics:
    """The service's counters, gauges and histogram, and the text exposition of them."""

    def __init__(
        self,
        database: DatabaseTarget | None = None,
        *,
        sources: Iterable[str] = (),
        rules: Iterable[str] = (),
        loop_lag: LoopLagMonitor | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        reg = self.registry
        self.polls = Counter(
            "newswatch_polls", "Source polls by outcome.", ["source", "result"], registry=reg
        )
        self.poll_errors = Counter(
            "newswatch_poll_errors", "Source polls that failed.", ["source"], registry=reg
        )
        self.articles = Counter(
            "newswatch_articles", "New articles stored.", ["source"], registry=reg
        )
        self.matches = Counter("newswatch_matches", "Rule matches.", ["rule"], registry=reg)
        self.poll_duration = Histogram(
            "newswatch_poll_duration_seconds",
            "Duration of the crawl each source was polled in.",
            buckets=DURATION_BUCKETS,
            registry=reg,
        )
        self.last_poll = Gauge(
            "newswatch_last_poll_timestamp_seconds",
            "Unix time at which the last poll finished.",
            registry=reg,
        )
        self.declare(sources, rules)
        if database is not None:
            reg.register(DeliveriesCollector(database))
        if loop_lag is not None:
            reg.register(LoopLagCollector(loop_lag))

    def declare(self, sources: Iterable[str], rules: Iterable[str]) -> None:
        """Start the series of known sources and rules at zero, so rates work from the start."""
        for source in sources:
            for result in POLL_RESULTS:
                self.polls.labels(source, result)
            self.poll_errors.labels(source)
            self.articles.labels(source)
        for rule in rules:
            self.matches.labels(rule)

    def record_poll(
        self, summary: PollOutcome, duration: float, when: datetime | None = None
    ) -> None:
        """Count one source poll; ``duration`` is the seconds its batch took."""
        self.polls.labels(summary.source, poll_result(summary)).inc()
        if summary.error:
            self.poll_errors.labels(summary.source).inc()
        if summary.new:
            self.articles.labels(summary.source).inc(summary.new)
        self.poll_duration.observe(max(0.0, duration))
        self.last_poll.set((when or utcnow()).timestamp())

    def record_match(self, rule: str, count: int = 1) -> None:
        """Count ``count`` matches of ``rule``."""
        self.matches.labels(rule).inc(count)

    def render(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)


class DeliveriesCollector(Collector):
    """``newswatch_deliveries{state}``, counted in the outbox at scrape time."""

    def __init__(self, database: DatabaseTarget) -> None:
        self.database = database

    def describe(self) -> list[Metric]:
        # Describing without reading the database keeps registration cheap and side-free.
        return [self._family()]

    def collect(self) -> Iterator[Metric]:
        family = self._family()
        try:
            counts = self._counts()
        except (StoreError, DatabaseError) as exc:
            # A scrape must not fail because the database is briefly unreadable.
            logger.debug("deliveries gauge: %s", exc)
            return
        for state in OUTBOX_STATES:
            family.add_metric([state], counts.get(state, 0))
        yield family

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "newswatch_deliveries", "Outbox deliveries by state.", labels=["state"]
        )

    def _counts(self) -> dict[str, int]:
        db = open_readonly(self.database)
        try:
            if "outbox" not in table_names(db):
                return {}
            return outbox_counts(db)
        finally:
            db.close()


class LoopLagCollector(Collector):
    """``newswatch_event_loop_lag_seconds{stat}`` from a :class:`LoopLagMonitor`."""

    def __init__(self, monitor: LoopLagMonitor) -> None:
        self.monitor = monitor

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "newswatch_event_loop_lag_seconds",
            "Event loop lag over the recent window (p50, p99, max).",
            labels=["stat"],
        )
        snapshot = self.monitor.snapshot()
        if snapshot.samples:
            family.add_metric(["p50"], snapshot.p50)
            family.add_metric(["p99"], snapshot.p99)
            family.add_metric(["max"], snapshot.max)
        yield family
