"""Driving Debian's Chromium through Playwright, without downloading a browser.

Tests that need a browser take the ``browser`` fixture; it skips them with the reason when
Playwright or Chromium is missing (``.ci/run`` installs Chromium). ``NEWSWATCH_CHROMIUM``
names another Chromium binary.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def chromium_path() -> str | None:
    """The Chromium to drive, or None when there is none on this machine."""
    given = os.environ.get("NEWSWATCH_CHROMIUM")
    if given:
        return given if Path(given).is_file() else None
    for candidate in CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    return shutil.which("chromium") or shutil.which("chromium-browser")


def launch(playwright: Any) -> Any:
    """Chromium, headless; no sandbox, which needs a non-root user (CI runs as root)."""
    path = chromium_path()
    assert path is not None
    return playwright.chromium.launch(executable_path=path, args=["--no-sandbox"])


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A running Chromium for the module's tests."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright is not installed (pip install '.[test]')")
    if chromium_path() is None:
        pytest.skip("no Chromium at /usr/bin/chromium (apt-get install chromium; .ci/run does)")
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser tab (own cookies) that fails the test on a script error or a dialog."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda error: problems.append(f"script error: {error}"))

    def dialog(box: Any) -> None:
        problems.append(f"a dialog opened: {box.message}")
        box.dismiss()

    tab.on("dialog", dialog)
    tab.problems = problems
    try:
        yield tab
    finally:
        context.close()
