"""One running service per SQLite database: an exclusive lock on a file beside it.

A PostgreSQL database is shared by any number of workers (:mod:`scheduler.cluster`), so
it takes no lock here.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from crawler.db import DatabaseTarget, PostgresUrl
from scheduler.errors import AlreadyRunningError


class InstanceLock:
    """``with InstanceLock(db_path):`` holds ``<db>.lock`` for the life of the process.

    The kernel drops the lock when the process dies, even on ``kill -9``, so a crash never
    leaves a stale lock behind.
    """

    def __init__(self, database: DatabaseTarget) -> None:
        self.path: Path | None = None
        if not isinstance(database, PostgresUrl):
            self.path = database.with_name(database.name + ".lock")
        self._fd: int | None = None

    def __enter__(self) -> InstanceLock:
        if self.path is None:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "another process"
            os.close(fd)
            raise AlreadyRunningError(
                f"another newswatch (pid {holder}) is already running on "
                f"{self.path.with_suffix('')}",
                hint="stop it first, or point this one at a different [service] database",
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode("ascii"))
        self._fd = fd
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
