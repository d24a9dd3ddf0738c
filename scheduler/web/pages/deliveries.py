"""``/deliveries``: alerts that failed or are waiting, and retrying the failed ones."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alerts.outbox.admin import list_entries, retry, retry_all_failed
from alerts.outbox.store import BUNDLED, DIGEST, FAILED, PENDING, RETRYING
from crawler.db import utcnow
from scheduler.web.pages.common import back, page, read_form, site_of

WAITING = (PENDING, RETRYING, DIGEST, BUNDLED)
SHOWN = 100


async def list_deliveries(request: Request) -> Response:
    """Failed alerts first, then those waiting to be sent."""
    site = site_of(request)
    failed = await site.read(list_entries, state=FAILED, limit=SHOWN)
    waiting = await site.read(list_entries, state=WAITING, limit=SHOWN)
    return await page(
        request, "deliveries.html", title="Deliveries", failed=failed, waiting=waiting
    )


async def retry_deliveries(request: Request) -> Response:
    """Queue one failed alert (``id``) or every failed one (``all``) again, due now."""
    site = site_of(request)
    form = await read_form(request)
    if form.get("all") == "1":
        count = site.write(retry_all_failed, utcnow())
        site.on_queue_changed()
        return back(request, "/deliveries", f"{count} failed alert(s) queued again.")
    result = site.write(retry, [form.get("id")], utcnow())
    site.on_queue_changed()
    if result.refused:
        return back(request, "/deliveries", "Not retried: " + "; ".join(result.refused), "error")
    return back(request, "/deliveries", f"Alert {form.get('id')} queued again; sending now.")


routes = [
    Route("/deliveries", list_deliveries, name="deliveries"),
    Route("/deliveries/retry", retry_deliveries, methods=["POST"]),
]
