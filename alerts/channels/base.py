"""What every delivery channel shares: the channel interface and what it is built from."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self, TypeVar

from alerts.records import Notification

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ChannelContext:
    """Service-wide settings a channel may use besides its own ``[channels.NAME]`` table."""

    timezone: str = "UTC"  # the zone times in messages are shown in
    template_dir: Path | None = None  # the user's templates, replacing packaged ones by name
    user_agent: str = "newswatch"  # sent by channels that speak HTTP


class Channel(ABC):
    """A way of delivering alerts (mail, webhook, mbox...).

    Each channel type is one module with one subclass, registered under its config ``type``
    in :data:`alerts.channels.CHANNELS`.
    """

    name: str

    @classmethod
    @abstractmethod
    def from_config(cls, name: str, settings: Any, context: ChannelContext) -> Self:
        """The channel for one ``[channels.NAME]`` table, already validated at load.

        ``settings`` is read by attribute (the scheduler's settings model for this type);
        each subclass describes the attributes it reads in a Protocol.
        """

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
