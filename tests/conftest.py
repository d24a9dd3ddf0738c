"""Shared fixtures: real local peers (HTTP, SMTP, webhook receiver), the shared corpus, and
a browser (Chromium through Playwright) for the web interface."""

import os
from collections.abc import Iterator

import pytest

pytest_plugins = [
    "tests.peers",
    "tests.httpserver",
    "tests.loopthread",
    "tests.crawlkit",
    "tests.browser",
    "tests.pgkit",
    "tests.googlenews",
]


@pytest.fixture(autouse=True, scope="session")
def _private_cache_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Parsed-query caches go to a folder of the test run, not the user's ~/.cache; child
    processes inherit it."""
    before = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    yield
    if before is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = before
