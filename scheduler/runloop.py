"""Run a coroutine on a fresh event loop and end the process promptly afterwards.

``asyncio.run`` waits without limit for worker threads at exit; a thread blocked on a hung
SMTP or webhook connection would then delay a SIGTERM stop by its whole timeout. Here the
wait is bounded and the caller learns whether threads were left behind.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

from crawler.fetch import shutdown_reactor

logger = logging.getLogger(__name__)

T = TypeVar("T")
EXECUTOR_GRACE_SECONDS = 2.0


def run_async(main: Coroutine[Any, Any, T]) -> tuple[T, bool]:
    """Run ``main``; returns its result and whether worker threads were still busy at exit."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        result = loop.run_until_complete(main)
    finally:
        threads_left = _close_loop(loop)
    return result, threads_left


def _close_loop(loop: asyncio.AbstractEventLoop) -> bool:
    threads_left = False
    try:
        _cancel_remaining(loop)
        loop.run_until_complete(loop.shutdown_asyncgens())
        shutdown_reactor()
        closing = loop.create_task(loop.shutdown_default_executor())
        done, _ = loop.run_until_complete(asyncio.wait({closing}, timeout=EXECUTOR_GRACE_SECONDS))
        if not done:
            threads_left = True
            logger.warning("a network call is still running; exiting without waiting")
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    return threads_left


def _cancel_remaining(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        # Bounded: a task that ignores cancellation (a Scrapy crawl stopped while starting)
        # must not keep the process alive.
        loop.run_until_complete(asyncio.wait(tasks, timeout=EXECUTOR_GRACE_SECONDS))
