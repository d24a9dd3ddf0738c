"""Deliver alerts as a signed JSON POST to an HTTP(S) endpoint.

The body is newswatch's version 1 document (``format = "json"``, see
:mod:`alerts.render.formats.jsondoc`) or a chat service's message format (``slack``,
``discord``, ``teams``). It depends only on the alert, so a re-send carries the same
bytes, the same ``Idempotency-Key`` and the same signature. docs/alerts.md describes the
schema and how to verify signatures.
"""

from __future__ import annotations

import email.utils
import functools
import hashlib
import hmac
import http.client
import json
import logging
import math
import re
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Protocol, Self
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from alerts.channels.base import Channel, ChannelContext, run_blocking
from alerts.errors import DeliveryError
from alerts.records import Notification
from alerts.render.formats import build_payload
from alerts.render.message import clean_line, load_zone

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Newswatch-Signature"
_RESERVED = {"content-type", "content-length", "host", "idempotency-key", "user-agent"}
_RESERVED.add(SIGNATURE_HEADER.lower())
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_UNSAFE_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_STATUS_HINTS = {
    400: "the receiver rejected the payload; check that it accepts newswatch webhook JSON v1",
    401: "check the credentials in the channel's `headers` or the token in `url`",
    403: "check the credentials in the channel's `headers` or the token in `url`",
    404: "check the channel's `url`: the endpoint does not exist",
    405: "check the channel's `url`: the endpoint does not accept POST",
    410: "check the channel's `url`: the endpoint has been removed",
    413: "the receiver limits request size below one alert",
}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: urllib would replay a POST as a GET, silently dropping the alert."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class WebhookSettings(Protocol):
    """What a ``webhook`` channel table holds once the config loader has validated it."""

    url: str
    format: str
    headers: dict[str, str]
    secret: str | None
    timeout: timedelta


class WebhookChannel(Channel):
    """POST each alert as JSON to ``url``, signed with HMAC-SHA256 when ``secret`` is set.

    ``format`` names a body builder of :data:`alerts.render.formats.FORMATS`. ``timezone`` is
    the zone chat formats show times in; the ``json`` format is always UTC. Settings are
    checked once, when the configuration is loaded (:func:`check_url`, :func:`check_headers`),
    not here.
    """

    def __init__(
        self,
        name: str,
        *,
        url: str,
        format: str = "json",
        headers: Mapping[str, str] | None = None,
        secret: str | None = None,
        timeout: float = 30.0,
        user_agent: str = "newswatch",
        timezone: str = "UTC",
    ) -> None:
        parts = urlsplit(url)
        self.name = name
        self.url = url
        self.format = format
        self.headers = {"User-Agent": user_agent, **(headers or {})}
        self.secret = secret
        self.timeout = timeout
        self.user_agent = user_agent
        self.zone: ZoneInfo = load_zone(timezone)
        # The path often holds a token (Slack, Teams...), so messages show only the origin.
        self.where = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
        self._opener = urllib.request.build_opener(_NoRedirect())

    @classmethod
    def from_config(cls, name: str, settings: WebhookSettings, context: ChannelContext) -> Self:
        """The channel for a validated ``type = "webhook"`` table."""
        return cls(
            name,
            url=settings.url,
            format=settings.format,
            headers=settings.headers,
            secret=settings.secret,
            timeout=settings.timeout.total_seconds(),
            user_agent=context.user_agent,
            timezone=context.timezone,
        )

    def request_for(self, alert: Notification) -> urllib.request.Request:
        """The exact HTTP request that delivers ``alert`` (an alert, digest or ops alert)."""
        payload = build_payload(self.format, alert, self.zone)
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {
            **self.headers,
            "Content-Type": "application/json",
            "Idempotency-Key": alert.key,
        }
        if self.secret is not None:
            headers[SIGNATURE_HEADER] = sign(body, self.secret)
        return urllib.request.Request(self.url, data=body, headers=headers, method="POST")

    async def send(self, alert: Notification) -> None:
        """POST ``alert``; any 2xx is success, anything else raises DeliveryError."""
        try:
            request = self.request_for(alert)
        except (AttributeError, TypeError, ValueError) as exc:
            raise DeliveryError(
                f"cannot build the payload for {alert.key}: {exc}",
                channel=self.name,
                permanent=True,
            ) from exc
        try:
            await run_blocking(functools.partial(self._post, request), timeout=self.timeout)
        except TimeoutError:
            raise self._timeout_error() from None

    def _post(self, request: urllib.request.Request) -> None:
        """Blocking POST; every failure leaves as DeliveryError."""
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            try:
                raise self._status_error(exc) from None
            finally:
                exc.close()  # it holds the response socket
        except urllib.error.URLError as exc:
            raise self._network_error(exc.reason) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise self._network_error(exc) from exc
        except ValueError as exc:  # http.client refusing the request line or a header
            raise DeliveryError(
                f"cannot send to {self.where}: {exc}", channel=self.name, permanent=True
            ) from exc
        logger.debug("webhook channel %s: %s answered %s", self.name, self.where, status)

    def _status_error(self, exc: urllib.error.HTTPError) -> DeliveryError:
        status = exc.code
        message = f"webhook {self.where} answered {status} {exc.reason}"
        detail = _body_excerpt(exc)
        if detail:
            message += f": {detail}"
        if status in (408, 429) or status >= 500:
            retry_after = parse_retry_after(exc.headers.get("Retry-After"))
            return DeliveryError(message, channel=self.name, retry_after=retry_after)
        hint = _STATUS_HINTS.get(status, "check the channel's `url` and `headers`")
        if status in (400, 422) and self.format != "json":
            hint = f"the receiver rejected the {self.format} message; check that `url` is a "
            hint += f"{self.format} webhook address"
        if 300 <= status < 400:
            target = urlsplit(exc.headers.get("Location") or "")
            hint = f"the endpoint redirects (to {target.scheme}://{target.netloc}...); "
            hint += "set `url` to the final address"
        return DeliveryError(message, channel=self.name, permanent=True, hint=hint)

    def _network_error(self, reason: object) -> DeliveryError:
        if isinstance(reason, TimeoutError):
            return self._timeout_error()
        if isinstance(reason, ssl.SSLError):
            message = f"TLS failed with {self.where}: {reason}"
            hint = "check that the receiver's certificate is valid for its host name"
        elif isinstance(reason, ConnectionRefusedError):
            message = f"{self.where} refused the connection"
            hint = "check `url` and that the receiver is running"
        elif isinstance(reason, socket.gaierror):
            message, hint = f"cannot resolve the host of {self.where} ({reason})", "check `url`"
        else:
            message, hint = f"network error with {self.where}: {reason}", None
        return DeliveryError(message, channel=self.name, hint=hint)

    def _timeout_error(self) -> DeliveryError:
        return DeliveryError(
            f"timed out after {self.timeout:g}s waiting for {self.where}",
            channel=self.name,
            hint="the receiver is slow or unreachable; it will be retried",
        )


def sign(body: bytes, secret: str) -> str:
    """The signature header value: ``sha256=`` and the hex HMAC-SHA256 of ``body``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or HTTP-date); None if unusable."""
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def check_url(url: str) -> str | None:
    """Why ``url`` cannot be a webhook address urllib sends as is, or None when it can."""
    if not url.isascii() or any(c.isspace() for c in url):
        return "must be ASCII without spaces"
    return None


def check_headers(headers: Mapping[str, str]) -> str | None:
    """Why ``headers`` cannot be sent with a webhook, or None when they can.

    Names must be HTTP tokens and values Latin-1 text without control characters; the
    headers newswatch sets itself cannot be replaced. Values are never repeated: they often
    hold tokens.
    """
    for header, value in headers.items():
        if not _TOKEN.fullmatch(header):
            return f"{header!r} is not a header name"
        if header.lower() in _RESERVED:
            return f"header {header} is set by newswatch itself"
        if _UNSAFE_VALUE.search(value):
            return f"header {header} has a control character"
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            return f"header {header} must be Latin-1 text"
    return None


def _body_excerpt(exc: urllib.error.HTTPError) -> str:
    """The first line-safe 200 characters of an error response, to show what went wrong."""
    try:
        raw = exc.read(512)
    except (OSError, http.client.HTTPException):
        return ""
    return clean_line(raw.decode("utf-8", "replace"))[:200]
