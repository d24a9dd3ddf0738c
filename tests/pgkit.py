"""PostgreSQL for the tests: a database of its own per test, on the local server.

The server is the one at 127.0.0.1:5432 (trust auth, user postgres; ``NEWSWATCH_TEST_PG``
names another). Each test that asks for ``pg_url`` gets a new database with a random
name, dropped afterwards. Without psycopg or a reachable server those tests skip and say
why. ``store_db`` runs a test once on SQLite and once on PostgreSQL.

Registered in tests/conftest.py, so test modules use the fixtures by name.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlite_utils

from crawler.db import open_database

SERVER = os.environ.get("NEWSWATCH_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
_reason: list[str] = []


def _unavailable() -> str | None:
    """Why PostgreSQL tests cannot run here, or None when they can (asked once)."""
    if _reason:
        return _reason[0] or None
    try:
        import psycopg
    except ImportError:
        _reason.append("psycopg is not installed (pip install 'newswatch[postgresql]')")
        return _reason[0]
    try:
        with psycopg.connect(SERVER, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        _reason.append(f"no PostgreSQL server reachable at {SERVER}: {str(exc).strip()}")
        return _reason[0]
    _reason.append("")
    return None


def database_url(name: str) -> str:
    """The address of database ``name`` on the test server."""
    return SERVER.rsplit("/", 1)[0] + "/" + name


def create_database() -> str:
    """A new, empty database on the test server; returns its address."""
    import psycopg

    name = f"newswatch_test_{secrets.token_hex(6)}"
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    return database_url(name)


def drop_database(url: str) -> None:
    """Drop a database made by :func:`create_database`, closing its connections."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test, dropped after it."""
    reason = _unavailable()
    if reason:
        pytest.skip(reason)
    url = create_database()
    try:
        yield url
    finally:
        drop_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Where a test's database is: an SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        yield str(tmp_path / "newswatch.db")
        return
    reason = _unavailable()
    if reason:
        pytest.skip(reason)
    url = create_database()
    try:
        yield url
    finally:
        drop_database(url)


@pytest.fixture
def store_db(backend: str) -> Iterator[sqlite_utils.Database]:
    """An open, upgraded database on each backend in turn."""
    db = open_database(backend)
    try:
        yield db
    finally:
        db.close()
