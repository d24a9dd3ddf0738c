"""An archive to search, export and follow: articles stored and matched as the service does.

``fill_archive`` stores English, Khmer and Chinese articles (one story carried by three
outlets, one hostile title and URL) through the store with its story index, and runs the
rules over them with the real matcher at fixed times (time-machine), so feeds and exports
are the same on every run and can be compared with golden files.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import time_machine
from lxml import etree

from alerts.routing import match_pending
from alerts.rules.matcher import Matcher
from alerts.rules.rule import Rule
from crawler.db import Database
from crawler.models import Article
from crawler.store import store_articles
from crawler.stories import StoryIndex

START = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
GOLDEN = Path(__file__).resolve().parent / "data" / "archive"
ATOM_SCHEMA = Path(__file__).resolve().parent / "data" / "atom" / "atom.rng"
ATOM = "{http://www.w3.org/2005/Atom}"

RAID = (
    "Police raided a suspected scam compound in Bavet on Friday and rescued forty workers "
    "from Thailand, Indonesia and Kenya who said they had been forced to run online fraud "
    "schemes. Officers seized computers and phones and detained the managers of the "
    "compound, which had operated behind a casino hotel for more than a year."
)
RULES = {
    "scam": Rule("scam", '"scam compound" OR ក្រុងព្រះសីហនុ OR 西港'),
    "casino": Rule("casino", "casino AND NOT licence"),
}
HOSTILE_TITLE = 'Raid <script>alert("x")</script> at a scam compound'


def _article(n: int, source: str, title: str, text: str, url: str | None = None) -> Article:
    when = START + timedelta(hours=n)
    return Article(
        url=url or f"https://{source}.example.org/news/{n}",
        source=source,
        title=title,
        summary=text[:120],
        published=when - timedelta(minutes=30),
        fetched=when,
        guid=f"{source}-{n}",
        text=text,
    )


ARTICLES = [
    _article(1, "khmer-times", "Scam compound raided in Bavet", RAID),
    _article(2, "phnom-penh-post", "Bavet scam compound raided, forty freed", RAID + " More soon."),
    _article(3, "cna", "Forty rescued from Bavet compound", "Update: " + RAID),
    _article(
        4,
        "khmer-news",
        "ក្រុងព្រះសីហនុ",
        "ប៉ូលិសបានវាយឆ្មក់ទីតាំងបោកប្រាស់មួយនៅក្រុងព្រះសីហនុកាលពីម្សិលមិញ ហើយបានជួយសង្គ្រោះកម្មករ។",
    ),
    _article(
        5,
        "sin-chew",
        "西港诈骗园区",
        "警方周三在西港一处诈骗园区解救了数十名外国人，并逮捕了管理人员。",
    ),
    _article(
        6, "khmer-times", "Casino licence suspended", "The casino lost its licence on Monday."
    ),
    _article(7, "phnom-penh-post", "New casino opens", "A casino opened near the border."),
    _article(
        8,
        "cna",
        HOSTILE_TITLE,
        "A scam compound was raided. Nothing else is known.",
        url="javascript:alert(1)",
    ),
    _article(9, "khmer-times", "Rice harvest", "Farmers expect a good rice harvest this year."),
]


def fill_archive(db: Database, articles: list[Article] | None = None) -> list[int]:
    """Store ``articles`` (default: ARTICLES) one by one and match each an hour later."""
    stories = StoryIndex(db)
    matcher = Matcher.build(list(RULES.values()))
    routes = {name: ("box",) for name in RULES}
    ids = []
    for article in articles or ARTICLES:
        ids += store_articles(db, [article], stories)
        with time_machine.travel(article.fetched + timedelta(hours=1), tick=False):
            match_pending(db, matcher, routes)
    return ids


def validate(body: bytes) -> etree._Element:
    """The parsed Atom feed, after checking it against RFC 4287's RELAX NG schema (its
    appendix B), the rules the schema cannot say, and feedparser reading it cleanly."""
    schema = etree.RelaxNG(etree.parse(str(ATOM_SCHEMA)))
    root = etree.fromstring(body)
    assert schema.validate(root), schema.error_log
    ids = [e.findtext(f"{ATOM}id") for e in root.iter(f"{ATOM}entry")]
    assert len(ids) == len(set(ids))
    for entry in root.iter(f"{ATOM}entry"):
        alternate = entry.find(f"{ATOM}link[@rel='alternate']")
        assert alternate is not None or entry.find(f"{ATOM}content") is not None
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return root


def scanned(db: Database, rule: Rule) -> list[int]:
    """What the matcher finds walking every stored article, newest first: what a search
    must answer."""
    from alerts.rules.archive import as_document
    from crawler.store import article_from_row

    matcher = Matcher.build([rule])
    rows = db.query("SELECT * FROM articles ORDER BY id DESC")
    return [row["id"] for row in rows if matcher.match(as_document(article_from_row(row)))]
