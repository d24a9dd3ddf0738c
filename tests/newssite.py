"""The local news site the web crawl tests serve and crawl.

Pages come from ``tests/data/site``; the Khmer article is assembled from the shared corpus
(skipped when it is absent). Dates are filled in relative to the test's clock so that
"fresh" and "stale" sitemap entries mean the same thing whenever the tests run.
"""

from __future__ import annotations

import gzip
import html
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.corpus import CORPUS
from tests.httpserver import FeedServer

SITE = Path(__file__).parent / "data" / "site"
KHMER_SAMPLE = CORPUS / "khmer" / "km" / "khmer-nltk__samples_input.txt"
HTML = "text/html; charset=utf-8"
XML = "application/xml"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"

# Article pages by URL path; each is also a file name in tests/data/site.
ARTICLES = {
    "/news/2026/raid-sihanoukville.html": "raid-sihanoukville.html",
    "/news/2026/bavet-workers.html": "bavet-workers.html",
    "/news/2026/poipet-casino.html": "poipet-casino.html",
}
KHMER_PATH = "/news/2026/khmer-report.html"
SITEMAPS = {
    "/sitemap_index.xml": "sitemap_index.xml",
    "/sitemaps/news.xml": "sitemap-news.xml",
    "/sitemaps/archive-2020.xml": "sitemap-archive-2020.xml",
}
LISTINGS = {"/news/": "news-1.html", "/news/?page=2": "news-2.html", "/news/?page=3": "news-3.html"}
# Links on the listing pages that must never produce a stored article.
PRIVATE = "/private/leaked-memo.html"
PDF_PATH = "/files/annual-report"
HUGE = "/news/2026/huge.html"
BOMB = "/news/2026/packed.html"


def khmer_lines() -> list[str]:
    """Lines of real Khmer news text, or skip the test when the corpus is absent."""
    if not KHMER_SAMPLE.exists():
        pytest.skip(f"Khmer corpus not found at {KHMER_SAMPLE}")
    lines = [line.strip() for line in KHMER_SAMPLE.read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if line]


def khmer_page() -> str:
    """The Khmer article page: the corpus' first line as title, the next ones as paragraphs."""
    title, *body = khmer_lines()[:8]
    paragraphs = "\n".join(f"<p>{html.escape(line)}</p>" for line in body)
    template = (SITE / "khmer-report.html").read_text(encoding="utf-8")
    return template.replace("{title}", html.escape(title)).replace("{paragraphs}", paragraphs)


@dataclass
class Site:
    """A running copy of the test site: its server and the dates it was filled with."""

    server: FeedServer
    fresh: datetime
    stale: datetime

    def url(self, path: str) -> str:
        return self.server.url(path)

    def fill(self, name: str) -> str:
        text = (SITE / name).read_text(encoding="utf-8")
        for key, value in {
            "{base}": self.server.url(""),
            "{fresh}": self.fresh.isoformat(timespec="seconds"),
            "{stale}": self.stale.isoformat(timespec="seconds"),
            "{page_date}": self.fresh.isoformat(timespec="seconds"),
        }.items():
            text = text.replace(key, value)
        return text

    def requested(self, path: str) -> int:
        """How many times the server was asked for ``path``."""
        return len(self.server.hits(path))

    def paths(self) -> list[str]:
        """Every path requested so far, in order."""
        with self.server.lock:
            return [r.path for r in self.server.requests]


def serve_site(
    server: FeedServer,
    *,
    fresh: datetime | None = None,
    stale: datetime | None = None,
    khmer: bool = False,
    huge_size: int = 400_000,
) -> Site:
    """Publish the test site on ``server``: listings, articles, sitemaps, robots.txt, traps."""
    now = datetime.now(UTC).replace(microsecond=0)
    site = Site(server, fresh or now - timedelta(hours=1), stale or now - timedelta(days=5))
    server.add("/robots.txt", site.fill("robots.txt"), content_type="text/plain")
    for path, name in {**LISTINGS, **ARTICLES}.items():
        server.add(path, site.fill(name), content_type=HTML)
    if khmer:
        server.add(KHMER_PATH, khmer_page(), content_type=HTML)
    server.add(PRIVATE, site.fill("private.html"), content_type=HTML)
    server.add(PDF_PATH, PDF, content_type="application/pdf")
    huge = b"<html><body><p>" + b"words " * (huge_size // 6) + b"</p></body></html>"
    server.add(HUGE, huge, content_type=HTML)
    # 50 MB of zeros, about 50 KB on the wire: a decompression bomb.
    server.add(BOMB, b"<html><body>" + b"\0" * 50_000_000, content_type=HTML, gzip=True)
    for path, name in SITEMAPS.items():
        server.add(path, site.fill(name), content_type=XML)
    return site


def gzipped(text: str) -> bytes:
    """A body compressed as a ``.xml.gz`` file (no Content-Encoding)."""
    return gzip.compress(text.encode("utf-8"))
