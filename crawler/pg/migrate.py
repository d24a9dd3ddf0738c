"""``newswatch migrate --to postgresql://...``: an SQLite database copied into PostgreSQL.

Every table of the schema is copied in key order, a batch per transaction, each row an
upsert on its primary key: nothing is duplicated, a row copied before is brought up to
date, and a copy stopped half-way (Ctrl-C, a lost connection, a crash) is finished by
running the same command again. Row ids are kept, so matches, outbox rows and stories
still point at the same articles; the identity sequences then continue after the
highest id. At the end both sides' row counts are compared table by table.

The SQLite file is upgraded to the current schema first (as the service would on start);
one of a newer version than this release knows is refused. Rows are read in pages by
primary key, so memory stays flat whatever the size of the archive.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from crawler.db import open_database, schema_version
from crawler.errors import StoreError
from crawler.pg import schema as pg_schema
from crawler.pg.connection import PgDatabase, open_pg, redact

logger = logging.getLogger(__name__)

BATCH_ROWS = 2000
# Called after each committed batch with the table and the rows copied of it so far.
Progress = Callable[[str, int], None]


@dataclass(frozen=True, slots=True)
class TableCopy:
    """One table's copy: rows in the SQLite file, rows in PostgreSQL after the copy."""

    table: str
    source_rows: int
    target_rows: int

    @property
    def complete(self) -> bool:
        """Whether PostgreSQL holds as many rows as the file."""
        return self.source_rows == self.target_rows


@dataclass(slots=True)
class CopyReport:
    """What a migration copied, per table, in order."""

    tables: list[TableCopy] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Whether every table's row counts agree."""
        return all(t.complete for t in self.tables)


def migrate(
    source: Path, target: str, *, batch: int = BATCH_ROWS, progress: Progress | None = None
) -> CopyReport:
    """Copy the SQLite database at ``source`` into the PostgreSQL database ``target``."""
    if not Path(source).is_file():
        raise StoreError(
            f"no database at {source}", hint="[service] database names the SQLite file to copy"
        )
    lite = open_database(source)
    try:
        found = schema_version(lite)
        if found != pg_schema.LATEST:
            raise StoreError(
                f"{source} has schema version {found}; this newswatch copies version"
                f" {pg_schema.LATEST}",
                hint="use the newswatch release that wrote the file to migrate it",
            )
        pg = open_pg(target)
        try:
            report = CopyReport()
            for table, keys in pg_schema.TABLE_KEYS.items():
                report.tables.append(_copy_table(lite.conn, pg, table, keys, batch, progress))
            _continue_sequences(pg)
            return report
        finally:
            pg.close()
    finally:
        lite.close()


def _copy_table(
    lite: sqlite3.Connection,
    pg: PgDatabase,
    table: str,
    keys: tuple[str, ...],
    batch: int,
    progress: Progress | None,
) -> TableCopy:
    columns = _common_columns(lite, pg, table)
    quoted = ", ".join(f'"{c}"' for c in columns)
    key_list = ", ".join(f'"{k}"' for k in keys)
    rest = [c for c in columns if c not in keys]
    action = (
        "DO UPDATE SET " + ", ".join(f'"{c}" = excluded."{c}"' for c in rest)
        if rest
        else "DO NOTHING"
    )
    upsert = (
        f'INSERT INTO "{table}" ({quoted}) VALUES ({", ".join(["%s"] * len(columns))})'
        f" ON CONFLICT ({key_list}) {action}"
    ).encode()
    key_at = [columns.index(k) for k in keys]
    page = (
        f'SELECT {quoted} FROM "{table}" WHERE ({key_list}) > ({", ".join("?" * len(keys))})'
        f" ORDER BY {key_list} LIMIT ?"
    )
    first = f'SELECT {quoted} FROM "{table}" ORDER BY {key_list} LIMIT ?'
    copied = 0
    last: Sequence[Any] | None = None
    while True:
        rows = (
            lite.execute(first, [batch]).fetchall()
            if last is None
            else lite.execute(page, [*last, batch]).fetchall()
        )
        if not rows:
            break
        _write(pg, table, upsert, rows)
        copied += len(rows)
        last = [rows[-1][i] for i in key_at]
        if progress is not None:
            progress(table, copied)
    (source_rows,) = lite.execute(f'SELECT count(*) FROM "{table}"').fetchone()
    target = next(iter(pg.query(f'SELECT count(*) AS n FROM "{table}"')))["n"]
    logger.info("%s: %d rows copied, %d in PostgreSQL", table, copied, target)
    return TableCopy(table, int(source_rows), int(target))


def _write(pg: PgDatabase, table: str, upsert: bytes, rows: list[tuple[Any, ...]]) -> None:
    try:
        with pg.pool.connection() as conn, conn.transaction(), conn.cursor() as cursor:
            cursor.executemany(upsert, rows)
    except psycopg.Error as exc:
        raise StoreError(
            f"copying {table} into {redact(pg.url)} failed: {str(exc).strip()}",
            hint="fix the cause and run the same command again: what was copied stays,"
            " and the copy goes on from there",
        ) from exc


def _common_columns(lite: sqlite3.Connection, pg: PgDatabase, table: str) -> list[str]:
    theirs = [row[1] for row in lite.execute(f'PRAGMA table_info("{table}")')]
    ours = {
        row["column_name"]
        for row in pg.query(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = ?",
            [table],
        )
    }
    missing = [c for c in theirs if c not in ours]
    if missing:
        raise StoreError(
            f"{table} has columns PostgreSQL lacks: {', '.join(missing)}",
            hint="the file was changed outside newswatch; nothing was copied of this table",
        )
    return theirs


def _continue_sequences(pg: PgDatabase) -> None:
    """New rows in PostgreSQL get ids after the copied ones."""
    for table in pg_schema.IDENTITY_TABLES:
        pg.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
            f' coalesce((SELECT max(id) FROM "{table}"), 0) + 1, false)'
        )
