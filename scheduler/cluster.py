"""How one ``newswatch run`` shares its database's work: alone, or with other workers.

On an SQLite file the service is alone (the instance lock of :mod:`scheduler.lock` makes
sure): it polls every source that falls due and runs every job. On PostgreSQL any number
of workers, on any machines, share one database with no coordinator of their own; each
asks the database (:mod:`crawler.pg.cluster`) before it acts:

* a source that falls due is polled by the worker that claims it first; the claim moves
  its next due time on by its interval, cluster-wide, and holds a lease the worker renews
  while it lives (a dead worker's lease runs out after :data:`LEASE_SECONDS`);
* one poll of a host runs at a time across the workers, ``[service] host_spacing`` after
  the one before ended;
* a delivery round, and the source-health check after a poll, run in one worker at a
  time (an advisory lock); the daily retention job in one worker per day.

The service calls the same methods either way; :class:`Solo` answers yes to everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Iterator, Mapping
from urllib.parse import urlsplit

from crawler.db import Database, is_postgres
from crawler.models import Source

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5.0
LEASE_SECONDS = 30.0
# A cron source's firing is claimed by one worker: the others see it not due for this long.
CRON_CLAIM_SECONDS = 50.0


class Solo:
    """The only service on its database: every source and job is its own."""

    worker_id = "solo"

    def join(self, sources: Mapping[str, Source]) -> None:
        """Nothing to announce."""

    def sync(self, sources: Mapping[str, Source]) -> None:
        """Nothing to record."""

    def claim(self, due: Mapping[str, float]) -> tuple[list[str], float | None]:
        """Every due source, at once."""
        return sorted(due), None

    def release(self, names: set[str]) -> None:
        """Nothing to release."""

    @contextlib.contextmanager
    def exclusive(self, name: str) -> Iterator[bool]:
        """Always this service's turn."""
        yield True

    def take_job(self, name: str, every_seconds: float) -> bool:
        """Always this service's job."""
        return True

    async def heartbeat(self, stop: asyncio.Event) -> None:
        """Nobody to tell."""

    def leave(self) -> None:
        """Nothing to hand over."""


class Cluster(Solo):
    """One worker among any number sharing a PostgreSQL database."""

    def __init__(self, db: Database, host_spacing: float) -> None:
        from crawler.pg import cluster
        from crawler.pg.connection import PgDatabase

        assert isinstance(db, PgDatabase)
        self.db = db
        self.store = cluster
        self.host_spacing = host_spacing
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._polls = 0
        self._claimed: dict[str, float] = {}  # source -> interval, while its poll runs

    def join(self, sources: Mapping[str, Source]) -> None:
        """Announce this worker and make sure every source has its shared row."""
        self.store.join(self.db, self.worker_id, socket.gethostname(), os.getpid())
        self.sync(sources)
        logger.info("worker %s joined the cluster", self.worker_id)

    def sync(self, sources: Mapping[str, Source]) -> None:
        """Every configured source gets a lease row, and its host a spacing row."""
        hosts = {name: urlsplit(s.url).hostname or "" for name, s in sources.items()}
        self.store.sync_sources(self.db, hosts)

    def claim(self, due: Mapping[str, float]) -> tuple[list[str], float | None]:
        """The sources of ``due`` (name -> interval in seconds) this worker polls now."""
        got = self.store.claim(
            self.db,
            self.worker_id,
            due,
            lease_seconds=LEASE_SECONDS,
            host_spacing=self.host_spacing,
        )
        self._polls += len(got.sources)
        self._claimed.update((name, due[name]) for name in got.sources)
        return list(got.sources), got.retry_in

    def release(self, names: set[str]) -> None:
        """The polls of ``names`` are stored: their leases end, and they and their hosts
        are next due counting from now."""
        intervals = {n: self._claimed.pop(n) for n in sorted(names) if n in self._claimed}
        self.store.release(self.db, self.worker_id, intervals, host_spacing=self.host_spacing)

    @contextlib.contextmanager
    def exclusive(self, name: str) -> Iterator[bool]:
        """Whether this worker holds the cluster-wide lock ``name`` for the block."""
        with self.store.try_lock(self.db, name) as mine:
            yield mine

    def take_job(self, name: str, every_seconds: float) -> bool:
        """Whether this worker runs ``name`` now (nobody did in ``every_seconds``)."""
        return self.store.take_job(self.db, name, self.worker_id, every_seconds)

    async def heartbeat(self, stop: asyncio.Event) -> None:
        """Tell the others this worker lives, and renew its leases, until stopped."""
        while not stop.is_set():
            try:
                polls, self._polls = self._polls, 0
                self.store.heartbeat(self.db, self.worker_id, LEASE_SECONDS, polls)
            except Exception:
                logger.exception("worker heartbeat failed; trying again")
            waiter = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait({waiter}, timeout=HEARTBEAT_SECONDS)
            finally:
                waiter.cancel()

    def leave(self) -> None:
        """Hand this worker's leases back at once."""
        try:
            self.store.leave(self.db, self.worker_id)
        except Exception:
            logger.exception("could not hand back the leases of %s", self.worker_id)


def coordinator_for(db: Database, host_spacing: float) -> Solo:
    """:class:`Cluster` on a PostgreSQL database, else :class:`Solo`."""
    return Cluster(db, host_spacing) if is_postgres(db) else Solo()


@contextlib.contextmanager
def exclusive(db: Database, name: str) -> Iterator[bool]:
    """Run a block as the one process doing ``name`` on this database (always so on SQLite)."""
    with coordinator_for(db, 0.0).exclusive(name) as mine:
        yield mine
