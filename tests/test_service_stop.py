"""Stopping: a cancellation that races with a wake-up is never lost."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from scheduler.service import wait_event


async def cancel_as_event_fires(waiter_factory) -> asyncio.Task[None]:
    event = asyncio.Event()
    task = asyncio.ensure_future(waiter_factory(event))
    await asyncio.sleep(0)  # the waiter is now waiting
    event.set()
    task.cancel()  # the stop arrives in the same loop iteration as the wake-up
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return task


def test_wait_event_keeps_a_cancellation_that_races_with_the_event():
    task = asyncio.run(cancel_as_event_fires(lambda event: wait_event(event, 10)))
    assert task.cancelled()


def test_wait_event_returns_on_timeout_and_on_event():
    async def run() -> tuple[bool, bool]:
        quiet = asyncio.Event()
        await wait_event(quiet, 0.01)
        ready = asyncio.Event()
        ready.set()
        await wait_event(ready, 10)
        return quiet.is_set(), ready.is_set()

    assert asyncio.run(run()) == (False, True)


@pytest.mark.skipif(
    not hasattr(asyncio, "timeout") or __import__("sys").version_info >= (3, 12),
    reason="the asyncio.wait_for race this guards against is specific to Python 3.11",
)
def test_wait_for_itself_loses_that_cancellation_on_python_311():
    async def with_wait_for(event: asyncio.Event) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), 10)

    task = asyncio.run(cancel_as_event_fires(with_wait_for))
    assert not task.cancelled()
