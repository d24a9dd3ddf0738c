"""What the pages may read and do, whoever serves them (the service, or ``newswatch web``).

Reads go through :meth:`Site.read`: a read-only connection (``mode=ro``), one per worker
thread of the site's own and kept between pages (its page cache stays warm), so a page
never writes, never waits on the service's writes (WAL) and never holds up its event
loop; polls and page views do not share a thread pool either. The few writes a page
makes (a mute, a retry) go through :meth:`Site.write` on the service's own connection, in
the loop, like every other write of the service; ``newswatch web`` has no writer and
refuses them.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar

from crawler.db import Database, DatabaseError, DatabaseTarget, open_readonly
from crawler.fetch import CrawlManager
from scheduler.config import Config, load_config
from scheduler.errors import ConfigError

if TYPE_CHECKING:
    from scheduler.health import HealthState, Probe
    from scheduler.metrics import Metrics

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")
READ_THREADS = 4


@dataclass(frozen=True, slots=True)
class ServiceView:
    """The running service, as the overview shows it."""

    started_at: datetime
    last_poll_at: datetime | None
    polls_completed: int
    polling: tuple[str, ...]
    health: HealthState
    loop_lag_p99: float | None


def _nothing() -> None:
    return None


class Site:
    """The web interface's access to configuration, database, service and network."""

    def __init__(
        self,
        config: Callable[[], Config],
        *,
        writer: Callable[[], Database] | None = None,
        service: Callable[[], ServiceView] | None = None,
        on_config_saved: Callable[[], object] = _nothing,
        on_queue_changed: Callable[[], object] = _nothing,
        probe: Probe | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._config = config
        self._writer = writer
        self.service = service
        self.on_config_saved = on_config_saved
        self.on_queue_changed = on_queue_changed
        self.probe = probe
        self.metrics = metrics
        self._threads = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="newswatch-web")
        self._connections = _Connections()
        self._crawls: CrawlManager | None = None
        # One config save at a time: each reads the file, changes it and writes it back.
        self.saving = asyncio.Lock()

    @property
    def config(self) -> Config:
        """The configuration in force now (the service's, reloads included)."""
        return self._config()

    @property
    def read_only(self) -> bool:
        """Whether nothing may be written: no database writer, no config saves."""
        return self._writer is None

    @property
    def database(self) -> DatabaseTarget:
        """The database file pages read."""
        return self.config.service.database

    async def read(
        self, query: Callable[Concatenate[Database, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """``query(db, *args, **kwargs)`` on a read-only connection, in a worker thread."""
        call = functools.partial(query, **kwargs)
        return await self.blocking(self._connections.run, self.database, call, *args)

    async def blocking(self, func: Callable[..., T], *args: object, **kwargs: object) -> T:
        """Run CPU-bound or blocking work (matching, password checks) off the loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, functools.partial(func, *args, **kwargs))

    def write(
        self, change: Callable[Concatenate[Database, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """``change(db, *args, **kwargs)`` on the service's connection, in the event loop."""
        if self._writer is None:
            raise RuntimeError("this web interface is read-only")
        return change(self._writer(), *args, **kwargs)

    def crawls(self) -> CrawlManager:
        """The crawler used to discover and try sources and to fetch pasted URLs."""
        if self._crawls is None:
            from scheduler.wiring import fetch_settings

            self._crawls = CrawlManager(fetch_settings(self.config))
        return self._crawls

    async def aclose(self) -> None:
        """Stop crawls and the worker threads (without waiting for a running read)."""
        if self._crawls is not None:
            await self._crawls.aclose()
            self._crawls = None
        self._threads.shutdown(wait=False, cancel_futures=True)
        self._connections.close()


class _Connections:
    """One read-only connection per worker thread and database file."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._all: list[Database] = []
        self._lock = threading.Lock()

    def run(self, path: Path, query: Callable[..., T], *args: object) -> T:
        opened: dict[Path, Database] = self._local.__dict__.setdefault("opened", {})
        db = opened.get(path)
        if db is None:
            db = opened[path] = open_readonly(path, any_thread=True)
            with self._lock:
                self._all.append(db)
        try:
            return query(db, *args)
        except DatabaseError:
            # A broken connection (the file was replaced or removed) is opened again next time.
            opened.pop(path, None)
            raise

    def close(self) -> None:
        with self._lock:
            connections, self._all = self._all, []
        for db in connections:
            db.close()


class ConfigFile:
    """The configuration of ``newswatch web``: loaded again when the file changes, the last
    valid one kept while it is invalid."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._stamp = _stamp(config.path)

    def __call__(self) -> Config:
        stamp = _stamp(self._config.path)
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                self._config = load_config(self._config.path)
            except ConfigError as exc:
                logger.warning(
                    "config changed but is invalid; showing the last valid one:\n%s", exc
                )
        return self._config


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size
