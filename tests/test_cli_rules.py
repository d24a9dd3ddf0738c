"""``newswatch rules test`` / ``rules backtest`` through the real command line."""

from __future__ import annotations

import mailbox

import pytest

from scheduler.lock import InstanceLock
from tests.clirunner import db_rows, newswatch, write_config
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
            "fine": {"query": "raid* AND Poipet", "channels": ["box"]},
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


RAID_TEXT = "Second wave of raids in Poipet: police raided three compounds."


def rules_config(tmp_path, **extra_rules):
    return write_config(
        tmp_path,
        sources={},
        rules={
            "scam-compounds": {"query": "scam* AND compound*", "channels": ["box"]},
            "kidnapping": {"query": "kidnap* AND NOT football", "channels": ["box"]},
            **extra_rules,
        },
        channels={"box": {"type": "mbox", "path": "a.mbox"}},
    )


def test_rules_test_a_rule_name_tests_the_rule_not_the_word(tmp_path):
    config = rules_config(tmp_path)
    seed = tmp_path / "seed.txt"
    seed.write_text("Workers freed from a scam compound in Bavet.", encoding="utf-8")
    result = newswatch("rules", "test", "scam-compounds", "--file", str(seed), config=config)
    assert result.returncode == 0, result.stderr
    assert "rule scam-compounds: match" in result.stdout and "[scam] [compound]" in result.stdout
    assert "testing rule scam-compounds" in result.stderr


def test_rules_test_several_rules_over_several_files(tmp_path):
    config = rules_config(tmp_path)
    files = []
    for name, text in (("a.txt", "A kidnapping in Poipet."), ("b.txt", "Scam compound raid.")):
        files.append(tmp_path / name)
        files[-1].write_text(text, encoding="utf-8")
    # As a shell pattern gives them: --file a.txt b.txt
    result = newswatch(
        "rules", "test", "--rule", "kidnapping", "--rule", "scam-compounds",
        "--file", *map(str, files), config=config,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"rule kidnapping: match in {files[0]}" in result.stdout
    assert f"rule scam-compounds: match in {files[1]}" in result.stdout
    assert f"rule kidnapping: match in {files[1]}" not in result.stdout


def test_rules_test_without_query_tests_every_configured_rule_and_says_why_not(tmp_path):
    config = rules_config(tmp_path, football={"query": "kidnap*", "channels": ["box"],
                                              "exclude": "football"})  # fmt: skip
    result = newswatch("rules", "test", "--text", "Kidnapped football player", config=config)
    assert result.returncode == 1, result.stderr  # nothing matched
    assert "rule scam-compounds: no match" in result.stdout
    assert "rule kidnapping: no match" in result.stdout
    assert "rule football: no match" in result.stdout
    assert "exclude vetoes it: football" in result.stdout


def test_rules_test_unknown_rule_suggests_the_closest(tmp_path):
    config = rules_config(tmp_path)
    result = newswatch("rules", "test", "--rule", "scam-compund", "--text", "x", config=config)
    assert result.returncode == 2
    assert "'scam-compund' is not configured (did you mean 'scam-compounds'?)" in result.stderr


def test_rules_test_whole_word_miss_hints_at_the_prefix():
    result = newswatch("rules", "test", "raid", "--text", RAID_TEXT)
    assert result.returncode == 1
    assert "no match" in result.stdout
    assert "raid* would match: raided, raids" in result.stdout


def test_rules_test_multi_line_query_error_shows_the_line(tmp_path):
    result = newswatch(
        "rules", "test", "(raid OR crackdown)\nAND (Poipet OR\n Bavet))", "--text", "x"
    )
    assert result.returncode == 2
    assert "line 3:  Bavet))" in result.stderr
    caret = result.stderr.splitlines()[-1]
    assert caret.index("^") == result.stderr.splitlines()[-2].rindex(")")


def test_rules_backtest_misspelt_rule_is_an_error_not_zero_matches(tmp_path):
    config = rules_config(tmp_path)
    result = newswatch("rules", "backtest", "scam-compund", config=config)
    assert result.returncode == 2
    assert "did you mean 'scam-compounds'?" in result.stderr
    assert "would have alerted" not in result.stdout


def test_stories_unknown_rule_suggests_the_closest(tmp_path):
    config = rules_config(tmp_path)
    newswatch("once", config=config)
    result = newswatch("stories", "--rule", "scam-compund", config=config)
    assert result.returncode == 2
    assert "did you mean 'scam-compounds'?" in result.stderr


def test_check_warns_about_words_whose_other_forms_are_missed(tmp_path):
    config = rules_config(tmp_path, raids={"query": "raid AND Poipet", "channels": ["box"]})
    result = newswatch("check", config=config)
    assert result.returncode == 0, result.stderr
    assert "rules.raids: 'raid' matches that exact word only, not raids" in result.stderr
    assert "raid*" in result.stderr
    assert "rules.scam-compounds" not in result.stderr


def mbox_subjects(path):
    box = mailbox.mbox(path)
    try:
        return sorted(str(m["Subject"]) for m in box)
    finally:
        box.close()


def stored_articles(tmp_path, http_server, rules):
    """A database holding three raid stories whose feed order is not their date order."""
    http_server.add(
        "/feed",
        rss(
            [
                {"title": "Raid in Bavet", "link": "http://example.org/a",
                 "pubDate": "Fri, 20 Nov 2026 08:00:00 GMT"},
                {"title": "Raid in Poipet", "link": "http://example.org/b",
                 "pubDate": "Sun, 22 Nov 2026 08:00:00 GMT"},
                {"title": "Raid in Kampot", "link": "http://example.org/c",
                 "pubDate": "Sat, 21 Nov 2026 08:00:00 GMT"},
            ]
        ),
    )  # fmt: skip
    config = write_config(
        tmp_path,
        service={"timezone": "Asia/Phnom_Penh"},
        sources={"kt": {"type": "rss", "url": http_server.url("/feed")}},
        rules=rules,
        channels={"box": {"type": "mbox", "path": "alerts.mbox"}},
    )
    assert newswatch("once", config=config).returncode == 0
    return config


def test_rules_backtest_lists_newest_first_in_the_service_timezone(tmp_path, http_server):
    rules = {"raids": {"query": "raid", "channels": ["box"]}}
    config = stored_articles(tmp_path, http_server, rules)
    result = newswatch("rules", "backtest", "raids", config=config)
    assert result.returncode == 0, result.stderr
    assert "3 of 3 articles since 30d would have alerted for rule raids" in result.stdout
    shown = [line.split("  kt:")[0].strip() for line in result.stdout.splitlines() if "kt:" in line]
    assert shown == ["2026-11-22 15:00 +07", "2026-11-21 15:00 +07", "2026-11-20 15:00 +07"]


def test_rules_backtest_send_delivers_what_a_new_rule_would_have_caught_once(tmp_path, http_server):
    weather = {"weather": {"query": "monsoon", "channels": ["box"]}}
    stored_articles(tmp_path, http_server, weather)
    # The rule is added after the articles were stored: live matching never sees them.
    config = write_config(
        tmp_path,
        service={"timezone": "Asia/Phnom_Penh"},
        sources={"kt": {"type": "rss", "url": http_server.url("/feed")}},
        rules={**weather, "raids": {"query": "raid AND (Poipet OR Bavet)", "channels": ["box"]}},
        channels={"box": {"type": "mbox", "path": "alerts.mbox"}},
    )
    draft = newswatch("rules", "backtest", "raid AND Poipet", "--send", config=config)
    assert draft.returncode == 2 and "needs a configured rule" in draft.stderr

    sent = newswatch("rules", "backtest", "raids", "--since", "7d", "--send", config=config)
    assert sent.returncode == 0, sent.stderr
    assert "queued 2 alerts for rule raids" in sent.stdout
    assert "deliveries: sent 2" in sent.stdout
    subjects = mbox_subjects(tmp_path / "alerts.mbox")
    assert len(subjects) == 2 and all("Raid in" in s for s in subjects), subjects

    again = newswatch("rules", "backtest", "raids", "--since", "7d", "--send", config=config)
    assert again.returncode == 0, again.stderr
    assert "queued 0 alerts for rule raids (2 already queued before" in again.stdout
    assert newswatch("once", config=config).returncode == 0
    assert len(mbox_subjects(tmp_path / "alerts.mbox")) == 2


def test_rules_backtest_send_leaves_delivery_to_the_running_service(tmp_path, http_server):
    rules = {"raids": {"query": "raid AND Poipet", "channels": ["box"]}}
    config = stored_articles(tmp_path, http_server, {})
    config = write_config(
        tmp_path,
        service={"timezone": "Asia/Phnom_Penh"},
        sources={"kt": {"type": "rss", "url": http_server.url("/feed")}},
        rules=rules,
        channels={"box": {"type": "mbox", "path": "alerts.mbox"}},
    )
    with InstanceLock(tmp_path / "newswatch.db"):  # as a running service holds it
        sent = newswatch("rules", "backtest", "raids", "--send", config=config)
    assert sent.returncode == 0, sent.stderr
    assert "queued 1 alert for rule raids" in sent.stdout
    assert "the running service (newswatch run) delivers them" in sent.stdout
    pending = db_rows(tmp_path / "newswatch.db", "SELECT state FROM outbox")
    assert [row["state"] for row in pending] == ["pending"]
