"""Turn an alert into a subject, a plain-text body and an HTML body, and into wire formats.

Feed text is hostile until proven otherwise: titles lose control characters and line
breaks (so they can never start a new mail header), HTML is autoescaped, and only
http(s) links become clickable.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2

from alerts.errors import RenderError
from alerts.records import Alert

# MAIL_POLICY, MESSAGE_ID_DOMAIN and message_id are re-exported for existing callers.
from alerts.render.mime import MAIL_POLICY, MESSAGE_ID_DOMAIN, compose_email, message_id  # noqa: F401

PACKAGE_TEMPLATES = Path(__file__).resolve().parent / "templates"
WEBHOOK_VERSION = 1

SUBJECT_TITLE_LIMIT = 120
BODY_TITLE_LIMIT = 500
SUMMARY_LIMIT = 500
SNIPPET_LIMIT = 10
MUTE_FOR = "7d"
# Words a text may add to the headline and still be only the headline (an aggregator's
# description: the headline and the outlet's name).
_TITLE_ECHO_EXTRA_WORDS = 4
_WORDS = re.compile(r"\w+")
# Where text is cut, its own trailing "...", "…" or "[…]" would pile up with the ellipsis.
_TRAILING_MARKS = re.compile(r"(?:\s*(?:\.{2,}|…|\[\s*(?:…|\.{2,})\s*\]?))+\s*$")

# C0/C1 controls and Unicode line/paragraph separators become spaces; bidi embeddings,
# overrides and isolates are dropped, since an unbalanced one can visually reorder the
# rest of a subject line. Marks that scripts need (ZWJ, ZWNJ, ZWSP, LRM/RLM) are kept.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_BIDI_CONTROLS = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    """The three renderings of one alert."""

    subject: str
    text: str
    html: str


class Segment(NamedTuple):
    """A run of snippet text; ``marked`` runs are the matched terms."""

    text: str
    marked: bool


class SnippetView(NamedTuple):
    """A snippet ready for templates: segments for HTML, ``marked`` text for plain text."""

    segments: tuple[Segment, ...]
    marked: str
    plain: str


def render_message(
    alert: Alert, *, timezone: str = "UTC", template_dir: Path | None = None
) -> RenderedMessage:
    """Render the subject, text body and HTML body of ``alert``.

    Templates in ``template_dir`` override the packaged ones of the same name.
    Raises ValueError for an unknown timezone and RenderError for a broken template.
    """
    context = alert_context(alert, load_zone(timezone))
    env = environment(template_dir)
    subject = clean_line(render_template(env, "subject.txt.j2", context))
    return RenderedMessage(
        subject=subject,
        text=render_template(env, "body.txt.j2", context),
        html=render_template(env, "body.html.j2", {**context, "subject": subject}),
    )


def build_email(
    alert: Alert,
    *,
    sender: str,
    to: Sequence[str],
    timezone: str = "UTC",
    template_dir: Path | None = None,
) -> EmailMessage:
    """Build a multipart/alternative (text + HTML) message with a Message-ID stable per key.

    ``to`` may be empty (an mbox copy needs no recipient); then no To header is set.
    """
    rendered = render_message(alert, timezone=timezone, template_dir=template_dir)
    return compose_email(
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        key=alert.key,
        sender=sender,
        to=to,
        headers={"X-Newswatch-Rule": clean_line(alert.rule)},
    )


def webhook_payload(alert: Alert, *, timezone: str = "UTC") -> dict[str, Any]:
    """The version 1 JSON document for ``alert`` (see docs/alerts.md for the schema)."""
    zone = load_zone(timezone)
    article = alert.article
    return {
        "version": WEBHOOK_VERSION,
        "type": "match",
        "id": alert.key,
        "alert_id": alert.id,
        "rule": alert.rule,
        "article": {
            "url": article.url,
            "title": clean_line(article.title),
            "source": article.source,
            "source_title": clean_line(alert.source_title or article.source),
            "published": iso_time(article.published, zone),
            "fetched": iso_time(article.fetched, zone),
            "summary": article.summary,
            "guid": article.guid,
        },
        "snippets": [
            {"text": s.text, "highlights": [list(span) for span in normalize_highlights(s)]}
            for s in alert.snippets
        ],
        "also_reported_by": list(alert.also_reported_by),
    }


def load_zone(name: str) -> ZoneInfo:
    """The IANA zone called ``name``; ValueError with a clear message when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"unknown timezone {name!r}: use an IANA name such as 'Asia/Phnom_Penh' or 'UTC'"
        ) from None


def clean_line(text: str) -> str:
    """One line of display text: no control characters, whitespace runs collapsed."""
    text = _CONTROLS.sub(" ", text.translate(_BIDI_CONTROLS))
    return _SPACES.sub(" ", text).strip()


def truncate(text: str, limit: int) -> str:
    """Shorten ``text`` to at most ``limit`` characters, at a word break when one is near."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit * 2 // 3:
        cut = cut[:space]
    # Never end on a combining mark or a Khmer coeng: it would attach to the ellipsis.
    while cut and unicodedata.category(cut[-1]).startswith("M"):
        cut = cut[:-1]
    return _TRAILING_MARKS.sub("", cut).rstrip() + "…"


def repeats_title(text: str, title: str) -> bool:
    """Whether ``text`` is the headline again, perhaps with the outlet's name after it."""
    words, headline = _WORDS.findall(text.casefold()), _WORDS.findall(title.casefold())
    return (
        bool(headline)
        and words[: len(headline)] == headline
        and (len(words) - len(headline) <= _TITLE_ECHO_EXTRA_WORDS)
    )


def normalize_highlights(snippet: Any) -> list[tuple[int, int]]:
    """The snippet's highlight spans clamped to its text, sorted, merged, empty ones dropped."""
    size = len(snippet.text)
    spans: list[tuple[int, int]] = []
    for span in snippet.highlights:
        try:
            start, end = (max(0, min(size, int(v))) for v in span)
        except (TypeError, ValueError):
            continue  # a malformed span loses its highlight, not the alert
        if start < end:
            spans.append((start, end))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def snippet_view(snippet: Any) -> SnippetView:
    """Split a snippet into plain and marked segments with display-safe whitespace."""
    raw: list[Segment] = []
    pos = 0
    for start, end in normalize_highlights(snippet):
        raw.append(Segment(snippet.text[pos:start], False))
        raw.append(Segment(snippet.text[start:end], True))
        pos = end
    raw.append(Segment(snippet.text[pos:], False))
    segments = _tidy_segments(raw)
    marked = "".join(_mark(s.text) if s.marked else s.text for s in segments)
    return SnippetView(segments, marked, "".join(s.text for s in segments))


def _mark(text: str) -> str:
    """``**term**`` with surrounding spaces kept outside the markers."""
    core = text.strip()
    head = text[: len(text) - len(text.lstrip())]
    tail = text[len(text.rstrip()) :]
    return f"{head}**{core}**{tail}" if core else text


def _tidy_segments(raw: Iterable[Segment]) -> tuple[Segment, ...]:
    """Clean each segment separately (offsets were applied first) and drop empty ones."""
    out: list[Segment] = []
    for seg in raw:
        text = _SPACES.sub(" ", _CONTROLS.sub(" ", seg.text.translate(_BIDI_CONTROLS)))
        if not out:
            text = text.lstrip()
        elif out[-1].text.endswith(" ") and text.startswith(" "):
            text = text[1:]
        if text:
            out.append(Segment(text, seg.marked))
    if out and not out[-1].text.strip():
        out.pop()
    elif out:
        out[-1] = Segment(out[-1].text.rstrip(), out[-1].marked)
    return tuple(out)


def alert_context(alert: Alert, zone: ZoneInfo) -> dict[str, Any]:
    """Everything the templates may use; the keys are documented in docs/alerts.md."""
    article = alert.article
    title = clean_line(article.title) or "(untitled)"
    snippets = [snippet_view(s) for s in alert.snippets[:SNIPPET_LIMIT]]
    # The headline is shown as such; a snippet or summary that only repeats it is dropped.
    snippets = [s for s in snippets if s.segments and not repeats_title(s.plain, title)]
    summary = ""
    if not snippets and not repeats_title(article.summary, title):
        summary = truncate(clean_line(article.summary), SUMMARY_LIMIT)
    rule = clean_line(alert.rule)
    return {
        "key": alert.key,
        "alert_id": alert.id,
        "rule": rule,
        "mute_command": f"newswatch mute {rule} --for {MUTE_FOR}",
        "title": truncate(title, BODY_TITLE_LIMIT),
        "short_title": truncate(title, SUBJECT_TITLE_LIMIT),
        "source": clean_line(alert.source_title or article.source),
        "url": article.url,
        "link": article.url if urlsplit(article.url).scheme in ("http", "https") else None,
        "published": display_time(article.published, zone),
        "first_seen": display_time(article.fetched, zone),
        "language": clean_line(article.language or ""),
        "snippets": snippets,
        "summary": summary,
        "preheader": truncate(snippets[0].plain if snippets else summary, 140),
        "also_reported_by": [clean_line(name) for name in alert.also_reported_by],
    }


def display_time(moment: datetime | None, zone: ZoneInfo) -> str | None:
    """A time shown in ``zone``: ``2024-05-03 14:05 UTC+07:00 (Asia/Phnom_Penh)``.

    In UTC it is just ``2024-05-03 07:05 UTC``.
    """
    if moment is None:
        return None
    local = _aware(moment).astimezone(zone)
    abbr = local.tzname() or ""
    if abbr.startswith(("+", "-")):
        offset = local.strftime("%z")
        abbr = f"UTC{offset[:3]}:{offset[3:]}"
    stamp = f"{local:%Y-%m-%d %H:%M} {abbr}"
    return stamp if zone.key == "UTC" else f"{stamp} ({zone.key})"


def iso_time(moment: datetime | None, zone: ZoneInfo) -> str | None:
    """ISO 8601 with the offset of ``zone``; None stays None."""
    return None if moment is None else _aware(moment).astimezone(zone).isoformat()


def _aware(moment: datetime) -> datetime:
    # Articles carry aware UTC times; a naive one is taken as UTC, not as server-local.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@functools.lru_cache(maxsize=8)
def environment(template_dir: Path | None) -> jinja2.Environment:
    """Packaged templates, each replaced by a file of the same name in ``template_dir``."""
    loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader(PACKAGE_TEMPLATES)]
    if template_dir is not None:
        loaders.insert(0, jinja2.FileSystemLoader(template_dir))
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_template(env: jinja2.Environment, name: str, context: dict[str, Any]) -> str:
    """Render one template; any template problem becomes a RenderError naming the file."""
    hint = "check the templates in the configured template directory"
    try:
        return env.get_template(name).render(context)
    except jinja2.TemplateSyntaxError as exc:
        where = f"{exc.filename or exc.name or name}, line {exc.lineno}"
        raise RenderError(f"template {where}: {exc.message}", hint=hint) from exc
    except jinja2.UndefinedError as exc:
        names = ", ".join(sorted(context))
        raise RenderError(
            f"template {name}: {exc.message}", hint=f"available variables: {names}"
        ) from exc
    except jinja2.TemplateError as exc:
        raise RenderError(f"template {name}: {exc}", hint=hint) from exc


def check_templates(template_dir: Path) -> list[str]:
    """Syntax problems in the user's templates (``*.j2`` in ``template_dir``), one per file."""
    env = environment(template_dir)
    problems = []
    for path in sorted(template_dir.glob("*.j2")):
        try:
            env.parse(path.read_text(encoding="utf-8"), path.name, str(path))
        except jinja2.TemplateSyntaxError as exc:
            problems.append(f"template {path.name}, line {exc.lineno}: {exc.message}")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"template {path.name} cannot be read: {exc}")
    return problems
