"""``/login`` and ``/logout``, when ``[web]`` has a password."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from scheduler.web.pages.common import back, page, query_form, read_form, web_of


def _local_target(text: str) -> str:
    """Where to go after logging in: a path on this site only (no open redirect)."""
    return text if text.startswith("/") and not text.startswith(("//", "/\\")) else "/"


async def login_form(request: Request) -> Response:
    """The login form."""
    target = _local_target(query_form(request).get("next"))
    return await page(request, "login.html", title="Log in", target=target, problem=None)


async def login(request: Request) -> Response:
    """Check the password; a new session on success, a count towards the limit otherwise."""
    web = web_of(request)
    form = await read_form(request)
    target = _local_target(form.get("next"))
    client = request.client.host if request.client else "?"
    if not web.needs_login():
        return back(request, target)
    verdict = await web.check_password(client, form.raw("password"))
    if verdict is None:
        wait = int(web.logins.wait_needed(client)) + 1
        response = await page(
            request,
            "login.html",
            status_code=429,
            title="Log in",
            target=target,
            problem=f"Too many failed attempts; try again in {wait // 60 + 1} minutes.",
        )
        response.headers["retry-after"] = str(wait)
        return response
    if not verdict:
        return await page(
            request,
            "login.html",
            status_code=401,
            title="Log in",
            target=target,
            problem="Wrong password.",
        )
    request.state.session = web.sessions.login(request.state.session)
    return back(request, target)


async def logout(request: Request) -> Response:
    """Forget the session."""
    web_of(request).sessions.drop(request.state.session)
    return back(request, "/login" if web_of(request).needs_login() else "/")


routes = [
    Route("/login", login_form),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
]
