"""The alerts, digest and operations alert that docs/alerts.md shows samples of.

Tests render them and compare with the samples in the docs, so the docs cannot drift.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from alerts.records import Alert, Digest, DigestSection, Notification, OpsAlert
from alerts.rules.snippets import Snippet
from crawler.models import Article

DOCS = Path(__file__).resolve().parents[1] / "docs" / "alerts.md"
TIMEZONE = "Asia/Phnom_Penh"
TEXT = (
    "Police on Friday raided a suspected online scam compound in Sihanoukville, "
    "freeing more than 200 workers."
)
_MARKER = re.compile(r"<!-- sample: (\w+) (\w+) -->\n```\w*\n(.*?)```", re.DOTALL)


def _alert(
    title: str, key: str, rule: str, source: str, published: datetime, url: str, alert_id: str
) -> Alert:
    article = Article(
        url=url,
        source=source,
        title=title,
        summary="Officers raided a compound in Sihanoukville on Friday.",
        published=published,
        fetched=published,
        guid="urn:example:7",
        language="en",
    )
    start = TEXT.index("scam compound")
    return Alert(key, rule, article, (Snippet(TEXT, ((start, start + 13),)),), id=alert_id)


RAID = _alert(
    "Police raid compound in Sihanoukville",
    "scam-crackdown.42.team-chat",
    "scam-crackdown",
    "Khmer Times",
    datetime(2024, 5, 3, 7, 5, tzinfo=UTC),
    "https://www.example.org/news/police-raid-compound?id=7&lang=en",
    "57",
)
GAMBLING = _alert(
    "Online gambling ring broken up in Poipet",
    "gambling.44.team-chat",
    "gambling",
    "Phnom Penh Post",
    datetime(2024, 5, 3, 9, 15, tzinfo=UTC),
    "https://www.example.org/news/poipet-gambling",
    "58",
)
DIGEST = Digest(
    "digest.12.team-chat",
    "digest",
    (DigestSection("gambling", (GAMBLING,)), DigestSection("scam-crackdown", (RAID,))),
    until=datetime(2024, 5, 4, 1, 0, tzinfo=UTC),
    since=datetime(2024, 5, 3, 1, 0, tzinfo=UTC),
    id="n12",
)
OPS = OpsAlert(
    "ops.13.team-chat",
    "khmer-times",
    "broken",
    "5 polls in a row failed",
    datetime(2024, 5, 4, 2, 30, tzinfo=UTC),
    url="https://www.khmertimeskh.com/feed/",
    last_error="HTTP 503 Service Unavailable",
    id="n13",
)
SAMPLES: dict[str, Notification] = {"alert": RAID, "digest": DIGEST, "ops": OPS}


def documented_samples() -> list[tuple[str, str, str]]:
    """(format, sample name, block text) for every ``<!-- sample: ... -->`` block."""
    return _MARKER.findall(DOCS.read_text(encoding="utf-8"))
