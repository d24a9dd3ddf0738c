"""Deliver alerts through Apprise, which speaks to about a hundred services by URL.

Apprise is an optional dependency (``pip install "apprise>=1.9,<2"``, or the
``newswatch[apprise]`` extra); it is imported only when an ``apprise`` channel is
configured. Each alert is sent as its e-mail subject (the title) and plain-text body, so
user templates apply here too.

Apprise reports failure as a plain ``False``; the reason is read from its log. It cannot
tell a lasting failure from a passing one, so every failure is retried until the retry
limits give up. With several URLs, a failure of one means all are tried again: give each
service its own channel to avoid duplicates.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import warnings
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Protocol, Self
from urllib.parse import urlsplit

from alerts.channels.base import Channel, ChannelContext, run_blocking
from alerts.errors import DeliveryError, RenderError
from alerts.records import Notification, OpsAlert
from alerts.render.message import clean_line
from alerts.render.notices import render_any

logger = logging.getLogger(__name__)

INSTALL_HINT = 'install it with: pip install "apprise>=1.9,<2"'
# Apprise's log capture is process-wide; one notification at a time keeps reasons apart.
_CAPTURE_LOCK = threading.Lock()
_LOG_PREFIX = re.compile(r"^.*? - (?:DEBUG|INFO|WARNING|ERROR|CRITICAL) - ")


@functools.lru_cache(maxsize=1)
def load_apprise() -> ModuleType:
    """Import apprise and its plugins; ModuleNotFoundError when it is not installed."""
    with warnings.catch_warnings():
        # Some plugins import modules deprecated in newer Pythons (imghdr); not ours to fix.
        warnings.simplefilter("ignore", DeprecationWarning)
        import apprise
        import apprise.plugins

        apprise.plugins.N_MGR.load_modules()
    module: ModuleType = apprise  # apprise ships no type information
    return module


def check_url(url: str) -> str | None:
    """Why apprise cannot use ``url``, or None when it can. Never repeats the URL's secrets."""
    try:
        apprise = load_apprise()
    except ModuleNotFoundError:
        return f"apprise is not installed ({INSTALL_HINT})"
    if apprise.Apprise.instantiate(url) is None:
        return f"apprise does not understand this {scheme_of(url)} URL"
    return None


def scheme_of(url: str) -> str:
    """``tgram://``: the part of an apprise URL that names the service and nothing secret."""
    scheme = urlsplit(url).scheme
    return f"{scheme}://" if scheme else "(no scheme)"


class AppriseSettings(Protocol):
    """What an ``apprise`` channel table holds once the config loader has validated it."""

    urls: tuple[str, ...]
    timeout: timedelta


class AppriseChannel(Channel):
    """Send each alert to every apprise URL of the channel.

    Settings are checked once, when the configuration is loaded (:func:`check_url`), and
    apprise must be installed by then.
    """

    def __init__(
        self,
        name: str,
        *,
        urls: Sequence[str],
        timeout: float = 30.0,
        timezone: str = "UTC",
        template_dir: Path | None = None,
    ) -> None:
        self._module = load_apprise()
        self.name = name
        self.timeout = timeout
        self.timezone = timezone
        self.template_dir = template_dir
        self._apprise = self._module.Apprise()
        for index, url in enumerate(urls):
            # A URL apprise refuses would otherwise be dropped without a word.
            if not self._apprise.add(url):
                raise ValueError(
                    f"apprise channel {name!r}: urls[{index}] is not a URL apprise understands "
                    f"({scheme_of(url)})"
                )
        self.where = ", ".join(scheme_of(url) for url in urls)

    @classmethod
    def from_config(cls, name: str, settings: AppriseSettings, context: ChannelContext) -> Self:
        """The channel for a validated ``type = "apprise"`` table."""
        return cls(
            name,
            urls=settings.urls,
            timeout=settings.timeout.total_seconds(),
            timezone=context.timezone,
            template_dir=context.template_dir,
        )

    async def send(self, alert: Notification) -> None:
        """Notify every URL; raise DeliveryError when apprise reports a failure."""
        try:
            rendered = render_any(alert, timezone=self.timezone, template_dir=self.template_dir)
        except (RenderError, ValueError) as exc:
            raise DeliveryError(
                f"cannot build the message: {exc}", channel=self.name, permanent=True
            ) from exc
        kind = self._kind(alert)
        notify = functools.partial(self._notify, rendered.subject, rendered.text, kind)
        try:
            await run_blocking(notify, timeout=self.timeout)
        except TimeoutError:
            raise DeliveryError(
                f"timed out after {self.timeout:g}s notifying {self.where}",
                channel=self.name,
                hint="the service is slow or unreachable; it will be retried",
            ) from None

    def _kind(self, alert: Notification) -> str:
        types = self._module.NotifyType
        kind: str = types.INFO
        if isinstance(alert, OpsAlert):
            kind = types.WARNING if alert.status == "broken" else types.SUCCESS
        return kind

    def _notify(self, title: str, body: str, kind: str) -> None:
        """Blocking notification; a failure leaves as DeliveryError with apprise's reason."""
        module = self._module
        with _CAPTURE_LOCK, module.LogCapture(level=logging.WARNING) as log:
            try:
                ok = self._apprise.notify(
                    body=body, title=title, notify_type=kind, body_format=module.NotifyFormat.TEXT
                )
            except (OSError, TypeError, ValueError) as exc:
                raise DeliveryError(
                    f"apprise failed notifying {self.where}: {exc}", channel=self.name
                ) from exc
            reasons = _reasons(log.getvalue())
        if not ok:
            raise DeliveryError(
                f"apprise could not notify {self.where}: {reasons or 'no reason given'}",
                channel=self.name,
                hint="check the channel's `urls`; `newswatch alerts test` shows the full reason",
            )
        logger.debug("apprise channel %s notified %s", self.name, self.where)


def _reasons(captured: str) -> str:
    """Apprise's log lines without their timestamps and levels, on one line."""
    lines = [clean_line(_LOG_PREFIX.sub("", line)) for line in captured.splitlines()]
    return "; ".join(dict.fromkeys(line for line in lines if line))[:500]
