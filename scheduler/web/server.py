"""uvicorn inside the running asyncio loop: one server for pages, health, metrics and feeds.

The socket is bound here, before uvicorn starts, so an unusable address is a clean
:class:`NewswatchError` rather than uvicorn's ``sys.exit``; port 0 picks a free port (tests).
uvicorn's own signal handling is switched off: the service owns SIGTERM and SIGINT and
stops the server through :meth:`WebServer.stop`, which gives open requests a second and
then closes whatever is left, so a stop stays within the service's deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator
from typing import Any

from crawler.errors import NewswatchError

logger = logging.getLogger(__name__)

GRACE_SECONDS = 1
STOP_SECONDS = 2.0


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port``; NewswatchError if the address is unusable."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise NewswatchError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            hint="check [web] listen; another process may use that port",
        ) from exc
    return sock


def _uvicorn_server(app: Any) -> Any:
    import uvicorn

    class InLoopServer(uvicorn.Server):
        """A uvicorn server that leaves signals to the service."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    config = uvicorn.Config(
        app,
        lifespan="off",
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=GRACE_SECONDS,
        timeout_keep_alive=5,
    )
    return InLoopServer(config)


class WebServer:
    """``await server.start()`` serves ``app`` in the current loop until ``await server.stop()``."""

    def __init__(self, app: Any, host: str, port: int) -> None:
        self.app = app
        self.host = host
        self.requested_port = port
        self._socket: socket.socket | None = None
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        """The port listened on (the real one when 0 was asked for)."""
        if self._socket is None:
            return self.requested_port
        return int(self._socket.getsockname()[1])

    def url(self, path: str = "/") -> str:
        """The address of ``path`` on this server."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{path}"

    async def start(self) -> None:
        """Bind and start serving; returns once requests are accepted."""
        self._socket = bind_socket(self.host, self.requested_port)
        self._server = _uvicorn_server(self.app)
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        while not self._server.started and not self._task.done():
            await asyncio.sleep(0.01)
        if self._task.done():
            self._task.result()  # raises what stopped it
            raise NewswatchError(f"the web server on {self.host}:{self.port} did not start")

    async def stop(self) -> None:
        """Stop accepting, let open requests finish briefly, close the socket."""
        if self._task is None:
            return
        self._server.should_exit = True
        done, _ = await asyncio.wait({self._task}, timeout=STOP_SECONDS)
        if not done:
            logger.warning("web server did not stop within %.0fs; closing it", STOP_SECONDS)
            self._server.force_exit = True
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=STOP_SECONDS)
        if self._socket is not None:
            self._socket.close()
        self._task = self._server = self._socket = None
