"""The database connection: opening it, its one kind of write transaction, how times are stored.

One process writes (the service); any number may read (``status``, ``stories``...). The
database runs in WAL mode so readers never block the writer. Writes that must be atomic go
through :func:`write_transaction`, which takes the write lock up front (``BEGIN IMMEDIATE``)
so a second writer waits on the busy timeout instead of failing with "database is locked".

Code outside the store modules sees a :data:`Database` handle and passes it to their
functions; it never writes SQL (the tables and their owners: :mod:`crawler.schema`).
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from crawler import schema
from crawler.errors import StoreError


@contextlib.contextmanager
def _not_importable(*names: str) -> Iterator[None]:
    """Within the block, ``import name`` fails for each of ``names`` not imported yet."""
    blocked = [name for name in names if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in blocked:
            if sys.modules.get(name) is None:
                del sys.modules[name]


# sqlite_utils imports numpy and pandas, when installed, only to map their value types in
# insert(); the store modules insert plain Python values. numpy is installed (for MinHash),
# and importing it would cost every command that opens the database, ``status`` included,
# more than a third of its start-up.
with _not_importable("numpy", "pandas"):
    import sqlite_utils  # noqa: E402

# What the rest of the code holds and passes to the store modules' functions.
Database = sqlite_utils.Database
# What a failing database operation raises, for code that must survive one.
DatabaseError = sqlite3.Error

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
BUSY_TIMEOUT_SECONDS = 30.0
READ_TIMEOUT_SECONDS = 5.0
AUTO_VACUUM_INCREMENTAL = 2


class PostgresUrl(str):
    """``[service] database`` naming a PostgreSQL server (``postgresql://user@host/db``).

    Shown with its password hidden; the full text is only handed to the driver.
    """

    __slots__ = ()

    @property
    def redacted(self) -> str:
        """The address with its password replaced by ``***``."""
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(str(self))
        if parts.password is None:
            return str(self)
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return urlunsplit(parts._replace(netloc=netloc))

    def __repr__(self) -> str:
        return f"PostgresUrl({self.redacted!r})"


# Where a database is: a file (SQLite) or a PostgreSQL server.
DatabaseTarget = Path | PostgresUrl


def postgres_url(value: object) -> PostgresUrl | None:
    """``value`` as a PostgreSQL address, or None when it names a file."""
    if isinstance(value, PostgresUrl):
        return value
    if isinstance(value, str) and value.startswith(POSTGRES_SCHEMES):
        return PostgresUrl(value)
    return None


def describe(target: DatabaseTarget | str) -> str:
    """How a database is named in messages: a path, or an address without its password."""
    url = postgres_url(target)
    return url.redacted if url is not None else str(target)


def is_postgres(db: Database) -> bool:
    """Whether ``db`` is a PostgreSQL database (else an SQLite file)."""
    return bool(getattr(db, "is_postgres", False))


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (one place, so tests can control it)."""
    return datetime.now(UTC)


def to_iso(value: datetime | None) -> str | None:
    """Store datetimes as ISO 8601 UTC text, which sorts correctly."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="seconds")


def from_iso(value: str | None) -> datetime | None:
    """Inverse of :func:`to_iso`."""
    return datetime.fromisoformat(value) if value else None


@contextlib.contextmanager
def write_transaction(db: Database, *, serialize: str | None = None) -> Iterator[Database]:
    """Run a block in one write transaction, taking the write lock before any read.

    On SQLite the write lock serialises every writer. On PostgreSQL, where many workers
    write at once, ``serialize`` names the kind of write that must not interleave across
    them (storing articles and assigning their stories): an advisory lock held until commit.
    """
    if is_postgres(db):
        with db.transaction(serialize):  # type: ignore[attr-defined]
            yield db
        return
    if db.conn.in_transaction:
        with db.atomic():
            yield db
        return
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.conn.execute("COMMIT")
    except BaseException:
        # SQLite may have rolled back already (a full disk does that); a COMMIT that failed
        # leaves the transaction open, and the next write would nest inside it for ever.
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise


def open_database(path: DatabaseTarget | str) -> Database:
    """Open (creating if needed) the database at ``path`` in WAL mode, upgrading its schema.

    ``":memory:"`` opens a private in-memory database with the schema (tests, benchmarks).
    A ``postgresql://`` address connects to that server instead (:mod:`crawler.pg`).
    """
    url = postgres_url(path)
    if url is not None:
        return _open_postgres(url, read_only=False)
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_SECONDS, check_same_thread=False)
        db = sqlite_utils.Database(conn)
        db.enable_wal()
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        schema.upgrade(conn)
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(
            f"cannot open database {path}: {exc}",
            hint="check [service] database and that the folder is writable",
        ) from exc
    return db


def _open_postgres(url: PostgresUrl, *, read_only: bool) -> Database:
    try:
        from crawler.pg.connection import open_pg
    except ImportError as exc:
        raise StoreError(
            f"[service] database is {url.redacted}, but PostgreSQL support is not installed",
            hint="pip install 'newswatch[postgresql]'",
        ) from exc
    return open_pg(str(url), read_only=read_only)


def open_readonly(path: DatabaseTarget, *, any_thread: bool = False) -> Database:
    """Open an existing database read-only; StoreError if it is missing or not a database.

    A ``mode=ro`` connection never creates the file, never writes it and never upgrades
    its schema, so it is safe while the service runs; it reads files of older versions.
    ``any_thread`` lets a thread other than the opening one use (or close) it. On
    PostgreSQL every transaction is read-only and the schema is not upgraded.
    """
    url = postgres_url(path)
    if url is not None:
        return _open_postgres(url, read_only=True)
    path = Path(path)
    if not path.is_file():
        raise StoreError(
            f"no database at {path}",
            hint="the service creates it when it first starts; check [service] database",
        )
    uri = f"{path.resolve().as_uri()}?mode=ro"
    try:
        conn = sqlite3.connect(
            uri, uri=True, timeout=READ_TIMEOUT_SECONDS, check_same_thread=not any_thread
        )
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        raise StoreError(
            f"cannot read database {path}: {exc}",
            hint="is it a newswatch database, and readable by this user?",
        ) from exc
    return sqlite_utils.Database(conn)


def schema_version(db: Database) -> int:
    """The schema version of the open database (see :mod:`crawler.schema`)."""
    if is_postgres(db):
        from crawler.pg.connection import schema_version_of

        return schema_version_of(db)  # type: ignore[arg-type]
    return schema.schema_version(db.conn)


def table_names(db: Database) -> set[str]:
    """The tables present (a read-only reader may see a file not upgraded yet)."""
    return set(db.table_names())


@dataclass(frozen=True, slots=True)
class OptimizeReport:
    """Database size before and after :func:`optimize`, main file plus write-ahead log."""

    mode: str  # "full" or "incremental"
    bytes_before: int
    bytes_after: int


def optimize(db: Database) -> OptimizeReport:
    """Update the query planner's statistics and return free pages to the file system.

    Must run outside a transaction (SQLite refuses ``VACUUM`` inside one). The first call
    on a database makes a full ``VACUUM`` and switches it to incremental auto-vacuum, so
    later calls only release free pages, which is quick. A full vacuum rewrites the file
    and needs as much free disk space as the database takes.
    """
    if is_postgres(db):
        from crawler.pg.connection import analyze

        size = database_bytes(db)
        analyze(db)  # type: ignore[arg-type]
        return OptimizeReport(mode="analyze", bytes_before=size, bytes_after=database_bytes(db))
    if db.conn.in_transaction:
        raise StoreError(
            "cannot vacuum the database inside a transaction",
            hint="call optimize() after the transaction has committed",
        )
    before = database_bytes(db)
    db.execute("PRAGMA optimize")
    (mode,) = db.execute("PRAGMA auto_vacuum").fetchone()
    if mode == AUTO_VACUUM_INCREMENTAL:
        # Run to the end: stepped once from Python (execute), it frees a single page.
        db.conn.executescript("PRAGMA incremental_vacuum;")
        kind = "incremental"
    else:
        # Setting the mode takes effect with the VACUUM that follows.
        db.execute("PRAGMA auto_vacuum = INCREMENTAL")
        db.execute("VACUUM")
        kind = "full"
    # Fold the write-ahead log back into the file so the freed space shows on disk.
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    return OptimizeReport(mode=kind, bytes_before=before, bytes_after=database_bytes(db))


def database_file(db: Database) -> str | None:
    """The path of the database's file (a PostgreSQL database's address, without its
    password); None for an in-memory database."""
    if is_postgres(db):
        return describe(str(getattr(db, "url", "")))
    row = db.execute("PRAGMA database_list").fetchone()
    return str(row[2]) if row and row[2] else None


def database_bytes(db: Database) -> int:
    """Size of the main database file plus its write-ahead log, in bytes."""
    if is_postgres(db):
        from crawler.pg.connection import database_bytes as server_bytes

        return server_bytes(db)  # type: ignore[arg-type]
    row = db.execute("PRAGMA database_list").fetchone()
    path = Path(row[2]) if row and row[2] else None
    if path is None:  # an in-memory database
        (pages,) = db.execute("PRAGMA page_count").fetchone()
        (size,) = db.execute("PRAGMA page_size").fetchone()
        return int(pages * size)
    total = 0
    for candidate in (path, path.with_name(path.name + "-wal")):
        with contextlib.suppress(FileNotFoundError):
            total += candidate.stat().st_size
    return total
