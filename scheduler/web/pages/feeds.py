"""``/feeds/RULE.atom`` and ``/feeds/all.atom``: the newest matches as Atom feeds.

The same feeds ``newswatch feed RULE`` prints (:mod:`alerts.render.atom`). Feed readers
that cannot fill in the login form may use HTTP Basic authentication with the web password.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alerts.render.atom import feed_for
from crawler.db import utcnow
from scheduler.web.pages.common import site_of

ALL = "all"


async def rule_feed(request: Request) -> Response:
    """The Atom feed of one rule, or of every rule (``all``)."""
    site = site_of(request)
    name = request.path_params["rule"]
    if name != ALL and name not in site.config.rules:
        return Response(f"no rule named {name}\n", status_code=404, media_type="text/plain")
    rule = None if name == ALL else name
    alternate = str(request.url_for("matches"))
    if rule is not None:
        alternate += f"?rule={rule}"
    body = await site.read(
        feed_for, rule, self_url=str(request.url), now=utcnow(), alternate_url=alternate
    )
    return Response(body, media_type="application/atom+xml; charset=utf-8")


routes = [Route("/feeds/{rule}.atom", rule_feed)]
