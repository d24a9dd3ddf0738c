"""The rule editor: errors and warnings as you type, a preview over the archive, a test box,
and saving into ``config.toml``.

Without JavaScript the editor is a plain form: "Preview" posts it back and the page
returns with the check and the preview; "Save" writes the rule. The page's script
(static/app.js) asks ``/rules/check`` and ``/rules/preview`` while the user types and puts
the answers (HTML, escaped on the server) in place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alerts.rules.matcher import Document
from alerts.rules.rule import Rule
from alerts.rules.snippets import Snippet
from alerts.rules.tryout import try_rule
from crawler.db import utcnow
from crawler.errors import NewswatchError
from crawler.sources.probe import read_url
from scheduler.config_edit import put_table, raw_table, read_config_text
from scheduler.web.pages.common import (
    PERIODS,
    Form,
    back,
    fragment,
    page,
    period_of,
    query_form,
    read_form,
    session_of,
    site_of,
    split_list,
    wants_fragment,
)
from scheduler.web.pages.drafts import Check, Preview, check_draft, draft_rule, preview_draft
from scheduler.web.pages.editing import SaveFailure, try_save

# Paths under /rules/ that are not rule names.
RESERVED = frozenset({"new", "check", "preview", "draft", "try", "save"})
TRIED_SHOWN = 20


@dataclass(slots=True)
class RuleForm:
    """The editor's fields."""

    name: str = ""
    query: str = ""
    exclude: str = ""
    channels: list[str] = field(default_factory=list)
    languages: str = ""
    sources: list[str] = field(default_factory=list)
    min_hits: str = "1"
    enabled: bool = True
    version: str = ""
    new: bool = True
    period: str = "7d"

    @classmethod
    def from_table(cls, name: str, table: dict[str, Any], version: str) -> RuleForm:
        """The fields of a rule as written in config.toml."""
        return cls(
            name=name,
            query=str(table.get("query", "")),
            exclude=str(table.get("exclude") or ""),
            channels=[str(c) for c in table.get("channels", [])],
            languages=", ".join(str(c) for c in table.get("languages", [])),
            sources=[str(s) for s in table.get("sources", [])],
            min_hits=str(table.get("min_hits", 1)),
            enabled=table.get("enabled", True) is not False,
            version=version,
            new=False,
        )

    @classmethod
    def from_form(cls, form: Form) -> RuleForm:
        """The fields as posted."""
        return cls(
            name=form.get("name"),
            query=form.raw("query").strip(),
            exclude=form.raw("exclude").strip(),
            channels=form.all("channels"),
            languages=form.get("languages"),
            sources=form.all("sources"),
            min_hits=form.get("min_hits") or "1",
            enabled=form.get("enabled") == "1",
            version=form.get("version"),
            new=form.get("new") == "1",
            period=period_of(form.get("period"))[0],
        )

    def table(self) -> dict[str, Any]:
        """The keys to write; None removes a key (its default applies)."""
        languages = [code.lower() for code in split_list(self.languages)]
        try:
            min_hits: Any = int(self.min_hits)
        except ValueError:
            min_hits = self.min_hits  # a string: `check` reports it at rules.NAME.min_hits
        return {
            "query": self.query,
            "exclude": self.exclude or None,
            "channels": self.channels,
            "languages": languages or None,
            "sources": self.sources or None,
            "min_hits": None if min_hits == 1 else min_hits,
            "enabled": None if self.enabled else False,
        }


@dataclass(frozen=True, slots=True)
class Tried:
    """One document of the test box and what the draft made of it."""

    title: str
    url: str
    matched: bool
    hits: int
    snippets: tuple[Snippet, ...]


@dataclass(frozen=True, slots=True)
class TryOutcome:
    """The test box's answer: documents tried, or why none could be."""

    rows: list[Tried] = field(default_factory=list)
    problem: str | None = None


async def _editor(
    request: Request,
    form: RuleForm,
    *,
    status_code: int = 200,
    check: Check | None = None,
    preview: Preview | None = None,
    tried: TryOutcome | None = None,
    failure: SaveFailure | None = None,
) -> Response:
    config = site_of(request).config
    return await page(
        request,
        "rule_edit.html",
        status_code=status_code,
        title=f"Rule {form.name}" if not form.new else "New rule",
        form=form,
        channels=sorted(config.channels),
        sources=sorted(config.sources),
        periods=PERIODS,
        check=check or Check(None, []),
        preview=preview,
        tried=tried,
        failure=failure,
    )


async def new_rule(request: Request) -> Response:
    """An empty editor."""
    channels = sorted(site_of(request).config.channels)
    return await _editor(request, RuleForm(channels=channels[:1]))


async def edit_rule(request: Request) -> Response:
    """The editor for a configured rule."""
    name = request.path_params["name"]
    site = site_of(request)
    path = site.config.path
    table = await site.blocking(raw_table, path, "rules", name)
    if table is None:
        return await page(
            request, "error.html", status_code=404, title="No such rule", problem=name
        )
    _, version = await site.blocking(read_config_text, path)
    return await _editor(request, RuleForm.from_table(name, table, version))


async def check_rule(request: Request) -> Response:
    """The check of a draft, as HTML for the editor's script."""
    return await fragment(request, "check.html", check=check_draft(draft_rule(query_form(request))))


async def _preview(request: Request, rule: Rule, period: str) -> Preview:
    site = site_of(request)
    key, length = period_of(period)
    zone = site.config.service.timezone
    # A newer preview from the same browser makes this one stop scanning.
    session = session_of(request)
    session.previews += 1
    run = session.previews
    return await site.read(
        preview_draft, rule, key, length, zone, utcnow(), lambda: session.previews == run
    )


async def preview_rule(request: Request) -> Response:
    """The preview of a draft over the archive, as HTML for the editor's script."""
    form = query_form(request)
    rule = draft_rule(form)
    check = check_draft(rule)
    if check.problem is not None or not rule.query:
        return await fragment(request, "preview.html", preview=None, check=check)
    preview = await _preview(request, rule, form.get("period"))
    return await fragment(request, "preview.html", preview=preview, check=check)


async def draft(request: Request) -> Response:
    """The editor again with the check and preview of what was posted (without script)."""
    posted = await read_form(request)
    form = RuleForm.from_form(posted)
    rule = draft_rule(posted)
    check = check_draft(rule)
    preview = None
    if check.problem is None and rule.query:
        preview = await _preview(request, rule, form.period)
    return await _editor(request, form, check=check, preview=preview)


async def _try_documents(request: Request, posted: Form) -> list[Document]:
    url = posted.get("try_url")
    if url:
        articles = await read_url(site_of(request).crawls(), url)
        return [Document(a.title, a.body, url=a.url, language=a.language) for a in articles]
    return [Document(title=posted.get("try_title"), body=posted.raw("try_text"))]


async def try_text(request: Request) -> Response:
    """Run the draft over a pasted text, or the page or feed at a pasted URL."""
    posted = await read_form(request)
    rule = draft_rule(posted)
    check = check_draft(rule)
    outcome = TryOutcome(problem="Write a query first." if not rule.query else None)
    if check.problem is not None:
        outcome = TryOutcome(problem="Fix the query first.")
    elif rule.query:
        try:
            documents = await _try_documents(request, posted)
        except NewswatchError as exc:
            outcome = TryOutcome(problem=str(exc))
        else:
            rows = []
            for doc in documents[:TRIED_SHOWN]:
                result = try_rule(rule, doc)
                hits = len(result.match.hits) if result.match else 0
                rows.append(Tried(doc.title, doc.url, result.matched, hits, result.snippets))
            outcome = TryOutcome(rows=rows)
    if wants_fragment(request):
        return await fragment(request, "tried.html", tried=outcome)
    return await _editor(request, RuleForm.from_form(posted), check=check, tried=outcome)


async def save_rule(request: Request) -> Response:
    """Write the rule into config.toml, if the result passes ``check``."""
    posted = await read_form(request)
    form = RuleForm.from_form(posted)
    if form.new and form.name in RESERVED:
        failure = SaveFailure(f"Not saved: {form.name!r} is a reserved name; pick another.")
        return await _editor(request, form, status_code=422, failure=failure)
    values = form.table()
    outcome = await try_save(
        site_of(request),
        lambda doc: put_table(doc, "rules", form.name, values, create=form.new),
        form.version,
    )
    if isinstance(outcome, SaveFailure):
        check = check_draft(draft_rule(posted))
        return await _editor(request, form, status_code=422, failure=outcome, check=check)
    for warning in outcome.warnings:
        if warning.startswith(f"rules.{form.name}:"):
            session_of(request).say(f"warning: {warning}", "warning")
    verb = "created" if form.new else "saved"
    return back(
        request,
        f"/rules/{form.name}",
        f"Rule {form.name} {verb}; the service is using it now.",
    )


routes = [
    Route("/rules/new", new_rule),
    Route("/rules/check", check_rule),
    Route("/rules/preview", preview_rule),
    Route("/rules/draft", draft, methods=["POST"]),
    Route("/rules/try", try_text, methods=["POST"]),
    Route("/rules/save", save_rule, methods=["POST"]),
    Route("/rules/{name}", edit_rule),
]
