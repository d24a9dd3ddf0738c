"""One alert per story: copies across outlets, re-published items and revisions, end to end."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.clirunner import db_rows, newswatch, write_config
from tests.httpserver import FeedServer, rss
from tests.peers import WebhookReceiver

pytestmark = pytest.mark.slow  # every test here runs newswatch in a subprocess

WIRE = (
    "Cambodian police raided a building complex in Sihanoukville on Tuesday night and rescued "
    "more than two hundred foreign workers who said they had been forced to run online scams. "
    "The interior ministry said officers from the anti-human trafficking department detained "
    "forty suspects, seized computers and mobile phones, and found documents showing that the "
    "workers had been recruited through fake job advertisements promising well paid work in "
    "customer service. Several of the rescued workers told reporters that their passports had "
    "been confiscated on arrival and that they were beaten when they failed to meet targets. "
    "The provincial governor said the operation was part of a nationwide crackdown ordered by "
    "the prime minister after a series of reports about scam compounds in the coastal city. "
    "Embassies of Indonesia, Vietnam and Thailand have been asked to help repatriate victims."
)
OTHER_RAID = (
    "Police in Poipet raided a casino hotel near the Thai border on Friday and arrested "
    "eighteen people suspected of running an illegal online gambling operation. Officers said "
    "the group had rented three floors of the hotel and used them to take bets from players in "
    "China through encrypted messaging apps. Banteay Meanchey provincial police chief said the "
    "suspects would be sent to court on charges of illegal gambling and money laundering, and "
    "that investigators were still tracing bank accounts linked to the operation. Local "
    "residents said the hotel had been under suspicion for months. The raid followed a warning "
    "from the Thai side of the border about gangs recruiting Thai nationals to work there."
)
RULE = "(raid* OR rescued) AND (Sihanoukville OR Poipet)"


def feed(items: list[dict[str, str]], title: str = "Test feed") -> str:
    return rss(items, title=title)


def story_config(tmp_path: Path, server: FeedServer, hook: WebhookReceiver, **rules: str) -> Path:
    rules.setdefault("scam", RULE)
    sources = {
        name: {"type": "rss", "url": server.url(f"/{name}")}
        for name in ("khmer-times", "camboja", "wire-copy")
    }
    sources["khmer-times"]["title"] = "Khmer Times"
    return write_config(
        tmp_path,
        sources=sources,
        rules={name: {"query": query, "channels": ["hook"]} for name, query in rules.items()},
        channels={"hook": {"type": "webhook", "url": hook.url}},
    )


def test_stories_copies_in_several_feeds_alert_once_per_channel(
    tmp_path, http_server, webhook_receiver
):
    http_server.add(
        "/khmer-times",
        feed(
            [
                {
                    "title": "Over 200 rescued in Sihanoukville scam raid",
                    "link": "https://kt.example/raid",
                    "description": WIRE,
                },
                {
                    "title": "Poipet casino raided",
                    "link": "https://kt.example/poipet",
                    "description": OTHER_RAID,
                },
            ]
        ),
    )
    http_server.add(
        "/camboja",
        feed(
            [
                {
                    "title": "Police free foreign workers from Sihanoukville compound",
                    "link": "https://camboja.example/story/1",
                    "description": WIRE.replace("Tuesday night", "Tuesday")
                    + " Read more: camboja.example",
                }
            ],
            title="CamboJA News",
        ),
    )
    http_server.add(
        "/wire-copy",
        feed(
            [
                {
                    "title": "Sihanoukville raid: workers rescued",
                    "link": "https://wire.example/a?utm_source=x",
                    "description": WIRE,
                    "guid": "wire-1",
                }
            ]
        ),
    )
    config = story_config(tmp_path, http_server, webhook_receiver)
    result = newswatch("once", config=config)
    assert result.returncode == 0, result.stderr

    requests = webhook_receiver.wait_for(2)
    titles = sorted(r.json()["article"]["title"] for r in requests)
    assert len(titles) == 2, titles
    assert "Poipet casino raided" in titles
    raid = next(r.json() for r in requests if "Sihanoukville" in r.json()["article"]["title"])
    # Outlets by their display names: the configured title, else the feed's own.
    assert raid["article"]["source"] == "khmer-times"
    assert raid["article"]["source_title"] == "Khmer Times"
    assert raid["also_reported_by"] == ["CamboJA News"]
    db = tmp_path / "newswatch.db"
    # The exact copy under a new URL is not stored; the lightly edited copy joins the story.
    urls = {r["url"] for r in db_rows(db, "SELECT url FROM articles")}
    assert "https://wire.example/a" not in urls
    stories = db_rows(
        db, "SELECT story_id, count(*) AS n FROM articles GROUP BY story_id ORDER BY n DESC"
    )
    assert [s["n"] for s in stories] == [2, 1]
    assert len(db_rows(db, "SELECT * FROM matches")) == 3

    listing = newswatch("stories", "--since", "7d", config=config)
    assert listing.returncode == 0, listing.stderr
    assert "khmer-times" in listing.stdout and "camboja" in listing.stdout
    # Times in the service's zone (UTC here), with the zone shown.
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC  ", listing.stdout), listing.stdout
    data = json.loads(newswatch("stories", "--json", config=config).stdout)
    assert sorted(s["articles"] for s in data) == [1, 2]
    assert all(s["last_seen"].endswith("+00:00") for s in data)


def test_stories_later_copy_shows_other_outlets_and_revision_alerts_only_when_newly_matching(
    tmp_path, http_server, webhook_receiver
):
    http_server.add(
        "/khmer-times",
        feed(
            [
                {
                    "title": "Workers freed",
                    "link": "https://kt.example/raid",
                    "description": WIRE,
                    "guid": "kt-1",
                }
            ]
        ),
    )
    http_server.add("/camboja", feed([]))
    http_server.add(
        "/wire-copy",
        feed([{"title": "Market report", "link": "https://wire.example/m", "description": "x"}]),
    )
    config = story_config(tmp_path, http_server, webhook_receiver, markets="rice")
    assert newswatch("once", config=config).returncode == 0
    (first,) = webhook_receiver.wait_for(1)
    assert first.json()["rule"] == "scam"

    # The article is updated: same URL and GUID, more text. It matched "scam" before, so the
    # revision does not alert for it again; it newly matches "markets", so that alerts once.
    http_server.add(
        "/khmer-times",
        feed(
            [
                {
                    "title": "Workers freed",
                    "link": "https://kt.example/raid",
                    "description": WIRE + " Rice prices in the province were not affected.",
                    "guid": "kt-1",
                }
            ]
        ),
    )
    assert newswatch("once", config=config).returncode == 0
    requests = webhook_receiver.wait_for(2)
    assert sorted(r.json()["rule"] for r in requests) == ["markets", "scam"]
    revisions = db_rows(tmp_path / "newswatch.db", "SELECT revision FROM articles ORDER BY id")
    assert [r["revision"] for r in revisions] == [0, 0, 1]
    # Unchanged on the next poll: nothing new at all.
    again = newswatch("once", config=config)
    assert "new 0" in again.stdout
    assert len(webhook_receiver.requests) == 2


def test_stories_short_summary_under_reworded_headline_alerts_once(
    tmp_path, http_server, webhook_receiver
):
    # Issue 11: feed summaries are short; a second outlet re-titled the same item.
    summary = (
        "Police in Preah Sihanouk province on Tuesday rescued 40 Indonesian nationals who said"
        " they had been trafficked from Indonesia and forced to work for an online scam"
        " operation in Ochheuteal commune."
    )
    other_raid = summary.replace("Tuesday", "Thursday").replace("40 Indonesian", "23 Thai")
    http_server.add(
        "/khmer-times",
        feed(
            [
                {
                    "title": "Police rescue 40 Indonesians from Sihanoukville compound",
                    "link": "https://kt.example/40-indonesians",
                    "description": summary,
                }
            ]
        ),
    )
    http_server.add(
        "/camboja",
        feed(
            [
                {
                    "title": "40 Indonesians freed from Sihanoukville scam compound",
                    "link": "https://camboja.example/story/40",
                    "description": summary,
                }
            ]
        ),
    )
    http_server.add(
        "/wire-copy",
        feed(
            [
                {
                    "title": "Police rescue 23 Thais from Sihanoukville compound",
                    "link": "https://wire.example/23-thais",
                    "description": other_raid,
                }
            ]
        ),
    )
    config = story_config(tmp_path, http_server, webhook_receiver)
    assert newswatch("once", config=config).returncode == 0

    requests = webhook_receiver.wait_for(2)
    assert sorted(r.json()["article"]["title"][:20] for r in requests) == [
        "Police rescue 23 Tha",
        "Police rescue 40 Ind",
    ]
    data = json.loads(newswatch("stories", "--json", config=config).stdout)
    assert sorted(s["articles"] for s in data) == [1, 2]
