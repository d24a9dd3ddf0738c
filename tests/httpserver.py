"""A real HTTP server on 127.0.0.1 that serves feeds and pages for tests.

Routes are programmable while the server runs: bodies, statuses, headers, ETag /
Last-Modified with 304 handling, slow responses, gzip bodies. Every request is recorded so
tests can assert what was (and was not) fetched.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "application/rss+xml; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    delay: float = 0.0
    gzip: bool = False


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)  # when it arrived


class FeedServer:
    """The server's state: routes and a log of requests."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.routes: dict[str, Route] = {}
        self.requests: list[RecordedRequest] = []
        self.lock = threading.Lock()
        self.closing = threading.Event()
        self._server = ThreadingHTTPServer((host, 0), _make_handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def add(self, path: str, body: bytes | str = b"", **kwargs: object) -> str:
        """Serve ``body`` at ``path``; returns the absolute URL."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        with self.lock:
            self.routes[path] = Route(body=data, **kwargs)  # type: ignore[arg-type]
        return self.url(path)

    def hits(self, path: str) -> list[RecordedRequest]:
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.closing.set()
        self._server.shutdown()
        self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    state: FeedServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def _record(self) -> Route | None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with self.state.lock:
            self.state.requests.append(
                RecordedRequest(self.command, self.path, dict(self.headers.items()), body)
            )
            return self.state.routes.get(self.path)

    def do_GET(self) -> None:  # noqa: N802
        route = self._record()
        if route is None:
            self._send(404, b"not found", "text/plain", {})
            return
        if route.delay:
            self.state.closing.wait(route.delay)
        headers = dict(route.headers)
        if route.etag:
            headers["ETag"] = route.etag
        if route.last_modified:
            headers["Last-Modified"] = route.last_modified
        if self._not_modified(route):
            self._send(304, b"", None, headers)
            return
        body = route.body
        if route.gzip:
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        self._send(route.status, body, route.content_type, headers)

    def _not_modified(self, route: Route) -> bool:
        inm = self.headers.get("If-None-Match")
        if route.etag and inm:
            return inm == route.etag
        ims = self.headers.get("If-Modified-Since")
        return bool(route.last_modified and ims and ims == route.last_modified)

    def _send(self, status: int, body: bytes, ctype: str | None, headers: dict[str, str]) -> None:
        try:
            self.send_response(status)
            if ctype:
                self.send_header("Content-Type", ctype)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


def _make_handler(state: FeedServer) -> type[BaseHTTPRequestHandler]:
    return type("Handler", (_Handler,), {"state": state})


@pytest.fixture
def http_server() -> Iterator[FeedServer]:
    """A running :class:`FeedServer` on 127.0.0.1."""
    server = FeedServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def rss(items: list[dict[str, str]], title: str = "Test feed") -> str:
    """A small RSS 2.0 document; each item dict has title, link and optional description,
    guid, pubDate."""
    parts = []
    for item in items:
        fields = "".join(
            f"<{key}>{value}</{key}>"
            for key, value in item.items()
            if key in {"title", "link", "description", "guid", "pubDate"}
        )
        parts.append(f"<item>{fields}</item>")
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<rss version="2.0"><channel><title>{title}</title><link>http://example.org/</link>'
        f"<description>t</description>{''.join(parts)}</channel></rss>"
    )


def rss_item(n: int, title: str) -> dict[str, str]:
    """Item ``n`` of a feed for :func:`rss`: its own link and GUID, no summary."""
    return {"title": title, "link": f"https://news.example.org/{n}", "guid": f"g{n}"}
