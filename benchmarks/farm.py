"""A farm of RSS feeds on many loopback hosts, for benchmarks and fault tests.

Every feed is served at ``http://127.0.0.H:PORT/feed/N.xml``. The farm listens on the same
port on each address it uses (127.0.0.1, 127.0.0.2, ...: on Linux the whole of 127.0.0.0/8
reaches this machine), so a service sees as many hosts as real outlets would and applies its
per-host politeness to each of them. With ``hosts=1`` every feed is a path of 127.0.0.1.

Feeds answer ``If-None-Match`` with 304, serve ``/robots.txt``, and record every request
(time and status) so that a benchmark can see from outside when and how often each feed was
polled. Items can be added while the farm runs; a feed shows its newest ``shown`` items, as
real feeds do. A feed can also be made to trickle its body (one byte per second, say) to
test timeouts, or to fail with a status.

Nothing here imports newswatch: benchmarks drive it as a user would.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from benchmarks.workload import Item, ItemMaker

ROBOTS = b"User-agent: *\nAllow: /\n"
MAX_HOSTS = 50  # 127.0.0.1 ... 127.0.0.50


@dataclass
class Hit:
    """One request to a feed, as the farm saw it."""

    at: float  # time.monotonic()
    status: int
    host: str


@dataclass
class Feed:
    index: int
    host: str
    items: list[Item] = field(default_factory=list)  # newest first
    version: int = 0
    body: bytes = b""
    hits: list[Hit] = field(default_factory=list)
    trickle: float | None = None  # bytes per second, or None for a normal answer
    status: int = 200  # anything else: answer with it and no feed


class FeedFarm:
    """``feeds`` feeds spread round-robin over ``hosts`` loopback addresses."""

    def __init__(
        self,
        feeds: int,
        *,
        hosts: int = 1,
        items: int = 0,
        shown: int = 50,
        maker: ItemMaker | None = None,
        first_number: int = 1,
    ) -> None:
        if not 1 <= hosts <= MAX_HOSTS:
            raise ValueError(f"hosts must be 1..{MAX_HOSTS}")
        self.maker = maker or ItemMaker()
        self.shown = shown
        self.lock = threading.Lock()
        self.addresses = [f"127.0.0.{n}" for n in range(1, hosts + 1)]
        self.feeds = [Feed(i, self.addresses[i % hosts]) for i in range(feeds)]
        self.next_number = first_number - 1
        self.bytes_served = 0
        self.epoch = datetime(2026, 1, 1, tzinfo=UTC)
        for feed in self.feeds:
            for _ in range(items):
                self._append(feed, self.maker.item(self._number(), feed.index))
            self._render(feed)
        self.servers: list[ThreadingHTTPServer] = []
        self.threads: list[threading.Thread] = []
        self.port = 0
        self._closing = threading.Event()

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> FeedFarm:
        self.servers = _bind_all(self.addresses, _handler(self))
        self.port = self.servers[0].server_address[1]
        for server in self.servers:
            thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
            )
            thread.start()
            self.threads.append(thread)
        return self

    def stop(self) -> None:
        self._closing.set()
        for server in self.servers:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> FeedFarm:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what the feeds hold ---------------------------------------------------------

    def url(self, index: int) -> str:
        feed = self.feeds[index]
        return f"http://{feed.host}:{self.port}/feed/{index}.xml"

    def add_item(self, index: int, *, extra: tuple[str, ...] = ()) -> Item:
        """Publish a new item in feed ``index`` (``extra`` words go into its title)."""
        with self.lock:
            feed = self.feeds[index]
            item = self.maker.item(self._number(), index, extra=extra)
            self._append(feed, item)
            self._render(feed)
            return item

    def all_items(self) -> list[Item]:
        with self.lock:
            return [item for feed in self.feeds for item in feed.items]

    def set_trickle(self, index: int, bytes_per_second: float | None) -> None:
        with self.lock:
            self.feeds[index].trickle = bytes_per_second

    def set_status(self, index: int, status: int) -> None:
        with self.lock:
            self.feeds[index].status = status

    def hits(self, index: int) -> list[Hit]:
        with self.lock:
            return list(self.feeds[index].hits)

    def all_hits(self) -> Iterator[tuple[int, Hit]]:
        with self.lock:
            pairs = [(feed.index, hit) for feed in self.feeds for hit in feed.hits]
        return iter(pairs)

    def clear_hits(self) -> None:
        with self.lock:
            for feed in self.feeds:
                feed.hits.clear()

    def served(self) -> list[Item]:
        """Every item that a 200 answer carried at least once (what must be stored)."""
        with self.lock:
            return [item for feed in self.feeds for item in feed.items if item.served]

    def _number(self) -> int:
        self.next_number += 1
        return self.next_number

    def _append(self, feed: Feed, item: Item) -> None:
        feed.items.insert(0, item)

    def _render(self, feed: Feed) -> None:
        feed.version += 1
        shown = feed.items[: self.shown]
        parts = [
            '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>',
            f"<title>Farm feed {feed.index}</title><link>http://{feed.host}/</link>",
            "<description>benchmark farm</description>\n",
        ]
        for item in shown:
            published = self.epoch + timedelta(minutes=item.number)
            parts.append(
                f"<item><title>{item.title}</title><link>{item.link}</link>"
                f'<guid isPermaLink="false">{item.guid}</guid>'
                f"<pubDate>{format_datetime(published)}</pubDate>"
                f"<description>{item.body}</description></item>\n"
            )
        parts.append("</channel></rss>\n")
        feed.body = "".join(parts).encode("utf-8")

    def answer(self, path: str, etag_seen: str | None) -> tuple[Feed | None, int, bytes, str]:
        """(feed, status, body, etag) for a request path; counts the hit."""
        try:
            index = int(path.removeprefix("/feed/").removesuffix(".xml"))
            feed = self.feeds[index]
        except (ValueError, IndexError):
            return None, 404, b"not found", ""
        with self.lock:
            etag = f'"{index}-{feed.version}"'
            if feed.status != 200:
                status, body = feed.status, b"failing on purpose"
            elif etag_seen == etag:
                status, body = 304, b""
            else:
                status, body = 200, feed.body
                for item in feed.items[: self.shown]:
                    item.served = True
            feed.hits.append(Hit(time.monotonic(), status, feed.host))
            self.bytes_served += len(body)
            return feed, status, body, etag


def _bind_all(
    addresses: list[str], handler: type[BaseHTTPRequestHandler]
) -> list[ThreadingHTTPServer]:
    """One server per address, all on one port (retried when another program holds it)."""
    for _ in range(20):
        servers: list[ThreadingHTTPServer] = []
        try:
            first = _server((addresses[0], 0), handler)
            servers.append(first)
            port = first.server_address[1]
            for address in addresses[1:]:
                servers.append(_server((address, port), handler))
            return servers
        except OSError:
            for server in servers:
                server.server_close()
    raise OSError("no port free on every farm address")


def _server(address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(address, handler, bind_and_activate=False)
    server.daemon_threads = True
    server.request_queue_size = 512
    server.allow_reuse_address = True
    server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        server.server_bind()
        server.server_activate()
    except OSError:
        server.server_close()
        raise
    return server


class _Handler(BaseHTTPRequestHandler):
    farm: FeedFarm
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def handle_one_request(self) -> None:
        # A client killed mid-request (the fault tests do that) resets its connections.
        with contextlib.suppress(ConnectionResetError, BrokenPipeError, TimeoutError):
            super().handle_one_request()

    def do_GET(self) -> None:  # noqa: N802
        try:
            self._answer()
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True

    def _answer(self) -> None:
        if self.path == "/robots.txt":
            self._send(200, ROBOTS, "text/plain", None)
            return
        feed, status, body, etag = self.farm.answer(self.path, self.headers.get("If-None-Match"))
        if feed is not None and feed.trickle and status == 200:
            self._trickle(body, etag, feed.trickle)
            return
        self._send(status, body, "application/rss+xml; charset=utf-8", etag or None)

    def _send(self, status: int, body: bytes, ctype: str, etag: str | None) -> None:
        self._headers(status, len(body), ctype, etag)
        if body:
            self.wfile.write(body)

    def _headers(self, status: int, length: int, ctype: str, etag: str | None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if etag:
            self.send_header("ETag", etag)
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def _trickle(self, body: bytes, etag: str, rate: float) -> None:
        """Headers at once, then the body a byte at a time until the client gives up."""
        self._headers(200, len(body), "application/rss+xml; charset=utf-8", etag)
        self.wfile.flush()
        pause = 1.0 / rate
        for offset in range(len(body)):
            if self.farm._closing.wait(pause):
                break
            self.wfile.write(body[offset : offset + 1])
            self.wfile.flush()
        self.close_connection = True


def _handler(farm: FeedFarm) -> type[BaseHTTPRequestHandler]:
    return type("FarmHandler", (_Handler,), {"farm": farm})
