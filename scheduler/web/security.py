"""Sessions, CSRF tokens, login rate limits and security headers: the :class:`Guard`.

Every response carries a Content-Security-Policy that allows scripts and styles from this
server's own files only (no inline script or style, so feed text that slipped through as
markup could not run), and headers that forbid framing and MIME sniffing. Every request
but ``/static``, ``/healthz`` and ``/metrics`` has a session, held server-side and named
by a random token in an HttpOnly, SameSite cookie; when a password is set the session must
have logged in. Every POST must carry the session's CSRF token (the form's ``csrf`` field,
or an ``X-CSRF-Token`` header from the page's script) and, when the browser says where it
comes from, come from this site: a form posted from anywhere else is refused before any
route sees it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Browsers share cookies between the ports of one host: the port is part of the name, so a
# service on :8787 and `newswatch web` on :8788 do not overwrite each other's session.
SESSION_COOKIE = "newswatch_session_{port}"
CSRF_FIELD = "csrf"
CSRF_HEADER = b"x-csrf-token"
MAX_FORM_BYTES = 1024 * 1024
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
# Served to anyone who can connect: supervisors and Prometheus do not log in.
OPEN_PREFIXES = ("/static/", "/healthz", "/metrics", "/favicon.ico")
LOGIN_PATHS = ("/login",)


@dataclass(slots=True)
class Session:
    """One browser's session: its CSRF token, whether it logged in, messages to show."""

    id: str
    csrf: str
    authenticated: bool
    expires: float
    flash: list[tuple[str, str]] = field(default_factory=list)
    previews: int = 0  # rule previews asked for: a newer one makes the older one stop

    def say(self, text: str, kind: str = "ok") -> None:
        """Show ``text`` on the next page (``kind``: ok, warning or error)."""
        self.flash.append((kind, text))

    def pop_flash(self) -> list[tuple[str, str]]:
        """The messages waiting, once."""
        messages, self.flash = self.flash, []
        return messages


class Sessions:
    """Sessions in memory: a restart logs everyone out, which is fine for a small team."""

    def __init__(self, lifetime: float, *, limit: int = 2000) -> None:
        self.lifetime = lifetime
        self.limit = limit
        self._by_id: OrderedDict[str, Session] = OrderedDict()

    def get(self, token: str | None, now: float | None = None) -> Session | None:
        """The live session named by a cookie's token, or None."""
        session = self._by_id.get(token or "")
        if session is None:
            return None
        if session.expires < (now or time.time()):
            self._by_id.pop(session.id, None)
            return None
        return session

    def new(self, *, authenticated: bool = False) -> Session:
        """A fresh session; the oldest one goes when there are too many."""
        session = Session(
            id=secrets.token_urlsafe(32),
            csrf=secrets.token_urlsafe(32),
            authenticated=authenticated,
            expires=time.time() + self.lifetime,
        )
        self._by_id[session.id] = session
        while len(self._by_id) > self.limit:
            self._by_id.popitem(last=False)
        return session

    def login(self, old: Session) -> Session:
        """A new, logged-in session replacing ``old`` (a new id: no session fixation)."""
        self.drop(old)
        session = self.new(authenticated=True)
        session.flash = old.flash
        return session

    def drop(self, session: Session) -> None:
        """Forget a session (log out)."""
        self._by_id.pop(session.id, None)


class LoginLimiter:
    """At most ``attempts`` failed logins per client address in ``window`` seconds."""

    def __init__(self, attempts: int = 5, window: float = 900.0) -> None:
        self.attempts = attempts
        self.window = window
        self._failures: dict[str, deque[float]] = {}

    def wait_needed(self, client: str, now: float | None = None) -> float:
        """Seconds before ``client`` may try again (0: it may now)."""
        now = now or time.monotonic()
        failures = self._failures.get(client)
        if not failures:
            return 0.0
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if len(failures) < self.attempts:
            return 0.0
        return failures[0] + self.window - now

    def failed(self, client: str, now: float | None = None) -> None:
        """Count a failed attempt."""
        self._failures.setdefault(client, deque()).append(now or time.monotonic())

    def succeeded(self, client: str) -> None:
        """Forget the client's failures."""
        self._failures.pop(client, None)


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison of two strings of any length."""
    digest = hashlib.sha256
    return hmac.compare_digest(digest(given.encode()).digest(), digest(expected.encode()).digest())


class Guard:
    """ASGI middleware: security headers, sessions, login, CSRF, read-only refusal."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        sessions: Sessions,
        needs_login: Callable[[], bool],
        read_only: bool,
        read_safe_posts: frozenset[str],
        basic_auth: Callable[[Scope], Awaitable[bool]] | None = None,
    ) -> None:
        self.app = app
        self.sessions = sessions
        self.needs_login = needs_login
        self.read_only = read_only
        self.read_safe_posts = read_safe_posts
        self.basic_auth = basic_auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith(OPEN_PREFIXES):
            await self.app(scope, receive, _with_headers(send, static=path.startswith("/static/")))
            return
        cookie = _cookies(scope).get(_cookie_name(scope))
        session = self.sessions.get(cookie) or self.sessions.new()
        scope.setdefault("state", {})["session"] = session
        send = _with_headers(send, cookie=lambda: _session_cookie(scope, cookie, self.sessions))
        refusal = await self._refusal(scope, session, path)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        if scope["method"] in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        problem = _csrf_problem(scope, session, body)
        if problem is None and self.read_only and path not in self.read_safe_posts:
            problem = "this web interface is read-only: nothing can be changed from it"
        if problem is not None:
            await _plain(403, problem)(scope, receive, send)
            return
        await self.app(scope, _replay(body), send)

    async def _refusal(self, scope: Scope, session: Session, path: str) -> ASGIApp | None:
        if session.authenticated or not self.needs_login() or path in LOGIN_PATHS:
            return None
        if self.basic_auth is not None and path.startswith("/feeds/"):
            if await self.basic_auth(scope):
                return None
            return _plain(401, "log in", {b"www-authenticate": b'Basic realm="newswatch"'})
        if scope["method"] in ("GET", "HEAD"):
            target = path + (f"?{scope['query_string'].decode()}" if scope["query_string"] else "")
            return _redirect("/login?next=" + quote(target, safe=""))
        return _plain(403, "log in first")


def _cookies(scope: Scope) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in scope["headers"]:
        if name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _, item = part.strip().partition("=")
                found.setdefault(key, item)
    return found


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _cookie_name(scope: Scope) -> str:
    server = scope.get("server") or ("", 0)
    return SESSION_COOKIE.format(port=server[1] or 0)


def _session_cookie(scope: Scope, sent: str | None, sessions: Sessions) -> bytes | None:
    session: Session | None = scope.get("state", {}).get("session")
    if session is None or (session.id == sent and sessions.get(sent) is session):
        return None
    name = _cookie_name(scope)
    if sessions.get(session.id) is None:  # logged out
        return f"{name}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax".encode()
    secure = "; Secure" if scope.get("scheme") == "https" else ""
    return (
        f"{name}={session.id}; Path=/; Max-Age={int(sessions.lifetime)}; "
        f"HttpOnly; SameSite=Lax{secure}"
    ).encode()


def _with_headers(
    send: Send, *, static: bool = False, cookie: Callable[[], bytes | None] | None = None
) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [
                (k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"
            ]
            headers += SECURITY_HEADERS
            headers.append((b"cache-control", b"public, max-age=3600" if static else b"no-store"))
            set_cookie = cookie() if cookie is not None else None
            if set_cookie:
                headers.append((b"set-cookie", set_cookie))
            message["headers"] = headers
        await send(message)

    return sending


async def _read_body(receive: Receive) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            break
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)[:MAX_FORM_BYTES]


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def _csrf_problem(scope: Scope, session: Session, body: bytes) -> str | None:
    origin = _header(scope, b"origin")
    host = _header(scope, b"host")
    if origin is not None and (host is None or origin.split("://", 1)[-1] != host):
        return "refused: the form was sent from another site"
    token = _header(scope, CSRF_HEADER)
    content_type = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
    if token is None and content_type == "application/x-www-form-urlencoded":
        values = parse_qs(body.decode("utf-8", "replace")).get(CSRF_FIELD, [])
        token = values[0] if values else None
    if token is None or not same_secret(token, session.csrf):
        return "refused: the form's security token is missing or out of date; reload the page"
    return None


def _plain(status: int, text: str, headers: dict[bytes, bytes] | None = None) -> ASGIApp:
    async def respond(scope: Scope, receive: Receive, send: Send) -> None:
        body = (text + "\n").encode()
        extra = list((headers or {}).items())
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), *extra],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return respond


def _redirect(location: str) -> ASGIApp:
    async def respond(scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [(b"location", location.encode()), (b"content-length", b"0")],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    return respond


def form_values(body: bytes) -> dict[str, list[str]]:
    """An url-encoded form body as lists of values per field."""
    return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
