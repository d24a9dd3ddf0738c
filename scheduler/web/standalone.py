"""``newswatch web``: the pages over a database, read-only, while no service runs there.

For a copy of the database on a laptop, or a look at a stopped service's archive. Nothing
is written: no database writes, no config saves. It stops on SIGINT or SIGTERM.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from crawler.db import open_readonly
from crawler.errors import NewswatchError
from scheduler.config import Config
from scheduler.config_types import is_loopback, split_address
from scheduler.web.app import create_app
from scheduler.web.server import WebServer
from scheduler.web.site import ConfigFile, Site

logger = logging.getLogger(__name__)

DEFAULT_LISTEN = "127.0.0.1:8787"


def listen_address(config: Config, given: str | None) -> tuple[str, int]:
    """Where to listen: ``given``, else ``[web] listen``, else 127.0.0.1:8787.

    NewswatchError for an address reachable from other machines when no password is set.
    """
    text = given or config.web.listen or DEFAULT_LISTEN
    try:
        host, port = split_address(text)
    except ValueError as exc:
        raise NewswatchError(str(exc)) from None
    if not is_loopback(host) and not config.web.has_password:
        raise NewswatchError(
            f"refusing to serve on {text}: it is reachable from other machines and [web] has "
            "no password",
            hint='set [web] password = "${NEWSWATCH_WEB_PASSWORD}" or password_hash, '
            "or listen on 127.0.0.1",
        )
    return host, port


async def serve_readonly(config: Config, host: str, port: int) -> None:
    """Serve the pages read-only until SIGINT / SIGTERM."""
    open_readonly(config.service.database).close()  # fail now if there is no database
    site = Site(ConfigFile(config))
    server = WebServer(create_app(site), host, port)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    logger.info("a read-only view of %s on %s", config.service.database, server.url("/"))
    try:
        await stop.wait()
    finally:
        await server.stop()
        await site.aclose()
