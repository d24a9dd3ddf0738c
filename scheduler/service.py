"""The long-running service: schedule polls, run them in batches, deliver the outbox.

An APScheduler ``AsyncIOScheduler`` holds one job per source: the date of its next poll
(a cron schedule for a source with ``cron``). A job only marks its source as due; a poll loop
takes every source due at that moment and fetches them in one Scrapy crawl. When a source's
poll ends, its next one is armed one interval later (plus up to 10 % jitter), so fetches of
a source are an interval apart whatever the load. A source is never polled twice at once,
is released as soon as its own poll is stored (a slow source holds up no other in its
batch), and a failing source waits until its backoff has passed. A delivery loop sends
what the outbox holds whenever a poll queued something or a retry falls due.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.date import DateTrigger

from alerts.delivery.health import check_sources
from alerts.delivery.rounds import deliver_due
from alerts.delivery.schedule import parse_cron
from alerts.outbox.store import next_due_time
from alerts.routing import match_pending
from crawler.db import utcnow
from crawler.models import Source
from crawler.store import load_source_state, sync_sources
from scheduler.cluster import CRON_CLAIM_SECONDS, coordinator_for
from scheduler.config import load_config
from scheduler.errors import ConfigError
from scheduler.operations import Operations
from scheduler.polling import PollSummary, poll_sources
from scheduler.summary import destinations, plural
from scheduler.wiring import Runtime, build_runtime, configured_titles

logger = logging.getLogger(__name__)

JITTER = 0.10
STOP_GRACE_SECONDS = 3.0
STOP_DEADLINE_SECONDS = 9.0
MAX_DELIVERY_SLEEP = 60.0
# First polls of sources on the same host are this far apart, so twenty sources on one
# site are not requested in the same second; later polls spread out through the jitter.
HOST_SPACING_SECONDS = 2.0  # the default of [service] host_spacing
CONFIG_WATCH_SECONDS = 1.0


class Service:
    """``newswatch run``: polls on schedule until stopped by SIGTERM / SIGINT."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.config_path = runtime.config.path
        self._reload_requested = asyncio.Event()
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self.polls_completed = 0
        self.started_at = utcnow()
        self.last_poll_at: datetime | None = None
        self._stop = asyncio.Event()
        self._poll_wake = asyncio.Event()
        self._delivery_wake = asyncio.Event()
        self._pending: set[str] = set()
        self._inflight: set[str] = set()
        self._batches: set[asyncio.Task[None]] = set()
        # Alone on an SQLite file; one of any number of workers on PostgreSQL.
        self.cluster = coordinator_for(runtime.db, self.host_spacing)
        self.operations = Operations(self)
        self._config_seen = _file_signature(self.config_path)

    @property
    def host_spacing(self) -> float:
        """Seconds between polls of sources on one host: first polls here; every poll
        across the workers of a cluster."""
        return self.runtime.config.service.host_spacing.total_seconds()

    def stop(self) -> None:
        """Ask the service to stop (safe to call from a signal handler).

        Everything is committed transaction by transaction, so if an orderly stop has not
        finished by the deadline the process ends anyway: that loses no more than a kill.
        """
        if not self._stop.is_set():
            logger.info("stopping")
            deadline = threading.Timer(STOP_DEADLINE_SECONDS, _force_exit)
            deadline.daemon = True
            deadline.start()
        self._stop.set()

    def schedule_sources(self) -> None:
        """(Re)create one job per enabled source: its next poll, or its cron schedule."""
        now = utcnow()
        wanted = {f"poll:{name}" for name in self.runtime.sources}
        for job in self.scheduler.get_jobs():
            if job.id.startswith("poll:") and job.id not in wanted:
                job.remove()
        per_host: dict[str, int] = {}
        for name, source in sorted(self.runtime.sources.items()):
            cron = self.runtime.cron_of(name)
            if cron:  # a cron source waits for its first slot
                self._add_poll_job(name, parse_cron(cron, self.runtime.config.service.timezone))
                continue
            host = urlsplit(source.url).hostname or ""
            slot = per_host[host] = per_host.get(host, -1) + 1
            first = self._first_poll(name, self.runtime.interval_of(name), now)
            self._arm(name, first + timedelta(seconds=slot * self.host_spacing))

    def _add_poll_job(self, name: str, trigger: BaseTrigger) -> None:
        self.scheduler.add_job(
            self.request_poll,
            trigger,
            args=[name],
            id=f"poll:{name}",
            name=f"poll {name}",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            replace_existing=True,
        )

    def _arm(self, name: str, when: datetime) -> None:
        """Poll an interval source (once) at ``when``; its next poll is armed when it ends."""
        if name in self.runtime.sources and not self.runtime.cron_of(name):
            self._add_poll_job(name, DateTrigger(run_date=when, timezone=UTC))

    def _rearm(self, name: str) -> None:
        """The next poll of a source that has just been fetched: one interval from now.

        Counted from the end of this poll, so two fetches of a source are never less than
        an interval apart, however long the poll or the batch took; jitter only adds (up
        to 10 %), spreading sources that started together.
        """
        interval = (
            self.runtime.interval_of(name).total_seconds() if name in self.runtime.sources else 0
        )
        self._arm(name, utcnow() + timedelta(seconds=interval * (1 + random.uniform(0, JITTER))))

    def schedule_digests(self) -> None:
        """(Re)create one cron job per digest rule; it starts a delivery round on time."""
        for job in self.scheduler.get_jobs():
            if job.id.startswith("digest:"):
                job.remove()
        for name, rule in self.runtime.alert_policy.rules.items():
            if rule.digest is not None:
                self.scheduler.add_job(
                    self.wake_delivery,
                    rule.digest,
                    id=f"digest:{name}",
                    name=f"digest {name}",
                    max_instances=1,
                    coalesce=True,
                    misfire_grace_time=None,
                    replace_existing=True,
                )

    async def wake_delivery(self) -> None:
        """Start a delivery round now: a digest's time has come."""
        self._delivery_wake.set()

    def _first_poll(self, name: str, interval: timedelta, now: datetime) -> datetime:
        """Poll at once unless the source was polled (or failed) recently."""
        state = load_source_state(self.runtime.db, name)
        first = now
        if state.last_poll is not None:
            first = max(first, state.last_poll + interval)
        if state.failures and state.next_due is not None:
            first = max(first, state.next_due)
        return first

    def reload(self) -> bool:
        """Apply the config file's current content; keep the running config if it is invalid.

        Rules, channels and sources change in place: added sources are polled, removed ones
        stop, changed intervals reschedule. Polls already running finish with the old config.
        """
        try:
            config = load_config(self.config_path)
        except ConfigError as exc:
            logger.error("config reload rejected, keeping the running config:\n%s", exc)
            return False
        if config.service.database != self.runtime.config.service.database:
            logger.error(
                "config reload rejected: [service] database changed (%s); restart to switch",
                config.service.database,
            )
            return False
        sources = [(s.name, s.type, s.url) for s in config.sources.values() if s.enabled]
        sync_sources(self.runtime.db, sources, titles=configured_titles(config))
        self.runtime = build_runtime(config, db=self.runtime.db)
        self.cluster.sync(self.runtime.sources)
        self.operations.attach()
        self.schedule_sources()
        self.schedule_digests()
        self.operations.schedule_retention()
        self._delivery_wake.set()
        logger.info(
            "config reloaded: %s, %s, %s",
            plural(len(self.runtime.sources), "source"),
            plural(len(self.runtime.routes), "rule"),
            plural(len(self.runtime.channels), "channel"),
        )
        return True

    def reload_now(self) -> bool:
        """Apply the config file now: the web interface has just saved it."""
        self._config_seen = _file_signature(self.config_path)
        return self.reload()

    def wake_deliveries(self) -> None:
        """Start a delivery round now: alerts were queued again by hand."""
        self._delivery_wake.set()

    @property
    def polling(self) -> set[str]:
        """The sources being polled right now."""
        return set(self._inflight)

    async def _watch_config(self) -> None:
        """Reload when the config file changes (checked every second) or on SIGHUP."""
        self._config_seen = _file_signature(self.config_path)
        while not self._stop.is_set():
            await wait_event(self._reload_requested, CONFIG_WATCH_SECONDS)
            current = _file_signature(self.config_path)
            if self._reload_requested.is_set() or current != self._config_seen:
                self._reload_requested.clear()
                self._config_seen = current
                self.reload()

    async def request_poll(self, name: str) -> None:
        """Mark a source due; the poll loop picks it up with the others due now."""
        if name in self._inflight:
            # Its running poll arms the next one when it ends.
            logger.debug("%s: previous poll still running; skipping this one", name)
            return
        state = load_source_state(self.runtime.db, name)
        if state.failures and state.next_due and utcnow() < state.next_due:
            logger.debug("%s: backing off until %s", name, state.next_due)
            self._arm(name, state.next_due)
            return
        self._pending.add(name)
        self._poll_wake.set()

    async def _poll_loop(self) -> None:
        while not self._stop.is_set():
            await self._poll_wake.wait()
            self._poll_wake.clear()
            wanted = sorted(self._pending - self._inflight)
            self._pending.clear()
            names = self._claim([n for n in wanted if n in self.runtime.sources])
            sources = [self.runtime.sources[n] for n in names]
            if sources:
                self._spawn(self._poll_batch(sources))

    def _claim(self, names: list[str]) -> list[str]:
        """Of the due sources ``names``, those this service polls now.

        Alone, all of them. In a cluster, those no other worker polled within their interval
        or holds; the others are asked for again when they may be claimed (their next due
        time, or when their host's spacing has passed).
        """
        if not names:
            return []
        intervals = {n: self._claim_seconds(n) for n in names}
        try:
            claimed, retry_in = self.cluster.claim(intervals)
        except Exception:
            logger.exception("could not claim %s; trying again later", ", ".join(names))
            claimed, retry_in = [], None
        for name in names:
            if name in claimed:
                continue
            if retry_in is not None:
                self._arm(name, utcnow() + timedelta(seconds=retry_in))
            else:
                self._rearm(name)
        return claimed

    def _claim_seconds(self, name: str) -> float:
        if self.runtime.cron_of(name):
            return CRON_CLAIM_SECONDS
        return self.runtime.interval_of(name).total_seconds()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._batches.add(task)
        task.add_done_callback(self._batches.discard)

    async def _poll_batch(self, sources: list[Source]) -> None:
        """Poll a batch; each source is released (and re-armed) as soon as it is done."""
        names = {s.name for s in sources}
        busy = set(names)  # this batch's sources still being polled
        self._inflight |= names
        started = time.monotonic()

        def done(summary: PollSummary) -> None:
            if summary.source not in busy:
                return
            busy.discard(summary.source)
            self._inflight.discard(summary.source)
            self.operations.record_polls([summary], time.monotonic() - started)
            self.polls_completed += 1
            self.last_poll_at = utcnow()
            self._delivery_wake.set()
            self._release({summary.source})
            self._rearm_after_poll(summary.source)

        try:
            await poll_sources(self.runtime, sources, on_done=done, in_order=False)
            runtime = self.runtime
            with self.cluster.exclusive("source-health") as mine:
                if mine:
                    check_sources(runtime.db, runtime.sources, runtime.health_policy, utcnow())
        except Exception:
            logger.exception("poll of %s failed unexpectedly", ", ".join(sorted(names)))
        finally:
            self._inflight -= busy
            self._release(busy)
            for name in busy:
                self._rearm(name)

    def _release(self, names: set[str]) -> None:
        """In a cluster, the polls of ``names`` are done: their leases and hosts go free."""
        if not names:
            return
        try:
            self.cluster.release(names)
        except Exception:
            logger.exception("could not release %s; the leases run out", ", ".join(names))

    def _rearm_after_poll(self, name: str) -> None:
        state = load_source_state(self.runtime.db, name)
        if state.failures and state.next_due is not None:
            self._arm(name, state.next_due)  # backing off
        else:
            self._rearm(name)

    async def _delivery_loop(self) -> None:
        while not self._stop.is_set():
            try:
                # One worker of a cluster delivers at a time: each alert goes out once.
                with self.cluster.exclusive("delivery") as mine:
                    if mine:
                        runtime = self.runtime
                        await deliver_due(runtime.db, runtime.channels, runtime.alert_policy)
            except Exception:
                logger.exception("delivery round failed unexpectedly")
            await wait_event(self._delivery_wake, self._delivery_sleep())
            self._delivery_wake.clear()

    def _delivery_sleep(self) -> float:
        due = next_due_time(self.runtime.db, self.runtime.channels)
        if due is None:
            return MAX_DELIVERY_SLEEP
        return min(MAX_DELIVERY_SLEEP, max(0.05, (due - utcnow()).total_seconds()))

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        loop.add_signal_handler(signal.SIGHUP, self._reload_requested.set)

    async def run(self) -> None:
        """Run until stopped; returns after a clean shutdown."""
        self._install_signal_handlers()
        self.started_at = utcnow()
        self.cluster.join(self.runtime.sources)
        self.scheduler.start()
        self.operations.start()
        await self.operations.start_web()
        # Articles stored but not matched before a crash are matched now.
        runtime = self.runtime
        match_pending(runtime.db, runtime.matcher, runtime.routes, on_match=runtime.on_match)
        self.schedule_sources()
        self.schedule_digests()
        logger.info(
            "watching %s with %s",
            plural(len(self.runtime.sources), "source"),
            plural(len(self.runtime.routes), "rule"),
        )
        for line in destinations(self.runtime.config):
            logger.info("%s", line)
        workers = [
            asyncio.create_task(self._poll_loop()),
            asyncio.create_task(self._delivery_loop()),
            asyncio.create_task(self._watch_config()),
            asyncio.create_task(self.cluster.heartbeat(self._stop)),
        ]
        await self._stop.wait()
        await self._shutdown(workers)

    async def _shutdown(self, workers: list[asyncio.Task[None]]) -> None:
        # Jobs cancelled by the shutdown are ours to cancel; APScheduler would log each one
        # as a failed job.
        logging.getLogger("apscheduler.executors").setLevel(logging.CRITICAL)
        self.scheduler.shutdown(wait=False)
        for task in workers:
            task.cancel()
        if self._batches:
            # Let running polls finish storing what they fetched, but not for long.
            _, late = await asyncio.wait(self._batches, timeout=STOP_GRACE_SECONDS)
            for task in late:
                task.cancel()
            logger.debug("stop: %d polls finished, %d cancelled", len(_), len(late))
        await asyncio.gather(*workers, return_exceptions=True)
        await self.operations.stop()
        self.cluster.leave()
        logger.debug("stop: closing crawls, channels and the database")
        await self.runtime.aclose()
        logger.info("stopped")


async def wait_event(event: asyncio.Event, timeout: float) -> None:
    """Wait until ``event`` is set or ``timeout`` passes.

    Not ``asyncio.wait_for(event.wait(), timeout)``: on Python 3.11 it can swallow a
    cancellation that arrives just as the event is set, and the loop waiting on it would
    then miss the stop.
    """
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter}, timeout=timeout)
    finally:
        waiter.cancel()


def _file_signature(path: Path) -> tuple[int, int, bytes] | None:
    """What changes when the file is saved: mtime, size and a hash of the content."""
    try:
        stat = path.stat()
        digest = hashlib.sha256(path.read_bytes()).digest()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size, digest


def _force_exit() -> None:
    logger.error("stop did not finish within %.0fs; exiting now", STOP_DEADLINE_SECONDS)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
