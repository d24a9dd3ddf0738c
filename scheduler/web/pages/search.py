"""``/search``: the archive searched with the rule query language.

The full-text index finds the candidates and the matcher decides, exactly as ``newswatch
search QUERY --since PERIOD`` does, so the page and the command line give the same results.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alerts.rules.rule import Rule
from alerts.rules.tryout import DRAFT
from crawler.db import utcnow
from scheduler.web.pages.common import PERIODS, page, period_of, query_form, site_of
from scheduler.web.pages.drafts import check_draft, preview_draft


async def search(request: Request) -> Response:
    """The search form and, when a query is given, its results."""
    site = site_of(request)
    config = site.config
    form = query_form(request)
    query = form.get("q")
    period, length = period_of(form.get("period"), "30d")
    rule = Rule(DRAFT, query, sources=tuple(s for s in form.all("source") if s))
    check = check_draft(rule)
    results = None
    if query and check.problem is None:
        zone = config.service.timezone
        results = await site.read(preview_draft, rule, period, length, zone, utcnow())
    return await page(
        request,
        "search.html",
        title=f"Search: {query}" if query else "Search",
        query=query,
        period=period,
        periods=PERIODS,
        source=form.get("source"),
        sources=sorted(config.sources),
        check=check,
        results=results,
    )


routes = [Route("/search", search, name="search")]
