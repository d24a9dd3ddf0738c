"""``/sources``: every source's health; add one from a site's address; pause or remove.

Adding a source goes address -> the feeds and sitemaps found there -> one tried now (its
items and which rules they would match) -> saved in ``config.toml``. The discovery is
:func:`crawler.discovery.discover_feeds`, shared with the command line's ``sources add``
(:mod:`scheduler.sources_edit`).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alerts.rules.matcher import Document, Matcher
from crawler.db import utcnow
from crawler.discovery import Kind, Trial, discover_feeds, site_address, try_feed
from scheduler.config import Config
from scheduler.config_edit import put_table, remove_table, set_enabled
from scheduler.sources_edit import suggest_name
from scheduler.status import status_of
from scheduler.web.pages.common import back, page, read_form, site_of
from scheduler.web.pages.editing import SaveFailure, save_config, try_save
from scheduler.wiring import build_rules


def rules_matching(config: Config, trial: Trial) -> list[list[str]]:
    """For each tried item, the enabled rules that would match it."""
    matcher = Matcher.build(build_rules(config))
    return [
        [found.rule for found in matcher.match(Document(a.title, a.body, "", a.url, a.language))]
        for a in trial.articles
    ]


async def list_sources(request: Request) -> Response:
    """The list of sources."""
    site = site_of(request)
    config = site.config
    status = await site.read(status_of, config, utcnow())
    return await page(request, "sources.html", title="Sources", status=status)


async def new_source(request: Request) -> Response:
    """The form asking for a site's address."""
    return await page(request, "source_new.html", title="Add a source", address="", found=None)


async def discover(request: Request) -> Response:
    """The feeds and sitemaps found at the address posted."""
    form = await read_form(request)
    address = form.get("address")
    site = site_of(request)
    try:
        found = await discover_feeds(site.crawls(), address)
    except ValueError as exc:
        site_problem = f"{exc}; type a site's address, like khmertimeskh.com"
        return await page(
            request,
            "source_new.html",
            status_code=422,
            title="Add a source",
            address=address,
            found=None,
            problem=site_problem,
        )
    return await page(
        request, "source_new.html", title="Add a source", address=address, found=found
    )


async def trial(request: Request) -> Response:
    """Fetch a candidate now: its items and the rules they would match, and a save form."""
    form = await read_form(request)
    site = site_of(request)
    config = site.config
    kind: Kind = "sitemap" if form.get("kind") == "sitemap" else "rss"
    url = form.get("url")
    try:
        url = site_address(url)
    except ValueError as exc:
        return back(request, "/sources/new", str(exc), "error")
    tried = await try_feed(site.crawls(), url, kind)
    matched = await site.blocking(rules_matching, config, tried)
    return await page(
        request,
        "source_try.html",
        title="Try a source",
        trial=tried,
        matched=matched,
        name=suggest_name(url, tried.title, set(config.sources)),
    )


async def create_source(request: Request) -> Response:
    """Save a new source into config.toml."""
    form = await read_form(request)
    name = form.get("name")
    table = {"type": form.get("kind") or "rss", "url": form.get("url")}
    if form.get("interval"):
        table["interval"] = form.get("interval")
    outcome = await try_save(
        site_of(request), lambda doc: put_table(doc, "sources", name, table, create=True), None
    )
    if isinstance(outcome, SaveFailure):
        details = " ".join([outcome.message, *(str(p) for p in outcome.problems)])
        return back(request, "/sources/new", details, "error")
    return back(request, "/sources", f"Source {name} added; the service polls it now.", "ok")


async def toggle_source(request: Request) -> Response:
    """Pause or resume a source."""
    name = request.path_params["name"]
    form = await read_form(request)
    enabled = form.get("enabled") == "1"
    saved = await save_config(
        request, lambda doc: set_enabled(doc, "sources", name, enabled), form.get("version")
    )
    if saved is not None:
        word = "resumed" if enabled else "paused"
        request.state.session.say(f"Source {name} {word}.")
    return back(request, "/sources")


async def remove_source(request: Request) -> Response:
    """Delete a source from config.toml (its stored articles stay)."""
    name = request.path_params["name"]
    saved = await save_config(request, lambda doc: remove_table(doc, "sources", name), None)
    if saved is not None:
        request.state.session.say(f"Source {name} removed; its stored articles stay.")
    return back(request, "/sources")


routes = [
    Route("/sources", list_sources, name="sources"),
    Route("/sources", create_source, methods=["POST"]),
    Route("/sources/new", new_source),
    Route("/sources/discover", discover, methods=["POST"]),
    Route("/sources/try", trial, methods=["POST"]),
    Route("/sources/{name}/enabled", toggle_source, methods=["POST"]),
    Route("/sources/{name}/remove", remove_source, methods=["POST"]),
]
