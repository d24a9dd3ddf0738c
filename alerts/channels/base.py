"""What every delivery channel shares: the alert record, the channel interface, its error."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from alerts.records import Notification

if TYPE_CHECKING:
    pass

T = TypeVar("T")


class Channel(ABC):
    """A way of delivering alerts (mail, webhook, mbox...)."""

    name: str

    @abstractmethod
    async def send(self, alert: Notification) -> None:
        """Deliver one alert, digest or operations alert; raise DeliveryError on failure."""

    async def aclose(self) -> None:
        """Release resources held by the channel; the default holds none."""
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


async def run_blocking(func: Callable[[], T], *, timeout: float) -> T:
    """Run blocking ``func`` in a worker thread; raise TimeoutError after ``timeout`` seconds.

    The thread cannot be interrupted, so ``func`` must bound its own I/O (socket timeouts);
    the deadline here only frees the caller.
    """
    # Not asyncio.wait_for, which on Python 3.11 can swallow the service's stop.
    work = asyncio.ensure_future(asyncio.to_thread(func))
    done, _ = await asyncio.wait({work}, timeout=timeout)
    if not done:
        work.cancel()
        raise TimeoutError
    return work.result()
