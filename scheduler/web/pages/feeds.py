"""``/feeds/RULE.atom``: a rule's newest matches as an Atom feed, for feed readers.

Seam: the archive's Atom feed function (a pure function of the matches) is to render
these once it lands; until then this module renders the same matches through a small
template. Feed readers that cannot fill in the login form may use HTTP Basic
authentication with the web password.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alerts.outbox.matches import MatchFilter, recent_matches
from crawler.db import utcnow
from scheduler.web.pages.common import site_of, web_of

ENTRIES = 50


async def rule_feed(request: Request) -> Response:
    """The Atom feed of one rule."""
    site = site_of(request)
    name = request.path_params["rule"]
    if name not in site.config.rules:
        return Response(f"no rule named {name}\n", status_code=404, media_type="text/plain")
    found = await site.read(recent_matches, MatchFilter(rule=name), limit=ENTRIES)
    body = (
        web_of(request)
        .environment()
        .get_template("feed.xml")
        .render(
            rule=name,
            entries=found,
            self_url=str(request.url),
            base=str(request.base_url),
            now=utcnow(),
        )
    )
    return Response(body, media_type="application/atom+xml; charset=utf-8")


routes = [Route("/feeds/{rule}.atom", rule_feed)]
