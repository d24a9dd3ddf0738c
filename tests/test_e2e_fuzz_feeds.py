"""Feeds that crash the feed parser, end to end through ``once`` and ``run``.

Each file of the shared fuzz corpus (``feeds/fuzz``: inputs that make feedparser raise
instead of setting bozo) is served as one source, beside a good feed whose article matches
a rule. Each bad source must end as its own failure, counted, shown by ``status`` and
reported by the source-health alert; the good feed is stored and alerted as usual.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.alertkit import mbox_subjects
from tests.clirunner import (
    db_rows,
    newswatch,
    start_service,
    stop_service,
    write_config,
)
from tests.corpus import FUZZ_FEEDS
from tests.httpserver import FeedServer, rss
from tests.waiting import wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not FUZZ_FEEDS.is_dir(), reason=f"fuzz corpus not found at {FUZZ_FEEDS}"),
]

GOOD = {
    "title": "Police raid scam compound in Sihanoukville",
    "link": "https://news.example.org/raid",
    "description": "Hundreds of workers were rescued.",
    "guid": "raid-1",
}


def fuzz_files() -> dict[str, Path]:
    """Source name -> corpus file."""
    return {f"fuzz{n}": path for n, path in enumerate(sorted(FUZZ_FEEDS.glob("*.xml")))}


def configure(tmp_path: Path, http_server: FeedServer, **service: object) -> Path:
    sources = {
        name: {"type": "rss", "url": http_server.add(f"/{name}", path.read_bytes())}
        for name, path in fuzz_files().items()
    }
    sources["good"] = {"type": "rss", "url": http_server.add("/good", rss([GOOD]))}
    return write_config(
        tmp_path,
        service={"ops_channels": ["ops"], "failure_alert_after": 1, **service},
        sources=sources,
        rules={"scam": {"query": "raid AND Sihanoukville", "channels": ["box"]}},
        channels={
            "box": {"type": "mbox", "path": "alerts.mbox"},
            "ops": {"type": "mbox", "path": "ops.mbox"},
        },
    )


def broken_notices(tmp_path: Path) -> list[str]:
    return [s for s in mbox_subjects(tmp_path / "ops.mbox") if s.endswith("is not working")]


def status_of(config: Path) -> dict[str, dict[str, object]]:
    result = newswatch("status", "--json", config=config)
    assert result.returncode == 0, result.stderr
    return {source["name"]: source for source in json.loads(result.stdout)["sources"]}


def assert_bad_sources_failed(config: Path, at_least: int) -> None:
    sources = status_of(config)
    for name in fuzz_files():
        error = str(sources[name]["last_error"])
        assert error.startswith(f"source '{name}': the feed could not be parsed ("), error
        assert " in feedparser's " in error
        assert int(sources[name]["consecutive_failures"]) >= at_least  # type: ignore[call-overload]
    assert sources["good"]["consecutive_failures"] == 0


def test_once_bad_feeds_fail_alone_and_the_good_one_alerts(tmp_path, http_server):
    config = configure(tmp_path, http_server)
    result = newswatch("once", config=config)
    assert result.returncode == 0, result.stderr
    assert "unexpected" not in result.stderr and "Traceback" not in result.stderr
    for name in fuzz_files():
        line = f"{name}: fetched 0, new 0, matched 0, errors 1 (source '{name}': the feed could"
        assert line in result.stdout
    assert "good: fetched 1, new 1, matched 1, errors 0" in result.stdout
    assert "KeyError in feedparser's georss handling" in result.stdout
    assert "TypeError in feedparser's <height> handling" in result.stdout

    (alert,) = mbox_subjects(tmp_path / "alerts.mbox")
    assert "Police raid scam compound in Sihanoukville" in alert
    assert sorted(broken_notices(tmp_path)) == sorted(
        f"[newswatch] Source {name} is not working" for name in fuzz_files()
    )
    assert_bad_sources_failed(config, at_least=1)


def test_run_bad_feeds_fail_every_poll_and_the_good_one_alerts(tmp_path, http_server):
    config = configure(tmp_path, http_server, interval="1s")
    database = tmp_path / "newswatch.db"

    def failures() -> dict[str, int]:
        rows = db_rows(database, "SELECT name, failures FROM sources")
        return {row["name"]: row["failures"] or 0 for row in rows}

    proc = start_service(config)
    try:
        wait_until(lambda: len(mbox_subjects(tmp_path / "alerts.mbox")) == 1, what="the alert")
        wait_until(
            lambda: all(failures().get(name, 0) >= 2 for name in fuzz_files()),
            what="every bad feed failing twice",
        )
        wait_until(lambda: len(broken_notices(tmp_path)) == len(fuzz_files()), what="notices")
        wait_until(lambda: len(http_server.hits("/good")) >= 3, what="the good feed polled on")
        assert_bad_sources_failed(config, at_least=2)
    finally:
        code, _, err = stop_service(proc)
    assert code == 0, err
    assert "Traceback" not in err and "failed unexpectedly" not in err
    assert "the feed could not be parsed (KeyError in feedparser's georss handling)" in err
    assert len(mbox_subjects(tmp_path / "alerts.mbox")) == 1
    assert failures()["good"] == 0
