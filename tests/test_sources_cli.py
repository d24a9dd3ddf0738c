"""``newswatch sources``: list, OPML import and export, run in-process on real files."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from scheduler.cli import main
from scheduler.config import load_config
from scheduler.errors import OpmlError
from scheduler.opml import OpmlFeed, read_opml, write_opml
from scheduler.sources_edit import plan_import
from tests.clirunner import write_config_text

OPML = Path(__file__).parent / "data" / "opml"

CONFIG = """\
# Cambodia watch: sources first, then rules.
[service]
database = "newswatch.db"
interval = "1h"

# The English daily; its feed carries summaries only.
[sources.khmer-times]
type = "rss"
url = "https://www.khmertimeskh.com/feed/"
title = "Khmer Times"

[sources.casino]
type = "rss"
url = "https://www.casino.org/news/feed/"
enabled = false

[sources.pp-listing]
type = "html"
url = "https://www.phnompenhpost.com/national"
follow = "h2 a"

[rules.scams]
query = "scam OR trafficking"
channels = ["box"]

[channels.box]
type = "mbox"
path = "alerts.mbox"
"""


def cli(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config_text(tmp_path, CONFIG)


# --- reading OPML ------------------------------------------------------------------------


def test_opml_miniflux_export_is_read_with_titles_and_categories():
    feeds = read_opml((OPML / "miniflux.opml").read_bytes())
    assert [(f.title, f.categories) for f in feeds] == [
        ("Khmer Times", ("All",)),
        ("CamboJA News", ("All",)),
        ("Kiripost", ("Investigations",)),
        ("VOD English — Scams & Trafficking", ("Investigations",)),
    ]
    assert feeds[0].url == "https://www.khmertimeskh.com/feed/"
    assert feeds[0].site_url == "https://www.khmertimeskh.com/"


def test_opml_freshrss_export_with_nested_categories_and_its_namespace():
    feeds = {f.url: f for f in read_opml((OPML / "freshrss.opml").read_bytes())}
    assert len(feeds) == 6
    assert feeds["https://www.rfa.org/khmer/RSS"].title == "វិទ្យុអាស៊ីសេរី"
    assert feeds["https://cc-times.com/feed"].categories == ("Cambodia", "Regional")
    assert feeds["https://www.phnompenhpost.com/rss"].categories == ("Uncategorized",)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
            b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
            b'<opml version="2.0"><body><outline text="&lol2;" xmlUrl="https://a.example/f"/>'
            b"</body></opml>",
            "declares XML entities or a DTD, refused for safety",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY ext SYSTEM "file:///etc/passwd">]>'
            b'<opml version="2.0"><body><outline text="&ext;"/></body></opml>',
            "refused for safety",
        ),
        (b'<opml version="2.0"><body><outline text="x"></body></opml>', "not well-formed XML"),
        (b"<html><body>Subscriptions</body></html>", "is not OPML (its root element is <html>"),
        (b'<opml version="2.0"><head/></opml>', "has no <body>"),
        (b"", "not well-formed XML"),
    ],
    ids=["entity-bomb", "external-entity", "ill-formed", "html", "no-body", "empty"],
)
def test_opml_hostile_or_broken_files_are_refused_clearly(data, expected):
    with pytest.raises(OpmlError) as info:
        read_opml(data, where="feeds.opml")
    assert "feeds.opml" in info.value.message
    assert expected in info.value.message


def test_opml_written_is_opml_2_and_reads_back_the_same():
    feeds = [
        OpmlFeed("https://www.khmertimeskh.com/feed/", "Khmer Times"),
        OpmlFeed("https://cc-times.com/feed", "柬中时报 & <partners>", ("Regional",)),
    ]
    text = write_opml(feeds, title="mine", created=datetime(2026, 12, 1, tzinfo=UTC))
    root = ET.fromstring(text.encode())
    assert root.tag == "opml" and root.get("version") == "2.0"
    assert root.findtext("head/title") == "mine"
    assert root.findtext("head/dateCreated") == "Tue, 01 Dec 2026 00:00:00 +0000"
    for outline in root.iter("outline"):
        assert outline.get("text")  # required by OPML 2.0
    assert read_opml(text.encode()) == feeds


# --- sources list ------------------------------------------------------------------------


def test_sources_list_shows_display_names_and_paused_sources(config):
    result = cli("sources", "list", "--config", str(config))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["khmer-times", "rss", "Khmer", "Times"]
    assert lines[1].strip() == "https://www.khmertimeskh.com/feed/"
    assert "casino" in lines[2] and "(paused)" in lines[2]
    assert "pp-listing" in lines[4] and "html" in lines[4]


def test_sources_list_and_export_use_the_feeds_own_title_when_none_is_configured(config):
    from crawler.db import open_database
    from crawler.store import record_feed_title, sync_sources

    loaded = load_config(config)
    db = open_database(loaded.service.database)
    try:
        sync_sources(db, [(n, s.type, s.url) for n, s in loaded.sources.items()])
        record_feed_title(db, "casino", "Casino.org News")
    finally:
        db.close()
    listed = cli("sources", "list", "casino", "--config", str(config))
    assert listed.exit_code == 0, listed.output
    assert listed.output.splitlines()[0].split() == [
        "casino",
        "rss",
        "Casino.org",
        "News",
        "(paused)",
    ]
    exported = cli("sources", "export", "--config", str(config))
    assert 'text="Casino.org News"' in exported.stdout


def test_sources_list_wrong_name_suggests_the_closest(config):
    result = cli("sources", "list", "khmer-time", "--config", str(config))
    assert result.exit_code == 2
    assert "source 'khmer-time' is not configured (did you mean 'khmer-times'?)" in result.output


# --- sources import ----------------------------------------------------------------------


def test_sources_import_adds_new_feeds_skips_known_ones_and_keeps_comments(config):
    result = cli("sources", "import", str(OPML / "freshrss.opml"), "--config", str(config))
    assert result.exit_code == 0, result.output
    out = result.output
    assert "3 sources added, 3 skipped; written to" in out
    khmer_times = "https://www.khmertimeskh.com/feed/"
    assert f"skipped Khmer Times: {khmer_times} (already present (source 'khmer-times'))" in out
    # The same feed behind a tracking parameter is the configured source.
    casino = "https://www.casino.org/news/feed/?utm_source=freshrss"
    assert f"skipped Casino.org news: {casino} (already present (source 'casino'))" in out
    assert (
        "skipped Local mail archive: file:///var/mail/archive.xml (not an http(s) address)" in out
    )
    assert "added   cc-times: https://cc-times.com/feed  [Cambodia / Regional]" in out
    text = config.read_text(encoding="utf-8")
    assert text.startswith(CONFIG.split("[rules.scams]")[0])  # everything before kept as is
    assert "[sources.cc-times] # category: Cambodia / Regional" in text
    loaded = load_config(config)
    assert list(loaded.sources)[:3] == ["khmer-times", "casino", "pp-listing"]
    added = {s.url: (s.type, s.title) for n, s in loaded.sources.items() if n not in CONFIG}
    assert added == {
        "https://www.phnompenhpost.com/rss": ("rss", "The Phnom Penh Post"),
        "https://www.rfa.org/khmer/RSS": ("rss", "វិទ្យុអាស៊ីសេរី"),
        "https://cc-times.com/feed": ("rss", "柬中时报"),
    }
    again = cli("sources", "import", str(OPML / "freshrss.opml"), "--config", str(config))
    assert again.exit_code == 0 and "0 sources added, 6 skipped" in again.output
    assert config.read_text(encoding="utf-8") == text


def test_sources_import_names_come_from_titles_and_stay_unique(config):
    feeds = read_opml((OPML / "miniflux.opml").read_bytes())
    feeds.append(OpmlFeed("https://kiripost.com/en/feed", "Kiripost"))
    feeds.append(OpmlFeed("https://kiripost.com/feed", "Kiripost again"))  # twice in the file
    report = plan_import(load_config(config), feeds)
    assert [name for name, _ in report.added] == [
        "camboja-news",
        "kiripost",
        "vod-english-scams-trafficking",
        "kiripost-2",
    ]
    assert [why for _, why in report.skipped] == [
        "already present (source 'khmer-times')",
        "already present (in this file)",
    ]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"<opml><body><outline text='x' xmlUrl='https://a.example/f'>", "not well-formed XML"),
        (b'<opml version="2.0"><body><outline text="Folder"/></body></opml>', "lists no feeds"),
    ],
)
def test_sources_import_bad_opml_is_an_error_and_writes_nothing(config, content, expected):
    before = config.read_text(encoding="utf-8")
    opml = config.parent / "feeds.opml"
    opml.write_bytes(content)
    result = cli("sources", "import", str(opml), "--config", str(config))
    assert result.exit_code == 1
    assert expected in result.output and "Traceback" not in result.output
    assert config.read_text(encoding="utf-8") == before


# --- sources export ----------------------------------------------------------------------


def test_sources_export_writes_opml_that_imports_back(config, tmp_path):
    out = tmp_path / "mine.opml"
    result = cli("sources", "export", "-o", str(out), "--config", str(config))
    assert result.exit_code == 0, result.output
    assert "wrote 2 feeds to" in result.output
    assert "left out (not feeds, a feed reader cannot read them): pp-listing" in result.output
    root = ET.fromstring(out.read_bytes())
    assert root.get("version") == "2.0"
    outlines = [o.attrib for o in root.iter("outline")]
    assert outlines == [
        {
            "type": "rss",
            "text": "Khmer Times",
            "title": "Khmer Times",
            "xmlUrl": "https://www.khmertimeskh.com/feed/",
        },
        {
            "type": "rss",
            "text": "casino",
            "title": "casino",
            "xmlUrl": "https://www.casino.org/news/feed/",
        },
    ]
    fresh = write_config_text(tmp_path / "fresh", CONFIG.split("# The English daily")[0])
    imported = cli("sources", "import", str(out), "--config", str(fresh))
    assert imported.exit_code == 0, imported.output
    loaded = load_config(fresh)
    assert {(s.url, s.title) for s in loaded.sources.values()} == {
        ("https://www.khmertimeskh.com/feed/", "Khmer Times"),
        ("https://www.casino.org/news/feed/", "casino"),
    }
    assert set(loaded.sources) == {"khmer-times", "casino"}


def test_sources_export_to_stdout(config):
    result = CliRunner().invoke(main, ["sources", "export", "--config", str(config)])
    assert result.exit_code == 0
    root = ET.fromstring(result.stdout.encode())
    assert [o.get("xmlUrl") for o in root.iter("outline")] == [
        "https://www.khmertimeskh.com/feed/",
        "https://www.casino.org/news/feed/",
    ]
