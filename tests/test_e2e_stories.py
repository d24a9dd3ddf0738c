"""One alert per story: copies across outlets, re-published items and revisions, end to end."""

from __future__ import annotations

import json
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


def feed(items: list[dict[str, str]]) -> str:
    return rss(items)


def story_config(tmp_path: Path, server: FeedServer, hook: WebhookReceiver, **rules: str) -> Path:
    rules.setdefault("scam", RULE)
    return write_config(
        tmp_path,
        sources={
            name: {"type": "rss", "url": server.url(f"/{name}")}
            for name in ("khmer-times", "camboja", "wire-copy")
        },
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
            ]
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
    assert raid["also_reported_by"] == ["camboja"]
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
    data = json.loads(newswatch("stories", "--json", config=config).stdout)
    assert sorted(s["articles"] for s in data) == [1, 2]


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
