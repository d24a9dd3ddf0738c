"""Deliver alerts as e-mail through an SMTP server (STARTTLS, implicit TLS or plain)."""

from __future__ import annotations

import email.utils
import functools
import logging
import smtplib
import socket
import ssl
from collections.abc import Sequence
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Literal, Protocol, Self

from alerts.channels.base import Channel, ChannelContext, run_blocking
from alerts.errors import DeliveryError, RenderError
from alerts.records import Notification
from alerts.render.notices import email_for

logger = logging.getLogger(__name__)

Security = Literal["starttls", "tls", "none"]
_SECURITY_HINT = (
    'check `security` ("starttls" usually on port 587, "tls" on port 465) and that the '
    "server's certificate is valid for the host name"
)


class MailSettings(Protocol):
    """What an ``email`` channel table holds once the config loader has validated it."""

    host: str
    port: int
    security: Security
    username: str | None
    password: str | None
    sender: str
    to: tuple[str, ...]
    timeout: timedelta
    mute_url: str | None


class MailChannel(Channel):
    """Send each alert as one multipart (text + HTML) message to fixed recipients.

    ``timeout`` bounds every socket operation and the whole delivery. Templates in
    ``template_dir`` replace the packaged ones of the same name. ``mute_url`` (http(s) or
    mailto:, ``{rule}`` replaced) is sent as ``List-Unsubscribe``. Settings are checked
    once, when the configuration is loaded, not here.
    """

    def __init__(
        self,
        name: str,
        *,
        host: str,
        port: int = 587,
        security: Security = "starttls",
        username: str | None = None,
        password: str | None = None,
        sender: str,
        to: Sequence[str],
        timeout: float = 30.0,
        timezone: str = "UTC",
        ssl_context: ssl.SSLContext | None = None,
        template_dir: Path | None = None,
        mute_url: str | None = None,
    ) -> None:
        recipients = [to] if isinstance(to, str) else list(to)
        self.name = name
        self.host = host
        self.port = port
        self.security: Security = security
        self.username = username
        self.password = password
        self.sender = sender
        self.to = tuple(recipients)
        self.timeout = timeout
        self.timezone = timezone
        self.template_dir = template_dir
        self.mute_url = mute_url
        self._envelope_from = _address(sender)
        self._envelope_to = [_address(r) for r in recipients]
        self._ssl_context = ssl_context or ssl.create_default_context()
        if username and security == "none":
            logger.warning("mail channel %s sends its password to %s unencrypted", name, self.where)

    @classmethod
    def from_config(cls, name: str, settings: MailSettings, context: ChannelContext) -> Self:
        """The channel for a validated ``type = "email"`` table."""
        return cls(
            name,
            host=settings.host,
            port=settings.port,
            security=settings.security,
            username=settings.username,
            password=settings.password,
            sender=settings.sender,
            to=settings.to,
            timeout=settings.timeout.total_seconds(),
            timezone=context.timezone,
            template_dir=context.template_dir,
            mute_url=settings.mute_url,
        )

    @property
    def where(self) -> str:
        """``host:port``, as every error message names it."""
        return f"{self.host}:{self.port}"

    async def send(self, alert: Notification) -> None:
        """Deliver ``alert`` to every recipient; raise DeliveryError on failure."""
        try:
            msg = email_for(
                alert,
                sender=self.sender,
                to=self.to,
                timezone=self.timezone,
                template_dir=self.template_dir,
                mute_url=self.mute_url,
            )
        except (RenderError, ValueError) as exc:
            raise DeliveryError(
                f"cannot build the message: {exc}", channel=self.name, permanent=True
            ) from exc
        try:
            await run_blocking(functools.partial(self._deliver, msg), timeout=self.timeout)
        except TimeoutError:
            raise DeliveryError(
                f"timed out after {self.timeout:g}s delivering to {self.where}",
                channel=self.name,
                hint="the server is slow or unreachable; it will be retried",
            ) from None

    def _deliver(self, msg: EmailMessage) -> None:
        """Blocking SMTP conversation; every failure leaves as DeliveryError."""
        phase = "connect"
        try:
            smtp = self._connect()
            # No `with`: its QUIT on a failed TLS handshake would mask the TLS error.
            try:
                if self.security == "starttls":
                    phase = "STARTTLS"
                    smtp.starttls(context=self._ssl_context)
                if self.username is not None and self.password is not None:
                    phase = "login"
                    smtp.login(self.username, self.password)
                phase = "send"
                refused = smtp.send_message(
                    msg, from_addr=self._envelope_from, to_addrs=self._envelope_to
                )
                _quit(smtp)
            finally:
                smtp.close()
        except (smtplib.SMTPException, OSError, UnicodeError) as exc:
            raise self._error(exc, phase) from exc
        if refused:
            # The message went to the other recipients; resending would duplicate it.
            logger.warning(
                "mail channel %s: %s refused some recipients: %s",
                self.name,
                self.where,
                _describe_refusals(refused),
            )
        logger.debug(
            "mail channel %s delivered %s via %s", self.name, msg["Message-ID"], self.where
        )

    def _connect(self) -> smtplib.SMTP:
        if self.security == "tls":
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self._ssl_context
            )
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout)

    def _error(self, exc: BaseException, phase: str) -> DeliveryError:
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            return self._recipients_error(exc)
        if isinstance(exc, smtplib.SMTPResponseException):
            return self._response_error(exc, phase)
        if isinstance(exc, smtplib.SMTPNotSupportedError | UnicodeError):
            return self._unsupported_error(exc, phase)
        if isinstance(exc, smtplib.SMTPServerDisconnected):
            return self._fail(f"{self.where} closed the connection during {phase}")
        if isinstance(exc, smtplib.SMTPException):
            # e.g. "No suitable authentication method found": a setup problem.
            return self._fail(f"{phase} with {self.where} failed: {exc}", permanent=True)
        return self._network_error(exc, phase)

    def _response_error(self, exc: smtplib.SMTPResponseException, phase: str) -> DeliveryError:
        code, text = exc.smtp_code, _text(exc.smtp_error)
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return self._fail(
                f"{self.where} rejected the login of {self.username!r}: {code} {text}",
                permanent=True,
                hint="check the channel's username and password",
            )
        if isinstance(exc, smtplib.SMTPSenderRefused):
            return self._fail(
                f"{self.where} refused the sender {self._envelope_from}: {code} {text}",
                permanent=code >= 500,
                hint="check the channel's `from`; many servers only accept the login's own address",
            )
        return self._fail(
            f"{self.where} answered {code} {text} during {phase}", permanent=code >= 500
        )

    def _recipients_error(self, exc: smtplib.SMTPRecipientsRefused) -> DeliveryError:
        # Permanent only when some refusal is final (5xx); 4xx alone means "try later".
        permanent = any(code >= 500 for code, _ in exc.recipients.values())
        return self._fail(
            f"{self.where} refused every recipient: {_describe_refusals(exc.recipients)}",
            permanent=permanent,
            hint="check the channel's `to` addresses" if permanent else None,
        )

    def _unsupported_error(self, exc: BaseException, phase: str) -> DeliveryError:
        hints = {
            "STARTTLS": 'the server does not offer STARTTLS; use security = "tls" for port 465',
            "login": "the server offers no login here; check `security` and the port",
            "send": "non-ASCII addresses need a server with SMTPUTF8 support",
        }
        if isinstance(exc, UnicodeError):
            hints["login"] = "SMTP logins must be ASCII; check the username and password"
        return self._fail(
            f"{phase} with {self.where} failed: {exc}", permanent=True, hint=hints.get(phase)
        )

    def _network_error(self, exc: BaseException, phase: str) -> DeliveryError:
        if isinstance(exc, ssl.SSLError):
            reason = exc.reason or exc
            if isinstance(exc, ssl.SSLCertVerificationError):
                reason = f"certificate not accepted ({exc.verify_message})"
            return self._fail(f"TLS refused by {self.where}: {reason}", hint=_SECURITY_HINT)
        if isinstance(exc, TimeoutError):
            return self._fail(f"timed out after {self.timeout:g}s during {phase} with {self.where}")
        if isinstance(exc, ConnectionRefusedError):
            return self._fail(
                f"{self.where} refused the connection",
                hint="check `host` and `port`, and that the mail server is running",
            )
        if isinstance(exc, socket.gaierror):
            return self._fail(f"cannot resolve {self.host} ({exc})", hint="check `host`")
        return self._fail(f"network error during {phase} with {self.where}: {exc}")

    def _fail(
        self, message: str, *, permanent: bool = False, hint: str | None = None
    ) -> DeliveryError:
        return DeliveryError(message, channel=self.name, permanent=permanent, hint=hint)


def _address(value: str) -> str:
    """The bare address in ``value`` ("Name <a@b>" or "a@b"), for the SMTP envelope."""
    return email.utils.parseaddr(value)[1]


def _quit(smtp: smtplib.SMTP) -> None:
    """Say goodbye; the message is already accepted, so a failure here changes nothing."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        logger.debug("QUIT failed after a successful delivery", exc_info=True)


def _text(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return " ".join(text.split())


def _describe_refusals(refused: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(f"{rcpt}: {code} {_text(text)}" for rcpt, (code, text) in refused.items())
