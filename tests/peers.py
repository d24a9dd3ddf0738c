"""Real local peers for tests: an SMTP server (aiosmtpd) and a scriptable webhook receiver.

Everything listens on 127.0.0.1 only and is stopped at fixture teardown. Waiting is done
on conditions (threading.Condition), never with fixed sleeps.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email
import email.policy
import ipaddress
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.waiting import wait_on

LOCALHOST = "127.0.0.1"
SMTP_USER = "watcher"
SMTP_PASSWORD = "correct horse battery staple"
HANG_LIMIT = 30.0  # a hanging handler gives up after this, even if teardown never comes


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for servers that cannot take 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        return sock.getsockname()[1]


# --- TLS material ----------------------------------------------------------------------


@dataclass(frozen=True)
class TlsFiles:
    """A self-signed certificate for localhost / 127.0.0.1 and its key."""

    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        """What a TLS server presents."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts exactly this certificate."""
        return ssl.create_default_context(cafile=str(self.cert))


def _write_cert_with_cryptography(folder: Path) -> TlsFiles:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    san = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(LOCALHOST))]
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    files = TlsFiles(folder / "cert.pem", folder / "key.pem")
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


def _write_cert_with_openssl(folder: Path) -> TlsFiles:
    files = TlsFiles(folder / "cert.pem", folder / "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        + ["-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout", str(files.key)]
        + ["-out", str(files.cert), "-addext", f"subjectAltName=DNS:localhost,IP:{LOCALHOST}"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return files


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A fresh self-signed certificate, made with `cryptography` or else the openssl CLI."""
    folder = tmp_path_factory.mktemp("tls")
    try:
        import cryptography  # noqa: F401
    except ImportError:
        if shutil.which("openssl") is None:
            pytest.skip("TLS tests need the `cryptography` package or the openssl command")
        return _write_cert_with_openssl(folder)
    return _write_cert_with_cryptography(folder)


# --- SMTP ------------------------------------------------------------------------------


@dataclass
class ReceivedMail:
    """One message the SMTP server accepted, with how it was delivered."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: EmailMessage
    tls: bool
    login: str | None
    received: float = 0.0  # time.monotonic() when DATA was accepted


class SmtpRecorder:
    """aiosmtpd handler that records accepted messages and plays scripted refusals."""

    def __init__(self) -> None:
        self.messages: list[ReceivedMail] = []
        self.rcpt_replies: dict[str, str] = {}
        self.data_replies: list[str] = []
        self.cond = threading.Condition()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        reply = self.rcpt_replies.get(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        with self.cond:
            if self.data_replies:
                return self.data_replies.pop(0)
            ssl_object = server.transport.get_extra_info("ssl_object")
            auth = session.auth_data
            self.messages.append(
                ReceivedMail(
                    mail_from=envelope.mail_from,
                    rcpt_tos=list(envelope.rcpt_tos),
                    raw=envelope.content,
                    message=email.message_from_bytes(envelope.content, policy=email.policy.default),
                    tls=session.ssl is not None or ssl_object is not None,
                    login=auth.login.decode() if isinstance(auth, LoginPassword) else None,
                    received=time.monotonic(),
                )
            )
            self.cond.notify_all()
        return "250 2.0.0 Message accepted"


def _authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
    """Accept exactly SMTP_USER / SMTP_PASSWORD; aiosmtpd answers 535 to anything else."""
    ok = isinstance(auth_data, LoginPassword) and auth_data == LoginPassword(
        SMTP_USER.encode(), SMTP_PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


def _controller(
    handler: SmtpRecorder, port: int, security: str, tls: TlsFiles | None, auth: bool
) -> Controller:
    """A started aiosmtpd controller on 127.0.0.1:``port`` (security: none, starttls, tls)."""
    kwargs: dict[str, Any] = {"server_hostname": "localhost", "ready_timeout": 10.0}
    if security == "starttls":
        assert tls is not None
        kwargs.update(tls_context=tls.server_context(), require_starttls=True)
    elif security == "tls":
        assert tls is not None
        kwargs.update(ssl_context=tls.server_context())
        # aiosmtpd only counts STARTTLS as TLS, so AUTH over implicit TLS must be allowed
        # explicitly.
        kwargs.update(auth_require_tls=False)
    if auth:
        kwargs.update(authenticator=_authenticate, auth_required=security == "starttls")
    controller = Controller(handler, hostname=LOCALHOST, port=port, **kwargs)
    controller.start()
    return controller


@dataclass
class SmtpPeer:
    """A running SMTP server: where it is, what it received, how clients trust it."""

    host: str
    port: int
    handler: SmtpRecorder
    controller: Controller | None
    security: str = "none"
    tls: TlsFiles | None = None
    auth: bool = False

    @property
    def client_context(self) -> ssl.SSLContext | None:
        return self.tls.client_context() if self.tls else None

    @property
    def username(self) -> str | None:
        return SMTP_USER if self.auth else None

    @property
    def password(self) -> str | None:
        return SMTP_PASSWORD if self.auth else None

    @property
    def messages(self) -> list[ReceivedMail]:
        return self.handler.messages

    def stop(self) -> None:
        """Stop listening (the port refuses connections) until :meth:`start`."""
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def start(self) -> None:
        """Listen on the same port again with the same settings and recorded messages (a new
        controller: aiosmtpd closes a stopped controller's event loop)."""
        if self.controller is None:
            self.controller = _controller(
                self.handler, self.port, self.security, self.tls, self.auth
            )

    def reject_recipient(self, address: str, reply: str = "550 5.1.1 No such user") -> None:
        """Answer RCPT TO for ``address`` with ``reply``."""
        self.handler.rcpt_replies[address] = reply

    def fail_data(self, reply: str) -> None:
        """Answer the next DATA with ``reply`` instead of accepting the message."""
        with self.handler.cond:
            self.handler.data_replies.append(reply)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedMail]:
        """Wait until ``count`` messages have arrived; return them all."""
        wait_on(
            self.handler.cond, lambda: len(self.messages) >= count, timeout, f"{count} messages"
        )
        return list(self.messages)


def _start_smtp(security: str, tls: TlsFiles | None, auth: bool, port: int | None) -> SmtpPeer:
    peer = SmtpPeer(LOCALHOST, port or free_port(), SmtpRecorder(), None, security, tls, auth)
    peer.start()
    return peer


def start_smtp_server(
    security: str = "none", tls: TlsFiles | None = None, auth: bool = False
) -> SmtpPeer:
    """Start an SMTP server outside a fixture (benchmarks); ``peer.controller.stop()`` ends it."""
    return _start_smtp(security, tls, auth, None)


@pytest.fixture
def smtp_server_factory(request: pytest.FixtureRequest) -> Iterator[Callable[..., SmtpPeer]]:
    """Start SMTP servers on demand:
    ``factory(security="none"|"starttls"|"tls", auth=False, port=None)``; a ``port`` of
    None is a free one. Every server still running is stopped at teardown."""
    peers: list[SmtpPeer] = []

    def start(security: str = "none", auth: bool = False, port: int | None = None) -> SmtpPeer:
        tls = request.getfixturevalue("tls_files") if security != "none" else None
        peer = _start_smtp(security, tls, auth, port)
        peers.append(peer)
        return peer

    yield start
    for peer in peers:
        peer.stop()


@pytest.fixture
def smtp_server(smtp_server_factory: Callable[..., SmtpPeer]) -> SmtpPeer:
    """A plain SMTP server without TLS or AUTH."""
    return smtp_server_factory()


@pytest.fixture
def smtp_server_starttls(smtp_server_factory: Callable[..., SmtpPeer]) -> SmtpPeer:
    """An SMTP server that requires STARTTLS, then AUTH as SMTP_USER / SMTP_PASSWORD."""
    return smtp_server_factory("starttls", auth=True)


@pytest.fixture
def smtp_server_tls(smtp_server_factory: Callable[..., SmtpPeer]) -> SmtpPeer:
    """An implicit-TLS (SMTPS) server that offers AUTH as SMTP_USER / SMTP_PASSWORD."""
    return smtp_server_factory("tls", auth=True)


# --- Webhook receiver ------------------------------------------------------------------


@dataclass
class RecordedRequest:
    """One request the webhook receiver got."""

    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass
class ScriptedResponse:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    hang: bool = False


class WebhookReceiver:
    """A ThreadingHTTPServer on 127.0.0.1 that records requests and answers from a script.

    Each scripted response is used once, in order; when the script is empty the receiver
    answers 200 ``ok``.
    """

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.cond = threading.Condition()
        self._script: list[ScriptedResponse] = []
        self._release = threading.Event()
        # Called (in the server's thread) after a request is recorded, before it is answered.
        self.on_request: Callable[[RecordedRequest], None] | None = None
        self._server = ThreadingHTTPServer((LOCALHOST, 0), _ReceiverHandler)
        self._server.receiver = self  # type: ignore[attr-defined]
        # A short poll interval keeps shutdown() (which waits for one poll) quick.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """The hook endpoint (``/hook``); any path is accepted."""
        return f"http://{LOCALHOST}:{self.port}/hook"

    def respond(
        self,
        status: int,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | str = b"",
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` requests with ``status``, ``headers`` and ``body``."""
        raw = body.encode("utf-8") if isinstance(body, str) else body
        with self.cond:
            self._script.extend(
                ScriptedResponse(status, dict(headers or {}), raw) for _ in range(times)
            )

    def hang(self) -> None:
        """Never answer the next request (until teardown or HANG_LIMIT)."""
        with self.cond:
            self._script.append(ScriptedResponse(hang=True))

    def wait_for(self, count: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Wait until ``count`` requests have arrived; return them all."""
        wait_on(self.cond, lambda: len(self.requests) >= count, timeout, f"{count} requests")
        return list(self.requests)

    def _record(self, request: RecordedRequest) -> ScriptedResponse:
        with self.cond:
            self.requests.append(request)
            self.cond.notify_all()
            return self._script.pop(0) if self._script else ScriptedResponse(body=b"ok")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


class _ReceiverHandler(BaseHTTPRequestHandler):
    server_version = "newswatch-test-receiver"

    def do_POST(self) -> None:  # noqa: N802
        self._handle()

    def do_GET(self) -> None:  # noqa: N802
        self._handle()

    def _handle(self) -> None:
        receiver: WebhookReceiver = self.server.receiver  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        path = self.path
        request = RecordedRequest(self.command, path, headers, body)
        answer = receiver._record(request)
        if receiver.on_request is not None:
            receiver.on_request(request)
        if answer.hang:
            receiver._release.wait(HANG_LIMIT)
            self.close_connection = True
            return
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output clean; the receiver records everything it needs

    def handle_one_request(self) -> None:
        # The client may have given up (timeout tests); there is nobody left to answer.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            super().handle_one_request()


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A running WebhookReceiver, stopped (and any hang released) at teardown."""
    receiver = WebhookReceiver()
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()
