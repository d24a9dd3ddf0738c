"""Source-health alerts: one when a source breaks, one when it recovers, nothing between."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerts.channels.mbox import MboxChannel
from alerts.delivery.health import HealthPolicy, check_sources, diagnose
from alerts.delivery.policy import Policy
from crawler.store import SourceState, record_poll, sync_sources
from tests.alertkit import deliver, make_db, read_mbox, text_of
from tests.clirunner import newswatch, write_config
from tests.httpserver import FeedServer, rss

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
POLICY = HealthPolicy(
    failure_alert_after=3,
    stale_after={"quiet-feed": timedelta(days=2)},
    ops_channels=("ops",),
    urls={"kt": "https://kt.example.org/feed"},
)


def poll(db, name: str, when: datetime, *, error: str | None = None, new: int = 0) -> list:
    record_poll(db, name, status=503 if error else 200, error=error, new_items=new, when=when)
    return check_sources(db, [name], POLICY, when)


def ops_channel(tmp_path: Path) -> dict[str, MboxChannel]:
    return {"ops": MboxChannel("ops", path=tmp_path / "ops.mbox")}


def test_diagnose_names_failures_and_staleness():
    failing = SourceState("kt", failures=3, last_error="HTTP 503")
    assert diagnose(failing, POLICY, T0, T0) == "3 polls in a row failed"
    assert diagnose(SourceState("kt", failures=2), POLICY, T0, T0) is None
    stale = SourceState("quiet-feed", last_new=T0 - timedelta(days=3, minutes=20, seconds=5))
    assert diagnose(stale, POLICY, T0 - timedelta(days=5), T0) == (
        "no new items for 3d20m (stale_after is 2d)"
    )
    fresh = SourceState("quiet-feed", last_new=T0 - timedelta(days=1))
    assert diagnose(fresh, POLICY, T0 - timedelta(days=5), T0) is None


def test_source_health_alerts_once_on_break_and_once_on_recovery(tmp_path, backend):
    db = make_db(tmp_path, backend)
    sync_sources(db, [("kt", "rss", "https://kt.example.org/feed")])
    channels = ops_channel(tmp_path)
    assert poll(db, "kt", T0, new=2) == []
    events = []
    for minute in range(1, 8):  # seven failed polls in a row
        events += poll(
            db, "kt", T0 + timedelta(minutes=minute), error="HTTP 503 Service Unavailable"
        )
        deliver(db, channels, Policy(), now=T0 + timedelta(minutes=minute))
    assert [(e.source, e.status) for e in events] == [("kt", "broken")]
    (broken,) = read_mbox(tmp_path / "ops.mbox")
    assert broken["Subject"] == "[newswatch] Source kt is not working"
    assert broken["X-Newswatch-Kind"] == "ops"
    body = text_of(broken)
    assert "3 polls in a row failed" in body and "HTTP 503 Service Unavailable" in body
    assert "https://kt.example.org/feed" in body

    recovered = []
    for minute in range(10, 14):
        recovered += poll(db, "kt", T0 + timedelta(minutes=minute), new=1)
        deliver(db, channels, Policy(), now=T0 + timedelta(minutes=minute))
    assert [e.status for e in recovered] == ["recovered"]
    assert recovered[0].since == T0 + timedelta(minutes=3)
    messages = read_mbox(tmp_path / "ops.mbox")
    assert [m["Subject"] for m in messages] == [
        "[newswatch] Source kt is not working",
        "[newswatch] Source kt is working again",
    ]


def test_source_health_state_survives_a_restart(tmp_path, backend):
    db = make_db(tmp_path, backend)
    sync_sources(db, [("kt", "rss", "https://kt.example.org/feed")])
    for minute in range(3):
        poll(db, "kt", T0 + timedelta(minutes=minute), error="timed out")
    db.close()
    db = make_db(tmp_path, backend)  # a new process
    assert poll(db, "kt", T0 + timedelta(minutes=5), error="timed out") == []
    (row,) = db.query("SELECT count(*) AS n FROM notices WHERE kind = 'ops'")
    assert row["n"] == 1


def test_stale_source_alerts_when_nothing_new_for_too_long(tmp_path, backend):
    db = make_db(tmp_path, backend)
    sync_sources(db, [("quiet-feed", "rss", "https://q.example.org/feed")])
    assert poll(db, "quiet-feed", T0, new=1) == []
    assert poll(db, "quiet-feed", T0 + timedelta(days=1)) == []
    (event,) = poll(db, "quiet-feed", T0 + timedelta(days=2, minutes=1))
    assert event.status == "broken" and event.reason.startswith("no new items for 2d1m")
    assert poll(db, "quiet-feed", T0 + timedelta(days=3)) == []
    (back,) = poll(db, "quiet-feed", T0 + timedelta(days=3, hours=1), new=4)
    assert back.status == "recovered"


def test_source_health_without_ops_channels_records_state_only(tmp_path, backend):
    db = make_db(tmp_path, backend)
    sync_sources(db, [("kt", "rss", "https://kt.example.org/feed")])
    quiet = HealthPolicy(failure_alert_after=1)
    record_poll(db, "kt", status=None, error="refused", when=T0)
    (event,) = check_sources(db, ["kt"], quiet, T0)
    assert event.status == "broken"
    assert list(db.query("SELECT * FROM notices")) == []
    (row,) = db.query("SELECT status FROM source_health WHERE source = 'kt'")
    assert row["status"] == "broken"


@pytest.mark.slow
def test_once_reports_a_broken_feed_once_and_its_recovery(tmp_path, http_server: FeedServer):
    http_server.add("/feed", "gone", status=404)
    config = write_config(
        tmp_path,
        service={"ops_channels": ["ops"], "failure_alert_after": 2},
        sources={"kt": {"type": "rss", "url": http_server.url("/feed")}},
        rules={"scam": {"query": "raid", "channels": ["box"]}},
        channels={
            "box": {"type": "mbox", "path": "alerts.mbox"},
            "ops": {"type": "mbox", "path": "ops.mbox"},
        },
    )
    for _ in range(3):
        result = newswatch("once", config=config)
        assert result.returncode == 3, result.stderr  # its only source failed
    (broken,) = read_mbox(tmp_path / "ops.mbox")
    assert broken["Subject"] == "[newswatch] Source kt is not working"
    assert "HTTP 404" in text_of(broken)

    http_server.add("/feed", rss([{"title": "Raid in Bavet", "link": "https://n.example.org/1"}]))
    assert newswatch("once", config=config).returncode == 0
    assert newswatch("once", config=config).returncode == 0
    messages = read_mbox(tmp_path / "ops.mbox")
    assert [m["Subject"] for m in messages] == [
        "[newswatch] Source kt is not working",
        "[newswatch] Source kt is working again",
    ]
    assert len(read_mbox(tmp_path / "alerts.mbox")) == 1  # the match itself, once
