"""Waiting in tests: for a condition to hold, never for a fixed time.

``wait_until`` polls a predicate (the service in a subprocess, files, a database);
``wait_on`` blocks on a ``threading.Condition`` that the peer notifies (the SMTP server and
webhook receiver in tests/peers.py). Both fail with an AssertionError naming what was
awaited.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

POLL_INTERVAL = 0.05


def wait_until(
    predicate: Callable[[], bool], timeout: float = 30.0, what: str = "condition"
) -> None:
    """Poll ``predicate()`` until it holds; AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s")
        time.sleep(POLL_INTERVAL)


def wait_on(
    cond: threading.Condition,
    predicate: Callable[[], bool],
    timeout: float,
    what: str = "condition",
) -> None:
    """Block on ``cond`` until ``predicate()`` holds; AssertionError after ``timeout``."""
    with cond:
        if not cond.wait_for(predicate, timeout):
            raise AssertionError(f"{what} not met within {timeout}s")
