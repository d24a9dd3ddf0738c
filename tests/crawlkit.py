"""Fixtures for crawl tests: the fetch settings tests run with, one crawl manager per test
module, a fresh database, and the local news site (tests/newssite.py) on the test server.

Registered in tests/conftest.py, so test modules use the fixtures by name.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from crawler.db import open_database
from crawler.fetch import CrawlManager, FetchSettings
from tests.httpserver import FeedServer
from tests.newssite import Site, serve_site


def fetch_settings(**overrides: Any) -> FetchSettings:
    """Settings for crawls against 127.0.0.1: a test user agent, short timeouts, a 200 KB
    cap, and no politeness delay between pages of our own server."""
    options: dict[str, Any] = {
        "user_agent": "newswatch-test/1",
        "timeout": 3,
        "max_size": 200_000,
        "page_delay": 0.0,
    }
    options.update(overrides)
    return FetchSettings(**options)


@pytest.fixture(scope="module")
def crawls() -> CrawlManager:
    """One crawl manager with :func:`fetch_settings` for every test of a module."""
    return CrawlManager(fetch_settings())


@pytest.fixture
def db(tmp_path: Path) -> Iterator[sqlite_utils.Database]:
    """A new database file with every table, closed after the test."""
    database = open_database(tmp_path / "newswatch.db")
    yield database
    database.close()


@pytest.fixture
def site(http_server: FeedServer) -> Site:
    """The local news site, served by the test's HTTP server."""
    return serve_site(http_server)
