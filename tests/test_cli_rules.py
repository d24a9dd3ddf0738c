"""``newswatch rules test`` / ``rules backtest`` through the real command line."""

from __future__ import annotations

import pytest

from tests.clirunner import newswatch, write_config
from tests.httpserver import rss

pytestmark = pytest.mark.slow  # every test here runs newswatch in a subprocess

KHMER = "ប៉ូលិសនៅក្រុងព្រះសីហនុបានរកឃើញជនរងគ្រោះ"


def test_rules_test_shows_where_a_query_matches():
    result = newswatch(
        "rules",
        "test",
        '"scam compound"~3 AND Sihanoukville',
        "--text",
        "Police raided a scam\ncompound in SIHANOUKVILLE.",
    )
    assert result.returncode == 0, result.stderr
    assert "[scam] [compound]" in result.stdout and "[SIHANOUKVILLE]" in result.stdout


def test_rules_test_matches_khmer_without_spaces_and_reports_no_match():
    assert "[ក្រុងព្រះសីហនុ]" in newswatch("rules", "test", "ក្រុងព្រះសីហនុ", "--text", KHMER).stdout
    miss = newswatch("rules", "test", "Poipet", "--text", KHMER)
    assert miss.returncode == 1 and "no match" in miss.stdout


def test_rules_test_malformed_query_points_at_the_position():
    result = newswatch("rules", "test", "(raid AND", "--text", "x")
    assert result.returncode == 2
    assert "position" in result.stderr and "^" in result.stderr
    assert "Traceback" not in result.stderr


def test_rules_test_url_fetches_a_feed_locally(http_server):
    url = http_server.add(
        "/feed",
        rss(
            [
                {"title": "Raid in Bavet", "link": "http://example.org/1"},
                {"title": "Weather", "link": "http://example.org/2"},
            ]
        ),
    )
    result = newswatch("rules", "test", "raid AND bavet", "--url", url)
    assert result.returncode == 0, result.stderr
    assert "[Raid]" in result.stdout and "[Bavet]" in result.stdout


def test_rules_backtest_lists_stored_matches_per_source_and_sends_nothing(
    tmp_path, http_server, webhook_receiver
):
    http_server.add(
        "/feed",
        rss(
            [
                {"title": "Police raid casino in Poipet", "link": "http://example.org/p"},
                {"title": "Rice harvest", "link": "http://example.org/r"},
            ]
        ),
    )
    config = write_config(
        tmp_path,
        sources={"kt": {"type": "rss", "url": http_server.url("/feed")}},
        rules={"weather": {"query": "monsoon", "channels": ["hook"]}},
        channels={"hook": {"type": "webhook", "url": webhook_receiver.url}},
    )
    assert newswatch("once", config=config).returncode == 0
    result = newswatch("rules", "backtest", "raid AND Poipet", "--since", "30d", config=config)
    assert result.returncode == 0, result.stderr
    assert "1 of 2 articles" in result.stdout
    assert "Police raid casino in Poipet" in result.stdout and "per source: kt 1" in result.stdout
    configured = newswatch("rules", "backtest", "weather", config=config)
    assert "0 of 2 articles" in configured.stdout
    assert webhook_receiver.requests == []


def test_check_warns_about_rules_that_never_match_or_match_everything(tmp_path):
    config = write_config(
        tmp_path,
        sources={},
        rules={
            "never": {"query": "raid AND NOT raid", "channels": ["box"]},
            "everything": {"query": "the", "channels": ["box"]},
            "fine": {"query": "raid AND Poipet", "channels": ["box"]},
        },
        channels={"box": {"type": "mbox", "path": "a.mbox"}},
    )
    result = newswatch("check", config=config)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert any("rules.never" in w for w in warnings)
    assert any("rules.everything" in w for w in warnings)
    assert not any("rules.fine" in w for w in warnings)


def test_rules_test_url_reads_a_page_that_is_not_a_feed(http_server):
    page = (
        "<html><head><title>Police raid compound</title></head><body><article>"
        + "<p>Police raided a scam compound in Bavet and freed the workers held there.</p>" * 8
        + "</article></body></html>"
    )
    url = http_server.add("/story.html", page, content_type="text/html; charset=utf-8")
    result = newswatch("rules", "test", "raided AND bavet", "--url", url)
    assert result.returncode == 0, result.stderr
    assert "[raided]" in result.stdout and "[Bavet]" in result.stdout


def test_rules_test_url_that_cannot_be_fetched_says_so(http_server):
    url = http_server.add("/gone", "gone", status=404)
    result = newswatch("rules", "test", "raid", "--url", url)
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: cannot fetch {url}: HTTP 404"
