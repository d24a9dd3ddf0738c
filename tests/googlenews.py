"""A local imitation of Google News on 127.0.0.1, for google-news sources.

It serves what newswatch asks Google News for: the search feed (``/rss/search``, items
linking to ``/rss/articles/<id>`` with a ``<source>``), the article pages carrying the
``data-n-a-sg`` signature and ``data-n-a-ts`` timestamp, and the batchexecute endpoint
that answers a signed ``garturlreq`` with the publisher's URL, refusing a wrong signature.
Other paths (an outlet's own feed) are served from ``extra``. Every request is recorded.

Run as a module, it is ``newswatch`` with Google News at a given origin (the address of
this server), for end-to-end tests in a subprocess:
``python -m tests.googlenews ORIGIN once --config ...``.
"""

from __future__ import annotations

import base64
import json
import secrets
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

BATCH_PATH = "/_/DotsSplashUi/data/batchexecute"


def old_style_id(url: str) -> str:
    """An article id of the old style, holding the publisher's URL itself."""
    payload = url.encode()
    data = b"\x08\x13\x22" + _varint(len(payload)) + payload
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def new_style_id() -> str:
    """An article id of the current style, which only Google can resolve."""
    payload = b"AU_yqL" + secrets.token_urlsafe(40).encode()
    data = b"\x08\x13\x22" + _varint(len(payload)) + payload
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


@dataclass
class Story:
    """One item of the search feed."""

    title: str
    outlet: str
    publisher_url: str
    article: str = field(default_factory=new_style_id)
    signature: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    timestamp: str = "1764633600"
    page_status: int = 200  # the article page's status; 200 serves the signature
    signed_page: bool = True  # False: the page lacks data-n-a-sg / data-n-a-ts
    page_delay: float = 0.0  # seconds before the article page is answered
    resolvable: bool = True  # False: batchexecute answers without a URL for it


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    body: str


class GoogleNews:
    """The imitation's state: the feed's stories, extra routes, and the request log."""

    def __init__(self) -> None:
        self.stories: list[Story] = []
        self.extra: dict[str, tuple[str, bytes]] = {}  # path -> (content type, body)
        self.batch_status = 200
        self.chunked = False  # answer batchexecute with length-prefixed chunks
        self.batch_html = False  # answer batchexecute with an HTML page (a "sorry" page)
        self.closing = threading.Event()
        self.requests: list[Seen] = []
        self.lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def link(self, story: Story) -> str:
        return f"{self.origin}/rss/articles/{story.article}?oc=5"

    def seen(self, path: str, method: str | None = None) -> list[Seen]:
        with self.lock:
            return [
                r
                for r in self.requests
                if r.path.startswith(path) and (method is None or r.method == method)
            ]

    def feed(self, query: str) -> bytes:
        items = "".join(
            "<item>"
            f"<title>{escape(s.title)} - {escape(s.outlet)}</title>"
            f"<link>{escape(self.link(s))}</link>"
            f'<guid isPermaLink="false">{s.article}</guid>'
            "<pubDate>Tue, 01 Dec 2026 08:00:00 GMT</pubDate>"
            f"<description>{escape(_description(s, self.link(s)))}</description>"
            f'<source url="{escape(_home(s.publisher_url))}">{escape(s.outlet)}</source>'
            "</item>"
            for s in self.stories
        )
        return (
            '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            f"<title>&quot;{escape(query)}&quot; - Google News</title>"
            f"<link>{self.origin}/search?q={escape(query)}</link><language>en-KH</language>"
            f"<description>Google News</description>{items}</channel></rss>"
        ).encode()

    def article_page(self, article: str) -> tuple[int, bytes]:
        story = self._story(article)
        if story is None:
            return 404, b"<html><body>Not found</body></html>"
        if story.page_delay:
            self.closing.wait(story.page_delay)
        if story.page_status != 200:
            return story.page_status, b"<html><body>Error</body></html>"
        if not story.signed_page:
            return 200, b"<html><body><c-wiz><div jscontroller='x'></div></c-wiz></body></html>"
        page = (
            "<!doctype html><html><head><title>Google News</title></head><body>"
            '<c-wiz jsrenderer="x"><div jscontroller="aLI87" '
            f'data-n-a-id="{story.article}" data-n-a-sg="{story.signature}" '
            f'data-n-a-ts="{story.timestamp}"></div></c-wiz></body></html>'
        )
        return 200, page.encode()

    def batch(self, form: str) -> tuple[int, bytes]:
        if self.batch_status != 200:
            return self.batch_status, b"Too many requests"
        if self.batch_html:
            return 200, b"<html><body>Our systems have detected unusual traffic</body></html>"
        (envelopes,) = json.loads(parse_qs(form)["f.req"][0])
        rows: list[list[object]] = []
        for rpc, inner, _, number in envelopes:
            assert rpc == "Fbv4je"
            kind, _context, article, timestamp, signature = json.loads(inner)
            story = self._story(article)
            signed = (
                kind == "garturlreq"
                and story is not None
                and str(timestamp) == story.timestamp
                and signature == story.signature
            )
            if signed and story is not None and story.resolvable:
                answer = json.dumps(["garturlres", story.publisher_url, 1])
                rows.append(["wrb.fr", "Fbv4je", answer, None, None, None, number])
            else:
                rows.append(["wrb.fr", "Fbv4je", None, None, None, [3], number])
        rows += [["di", 61], ["af.httprm", 60, "-1", 7]]
        text = json.dumps(rows)
        if self.chunked:
            return 200, f')]}}\'\n\n{len(text)}\n{text}\n25\n[["e",4,null,null,171]]\n'.encode()
        return 200, f")]}}'\n\n{text}".encode()

    def _story(self, article: str) -> Story | None:
        return next((s for s in self.stories if s.article == article), None)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.closing.set()
        self._server.shutdown()
        self._server.server_close()


def _description(story: Story, link: str) -> str:
    return (
        f'<a href="{escape(link)}" target="_blank">{escape(story.title)}</a>'
        f'&nbsp;&nbsp;<font color="#6f6f6f">{escape(story.outlet)}</font>'
    )


def _home(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class _Handler(BaseHTTPRequestHandler):
    state: GoogleNews
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def _record(self) -> tuple[str, dict[str, list[str]], str]:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        with self.state.lock:
            self.state.requests.append(Seen(self.command, parts.path, query, body))
        return parts.path, query, body

    def do_GET(self) -> None:  # noqa: N802
        path, query, _ = self._record()
        if path == "/rss/search":
            body = self.state.feed(query.get("q", [""])[0])
            self._send(200, "application/rss+xml; charset=utf-8", body)
        elif path.startswith("/rss/articles/"):
            status, body = self.state.article_page(path.rsplit("/", 1)[-1])
            self._send(status, "text/html; charset=utf-8", body)
        elif path in self.state.extra:
            content_type, body = self.state.extra[path]
            self._send(200, content_type, body)
        else:
            self._send(404, "text/plain", b"not found")

    def do_POST(self) -> None:  # noqa: N802
        path, _, body = self._record()
        if path != BATCH_PATH:
            self._send(404, "text/plain", b"not found")
            return
        status, answer = self.state.batch(body)
        self._send(status, "application/json; charset=utf-8", answer)

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


def _handler(state: GoogleNews) -> type[BaseHTTPRequestHandler]:
    return type("Handler", (_Handler,), {"state": state})


@pytest.fixture
def google_news() -> Iterator[GoogleNews]:
    """A running :class:`GoogleNews` imitation."""
    server = GoogleNews()
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Trap:
    """An HTTP proxy that answers 502 to whatever reaches it and records the target.

    Set as ``http_proxy``/``https_proxy`` (with ``no_proxy`` naming 127.0.0.1), every
    request to anywhere but loopback reaches it instead of the internet.
    """

    def __init__(self) -> None:
        self.targets: list[str] = []
        trap = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

            def _refuse(self) -> None:
                trap.targets.append(f"{self.command} {self.path}")
                self.send_response(502)
                self.send_header("Content-Length", "0")
                self.send_header("Connection", "close")
                self.end_headers()

            do_GET = do_POST = do_CONNECT = do_HEAD = _refuse  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def environ(self) -> dict[str, str]:
        return {
            "http_proxy": self.url,
            "https_proxy": self.url,
            "HTTP_PROXY": self.url,
            "HTTPS_PROXY": self.url,
            "no_proxy": "127.0.0.1,localhost",
            "NO_PROXY": "127.0.0.1,localhost",
        }

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def run_command_line(argv: list[str]) -> None:
    """The command line with Google News at ``argv[0]``; the other arguments are its own."""
    import crawler.sources
    from crawler.sources.google_news import GoogleNewsKind
    from scheduler.cli import main as command_line

    origin, *args = argv
    crawler.sources.SOURCE_KINDS = {
        **crawler.sources.SOURCE_KINDS,
        "google-news": GoogleNewsKind(origin=origin),
    }
    command_line.main(args=args, prog_name="newswatch")


if __name__ == "__main__":
    run_command_line(sys.argv[1:])
