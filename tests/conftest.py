"""Shared fixtures: real local peers (HTTP, SMTP, webhook receiver) and the shared corpus."""

pytest_plugins = [
    "tests.peers",
    "tests.httpserver",
    "tests.loopthread",
    "tests.crawlkit",
]
