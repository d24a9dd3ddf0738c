"""Short extracts of a document around the hits of a rule, for alert messages."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from alerts.records import Hit
from alerts.rules.matcher import Document

ELLIPSIS = "…"
_SNIPPET_FIELDS = ("title", "body")
# A text up to this long (a feed summary) is shown whole rather than cut into windows.
WHOLE_TEXT = 500
# How far a window edge may move to avoid cutting a word in half.
_WORD_SLACK = 20
# Where an extract is cut, the text's own trailing "...", "…" or "[…]" would pile up with
# the ellipsis added ("…..."); they are dropped first.
_TRAILING_MARKS = re.compile(r"(?:\s*(?:\.{2,}|…|\[\s*(?:…|\.{2,})\s*\]))+\s*$")
_LEADING_MARKS = re.compile(r"^\s*(?:(?:\.{2,}|…|\[\s*(?:…|\.{2,})\s*\])\s*)+")


@dataclass(frozen=True, slots=True)
class Snippet:
    """An extract with the spans to highlight, as offsets into ``text``."""

    text: str
    highlights: tuple[tuple[int, int], ...]


@dataclass(slots=True)
class _Window:
    field: str
    start: int
    end: int
    hits: list[tuple[int, int]]


def _windows(field: str, text: str, spans: list[tuple[int, int]], width: int) -> list[_Window]:
    """Group the spans of one field into windows of about ``width`` characters."""
    windows: list[_Window] = []
    for start, end in sorted(spans):
        current = windows[-1] if windows else None
        if current is not None and end <= current.end:
            current.hits.append((start, end))
            continue
        lead = max(0, (width - (end - start)) // 3)
        w_start = max(0, min(start - lead, len(text) - width))
        windows.append(_Window(field, w_start, min(len(text), w_start + width), [(start, end)]))
    return windows


def _trim_to_words(text: str, window: _Window) -> tuple[int, int]:
    """Move the window edges to whitespace when that does not cut a highlight."""
    start, end = window.start, window.end
    first = min(s for s, _ in window.hits) if window.hits else end
    last = max(e for _, e in window.hits) if window.hits else start
    if start > 0 and not text[start - 1].isspace():
        cut = next(
            (i for i in range(start, min(first, start + _WORD_SLACK)) if text[i].isspace()), None
        )
        if cut is not None:
            start = cut + 1
    if end < len(text) and not text[end].isspace():
        cut = next(
            (i for i in range(end - 1, max(last, end - _WORD_SLACK) - 1, -1) if text[i].isspace()),
            None,
        )
        if cut is not None:
            end = cut
    return start, end


def _render(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> Snippet:
    """Collapse whitespace in ``text[start:end]`` and map the spans into the result."""
    out: list[str] = []
    where = [0] * (end - start + 1)  # original offset -> offset in ``out``
    lead = ELLIPSIS if start > 0 else ""
    for i in range(start, end):
        where[i - start] = len(out)
        ch = text[i]
        if ch.isspace():
            if out and out[-1] != " ":
                out.append(" ")
        else:
            out.append(ch)
    where[end - start] = len(out)
    while out and out[-1] == " ":
        out.pop()
    body = "".join(out)
    tail = ELLIPSIS if end < len(text) else ""
    body, shift = _tidy_marks(body, lead=bool(lead), tail=bool(tail))
    highlights: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        a = max(0, where[max(s, start) - start] - shift) + len(lead)
        b = min(where[min(e, end) - start] - shift, len(body)) + len(lead)
        if b <= a:
            continue
        if highlights and a <= highlights[-1][1]:
            highlights[-1] = (highlights[-1][0], max(b, highlights[-1][1]))
        else:
            highlights.append((a, b))
    return Snippet(lead + body + tail, tuple(highlights))


def _tidy_marks(body: str, *, lead: bool, tail: bool) -> tuple[str, int]:
    """Drop the text's own ellipsis marks where an ellipsis is added; (body, chars cut in front).

    A text that itself ends in "..." or "[…]" (a feed's truncated summary) ends in one "…".
    """
    cut = 0
    if lead:
        match = _LEADING_MARKS.match(body)
        if match and match.end() < len(body):
            cut = match.end()
            body = body[cut:]
    match = _TRAILING_MARKS.search(body)
    if match and match.start() > 0:
        body = body[: match.start()] + ("" if tail else ELLIPSIS)
    return body, cut


def make_snippets(
    doc: Document,
    hits: Sequence[Hit],
    *,
    width: int = 160,
    limit: int = 3,
    fields: Sequence[str] = _SNIPPET_FIELDS,
    whole: int = WHOLE_TEXT,
) -> list[Snippet]:
    """Up to ``limit`` extracts of about ``width`` characters around ``hits`` in ``fields``.

    The windows with the most hits are kept and returned in document order, title first. A
    field of at most ``whole`` characters is one extract, all of it: a feed summary is shown
    whole, never cut mid-sentence. Without hits in ``fields``, the opening of the body is the
    only snippet (of the title, when the body is empty and the title is among ``fields``).
    Alerts leave the title out of ``fields``: they show it as the headline already.
    """
    texts = {"title": doc.title, "body": doc.body}
    windows: list[_Window] = []
    for field in (f for f in _SNIPPET_FIELDS if f in fields):
        spans = [(h.start, h.end) for h in hits if h.field == field and h.end > h.start]
        size = len(texts[field]) if len(texts[field]) <= whole else width
        windows.extend(_windows(field, texts[field], spans, size))
    if not windows:
        field = "body" if doc.body.strip() or "title" not in fields else "title"
        text = texts[field]
        if not text.strip():
            return []
        size = len(text) if len(text) <= whole else width
        windows = [_Window(field, 0, min(len(text), size), [])]
    ranked = sorted(windows, key=lambda w: -len(w.hits))[: max(limit, 0)]
    ranked.sort(key=lambda w: (_SNIPPET_FIELDS.index(w.field), w.start))
    snippets = []
    for window in ranked:
        text = texts[window.field]
        start, end = _trim_to_words(text, window)
        snippets.append(_render(text, start, end, window.hits))
    return snippets
