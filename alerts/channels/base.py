"""What every delivery channel shares: the alert record, the channel interface, its error."""

from __future__ import annotations

import asyncio
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from crawler.errors import NewswatchError
from crawler.models import Article

if TYPE_CHECKING:
    from alerts.snippets import Snippet

T = TypeVar("T")

# Visible ASCII only: the key travels in HTTP and mail headers, where anything else is
# either forbidden (CR/LF) or mangled (non-ASCII). 256 keeps every header line short.
_KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,256}")


class DeliveryError(NewswatchError):
    """A channel could not deliver an alert.

    ``permanent`` says that retrying the same alert cannot help (bad credentials, a
    rejected recipient, a 404 webhook); ``retry_after`` is the delay in seconds the peer
    asked for, when it asked for one.
    """

    def __init__(
        self,
        message: str,
        *,
        channel: str,
        permanent: bool = False,
        retry_after: float | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.channel = channel
        self.permanent = permanent
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Alert:
    """One article that matched one rule, to be delivered through one channel.

    ``key`` is unique per (rule, article, channel) and stable across re-sends: it becomes
    the e-mail Message-ID and the webhook Idempotency-Key, so receivers can drop
    duplicates.
    """

    key: str
    rule: str
    article: Article
    snippets: tuple[Snippet, ...] = ()
    also_reported_by: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not _KEY_PATTERN.fullmatch(self.key):
            raise ValueError(
                f"alert key {self.key!r} is not usable: it must be 1 to 256 visible ASCII "
                "characters (no spaces or control characters)"
            )
        # Callers may hand over lists; tuples keep the record hashable and immutable.
        object.__setattr__(self, "snippets", tuple(self.snippets))
        object.__setattr__(self, "also_reported_by", tuple(self.also_reported_by))


class Channel(ABC):
    """A way of delivering alerts (mail, webhook, mbox...)."""

    name: str

    @abstractmethod
    async def send(self, alert: Alert) -> None:
        """Deliver one alert; raise DeliveryError (and nothing else) on failure."""

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
    return await asyncio.wait_for(asyncio.to_thread(func), timeout)
