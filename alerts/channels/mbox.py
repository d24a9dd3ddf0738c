"""Append alerts to a local mbox file, readable by mutt, Thunderbird or ``mailbox.mbox``."""

from __future__ import annotations

import errno
import functools
import logging
import mailbox
import os
import threading
import time
from pathlib import Path
from typing import Protocol, Self

from alerts.channels.base import Channel, ChannelContext, run_blocking
from alerts.errors import DeliveryError, RenderError
from alerts.records import Notification
from alerts.render.notices import email_for

logger = logging.getLogger(__name__)

MBOX_SENDER = "newswatch <newswatch@newswatch.invalid>"
# No timeout option: a local append only blocks on a wedged disk or network file system.
APPEND_TIMEOUT = 60.0
# Errors that another attempt cannot fix; anything else (a full disk...) may clear up.
_PERMANENT_ERRNOS = {
    errno.EACCES,
    errno.EEXIST,  # a parent "folder" is a file
    errno.EPERM,
    errno.EISDIR,
    errno.ENOTDIR,
    errno.EROFS,
    errno.ENAMETOOLONG,
}

# mailbox's dot-lock refuses a second locker even in the same process, so concurrent
# sends to one file queue here instead of failing with "locked".
_path_locks: dict[Path, threading.Lock] = {}
_path_locks_guard = threading.Lock()


class MboxSettings(Protocol):
    """What an ``mbox`` channel table holds once the config loader has validated it."""

    path: Path


class MboxChannel(Channel):
    """Write each alert, as the same message the mail channel sends, to one mbox file."""

    def __init__(
        self,
        name: str,
        *,
        path: Path,
        timezone: str = "UTC",
        template_dir: Path | None = None,
    ) -> None:
        self.name = name
        self.path = Path(path).expanduser()
        self.timezone = timezone
        self.template_dir = template_dir

    @classmethod
    def from_config(cls, name: str, settings: MboxSettings, context: ChannelContext) -> Self:
        """The channel for a validated ``type = "mbox"`` table."""
        return cls(
            name,
            path=settings.path,
            timezone=context.timezone,
            template_dir=context.template_dir,
        )

    async def send(self, alert: Notification) -> None:
        """Append ``alert`` under the mbox lock; raise DeliveryError on failure."""
        try:
            msg = email_for(
                alert,
                sender=MBOX_SENDER,
                to=(),
                timezone=self.timezone,
                template_dir=self.template_dir,
            )
            data = msg.as_bytes(policy=msg.policy.clone(linesep="\n"))
        except (RenderError, ValueError) as exc:
            raise DeliveryError(
                f"cannot build the message: {exc}", channel=self.name, permanent=True
            ) from exc
        from_line = f"From newswatch@newswatch.invalid {time.asctime(time.gmtime())}\n"
        append = functools.partial(self._append, from_line.encode("ascii") + data)
        try:
            await run_blocking(append, timeout=APPEND_TIMEOUT)
        except TimeoutError:
            raise DeliveryError(
                f"timed out after {APPEND_TIMEOUT:g}s appending to {self.path}",
                channel=self.name,
            ) from None

    def _append(self, data: bytes) -> None:
        """Blocking locked append; every failure leaves as DeliveryError."""
        try:
            with _lock_for(self.path):
                self.path.parent.mkdir(parents=True, exist_ok=True)
                _locked_append(self.path, data)
        except mailbox.ExternalClashError as exc:
            raise DeliveryError(
                f"{self.path} is locked by another program",
                channel=self.name,
                hint=f"if nothing else uses it, remove a stale {self.path}.lock",
            ) from exc
        except (OSError, mailbox.Error) as exc:
            permanent = isinstance(exc, OSError) and exc.errno in _PERMANENT_ERRNOS
            raise DeliveryError(
                f"cannot append to {self.path}: {exc}",
                channel=self.name,
                permanent=permanent,
                hint="check the channel's `path` and its permissions" if permanent else None,
            ) from exc
        logger.debug("mbox channel %s appended a message to %s", self.name, self.path)


def _locked_append(path: Path, data: bytes) -> None:
    """Append one message the way ``mailbox.mbox.add`` writes it, without its cost.

    ``mailbox.mbox.add`` first indexes the whole file, so each alert took longer as the file
    grew (seconds per alert at tens of megabytes). Appending needs no index: take the same
    locks mailbox takes (fcntl and a dot-lock, which mail readers honour), quote body lines
    that start with "From " and end the message with a blank line.
    """
    from_line, _, message = data.partition(b"\n")
    message = message.replace(b"\nFrom ", b"\n>From ")
    if message.startswith(b"From "):
        message = b">" + message
    if not message.endswith(b"\n"):
        message += b"\n"
    with open(path, "ab") as handle:
        # The same locking mailbox.mbox.lock() does; it raises ExternalClashError when
        # another program holds the mailbox. Private, so typeshed does not declare it.
        mailbox._lock_file(handle, dotlock=True)  # type: ignore[attr-defined]  # noqa: SLF001
        try:
            handle.write(from_line + b"\n" + message + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        finally:
            mailbox._unlock_file(handle)  # type: ignore[attr-defined]  # noqa: SLF001


def _lock_for(path: Path) -> threading.Lock:
    key = path.resolve()
    with _path_locks_guard:
        return _path_locks.setdefault(key, threading.Lock())
