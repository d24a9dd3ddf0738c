"""Shared fixtures: real local peers (HTTP, SMTP, webhook receiver), the shared corpus, and
a browser (Chromium through Playwright) for the web interface."""

pytest_plugins = [
    "tests.peers",
    "tests.httpserver",
    "tests.loopthread",
    "tests.crawlkit",
    "tests.browser",
]
