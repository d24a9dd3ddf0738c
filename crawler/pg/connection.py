"""The :data:`crawler.db.Database` handle over a PostgreSQL connection pool.

:class:`PgDatabase` answers the calls the store modules make of an sqlite-utils
``Database`` (``execute``, ``query``, ``table(...).insert/update/upsert``, ``table_names``)
with their queries rewritten by :mod:`crawler.pg.dialect`, so one store module serves both
backends. Connections come from a psycopg pool in autocommit mode: a statement outside a
transaction takes a connection for itself; :meth:`PgDatabase.transaction` pins one to the
calling thread until it commits, and may first take an advisory lock that serialises one
kind of write across every worker (storing articles and assigning stories).

The session time zone is UTC, so ``date(x, '+N minutes')`` (rewritten to ``to_char``) gives
the same day on both backends.
"""

from __future__ import annotations

import contextlib
import threading
import zlib
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, cast

import psycopg
import psycopg_pool
import sqlite_utils
from psycopg.rows import dict_row

from crawler.db import PostgresUrl
from crawler.errors import StoreError
from crawler.pg import schema
from crawler.pg.dialect import translate

Params = Sequence[Any] | Mapping[str, Any] | None
POOL_MAX = 8
CONNECT_TIMEOUT_SECONDS = 10.0
_INSERT = "INSERT INTO "


def lock_key(name: str) -> int:
    """The advisory-lock number for a lock name (stable across processes and machines)."""
    return zlib.crc32(name.encode()) | (0x6E77 << 32)


class Result:
    """The rows of one statement, read in full so the connection can go back to the pool."""

    def __init__(self, rows: list[dict[str, Any]], rowcount: int, lastrowid: int | None):
        self.rows = rows
        self.rowcount = rowcount
        self.lastrowid = lastrowid
        self._next = 0

    def fetchone(self) -> tuple[Any, ...] | None:
        if self._next >= len(self.rows):
            return None
        self._next += 1
        return tuple(self.rows[self._next - 1].values())

    def fetchall(self) -> list[tuple[Any, ...]]:
        rest = [tuple(row.values()) for row in self.rows[self._next :]]
        self._next = len(self.rows)
        return rest

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.fetchall())


class _Connection:
    """What ``db.conn`` answers: whether this thread is inside a transaction."""

    def __init__(self, owner: PgDatabase) -> None:
        self._owner = owner

    @property
    def in_transaction(self) -> bool:
        return self._owner.pinned() is not None

    def commit(self) -> None:
        """Nothing to do: a statement outside a transaction commits on its own."""


def _plain(value: Any) -> Any:
    # sum() and friends answer numeric; SQLite's answer is an int.
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    return value


class PgDatabase(sqlite_utils.Database):
    """A PostgreSQL database behind the interface the store modules use."""

    is_postgres = True

    def __init__(self, url: str, *, read_only: bool = False, max_size: int = POOL_MAX) -> None:
        # sqlite-utils' own set-up opens an SQLite file; nothing of it is used here.
        self.url = url
        self.read_only = read_only
        self._local = threading.local()
        self._conn = _Connection(self)
        options = "-c TimeZone=UTC" + (" -c default_transaction_read_only=on" if read_only else "")
        self.pool = psycopg_pool.ConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            kwargs={"autocommit": True, "row_factory": dict_row, "options": options},
            timeout=CONNECT_TIMEOUT_SECONDS,
            open=False,
        )
        self.pool.open(wait=True, timeout=CONNECT_TIMEOUT_SECONDS)

    # sqlite-utils' attribute; here it only answers in_transaction.
    @property  # type: ignore[override]
    def conn(self) -> _Connection:  # type: ignore[override]
        return self._conn

    def pinned(self) -> psycopg.Connection[dict[str, Any]] | None:
        """The connection of this thread's open transaction, if any."""
        return cast("psycopg.Connection[dict[str, Any]] | None", getattr(self._local, "conn", None))

    @contextlib.contextmanager
    def connection(self) -> Iterator[psycopg.Connection[dict[str, Any]]]:
        """This thread's transaction's connection, else one from the pool for the block."""
        pinned = self.pinned()
        if pinned is not None:
            yield pinned
            return
        with self.pool.connection() as conn:
            yield cast("psycopg.Connection[dict[str, Any]]", conn)

    @contextlib.contextmanager
    def transaction(self, lock: str | None = None) -> Iterator[PgDatabase]:
        """One transaction on one connection; ``lock`` names an advisory lock to hold in it."""
        if self.pinned() is not None:
            with self.pinned().transaction():  # type: ignore[union-attr]
                if lock:
                    self._lock(lock)
                yield self
            return
        with self.pool.connection() as conn:
            self._local.conn = cast("psycopg.Connection[dict[str, Any]]", conn)
            try:
                with conn.transaction():
                    if lock:
                        self._lock(lock)
                    yield self
            finally:
                self._local.conn = None

    @contextlib.contextmanager
    def atomic(self) -> Iterator[PgDatabase]:  # type: ignore[override]
        """sqlite-utils' name for a transaction (a savepoint inside one)."""
        with self.transaction():
            yield self

    def _lock(self, name: str) -> None:
        self.execute("SELECT pg_advisory_xact_lock(?)", [lock_key(name)])

    def execute(  # type: ignore[override]
        self, sql: str, parameters: Params = None
    ) -> Result:
        text = translate(sql)
        returning_id = False
        if text.lstrip().upper().startswith(_INSERT) and " RETURNING " not in text.upper():
            table = text.lstrip()[len(_INSERT) :].split(None, 1)[0].strip('"')
            if table in schema.IDENTITY_TABLES:
                text += " RETURNING id"
                returning_id = True
        params: Sequence[Any] | Mapping[str, Any] = parameters if parameters is not None else []
        try:
            with self.connection() as conn, conn.cursor() as cursor:
                cursor.execute(text.encode(), params)
                rows = cursor.fetchall() if cursor.description else []
                rowcount = cursor.rowcount
        except psycopg.Error as exc:
            raise StoreError(f"PostgreSQL: {exc}".strip()) from exc
        rows = [{k: _plain(v) for k, v in row.items()} for row in rows]
        lastrowid = int(rows[0]["id"]) if returning_id and rows else None
        return Result(rows, rowcount, lastrowid)

    def query(  # type: ignore[override]
        self, sql: str, params: Params = None
    ) -> Iterator[dict[str, Any]]:
        yield from self.execute(sql, params).rows

    def table(self, table_name: str, **_: Any) -> PgTable:  # type: ignore[override]
        return PgTable(self, table_name)

    def table_names(self, fts4: bool = False, fts5: bool = False) -> list[str]:
        rows = self.query("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        return [row["tablename"] for row in rows]

    def close(self) -> None:
        self.pool.close()

    def __repr__(self) -> str:
        return f"<PgDatabase {redact(self.url)}>"


class PgTable:
    """The few sqlite-utils table calls the store modules make, keyed as the schema says."""

    def __init__(self, db: PgDatabase, name: str) -> None:
        if name not in schema.TABLE_KEYS:
            raise StoreError(f"no table {name!r} in the PostgreSQL schema")
        self.db = db
        self.name = name
        self.keys = schema.TABLE_KEYS[name]

    def insert(self, record: Mapping[str, Any], **_: Any) -> PgTable:
        columns = ", ".join(f'"{c}"' for c in record)
        marks = ", ".join("?" * len(record))
        self.db.execute(
            f'INSERT INTO "{self.name}" ({columns}) VALUES ({marks})', list(record.values())
        )
        return self

    def update(self, pk: Any, updates: Mapping[str, Any] | None = None, **_: Any) -> PgTable:
        if not updates:
            return self
        values = pk if isinstance(pk, list | tuple) else [pk]
        changes = ", ".join(f'"{c}" = ?' for c in updates)
        where = " AND ".join(f'"{k}" = ?' for k in self.keys)
        self.db.execute(
            f'UPDATE "{self.name}" SET {changes} WHERE {where}', [*updates.values(), *values]
        )
        return self

    def upsert(self, record: Mapping[str, Any], **_: Any) -> PgTable:
        columns = ", ".join(f'"{c}"' for c in record)
        marks = ", ".join("?" * len(record))
        keys = ", ".join(f'"{k}"' for k in self.keys)
        rest = [c for c in record if c not in self.keys]
        action = (
            "DO UPDATE SET " + ", ".join(f'"{c}" = excluded."{c}"' for c in rest)
            if rest
            else "DO NOTHING"
        )
        self.db.execute(
            f'INSERT INTO "{self.name}" ({columns}) VALUES ({marks}) ON CONFLICT ({keys}) {action}',
            list(record.values()),
        )
        return self


def redact(url: str) -> str:
    """The URL with its password hidden, for messages and logs."""
    return PostgresUrl(url).redacted


def open_pg(url: str, *, read_only: bool = False, upgrade: bool = True) -> PgDatabase:
    """Connect to ``url``, upgrading the schema unless read-only; StoreError on failure."""
    try:
        if upgrade and not read_only:
            with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
                schema.upgrade(conn)
        return PgDatabase(url, read_only=read_only)
    except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
        raise StoreError(
            f"cannot open database {redact(url)}: {str(exc).strip()}",
            hint="check [service] database, that the server runs and that the user may"
            " connect and create tables",
        ) from exc


def database_bytes(db: PgDatabase) -> int:
    """The database's size on the server, in bytes."""
    row = next(iter(db.query("SELECT pg_database_size(current_database()) AS n")))
    return int(row["n"])


def analyze(db: PgDatabase) -> None:
    """Update the planner's statistics (autovacuum gives space back on its own)."""
    db.execute("ANALYZE")


def schema_version_of(db: PgDatabase) -> int:
    """The shared schema version recorded in the database."""
    with db.connection() as conn:
        return schema.version_of(cast("psycopg.Connection[object]", conn))
