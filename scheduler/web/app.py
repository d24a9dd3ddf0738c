"""The Starlette app: routes of every page, static files, and the :class:`Guard` around them.

``create_app(site)`` builds the whole interface; ``create_app(site, pages=False)`` serves
``/healthz`` and ``/metrics`` only (the older ``[service] health`` setting).
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Any

from jinja2 import Environment
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from crawler.errors import NewswatchError
from scheduler.health import health_response
from scheduler.web.daycounts import DayCounts
from scheduler.web.render import make_environment
from scheduler.web.security import Guard, LoginLimiter, Scope, Sessions, same_secret
from scheduler.web.site import Site

STATIC = Path(__file__).with_name("static")


class Web:
    """What every route reaches through ``request.app.state.web``."""

    def __init__(self, site: Site, *, pages: bool = True) -> None:
        self.site = site
        self.pages = pages
        self.sessions = Sessions(site.config.web.session.total_seconds())
        self.logins = LoginLimiter()
        self.day_counts = DayCounts()
        self._environments: dict[str, Environment] = {}

    def environment(self) -> Environment:
        """The templates, showing times in the configured zone."""
        zone = self.site.config.service.timezone
        if zone not in self._environments:
            self._environments[zone] = make_environment(zone)
        return self._environments[zone]

    def needs_login(self) -> bool:
        """Whether a password is set."""
        return self.site.config.web.has_password

    async def check_password(self, client: str, given: str) -> bool | None:
        """True/False for a login attempt; None while ``client`` must wait (rate limit)."""
        if self.logins.wait_needed(client) > 0:
            return None
        ok = await self.site.blocking(password_matches, self.site, given)
        if ok:
            self.logins.succeeded(client)
        else:
            self.logins.failed(client)
        return ok

    async def basic_auth(self, scope: Scope) -> bool:
        """HTTP Basic authentication (feed readers cannot fill in the login form)."""
        for name, value in scope["headers"]:
            if name == b"authorization" and value[:6].lower() == b"basic ":
                try:
                    _, _, given = base64.b64decode(value[6:]).decode().partition(":")
                except (binascii.Error, UnicodeDecodeError):
                    return False
                client = (scope.get("client") or ("?",))[0]
                return bool(await self.check_password(client, given))
        return False


def password_matches(site: Site, given: str) -> bool:
    """Whether ``given`` is the configured password (scrypt hash or plain from the env)."""
    from scheduler.web.passwords import verify_password

    web = site.config.web
    if web.password_hash is not None:
        return verify_password(given, web.password_hash)
    if web.password is not None:
        return same_secret(given, web.password)
    return False


async def _health(request: Request) -> Response:
    site: Site = request.app.state.web.site
    if site.probe is None:
        return PlainTextResponse("not found\n", status_code=404)
    status, content_type, body = health_response("/healthz", site.probe, None)
    return Response(body, status_code=status, media_type=content_type)


async def _metrics(request: Request) -> Response:
    site: Site = request.app.state.web.site
    if site.probe is None:
        return PlainTextResponse("not found\n", status_code=404)
    status, content_type, body = await site.blocking(
        health_response, "/metrics", site.probe, site.metrics
    )
    return Response(body, status_code=status, media_type=content_type)


async def _problem(request: Request, exc: Exception) -> Response:
    from scheduler.web.pages.common import page

    assert isinstance(exc, NewswatchError)
    return await page(
        request,
        "error.html",
        status_code=503,
        title="Cannot show this page",
        problem=exc.message,
        hint=exc.hint,
    )


async def _not_found(request: Request, exc: Any) -> Response:
    web: Web = request.app.state.web
    if getattr(request.state, "session", None) is None or not web.pages:
        return PlainTextResponse("not found: try /healthz or /metrics\n", status_code=404)
    from scheduler.web.pages.common import page

    return await page(
        request, "error.html", status_code=404, title="Not found", problem=str(exc.detail)
    )


def page_routes() -> list[BaseRoute]:
    """Every page of the interface."""
    from scheduler.web.pages import (
        auth,
        deliveries,
        feeds,
        matches,
        overview,
        rule_editor,
        rules,
        search,
        sources,
    )

    routes: list[BaseRoute] = []
    pages = (overview, matches, search, rules, rule_editor, sources, deliveries, feeds, auth)
    for module in pages:
        routes.extend(module.routes)
    routes.append(Mount("/static", StaticFiles(directory=STATIC), name="static"))
    return routes


def create_app(site: Site, *, pages: bool = True) -> Guard:
    """The ASGI app: the pages (unless ``pages`` is false), /healthz, /metrics, static files."""
    from scheduler.web.pages.common import READ_SAFE_POSTS

    routes: list[BaseRoute] = [
        Route("/healthz", _health, methods=["GET", "HEAD"]),
        Route("/metrics", _metrics, methods=["GET", "HEAD"]),
    ]
    if pages:
        routes.extend(page_routes())
    handlers: dict[Any, Any] = {404: _not_found, NewswatchError: _problem}
    app = Starlette(routes=routes, exception_handlers=handlers)
    web = Web(site, pages=pages)
    app.state.web = web
    return Guard(
        app,
        sessions=web.sessions,
        needs_login=web.needs_login,
        read_only=site.read_only,
        read_safe_posts=READ_SAFE_POSTS,
        basic_auth=web.basic_auth,
    )
