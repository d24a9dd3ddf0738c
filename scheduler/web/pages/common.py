"""What every page does: render a template, read a form, redirect with a message."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

from crawler.db import utcnow
from scheduler.web.security import Session, form_values

if TYPE_CHECKING:
    from scheduler.web.app import Web
    from scheduler.web.site import Site

# POSTs that change nothing: allowed in read-only mode (they still need the CSRF token).
READ_SAFE_POSTS = frozenset(
    {"/login", "/logout", "/rules/draft", "/rules/try", "/sources/discover", "/sources/try"}
)
PERIODS: dict[str, timedelta] = {
    "1d": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
}
NAV = (
    ("/", "Overview"),
    ("/matches", "Matches"),
    ("/search", "Search"),
    ("/rules", "Rules"),
    ("/sources", "Sources"),
    ("/deliveries", "Deliveries"),
)


def web_of(request: Request) -> Web:
    """The app's shared state."""
    web: Web = request.app.state.web
    return web


def site_of(request: Request) -> Site:
    """What the page may read and do."""
    return web_of(request).site


def session_of(request: Request) -> Session:
    """The browser's session (the Guard always sets one)."""
    session: Session = request.state.session
    return session


def _context(request: Request, context: Mapping[str, Any]) -> dict[str, Any]:
    web = web_of(request)
    session = session_of(request)
    return {
        "request": request,
        "config": web.site.config,
        "csrf": session.csrf,
        "read_only": web.site.read_only,
        "needs_login": web.needs_login(),
        "nav": NAV,
        "here": request.url.path,
        "now": utcnow(),
        **context,
    }


async def page(
    request: Request, template: str, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """A whole page, with the messages waiting in the session (rendered off the loop)."""
    values = _context(request, context)
    values["flash"] = session_of(request).pop_flash()
    return HTMLResponse(await _render(request, template, values), status_code=status_code)


async def fragment(request: Request, template: str, **context: Any) -> HTMLResponse:
    """Part of a page, for the page's script to put in place."""
    return HTMLResponse(await _render(request, template, _context(request, context)))


async def _render(request: Request, template: str, values: dict[str, Any]) -> str:
    # Rendering a long page takes milliseconds that the service's loop should not wait for.
    web = web_of(request)
    return await web.site.blocking(web.environment().get_template(template).render, values)


def wants_fragment(request: Request) -> bool:
    """Whether the page's script asked (it sends ``X-Requested-With: fetch``)."""
    return request.headers.get("x-requested-with") == "fetch"


def back(request: Request, url: str, message: str | None = None, kind: str = "ok") -> Any:
    """Redirect (after a POST) to ``url``, showing ``message`` there."""
    if message:
        session_of(request).say(message, kind)
    return RedirectResponse(url, status_code=303)


class Form:
    """A posted form: ``get`` one value (stripped), ``all`` the values of a field."""

    def __init__(self, values: Mapping[str, list[str]]) -> None:
        self.values = values

    def get(self, name: str, default: str = "") -> str:
        """The field's first value, stripped."""
        found = self.values.get(name)
        return found[0].strip() if found else default

    def raw(self, name: str) -> str:
        """The field's first value as typed (line breaks and spaces kept)."""
        found = self.values.get(name)
        return found[0].replace("\r\n", "\n") if found else ""

    def all(self, name: str) -> list[str]:
        """Every non-empty value of the field."""
        return [v.strip() for v in self.values.get(name, []) if v.strip()]


async def read_form(request: Request) -> Form:
    """The url-encoded body of a POST."""
    return Form(form_values(await request.body()))


def query_form(request: Request) -> Form:
    """The query string, read like a form."""
    values: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        values.setdefault(key, []).append(value)
    return Form(values)


def period_of(text: str, default: str = "7d") -> tuple[str, timedelta]:
    """A period choice (``1d``, ``7d``, ``30d``, ``90d``) and its length."""
    key = text if text in PERIODS else default
    return key, PERIODS[key]


def day_start(text: str, timezone: str) -> datetime | None:
    """``YYYY-MM-DD`` as the moment that day starts in ``timezone``; None if not a date."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(timezone))


def split_list(text: str) -> list[str]:
    """``"en, km"`` as ``["en", "km"]``."""
    return [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]
