"""``newswatch run`` as a background service in a subprocess, stopped with SIGTERM."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.alertkit import mbox_subjects
from tests.clirunner import db_rows, start_service, stop_service, write_config
from tests.httpserver import FeedServer, rss, rss_item
from tests.waiting import wait_until

pytestmark = pytest.mark.slow  # every test here runs newswatch in a subprocess

RULE = "(raid OR rescued) AND (Sihanoukville OR Poipet)"


def service_config(tmp_path: Path, http_server: FeedServer, interval: str = "1s") -> Path:
    return write_config(
        tmp_path,
        service={"interval": interval},
        sources={
            "a": {"type": "rss", "url": http_server.url("/a")},
            "b": {"type": "rss", "url": http_server.url("/b"), "interval": "2s"},
            "broken": {"type": "rss", "url": http_server.url("/broken")},
        },
        rules={"scam": {"query": RULE, "channels": ["box"]}},
        channels={"box": {"type": "mbox", "path": "alerts.mbox"}},
    )


def test_run_polls_on_schedule_alerts_once_and_stops_cleanly(tmp_path, http_server):
    http_server.add("/a", rss([rss_item(1, "Police raid in Sihanoukville")]))
    http_server.add("/b", rss([rss_item(2, "Weather in Kampot")]))
    http_server.add("/broken", "no", status=500)
    config = service_config(tmp_path, http_server)
    proc = start_service(config)
    try:
        wait_until(lambda: len(mbox_subjects(tmp_path / "alerts.mbox")) == 1, what="first alert")
        wait_until(lambda: len(http_server.hits("/a")) >= 3, what="repeated polls of a")
        # A new item appears while the service runs.
        http_server.add(
            "/b", rss([rss_item(3, "Workers rescued in Poipet"), rss_item(2, "Weather in Kampot")])
        )
        wait_until(
            lambda: len(mbox_subjects(tmp_path / "alerts.mbox")) == 2, what="alert for the new item"
        )
        polls_before = len(http_server.hits("/a"))
        wait_until(lambda: len(http_server.hits("/a")) >= polls_before + 2, what="more polls")
    finally:
        code, took, err = stop_service(proc)
    assert code == 0, err
    assert took < 10
    assert "Traceback" not in err
    assert f"alerts go to {tmp_path / 'alerts.mbox'} (channel box)" in err
    assert "watching 3 sources with 1 rule\n" in err
    subjects = mbox_subjects(tmp_path / "alerts.mbox")
    assert len(subjects) == 2 and any("Poipet" in s for s in subjects)
    # The failing source backed off: fewer polls than the healthy one at the same interval.
    assert 1 <= len(http_server.hits("/broken")) < len(http_server.hits("/a"))
    rows = db_rows(tmp_path / "newswatch.db", "SELECT name, failures, last_error FROM sources")
    broken = next(r for r in rows if r["name"] == "broken")
    assert broken["failures"] >= 1 and "500" in broken["last_error"]


def test_run_failing_source_recovers_by_itself(tmp_path, http_server):
    http_server.add("/a", "down", status=503)
    http_server.add("/b", rss([]))
    http_server.add("/broken", rss([]))
    config = service_config(tmp_path, http_server)
    proc = start_service(config)
    try:
        wait_until(lambda: len(http_server.hits("/a")) >= 2, what="failing polls")
        http_server.add("/a", rss([rss_item(7, "Raid on Poipet casino")]))
        wait_until(
            lambda: len(mbox_subjects(tmp_path / "alerts.mbox")) == 1, timeout=40, what="recovery"
        )
    finally:
        code, _, err = stop_service(proc)
    assert code == 0, err
    rows = db_rows(tmp_path / "newswatch.db", "SELECT failures FROM sources WHERE name = 'a'")
    assert rows[0]["failures"] == 0


def test_run_stops_within_10s_while_a_fetch_is_hanging(tmp_path, http_server):
    http_server.add("/a", rss([]), delay=60)
    http_server.add("/b", rss([]), delay=60)
    http_server.add("/broken", rss([]))
    config = service_config(tmp_path, http_server)
    proc = start_service(config)
    try:
        wait_until(lambda: len(http_server.hits("/a")) >= 1, what="hanging fetch started")
    finally:
        code, took, err = stop_service(proc)
    assert code == 0, err
    assert took < 10


def test_run_second_instance_on_same_database_refuses(tmp_path, http_server):
    http_server.add("/a", rss([]))
    http_server.add("/b", rss([]))
    http_server.add("/broken", rss([]))
    config = service_config(tmp_path, http_server, interval="1h")
    first = start_service(config)
    try:
        wait_until(lambda: len(http_server.hits("/a")) >= 1, what="first instance polling")
        second = start_service(config)
        _, err = second.communicate(timeout=60)
        assert second.returncode == 1
        assert "already running" in err and "Traceback" not in err
    finally:
        code, _, err = stop_service(first)
    assert code == 0, err


def test_run_serves_health_and_metrics(tmp_path, http_server):
    import urllib.request

    from tests.peers import free_port

    http_server.add("/a", rss([rss_item(1, "Police raid in Sihanoukville")]))
    http_server.add("/b", rss([]))
    http_server.add("/broken", "no", status=500)
    port = free_port()
    config = service_config(tmp_path, http_server)
    config.write_text(
        config.read_text().replace("[service]\n", f'[service]\nhealth = "127.0.0.1:{port}"\n')
    )
    proc = start_service(config)

    def get(path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
                return resp.status, resp.read().decode()
        except OSError:
            return 0, ""

    try:
        wait_until(lambda: len(mbox_subjects(tmp_path / "alerts.mbox")) == 1, what="first alert")
        wait_until(lambda: get("/healthz")[0] == 200, what="healthy")
        wait_until(lambda: 'newswatch_matches_total{rule="scam"} 1.0' in get("/metrics")[1])
        metrics = get("/metrics")[1]
        assert 'newswatch_polls_total{result="error",source="broken"}' in metrics
        assert "newswatch_poll_duration_seconds" in metrics
    finally:
        code, _, err = stop_service(proc)
    assert code == 0, err


def test_run_fetches_each_source_once_per_interval_from_its_last_fetch(tmp_path, http_server):
    """Fetches of one source are an interval apart (counted from the last one), from the
    first poll on, and a feed that answers slowly holds up no other source."""
    slow_host = FeedServer(host="127.0.0.2")  # another host: its own politeness slot
    slow_host.start()
    try:
        fast = [f"/f{i}" for i in range(4)]  # one host: first polls HOST_SPACING apart
        for n, path in enumerate(fast):
            http_server.add(path, rss([rss_item(n, f"Weather in Kampot {n}")]), etag=f'"{n}"')
        slow_host.add("/slow", rss([rss_item(9, "Weather in Kep")]), delay=8.0)
        sources = {path[1:]: {"type": "rss", "url": http_server.url(path)} for path in fast}
        sources["slow"] = {"type": "rss", "url": slow_host.url("/slow")}
        config = write_config(
            tmp_path,
            service={"interval": "2s"},
            sources=sources,
            rules={"scam": {"query": RULE, "channels": ["box"]}},
            channels={"box": {"type": "mbox", "path": "alerts.mbox"}},
        )
        proc = start_service(config)
        try:
            wait_until(
                lambda: all(len(http_server.hits(path)) >= 4 for path in fast),
                timeout=60,
                what="four fetches of every fast feed",
            )
        finally:
            code, _, err = stop_service(proc)
    finally:
        slow_host.stop()
    assert code == 0, err
    interval = 2.0
    for path in fast:
        times = [hit.at for hit in http_server.hits(path)]
        gaps = [round(b - a, 2) for a, b in zip(times, times[1:], strict=False)]
        assert min(gaps) >= interval - 0.05, (path, gaps)  # never sooner than an interval
        # ...nor held back by the slow feed (8 s) polled in the same batch at start-up.
        assert max(gaps) <= interval * 1.1 + 2.5, (path, gaps)
