"""``/healthz`` and ``/metrics`` over HTTP, for systemd watchdogs, Docker and Prometheus.

The server runs the standard library's ``ThreadingHTTPServer`` in a daemon thread, so a
scrape never waits on the event loop, and a blocked loop is still reported (as 503) instead
of hanging the health check. ``/healthz`` asks a *probe*, a function returning
:class:`HealthState`; :func:`service_probe` builds the one the service uses.

A service is healthy when polls keep happening: the last poll finished within
``max(3 x shortest interval, 5 min)``, or the service started less than that ago.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from prometheus_client.exposition import CONTENT_TYPE_LATEST

from crawler.db import utcnow
from crawler.errors import NewswatchError
from scheduler.metrics import Metrics

if TYPE_CHECKING:
    from scheduler.looplag import LoopLagMonitor
    from scheduler.service import Service

logger = logging.getLogger(__name__)

MIN_GRACE = timedelta(minutes=5)
# The lag sampler ticks every fraction of a second; this long without a tick is a stuck loop.
LOOP_STALL_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class HealthState:
    """The answer of a probe: alive or not, and why, in words for a person."""

    alive: bool
    reason: str


Probe = Callable[[], HealthState]


def grace_period(shortest_interval: timedelta) -> timedelta:
    """How long without a poll is still healthy: max(3 x shortest interval, 5 min)."""
    return max(3 * shortest_interval, MIN_GRACE)


def poll_health(
    *,
    now: datetime,
    started_at: datetime,
    last_poll_at: datetime | None,
    shortest_interval: timedelta | None,
    scheduler_running: bool = True,
) -> HealthState:
    """Decide whether polls are happening as often as the schedule asks."""
    if not scheduler_running:
        return HealthState(False, "the scheduler is not running")
    if shortest_interval is None:
        return HealthState(True, "ok: no source is polled on an interval")
    grace = grace_period(shortest_interval)
    if last_poll_at is not None and now - last_poll_at <= grace:
        return HealthState(True, f"ok: last poll {_seconds(now - last_poll_at)}s ago")
    if now - started_at <= grace:
        return HealthState(True, "ok: starting, no poll finished yet")
    allowed = f"allowed: {_seconds(grace)}s"
    if last_poll_at is None:
        since = _seconds(now - started_at)
        return HealthState(
            False, f"no poll has finished in the {since}s since the start ({allowed})"
        )
    since = _seconds(now - last_poll_at)
    return HealthState(False, f"no poll has finished for {since}s ({allowed})")


def _seconds(delta: timedelta) -> int:
    return int(delta.total_seconds())


def loop_health(monitor: LoopLagMonitor, now: float | None = None) -> HealthState | None:
    """A failed state when the event loop has not turned for too long, else ``None``."""
    since = monitor.snapshot().seconds_since_tick(now)
    if since is not None and since > LOOP_STALL_SECONDS:
        return HealthState(False, f"the event loop has been blocked for {since:.0f}s")
    return None


def service_probe(
    service: Service,
    *,
    started_at: datetime | None = None,
    loop_lag: LoopLagMonitor | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Probe:
    """The probe of a running :class:`~scheduler.service.Service`; call it at service start."""
    started = started_at or clock()

    def probe() -> HealthState:
        stalled = loop_health(loop_lag) if loop_lag is not None else None
        if stalled is not None:
            return stalled
        runtime = service.runtime
        # Cron sources may rightly be quiet for days; the interval sources show liveness.
        intervals = [
            runtime.interval_of(name) for name in runtime.sources if not runtime.cron_of(name)
        ]
        return poll_health(
            now=clock(),
            started_at=started,
            last_poll_at=service.last_poll_at,
            shortest_interval=min(intervals, default=None),
            scheduler_running=service.scheduler.running,
        )

    return probe


def parse_address(text: str) -> tuple[str, int]:
    """Parse ``"127.0.0.1:8787"`` / ``"[::1]:8787"`` / ``":8787"`` (localhost) for ``health``."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f'invalid address {text!r} (expected HOST:PORT like "127.0.0.1:8787")')
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port_text)


class HealthServer:
    """``with HealthServer("127.0.0.1", 8787, probe, metrics):`` serves until the block ends."""

    def __init__(self, host: str, port: int, probe: Probe, metrics: Metrics | None = None) -> None:
        self.host = host
        self.requested_port = port
        self.probe = probe
        self.metrics = metrics
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port listened on (the real one when 0 was asked for)."""
        if self._server is None:
            return self.requested_port
        return int(self._server.server_address[1])

    def url(self, path: str = "/") -> str:
        """The address of ``path`` on this server."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{path}"

    def start(self) -> None:
        """Listen and serve in a daemon thread; NewswatchError if the address is unusable."""
        handler = _make_handler(self)
        server_class = _server_class(self.host)
        try:
            self._server = server_class((self.host, self.requested_port), handler)
        except OSError as exc:
            raise NewswatchError(
                f"cannot serve health checks on {self.host}:{self.requested_port}: "
                f"{exc.strerror or exc}",
                hint="check [service] health; another process may use that port",
            ) from exc
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="newswatch-health", daemon=True
        )
        self._thread.start()
        logger.info("health and metrics on %s", self.url("/"))

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT_SECONDS)
        self._server = None
        self._thread = None

    def __enter__(self) -> HealthServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def respond(self, path: str) -> tuple[int, str, bytes]:
        """Status, content type and body for a GET of ``path``."""
        route = path.split("?", 1)[0]
        if route == "/healthz":
            try:
                state = self.probe()
            except Exception as exc:  # a broken probe is itself a failed health check
                logger.exception("health probe failed")
                state = HealthState(False, f"health probe failed: {type(exc).__name__}: {exc}")
            status = 200 if state.alive else 503
            return status, "text/plain; charset=utf-8", (state.reason + "\n").encode()
        if route == "/metrics" and self.metrics is not None:
            return 200, CONTENT_TYPE_LATEST, self.metrics.render()
        return 404, "text/plain; charset=utf-8", b"not found: try /healthz or /metrics\n"


def _server_class(host: str) -> type[ThreadingHTTPServer]:
    if ":" not in host:
        return ThreadingHTTPServer

    class V6Server(ThreadingHTTPServer):
        address_family = socket.AF_INET6

    return V6Server


def _make_handler(owner: HealthServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "newswatch"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            logger.debug("%s %s", self.address_string(), format % args)

        def do_GET(self) -> None:  # noqa: N802
            self._answer(body=True)

        def do_HEAD(self) -> None:  # noqa: N802
            self._answer(body=False)

        def _answer(self, *, body: bool) -> None:
            status, content_type, payload = owner.respond(self.path)
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                if body:
                    self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass

    return Handler
